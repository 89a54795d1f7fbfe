//! Arbitrary text through the clinical code scanner, as a model's reply
//! meets it, and through every system's validator; bytes that parse as JSON
//! also go through the FHIR coding checks. None of it may panic, and every
//! mention's span must slice the text to its code, in order, without overlap.

#![no_main]

use haven_codes::{System, check_resource, scan, validate, validate_coding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut last_end = 0;
    for m in scan(&text) {
        assert_eq!(text.get(m.span.clone()), Some(m.code));
        assert!(m.span.start >= last_end);
        last_end = m.span.end;
    }
    for system in System::ALL {
        let _ = validate(system, &text);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = validate_coding(&value);
        let _ = check_resource(&value);
    }
});
