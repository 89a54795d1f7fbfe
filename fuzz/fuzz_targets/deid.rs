//! The PHI detector and every de-identification operator on arbitrary
//! input: no panic, spans sorted, non-overlapping and on char boundaries,
//! tokens always restored, FHIR documents never panic.

#![no_main]

use haven_deid::{DeidOptions, Deidentifier, Detector, InMemoryVault, Operator, PhiType, Policy, PseudonymKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let spans = Detector::default().detect(text);
    let mut last = 0;
    for s in &spans {
        assert!(s.start >= last && s.start < s.end && s.end <= text.len());
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        last = s.end;
    }
    let ops = [
        Operator::Keep,
        Operator::Redact,
        Operator::Tag,
        Operator::Mask,
        Operator::Surrogate,
        Operator::Pseudonymize,
        Operator::Dateshift,
        Operator::Generalize,
        Operator::Tokenize,
    ];
    let op = ops[usize::from(selector) % ops.len()];
    let Ok(key) = PseudonymKey::from_bytes(&[7; 32]) else { return };
    let mut policy = Policy::safe_harbor();
    policy.default = op;
    policy.operators.clear();
    policy.rules.clear();
    let de = Deidentifier::new(policy, &key);
    let vault = InMemoryVault::new();
    let opts = DeidOptions { vault: Some(&vault), patient_id: Some("p"), ..Default::default() };
    if let Ok(d) = de.apply_spans(text, &spans, &opts)
        && op == Operator::Tokenize
    {
        let back = haven_deid::reidentify(&d.text, &vault).map(|r| r.0).ok();
        assert_eq!(back.as_deref(), Some(text));
    }
    for t in PhiType::ALL {
        let _ = de.replace(t, text, op, &opts);
    }
    if selector & 0x80 != 0
        && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text)
    {
        let _ = haven_deid::fhir::deidentify_resource(&Deidentifier::new(Policy::safe_harbor(), &key), &mut v, &DeidOptions::default());
    }
});
