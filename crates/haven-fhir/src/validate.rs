//! Structural validation of a parsed FHIR R4 resource.
//!
//! Not a full profile validator: it checks the FHIR JSON rules (no `null`
//! outside arrays, nothing empty), reference and code-system syntax, the
//! formats of date-like elements, a few boolean and code elements, and the
//! required elements of the resources Haven serves. Issues name the element
//! path, never the value: resources are PHI.
//!
//! Issue codes used (FHIR IssueType): `structure` (JSON shape), `required`
//! (missing element), `value` (bad value), `invalid` (element name, nesting),
//! `not-supported` (a `resourceType` that is not FHIR R4), `too-costly`
//! (issue list truncated).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::datetime::PartialDateTime;
use crate::resource_types::is_r4_resource_type;

/// How serious an issue is. Only [`Severity::Error`] makes a resource unacceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The resource is invalid.
    Error,
    /// An oddity worth reporting; the resource is still accepted.
    Warning,
}

/// One problem found, ready to become an `OperationOutcome.issue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// FHIR IssueType code (`structure`, `required`, `value`, `invalid`, `too-costly`).
    pub code: &'static str,
    /// Where, as a FHIRPath-like path (`Observation.code.coding[0].system`).
    pub expression: String,
    /// What is wrong, for humans. Never contains input values.
    pub diagnostics: String,
}

impl Issue {
    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Validation settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Accept conditional references (`Patient?identifier=...`), legal inside
    /// transaction and batch Bundles. A transaction/batch Bundle being
    /// validated turns this on for its own entries regardless.
    pub allow_conditional_references: bool,
}

/// Deeper than this the walk stops (limits.rs already bounds depth at parse time).
const MAX_DEPTH: usize = 128;
/// Beyond this many issues the rest are summarised in one, keeping output bounded.
const MAX_ISSUES: usize = 100;
/// Element names longer than this are not FHIR and are not copied into paths.
const MAX_NAME_LEN: usize = 64;

/// Validates one resource (and, within it, contained resources and Bundle
/// entries). Returns every issue found; an empty list means valid.
pub fn validate(obj: &Map<String, Value>, opts: &Options) -> Vec<Issue> {
    let mut w = Walker { issues: Vec::new(), dropped: 0, dropped_error: false, path: String::new() };
    // Paths start with the resource type, or "Resource" when it is unusable.
    // Only a known type is copied into paths: anything else is input.
    let label = match obj.get("resourceType").and_then(Value::as_str) {
        Some(t) if is_r4_resource_type(t) => t,
        _ => "Resource",
    };
    w.path.push_str(label);
    let ctx = Ctx { resource: "", root: false, parent_key: "", conditional: opts.allow_conditional_references };
    w.object(obj, ctx, 0, true);
    if w.dropped > 0 {
        // Truncation must not hide an error behind a warnings-only list.
        let severity = if w.dropped_error { Severity::Error } else { Severity::Warning };
        w.issues.push(Issue {
            severity,
            code: "too-costly",
            expression: label.to_owned(),
            diagnostics: format!("{} further issues not listed", w.dropped),
        });
    }
    w.issues
}

/// Where in the resource the walk is.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    /// Type of the innermost enclosing resource ("" if unknown).
    resource: &'a str,
    /// The current object is that resource itself (its top level).
    root: bool,
    /// Name of the element holding the current object (`coding`, `identifier`...).
    parent_key: &'a str,
    /// Conditional references are legal here.
    conditional: bool,
}

struct Walker {
    issues: Vec<Issue>,
    dropped: usize,
    dropped_error: bool,
    /// Current path; segments are pushed and truncated so the walk stays linear.
    path: String,
}

/// Types of date-like primitive.
#[derive(Clone, Copy)]
enum DateKind {
    Date,
    DateTime,
    Instant,
}

impl Walker {
    /// True (and counted) when the list is full, so callers skip building the issue.
    fn full(&mut self, severity: Severity) -> bool {
        if self.issues.len() < MAX_ISSUES {
            return false;
        }
        self.dropped += 1;
        self.dropped_error |= severity == Severity::Error;
        true
    }

    /// Records an issue at the current path plus `suffix` (`""` or `.name`).
    fn record(&mut self, severity: Severity, code: &'static str, suffix: &str, diagnostics: impl Into<String>) {
        if !self.full(severity) {
            let expression = format!("{}{suffix}", self.path);
            self.issues.push(Issue { severity, code, expression, diagnostics: diagnostics.into() });
        }
    }

    fn error(&mut self, code: &'static str, diagnostics: impl Into<String>) {
        self.record(Severity::Error, code, "", diagnostics);
    }

    fn warning(&mut self, code: &'static str, diagnostics: impl Into<String>) {
        self.record(Severity::Warning, code, "", diagnostics);
    }

    /// Appends `.name` to the path and returns the length to truncate back to.
    fn push_key(&mut self, key: &str) -> usize {
        let len = self.path.len();
        self.path.push('.');
        // Keys are input too: only plausible element names are copied into paths.
        if is_element_name(key) {
            self.path.push_str(key);
        } else {
            self.path.push_str("[invalid name]");
        }
        len
    }

    fn push_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        // Writing to a String cannot fail.
        let _ = write!(self.path, "[{i}]");
        len
    }

    /// Walks an object. `top` marks the resource passed to [`validate`].
    fn object<'a>(&mut self, obj: &'a Map<String, Value>, ctx: Ctx<'a>, depth: usize, top: bool) {
        if depth > MAX_DEPTH {
            self.error("invalid", "nesting is too deep to validate");
            return;
        }
        if obj.is_empty() {
            self.error("structure", "empty objects are not allowed");
            return;
        }
        let mut ctx = Ctx { root: false, ..ctx };
        if top || obj.contains_key("resourceType") {
            let rt = self.resource(obj);
            ctx = Ctx { resource: rt, root: true, ..ctx };
            let bundle_type = obj.get("type").and_then(Value::as_str);
            if rt == "Bundle" && matches!(bundle_type, Some("transaction" | "batch")) {
                ctx.conditional = true;
            }
        }
        let coding_like = obj.contains_key("code") || matches!(ctx.parent_key, "coding" | "identifier");
        for (key, value) in obj {
            let mark = self.push_key(key);
            self.member(obj, key, value, ctx, coding_like, depth);
            self.path.truncate(mark);
        }
        if ctx.root && !ctx.resource.is_empty() {
            self.required(obj, ctx.resource);
        }
        self.period_order(obj, ctx);
    }

    /// Checks one `key: value` member of `obj`; the path already ends in `key`.
    fn member<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &'a str,
        value: &'a Value,
        ctx: Ctx<'a>,
        coding_like: bool,
        depth: usize,
    ) {
        if !is_element_name(key) {
            self.error("invalid", "not a FHIR element name");
        }
        if value.is_null() {
            self.error("structure", "null is only allowed inside arrays");
            return;
        }
        // Keys starting with '_' hold a primitive's id/extensions, not its value.
        // Name-typed elements (reference, dates, booleans...) are all 0..1, so an
        // array there is reported as the wrong JSON type.
        if !key.starts_with('_') {
            self.typed_member(key, value, ctx, coding_like);
        }
        match value {
            Value::Object(child) => {
                let ctx = Ctx { parent_key: key, ..ctx };
                self.object(child, ctx, depth + 1, false);
            }
            Value::Array(items) => self.array(obj, key, items, ctx, depth + 1),
            Value::String(s) => self.string(key, s),
            Value::Bool(_) | Value::Number(_) | Value::Null => {}
        }
    }

    fn array<'a>(&mut self, obj: &'a Map<String, Value>, key: &'a str, items: &'a [Value], ctx: Ctx<'a>, depth: usize) {
        if depth > MAX_DEPTH {
            self.error("invalid", "nesting is too deep to validate");
            return;
        }
        if items.is_empty() {
            self.error("structure", "empty arrays are not allowed");
            return;
        }
        let mut null_seen = false;
        for (i, item) in items.iter().enumerate() {
            let mark = self.push_index(i);
            match item {
                // Nulls keep primitive values aligned with their `_name` extension
                // array; checked once per array.
                Value::Null if !null_seen => {
                    null_seen = true;
                    let paired = key.starts_with('_')
                        || obj
                            .get(&format!("_{key}"))
                            .and_then(Value::as_array)
                            .is_some_and(|a| a.len() == items.len());
                    if !paired {
                        self.warning("structure", "null in an array without a matching extension array");
                    }
                }
                Value::Null => {}
                Value::Object(child) => {
                    let ctx = Ctx { parent_key: key, ..ctx };
                    self.object(child, ctx, depth + 1, false);
                }
                Value::Array(_) => self.error("structure", "arrays must not directly contain arrays"),
                Value::String(s) => self.string(key, s),
                Value::Bool(_) | Value::Number(_) => {}
            }
            self.path.truncate(mark);
        }
    }

    fn string(&mut self, key: &str, s: &str) {
        if s.is_empty() {
            self.error("structure", "empty strings are not allowed");
        } else if s.trim().is_empty() {
            self.error("structure", "strings must not be only whitespace");
        } else if key == "code" && s.trim().len() != s.len() {
            self.warning("value", "codes should not have leading or trailing whitespace");
        }
    }

    /// Checks that depend on the element's name (reference, system, dates, booleans, codes).
    fn typed_member(&mut self, key: &str, value: &Value, ctx: Ctx<'_>, coding_like: bool) {
        match key {
            "reference" => match value {
                Value::String(s) => {
                    if !is_reference(s, ctx.conditional) {
                        let why = if !ctx.conditional && is_conditional_reference(s) {
                            "conditional references are only allowed in transaction and batch Bundles"
                        } else {
                            "not a valid reference (Type/id, absolute URL, urn:uuid:, urn:oid: or #id)"
                        };
                        self.error("value", why);
                    }
                }
                // Consent.provision.actor.reference is itself a Reference, named `reference`.
                Value::Object(_) => {}
                _ => self.error("structure", "reference must be a JSON string"),
            },
            "system" if coding_like => match value {
                Value::String(s) if is_absolute_uri(s) => {}
                Value::String(_) => self.error("value", "system must be an absolute URI (scheme:...) without spaces"),
                _ => self.error("structure", "system must be a JSON string"),
            },
            "id" if ctx.root => match value {
                Value::String(s) if is_id(s) => {}
                _ => self.error("value", "resource id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'"),
            },
            "resourceType" if ctx.root => {}
            "status" if ctx.root && ctx.resource == "Appointment" => {
                self.code(value, APPOINTMENT_STATUS, "not a valid Appointment status")
            }
            "status" if ctx.root && ctx.resource == "Slot" => self.code(value, SLOT_STATUS, "not a valid Slot status"),
            "gender" if ctx.root && matches!(ctx.resource, "Patient" | "Practitioner" | "RelatedPerson" | "Person") => {
                self.code(value, GENDER, "not a valid administrative gender")
            }
            _ if is_boolean_element(key) => {
                if !value.is_boolean() {
                    self.error("structure", "must be a JSON boolean");
                }
            }
            _ => {
                if let Some(kind) = date_kind(ctx.resource, ctx.root, key) {
                    self.date(key, value, kind);
                }
            }
        }
    }

    fn code(&mut self, value: &Value, allowed: &[&str], what: &str) {
        match value.as_str() {
            Some(s) if allowed.contains(&s) => {}
            Some(_) => self.error("value", format!("{what} (expected one of {})", allowed.join("|"))),
            None => self.error("structure", "must be a JSON string"),
        }
    }

    fn date(&mut self, key: &str, value: &Value, kind: DateKind) {
        let Some(s) = value.as_str() else {
            // MolecularSequence has integer `start`/`end`; elsewhere dates are strings.
            if !(matches!(key, "start" | "end") && value.is_number()) {
                self.error("structure", "must be a JSON string");
            }
            return;
        };
        if let Err(e) = parse_kind(s, kind) {
            self.error("value", e.to_string());
        }
    }

    /// A Period (or Appointment/Slot) must not end before it starts (FHIR per-1).
    fn period_order(&mut self, obj: &Map<String, Value>, ctx: Ctx<'_>) {
        let (Some(start), Some(end)) =
            (obj.get("start").and_then(Value::as_str), obj.get("end").and_then(Value::as_str))
        else {
            return;
        };
        let kind = date_kind(ctx.resource, ctx.root, "start").unwrap_or(DateKind::DateTime);
        if let (Ok(s), Ok(e)) = (parse_kind(start, kind), parse_kind(end, kind))
            // Partial dates are intervals: only flag a start wholly after the end.
            && s.range().0 >= e.range().1
        {
            self.error("value", "start is after end");
        }
    }

    /// Resource-level checks; returns the resource type ("" if unusable).
    fn resource<'a>(&mut self, obj: &'a Map<String, Value>) -> &'a str {
        match obj.get("resourceType") {
            None => {
                self.record(Severity::Error, "required", ".resourceType", "resourceType is required");
                ""
            }
            Some(Value::String(t)) if is_r4_resource_type(t) => t,
            // Contained resources and Bundle entries too: an invented type
            // would be stored inside an accepted resource.
            Some(Value::String(t)) if is_resource_type(t) => {
                let msg = "resourceType is not a FHIR R4 resource type";
                self.record(Severity::Error, "not-supported", ".resourceType", msg);
                ""
            }
            Some(_) => {
                let msg = "resourceType must be a string of letters starting with an upper-case one";
                self.record(Severity::Error, "value", ".resourceType", msg);
                ""
            }
        }
    }

    fn required(&mut self, obj: &Map<String, Value>, resource: &str) {
        let Some((_, reqs)) = REQUIRED.iter().find(|(t, _)| *t == resource) else { return };
        for req in *reqs {
            let found = req.any_of.iter().filter_map(|k| obj.get(*k)).find(|v| !v.is_null());
            let (code, why) = match found {
                None => ("required", "is required"),
                // An empty array is already reported by the walk.
                Some(Value::Array(_)) => continue,
                Some(_) if req.array => ("structure", "must be a non-empty array"),
                Some(_) => continue,
            };
            let suffix = format!(".{}", req.name);
            self.record(Severity::Error, code, &suffix, format!("{resource}.{} {why}", req.name));
        }
    }
}

fn parse_kind(s: &str, kind: DateKind) -> Result<PartialDateTime, crate::datetime::DateError> {
    match kind {
        DateKind::Date => PartialDateTime::parse_date(s),
        DateKind::DateTime => PartialDateTime::parse_date_time(s),
        DateKind::Instant => PartialDateTime::parse_instant(s),
    }
}

/// A required element: one of `any_of` must be present (and a non-empty array if `array`).
struct Req {
    name: &'static str,
    any_of: &'static [&'static str],
    array: bool,
}

/// A required single element named like its key.
macro_rules! el {
    ($n:literal) => {
        Req { name: $n, any_of: &[$n], array: false }
    };
}

/// A required array (1..*) named like its key.
macro_rules! arr {
    ($n:literal) => {
        Req { name: $n, any_of: &[$n], array: true }
    };
}

/// Required elements of the resources Haven serves (FHIR R4 cardinalities).
const REQUIRED: &[(&str, &[Req])] = &[
    ("Observation", &[el!("status"), el!("code")]),
    ("Condition", &[el!("subject")]),
    ("Encounter", &[el!("status"), el!("class")]),
    ("Appointment", &[el!("status"), arr!("participant")]),
    ("Slot", &[el!("schedule"), el!("status"), el!("start"), el!("end")]),
    ("Schedule", &[arr!("actor")]),
    ("Consent", &[el!("status"), el!("scope"), arr!("category")]),
    (
        "MedicationRequest",
        &[
            el!("status"),
            el!("intent"),
            el!("subject"),
            Req { name: "medication[x]", any_of: &["medicationCodeableConcept", "medicationReference"], array: false },
        ],
    ),
    ("AllergyIntolerance", &[el!("patient")]),
    (
        "Immunization",
        &[
            el!("status"),
            el!("vaccineCode"),
            el!("patient"),
            Req { name: "occurrence[x]", any_of: &["occurrenceDateTime", "occurrenceString"], array: false },
        ],
    ),
    ("Procedure", &[el!("status"), el!("subject")]),
    ("DiagnosticReport", &[el!("status"), el!("code")]),
    ("DocumentReference", &[el!("status"), arr!("content")]),
    ("Bundle", &[el!("type")]),
];

const APPOINTMENT_STATUS: &[&str] = &[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
];
const SLOT_STATUS: &[&str] = &["busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"];
const GENDER: &[&str] = &["male", "female", "other", "unknown"];

/// Elements FHIR types as boolean; `*Boolean` choice elements are added by suffix.
fn is_boolean_element(key: &str) -> bool {
    matches!(key, "active" | "experimental") || (key.ends_with("Boolean") && key.len() > "Boolean".len())
}

/// The date-like type of an element, by name. Names ending in `Date` are read
/// as dateTime (a superset of date) because several R4 ones are dateTimes
/// (Device.manufactureDate, Condition.recordedDate); known pure dates are listed.
fn date_kind(resource: &str, root: bool, key: &str) -> Option<DateKind> {
    match key {
        "birthDate" | "valueDate" | "approvalDate" | "lastReviewDate" | "lockedDate" => Some(DateKind::Date),
        "start" | "end" if root && matches!(resource, "Appointment" | "Slot") => Some(DateKind::Instant),
        "start" | "end" => Some(DateKind::DateTime),
        "issued" if resource == "Contract" => Some(DateKind::DateTime),
        "issued" | "lastUpdated" | "recorded" | "lastModified" => Some(DateKind::Instant),
        "date" | "created" | "dateTime" | "authoredOn" | "timestamp" | "dateAsserted" => Some(DateKind::DateTime),
        _ if key.ends_with("DateTime") || key.ends_with("Date") => Some(DateKind::DateTime),
        _ if key.ends_with("Instant") => Some(DateKind::Instant),
        _ => None,
    }
}

/// `[A-Z][A-Za-z]{0,63}`
fn is_resource_type(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 64 && b[0].is_ascii_uppercase() && b.iter().all(u8::is_ascii_alphabetic)
}

/// `[A-Za-z0-9\-\.]{1,64}`
fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A JSON key that can be a FHIR element name: `_?[A-Za-z][A-Za-z0-9_]*`, bounded.
fn is_element_name(s: &str) -> bool {
    let name = s.strip_prefix('_').unwrap_or(s);
    name.len() <= MAX_NAME_LEN
        && name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// `[0-2](\.(0|[1-9][0-9]*))+`
fn is_oid(s: &str) -> bool {
    let mut arcs = s.split('.');
    let first_ok = arcs.next().is_some_and(|a| matches!(a, "0" | "1" | "2"));
    let mut rest = 0;
    let rest_ok = arcs.all(|a| {
        rest += 1;
        !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0'))
    });
    first_ok && rest_ok && rest > 0
}

/// `scheme:rest` with an RFC 3986 scheme and no whitespace or control characters.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_conditional_reference(s: &str) -> bool {
    s.split_once('?').is_some_and(|(t, q)| is_resource_type(t) && t.len() > 1 && !q.is_empty())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reference.reference syntax (see module docs for the accepted forms).
fn is_reference(s: &str, conditional: bool) -> bool {
    if let Some(local) = s.strip_prefix('#') {
        // A bare "#" points at the containing resource.
        return local.is_empty() || is_id(local);
    }
    if let Some(u) = s.strip_prefix("urn:uuid:") {
        return is_uuid(u);
    }
    if let Some(o) = s.strip_prefix("urn:oid:") {
        return is_oid(o);
    }
    if let Some(rest) = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://")) {
        return !rest.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    }
    if s.contains('?') {
        return conditional && is_conditional_reference(s);
    }
    let mut parts = s.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(t), Some(id), None, None, None) => is_reference_type(t) && is_id(id),
        (Some(t), Some(id), Some("_history"), Some(v), None) => is_reference_type(t) && is_id(id) && is_id(v),
        _ => false,
    }
}

/// `[A-Z][A-Za-z]+`
fn is_reference_type(t: &str) -> bool {
    t.len() > 1 && is_resource_type(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value) -> Vec<Issue> {
        run_with(v, false)
    }

    fn run_with(v: Value, conditional: bool) -> Vec<Issue> {
        let Value::Object(m) = v else { panic!("test input must be an object") };
        validate(&m, &Options { allow_conditional_references: conditional })
    }

    fn errors(issues: &[Issue]) -> Vec<(&'static str, &str)> {
        issues.iter().filter(|i| i.is_error()).map(|i| (i.code, i.expression.as_str())).collect()
    }

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p-1",
            "active": true,
            "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
            "gender": "male",
            "birthDate": "1974-12-25",
            "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
            "managingOrganization": {"reference": "Organization/1"}
        })
    }

    #[test]
    fn a_good_patient_has_no_issues() {
        assert_eq!(run(patient()), vec![]);
    }

    #[test]
    fn bad_date_fires() {
        let mut p = patient();
        p["birthDate"] = json!("1974-02-30");
        assert_eq!(errors(&run(p.clone())), vec![("value", "Patient.birthDate")]);
        p["birthDate"] = json!("1974-12-25T10:00:00Z");
        assert_eq!(errors(&run(p.clone())), vec![("value", "Patient.birthDate")]);
        p["birthDate"] = json!(1974);
        assert_eq!(errors(&run(p)), vec![("structure", "Patient.birthDate")]);
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "effectiveDateTime": "2020-01-01T10:00:00", "issued": "2020-01-01"});
        assert_eq!(
            errors(&run(obs)),
            vec![("value", "Observation.effectiveDateTime"), ("value", "Observation.issued")]
        );
    }

    #[test]
    fn appointment_and_slot_times_are_instants_periods_are_date_times() {
        let a = json!({"resourceType": "Appointment", "status": "booked", "start": "2020-01-01",
                       "end": "2020-01-01T10:00:00Z", "participant": [{"status": "accepted"}],
                       "requestedPeriod": [{"start": "2020-01-01", "end": "2020-02"}]});
        assert_eq!(errors(&run(a)), vec![("value", "Appointment.start")]);
    }

    #[test]
    fn period_end_before_start_fires() {
        let mut p = patient();
        p["name"][0]["period"] = json!({"start": "2020-02-01", "end": "2020-01-31"});
        assert_eq!(errors(&run(p.clone())), vec![("value", "Patient.name[0].period")]);
        // Overlapping partial dates are not flagged.
        p["name"][0]["period"] = json!({"start": "2020-01-15", "end": "2020-01"});
        assert_eq!(errors(&run(p)), vec![]);
    }

    #[test]
    fn bad_reference_fires() {
        for bad in
            ["patient/1", "Patient/", "Patient/1/2", "Patient 1", "urn:uuid:123", "urn:oid:3.1", "#a b", "http://"]
        {
            let mut p = patient();
            p["managingOrganization"]["reference"] = json!(bad);
            assert_eq!(errors(&run(p)), vec![("value", "Patient.managingOrganization.reference")], "{bad}");
        }
        for good in [
            "Organization/1",
            "Organization/1/_history/2",
            "http://example.org/fhir/Organization/1",
            "urn:uuid:9d0e0f2c-7a3b-4c1d-8e2f-1a2b3c4d5e6f",
            "urn:oid:2.16.840.1.113883.19.5",
            "#org1",
            "#",
        ] {
            let mut p = patient();
            p["managingOrganization"]["reference"] = json!(good);
            assert_eq!(errors(&run(p)), vec![], "{good}");
        }
        let mut p = patient();
        p["managingOrganization"]["reference"] = json!(42);
        assert_eq!(errors(&run(p)), vec![("structure", "Patient.managingOrganization.reference")]);
    }

    #[test]
    fn conditional_references_only_when_allowed() {
        let mut p = patient();
        p["managingOrganization"]["reference"] = json!("Organization?identifier=http://x.org/ids|1");
        assert_eq!(errors(&run(p.clone())).len(), 1);
        assert_eq!(errors(&run_with(p.clone(), true)), vec![]);
        // Inside a transaction Bundle they are legal without the option.
        let tx = json!({"resourceType": "Bundle", "type": "transaction",
                        "entry": [{"resource": p.clone(), "request": {"method": "POST", "url": "Patient"}}]});
        assert_eq!(errors(&run(tx)), vec![]);
        let coll = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": p}]});
        assert_eq!(errors(&run(coll)), vec![("value", "Bundle.entry[0].resource.managingOrganization.reference")]);
    }

    #[test]
    fn missing_required_element_fires() {
        let obs = json!({"resourceType": "Observation", "code": {"text": "x"}});
        let issues = run(obs);
        assert_eq!(errors(&issues), vec![("required", "Observation.status")]);
        let mr = json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                        "subject": {"reference": "Patient/1"}});
        assert_eq!(errors(&run(mr)), vec![("required", "MedicationRequest.medication[x]")]);
        let ap = json!({"resourceType": "Appointment", "status": "booked", "participant": {"status": "accepted"}});
        assert_eq!(errors(&run(ap)), vec![("structure", "Appointment.participant")]);
        let doc = json!({"resourceType": "DocumentReference", "status": "current", "content": []});
        assert_eq!(errors(&run(doc)), vec![("structure", "DocumentReference.content")]);
        assert_eq!(errors(&run(json!({"id": "x"}))), vec![("required", "Resource.resourceType")]);
        // Contained resources are resources too.
        let mut p = patient();
        p["contained"] = json!([{"resourceType": "Observation", "id": "o1", "code": {"text": "x"}}]);
        assert_eq!(errors(&run(p)), vec![("required", "Patient.contained[0].status")]);
    }

    #[test]
    fn relative_system_fires() {
        let obs = json!({"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": "loinc", "code": "1234-5"}]}});
        assert_eq!(errors(&run(obs)), vec![("value", "Observation.code.coding[0].system")]);
        let mut p = patient();
        p["identifier"][0]["system"] = json!("http://example.org/a b");
        assert_eq!(errors(&run(p)), vec![("value", "Patient.identifier[0].system")]);
        // ContactPoint.system is a code, not a URI.
        let mut p = patient();
        p["telecom"] = json!([{"system": "phone", "value": "555-0100"}]);
        assert_eq!(errors(&run(p)), vec![]);
    }

    #[test]
    fn null_and_empty_fire() {
        let mut p = patient();
        p["birthDate"] = Value::Null;
        assert_eq!(errors(&run(p)), vec![("structure", "Patient.birthDate")]);
        for (empty, at) in [
            (json!(""), "Patient.name[0].family"),
            (json!("  \t"), "Patient.name[0].family"),
            (json!({}), "Patient.name[0].family"),
            (json!([]), "Patient.name[0].family"),
        ] {
            let mut p = patient();
            p["name"][0]["family"] = empty;
            assert_eq!(errors(&run(p)), vec![("structure", at)]);
        }
        // Nulls inside arrays are legal; without a `_given` array they get a warning.
        let mut p = patient();
        p["name"][0]["given"] = json!(["Peter", null]);
        let issues = run(p.clone());
        assert_eq!(errors(&issues), vec![]);
        assert_eq!(issues.len(), 1);
        p["name"][0]["_given"] = json!([null, {"extension": [{"url": "http://x.org/e", "valueString": "y"}]}]);
        assert_eq!(run(p), vec![]);
    }

    #[test]
    fn wrong_boolean_type_fires() {
        let mut p = patient();
        p["active"] = json!("true");
        assert_eq!(errors(&run(p.clone())), vec![("structure", "Patient.active")]);
        p["active"] = json!(true);
        p["deceasedBoolean"] = json!(0);
        assert_eq!(errors(&run(p)), vec![("structure", "Patient.deceasedBoolean")]);
    }

    #[test]
    fn bad_codes_fire() {
        let a = json!({"resourceType": "Appointment", "status": "done", "participant": [{"status": "accepted"}]});
        assert_eq!(errors(&run(a)), vec![("value", "Appointment.status")]);
        let s = json!({"resourceType": "Slot", "schedule": {"reference": "Schedule/1"}, "status": "open",
                       "start": "2020-01-01T10:00:00Z", "end": "2020-01-01T10:15:00Z"});
        assert_eq!(errors(&run(s)), vec![("value", "Slot.status")]);
        let mut p = patient();
        p["gender"] = json!("M");
        assert_eq!(errors(&run(p)), vec![("value", "Patient.gender")]);
    }

    #[test]
    fn bad_resource_type_and_id_fire() {
        let mut p = patient();
        p["id"] = json!("has space");
        assert_eq!(errors(&run(p.clone())), vec![("value", "Patient.id")]);
        p["id"] = json!("a".repeat(65));
        assert_eq!(errors(&run(p.clone())), vec![("value", "Patient.id")]);
        p["id"] = json!("p-1");
        p["resourceType"] = json!("patient");
        assert_eq!(errors(&run(p)), vec![("value", "Resource.resourceType")]);
        // Well-formed but not FHIR R4, at the top or contained; the name is not echoed.
        let foo = json!({"resourceType": "Foo", "id": "f1"});
        assert_eq!(errors(&run(foo)), vec![("not-supported", "Resource.resourceType")]);
        let mut p = patient();
        p["contained"] = json!([{"resourceType": "Secretname", "id": "c1"}]);
        let issues = run(p);
        assert_eq!(errors(&issues), vec![("not-supported", "Patient.contained[0].resourceType")]);
        assert!(!format!("{issues:?}").contains("Secretname"));
        // Element ids (not resource ids) are plain strings.
        let mut p = patient();
        p["name"][0]["id"] = json!("Annotation.author[x]");
        assert_eq!(errors(&run(p)), vec![]);
    }

    #[test]
    fn odd_structure_fires() {
        let mut p = patient();
        p["name"][0]["given"] = json!([["Peter"]]);
        assert_eq!(errors(&run(p)), vec![("structure", "Patient.name[0].given[0]")]);
        let mut p = patient();
        p["Not a name!"] = json!("x");
        assert_eq!(errors(&run(p)), vec![("invalid", "Patient.[invalid name]")]);
    }

    #[test]
    fn diagnostics_never_contain_the_bad_value() {
        let secrets = [
            "1961-13-45",
            "Smith John",
            "urn:uuid:not-a-uuid-555",
            "relative/system/LOINC",
            "maybe-yes",
            "555 0100 9999",
            "Consent?patient=Jones",
        ];
        let doc = json!({
            "resourceType": "Appointment",
            "id": secrets[5],
            "status": secrets[4],
            "start": secrets[0],
            "participant": [{"actor": {"reference": secrets[2]}, "status": "accepted",
                              "type": [{"coding": [{"system": secrets[3], "code": "x"}]}]}],
            "comment": {"reference": secrets[6]},
            "extension": [{"url": "http://x.org/e", "valueBoolean": secrets[4], "valueDateTime": secrets[0]}],
            "patientInstruction": [null],
            "description": {"reference": 7},
            "Smith John": true,
        });
        let issues = run(doc);
        assert!(issues.iter().filter(|i| i.is_error()).count() >= 9, "{issues:#?}");
        for i in &issues {
            let rendered = format!("{i:?} {} {}", i.expression, i.diagnostics);
            for s in secrets {
                assert!(!rendered.contains(s), "{s} leaked in {rendered}");
            }
            assert!(!rendered.contains("1961") && !rendered.contains("Smith") && !rendered.contains("Jones"));
        }
    }

    #[test]
    fn issue_list_is_bounded_and_keeps_errors_visible() {
        let many: Vec<Value> = (0..500).map(|_| json!("")).collect();
        let mut p = patient();
        p["name"][0]["given"] = Value::Array(many);
        let issues = run(p);
        assert_eq!(issues.len(), MAX_ISSUES + 1);
        let last = issues.last().unwrap();
        assert_eq!((last.severity, last.code), (Severity::Error, "too-costly"));
    }

    #[test]
    fn deep_nesting_stops() {
        let mut v = json!({"url": "http://x.org/e", "valueString": "x"});
        for _ in 0..200 {
            v = json!({"url": "http://x.org/e", "extension": [v]});
        }
        let mut p = patient();
        p["extension"] = json!([v]);
        let issues = run(p);
        assert_eq!(errors(&issues).len(), 1);
        assert_eq!(issues[0].code, "invalid");
    }

    #[test]
    fn syntax_helpers() {
        assert!(
            is_oid("2.16.840.1.113883.6.1") && !is_oid("2") && !is_oid("2.01") && !is_oid("3.1") && !is_oid("2..1")
        );
        assert!(is_absolute_uri("urn:ietf:bcp:47") && is_absolute_uri("http://loinc.org"));
        assert!(!is_absolute_uri("loinc.org") && !is_absolute_uri("1http://x") && !is_absolute_uri("http:"));
        assert!(is_uuid("9d0e0f2c-7a3b-4c1d-8e2f-1a2b3c4d5e6f") && !is_uuid("9d0e0f2c7a3b4c1d8e2f1a2b3c4d5e6f1234"));
    }

    use proptest::prelude::*;

    /// Random JSON trees whose keys are FHIR element names the validator reacts to.
    fn fhir_tree() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "resourceType",
            "id",
            "type",
            "reference",
            "system",
            "code",
            "coding",
            "identifier",
            "birthDate",
            "start",
            "end",
            "issued",
            "status",
            "gender",
            "active",
            "valueBoolean",
            "participant",
            "content",
            "entry",
            "resource",
            "contained",
            "given",
            "_given",
            "x y",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop::sample::select(vec![
                "",
                " ",
                "Patient",
                "Appointment",
                "Slot",
                "Bundle",
                "transaction",
                "booked",
                "Patient/1",
                "Patient?x=1",
                "urn:uuid:",
                "#",
                "2024",
                "2024-02-30",
                "2024-01-01T10:00:00Z",
                "http://x.org",
            ])
            .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 96, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics(tree in fhir_tree(), conditional in any::<bool>()) {
            if let Value::Object(m) = tree {
                let issues = validate(&m, &Options { allow_conditional_references: conditional });
                prop_assert!(issues.len() <= MAX_ISSUES + 1);
            }
        }

        #[test]
        fn never_panics_on_fhir_shaped_values(
            key in prop::sample::select(vec!["reference", "system", "birthDate", "start", "end", "issued", "id",
                                              "status", "gender", "active", "valueBoolean", "code", "resourceType"]),
            val in prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool),
                               "\\PC{0,30}".prop_map(Value::String), any::<i64>().prop_map(Value::from)],
            rt in prop::sample::select(vec!["Patient", "Appointment", "Slot", "Consent", "Bundle", "Observation"]),
        ) {
            let mut m = Map::new();
            m.insert("resourceType".into(), json!(rt));
            m.insert(key.into(), val.clone());
            m.insert("coding".into(), json!([{ key: val.clone() }]));
            m.insert("contained".into(), json!([{ "resourceType": rt, key: val }]));
            let _ = validate(&m, &Options::default());
        }
    }
}
