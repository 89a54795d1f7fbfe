//! Property tests across the crate: nothing panics on any input, every code
//! built by its system's rules validates, and one changed digit of a code
//! with a Luhn, Verhoeff or LOINC mod 10 check digit never does.

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::json;

use crate::check_digit::{dea_check_digit, luhn_check_digit, npi_check_digit, verhoeff_check_digit};
use crate::{Detail, System, Verdict, check_resource, icd10cm, scan, validate, validate_coding};

/// `s` with the digit at `i` replaced by a different one (`shift` in 1..=9 steps on).
fn flip(s: &str, i: usize, shift: u8) -> String {
    s.bytes()
        .enumerate()
        .map(|(j, b)| if j == i { (b'0' + (b - b'0' + shift) % 10) as char } else { b as char })
        .collect()
}

/// The embedded ICD-10-CM list, indexed, for sampling.
static ICD_ENTRIES: LazyLock<Vec<&'static str>> = LazyLock::new(|| icd10cm::entries().collect());

fn snomed_short() -> impl Strategy<Value = String> {
    "[1-9][0-9]{2,14}".prop_map(|item| {
        let payload = format!("{item}00");
        let check = verhoeff_check_digit(&payload).unwrap_or(0);
        format!("{payload}{check}")
    })
}

fn snomed_long() -> impl Strategy<Value = String> {
    ("[1-9][0-9]{0,7}", "[0-9]{7}").prop_map(|(item, namespace)| {
        let payload = format!("{item}{namespace}10");
        let check = verhoeff_check_digit(&payload).unwrap_or(0);
        format!("{payload}{check}")
    })
}

fn loinc() -> impl Strategy<Value = String> {
    (1u32..10_000_000).prop_map(|n| {
        let number = n.to_string();
        format!("{number}-{}", luhn_check_digit(&number).unwrap_or(0))
    })
}

fn npi() -> impl Strategy<Value = String> {
    "[0-9]{9}".prop_map(|nine| format!("{nine}{}", npi_check_digit(&nine).unwrap_or(0)))
}

fn dea() -> impl Strategy<Value = String> {
    ("[A-Z][A-Z9]", "[0-9]{6}")
        .prop_map(|(letters, six)| format!("{letters}{six}{}", dea_check_digit(&six).unwrap_or(0)))
}

fn ndc() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{4}-[0-9]{4}-[0-9]{2}",
        "[0-9]{5}-[0-9]{3}-[0-9]{2}",
        "[0-9]{5}-[0-9]{4}-[0-9]{1}",
        "[0-9]{5}-[0-9]{4}-[0-9]{2}",
        "[0-9]{11}"
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn nothing_panics_on_any_text(text in any::<String>()) {
        for system in System::ALL {
            let _ = validate(system, &text);
        }
        let _ = icd10cm::lookup(&text);
        let _ = validate_coding(&json!({"system": "http://snomed.info/sct", "code": text}));
        let _ = check_resource(&json!({"resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org", "code": text}]}}));
        let mentions = scan(&text);
        let mut last_end = 0;
        for m in &mentions {
            prop_assert_eq!(text.get(m.span.clone()), Some(m.code));
            prop_assert!(m.span.start >= last_end, "sorted, not overlapping");
            last_end = m.span.end;
        }
    }

    #[test]
    fn nothing_panics_on_code_like_text(text in "[A-Za-z0-9 .,;:/#&()\u{ae}\u{2014}é-]{0,64}|(ICD-10|LOINC|NPI|NDC|CPT|DEA|SNOMED CT|RxNorm|ICD-9) [A-Za-z0-9 .,;/&-]{0,32}") {
        let mentions = scan(&text);
        for m in &mentions {
            prop_assert_eq!(text.get(m.span.clone()), Some(m.code));
            if m.label.is_none() {
                prop_assert_eq!(m.system, System::Icd10Cm);
            }
        }
    }

    #[test]
    fn built_codes_validate(
        short in snomed_short(), long in snomed_long(), loinc in loinc(), npi in npi(), dea in dea(),
        ndc in ndc(), cpt in "[0-9]{4}[0-9FT]", rxcui in 1u32..100_000_000,
    ) {
        let short_ok = validate(System::SnomedCt, &short);
        prop_assert!(short_ok.is_ok(), "{} {:?}", short, short_ok);
        let long_ok = validate(System::SnomedCt, &long);
        prop_assert!(matches!(long_ok.as_ref().map(|v| v.detail()), Ok(Detail::SnomedCt(p)) if p.extension), "{} {:?}", long, long_ok);
        prop_assert!(validate(System::Loinc, &loinc).is_ok(), "{}", loinc);
        prop_assert!(validate(System::Npi, &npi).is_ok(), "{}", npi);
        prop_assert!(validate(System::Dea, &dea).is_ok(), "{}", dea);
        prop_assert!(validate(System::Cpt, &cpt).is_ok(), "{}", cpt);
        prop_assert!(validate(System::RxNorm, &rxcui.to_string()).is_ok());

        let normal = validate(System::Ndc, &ndc);
        prop_assert!(normal.is_ok(), "{}", ndc);
        let eleven = normal.map(|v| v.code().to_owned()).unwrap_or_default();
        prop_assert_eq!(eleven.len(), 11);
        // Normalising only pads segments with zeros: the digits stay in order.
        let digits: String = ndc.chars().filter(char::is_ascii_digit).collect();
        prop_assert!(eleven.chars().filter(|c| *c != '0').eq(digits.chars().filter(|c| *c != '0')));

        // Labelled in a sentence, each is found with the right system and span.
        for (label, system, code) in [("LOINC", System::Loinc, &loinc), ("NPI", System::Npi, &npi), ("SNOMED CT", System::SnomedCt, &short), ("DEA", System::Dea, &dea), ("NDC", System::Ndc, &ndc)] {
            let text = format!("See {label}: {code}. Thanks");
            let found = scan(&text);
            prop_assert_eq!(found.len(), 1, "{}", text);
            prop_assert_eq!(found[0].system, system);
            prop_assert_eq!(found[0].code, code.as_str());
            prop_assert!(found[0].verdict.is_valid());
        }
    }

    #[test]
    fn one_changed_digit_is_caught(
        snomed in prop_oneof![snomed_short(), snomed_long()], loinc in loinc(), npi in npi(), dea in dea(),
        i in any::<prop::sample::Index>(), shift in 1u8..10,
    ) {
        let at = i.index(snomed.len());
        prop_assert!(validate(System::SnomedCt, &flip(&snomed, at, shift)).is_err(), "{} at {}", snomed, at);
        let at = i.index(npi.len());
        prop_assert!(validate(System::Npi, &flip(&npi, at, shift)).is_err(), "{} at {}", npi, at);
        let digits = loinc.len() - 2;
        // Any digit of the number, or the check digit after the hyphen.
        let at = i.index(digits + 1);
        let at = if at == digits { digits + 1 } else { at };
        prop_assert!(validate(System::Loinc, &flip(&loinc, at, shift)).is_err(), "{} at {}", loinc, at);
        // The DEA sum weighs even positions by 2, so it misses some changes
        // there; a changed check digit is always caught.
        let changed = format!("{}{}", &dea[..8], flip(&dea[8..], 0, shift));
        prop_assert!(validate(System::Dea, &changed).is_err(), "{}", changed);
    }

    #[test]
    fn every_listed_icd_code_is_found_however_written(i in any::<prop::sample::Index>(), lower in any::<bool>(), pad in " {0,2}") {
        let name = ICD_ENTRIES[i.index(ICD_ENTRIES.len())];
        let written = match name.split_at_checked(3) {
            Some((head, tail)) if !tail.is_empty() && !name.contains('-') => format!("{pad}{head}.{tail}{pad}"),
            _ => format!("{pad}{name}{pad}"),
        };
        let written = if lower { written.to_lowercase() } else { written };
        let entry = icd10cm::lookup(&written);
        prop_assert!(matches!(entry, Ok(e) if e.code().as_str() == name && e.kind() != icd10cm::Kind::Unknown), "{:?}", written);
        // And found bare in text, when it is a code rather than a chapter number.
        if name.len() >= 3 && !lower && name.as_bytes()[1].is_ascii_digit() && (name.as_bytes()[2].is_ascii_digit() || name.len() > 3) {
            let text = format!("coded as {written}, then");
            let found = scan(&text);
            prop_assert_eq!(found.len(), 1, "{}", text);
            prop_assert!(matches!(found[0].verdict, Verdict::Valid(_)), "{}", text);
        }
    }
}
