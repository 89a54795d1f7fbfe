//! Search parameters: which exist, what index terms a resource yields for
//! them, and how a query string becomes a typed [`SearchQuery`].
//!
//! Every searchable value is stored as a blind index term (a keyed HMAC of
//! a tagged, normalised value); the plaintext never reaches the database.
//! Equality-style searches (tokens, references, string prefixes) are exact
//! on the index. Dates are indexed as coarse year/month buckets, so a date
//! search finds candidates on the index and the store filters them exactly
//! after decryption.

use serde_json::{Map, Value};

use crate::compartment::{self, COMPARTMENT_INDEX};
use crate::datetime::{DateError, PartialDateTime};

/// The kind of a search parameter (FHIR search parameter types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Codes, codings, identifiers, contact points, booleans.
    Token,
    /// Text, matched case-insensitively from the start (`:exact` for exact).
    String,
    /// date, dateTime, instant, Period.
    Date,
    /// References to other resources.
    Reference,
}

impl ParamKind {
    /// The FHIR name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Token => "token",
            ParamKind::String => "string",
            ParamKind::Date => "date",
            ParamKind::Reference => "reference",
        }
    }
}

/// How a token's value is normalised before it is indexed and searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// As given (codes and identifiers are case-sensitive).
    None,
    /// Digits only (phone numbers: `(555) 010-1234` = `5550101234`).
    Digits,
    /// Lower case (e-mail addresses).
    Lower,
}

/// One supported search parameter.
#[derive(Debug)]
pub struct ParamDef {
    /// The name in the query string, e.g. `birthdate`.
    pub name: &'static str,
    /// Its kind.
    pub kind: ParamKind,
    /// Element paths it covers: dot-separated names, arrays are walked,
    /// `name[field=value]` keeps only elements whose `field` is `value`.
    pub paths: &'static [&'static str],
    /// For references: the only target type (e.g. `patient` → `Patient`).
    pub target: Option<&'static str>,
    /// Normalisation of token values.
    pub norm: Norm,
    /// One line for the CapabilityStatement.
    pub doc: &'static str,
}

const fn p(name: &'static str, kind: ParamKind, paths: &'static [&'static str], doc: &'static str) -> ParamDef {
    ParamDef { name, kind, paths, target: None, norm: Norm::None, doc }
}

const fn r(
    name: &'static str,
    paths: &'static [&'static str],
    target: Option<&'static str>,
    doc: &'static str,
) -> ParamDef {
    ParamDef { name, kind: ParamKind::Reference, paths, target, norm: Norm::None, doc }
}

const fn tn(name: &'static str, paths: &'static [&'static str], norm: Norm, doc: &'static str) -> ParamDef {
    ParamDef { name, kind: ParamKind::Token, paths, target: None, norm, doc }
}

use ParamKind::{Date, String as Str, Token};

/// The resource types Haven knows in depth (typed search parameters);
/// every other type is stored and read generically.
pub const RESOURCE_TYPES: [&str; 19] = [
    "AllergyIntolerance",
    "Appointment",
    "CareTeam",
    "Condition",
    "Consent",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Immunization",
    "Location",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Schedule",
    "Slot",
];

const SUBJECT: &[&str] = &["subject"];
const PATIENT_DOC: &str = "The patient the resource is about";
const SUBJECT_DOC: &str = "Who or what the resource is about";
const ENCOUNTER_DOC: &str = "The encounter the resource belongs to";

static PATIENT: [ParamDef; 11] = [
    p("identifier", Token, &["identifier"], "A patient identifier (system|value)"),
    p(
        "name",
        Str,
        &["name.family", "name.given", "name.text", "name.prefix", "name.suffix"],
        "Any part of a name, from its start",
    ),
    p("family", Str, &["name.family"], "Family name, from its start"),
    p("given", Str, &["name.given"], "Given name, from its start"),
    p("birthdate", Date, &["birthDate"], "Date of birth"),
    p("gender", Token, &["gender"], "Administrative gender"),
    tn("phone", &["telecom[system=phone].value"], Norm::Digits, "A phone number (digits compared)"),
    tn("email", &["telecom[system=email].value"], Norm::Lower, "An e-mail address"),
    r("general-practitioner", &["generalPractitioner"], None, "The patient's nominated care provider"),
    r("organization", &["managingOrganization"], Some("Organization"), "Managing organization"),
    p("active", Token, &["active"], "Whether the record is active"),
];

static PRACTITIONER: [ParamDef; 5] = [
    p("identifier", Token, &["identifier"], "A practitioner identifier (system|value)"),
    p("name", Str, &["name.family", "name.given", "name.text"], "Any part of a name, from its start"),
    p("family", Str, &["name.family"], "Family name, from its start"),
    p("given", Str, &["name.given"], "Given name, from its start"),
    p("active", Token, &["active"], "Whether the record is active"),
];

static PRACTITIONER_ROLE: [ParamDef; 6] = [
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
    r("practitioner", &["practitioner"], Some("Practitioner"), "The practitioner"),
    r("organization", &["organization"], Some("Organization"), "The organization"),
    r("location", &["location"], Some("Location"), "Where the role is performed"),
    p("role", Token, &["code"], "The role code"),
    p("specialty", Token, &["specialty"], "The specialty"),
];

static ORGANIZATION: [ParamDef; 4] = [
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
    p("name", Str, &["name", "alias"], "Name or alias, from its start"),
    p("type", Token, &["type"], "Kind of organization"),
    r("partof", &["partOf"], Some("Organization"), "The parent organization"),
];

static LOCATION: [ParamDef; 4] = [
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
    p("name", Str, &["name", "alias"], "Name or alias, from its start"),
    r("organization", &["managingOrganization"], Some("Organization"), "The managing organization"),
    p("status", Token, &["status"], "active | suspended | inactive"),
];

static ENCOUNTER: [ParamDef; 10] = [
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("date", Date, &["period"], "When the encounter took place"),
    p("status", Token, &["status"], "Encounter status"),
    p("class", Token, &["class"], "Encounter class"),
    p("type", Token, &["type"], "Encounter type"),
    r("participant", &["participant.individual"], None, "A participant"),
    r("practitioner", &["participant.individual"], Some("Practitioner"), "A practitioner participant"),
    r("service-provider", &["serviceProvider"], Some("Organization"), "The organization responsible"),
];

static CONDITION: [ParamDef; 9] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("code", Token, &["code"], "The condition's code"),
    p("clinical-status", Token, &["clinicalStatus"], "active | recurrence | relapse | inactive | remission | resolved"),
    p("category", Token, &["category"], "Problem list item, encounter diagnosis..."),
    p("onset-date", Date, &["onsetDateTime", "onsetPeriod"], "When the condition started"),
    p("recorded-date", Date, &["recordedDate"], "When it was recorded"),
    r("encounter", &["encounter"], Some("Encounter"), ENCOUNTER_DOC),
    p("date", Date, &["onsetDateTime", "onsetPeriod"], "Alias of onset-date"),
];

static OBSERVATION: [ParamDef; 9] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("code", Token, &["code"], "The observation's code (e.g. LOINC)"),
    p("date", Date, &["effectiveDateTime", "effectivePeriod", "effectiveInstant"], "When it was observed"),
    p("status", Token, &["status"], "registered | preliminary | final | amended..."),
    p("category", Token, &["category"], "vital-signs, laboratory..."),
    r("encounter", &["encounter"], Some("Encounter"), ENCOUNTER_DOC),
    r("performer", &["performer"], None, "Who performed the observation"),
    r("derived-from", &["derivedFrom"], None, "Observations it was derived from"),
];

static MEDICATION_REQUEST: [ParamDef; 9] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("code", Token, &["medicationCodeableConcept"], "The medication's code (e.g. RxNorm)"),
    p("status", Token, &["status"], "active | on-hold | cancelled | completed..."),
    p("intent", Token, &["intent"], "proposal | plan | order..."),
    p("category", Token, &["category"], "Type of request"),
    p("authoredon", Date, &["authoredOn"], "When the request was written"),
    r("encounter", &["encounter"], Some("Encounter"), ENCOUNTER_DOC),
    r("requester", &["requester"], None, "Who asked for it"),
];

static ALLERGY_INTOLERANCE: [ParamDef; 6] = [
    r("patient", &["patient"], Some("Patient"), PATIENT_DOC),
    p("code", Token, &["code", "reaction.substance"], "The substance"),
    p("clinical-status", Token, &["clinicalStatus"], "active | inactive | resolved"),
    p("category", Token, &["category"], "food | medication | environment | biologic"),
    p("criticality", Token, &["criticality"], "low | high | unable-to-assess"),
    p("date", Date, &["recordedDate"], "When it was recorded"),
];

static IMMUNIZATION: [ParamDef; 5] = [
    r("patient", &["patient"], Some("Patient"), PATIENT_DOC),
    p("vaccine-code", Token, &["vaccineCode"], "The vaccine (e.g. CVX)"),
    p("date", Date, &["occurrenceDateTime"], "When it was given"),
    p("status", Token, &["status"], "completed | entered-in-error | not-done"),
    r("performer", &["performer.actor"], None, "Who gave it"),
];

static PROCEDURE: [ParamDef; 8] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("code", Token, &["code"], "The procedure's code"),
    p("date", Date, &["performedDateTime", "performedPeriod"], "When it was performed"),
    p("status", Token, &["status"], "preparation | in-progress | completed..."),
    p("category", Token, &["category"], "Classification of the procedure"),
    r("encounter", &["encounter"], Some("Encounter"), ENCOUNTER_DOC),
    r("performer", &["performer.actor"], None, "Who performed it"),
];

static DIAGNOSTIC_REPORT: [ParamDef; 8] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("code", Token, &["code"], "The report's code"),
    p("date", Date, &["effectiveDateTime", "effectivePeriod"], "The clinically relevant time"),
    p("status", Token, &["status"], "registered | partial | final..."),
    p("category", Token, &["category"], "Service category"),
    r("encounter", &["encounter"], Some("Encounter"), ENCOUNTER_DOC),
    r("result", &["result"], Some("Observation"), "An observation in the report"),
];

static DOCUMENT_REFERENCE: [ParamDef; 9] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("type", Token, &["type"], "Kind of document"),
    p("category", Token, &["category"], "Categorization of the document"),
    p("date", Date, &["date"], "When the reference was created"),
    p("status", Token, &["status"], "current | superseded | entered-in-error"),
    r("encounter", &["context.encounter"], Some("Encounter"), ENCOUNTER_DOC),
    r("author", &["author"], None, "Who wrote the document"),
    p("identifier", Token, &["identifier", "masterIdentifier"], "An identifier (system|value)"),
];

static CARE_TEAM: [ParamDef; 6] = [
    r("patient", SUBJECT, Some("Patient"), PATIENT_DOC),
    r("subject", SUBJECT, None, SUBJECT_DOC),
    p("status", Token, &["status"], "proposed | active | suspended | inactive"),
    p("category", Token, &["category"], "Type of team"),
    r("participant", &["participant.member"], None, "A member of the team"),
    p("date", Date, &["period"], "When the team is active"),
];

static CONSENT: [ParamDef; 7] = [
    r("patient", &["patient"], Some("Patient"), PATIENT_DOC),
    p("status", Token, &["status"], "draft | proposed | active | rejected | inactive"),
    p("category", Token, &["category"], "Classification of the consent"),
    p("scope", Token, &["scope"], "Which of the four areas it covers"),
    p("date", Date, &["dateTime"], "When it was agreed"),
    r("actor", &["provision.actor.reference"], None, "Who the provision applies to"),
    p("action", Token, &["provision.action"], "Actions controlled"),
];

static SCHEDULE: [ParamDef; 5] = [
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
    r("actor", &["actor"], None, "The practitioner, location... the schedule is for"),
    p("active", Token, &["active"], "Whether the schedule is in use"),
    p("date", Date, &["planningHorizon"], "The period the schedule covers"),
    p("service-type", Token, &["serviceType"], "The kind of service"),
];

static SLOT: [ParamDef; 6] = [
    r("schedule", &["schedule"], Some("Schedule"), "The schedule the slot belongs to"),
    p("status", Token, &["status"], "busy | free | busy-unavailable | busy-tentative"),
    p("start", Date, &["start"], "When the slot starts"),
    p("date", Date, &["start"], "Alias of start"),
    p("service-type", Token, &["serviceType"], "The kind of service"),
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
];

static APPOINTMENT: [ParamDef; 10] = [
    p("identifier", Token, &["identifier"], "An identifier (system|value)"),
    p("date", Date, &["start"], "When the appointment starts"),
    p("status", Token, &["status"], "proposed | pending | booked | arrived | fulfilled | cancelled..."),
    r("actor", &["participant.actor"], None, "Any participant"),
    r("patient", &["participant.actor"], Some("Patient"), "A patient participant"),
    r("practitioner", &["participant.actor"], Some("Practitioner"), "A practitioner participant"),
    r("location", &["participant.actor"], Some("Location"), "A location participant"),
    r("slot", &["slot"], Some("Slot"), "The slot it was booked in"),
    p("service-type", Token, &["serviceType"], "The kind of service"),
    p("appointment-type", Token, &["appointmentType"], "The kind of appointment"),
];

/// The type-specific search parameters of a resource type (empty for
/// generically stored types).
pub fn params_for(rtype: &str) -> &'static [ParamDef] {
    match rtype {
        "Patient" => &PATIENT,
        "Practitioner" => &PRACTITIONER,
        "PractitionerRole" => &PRACTITIONER_ROLE,
        "Organization" => &ORGANIZATION,
        "Location" => &LOCATION,
        "Encounter" => &ENCOUNTER,
        "Condition" => &CONDITION,
        "Observation" => &OBSERVATION,
        "MedicationRequest" => &MEDICATION_REQUEST,
        "AllergyIntolerance" => &ALLERGY_INTOLERANCE,
        "Immunization" => &IMMUNIZATION,
        "Procedure" => &PROCEDURE,
        "DiagnosticReport" => &DIAGNOSTIC_REPORT,
        "DocumentReference" => &DOCUMENT_REFERENCE,
        "CareTeam" => &CARE_TEAM,
        "Consent" => &CONSENT,
        "Schedule" => &SCHEDULE,
        "Slot" => &SLOT,
        "Appointment" => &APPOINTMENT,
        _ => &[],
    }
}

/// Looks up a type-specific parameter.
pub fn param(rtype: &str, name: &str) -> Option<&'static ParamDef> {
    params_for(rtype).iter().find(|d| d.name == name)
}

/// Parameters every type supports: `_id` and `_lastUpdated`.
pub const COMMON_PARAMS: [(&str, ParamKind, &str); 2] =
    [("_id", ParamKind::Token, "The logical id"), ("_lastUpdated", ParamKind::Date, "When the resource last changed")];

// ---------------------------------------------------------------------------
// Walking element paths

/// The values at `path` in `obj` (arrays flattened).
pub(crate) fn values_at<'a>(obj: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut current: Vec<&Value> = Vec::new();
    let mut first = true;
    for seg in path.split('.') {
        let (name, filter) = match seg.split_once('[') {
            Some((n, f)) => (n, f.strip_suffix(']').and_then(|f| f.split_once('='))),
            None => (seg, None),
        };
        let mut next = Vec::new();
        let mut push = |v: &'a Value| match v {
            Value::Array(items) => next.extend(items.iter()),
            other => next.push(other),
        };
        if first {
            if let Some(v) = obj.get(name) {
                push(v);
            }
            first = false;
        } else {
            for c in &current {
                if let Some(v) = c.as_object().and_then(|o| o.get(name)) {
                    push(v);
                }
            }
        }
        if let Some((field, want)) = filter {
            next.retain(|v| v.get(field).and_then(Value::as_str) == Some(want));
        }
        current = next;
    }
    current
}

// ---------------------------------------------------------------------------
// Index terms

/// Years outside this window share one bucket (`ext`), so open-ended date
/// searches stay a bounded list of buckets.
const MIN_YEAR: i64 = 1850;
const MAX_YEAR: i64 = 2150;
/// Values spanning at most this many months are indexed by month too.
const MONTH_INDEX_SPAN: i64 = 36;
/// Searches spanning at most this many months look up month buckets.
const MONTH_QUERY_SPAN: i64 = 24;

/// (year, month 1-12) of a Unix time in seconds.
fn year_month(secs: i64) -> (i64, i64) {
    let days = secs.div_euclid(86_400);
    // Inverse of days_from_civil (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Bucket terms for an interval `[start, end)`; `None` bounds are open.
fn date_buckets(start: Option<i64>, end: Option<i64>, month_span: i64, out: &mut Vec<String>) {
    let (Some(start), Some(end)) = (start, end) else {
        out.push("d:open".into());
        return;
    };
    let (sy, sm) = year_month(start);
    let (ey, em) = year_month((end - 1).max(start));
    if sy < MIN_YEAR || ey > MAX_YEAR {
        out.push("d:ext".into());
    }
    let months = (ey - sy) * 12 + (em - sm) + 1;
    if months <= month_span {
        let (mut y, mut m) = (sy, sm);
        for _ in 0..months {
            if (MIN_YEAR..=MAX_YEAR).contains(&y) {
                out.push(format!("m:{y:04}-{m:02}"));
            }
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
    } else {
        out.push("d:wide".into());
    }
    for y in sy.max(MIN_YEAR)..=ey.min(MAX_YEAR) {
        out.push(format!("y:{y:04}"));
    }
}

/// The intervals of a date-like element: a date/dateTime/instant string or
/// a Period. Open ends are `None`.
fn date_ranges(v: &Value) -> Vec<(Option<i64>, Option<i64>)> {
    match v {
        Value::String(s) => PartialDateTime::parse_date_time(s)
            .or_else(|_| PartialDateTime::parse_instant(s))
            .map(|d| vec![(Some(d.range().0), Some(d.range().1))])
            .unwrap_or_default(),
        Value::Object(o) => {
            let bound = |k: &str, end: bool| {
                o.get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| PartialDateTime::parse_date_time(s).ok())
                    .map(|d| if end { d.range().1 } else { d.range().0 })
            };
            if o.contains_key("start") || o.contains_key("end") {
                vec![(bound("start", false), bound("end", true))]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

fn normalise(s: &str, norm: Norm) -> String {
    match norm {
        Norm::None => s.to_owned(),
        Norm::Digits => s.chars().filter(char::is_ascii_digit).collect(),
        Norm::Lower => s.trim().to_lowercase(),
    }
}

/// Case-folded form used by string search.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// At most this many leading characters of a string are indexed as prefixes.
const MAX_PREFIX: usize = 32;

fn token_terms(def: &ParamDef, v: &Value, out: &mut Vec<String>) {
    let mut code = |system: Option<&str>, code: &str| {
        let code = normalise(code, def.norm);
        if code.is_empty() {
            return;
        }
        match system {
            Some(s) => {
                out.push(format!("sc:{s}|{code}"));
                out.push(format!("s:{s}"));
            }
            None => out.push(format!("ns:{code}")),
        }
        out.push(format!("c:{code}"));
    };
    match v {
        Value::String(s) => code(None, s),
        Value::Bool(b) => code(None, if *b { "true" } else { "false" }),
        Value::Object(o) => {
            let system = o.get("system").and_then(Value::as_str);
            if let Some(c) = o.get("code").and_then(Value::as_str) {
                code(system, c); // Coding
            } else if let Some(val) = o.get("value").and_then(Value::as_str) {
                code(system, val); // Identifier, ContactPoint
            }
            if let Some(Value::Array(codings)) = o.get("coding") {
                for c in codings {
                    if let Some(cd) = c.get("code").and_then(Value::as_str) {
                        code(c.get("system").and_then(Value::as_str), cd);
                    }
                }
            }
        }
        _ => {}
    }
}

fn string_terms(v: &Value, out: &mut Vec<String>) {
    let mut one = |s: &str| {
        let folded = fold(s);
        if folded.is_empty() {
            return;
        }
        out.push(format!("x:{}", s.trim()));
        let mut end = 0;
        for (n, (i, c)) in folded.char_indices().enumerate() {
            if n >= MAX_PREFIX {
                break;
            }
            end = i + c.len_utf8();
            out.push(format!("p:{}", &folded[..end]));
        }
        let _ = end;
    };
    match v {
        Value::String(s) => one(s),
        Value::Object(o) => {
            for x in o.values() {
                match x {
                    Value::String(s) => one(s),
                    Value::Array(a) => a.iter().filter_map(Value::as_str).for_each(&mut one),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// `Type/id` of a reference, without base URL or version; `None` for
/// contained, `urn:` and conditional references.
pub fn normalise_reference(reference: &str) -> Option<(&str, &str)> {
    if reference.starts_with('#') || reference.starts_with("urn:") || reference.contains('?') {
        return None;
    }
    let r = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = r.rsplitn(3, '/');
    let id = parts.next()?;
    let rtype = parts.next()?;
    let type_ok =
        rtype.as_bytes().first().is_some_and(u8::is_ascii_uppercase) && rtype.bytes().all(|b| b.is_ascii_alphabetic());
    let id_ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    (type_ok && id_ok).then_some((rtype, id))
}

fn reference_terms(def: &ParamDef, v: &Value, out: &mut Vec<String>) {
    let Some(reference) = v.get("reference").and_then(Value::as_str) else { return };
    let Some((rtype, id)) = normalise_reference(reference) else { return };
    if def.target.is_some_and(|t| t != rtype) {
        return;
    }
    out.push(format!("r:{rtype}/{id}"));
    out.push(format!("i:{id}"));
}

/// The references a parameter finds in a resource, as `(type, id)`.
pub fn references<'a>(def: &ParamDef, obj: &'a Map<String, Value>) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for path in def.paths {
        for v in values_at(obj, path) {
            if let Some((t, id)) = v.get("reference").and_then(Value::as_str).and_then(normalise_reference)
                && def.target.is_none_or(|want| want == t)
            {
                out.push((t, id));
            }
        }
    }
    out
}

/// The index terms of a resource: `(parameter name, tagged normalised
/// value)` pairs, plus one [`COMPARTMENT_INDEX`] term (`Patient/{id}`) per
/// patient whose compartment the resource is in, for every type, typed or
/// generic. PHI: the caller turns them into keyed HMACs at once.
pub fn index_terms(rtype: &str, obj: &Map<String, Value>) -> Vec<(&'static str, String)> {
    let mut terms = Vec::new();
    for def in params_for(rtype) {
        let mut values = index_terms_for(def, obj);
        values.sort();
        values.dedup();
        terms.extend(values.into_iter().map(|v| (def.name, v)));
    }
    terms.extend(
        compartment::patient_ids_of(rtype, obj).into_iter().map(|id| (COMPARTMENT_INDEX, format!("Patient/{id}"))),
    );
    terms
}

/// The index terms one parameter yields for a resource (unsorted).
fn index_terms_for(def: &ParamDef, obj: &Map<String, Value>) -> Vec<String> {
    let mut values = Vec::new();
    for path in def.paths {
        for v in values_at(obj, path) {
            match def.kind {
                ParamKind::Token => token_terms(def, v, &mut values),
                ParamKind::String => string_terms(v, &mut values),
                ParamKind::Reference => reference_terms(def, v, &mut values),
                ParamKind::Date => {
                    for (s, e) in date_ranges(v) {
                        date_buckets(s, e, MONTH_INDEX_SPAN, &mut values);
                    }
                }
            }
        }
    }
    values
}

// ---------------------------------------------------------------------------
// Queries

/// Why a search query is refused. Never carries a searched value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// Unknown parameter for this type (strict handling).
    #[error("unknown search parameter {name:?} for {rtype}")]
    UnknownParam {
        /// The parameter name.
        name: String,
        /// The resource type.
        rtype: String,
    },
    /// Known parameter, unsupported modifier.
    #[error("modifier :{modifier} is not supported on search parameter {name:?}")]
    UnsupportedModifier {
        /// The parameter name.
        name: String,
        /// The modifier.
        modifier: String,
    },
    /// A value that does not fit the parameter's type.
    #[error("invalid value for search parameter {name:?}: {reason}")]
    BadValue {
        /// The parameter name.
        name: String,
        /// What is wrong (no value echoed).
        reason: String,
    },
}

/// A date comparison prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// equal (within)
    Eq,
    /// not equal
    Ne,
    /// greater than
    Gt,
    /// less than
    Lt,
    /// greater or equal
    Ge,
    /// less or equal
    Le,
    /// starts after
    Sa,
    /// ends before
    Eb,
    /// approximately (overlaps)
    Ap,
}

/// One date comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateCmp {
    /// The prefix.
    pub prefix: Prefix,
    /// The searched interval `[start, end)` in Unix seconds.
    pub range: (i64, i64),
}

impl DateCmp {
    /// Whether a target interval (open ends as `None`) satisfies the comparison.
    pub fn matches(&self, start: Option<i64>, end: Option<i64>) -> bool {
        let (qs, qe) = self.range;
        let (rs, re) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
        let eq = rs >= qs && re <= qe;
        match self.prefix {
            Prefix::Eq => eq,
            Prefix::Ne => !eq,
            Prefix::Gt => re > qe,
            Prefix::Lt => rs < qs,
            Prefix::Ge => re > qe || eq,
            Prefix::Le => rs < qs || eq,
            Prefix::Sa => rs >= qe,
            Prefix::Eb => re <= qs,
            Prefix::Ap => rs < qe && re > qs,
        }
    }

    /// The region a matching target interval must overlap (for index candidates).
    fn region(&self) -> (Option<i64>, Option<i64>) {
        let (qs, qe) = self.range;
        match self.prefix {
            Prefix::Eq | Prefix::Ap => (Some(qs), Some(qe)),
            Prefix::Ne => (None, None),
            Prefix::Gt | Prefix::Sa => (Some(qe), None),
            Prefix::Ge => (Some(qs), None),
            Prefix::Lt | Prefix::Eb => (None, Some(qs)),
            Prefix::Le => (None, Some(qe)),
        }
    }

    /// Index terms that every matching resource has at least one of, or
    /// `None` when the comparison cannot use the index (`ne`).
    pub fn candidate_terms(&self) -> Option<Vec<String>> {
        let (s, e) = self.region();
        if s.is_none() && e.is_none() {
            return None;
        }
        let lo = s.unwrap_or(i64::MIN / 2).max(-3_786_825_600 - 86_400 * 366); // just before 1850
        let hi = e.unwrap_or(i64::MAX / 2).min(5_680_281_600 + 86_400 * 366); // just after 2150
        let mut out = vec!["d:open".to_owned(), "d:ext".to_owned()];
        let (sy, _) = year_month(lo);
        let (ey, _) = year_month(hi.max(lo + 1) - 1);
        if (ey - sy) * 12 <= MONTH_QUERY_SPAN {
            out.push("d:wide".into());
            date_buckets(Some(lo), Some(hi.max(lo + 1)), MONTH_QUERY_SPAN + 12, &mut out);
            out.retain(|t| !t.starts_with("y:"));
        } else {
            for y in sy.max(MIN_YEAR)..=ey.min(MAX_YEAR) {
                out.push(format!("y:{y:04}"));
            }
        }
        out.sort();
        out.dedup();
        Some(out)
    }
}

/// Parses `[prefix]value` of a date search.
pub fn parse_date_cmp(raw: &str) -> Result<DateCmp, DateError> {
    let (prefix, rest) = match raw.get(..2) {
        Some("eq") => (Prefix::Eq, &raw[2..]),
        Some("ne") => (Prefix::Ne, &raw[2..]),
        Some("gt") => (Prefix::Gt, &raw[2..]),
        Some("lt") => (Prefix::Lt, &raw[2..]),
        Some("ge") => (Prefix::Ge, &raw[2..]),
        Some("le") => (Prefix::Le, &raw[2..]),
        Some("sa") => (Prefix::Sa, &raw[2..]),
        Some("eb") => (Prefix::Eb, &raw[2..]),
        Some("ap") => (Prefix::Ap, &raw[2..]),
        _ => (Prefix::Eq, raw),
    };
    let d = PartialDateTime::parse_search(rest)?;
    Ok(DateCmp { prefix, range: d.range() })
}

/// What one alternative of a clause matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// Resources having this exact index term.
    Term(String),
    /// Resources with a date in the parameter's elements satisfying this.
    Date(DateCmp),
}

/// One search parameter in a query: matches when any alternative matches
/// (comma-separated values), and all clauses must match.
#[derive(Clone, Debug)]
pub struct Clause {
    /// The parameter (for `_id`/`_lastUpdated`, see [`SearchQuery`]).
    pub param: &'static ParamDef,
    /// The alternatives.
    pub any_of: Vec<Matcher>,
}

impl Clause {
    /// Index terms any matching resource has one of, or `None` when the
    /// index cannot narrow this clause.
    pub fn candidate_terms(&self) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for m in &self.any_of {
            match m {
                Matcher::Term(t) => out.push(t.clone()),
                Matcher::Date(d) => out.extend(d.candidate_terms()?),
            }
        }
        Some(out)
    }

    /// Whether the clause needs an exact check on the decrypted resource
    /// (index buckets are coarse for dates).
    pub fn needs_filter(&self) -> bool {
        self.any_of.iter().any(|m| matches!(m, Matcher::Date(_)))
    }

    /// The exact check on a decrypted resource.
    pub fn matches(&self, obj: &Map<String, Value>) -> bool {
        let mut ranges = None;
        let mut terms = None;
        self.any_of.iter().any(|m| match m {
            Matcher::Date(cmp) => ranges
                .get_or_insert_with(|| {
                    self.param.paths.iter().flat_map(|p| values_at(obj, p)).flat_map(date_ranges).collect::<Vec<_>>()
                })
                .iter()
                .any(|(s, e)| cmp.matches(*s, *e)),
            Matcher::Term(t) => terms.get_or_insert_with(|| index_terms_for(self.param, obj)).iter().any(|x| x == t),
        })
    }
}

/// `_include` / `_revinclude`: follow parameter `param` of `source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    /// The type holding the reference.
    pub source: String,
    /// The reference parameter.
    pub param: &'static str,
    /// Only targets of this type.
    pub target: Option<String>,
}

/// How a query handles unknown parameters (`Prefer: handling=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Handling {
    /// Refuse unknown parameters (the default).
    #[default]
    Strict,
    /// Ignore them, and say so in the result.
    Lenient,
}

/// Default and maximum page sizes.
pub const DEFAULT_COUNT: usize = 20;
/// The largest `_count` honoured.
pub const MAX_COUNT: usize = 1000;

/// A parsed search.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Restrict to these ids (`_id`), if given.
    pub ids: Option<Vec<String>>,
    /// `_lastUpdated` comparisons (all must hold).
    pub last_updated: Vec<DateCmp>,
    /// Parameter clauses (all must hold).
    pub clauses: Vec<Clause>,
    /// Page size.
    pub count: usize,
    /// Offset of the page.
    pub offset: usize,
    /// `_summary=count`: only the total.
    pub summary_count: bool,
    /// `_include`s.
    pub includes: Vec<Include>,
    /// `_revinclude`s.
    pub revincludes: Vec<Include>,
    /// Parameters ignored under lenient handling.
    pub ignored: Vec<String>,
    /// The parameters that were applied, for the `self` link.
    pub applied: Vec<(String, String)>,
}

fn bad(name: &str, reason: impl Into<String>) -> SearchError {
    SearchError::BadValue { name: name.to_owned(), reason: reason.into() }
}

fn parse_include(rtype: &str, name: &str, raw: &str, rev: bool) -> Result<Include, SearchError> {
    let mut parts = raw.split(':');
    let (Some(source), Some(pname)) = (parts.next(), parts.next()) else {
        return Err(bad(name, "expected Type:parameter[:TargetType]"));
    };
    let target = parts.next().map(str::to_owned);
    if parts.next().is_some() {
        return Err(bad(name, "expected Type:parameter[:TargetType]"));
    }
    let def = param(source, pname)
        .filter(|d| d.kind == ParamKind::Reference)
        .ok_or_else(|| bad(name, format!("{source}:{pname} is not a supported reference parameter")))?;
    if !rev && source != rtype {
        return Err(bad(name, format!("_include must start with the searched type {rtype}")));
    }
    if rev {
        let points_here = def.target.is_none_or(|t| t == rtype) && target.as_deref().is_none_or(|t| t == rtype);
        if !points_here {
            return Err(bad(name, format!("{source}:{pname} does not refer to {rtype}")));
        }
    }
    Ok(Include { source: source.to_owned(), param: def.name, target })
}

fn parse_token(def: &ParamDef, value: &str) -> Result<Matcher, SearchError> {
    let term = match value.split_once('|') {
        None => format!("c:{}", normalise(value, def.norm)),
        Some(("", code)) => format!("ns:{}", normalise(code, def.norm)),
        Some((system, "")) => format!("s:{system}"),
        Some((system, code)) => format!("sc:{system}|{}", normalise(code, def.norm)),
    };
    if term.len() <= 2 || term.ends_with(':') {
        return Err(bad(def.name, "empty code"));
    }
    Ok(Matcher::Term(term))
}

fn parse_reference(def: &ParamDef, type_modifier: Option<&str>, value: &str) -> Result<Matcher, SearchError> {
    if let Some((t, id)) = normalise_reference(value) {
        if def.target.is_some_and(|want| want != t) || type_modifier.is_some_and(|m| m != t) {
            return Err(bad(
                def.name,
                format!("this parameter refers to {}", def.target.or(type_modifier).unwrap_or("?")),
            ));
        }
        return Ok(Matcher::Term(format!("r:{t}/{id}")));
    }
    let id_ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !id_ok {
        return Err(bad(def.name, "expected an id or Type/id"));
    }
    Ok(Matcher::Term(match def.target.or(type_modifier) {
        Some(t) => format!("r:{t}/{value}"),
        None => format!("i:{value}"),
    }))
}

/// Parses the query of a search on `rtype`.
pub fn parse_query(rtype: &str, pairs: &[(String, String)], handling: Handling) -> Result<SearchQuery, SearchError> {
    let mut q = SearchQuery { count: DEFAULT_COUNT, ..SearchQuery::default() };
    for (key, value) in pairs {
        let (name, modifier) = match key.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (key.as_str(), None),
        };
        let unsupported_modifier = || SearchError::UnsupportedModifier {
            name: name.to_owned(),
            modifier: modifier.unwrap_or_default().to_owned(),
        };
        match name {
            "_count" | "_offset" => {
                let n: usize = value.parse().map_err(|_| bad(name, "expected a whole number"))?;
                if name == "_count" {
                    q.count = n.min(MAX_COUNT);
                    // FHIR: `_count=0` asks for the total only (no entries, so no pages to link).
                    q.summary_count |= n == 0;
                } else {
                    q.offset = n;
                }
                continue;
            }
            "_format" | "_total" | "_pretty" => continue,
            "_summary" => {
                match value.as_str() {
                    "count" => q.summary_count = true,
                    "false" => {}
                    _ if handling == Handling::Lenient => q.ignored.push(key.clone()),
                    _ => return Err(bad(name, "only _summary=count and _summary=false are supported")),
                }
                continue;
            }
            "_include" | "_revinclude" => {
                for v in value.split(',') {
                    let inc = parse_include(rtype, name, v, name == "_revinclude")?;
                    if name == "_include" { q.includes.push(inc) } else { q.revincludes.push(inc) }
                }
                q.applied.push((key.clone(), value.clone()));
                continue;
            }
            _ => {}
        }
        if modifier.is_some() && !matches!(name, "_id" | "_lastUpdated") {
            // handled per kind below
        } else if modifier.is_some() {
            if handling == Handling::Lenient {
                q.ignored.push(key.clone());
                continue;
            }
            return Err(unsupported_modifier());
        }
        match name {
            "_id" => {
                let ids: Vec<String> = value.split(',').map(str::to_owned).collect();
                q.ids = Some(match q.ids.take() {
                    Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
                    None => ids,
                });
                q.applied.push((key.clone(), value.clone()));
                continue;
            }
            "_lastUpdated" => {
                q.last_updated.push(parse_date_cmp(value).map_err(|e| bad(name, e.to_string()))?);
                q.applied.push((key.clone(), value.clone()));
                continue;
            }
            _ => {}
        }
        let Some(def) = param(rtype, name) else {
            if handling == Handling::Lenient {
                q.ignored.push(key.clone());
                continue;
            }
            return Err(SearchError::UnknownParam { name: name.to_owned(), rtype: rtype.to_owned() });
        };
        let mut any_of = Vec::new();
        for v in value.split(',') {
            let m = match (def.kind, modifier) {
                (ParamKind::Token, None) => parse_token(def, v)?,
                (ParamKind::String, None) => {
                    let f = fold(v);
                    if f.is_empty() {
                        return Err(bad(name, "empty string"));
                    }
                    let f: String = f.chars().take(MAX_PREFIX).collect();
                    Matcher::Term(format!("p:{f}"))
                }
                (ParamKind::String, Some("exact")) => Matcher::Term(format!("x:{}", v.trim())),
                (ParamKind::Reference, None) => parse_reference(def, None, v)?,
                (ParamKind::Reference, Some(m)) if m.bytes().all(|b| b.is_ascii_alphabetic()) && m != "missing" => {
                    parse_reference(def, Some(m), v)?
                }
                (ParamKind::Date, None) => Matcher::Date(parse_date_cmp(v).map_err(|e| bad(name, e.to_string()))?),
                _ => {
                    if handling == Handling::Lenient {
                        q.ignored.push(key.clone());
                        any_of.clear();
                        break;
                    }
                    return Err(unsupported_modifier());
                }
            };
            any_of.push(m);
        }
        if !any_of.is_empty() {
            q.clauses.push(Clause { param: def, any_of });
            q.applied.push((key.clone(), value.clone()));
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn query_matches(rtype: &str, resource: &Map<String, Value>, q: &[(&str, &str)]) -> bool {
        let q = parse_query(rtype, &pairs(q), Handling::Strict).unwrap();
        let terms: Vec<String> = index_terms(rtype, resource).into_iter().map(|(n, v)| format!("{n}={v}")).collect();
        q.clauses.iter().all(|c| {
            let on_index = c
                .candidate_terms()
                .is_none_or(|ts| ts.iter().any(|t| terms.contains(&format!("{}={t}", c.param.name))));
            on_index && c.matches(resource)
        })
    }

    fn patient() -> Map<String, Value> {
        obj(json!({
            "resourceType": "Patient", "id": "p1",
            "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-42"}],
            "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
            "gender": "male", "birthDate": "1974-12-25",
            "telecom": [{"system": "phone", "value": "(03) 5555 6473"}, {"system": "email", "value": "Peter@Example.org"}],
            "managingOrganization": {"reference": "Organization/1"}
        }))
    }

    #[test]
    fn patient_demographic_searches() {
        let p = patient();
        assert!(query_matches("Patient", &p, &[("family", "chal")]));
        assert!(query_matches("Patient", &p, &[("name", "JAM")]));
        assert!(!query_matches("Patient", &p, &[("name", "ames")]));
        assert!(query_matches("Patient", &p, &[("family:exact", "Chalmers")]));
        assert!(!query_matches("Patient", &p, &[("family:exact", "chalmers")]));
        assert!(query_matches("Patient", &p, &[("identifier", "urn:oid:1.2.3|MRN-42")]));
        assert!(query_matches("Patient", &p, &[("identifier", "MRN-42")]));
        assert!(!query_matches("Patient", &p, &[("identifier", "urn:oid:9|MRN-42")]));
        assert!(query_matches("Patient", &p, &[("phone", "0355556473")]));
        assert!(query_matches("Patient", &p, &[("email", "peter@example.ORG")]));
        assert!(query_matches("Patient", &p, &[("gender", "male,female")]));
        assert!(!query_matches("Patient", &p, &[("gender", "female")]));
        assert!(query_matches("Patient", &p, &[("organization", "1")]));
        assert!(query_matches("Patient", &p, &[("organization", "Organization/1")]));
    }

    #[test]
    fn date_prefixes() {
        let p = patient();
        for (q, want) in [
            ("1974-12-25", true),
            ("1974", true),
            ("1974-11", false),
            ("ge1974-12-25", true),
            ("gt1974-12-25", false),
            ("le1974-12-25", true),
            ("lt1974-12-25", false),
            ("lt1975", true),
            ("gt1900", true),
            ("ge2000-01-01", false),
            ("ne1974-12-25", false),
            ("sa1974-12-24", true),
            ("eb1974-12-26", true),
        ] {
            assert_eq!(query_matches("Patient", &p, &[("birthdate", q)]), want, "{q}");
        }
    }

    #[test]
    fn periods_and_open_ends() {
        let e = obj(json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"}, "period": {"start": "2020-01-01T10:00:00Z"}}));
        assert!(query_matches("Encounter", &e, &[("date", "ge2030")]), "an open period reaches the future");
        assert!(query_matches("Encounter", &e, &[("patient", "p1"), ("class", "AMB")]));
        let long = obj(json!({"resourceType": "Encounter", "period": {"start": "2001-01-01", "end": "2010-01-01"}}));
        assert!(!query_matches("Encounter", &long, &[("date", "2005-03")]));
        assert!(query_matches("Encounter", &long, &[("date", "ap2005-03")]));
        assert!(query_matches("Encounter", &long, &[("date", "lt2005-03")]));
    }

    #[test]
    fn codes_and_references() {
        let o = obj(json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "subject": {"reference": "https://other.example/fhir/Patient/p1/_history/2"},
            "effectiveDateTime": "2024-03-05T10:00:00Z"}));
        assert!(query_matches("Observation", &o, &[("code", "http://loinc.org|8867-4")]));
        assert!(query_matches("Observation", &o, &[("code", "http://loinc.org|")]));
        assert!(!query_matches("Observation", &o, &[("code", "|8867-4")]));
        assert!(query_matches("Observation", &o, &[("subject", "Patient/p1"), ("category", "vital-signs")]));
        assert!(query_matches("Observation", &o, &[("date", "ge2024-03-05T09:00"), ("date", "lt2024-03-06")]));
        assert!(!query_matches("Observation", &o, &[("patient", "p2")]));
    }

    #[test]
    fn strict_and_lenient_handling() {
        let e = parse_query("Patient", &pairs(&[("colour", "red")]), Handling::Strict).unwrap_err();
        assert!(matches!(e, SearchError::UnknownParam { .. }));
        let q = parse_query("Patient", &pairs(&[("colour", "red"), ("family", "x")]), Handling::Lenient).unwrap();
        assert_eq!(q.ignored, vec!["colour".to_owned()]);
        assert_eq!(q.clauses.len(), 1);
        assert!(parse_query("Patient", &pairs(&[("family:contains", "x")]), Handling::Strict).is_err());
        assert!(parse_query("Patient", &pairs(&[("birthdate", "1961-03-04x")]), Handling::Strict).is_err());
        assert!(parse_query("Patient", &pairs(&[("_count", "-1")]), Handling::Strict).is_err());
        let q = parse_query("Patient", &pairs(&[("_count", "5000")]), Handling::Strict).unwrap();
        assert_eq!(q.count, MAX_COUNT);
        let q = parse_query("Patient", &pairs(&[("_count", "0")]), Handling::Strict).unwrap();
        assert!(q.summary_count && q.count == 0, "_count=0 asks for the total only");
    }

    #[test]
    fn search_errors_do_not_echo_values() {
        let e = parse_query("Patient", &pairs(&[("birthdate", "1961-03-04x")]), Handling::Strict).unwrap_err();
        assert!(!e.to_string().contains("1961"), "{e}");
        let e = parse_query("Patient", &pairs(&[("organization", "Patient/smith")]), Handling::Strict).unwrap_err();
        assert!(!e.to_string().contains("smith"), "{e}");
    }

    #[test]
    fn includes_are_checked() {
        let q = parse_query("Observation", &pairs(&[("_include", "Observation:patient")]), Handling::Strict).unwrap();
        assert_eq!(q.includes[0].param, "patient");
        assert!(parse_query("Patient", &pairs(&[("_revinclude", "Observation:subject")]), Handling::Strict).is_ok());
        assert!(parse_query("Patient", &pairs(&[("_revinclude", "Observation:encounter")]), Handling::Strict).is_err());
        assert!(parse_query("Patient", &pairs(&[("_include", "Observation:patient")]), Handling::Strict).is_err());
    }

    #[test]
    fn compartment_terms_for_typed_and_generic_types() {
        let claim = obj(json!({"resourceType": "Claim", "patient": {"reference": "Patient/p1"}}));
        assert_eq!(index_terms("Claim", &claim), vec![(COMPARTMENT_INDEX, "Patient/p1".to_owned())]);
        let o = obj(json!({"resourceType": "Observation", "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Patient/p2"}]}));
        let terms = index_terms("Observation", &o);
        for want in ["Patient/p1", "Patient/p2"] {
            assert!(terms.contains(&(COMPARTMENT_INDEX, want.to_owned())), "{want}");
        }
        let org = obj(json!({"resourceType": "Organization", "name": "x"}));
        assert!(index_terms("Organization", &org).iter().all(|(n, _)| *n != COMPARTMENT_INDEX));
        // No search parameter can reach the compartment index.
        assert!(parse_query("Claim", &pairs(&[(COMPARTMENT_INDEX, "Patient/p1")]), Handling::Strict).is_err());
    }

    #[test]
    fn year_month_inverts_civil_days() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(1_709_251_200), (2024, 3)); // 2024-03-01
        assert_eq!(year_month(-1), (1969, 12));
    }

    #[test]
    fn every_param_table_is_consistent() {
        for t in RESOURCE_TYPES {
            let defs = params_for(t);
            assert!(!defs.is_empty(), "{t}");
            for d in defs {
                assert!(!d.paths.is_empty() && !d.doc.is_empty(), "{t}.{}", d.name);
                assert_eq!(defs.iter().filter(|x| x.name == d.name).count(), 1, "{t}.{} twice", d.name);
            }
        }
    }

    use proptest::prelude::{Just, Strategy, any, prop_oneof};
    use proptest::sample::select;

    /// Keys: anything at all, or a real parameter with a real or odd modifier.
    fn any_key() -> impl Strategy<Value = String> {
        let names = vec![
            "_id",
            "_lastUpdated",
            "_count",
            "_offset",
            "_summary",
            "_include",
            "_revinclude",
            "_format",
            "identifier",
            "birthdate",
            "family",
            "phone",
            "patient",
            "subject",
            "actor",
            "date",
            "status",
            "start",
            "schedule",
        ];
        let modifiers = vec!["", ":exact", ":missing", ":Patient", ":contains", ":", "::", ":Practitioner:x"];
        prop_oneof![
            any::<String>(),
            "[_a-z:-]{0,20}",
            (select(names), select(modifiers)).prop_map(|(n, m)| format!("{n}{m}")),
        ]
    }

    /// Values: anything at all, printable text, or something shaped like a
    /// date, token or reference search.
    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "\\PC{0,40}",
            (select(vec!["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", ""]), "[0-9T:.+Z-]{0,30}")
                .prop_map(|(p, d)| format!("{p}{d}")),
            (select(vec!["", "|", "Patient/", "http://x/Patient/", "a|", "|b", ","]), "\\PC{0,20}")
                .prop_map(|(p, x)| format!("{p}{x}")),
            Just(String::new()),
        ]
    }

    proptest::proptest! {
        /// Any key and any value: no panic, and a refusal is always a
        /// [`SearchError`] that names the refused parameter and does not
        /// repeat the searched value.
        #[test]
        fn query_parser_refuses_with_typed_errors(k in any_key(), v in any_value()) {
            for t in ["Patient", "Observation", "Appointment", "Slot", "Basic", "Foo"] {
                for h in [Handling::Strict, Handling::Lenient] {
                    match parse_query(t, &[(k.clone(), v.clone())], h) {
                        Ok(q) => proptest::prop_assert!(q.count <= MAX_COUNT),
                        Err(e) => {
                            let (SearchError::UnknownParam { name, .. }
                            | SearchError::UnsupportedModifier { name, .. }
                            | SearchError::BadValue { name, .. }) = &e;
                            proptest::prop_assert!(k.starts_with(name.as_str()), "{e:?} for key {k:?}");
                            let msg = e.to_string();
                            proptest::prop_assert!(!msg.is_empty());
                            // _include values are type and parameter names, named back on purpose.
                            let names_only = k.starts_with("_include") || k.starts_with("_revinclude");
                            if !names_only && v.chars().count() >= 6 && !k.contains(v.as_str()) {
                                proptest::prop_assert!(!msg.contains(v.as_str()), "{msg} echoes {v:?}");
                            }
                        }
                    }
                }
            }
        }

        #[test]
        fn reference_normaliser_never_panics(s in "\\PC{0,80}") {
            let _ = normalise_reference(&s);
        }
    }
}
