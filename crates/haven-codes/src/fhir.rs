//! Codes inside FHIR JSON: one Coding or CodeableConcept
//! ([`validate_coding`]), or every Coding and known Identifier of a whole
//! resource, contained resources and Bundle entries included
//! ([`check_resource`]).
//!
//! A coding whose system Haven does not check is reported as not checked,
//! never as invalid. Findings name a path (`Condition.code.coding[0]`) and a
//! rule; like the errors, they never copy a value from the resource.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::{CodeError, System, Validated, validate};

/// Deeper than this the walk stops (and says so); serde_json's own parser stops at 128.
const MAX_DEPTH: usize = 128;
/// Findings beyond this many are only counted, so a report stays small.
const MAX_FINDINGS: usize = 100;
/// Element names longer than this are not FHIR and are not copied into paths.
const MAX_NAME_LEN: usize = 64;

/// The result of checking one Coding (or Identifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The system is one Haven checks and the code passed.
    Valid(Validated),
    /// The system is one Haven checks and the code failed.
    Invalid(System, CodeError),
    /// Nothing Haven can say.
    NotChecked(NotChecked),
}

/// Why a coding was not checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotChecked {
    /// A system this crate does not check (or not an exact match of a known URI).
    UnknownSystem,
    /// A code without a system.
    NoSystem,
    /// No `code` string (only a display, or a code of another JSON type).
    NoCode,
    /// A SNOMED CT postcoordinated expression rather than a concept id.
    SnomedExpression,
    /// Nested deeper than the walk goes.
    TooDeep,
}

/// Checks a Coding (`{"system", "code"}`) or every coding of a
/// CodeableConcept (`{"coding": [...]}`). Anything else yields nothing.
pub fn validate_coding(value: &Value) -> Vec<Outcome> {
    let Value::Object(obj) = value else { return Vec::new() };
    match obj.get("coding") {
        Some(Value::Array(codings)) => codings
            .iter()
            .map(|c| c.as_object().map_or(Outcome::NotChecked(NotChecked::NoCode), check_coding))
            .collect(),
        Some(_) => Vec::new(),
        None => vec![check_coding(obj)],
    }
}

/// Checks one Coding object.
fn check_coding(coding: &Map<String, Value>) -> Outcome {
    let system = coding.get("system").and_then(Value::as_str);
    let Some(code) = coding.get("code").and_then(Value::as_str) else {
        return Outcome::NotChecked(NotChecked::NoCode);
    };
    let Some(uri) = system else { return Outcome::NotChecked(NotChecked::NoSystem) };
    let Some(system) = System::from_uri(uri) else { return Outcome::NotChecked(NotChecked::UnknownSystem) };
    if system == System::SnomedCt && is_snomed_expression(code) {
        return Outcome::NotChecked(NotChecked::SnomedExpression);
    }
    match validate(system, code) {
        Ok(v) => Outcome::Valid(v),
        Err(e) => Outcome::Invalid(system, e),
    }
}

/// FHIR allows SNOMED CT compositional grammar in `Coding.code`
/// (`128045006:{363698007=56459004}`); this crate checks concept ids only.
fn is_snomed_expression(code: &str) -> bool {
    code.bytes().any(|b| matches!(b, b':' | b'|' | b'+' | b'{' | b'=' | b'('))
}

/// One coding or identifier that is invalid or could not be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Where, as a FHIRPath-like path (`Observation.code.coding[0]`).
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a coding or identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Its system is checked and the code failed.
    Invalid(System, CodeError),
    /// It could not be checked.
    NotChecked(NotChecked),
}

/// Everything [`check_resource`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceReport {
    /// Codings and identifiers of a checked system that were validated (valid or not).
    pub checked: usize,
    /// Invalid and unchecked codings, in the order of the walk, at most 100.
    pub findings: Vec<Finding>,
    /// Findings beyond the first 100, counted but not listed.
    pub omitted: usize,
}

impl ResourceReport {
    /// True if some coding or identifier of a checked system is invalid.
    pub fn has_invalid(&self) -> bool {
        self.omitted > 0 || self.findings.iter().any(|f| matches!(f.problem, Problem::Invalid(..)))
    }
}

/// Walks a whole resource and checks every Coding (an element of a `coding`
/// array, or any object with `system` and `code` strings and no `value`,
/// such as `Encounter.class` and `meta.tag`) and every Identifier whose
/// system Haven checks (NPI, DEA...). Identifiers of other systems (MRNs,
/// phone numbers) are not reported; codings of other systems are, as not
/// checked.
pub fn check_resource(resource: &Value) -> ResourceReport {
    let root = match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if is_type_name(t) => t,
        _ => "Resource",
    };
    let mut w = Walker { path: root.to_owned(), report: ResourceReport::default() };
    w.value(resource, "", 0);
    w.report
}

struct Walker {
    /// Current path; segments are pushed and truncated so the walk stays linear.
    path: String,
    report: ResourceReport,
}

impl Walker {
    fn record(&mut self, problem: Problem) {
        if self.report.findings.len() < MAX_FINDINGS {
            self.report.findings.push(Finding { path: self.path.clone(), problem });
        } else {
            self.report.omitted += 1;
        }
    }

    fn value(&mut self, value: &Value, key: &str, depth: usize) {
        match value {
            Value::Object(obj) => {
                if depth > MAX_DEPTH {
                    self.record(Problem::NotChecked(NotChecked::TooDeep));
                    return;
                }
                self.object(obj, key);
                for (k, v) in obj {
                    let mark = self.path.len();
                    self.path.push('.');
                    // Keys are input too: only plausible element names are copied.
                    self.path.push_str(if is_element_name(k) { k } else { "[invalid name]" });
                    self.value(v, k, depth + 1);
                    self.path.truncate(mark);
                }
            }
            Value::Array(items) => {
                if depth > MAX_DEPTH {
                    self.record(Problem::NotChecked(NotChecked::TooDeep));
                    return;
                }
                for (i, v) in items.iter().enumerate() {
                    let mark = self.path.len();
                    // Writing to a String cannot fail.
                    let _ = write!(self.path, "[{i}]");
                    // Array elements keep the array's name: `coding[0]` is a Coding.
                    self.value(v, key, depth + 1);
                    self.path.truncate(mark);
                }
            }
            _ => {}
        }
    }

    /// Checks `obj` itself if it is a Coding or an Identifier of a known system.
    fn object(&mut self, obj: &Map<String, Value>, key: &str) {
        let str_of = |k: &str| obj.get(k).and_then(Value::as_str);
        let coding =
            key == "coding" || (str_of("system").is_some() && str_of("code").is_some() && !obj.contains_key("value"));
        if coding {
            match check_coding(obj) {
                Outcome::Valid(_) => self.report.checked += 1,
                Outcome::Invalid(s, e) => {
                    self.report.checked += 1;
                    self.record(Problem::Invalid(s, e));
                }
                // A Coding with only a display has nothing to check.
                Outcome::NotChecked(NotChecked::NoCode) => {}
                Outcome::NotChecked(n) => self.record(Problem::NotChecked(n)),
            }
            return;
        }
        let identifier = (key == "identifier" || !obj.contains_key("code")) && str_of("system").is_some();
        if let (true, Some(system), Some(value)) =
            (identifier, str_of("system").and_then(System::from_uri), str_of("value"))
        {
            self.report.checked += 1;
            if let Err(e) = validate(system, value) {
                self.record(Problem::Invalid(system, e));
            }
        }
    }
}

/// `[A-Z][A-Za-z]*`, at most 64: what a resource type looks like.
fn is_type_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN
        && s.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 64: what a FHIR element name looks like.
fn is_element_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN
        && s.as_bytes().first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::CheckAlgorithm;

    #[test]
    fn coding_and_codeable_concept() {
        let coding = json!({"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"});
        assert!(matches!(validate_coding(&coding).as_slice(), [Outcome::Valid(v)] if v.code() == "2345-7"));

        let cc = json!({"coding": [
            {"system": "http://snomed.info/sct", "code": "22298006"},
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I21.9"},
            {"system": "http://snomed.info/sct", "code": "22298007"},
            {"system": "http://example.org/local", "code": "MI"},
            {"code": "E11.9"},
            {"system": "http://loinc.org", "display": "no code"},
            {"system": "http://snomed.info/sct", "code": "128045006:{363698007=56459004}"}
        ], "text": "Heart attack"});
        let out = validate_coding(&cc);
        assert_eq!(out.len(), 7);
        assert!(matches!(out[0], Outcome::Valid(_)));
        assert!(matches!(out[1], Outcome::Valid(_)));
        assert_eq!(
            out[2],
            Outcome::Invalid(
                System::SnomedCt,
                CodeError::CheckDigit { system: System::SnomedCt, algorithm: CheckAlgorithm::Verhoeff }
            )
        );
        assert_eq!(out[3], Outcome::NotChecked(NotChecked::UnknownSystem));
        assert_eq!(out[4], Outcome::NotChecked(NotChecked::NoSystem));
        assert_eq!(out[5], Outcome::NotChecked(NotChecked::NoCode));
        assert_eq!(out[6], Outcome::NotChecked(NotChecked::SnomedExpression));

        assert!(validate_coding(&json!("E11.9")).is_empty());
        assert!(validate_coding(&json!({"coding": "x"})).is_empty());
    }

    #[test]
    fn walks_a_resource() {
        let condition = json!({
            "resourceType": "Condition",
            "meta": {"tag": [{"system": "http://example.org/tags", "code": "agent-written"}]},
            "code": {"coding": [
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"},
                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.95"}
            ]},
            "evidence": [{"code": [{"coding": [{"system": "http://loinc.org", "code": "4548-5"}]}]}],
            "recorder": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567890"}},
            "note": [{"text": "ICD-10 E11.95"}],
            "valueQuantity": {"value": 7.1, "system": "http://unitsofmeasure.org", "code": "%"},
            "contained": [{"resourceType": "Practitioner", "identifier": [
                {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
                {"system": "urn:oid:1.2.3", "value": "MRN-1"}
            ]}]
        });
        let r = check_resource(&condition);
        // Object keys may come in either order, depending on serde_json's features.
        let mut got: Vec<(&str, Problem)> = r.findings.iter().map(|f| (f.path.as_str(), f.problem)).collect();
        got.sort_by_key(|(path, _)| *path);
        let loinc = CodeError::CheckDigit { system: System::Loinc, algorithm: CheckAlgorithm::LoincMod10 };
        let npi = CodeError::CheckDigit { system: System::Npi, algorithm: CheckAlgorithm::LuhnNpi };
        assert_eq!(
            got,
            [
                ("Condition.code.coding[1]", Problem::Invalid(System::Icd10Cm, CodeError::NotInCodeList)),
                ("Condition.evidence[0].code[0].coding[0]", Problem::Invalid(System::Loinc, loinc)),
                ("Condition.meta.tag[0]", Problem::NotChecked(NotChecked::UnknownSystem)),
                ("Condition.recorder.identifier", Problem::Invalid(System::Npi, npi)),
            ]
        );
        assert_eq!(r.checked, 5);
        assert!(r.has_invalid());
    }
}
