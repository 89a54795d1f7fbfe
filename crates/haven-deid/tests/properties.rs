//! Property tests: no panics on arbitrary input, spans on char boundaries,
//! sorted and non-overlapping, code-point offsets that match Python's, and
//! every operator total.

use haven_deid::{
    DeidOptions, Deidentifier, Detector, InMemoryVault, Operator, PhiType, Policy, PseudonymKey, to_char_spans,
};
use proptest::prelude::*;

fn key() -> PseudonymKey {
    PseudonymKey::from_bytes(&[5; 32]).unwrap_or_else(|_| unreachable!())
}

/// Text that looks a little like a note, so the rules actually fire.
fn notey() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "Mr. ",
        "John ",
        "Smith",
        ", ",
        "MRN: ",
        "123456",
        "3/4/61",
        " on ",
        "Feb 21",
        "617-555-0123",
        "\n",
        "Dr. ",
        "é",
        "𝄞",
        "Boston, MA ",
        "02115",
        "94 years old",
        "the 5th of May",
        "SSN 123-45-6789",
        "www.x.com",
        " ",
        ".",
        "Parkinson",
        "ÜNAL",
        "1/1/1",
        "Apt 4",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

fn check_spans(text: &str) {
    let spans = Detector::default().detect(text);
    let mut last = 0;
    for s in &spans {
        assert!(s.start < s.end && s.end <= text.len());
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        assert!(s.start >= last, "overlap or unsorted");
        assert!((0.0..=1.0).contains(&s.score));
        last = s.end;
    }
    for (c, s) in to_char_spans(text, &spans, 0, false).iter().zip(&spans) {
        assert_eq!(c.start, text[..s.start].chars().count());
        assert_eq!(c.end, text[..s.end].chars().count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_is_safe(text in any::<String>()) {
        check_spans(&text);
    }

    #[test]
    fn note_like_text_is_safe(text in notey()) {
        check_spans(&text);
    }

    #[test]
    fn every_operator_is_total(text in notey(), op in prop::sample::select(vec![
        Operator::Keep, Operator::Redact, Operator::Tag, Operator::Mask, Operator::Surrogate,
        Operator::Pseudonymize, Operator::Dateshift, Operator::Generalize, Operator::Tokenize,
    ])) {
        let mut p = Policy::safe_harbor();
        p.default = op;
        p.operators.clear();
        p.rules.clear();
        let de = Deidentifier::new(p, &key());
        let vault = InMemoryVault::new();
        let opts = DeidOptions { vault: Some(&vault), patient_id: Some("p"), ..Default::default() };
        let out = de.deidentify(&text, &opts);
        prop_assert!(out.is_ok());
        if op == Operator::Tokenize {
            let back = haven_deid::reidentify(&out.map(|d| d.text).unwrap_or_default(), &vault).map(|r| r.0);
            prop_assert_eq!(back.ok(), Some(text.clone()));
        }
        for t in PhiType::ALL {
            let _ = de.replace(t, &text, op, &opts);
        }
    }
}

#[test]
fn pathological_inputs_finish() {
    let d = Detector::default();
    for s in [
        "9".repeat(200_000),
        "Dr. ".repeat(50_000),
        "John ".repeat(50_000),
        "a".repeat(200_000),
        "1/1/1 ".repeat(30_000),
        "MRN: ".repeat(30_000),
        "@".repeat(100_000) + "a.com",
        "1.".repeat(100_000),
        "Apt ".repeat(50_000),
        "A".repeat(100_000),
        "\n".repeat(100_000),
    ] {
        let _ = d.detect(&s);
    }
}
