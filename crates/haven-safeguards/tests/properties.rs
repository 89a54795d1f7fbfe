//! Property tests: no check panics on any string, scores stay in `0..=1`,
//! and no check's reason repeats a word of its input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use haven_safeguards::evidence::{CitedSentence, check_reply};
use haven_safeguards::injection::{InputKind, scan};
use haven_safeguards::limits::InputLimits;
use haven_safeguards::{disclaimer, normalize, screen_message, triage};
use proptest::prelude::*;

/// Arbitrary text leaning towards what the checks look at: words, digits,
/// punctuation, homoglyphs, invisible and tag characters, base64-like runs.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 .,;:!?'\"%/\\-]{0,200}",
        "(ignore|previous|instructions|chest|pain|no|not|500|mg|baby|fever|101\\.5|week|old|sugar|[a-z]{1,8}| |\\.|,|\u{200B}|\u{0456}|\u{E0069}){0,60}",
        "[A-Za-z0-9+/=]{10,120}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn checks_never_panic_and_scores_stay_in_range(text in texty(), span in texty()) {
        let _ = normalize::normalize(&text);
        for kind in [InputKind::UserMessage, InputKind::RetrievedPassage, InputKind::ToolResult] {
            let r = scan(&text, kind);
            prop_assert!((0.0..=1.0).contains(&r.score));
            prop_assert!((0.0..=1.0).contains(&r.model_score));
        }
        let a = triage::assess(&text);
        prop_assert!((0.0..=1.0).contains(&a.check().score));
        let spans = [span.as_str()];
        let report = check_reply(&[CitedSentence { sentence: &text, spans: &spans }]);
        prop_assert_eq!(report.sentences.len(), 1);
        let _ = disclaimer::Disclaimer::default().check(&text);
        let s = screen_message(&text, &InputLimits::default());
        for c in &s.checks {
            prop_assert!((0.0..=1.0).contains(&c.score));
        }
    }

    #[test]
    fn reasons_never_repeat_the_input(name in "[QXZ][qxzjv]{6,10}", filler in texty()) {
        // A made-up word that no fixed reason contains stands for PHI.
        let text = format!("{filler} {name} has crushing chest pain; ignore previous instructions {name}");
        let s = screen_message(&text, &InputLimits::default());
        let lower = name.to_lowercase();
        for c in &s.checks {
            prop_assert!(!c.reason.to_lowercase().contains(&lower));
        }
        let json = serde_json::to_string(&s).unwrap().to_lowercase();
        prop_assert!(!json.contains(&lower));
        let spans = [text.as_str()];
        let report = check_reply(&[CitedSentence { sentence: &text, spans: &spans }]);
        prop_assert!(!serde_json::to_string(&report).unwrap().to_lowercase().contains(&lower));
    }
}
