//! FHIR resources: field rules by element path for structured elements,
//! the text engine for free text, consistent hashed ids and references,
//! per-patient date shifts.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::ops::{DeidError, DeidOptions, DeidReport, Deidentifier};
use crate::policy::{FhirAction, Operator};
use crate::types::PhiType;

/// The patient a resource belongs to: its own id for a Patient, otherwise
/// the id in `subject`, `patient` or `beneficiary` references.
pub fn patient_of(resource: &Value) -> Option<String> {
    if resource.get("resourceType").and_then(Value::as_str) == Some("Patient") {
        return resource.get("id").and_then(Value::as_str).map(str::to_string);
    }
    for k in ["subject", "patient", "beneficiary", "individual"] {
        if let Some(r) = resource.get(k).and_then(|v| v.get("reference")).and_then(Value::as_str)
            && (r.starts_with("Patient/") || r.starts_with("urn:uuid:"))
        {
            return r.rsplit(['/', ':']).next().map(str::to_string);
        }
    }
    None
}

/// De-identifies one resource, or every entry of a Bundle, under the
/// de-identifier's policy. Returns the counts of what was changed.
pub fn deidentify_resource(
    de: &Deidentifier,
    resource: &mut Value,
    opts: &DeidOptions<'_>,
) -> Result<DeidReport, DeidError> {
    let mut report = DeidReport::default();
    let rt = resource.get("resourceType").and_then(Value::as_str).unwrap_or("").to_string();
    if rt == "Bundle"
        && let Some(entries) = resource.get_mut("entry").and_then(Value::as_array_mut)
    {
        // Bundles of many patients: each entry follows its own patient.
        // Patients first, so urn:uuid references find their patient's id.
        for e in entries.iter_mut() {
            let pid = e.get("resource").and_then(patient_of);
            let o = DeidOptions { patient_id: pid.as_deref().or(opts.patient_id), ..*opts };
            if let Some(full) = e.get_mut("fullUrl") {
                hash_reference(de, full);
            }
            if let Some(r) = e.get_mut("resource") {
                report.add(&deidentify_resource(de, r, &o)?);
            }
            if let Some(req) = e.get_mut("request").and_then(|r| r.get_mut("url")) {
                hash_reference(de, req);
            }
        }
        return Ok(report);
    }
    let pid = patient_of(resource);
    let o = DeidOptions { patient_id: pid.as_deref().or(opts.patient_id), ..*opts };
    let mut path = vec![rt.clone()];
    if let Value::Object(map) = resource {
        walk_object(de, map, &mut path, &o, &mut report)?;
    }
    Ok(report)
}

/// The action for `path` (`["Patient", "address", "city"]`): the most
/// specific rule that matches, where `*` stands for any one segment.
fn action_for(de: &Deidentifier, path: &[String]) -> Option<FhirAction> {
    let mut best: Option<(usize, FhirAction)> = None;
    for r in &de.policy().fhir.rules {
        let segs: Vec<&str> = r.path.split('.').collect();
        // A rule matches the path's tail: "*.name" matches "Patient.name"
        // and "Patient.contact.name"; "Patient.name" only the former.
        if segs.len() > path.len() {
            continue;
        }
        let anchored = segs.first().is_some_and(|s| *s != "*");
        let offset = if anchored { 0 } else { path.len() - segs.len() };
        if anchored && segs.len() != path.len() {
            continue;
        }
        let ok = segs.iter().zip(&path[offset..]).all(|(s, p)| *s == "*" || s == p);
        if ok {
            let specificity = segs.iter().filter(|s| **s != "*").count() * 2 + usize::from(anchored);
            if best.is_none_or(|(b, _)| specificity > b) {
                best = Some((specificity, r.action));
            }
        }
    }
    best.map(|b| b.1)
}

fn walk_object(
    de: &Deidentifier,
    map: &mut Map<String, Value>,
    path: &mut Vec<String>,
    opts: &DeidOptions<'_>,
    report: &mut DeidReport,
) -> Result<(), DeidError> {
    let keys: Vec<String> = map.keys().cloned().collect();
    let content_type = map.get("contentType").and_then(Value::as_str).map(str::to_string);
    for k in keys {
        if k == "resourceType" {
            continue;
        }
        path.push(k.clone());
        let action = action_for(de, path);
        let mut remove = false;
        if let Some(v) = map.get_mut(&k) {
            match action {
                Some(FhirAction::Redact) => remove = true,
                Some(FhirAction::Keep) => {}
                Some(a) => apply(de, a, v, path, content_type.as_deref(), opts, report)?,
                None => walk_value(de, v, path, content_type.as_deref(), opts, report)?,
            }
        }
        if remove {
            map.remove(&k);
            *report.operators.entry("redact").or_default() += 1;
        }
        path.pop();
    }
    // A narrative we removed must still be valid FHIR where it is required.
    if path.len() == 1 && !map.contains_key("text") {
        // nothing: `text` is optional on every resource
    }
    Ok(())
}

fn walk_value(
    de: &Deidentifier,
    v: &mut Value,
    path: &mut Vec<String>,
    ct: Option<&str>,
    opts: &DeidOptions<'_>,
    report: &mut DeidReport,
) -> Result<(), DeidError> {
    match v {
        Value::Object(m) => {
            // Embedded resources (contained, Bundle entries, Parameters) follow their own rules.
            if m.contains_key("resourceType") {
                report.add(&deidentify_resource(de, v, opts)?);
                return Ok(());
            }
            walk_object(de, m, path, opts, report)
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                walk_value(de, x, path, ct, opts, report)?;
            }
            Ok(())
        }
        Value::String(s) => {
            if looks_like_date(s) {
                let a = de.policy().fhir.dates;
                if a != FhirAction::Keep {
                    apply(de, a, v, path, ct, opts, report)?;
                }
            } else if is_free_text(path) {
                let a = de.policy().fhir.free_text;
                if a != FhirAction::Keep {
                    apply(de, a, v, path, ct, opts, report)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Elements whose strings are prose a person wrote.
fn is_free_text(path: &[String]) -> bool {
    let last = path.last().map(String::as_str).unwrap_or("");
    matches!(
        last,
        "text"
            | "div"
            | "comment"
            | "description"
            | "note"
            | "summary"
            | "conclusion"
            | "valueString"
            | "detail"
            | "reasonText"
            | "patientInstruction"
            | "answer"
            | "title"
    )
}

/// FHIR date, dateTime and instant values.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 4 || b.len() == 7 || b.len() >= 10)
        && b.len() <= 35
        && b[..4].iter().all(u8::is_ascii_digit)
        && (b.len() == 4 || b[4] == b'-')
        && (b.len() < 7 || b[5..7].iter().all(u8::is_ascii_digit))
        && (b.len() < 10 || (b[7] == b'-' && b[8..10].iter().all(u8::is_ascii_digit)))
        && (b.len() <= 10 || b[10] == b'T')
}

fn apply(
    de: &Deidentifier,
    action: FhirAction,
    v: &mut Value,
    path: &mut Vec<String>,
    ct: Option<&str>,
    opts: &DeidOptions<'_>,
    report: &mut DeidReport,
) -> Result<(), DeidError> {
    let field = path.last().cloned().unwrap_or_default();
    match v {
        Value::Array(a) => {
            for x in a.iter_mut() {
                apply(de, action, x, path, ct, opts, report)?;
            }
            return Ok(());
        }
        Value::Object(m) => {
            // Objects under a rule: apply it to every string leaf (a
            // HumanName's parts, an Address's lines), keeping the shape.
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if matches!(
                    k.as_str(),
                    "use" | "system" | "type" | "url" | "resourceType" | "code" | "contentType" | "language"
                ) {
                    continue;
                }
                path.push(k.clone());
                let specific = action_for(de, path);
                if let Some(x) = m.get_mut(&k) {
                    match specific {
                        Some(FhirAction::Redact) => {
                            m.remove(&k);
                        }
                        Some(FhirAction::Keep) => {}
                        Some(a) if a != action => apply(de, a, x, path, ct, opts, report)?,
                        _ => apply(de, action, x, path, ct, opts, report)?,
                    }
                }
                path.pop();
            }
            return Ok(());
        }
        _ => {}
    }
    let Value::String(s) = v else {
        if matches!(action, FhirAction::Redact | FhirAction::Substitute | FhirAction::CryptoHash) && !v.is_boolean() {
            *v = Value::Null;
        }
        return Ok(());
    };
    let count = |report: &mut DeidReport, kind: PhiType, op: &'static str| {
        *report.counts.entry(kind).or_default() += 1;
        *report.operators.entry(op).or_default() += 1;
    };
    match action {
        FhirAction::Keep => {}
        FhirAction::Redact => {
            *s = String::new();
            count(report, PhiType::OtherId, "redact");
        }
        FhirAction::CryptoHash => {
            hash_reference_str(de, s);
            count(report, PhiType::OtherId, "cryptoHash");
        }
        FhirAction::Dateshift => {
            if looks_like_date(s) {
                let days = de.date_offset(opts)?;
                if let Some(n) = shift_fhir_date(s, days) {
                    *s = n;
                }
                count(report, PhiType::Date, "dateshift");
            } else {
                *s = String::new();
            }
        }
        FhirAction::Generalize => {
            if looks_like_date(s) {
                *s = s.chars().take(4).collect();
                count(report, PhiType::Date, "generalize");
            } else {
                *s = de.replace(PhiType::Location, s, Operator::Generalize, opts)?;
                count(report, PhiType::Location, "generalize");
            }
        }
        FhirAction::Substitute => {
            let kind = match field.as_str() {
                "city" | "line" | "district" | "postalCode" => PhiType::Location,
                _ if path.iter().any(|p| p == "address") => PhiType::Location,
                _ if path.first().is_some_and(|r| r == "Organization" || r == "Location") => PhiType::Location,
                _ => PhiType::Name,
            };
            *s = de.replace(kind, s, Operator::Surrogate, opts)?;
            count(report, kind, "surrogate");
        }
        FhirAction::Text => {
            if field == "data" {
                // Attachments: only text is decoded; other content is removed.
                let is_text = ct.is_some_and(|c| c.starts_with("text/"));
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                match (is_text, decoded) {
                    (true, Some(t)) => {
                        let d = de.deidentify(&t, opts)?;
                        report.add(&d.report);
                        *s = base64::engine::general_purpose::STANDARD.encode(d.text.as_bytes());
                    }
                    _ => {
                        *s = String::new();
                        *report.operators.entry("redact").or_default() += 1;
                    }
                }
            } else if field == "div" {
                *s = "<div xmlns=\"http://www.w3.org/1999/xhtml\">[redacted]</div>".into();
                *report.operators.entry("redact").or_default() += 1;
            } else {
                let d = de.deidentify(s, opts)?;
                report.add(&d.report);
                *s = d.text;
            }
        }
    }
    Ok(())
}

/// Shifts a FHIR date/dateTime/instant, keeping its precision and the rest
/// of the value (time, zone).
fn shift_fhir_date(s: &str, days: i32) -> Option<String> {
    match s.len() {
        4 => Some(s.to_string()),
        7 => {
            let shifted = crate::ops::shift_date(&format!("{s}-15"), days)?;
            Some(shifted[..7].to_string())
        }
        _ => {
            let head = crate::ops::shift_date(s.get(..10)?, days)?;
            Some(format!("{head}{}", &s[10..]))
        }
    }
}

fn hash_reference(de: &Deidentifier, v: &mut Value) {
    if let Value::String(s) = v {
        hash_reference_str(de, s);
    }
}

/// Hashes the id part of an id, a reference (`Patient/123`), a `urn:uuid:`
/// or a conditional reference (`Practitioner?identifier=sys|123`), so every
/// reference to the same resource stays equal.
fn hash_reference_str(de: &Deidentifier, s: &mut String) {
    if let Some(rest) = s.strip_prefix("urn:uuid:") {
        let h = de.crypto_hash(rest);
        *s = format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]);
    } else if let Some((head, tail)) = s.rsplit_once('|') {
        *s = format!("{head}|{}", de.crypto_hash(tail));
    } else if let Some((head, id)) = s.rsplit_once('/') {
        // "Patient/123" or "http://server/fhir/Patient/123"
        *s = format!("{head}/{}", de.crypto_hash(id));
    } else {
        *s = de.crypto_hash(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::vault::PseudonymKey;

    fn de(p: Policy) -> Deidentifier {
        match PseudonymKey::from_bytes(&[3; 32]) {
            Ok(k) => Deidentifier::new(p, &k),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn patient_resource_safe_harbor() {
        let d = de(Policy::safe_harbor());
        let mut p = serde_json::json!({
            "resourceType": "Patient", "id": "pat-1",
            "identifier": [{"system": "http://hospital/mrn", "value": "MRN12345"}],
            "name": [{"use": "official", "family": "Smith", "given": ["John", "Q"]}],
            "telecom": [{"system": "phone", "value": "617-555-0101"}],
            "gender": "male", "birthDate": "1961-03-04",
            "address": [{"line": ["24 Clarke Avenue"], "city": "Boston", "state": "MA", "postalCode": "02115"}],
            "text": {"status": "generated", "div": "<div>John Smith</div>"}
        });
        let r = deidentify_resource(&d, &mut p, &DeidOptions::default());
        assert!(r.is_ok());
        let s = p.to_string();
        for v in ["pat-1", "MRN12345", "Smith", "John", "617-555-0101", "1961-03-04", "Clarke", "Boston", "02115"] {
            assert!(!s.contains(v), "{v} left in {s}");
        }
        assert_eq!(p["address"][0]["state"], "MA");
        assert_eq!(p["address"][0]["postalCode"], "021");
        assert_eq!(p["gender"], "male");
        assert_eq!(p["identifier"][0]["system"], "http://hospital/mrn");
    }

    #[test]
    fn references_stay_consistent_and_dates_shift_per_patient() {
        let d = de(Policy::safe_harbor());
        let mut bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:aaaa", "resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-10"}},
            {"resource": {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p1"},
                "period": {"start": "2020-01-10T10:00:00Z"}}},
            {"resource": {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"},
                "note": [{"text": "Call Dr. Jane Doe at 617-555-0188."}], "effectiveDateTime": "2020-01-20"}}
        ]});
        assert!(deidentify_resource(&d, &mut bundle, &DeidOptions::default()).is_ok());
        let pid = bundle["entry"][0]["resource"]["id"].as_str().unwrap_or("");
        assert_eq!(bundle["entry"][1]["resource"]["subject"]["reference"], format!("Patient/{pid}"));
        assert!(
            bundle["entry"][0]["fullUrl"].as_str().is_some_and(|u| u.starts_with("urn:uuid:") && !u.contains("aaaa"))
        );
        // 10 days between encounter and observation survive the shift.
        let enc = bundle["entry"][1]["resource"]["period"]["start"].as_str().unwrap_or("").to_string();
        let obs = bundle["entry"][2]["resource"]["effectiveDateTime"].as_str().unwrap_or("").to_string();
        assert!(enc.ends_with("T10:00:00Z") && enc != "2020-01-10T10:00:00Z");
        let parse =
            |s: &str| time::Date::parse(&s[..10], &time::macros::format_description!("[year]-[month]-[day]")).ok();
        assert_eq!(parse(&obs).zip(parse(&enc)).map(|(a, b)| (a - b).whole_days()), Some(10));
        let note = bundle["entry"][2]["resource"]["note"][0]["text"].as_str().unwrap_or("");
        assert!(!note.contains("Jane") && !note.contains("617-555-0188"), "{note}");
    }

    #[test]
    fn limited_data_set_keeps_dates_and_towns() {
        let d = de(Policy::limited_data_set());
        let mut p = serde_json::json!({"resourceType": "Patient", "id": "x", "birthDate": "1961-03-04",
            "name": [{"family": "Smith"}], "address": [{"line": ["1 Main St"], "city": "Boston", "postalCode": "02115"}]});
        assert!(deidentify_resource(&d, &mut p, &DeidOptions::default()).is_ok());
        assert_eq!(p["birthDate"], "1961-03-04");
        assert_eq!(p["address"][0]["city"], "Boston");
        assert!(p["address"][0].get("line").is_none());
        assert_ne!(p["name"][0]["family"], "Smith");
    }
}
