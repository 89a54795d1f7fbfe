//! Arbitrary bytes, read as lossy UTF-8, through the detection rule loader:
//! it may refuse the text, never panic, and a refusal names a line inside
//! the text (or its first line).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = haven_detect::parse_rule("fuzz.yaml", &text) {
        assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1, "{e}");
    }
});
