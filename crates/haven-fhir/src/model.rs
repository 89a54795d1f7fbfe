//! Typed views of the resources Haven's own code reads.
//!
//! Each view is read from an already-validated JSON object and keeps only the
//! elements Haven uses; the stored resource stays the JSON. Errors name the
//! element path, never the value, and every view's `Debug` redacts values
//! (showing counts and states only), because all of this is PHI.

use std::fmt;

use serde_json::{Map, Value};

use crate::datetime::{DateError, PartialDateTime};

/// Why a resource does not fit its typed view. Names the element path only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// `resourceType` is missing or is not the type being read.
    #[error("resourceType is not {expected}")]
    WrongResourceType {
        /// The type the view reads.
        expected: &'static str,
    },
    /// A required element is absent.
    #[error("{path} is required")]
    Missing {
        /// Element path, e.g. `Slot.schedule.reference`.
        path: String,
    },
    /// An element has the wrong JSON type.
    #[error("{path} must be a JSON {expected}")]
    WrongType {
        /// Element path.
        path: String,
        /// Expected JSON type (`string`, `array`, `object`, `boolean`).
        expected: &'static str,
    },
    /// A code element holds a code outside its value set.
    #[error("{path} is not a known code")]
    UnknownCode {
        /// Element path.
        path: String,
    },
    /// A date-like element is malformed.
    #[error("{path}: {source}")]
    Date {
        /// Element path.
        path: String,
        /// What is wrong with the date (no input echoed).
        source: DateError,
    },
}

/// Prints `[REDACTED]` for a present value, `None` for an absent one.
struct Presence(bool);

impl fmt::Debug for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "[REDACTED]" } else { "None" })
    }
}

/// Prints how many values a list holds, not the values.
struct Count(usize);

impl fmt::Debug for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[REDACTED; {}]", self.0)
    }
}

/// Prints a status string when it is one of the known codes; anything else
/// came from input unchecked and is redacted.
struct KnownCode<'a>(&'a str, &'a [&'a str]);

impl fmt::Debug for KnownCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("None")
        } else if self.1.contains(&self.0) {
            write!(f, "{:?}", self.0)
        } else {
            f.write_str("[REDACTED]")
        }
    }
}

const PARTICIPATION_STATUS: &[&str] = &["accepted", "declined", "tentative", "needs-action"];
const CONSENT_STATUS: &[&str] = &["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"];
const CARE_TEAM_STATUS: &[&str] = &["proposed", "active", "suspended", "inactive", "entered-in-error"];

/// Reading helpers over one JSON object; `path` is the object's element path.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn wrong(&self, key: &str, expected: &'static str) -> ModelError {
        ModelError::WrongType { path: self.at(key), expected }
    }

    /// The object element `key`, as a reader, if present.
    fn child(&self, key: &str) -> Result<Option<Obj<'a>>, ModelError> {
        Ok(self.object(key)?.map(|m| Obj { map: m, path: self.at(key) }))
    }

    /// An optional string element (JSON null counts as absent).
    fn str(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(key, "string")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ModelError> {
        Ok(self.str(key)?.map(str::to_owned))
    }

    fn required_str(&self, key: &str) -> Result<&'a str, ModelError> {
        self.str(key)?.ok_or_else(|| ModelError::Missing { path: self.at(key) })
    }

    fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, ModelError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.wrong(key, "object")),
        }
    }

    /// An optional repeating element; absent reads as empty.
    fn array(&self, key: &str) -> Result<&'a [Value], ModelError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.wrong(key, "array")),
        }
    }

    /// The objects of a repeating complex element, each with its own path.
    fn objects(&self, key: &str) -> Result<Vec<Obj<'a>>, ModelError> {
        let items = self.array(key)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let path = format!("{}.{key}[{i}]", self.path);
            match v {
                // Nulls only pad arrays of primitives; skip them.
                Value::Null => {}
                Value::Object(m) => out.push(Obj { map: m, path }),
                _ => return Err(ModelError::WrongType { path, expected: "object" }),
            }
        }
        Ok(out)
    }

    /// The strings of a repeating primitive element (nulls, which pair with `_key`, skipped).
    fn strings(&self, key: &str) -> Result<Vec<String>, ModelError> {
        let mut out = Vec::new();
        for (i, v) in self.array(key)?.iter().enumerate() {
            match v {
                Value::Null => {}
                Value::String(s) => out.push(s.clone()),
                _ => {
                    return Err(ModelError::WrongType {
                        path: format!("{}.{key}[{i}]", self.path),
                        expected: "string",
                    });
                }
            }
        }
        Ok(out)
    }

    /// `key.reference` of a Reference element.
    fn reference(&self, key: &str) -> Result<Option<String>, ModelError> {
        let Some(m) = self.object(key)? else { return Ok(None) };
        Obj { map: m, path: self.at(key) }.string("reference")
    }

    fn date(
        &self,
        key: &str,
        parse: fn(&str) -> Result<PartialDateTime, DateError>,
    ) -> Result<Option<PartialDateTime>, ModelError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => parse(s).map(Some).map_err(|source| ModelError::Date { path: self.at(key), source }),
        }
    }
}

/// Runs `f` on each object of `obj.key[]`, with the right path for errors.
fn each<'a, T>(
    obj: &Obj<'a>,
    key: &str,
    mut f: impl FnMut(&Obj<'a>) -> Result<Option<T>, ModelError>,
) -> Result<Vec<T>, ModelError> {
    let mut out = Vec::new();
    for o in obj.objects(key)? {
        if let Some(t) = f(&o)? {
            out.push(t);
        }
    }
    Ok(out)
}

/// Checks `resourceType` and returns a reader rooted at the resource.
fn root<'a>(obj: &'a Map<String, Value>, expected: &'static str) -> Result<Obj<'a>, ModelError> {
    if obj.get("resourceType").and_then(Value::as_str) != Some(expected) {
        return Err(ModelError::WrongResourceType { expected });
    }
    Ok(Obj { map: obj, path: expected.to_owned() })
}

/// Defines a code enum with its FHIR codes.
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Reads a FHIR code; `None` if it is not one of this value set.
            pub fn from_code(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The FHIR code.
            pub fn code(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }
        }
    };
}

fn code_of<T>(obj: &Obj<'_>, key: &str, from: fn(&str) -> Option<T>) -> Result<Option<T>, ModelError> {
    match obj.str(key)? {
        None => Ok(None),
        Some(s) => from(s).map(Some).ok_or_else(|| ModelError::UnknownCode { path: obj.at(key) }),
    }
}

fn required_code<T>(obj: &Obj<'_>, key: &str, from: fn(&str) -> Option<T>) -> Result<T, ModelError> {
    code_of(obj, key, from)?.ok_or_else(|| ModelError::Missing { path: obj.at(key) })
}

codes! {
    /// Patient.gender (AdministrativeGender).
    Gender {
        /// `male`
        Male = "male",
        /// `female`
        Female = "female",
        /// `other`
        Other = "other",
        /// `unknown`
        Unknown = "unknown",
    }
}

codes! {
    /// Appointment.status.
    AppointmentStatus {
        /// `proposed`
        Proposed = "proposed",
        /// `pending`
        Pending = "pending",
        /// `booked`
        Booked = "booked",
        /// `arrived`
        Arrived = "arrived",
        /// `fulfilled`
        Fulfilled = "fulfilled",
        /// `cancelled`
        Cancelled = "cancelled",
        /// `noshow`
        Noshow = "noshow",
        /// `entered-in-error`
        EnteredInError = "entered-in-error",
        /// `checked-in`
        CheckedIn = "checked-in",
        /// `waitlist`
        Waitlist = "waitlist",
    }
}

codes! {
    /// Slot.status.
    SlotStatus {
        /// `busy`
        Busy = "busy",
        /// `free`
        Free = "free",
        /// `busy-unavailable`
        BusyUnavailable = "busy-unavailable",
        /// `busy-tentative`
        BusyTentative = "busy-tentative",
        /// `entered-in-error`
        EnteredInError = "entered-in-error",
    }
}

codes! {
    /// Consent.provision.type.
    ProvisionKind {
        /// `permit`
        Permit = "permit",
        /// `deny`
        Deny = "deny",
    }
}

/// A HumanName, reduced to what search and display use.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HumanName {
    /// HumanName.family
    pub family: Option<String>,
    /// HumanName.given, in order
    pub given: Vec<String>,
    /// HumanName.text
    pub text: Option<String>,
}

impl fmt::Debug for HumanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HumanName")
            .field("family", &Presence(self.family.is_some()))
            .field("given", &Count(self.given.len()))
            .field("text", &Presence(self.text.is_some()))
            .finish()
    }
}

/// An Identifier that has a value.
#[derive(Clone, PartialEq, Eq)]
pub struct Identifier {
    /// Identifier.system
    pub system: Option<String>,
    /// Identifier.value
    pub value: String,
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identifier")
            .field("system", &Presence(self.system.is_some()))
            .field("value", &Presence(true))
            .finish()
    }
}

/// The Patient elements Haven reads (matching, display, access).
#[derive(Clone, PartialEq, Eq)]
pub struct PatientDemographics {
    /// Patient.id
    pub id: Option<String>,
    /// Patient.name
    pub names: Vec<HumanName>,
    /// Patient.birthDate
    pub birth_date: Option<PartialDateTime>,
    /// Patient.gender
    pub gender: Option<Gender>,
    /// Patient.telecom values with system `phone`
    pub phones: Vec<String>,
    /// Patient.telecom values with system `email`
    pub emails: Vec<String>,
    /// Patient.identifier entries that have a value (those without carry nothing to match on)
    pub identifiers: Vec<Identifier>,
    /// deceasedBoolean is true or deceasedDateTime is present
    pub deceased: bool,
    /// Patient.address.line, all addresses flattened
    pub address_lines: Vec<String>,
    /// Patient.address.city, one per address that has one
    pub cities: Vec<String>,
    /// Patient.address.postalCode, one per address that has one
    pub postal_codes: Vec<String>,
    /// Patient.generalPractitioner references (those without a literal reference skipped)
    pub general_practitioners: Vec<String>,
}

impl fmt::Debug for PatientDemographics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Gender and death are demographics too: only whether they are known is shown.
        f.debug_struct("PatientDemographics")
            .field("id", &Presence(self.id.is_some()))
            .field("names", &Count(self.names.len()))
            .field("birth_date", &Presence(self.birth_date.is_some()))
            .field("gender", &Presence(self.gender.is_some()))
            .field("phones", &Count(self.phones.len()))
            .field("emails", &Count(self.emails.len()))
            .field("identifiers", &Count(self.identifiers.len()))
            .field("deceased", &Presence(true))
            .field("address_lines", &Count(self.address_lines.len()))
            .field("cities", &Count(self.cities.len()))
            .field("postal_codes", &Count(self.postal_codes.len()))
            .field("general_practitioners", &Count(self.general_practitioners.len()))
            .finish()
    }
}

impl PatientDemographics {
    /// Reads a Patient resource.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ModelError> {
        let r = root(obj, "Patient")?;
        let names = each(&r, "name", |n| {
            Ok(Some(HumanName { family: n.string("family")?, given: n.strings("given")?, text: n.string("text")? }))
        })?;
        let (mut phones, mut emails) = (Vec::new(), Vec::new());
        for t in each(&r, "telecom", |t| Ok(Some((t.str("system")?, t.string("value")?))))? {
            match t {
                (Some("phone"), Some(v)) => phones.push(v),
                (Some("email"), Some(v)) => emails.push(v),
                _ => {}
            }
        }
        let identifiers = each(&r, "identifier", |i| {
            let Some(value) = i.string("value")? else { return Ok(None) };
            Ok(Some(Identifier { system: i.string("system")?, value }))
        })?;
        let deceased_flag = match r.map.get("deceasedBoolean") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(r.wrong("deceasedBoolean", "boolean")),
        };
        let deceased = deceased_flag || r.str("deceasedDateTime")?.is_some();
        let (mut address_lines, mut cities, mut postal_codes) = (Vec::new(), Vec::new(), Vec::new());
        each(&r, "address", |a| {
            address_lines.extend(a.strings("line")?);
            cities.extend(a.string("city")?);
            postal_codes.extend(a.string("postalCode")?);
            Ok(None::<()>)
        })?;
        Ok(PatientDemographics {
            id: r.string("id")?,
            names,
            birth_date: r.date("birthDate", PartialDateTime::parse_date)?,
            gender: code_of(&r, "gender", Gender::from_code)?,
            phones,
            emails,
            identifiers,
            deceased,
            address_lines,
            cities,
            postal_codes,
            general_practitioners: each(&r, "generalPractitioner", |g| g.string("reference"))?,
        })
    }
}

/// An Appointment participant.
#[derive(Clone, PartialEq, Eq)]
pub struct Participant {
    /// participant.actor.reference
    pub actor: Option<String>,
    /// participant.status (accepted | declined | tentative | needs-action)
    pub status: String,
}

impl fmt::Debug for Participant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The participation status is a code, not PHI; who the actor is, is.
        f.debug_struct("Participant")
            .field("actor", &Presence(self.actor.is_some()))
            .field("status", &KnownCode(&self.status, PARTICIPATION_STATUS))
            .finish()
    }
}

/// The Appointment elements Haven reads (scheduling, access).
#[derive(Clone, PartialEq, Eq)]
pub struct AppointmentInfo {
    /// Appointment.id
    pub id: Option<String>,
    /// Appointment.status
    pub status: AppointmentStatus,
    /// Appointment.start (instant)
    pub start: Option<PartialDateTime>,
    /// Appointment.end (instant)
    pub end: Option<PartialDateTime>,
    /// Appointment.participant
    pub participants: Vec<Participant>,
    /// Appointment.slot references
    pub slots: Vec<String>,
}

impl fmt::Debug for AppointmentInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppointmentInfo")
            .field("id", &Presence(self.id.is_some()))
            .field("status", &self.status)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("participants", &self.participants)
            .field("slots", &Count(self.slots.len()))
            .finish()
    }
}

impl AppointmentInfo {
    /// Reads an Appointment resource.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ModelError> {
        let r = root(obj, "Appointment")?;
        let participants = each(&r, "participant", |p| {
            Ok(Some(Participant { actor: p.reference("actor")?, status: p.required_str("status")?.to_owned() }))
        })?;
        Ok(AppointmentInfo {
            id: r.string("id")?,
            status: required_code(&r, "status", AppointmentStatus::from_code)?,
            start: r.date("start", PartialDateTime::parse_instant)?,
            end: r.date("end", PartialDateTime::parse_instant)?,
            participants,
            slots: each(&r, "slot", |s| s.string("reference"))?,
        })
    }

    /// Participant actor references to Patients (relative `Patient/...` form).
    pub fn patients(&self) -> Vec<&str> {
        self.actors_of("Patient/")
    }

    /// Participant actor references to Practitioners (relative `Practitioner/...` form).
    pub fn practitioners(&self) -> Vec<&str> {
        self.actors_of("Practitioner/")
    }

    fn actors_of(&self, prefix: &str) -> Vec<&str> {
        self.participants.iter().filter_map(|p| p.actor.as_deref()).filter(|a| a.starts_with(prefix)).collect()
    }
}

/// The Slot elements Haven reads (availability).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// Slot.id
    pub id: Option<String>,
    /// Slot.schedule.reference
    pub schedule: String,
    /// Slot.status
    pub status: SlotStatus,
    /// Slot.start (instant)
    pub start: PartialDateTime,
    /// Slot.end (instant)
    pub end: PartialDateTime,
}

impl fmt::Debug for SlotInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotInfo")
            .field("id", &Presence(self.id.is_some()))
            .field("schedule", &Presence(true))
            .field("status", &self.status)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

impl SlotInfo {
    /// Reads a Slot resource.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ModelError> {
        let r = root(obj, "Slot")?;
        let missing = |key: &str| ModelError::Missing { path: r.at(key) };
        Ok(SlotInfo {
            id: r.string("id")?,
            schedule: r.reference("schedule")?.ok_or_else(|| missing("schedule.reference"))?,
            status: required_code(&r, "status", SlotStatus::from_code)?,
            start: r.date("start", PartialDateTime::parse_instant)?.ok_or_else(|| missing("start"))?,
            end: r.date("end", PartialDateTime::parse_instant)?.ok_or_else(|| missing("end"))?,
        })
    }
}

/// The top-level rule of a Consent (nested rules are not read).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsentProvision {
    /// provision.type; `None` when absent, which R4 allows and most official examples do.
    pub kind: Option<ProvisionKind>,
    /// provision.actor.reference.reference (the actor is a Reference named `reference`)
    pub actors: Vec<String>,
    /// provision.period as (start, end), each a dateTime
    pub period: Option<(Option<PartialDateTime>, Option<PartialDateTime>)>,
}

impl fmt::Debug for ConsentProvision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentProvision")
            .field("kind", &self.kind)
            .field("actors", &Count(self.actors.len()))
            .field("period", &self.period)
            .finish()
    }
}

/// The Consent elements Haven reads (access decisions).
#[derive(Clone, PartialEq, Eq)]
pub struct ConsentInfo {
    /// Consent.id
    pub id: Option<String>,
    /// Consent.status (draft | proposed | active | rejected | inactive | entered-in-error)
    pub status: String,
    /// Consent.patient.reference
    pub patient: Option<String>,
    /// Consent.provision (top level only)
    pub provision: Option<ConsentProvision>,
    /// Consent.dateTime
    pub date_time: Option<PartialDateTime>,
}

impl fmt::Debug for ConsentInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentInfo")
            .field("id", &Presence(self.id.is_some()))
            .field("status", &KnownCode(&self.status, CONSENT_STATUS))
            .field("patient", &Presence(self.patient.is_some()))
            .field("provision", &self.provision)
            .field("date_time", &self.date_time)
            .finish()
    }
}

impl ConsentInfo {
    /// Reads a Consent resource.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ModelError> {
        let r = root(obj, "Consent")?;
        let provision = match r.child("provision")? {
            None => None,
            Some(p) => {
                let actors = each(&p, "actor", |a| a.reference("reference"))?;
                let period = match p.child("period")? {
                    None => None,
                    Some(po) => {
                        let parse = PartialDateTime::parse_date_time;
                        Some((po.date("start", parse)?, po.date("end", parse)?))
                    }
                };
                Some(ConsentProvision { kind: code_of(&p, "type", ProvisionKind::from_code)?, actors, period })
            }
        };
        Ok(ConsentInfo {
            id: r.string("id")?,
            status: r.required_str("status")?.to_owned(),
            patient: r.reference("patient")?,
            provision,
            date_time: r.date("dateTime", PartialDateTime::parse_date_time)?,
        })
    }

    /// Whether this consent denies `actor_ref` (e.g. `"Practitioner/123"`).
    ///
    /// Deliberately simple: true when the consent is `active`, its top-level
    /// provision has type `deny`, and that provision lists no actors (deny
    /// everyone) or lists `actor_ref` exactly. The provision period, actions,
    /// purposes, nested provisions and `policyRule` are not considered; an
    /// absent provision type denies nothing.
    pub fn denies(&self, actor_ref: &str) -> bool {
        let Some(p) = &self.provision else { return false };
        self.status == "active"
            && p.kind == Some(ProvisionKind::Deny)
            && (p.actors.is_empty() || p.actors.iter().any(|a| a == actor_ref))
    }
}

/// The CareTeam elements Haven reads (who may see a patient).
#[derive(Clone, PartialEq, Eq)]
pub struct CareTeamInfo {
    /// CareTeam.id
    pub id: Option<String>,
    /// CareTeam.status
    pub status: Option<String>,
    /// CareTeam.subject.reference
    pub subject: Option<String>,
    /// CareTeam.participant.member.reference (participants without one skipped)
    pub members: Vec<String>,
}

impl fmt::Debug for CareTeamInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CareTeamInfo")
            .field("id", &Presence(self.id.is_some()))
            .field("status", &KnownCode(self.status.as_deref().unwrap_or(""), CARE_TEAM_STATUS))
            .field("subject", &Presence(self.subject.is_some()))
            .field("members", &Count(self.members.len()))
            .finish()
    }
}

impl CareTeamInfo {
    /// Reads a CareTeam resource.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ModelError> {
        let r = root(obj, "CareTeam")?;
        Ok(CareTeamInfo {
            id: r.string("id")?,
            status: r.string("status")?,
            subject: r.reference("subject")?,
            members: each(&r, "participant", |p| p.reference("member"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// An official example, or None (with a message) when the data folder is absent.
    fn example(name: &str) -> Option<Map<String, Value>> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir/r4-examples").join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Some(obj(serde_json::from_slice(&bytes).unwrap())),
            Err(_) => {
                println!("SKIPPED: {name} not found");
                None
            }
        }
    }

    #[test]
    fn patient_from_literal() {
        let p = PatientDemographics::from_json(&obj(json!({
            "resourceType": "Patient", "id": "p1",
            "name": [{"family": "Doe", "given": ["Jane", null, "Q"], "_given": [null, {"id": "x"}, null]},
                     {"text": "Jane Doe"}],
            "birthDate": "1980-02",
            "gender": "female",
            "telecom": [{"system": "phone", "value": "555-0100"}, {"system": "email", "value": "j@example.org"},
                        {"system": "fax", "value": "555-0199"}, {"use": "home"}],
            "identifier": [{"system": "http://x.org/mrn", "value": "M1"}, {"system": "http://x.org/none"}],
            "deceasedDateTime": "2020-01-01",
            "address": [{"line": ["1 Main St", "Apt 2"], "city": "Springfield", "postalCode": "12345"}, {"city": "X"}],
            "generalPractitioner": [{"reference": "Practitioner/9"}, {"display": "Dr. Who"}]
        })))
        .unwrap();
        assert_eq!(p.id.as_deref(), Some("p1"));
        assert_eq!(p.names[0].given, ["Jane", "Q"]);
        assert_eq!(p.names[1].text.as_deref(), Some("Jane Doe"));
        assert_eq!(p.birth_date.map(|d| d.precision()), Some(crate::datetime::Precision::Month));
        assert_eq!(p.gender, Some(Gender::Female));
        assert_eq!(
            (p.phones.as_slice(), p.emails.as_slice()),
            (&["555-0100".to_owned()][..], &["j@example.org".to_owned()][..])
        );
        assert_eq!(p.identifiers, vec![Identifier { system: Some("http://x.org/mrn".into()), value: "M1".into() }]);
        assert!(p.deceased);
        assert_eq!(p.address_lines, ["1 Main St", "Apt 2"]);
        assert_eq!(p.cities, ["Springfield", "X"]);
        assert_eq!(p.postal_codes, ["12345"]);
        assert_eq!(p.general_practitioners, ["Practitioner/9"]);
    }

    #[test]
    fn patient_errors_name_the_path_not_the_value() {
        let cases = [
            (json!({"resourceType": "Patient", "birthDate": "1961-13-01"}), "Patient.birthDate"),
            (json!({"resourceType": "Patient", "gender": "Mxyz"}), "Patient.gender"),
            (json!({"resourceType": "Patient", "name": [{"given": ["Ann", 7]}]}), "Patient.name[0].given[1]"),
            (json!({"resourceType": "Patient", "name": {"family": "Smith"}}), "Patient.name"),
            (json!({"resourceType": "Patient", "deceasedBoolean": "Smith"}), "Patient.deceasedBoolean"),
        ];
        for (v, path) in cases {
            let e = PatientDemographics::from_json(&obj(v)).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(shown.contains(path), "{shown}");
            for secret in ["1961", "Mxyz", "Ann", "Smith"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        assert_eq!(
            PatientDemographics::from_json(&obj(json!({"resourceType": "Person"}))),
            Err(ModelError::WrongResourceType { expected: "Patient" })
        );
    }

    #[test]
    fn debug_redacts_values() {
        let p = PatientDemographics::from_json(&obj(json!({
            "resourceType": "Patient", "id": "secret-id", "name": [{"family": "Zebulon", "given": ["Quentin"]}],
            "birthDate": "1961-03-04", "gender": "female", "telecom": [{"system": "phone", "value": "555-0100"}],
            "identifier": [{"system": "http://x.org/ssn", "value": "999-88-7777"}],
            "address": [{"line": ["1 Main St"], "city": "Springfield", "postalCode": "12345"}],
            "generalPractitioner": [{"reference": "Practitioner/drx"}]
        })))
        .unwrap();
        let shown = format!("{p:?} {:?} {:?}", p.names, p.identifiers);
        for secret in [
            "secret-id",
            "Zebulon",
            "Quentin",
            "1961",
            "female",
            "Female",
            "555",
            "999-88",
            "Main",
            "Springfield",
            "12345",
            "drx",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("names: [REDACTED; 1]"), "{shown}");
    }

    fn appointment() -> Value {
        json!({
            "resourceType": "Appointment", "id": "a1", "status": "booked",
            "start": "2024-03-05T10:00:00Z", "end": "2024-03-05T10:30:00Z",
            "slot": [{"reference": "Slot/s1"}],
            "participant": [
                {"actor": {"reference": "Patient/p1"}, "status": "accepted"},
                {"actor": {"reference": "Practitioner/d1"}, "status": "tentative"},
                {"actor": {"reference": "Location/l1"}, "status": "accepted"},
                {"type": [{"text": "interpreter"}], "status": "needs-action"}
            ]
        })
    }

    #[test]
    fn appointment_from_literal() {
        let a = AppointmentInfo::from_json(&obj(appointment())).unwrap();
        assert_eq!(a.status, AppointmentStatus::Booked);
        assert_eq!(a.end.unwrap().range().0 - a.start.unwrap().range().0, 1800);
        assert_eq!(a.patients(), ["Patient/p1"]);
        assert_eq!(a.practitioners(), ["Practitioner/d1"]);
        assert_eq!(a.participants.len(), 4);
        assert_eq!(a.participants[3], Participant { actor: None, status: "needs-action".into() });
        assert_eq!(a.slots, ["Slot/s1"]);
        let shown = format!("{a:?}");
        assert!(!shown.contains("p1") && !shown.contains("d1") && !shown.contains("2024"), "{shown}");
        assert!(shown.contains("Booked"));
        for code in [
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
        ] {
            assert_eq!(AppointmentStatus::from_code(code).map(AppointmentStatus::code), Some(code));
        }
    }

    #[test]
    fn appointment_errors() {
        let mut v = appointment();
        v["status"] = json!("done");
        assert_eq!(
            AppointmentInfo::from_json(&obj(v)),
            Err(ModelError::UnknownCode { path: "Appointment.status".into() })
        );
        let mut v = appointment();
        v.as_object_mut().unwrap().remove("status");
        assert_eq!(AppointmentInfo::from_json(&obj(v)), Err(ModelError::Missing { path: "Appointment.status".into() }));
        let mut v = appointment();
        v["participant"][1].as_object_mut().unwrap().remove("status");
        assert_eq!(
            AppointmentInfo::from_json(&obj(v)),
            Err(ModelError::Missing { path: "Appointment.participant[1].status".into() })
        );
        let mut v = appointment();
        v["start"] = json!("2024-03-05");
        assert!(
            matches!(AppointmentInfo::from_json(&obj(v)), Err(ModelError::Date { path, .. }) if path == "Appointment.start")
        );
    }

    #[test]
    fn slot_from_literal() {
        let v = json!({"resourceType": "Slot", "id": "s1", "schedule": {"reference": "Schedule/x"}, "status": "busy-tentative",
                       "start": "2024-03-05T10:00:00Z", "end": "2024-03-05T10:15:00+00:00"});
        let s = SlotInfo::from_json(&obj(v.clone())).unwrap();
        assert_eq!((s.schedule.as_str(), s.status), ("Schedule/x", SlotStatus::BusyTentative));
        assert_eq!(s.end.range().0 - s.start.range().0, 900);
        let mut m = obj(v);
        m.remove("schedule");
        assert_eq!(SlotInfo::from_json(&m), Err(ModelError::Missing { path: "Slot.schedule.reference".into() }));
        m.insert("schedule".into(), json!({"reference": "Schedule/x"}));
        m.remove("end");
        assert_eq!(SlotInfo::from_json(&m), Err(ModelError::Missing { path: "Slot.end".into() }));
        assert!(!format!("{s:?}").contains("Schedule/x"));
    }

    fn consent(kind: Option<&str>, actors: &[&str], status: &str) -> ConsentInfo {
        let mut provision = json!({
            "actor": actors.iter().map(|a| json!({"role": {"text": "r"}, "reference": {"reference": a}})).collect::<Vec<_>>(),
            "period": {"start": "2024-01-01", "end": "2025"}
        });
        if actors.is_empty() {
            provision.as_object_mut().unwrap().remove("actor");
        }
        if let Some(k) = kind {
            provision["type"] = json!(k);
        }
        ConsentInfo::from_json(&obj(json!({
            "resourceType": "Consent", "status": status, "patient": {"reference": "Patient/p1"},
            "dateTime": "2024-01-01T00:00:00Z", "provision": provision
        })))
        .unwrap()
    }

    #[test]
    fn consent_denies() {
        let c = consent(Some("deny"), &["Practitioner/d1"], "active");
        assert_eq!(c.provision.as_ref().unwrap().actors, ["Practitioner/d1"]);
        assert!(c.provision.as_ref().unwrap().period.is_some_and(|(s, e)| s.is_some() && e.is_some()));
        assert!(c.denies("Practitioner/d1"));
        assert!(!c.denies("Practitioner/d2"));
        // A deny with no actors denies everyone.
        assert!(consent(Some("deny"), &[], "active").denies("Practitioner/d2"));
        // Only active consents, and only explicit denies, deny.
        assert!(!consent(Some("deny"), &[], "inactive").denies("Practitioner/d2"));
        assert!(!consent(Some("permit"), &["Practitioner/d1"], "active").denies("Practitioner/d1"));
        assert!(!consent(None, &["Practitioner/d1"], "active").denies("Practitioner/d1"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("d1") && !shown.contains("p1") && !shown.contains("2024"), "{shown}");
        let bad = json!({"resourceType": "Consent", "status": "active", "provision": {"type": "maybe"}});
        assert_eq!(
            ConsentInfo::from_json(&obj(bad)),
            Err(ModelError::UnknownCode { path: "Consent.provision.type".into() })
        );
    }

    #[test]
    fn care_team_from_literal() {
        let c = CareTeamInfo::from_json(&obj(json!({
            "resourceType": "CareTeam", "status": "active", "subject": {"reference": "Patient/p1"},
            "participant": [{"member": {"reference": "Practitioner/d1"}}, {"role": [{"text": "x"}]},
                            {"member": {"display": "someone"}}]
        })))
        .unwrap();
        assert_eq!((c.status.as_deref(), c.subject.as_deref()), (Some("active"), Some("Patient/p1")));
        assert_eq!(c.members, ["Practitioner/d1"]);
        assert!(!format!("{c:?}").contains("d1"));
        let bad = json!({"resourceType": "CareTeam", "participant": [{"member": "Practitioner/d1"}]});
        assert_eq!(
            CareTeamInfo::from_json(&obj(bad)),
            Err(ModelError::WrongType { path: "CareTeam.participant[0].member".into(), expected: "object" })
        );
    }

    #[test]
    fn official_examples() {
        if let Some(m) = example("Patient-example.json") {
            let p = PatientDemographics::from_json(&m).unwrap();
            assert_eq!(p.id.as_deref(), Some("example"));
            assert_eq!(p.names.len(), 3);
            assert_eq!(p.names[0].family.as_deref(), Some("Chalmers"));
            assert_eq!(p.names[0].given, ["Peter", "James"]);
            assert_eq!(p.gender, Some(Gender::Male));
            assert_eq!(p.birth_date, Some(PartialDateTime::parse_date("1974-12-25").unwrap()));
            assert_eq!(p.phones.len(), 3);
            assert_eq!(p.identifiers[0].value, "12345");
            assert!(!p.deceased);
            assert_eq!(
                (p.cities.as_slice(), p.postal_codes.as_slice()),
                (&["PleasantVille".to_owned()][..], &["3999".to_owned()][..])
            );
        }
        if let Some(m) = example("Appointment-example.json") {
            let a = AppointmentInfo::from_json(&m).unwrap();
            assert_eq!(a.status, AppointmentStatus::Booked);
            assert_eq!(a.patients(), ["Patient/example"]);
            assert_eq!(a.practitioners(), ["Practitioner/example"]);
            assert_eq!(a.end.unwrap().range().0 - a.start.unwrap().range().0, 2 * 3600);
        }
        if let Some(m) = example("Slot-1.json") {
            let s = SlotInfo::from_json(&m).unwrap();
            assert_eq!((s.schedule.as_str(), s.status), ("Schedule/example", SlotStatus::Busy));
            assert_eq!(s.end.range().0 - s.start.range().0, 15 * 60);
        }
        if let Some(m) = example("Consent-consent-example-basic.json") {
            let c = ConsentInfo::from_json(&m).unwrap();
            assert_eq!((c.status.as_str(), c.patient.as_deref()), ("active", Some("Patient/f001")));
            let p = c.provision.as_ref().unwrap();
            assert_eq!(p.kind, None);
            assert!(p.period.is_some_and(|(s, e)| s.is_some() && e.is_some()));
            assert!(!c.denies("Practitioner/example"));
        }
        if let Some(m) = example("Consent-consent-example-notOrg.json") {
            let c = ConsentInfo::from_json(&m).unwrap();
            assert!(c.denies("Organization/f001"));
            assert!(!c.denies("Organization/other"));
        }
        if let Some(m) = example("CareTeam-example.json") {
            let c = CareTeamInfo::from_json(&m).unwrap();
            assert_eq!(c.subject.as_deref(), Some("Patient/example"));
            assert_eq!(c.members, ["Patient/example", "#pr1"]);
        }
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(
            key in prop::sample::select(vec!["name", "given", "telecom", "birthDate", "status", "participant", "actor",
                                              "provision", "start", "end", "schedule", "member", "address", "type"]),
            val in prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool),
                               "\\PC{0,20}".prop_map(Value::String), any::<i64>().prop_map(Value::from),
                               Just(json!([null, {}, "x", 1])), Just(json!({"reference": 5, "type": [], "actor": {}}))],
        ) {
            for rt in ["Patient", "Appointment", "Slot", "Consent", "CareTeam"] {
                let mut m = Map::new();
                m.insert("resourceType".into(), json!(rt));
                m.insert(key.into(), val.clone());
                m.insert("participant".into(), json!([{ key: val.clone() }]));
                m.insert("provision".into(), json!({ key: val.clone() }));
                let _ = PatientDemographics::from_json(&m);
                let _ = AppointmentInfo::from_json(&m);
                let _ = SlotInfo::from_json(&m);
                let _ = ConsentInfo::from_json(&m);
                let _ = CareTeamInfo::from_json(&m);
            }
        }
    }
}
