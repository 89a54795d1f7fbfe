//! Arbitrary bytes, read as lossy UTF-8, through every safeguard an agent
//! turn meets: input screening (limits, triage, injection scoring), the
//! injection scan of passages and tool results, the evidence check (the
//! input against itself and against a fixed span) and the disclaimer check.
//! None of it may panic, and every score stays in `0..=1`.

#![no_main]

use haven_safeguards::evidence::{CitedSentence, check_reply, split_sentences};
use haven_safeguards::injection::{InputKind, scan};
use haven_safeguards::limits::InputLimits;
use haven_safeguards::{disclaimer, screen_message, triage};
use libfuzzer_sys::fuzz_target;

const SPAN: &str = "Adults may take 500 mg of acetaminophen every 4 to 6 hours. Do not take more than 3,000 mg a day.";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let screening = screen_message(&text, &InputLimits::default());
    assert!(screening.checks.iter().all(|c| (0.0..=1.0).contains(&c.score)));
    for kind in [InputKind::RetrievedPassage, InputKind::ToolResult] {
        let r = scan(&text, kind);
        assert!((0.0..=1.0).contains(&r.score));
    }
    let _ = triage::assess(&text);
    let sentences = split_sentences(&text);
    let own = [text.as_ref()];
    let fixed = [SPAN];
    let cited: Vec<CitedSentence<'_>> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| CitedSentence { sentence: s, spans: if i % 2 == 0 { &own } else { &fixed } })
        .collect();
    let report = check_reply(&cited);
    assert_eq!(report.sentences.len(), cited.len());
    let _ = disclaimer::Disclaimer::default().check(&text);
});
