//! Explanations: legitimate reasons for an access found in Haven's own data
//! (appointments, encounters, care teams, orders and notes, departments), and
//! the facts that make an access sensitive (family, coworker, VIP, deceased).
//!
//! After Fabbri & LeFevre's explanation-based auditing: most accesses in a
//! hospital are explained by a clinical relationship, so an access-based
//! alert is first checked for one and auto-resolved when it is found.
//! Names and addresses are kept only as 64-bit hashes, and `Debug` prints
//! counts, never values.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// One access to check: who, which patient, when.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    /// The actor id (`account:..`).
    pub actor: &'a str,
    /// The actor's linked FHIR resource (`Practitioner/..`, `Patient/..`).
    pub actor_fhir: Option<&'a str>,
    /// The role acted in.
    pub role: Option<&'a str>,
    /// The account an agent acted for.
    pub on_behalf_of: Option<&'a str>,
    /// The patient id.
    pub patient: &'a str,
    /// Unix microseconds.
    pub time: i64,
    /// The audit action.
    pub action: &'a str,
}

/// What kind of legitimate reason was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplanationKind {
    /// The patient's own record.
    OwnRecord,
    /// An agent acting for the patient.
    ActingForPatient,
    /// An appointment with the user as participant.
    Appointment,
    /// An encounter with the user as participant.
    Encounter,
    /// An emergency encounter the user takes part in.
    EmergencyEncounter,
    /// Care team membership.
    CareTeam,
    /// An explicit care assignment (a referral, a handover, a shift).
    Assignment,
    /// An order the user placed or is to perform.
    Order,
    /// A note or result the user authored.
    Note,
    /// The user's department is treating the patient.
    Department,
    /// The role's duty (billing an encounter, scheduling an appointment).
    RoleDuty,
    /// A recent, explained access by the same user to the same patient.
    RepeatAccess,
}

impl ExplanationKind {
    /// The name used in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            ExplanationKind::OwnRecord => "own_record",
            ExplanationKind::ActingForPatient => "acting_for_patient",
            ExplanationKind::Appointment => "appointment",
            ExplanationKind::Encounter => "encounter",
            ExplanationKind::EmergencyEncounter => "emergency_encounter",
            ExplanationKind::CareTeam => "care_team",
            ExplanationKind::Assignment => "assignment",
            ExplanationKind::Order => "order",
            ExplanationKind::Note => "note",
            ExplanationKind::Department => "department",
            ExplanationKind::RoleDuty => "role_duty",
            ExplanationKind::RepeatAccess => "repeat_access",
        }
    }
}

/// A legitimate reason for an access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The kind of reason.
    pub kind: ExplanationKind,
    /// The resource that shows it (`Appointment/123`), if any.
    pub reference: Option<String>,
}

impl Explanation {
    /// The reason in plain words (ids only).
    pub fn text(&self) -> String {
        let what = match self.kind {
            ExplanationKind::OwnRecord => "the patient's own record",
            ExplanationKind::ActingForPatient => "an assistant acting for the patient",
            ExplanationKind::Appointment => "an appointment with the user",
            ExplanationKind::Encounter => "an encounter the user takes part in",
            ExplanationKind::EmergencyEncounter => "an emergency encounter the user takes part in",
            ExplanationKind::CareTeam => "the user is on the patient's care team",
            ExplanationKind::Assignment => "the user is assigned to the patient's care",
            ExplanationKind::Order => "an order the user placed or performs",
            ExplanationKind::Note => "a note or result the user authored",
            ExplanationKind::Department => "the user's department is treating the patient",
            ExplanationKind::RoleDuty => "the role's duty for an encounter or appointment of the patient",
            ExplanationKind::RepeatAccess => "a recent explained access by the same user",
        };
        match &self.reference {
            Some(r) => format!("{what} ({r})"),
            None => what.to_string(),
        }
    }
}

/// Facts that make an access to a patient sensitive, relative to the user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatientFacts {
    /// The patient shares the user's surname.
    pub same_surname: bool,
    /// The patient shares the user's address.
    pub same_address: bool,
    /// The patient is a staff member (not the user).
    pub coworker: bool,
    /// VIP, celebrity or restricted/very-restricted confidentiality.
    pub vip: bool,
    /// The patient has died.
    pub deceased: bool,
    /// The user's own patient record.
    pub is_self: bool,
}

impl PatientFacts {
    /// Shares the user's surname or address.
    pub fn family(&self) -> bool {
        !self.is_self && (self.same_surname || self.same_address)
    }
}

/// Where detection looks for legitimate reasons and sensitive facts.
pub trait Explainer: Send + Sync {
    /// A legitimate reason for the access, or None.
    fn explain(&self, access: &Access<'_>) -> Option<Explanation>;

    /// The facts about the patient, relative to the user.
    fn facts(&self, access: &Access<'_>) -> PatientFacts;
}

/// An explainer that explains nothing and knows no facts (for rules that need neither).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoExplainer;

impl Explainer for NoExplainer {
    fn explain(&self, _: &Access<'_>) -> Option<Explanation> {
        None
    }

    fn facts(&self, _: &Access<'_>) -> PatientFacts {
        PatientFacts::default()
    }
}

/// A kind of relationship between a practitioner and a patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Appointment participant.
    Appointment,
    /// Encounter participant.
    Encounter,
    /// Emergency encounter participant.
    EmergencyEncounter,
    /// Care team member.
    CareTeam,
    /// Explicitly assigned to the patient's care.
    Assignment,
    /// Orderer or performer of a ServiceRequest/MedicationRequest.
    Order,
    /// Author of a note, document or result.
    Note,
}

impl LinkKind {
    fn explanation(self) -> ExplanationKind {
        match self {
            LinkKind::Appointment => ExplanationKind::Appointment,
            LinkKind::Encounter => ExplanationKind::Encounter,
            LinkKind::EmergencyEncounter => ExplanationKind::EmergencyEncounter,
            LinkKind::CareTeam => ExplanationKind::CareTeam,
            LinkKind::Assignment => ExplanationKind::Assignment,
            LinkKind::Order => ExplanationKind::Order,
            LinkKind::Note => ExplanationKind::Note,
        }
    }

    /// How long before and after its period the relationship explains access
    /// (chart review before a visit, documentation and results after it).
    fn slack(self) -> (i64, i64) {
        match self {
            LinkKind::Appointment => (DAY, 3 * DAY),
            LinkKind::Encounter | LinkKind::EmergencyEncounter => (2 * HOUR, 7 * DAY),
            LinkKind::CareTeam | LinkKind::Assignment => (0, DAY),
            LinkKind::Order | LinkKind::Note => (DAY, 14 * DAY),
        }
    }
}

#[derive(Clone, Debug)]
struct Link {
    kind: LinkKind,
    from: i64,
    to: i64,
    reference: Option<Box<str>>,
}

#[derive(Clone, Debug, Default)]
struct Staff {
    surname: Option<u64>,
    address: Option<u64>,
    departments: Vec<u32>,
}

#[derive(Clone, Debug, Default)]
struct PatientInfo {
    surname: Option<u64>,
    address: Option<u64>,
    vip: bool,
    deceased: bool,
    employee: bool,
    /// The practitioner this patient record belongs to (a staff member's own record).
    staff: Option<u32>,
    conditions: Vec<u32>,
    /// (department, from, to) of encounters and appointments.
    care: Vec<(u32, i64, i64)>,
}

/// A staff member's profile for the index (hashed on the way in).
#[derive(Clone, Debug, Default)]
pub struct StaffProfile<'a> {
    /// Family name.
    pub surname: Option<&'a str>,
    /// Home address, one line.
    pub address: Option<&'a str>,
    /// Departments (organisation references or names).
    pub departments: Vec<&'a str>,
}

/// A patient's profile for the index (hashed on the way in).
#[derive(Clone, Debug, Default)]
pub struct PatientProfile<'a> {
    /// Family name.
    pub surname: Option<&'a str>,
    /// Home address, one line.
    pub address: Option<&'a str>,
    /// VIP / celebrity / restricted.
    pub vip: bool,
    /// Deceased.
    pub deceased: bool,
    /// Employee record (security label EMP).
    pub employee: bool,
    /// The practitioner (`Practitioner/..`) whose own record this is.
    pub staff: Option<&'a str>,
    /// Condition codes.
    pub conditions: Vec<&'a str>,
}

/// An in-memory index of who is related to which patient, and how.
#[derive(Clone, Default)]
pub struct RelationshipIndex {
    ids: HashMap<Box<str>, u32>,
    staff: HashMap<u32, Staff>,
    patients: HashMap<u32, PatientInfo>,
    links: HashMap<(u32, u32), Vec<Link>>,
    /// Department ids treating each condition code id.
    condition_departments: HashMap<u32, Vec<u32>>,
    /// `account:..` → its linked FHIR resource id.
    accounts: HashMap<Box<str>, u32>,
}

impl fmt::Debug for RelationshipIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: the index holds (hashed) demographics.
        f.debug_struct("RelationshipIndex")
            .field("staff", &self.staff.len())
            .field("patients", &self.patients.len())
            .field("relationships", &self.links.len())
            .finish()
    }
}

/// FNV-1a of the normalised text: lower case, single spaces.
fn hash_text(s: &str) -> Option<u64> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut any = false;
    let mut space = false;
    for c in s.trim().chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() || c == ',' {
            space = true;
            continue;
        }
        if space && any {
            h = (h ^ u64::from(b' ')).wrapping_mul(0x100_0000_01b3);
        }
        space = false;
        any = true;
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    any.then_some(h)
}

/// `Patient/123` → `123`; a bare id stays as it is.
fn patient_id(reference: &str) -> &str {
    reference.strip_prefix("Patient/").unwrap_or(reference)
}

impl RelationshipIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(s.into(), i);
        i
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// How many patients and staff members it knows.
    pub fn len(&self) -> (usize, usize) {
        (self.patients.len(), self.staff.len())
    }

    /// Whether it knows nothing.
    pub fn is_empty(&self) -> bool {
        self.patients.is_empty() && self.staff.is_empty()
    }

    /// Adds (or extends) a staff member, by practitioner reference (`Practitioner/..`).
    pub fn add_staff(&mut self, practitioner: &str, profile: &StaffProfile<'_>) {
        let depts: Vec<u32> = profile.departments.iter().map(|d| self.id(d)).collect();
        let p = self.id(practitioner);
        let s = self.staff.entry(p).or_default();
        s.surname = profile.surname.and_then(hash_text).or(s.surname);
        s.address = profile.address.and_then(hash_text).or(s.address);
        for d in depts {
            if !s.departments.contains(&d) {
                s.departments.push(d);
            }
        }
    }

    /// Adds (or extends) a patient, by id (or `Patient/..`).
    pub fn add_patient(&mut self, patient: &str, profile: &PatientProfile<'_>) {
        let staff = profile.staff.map(|s| self.id(s));
        let conditions: Vec<u32> = profile.conditions.iter().map(|c| self.id(c)).collect();
        let p = self.id(patient_id(patient));
        let info = self.patients.entry(p).or_default();
        info.surname = profile.surname.and_then(hash_text).or(info.surname);
        info.address = profile.address.and_then(hash_text).or(info.address);
        info.vip |= profile.vip;
        info.deceased |= profile.deceased;
        info.employee |= profile.employee || staff.is_some();
        info.staff = staff.or(info.staff);
        for c in conditions {
            if !info.conditions.contains(&c) {
                info.conditions.push(c);
            }
        }
    }

    /// Records that an account (`account:..`) is linked to a FHIR resource.
    pub fn link_account(&mut self, account: &str, fhir: &str) {
        let target = if fhir.starts_with("Patient/") { self.id(patient_id(fhir)) } else { self.id(fhir) };
        self.accounts.insert(account.into(), target);
    }

    /// Records that `department` treats `condition` (a code).
    pub fn add_condition_department(&mut self, condition: &str, department: &str) {
        let (c, d) = (self.id(condition), self.id(department));
        let v = self.condition_departments.entry(c).or_default();
        if !v.contains(&d) {
            v.push(d);
        }
    }

    /// Adds a relationship between a practitioner and a patient over `[from, to]` (unix µs).
    pub fn add_link(
        &mut self,
        practitioner: &str,
        patient: &str,
        kind: LinkKind,
        from: i64,
        to: i64,
        reference: Option<&str>,
    ) {
        let (pr, pa) = (self.id(practitioner), self.id(patient_id(patient)));
        self.links.entry((pr, pa)).or_default().push(Link {
            kind,
            from,
            to: to.max(from),
            reference: reference.map(Into::into),
        });
    }

    /// Records that a department cares for the patient over `[from, to]`
    /// (an encounter or appointment there), which also explains access by
    /// its staff and by billing/scheduling.
    pub fn add_care(&mut self, patient: &str, department: &str, from: i64, to: i64) {
        let d = self.id(department);
        let p = self.id(patient_id(patient));
        self.patients.entry(p).or_default().care.push((d, from, to.max(from)));
    }

    /// Builds an index from FHIR resources (JSON): Patient, Practitioner,
    /// PractitionerRole, Appointment, Encounter, CareTeam, Condition,
    /// ServiceRequest, MedicationRequest, DocumentReference, Composition,
    /// Observation, DiagnosticReport. Other types and unusable elements are skipped.
    pub fn from_fhir<'a>(resources: impl IntoIterator<Item = &'a Value>) -> RelationshipIndex {
        let mut idx = RelationshipIndex::new();
        for r in resources {
            idx.add_fhir(r);
        }
        idx
    }

    /// Adds one FHIR resource (see [`RelationshipIndex::from_fhir`]).
    pub fn add_fhir(&mut self, r: &Value) {
        let rtype = r["resourceType"].as_str().unwrap_or_default();
        let id = r["id"].as_str().unwrap_or_default();
        let reference = format!("{rtype}/{id}");
        match rtype {
            "Patient" if !id.is_empty() => {
                let labels = security_codes(r);
                let staff = r["identifier"].as_array().into_iter().flatten().find_map(|i| {
                    (i["system"].as_str() == Some(EMPLOYEE_SYSTEM)).then(|| i["value"].as_str()).flatten()
                });
                let staff_ref = staff.map(|s| format!("Practitioner/{s}"));
                let deceased = r["deceasedBoolean"].as_bool().unwrap_or(false) || r["deceasedDateTime"].is_string();
                let surname = r["name"][0]["family"].as_str();
                let address = address_line(&r["address"][0]);
                self.add_patient(
                    id,
                    &PatientProfile {
                        surname,
                        address: address.as_deref(),
                        vip: labels.iter().any(|c| matches!(*c, "VIP" | "CEL" | "R" | "V")),
                        deceased,
                        employee: labels.contains(&"EMP"),
                        staff: staff_ref.as_deref(),
                        conditions: Vec::new(),
                    },
                );
            }
            "Practitioner" if !id.is_empty() => {
                let address = address_line(&r["address"][0]);
                self.add_staff(
                    &reference,
                    &StaffProfile {
                        surname: r["name"][0]["family"].as_str(),
                        address: address.as_deref(),
                        departments: vec![],
                    },
                );
            }
            "PractitionerRole" => {
                if let (Some(p), Some(o)) =
                    (r["practitioner"]["reference"].as_str(), r["organization"]["reference"].as_str())
                {
                    self.add_staff(p, &StaffProfile { departments: vec![o], ..Default::default() });
                }
            }
            "Condition" => {
                if let (Some(s), Some(code)) = (r["subject"]["reference"].as_str(), first_code(&r["code"])) {
                    self.add_patient(s, &PatientProfile { conditions: vec![code], ..Default::default() });
                }
            }
            "Appointment" => {
                let (from, to) = (instant(&r["start"]), instant(&r["end"]));
                let Some(from) = from else { return };
                let to = to.unwrap_or(from + HOUR);
                let actors: Vec<&str> = r["participant"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["actor"]["reference"].as_str())
                    .collect();
                let dept = r["serviceCategory"][0]["coding"][0]["code"].as_str();
                for pa in actors.iter().filter(|a| a.starts_with("Patient/")) {
                    for pr in actors.iter().filter(|a| a.starts_with("Practitioner/")) {
                        self.add_link(pr, pa, LinkKind::Appointment, from, to, Some(&reference));
                    }
                    if let Some(d) = dept {
                        self.add_care(pa, d, from, to);
                    }
                }
            }
            "Encounter" => {
                let Some(subject) = r["subject"]["reference"].as_str() else { return };
                let Some(from) = instant(&r["period"]["start"]) else { return };
                let to = instant(&r["period"]["end"]).unwrap_or(i64::MAX / 2);
                let emergency = r["class"]["code"].as_str() == Some("EMER");
                let kind = if emergency { LinkKind::EmergencyEncounter } else { LinkKind::Encounter };
                for p in r["participant"].as_array().into_iter().flatten() {
                    if let Some(pr) = p["individual"]["reference"].as_str() {
                        self.add_link(pr, subject, kind, from, to, Some(&reference));
                    }
                }
                if let Some(d) = r["serviceProvider"]["reference"].as_str() {
                    self.add_care(subject, d, from, to);
                    for reason in r["reasonCode"].as_array().into_iter().flatten() {
                        if let Some(code) = first_code(reason) {
                            self.add_condition_department(code, d);
                        }
                    }
                }
            }
            "CareTeam" => {
                let Some(subject) = r["subject"]["reference"].as_str() else { return };
                let from = instant(&r["period"]["start"]).unwrap_or(0);
                let to = instant(&r["period"]["end"]).unwrap_or(i64::MAX / 2);
                for p in r["participant"].as_array().into_iter().flatten() {
                    if let Some(pr) = p["member"]["reference"].as_str().filter(|m| m.starts_with("Practitioner/")) {
                        self.add_link(pr, subject, LinkKind::CareTeam, from, to, Some(&reference));
                    }
                }
            }
            "ServiceRequest" | "MedicationRequest" => {
                let Some(subject) = r["subject"]["reference"].as_str() else { return };
                let Some(at) = instant(&r["authoredOn"]) else { return };
                for key in ["requester", "performer"] {
                    let refs: Vec<&str> = match &r[key] {
                        Value::Array(a) => a.iter().filter_map(|x| x["reference"].as_str()).collect(),
                        v => v["reference"].as_str().into_iter().collect(),
                    };
                    for pr in refs.into_iter().filter(|x| x.starts_with("Practitioner/")) {
                        self.add_link(pr, subject, LinkKind::Order, at, at, Some(&reference));
                    }
                }
            }
            "DocumentReference" | "Composition" | "Observation" | "DiagnosticReport" => {
                let Some(subject) = r["subject"]["reference"].as_str() else { return };
                let at = ["date", "effectiveDateTime", "issued"].iter().find_map(|k| instant(&r[*k]));
                let Some(at) = at else { return };
                let authors: Vec<&str> = ["author", "performer"]
                    .iter()
                    .flat_map(|k| r[*k].as_array().into_iter().flatten())
                    .filter_map(|a| a["reference"].as_str())
                    .filter(|a| a.starts_with("Practitioner/"))
                    .collect();
                for pr in authors {
                    self.add_link(pr, subject, LinkKind::Note, at, at, Some(&reference));
                }
            }
            _ => {}
        }
    }

    /// The practitioner (or patient) id an access's actor maps to.
    fn actor_id(&self, a: &Access<'_>) -> Option<u32> {
        if let Some(f) = a.actor_fhir {
            if let Some(p) = f.strip_prefix("Patient/") {
                return self.get(p);
            }
            if let Some(i) = self.get(f) {
                return Some(i);
            }
        }
        self.accounts.get(a.actor).copied()
    }
}

/// The identifier system that links a staff member's own Patient record to their Practitioner id.
pub const EMPLOYEE_SYSTEM: &str = "urn:haven:employee";

fn security_codes(r: &Value) -> Vec<&str> {
    let mut out: Vec<&str> =
        r["meta"]["security"].as_array().into_iter().flatten().filter_map(|c| c["code"].as_str()).collect();
    out.extend(r["meta"]["tag"].as_array().into_iter().flatten().filter_map(|c| c["code"].as_str()));
    out
}

fn first_code(concept: &Value) -> Option<&str> {
    concept["coding"][0]["code"].as_str()
}

fn address_line(a: &Value) -> Option<String> {
    let lines: Vec<&str> = a["line"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if lines.is_empty() {
        return None;
    }
    let postal = a["postalCode"].as_str().unwrap_or_default();
    Some(format!("{} {postal}", lines.join(" ")))
}

/// An RFC 3339 instant (or a date) in unix microseconds.
fn instant(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let fmt = time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &fmt) {
        return i64::try_from(t.unix_timestamp_nanos() / 1000).ok();
    }
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp() * 1_000_000)
}

/// A relationship index that grows while detection reads it: the server
/// adds each appointment, encounter or care team as it is written, so an
/// access right after is explained.
#[derive(Debug, Default)]
pub struct LiveIndex(std::sync::RwLock<RelationshipIndex>);

impl LiveIndex {
    /// Starts from `index`.
    pub fn new(index: RelationshipIndex) -> Self {
        LiveIndex(std::sync::RwLock::new(index))
    }

    /// Adds one FHIR resource (see [`RelationshipIndex::add_fhir`]).
    pub fn add_fhir(&self, r: &Value) {
        // A poisoned lock only means a panic elsewhere; the index is still usable.
        let mut idx = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        idx.add_fhir(r);
    }

    /// Adds a relationship (see [`RelationshipIndex::add_link`]).
    pub fn add_link(
        &self,
        practitioner: &str,
        patient: &str,
        kind: LinkKind,
        from: i64,
        to: i64,
        reference: Option<&str>,
    ) {
        let mut idx = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        idx.add_link(practitioner, patient, kind, from, to, reference);
    }

    /// How many patients and staff members it knows.
    pub fn len(&self) -> (usize, usize) {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    /// Whether it knows nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

impl Explainer for LiveIndex {
    fn explain(&self, access: &Access<'_>) -> Option<Explanation> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).explain(access)
    }

    fn facts(&self, access: &Access<'_>) -> PatientFacts {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).facts(access)
    }
}

impl Explainer for RelationshipIndex {
    fn explain(&self, a: &Access<'_>) -> Option<Explanation> {
        let patient = self.get(a.patient)?;
        let own = |kind| Some(Explanation { kind, reference: None });
        if a.actor_fhir.and_then(|f| f.strip_prefix("Patient/")) == Some(a.patient) {
            return own(ExplanationKind::OwnRecord);
        }
        if let Some(b) = a.on_behalf_of
            && self.accounts.get(b) == Some(&patient)
        {
            return own(ExplanationKind::ActingForPatient);
        }
        let actor = self.actor_id(a);
        if actor == Some(patient) {
            return own(ExplanationKind::OwnRecord);
        }
        if let Some(actor) = actor
            && let Some(links) = self.links.get(&(actor, patient))
        {
            // The strongest relationship in force wins (a care team over a department).
            let best = links
                .iter()
                .filter(|l| {
                    let (before, after) = l.kind.slack();
                    a.time >= l.from.saturating_sub(before) && a.time <= l.to.saturating_add(after)
                })
                .min_by_key(|l| l.kind as u8);
            if let Some(l) = best {
                return Some(Explanation {
                    kind: l.kind.explanation(),
                    reference: l.reference.as_deref().map(String::from),
                });
            }
        }
        let info = self.patients.get(&patient)?;
        let active = |slack_before: i64, slack_after: i64, dept: Option<&[u32]>| {
            info.care.iter().any(|(d, from, to)| {
                dept.is_none_or(|ds| ds.contains(d))
                    && a.time >= from.saturating_sub(slack_before)
                    && a.time <= to.saturating_add(slack_after)
            })
        };
        match a.role {
            Some("billing") if active(0, 60 * DAY, None) => return own(ExplanationKind::RoleDuty),
            Some("scheduler") if active(30 * DAY, 7 * DAY, None) => return own(ExplanationKind::RoleDuty),
            _ => {}
        }
        let staff = actor.and_then(|i| self.staff.get(&i))?;
        if staff.departments.is_empty() {
            return None;
        }
        if active(DAY, 7 * DAY, Some(&staff.departments)) {
            return own(ExplanationKind::Department);
        }
        // The department treats one of the patient's conditions and the
        // patient is under the hospital's care now.
        let treats = info.conditions.iter().any(|c| {
            self.condition_departments.get(c).is_some_and(|ds| ds.iter().any(|d| staff.departments.contains(d)))
        });
        if treats && active(7 * DAY, 14 * DAY, None) {
            return own(ExplanationKind::Department);
        }
        None
    }

    fn facts(&self, a: &Access<'_>) -> PatientFacts {
        let Some(info) = self.get(a.patient).and_then(|p| self.patients.get(&p)) else {
            return PatientFacts::default();
        };
        let actor = self.actor_id(a);
        let is_self = actor.is_some_and(|x| Some(x) == self.get(a.patient) || info.staff == Some(x));
        let staff = actor.and_then(|i| self.staff.get(&i));
        let same = |x: Option<u64>, y: Option<u64>| matches!((x, y), (Some(x), Some(y)) if x == y);
        PatientFacts {
            same_surname: !is_self && staff.is_some_and(|s| same(s.surname, info.surname)),
            same_address: !is_self && staff.is_some_and(|s| same(s.address, info.address)),
            coworker: !is_self && info.employee,
            vip: info.vip,
            deceased: info.deceased,
            is_self,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn access<'a>(pr: &'a str, patient: &'a str, time: i64) -> Access<'a> {
        Access {
            actor: "account:1",
            actor_fhir: Some(pr),
            role: Some("clinician"),
            on_behalf_of: None,
            patient,
            time,
            action: "fhir.read",
        }
    }

    #[test]
    fn builds_from_fhir_and_explains() {
        let resources = [
            json!({"resourceType":"Practitioner","id":"d1","name":[{"family":"Okafor"}],"address":[{"line":["1 Elm St"],"postalCode":"12345"}]}),
            json!({"resourceType":"PractitionerRole","practitioner":{"reference":"Practitioner/d1"},"organization":{"reference":"Organization/cardio"}}),
            json!({"resourceType":"Patient","id":"p1","name":[{"family":"okafor "}],"address":[{"line":["1 elm st"],"postalCode":"12345"}]}),
            json!({"resourceType":"Patient","id":"p2","meta":{"security":[{"code":"VIP"}]},"deceasedBoolean":true}),
            json!({"resourceType":"Patient","id":"p3","identifier":[{"system":EMPLOYEE_SYSTEM,"value":"d9"}]}),
            json!({"resourceType":"Appointment","id":"a1","start":"2026-01-05T09:00:00Z","end":"2026-01-05T09:30:00Z",
                "participant":[{"actor":{"reference":"Patient/p2"}},{"actor":{"reference":"Practitioner/d1"}}]}),
            json!({"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p3"},"class":{"code":"IMP"},
                "period":{"start":"2026-01-01T00:00:00Z","end":"2026-01-03T00:00:00Z"},"serviceProvider":{"reference":"Organization/cardio"}}),
        ];
        let idx = RelationshipIndex::from_fhir(resources.iter());
        assert_eq!(idx.len(), (3, 1));
        assert!(!format!("{idx:?}").contains("kafor"));
        let t = instant(&json!("2026-01-05T08:00:00Z")).unwrap();
        let e = idx.explain(&access("Practitioner/d1", "p2", t)).unwrap();
        assert_eq!(e.kind, ExplanationKind::Appointment);
        assert_eq!(e.reference.as_deref(), Some("Appointment/a1"));
        assert!(idx.explain(&access("Practitioner/d1", "p2", t + 10 * DAY)).is_none());
        // Department: p3's encounter in cardiology.
        let t2 = instant(&json!("2026-01-02T00:00:00Z")).unwrap();
        assert_eq!(idx.explain(&access("Practitioner/d1", "p3", t2)).unwrap().kind, ExplanationKind::Department);
        assert!(idx.explain(&access("Practitioner/d1", "p1", t2)).is_none());

        let f = idx.facts(&access("Practitioner/d1", "p1", t));
        assert!(f.same_surname && f.same_address && f.family() && !f.vip);
        let f = idx.facts(&access("Practitioner/d1", "p2", t));
        assert!(f.vip && f.deceased && !f.family());
        assert!(idx.facts(&access("Practitioner/d1", "p3", t)).coworker);
        // A staff member opening their own record is not a coworker access.
        let f = idx.facts(&access("Practitioner/d9", "p3", t));
        assert!(f.is_self && !f.coworker);
    }

    #[test]
    fn role_duties_and_agents() {
        let mut idx = RelationshipIndex::new();
        idx.add_patient("p1", &PatientProfile::default());
        idx.add_care("p1", "ed", 100 * DAY, 101 * DAY);
        idx.link_account("account:pt1", "Patient/p1");
        let mut a = access("Practitioner/x", "p1", 120 * DAY);
        a.role = Some("billing");
        assert_eq!(idx.explain(&a).unwrap().kind, ExplanationKind::RoleDuty);
        a.time = 200 * DAY;
        assert!(idx.explain(&a).is_none());
        a.role = Some("agent");
        a.on_behalf_of = Some("account:pt1");
        assert_eq!(idx.explain(&a).unwrap().kind, ExplanationKind::ActingForPatient);
    }

    #[test]
    fn hashes_normalise() {
        assert_eq!(hash_text(" 1 Elm  St, "), hash_text("1 elm st"));
        assert_eq!(hash_text("   "), None);
    }
}
