//! The dataset `haven demo` loads: a small, fully synthetic clinic written
//! for Haven. Every person, number and note is invented; phone numbers are in
//! the 555-01xx fiction range, e-mail addresses use example.org, and every
//! resource carries the `HTEST` (test health data) security tag.
//!
//! The eleven resources of `demo/resources.json` are re-created here in code
//! with the same types and ids (enriched, e.g. SNOMED CT codes next to the
//! ICD-10-CM ones), so links to them (`Patient/demo-patient-maria`,
//! `Practitioner/demo-dr-rivera`, ...) stay valid. Keeping one source of truth
//! in code, instead of merging the file at run time, means the dataset cannot
//! silently diverge from what the tests below check; a test asserts that every
//! id of the file is still produced.
//!
//! Ids are fixed strings, so re-running the demo over the same data directory
//! updates resources in place. Only future slots and booked appointments carry
//! their date in the id: a slot *is* a point in time, and an appointment keeps
//! pointing at the slot it occupies.

use serde_json::{Value, json};
use time::{Date, Duration, Weekday};

const ORG: &str = "demo-clinic";
const LOC_MAIN: &str = "demo-location-main";
const LOC_ANNEX: &str = "demo-location-annex";

const MARIA: &str = "demo-patient-maria";
const JAMES: &str = "demo-patient-james";
const PRIYA: &str = "demo-patient-priya";
const TOMAS: &str = "demo-patient-tomas";
const AMARA: &str = "demo-patient-amara";

const COND_MARIA_HTN: &str = "demo-cond-maria-htn";
const COND_JAMES_AFIB: &str = "demo-cond-james-afib";
const COND_JAMES_HLD: &str = "demo-cond-james-hld";
const COND_PRIYA_ASTHMA: &str = "demo-cond-priya-asthma";
const COND_TOMAS_T2DM: &str = "demo-cond-tomas-t2dm";

const SNOMED: &str = "http://snomed.info/sct";
const LOINC: &str = "http://loinc.org";
const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const CVX: &str = "http://hl7.org/fhir/sid/cvx";
const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
const UCUM: &str = "http://unitsofmeasure.org";
const NPI: &str = "http://hl7.org/fhir/sid/us-npi";
const MRN: &str = "https://demo.haven.invalid/mrn";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const APPOINTMENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v2-0276";

/// Days after `today` that get bookable slots.
const SLOT_DAYS: i64 = 14;
/// Days after `today` that the schedules' planning horizon covers.
const HORIZON_DAYS: i64 = 28;
/// Slot starts, in minutes after midnight UTC: 09:00 to 11:30, 30 minutes each.
const SLOT_STARTS: [u16; 6] = [540, 570, 600, 630, 660, 690];
const SLOT_MINUTES: u16 = 30;

/// A clinician of the demo clinic.
struct Clinician {
    /// Short name used in slot ids.
    key: &'static str,
    id: &'static str,
    given: &'static str,
    family: &'static str,
    prefix: &'static str,
    suffix: &'static str,
    gender: &'static str,
    qualification: &'static str,
    /// Luhn-valid (with the 80840 prefix) but starting with 9: issued NPIs
    /// start with 1 or 2, so these can never name a real clinician.
    npi: &'static str,
    email: &'static str,
    role: (&'static str, &'static str),
    specialty: (&'static str, &'static str),
    location: &'static str,
}

const RIVERA: Clinician = Clinician {
    key: "rivera",
    id: "demo-dr-rivera",
    given: "Elena",
    family: "Rivera",
    prefix: "Dr.",
    suffix: "MD",
    gender: "female",
    qualification: "MD, Family Medicine",
    npi: "9000001013",
    email: "elena.rivera@example.org",
    role: ("doctor", "Doctor"),
    specialty: ("419772000", "Family practice"),
    location: LOC_MAIN,
};

const OSEI: Clinician = Clinician {
    key: "osei",
    id: "demo-dr-osei",
    given: "Samuel",
    family: "Osei",
    prefix: "Dr.",
    suffix: "MD",
    gender: "male",
    qualification: "MD, Cardiology",
    npi: "9000002029",
    email: "samuel.osei@example.org",
    role: ("doctor", "Doctor"),
    specialty: ("394579002", "Cardiology"),
    location: LOC_ANNEX,
};

const BROOKS: Clinician = Clinician {
    key: "brooks",
    id: "demo-np-brooks",
    given: "Aiyana",
    family: "Brooks",
    prefix: "",
    suffix: "FNP",
    gender: "female",
    qualification: "FNP, Family Nurse Practitioner",
    npi: "9000003035",
    email: "aiyana.brooks@example.org",
    role: ("nurse", "Nurse"),
    specialty: ("419772000", "Family practice"),
    location: LOC_MAIN,
};

const CLINICIANS: [&Clinician; 3] = [&RIVERA, &OSEI, &BROOKS];

/// A past visit: a fulfilled appointment and its finished encounter.
struct Visit {
    /// Names the encounter (`demo-enc-KEY`) and appointment (`demo-appt-visit-KEY`).
    key: &'static str,
    patient: &'static str,
    clinician: &'static Clinician,
    days_ago: i64,
    /// Start, in minutes after midnight UTC.
    start: u16,
    kind: (&'static str, &'static str),
    reason: &'static str,
    condition: Option<&'static str>,
}

const VISIT_MARIA_1: Visit = Visit {
    key: "maria-1",
    patient: MARIA,
    clinician: &RIVERA,
    days_ago: 42,
    start: 570,
    kind: ("390906007", "Follow-up encounter"),
    reason: "Hypertension follow-up",
    condition: Some(COND_MARIA_HTN),
};

const VISIT_MARIA_2: Visit = Visit {
    key: "maria-2",
    patient: MARIA,
    clinician: &BROOKS,
    days_ago: 161,
    start: 600,
    kind: ("185349003", "Encounter for check up"),
    reason: "Annual wellness visit",
    condition: None,
};

const VISIT_JAMES_1: Visit = Visit {
    key: "james-1",
    patient: JAMES,
    clinician: &OSEI,
    days_ago: 28,
    start: 660,
    kind: ("390906007", "Follow-up encounter"),
    reason: "Atrial fibrillation review",
    condition: Some(COND_JAMES_AFIB),
};

const VISIT_PRIYA_1: Visit = Visit {
    key: "priya-1",
    patient: PRIYA,
    clinician: &RIVERA,
    days_ago: 70,
    start: 540,
    kind: ("390906007", "Follow-up encounter"),
    reason: "Asthma review",
    condition: Some(COND_PRIYA_ASTHMA),
};

const VISIT_TOMAS_1: Visit = Visit {
    key: "tomas-1",
    patient: TOMAS,
    clinician: &BROOKS,
    days_ago: 21,
    start: 630,
    kind: ("390906007", "Follow-up encounter"),
    reason: "Diabetes check",
    condition: Some(COND_TOMAS_T2DM),
};

const VISITS: [&Visit; 5] = [&VISIT_MARIA_1, &VISIT_MARIA_2, &VISIT_JAMES_1, &VISIT_PRIYA_1, &VISIT_TOMAS_1];

/// A future appointment, booked into a slot.
struct Booking {
    /// Which weekday after `today` (0 = the first one).
    weekday: usize,
    start: u16,
    clinician: &'static Clinician,
    patient: &'static str,
    /// Short patient name used in the appointment id.
    who: &'static str,
    kind: (&'static str, &'static str),
    description: &'static str,
    condition: Option<&'static str>,
}

const BOOKINGS: [Booking; 5] = [
    Booking {
        weekday: 0,
        start: 540,
        clinician: &RIVERA,
        patient: MARIA,
        who: "maria",
        kind: ("FOLLOWUP", "A follow up visit from a previous appointment"),
        description: "Blood pressure follow-up",
        condition: Some(COND_MARIA_HTN),
    },
    Booking {
        weekday: 1,
        start: 600,
        clinician: &OSEI,
        patient: JAMES,
        who: "james",
        kind: ("FOLLOWUP", "A follow up visit from a previous appointment"),
        description: "Cardiology review",
        condition: Some(COND_JAMES_AFIB),
    },
    Booking {
        weekday: 2,
        start: 570,
        clinician: &BROOKS,
        patient: TOMAS,
        who: "tomas",
        kind: ("FOLLOWUP", "A follow up visit from a previous appointment"),
        description: "Diabetes check and HbA1c",
        condition: Some(COND_TOMAS_T2DM),
    },
    Booking {
        weekday: 3,
        start: 660,
        clinician: &RIVERA,
        patient: AMARA,
        who: "amara",
        kind: ("ROUTINE", "Routine appointment - default if not valued"),
        description: "New patient visit",
        condition: None,
    },
    Booking {
        weekday: 6,
        start: 690,
        clinician: &RIVERA,
        patient: PRIYA,
        who: "priya",
        kind: ("CHECKUP", "A routine check-up, such as an annual physical"),
        description: "Asthma review",
        condition: Some(COND_PRIYA_ASTHMA),
    },
];

/// The demo dataset for a demo started on `today` (dates of slots and appointments are relative to it).
pub fn demo_resources(today: Date) -> Vec<Value> {
    let mut out = vec![organization()];
    out.extend(locations());
    out.extend(CLINICIANS.iter().map(|c| practitioner(c)));
    out.extend(CLINICIANS.iter().map(|c| practitioner_role(c)));
    out.extend(patients());
    out.extend(CLINICIANS.iter().map(|c| schedule(c, today)));
    out.extend(slots_and_bookings(today));
    for visit in VISITS {
        let at = VisitAt::new(visit, today);
        out.push(past_appointment(&at));
        out.push(encounter(&at));
    }
    out.extend(conditions());
    out.extend(clinical_records(today));
    out.push(care_team());
    out.push(consent(today));
    for resource in &mut out {
        tag_as_test_data(resource);
    }
    out
}

/// Marks a resource as synthetic so no one mistakes it for a real record.
fn tag_as_test_data(resource: &mut Value) {
    if let Value::Object(obj) = resource {
        obj.insert(
            "meta".into(),
            json!({"tag": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "HTEST",
                "display": "test health data"
            }]}),
        );
    }
}

// ---- building blocks ----------------------------------------------------

fn reference(kind: &str, id: &str) -> Value {
    json!({"reference": format!("{kind}/{id}")})
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({"coding": [{"system": system, "code": code, "display": display}], "text": display})
}

fn shift(date: Date, days: i64) -> Option<Date> {
    date.checked_add(Duration::days(days))
}

fn is_weekday(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// The weekday `days` before `today`, or earlier if that falls on a weekend;
/// saturates at the earliest representable date so the dataset is total.
fn past_weekday(today: Date, days: i64) -> Date {
    let mut date = shift(today, -days).unwrap_or(Date::MIN);
    while !is_weekday(date) {
        match date.previous_day() {
            Some(d) => date = d,
            None => break,
        }
    }
    date
}

fn date_str(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// A FHIR instant in UTC, e.g. `2026-11-24T09:00:00Z`.
fn instant(date: Date, minutes: u16) -> String {
    format!("{}T{:02}:{:02}:00Z", date_str(date), minutes / 60, minutes % 60)
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}{:02}", minutes / 60, minutes % 60)
}

fn participant(kind: &str, id: &str) -> Value {
    json!({"actor": reference(kind, id), "required": "required", "status": "accepted"})
}

// ---- the clinic --------------------------------------------------------

fn organization() -> Value {
    json!({
        "resourceType": "Organization",
        "id": ORG,
        "active": true,
        "type": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/organization-type",
            "code": "prov",
            "display": "Healthcare Provider"
        }]}],
        "name": "Haven Demo Clinic",
        "alias": ["Harborview Family Clinic (demo)"],
        "telecom": [
            {"system": "phone", "value": "555-0100", "use": "work"},
            {"system": "email", "value": "frontdesk@example.org", "use": "work"}
        ],
        "address": [{"use": "work", "line": ["100 Main Street"], "city": "Springfield", "state": "MA",
                     "postalCode": "01103", "country": "US"}]
    })
}

fn locations() -> [Value; 2] {
    [
        json!({
            "resourceType": "Location",
            "id": LOC_MAIN,
            "status": "active",
            "mode": "instance",
            "name": "Haven Demo Clinic - Main Street",
            "telecom": [{"system": "phone", "value": "555-0101", "use": "work"}],
            "address": {"use": "work", "line": ["100 Main Street"], "city": "Springfield", "state": "MA",
                        "postalCode": "01103", "country": "US"},
            "managingOrganization": reference("Organization", ORG)
        }),
        json!({
            "resourceType": "Location",
            "id": LOC_ANNEX,
            "status": "active",
            "mode": "instance",
            "name": "Haven Demo Clinic - Harbor Annex (Cardiology)",
            "telecom": [{"system": "phone", "value": "555-0102", "use": "work"}],
            "address": {"use": "work", "line": ["7 Harbor Lane", "Suite 2"], "city": "Springfield", "state": "MA",
                        "postalCode": "01101", "country": "US"},
            "managingOrganization": reference("Organization", ORG)
        }),
    ]
}

fn practitioner(c: &Clinician) -> Value {
    let mut name = json!({"use": "official", "family": c.family, "given": [c.given], "suffix": [c.suffix]});
    if !c.prefix.is_empty()
        && let Some(obj) = name.as_object_mut()
    {
        obj.insert("prefix".into(), json!([c.prefix]));
    }
    json!({
        "resourceType": "Practitioner",
        "id": c.id,
        "active": true,
        "identifier": [{"use": "official", "system": NPI, "value": c.npi}],
        "name": [name],
        "telecom": [{"system": "email", "value": c.email, "use": "work"}],
        "gender": c.gender,
        "qualification": [{"code": {"text": c.qualification}}]
    })
}

fn practitioner_role(c: &Clinician) -> Value {
    json!({
        "resourceType": "PractitionerRole",
        "id": format!("demo-role-{}", c.key),
        "active": true,
        "practitioner": reference("Practitioner", c.id),
        "organization": reference("Organization", ORG),
        "code": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/practitioner-role",
            "code": c.role.0,
            "display": c.role.1
        }]}],
        "specialty": [concept(SNOMED, c.specialty.0, c.specialty.1)],
        "location": [reference("Location", c.location)],
        "telecom": [{"system": "email", "value": c.email, "use": "work"}],
        "availableTime": [{
            "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
            "availableStartTime": "09:00:00",
            "availableEndTime": "12:00:00"
        }]
    })
}

#[allow(clippy::too_many_arguments)] // one call per patient reads better than a struct literal
fn patient(
    id: &str,
    mrn: &str,
    name: Value,
    gender: &str,
    birth_date: &str,
    phone: &str,
    email: &str,
    line: &str,
    postal_code: &str,
    gp: &str,
) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "active": true,
        "identifier": [{
            "use": "usual",
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                "code": "MR",
                "display": "Medical record number"
            }]},
            "system": MRN,
            "value": mrn
        }],
        "name": [name],
        "telecom": [
            {"system": "phone", "value": phone, "use": "mobile"},
            {"system": "email", "value": email, "use": "home"}
        ],
        "gender": gender,
        "birthDate": birth_date,
        "address": [{"use": "home", "line": [line], "city": "Springfield", "state": "MA",
                     "postalCode": postal_code, "country": "US"}],
        "generalPractitioner": [reference("Practitioner", gp)],
        "managingOrganization": reference("Organization", ORG)
    })
}

fn patients() -> [Value; 5] {
    [
        patient(
            MARIA,
            "MRN-100234",
            json!({"use": "official", "family": "Okafor-Lindqvist", "given": ["Maria"]}),
            "female",
            "1978-04-12",
            "555-0142",
            "maria.demo@example.org",
            "12 Harbor Lane",
            "01101",
            RIVERA.id,
        ),
        patient(
            JAMES,
            "MRN-100987",
            json!({"use": "official", "family": "Whitfield", "given": ["James", "T."]}),
            "male",
            "1951-11-03",
            "555-0178",
            "james.demo@example.org",
            "48 Orchard Row",
            "01104",
            OSEI.id,
        ),
        patient(
            PRIYA,
            "MRN-101455",
            json!({"use": "official", "family": "Raman", "given": ["Priya"]}),
            "female",
            "1992-07-30",
            "555-0163",
            "priya.demo@example.org",
            "3 Lantern Court, Apt 5",
            "01105",
            RIVERA.id,
        ),
        patient(
            TOMAS,
            "MRN-101872",
            json!({"use": "official", "family": "Ellery", "given": ["Tomas"]}),
            "male",
            "1966-09-18",
            "555-0119",
            "tomas.demo@example.org",
            "220 Millbrook Road",
            "01108",
            BROOKS.id,
        ),
        patient(
            AMARA,
            "MRN-102310",
            json!({"use": "official", "family": "Quist", "given": ["Amara"]}),
            "female",
            "1985-01-27",
            "555-0155",
            "amara.demo@example.org",
            "9 Willow Bend",
            "01109",
            RIVERA.id,
        ),
    ]
}

// ---- scheduling --------------------------------------------------------

fn schedule(c: &Clinician, today: Date) -> Value {
    let end = shift(today, HORIZON_DAYS).unwrap_or(Date::MAX);
    json!({
        "resourceType": "Schedule",
        "id": format!("demo-schedule-{}", c.key),
        "active": true,
        "specialty": [concept(SNOMED, c.specialty.0, c.specialty.1)],
        "actor": [reference("Practitioner", c.id), reference("Location", c.location)],
        "planningHorizon": {"start": date_str(today), "end": date_str(end)},
        "comment": "Weekday mornings, 30-minute appointments"
    })
}

fn slot_id(c: &Clinician, date: Date, start: u16) -> String {
    format!("demo-slot-{}-{}-{}", c.key, date_str(date), hhmm(start))
}

/// Slots for every clinician on the weekdays after `today`, and the booked
/// appointments that make some of them busy. Bookings whose day does not
/// exist (at the very end of the calendar) are left out, never dangling.
fn slots_and_bookings(today: Date) -> Vec<Value> {
    let days: Vec<Date> = (1..=SLOT_DAYS).filter_map(|n| shift(today, n)).filter(|d| is_weekday(*d)).collect();
    let booked: Vec<(&Booking, Date)> = BOOKINGS.iter().filter_map(|b| days.get(b.weekday).map(|d| (b, *d))).collect();
    let is_busy = |c: &Clinician, date: Date, start: u16| {
        booked.iter().any(|(b, d)| b.clinician.id == c.id && *d == date && b.start == start)
    };
    let mut out = Vec::new();
    for c in CLINICIANS {
        for &date in &days {
            for start in SLOT_STARTS {
                out.push(json!({
                    "resourceType": "Slot",
                    "id": slot_id(c, date, start),
                    "schedule": reference("Schedule", &format!("demo-schedule-{}", c.key)),
                    "status": if is_busy(c, date, start) { "busy" } else { "free" },
                    "start": instant(date, start),
                    "end": instant(date, start + SLOT_MINUTES)
                }));
            }
        }
    }
    for (b, date) in booked {
        let mut appointment = json!({
            "resourceType": "Appointment",
            "id": format!("demo-appt-{}-{}-{}", b.who, date_str(date), hhmm(b.start)),
            "status": "booked",
            "appointmentType": {"coding": [{"system": APPOINTMENT_TYPE, "code": b.kind.0, "display": b.kind.1}]},
            "description": b.description,
            "start": instant(date, b.start),
            "end": instant(date, b.start + SLOT_MINUTES),
            "minutesDuration": SLOT_MINUTES,
            "slot": [reference("Slot", &slot_id(b.clinician, date, b.start))],
            "created": date_str(today),
            "participant": [
                participant("Patient", b.patient),
                participant("Practitioner", b.clinician.id),
                participant("Location", b.clinician.location)
            ]
        });
        if let (Some(cond), Some(obj)) = (b.condition, appointment.as_object_mut()) {
            obj.insert("reasonReference".into(), json!([reference("Condition", cond)]));
        }
        out.push(appointment);
    }
    out
}

// ---- past visits -------------------------------------------------------

/// A past visit placed on the calendar relative to `today`.
struct VisitAt {
    visit: &'static Visit,
    date: Date,
    start: String,
    end: String,
}

impl VisitAt {
    fn new(visit: &'static Visit, today: Date) -> Self {
        let date = past_weekday(today, visit.days_ago);
        VisitAt { visit, date, start: instant(date, visit.start), end: instant(date, visit.start + SLOT_MINUTES) }
    }

    fn encounter_id(&self) -> String {
        format!("demo-enc-{}", self.visit.key)
    }

    fn encounter(&self) -> Value {
        reference("Encounter", &self.encounter_id())
    }

    fn patient(&self) -> Value {
        reference("Patient", self.visit.patient)
    }

    fn clinician(&self) -> Value {
        reference("Practitioner", self.visit.clinician.id)
    }
}

fn past_appointment(at: &VisitAt) -> Value {
    let v = at.visit;
    json!({
        "resourceType": "Appointment",
        "id": format!("demo-appt-visit-{}", v.key),
        "status": "fulfilled",
        "appointmentType": {"coding": [{
            "system": APPOINTMENT_TYPE,
            "code": "FOLLOWUP",
            "display": "A follow up visit from a previous appointment"
        }]},
        "description": v.reason,
        "start": at.start,
        "end": at.end,
        "minutesDuration": SLOT_MINUTES,
        "participant": [
            participant("Patient", v.patient),
            participant("Practitioner", v.clinician.id),
            participant("Location", v.clinician.location)
        ]
    })
}

fn encounter(at: &VisitAt) -> Value {
    let v = at.visit;
    let mut enc = json!({
        "resourceType": "Encounter",
        "id": at.encounter_id(),
        "status": "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [concept(SNOMED, v.kind.0, v.kind.1)],
        "subject": at.patient(),
        "participant": [{
            "type": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "PPRF",
                "display": "primary performer"
            }]}],
            "individual": at.clinician()
        }],
        "appointment": [reference("Appointment", &format!("demo-appt-visit-{}", v.key))],
        "period": {"start": at.start, "end": at.end},
        "reasonCode": [{"text": v.reason}],
        "location": [{"location": reference("Location", v.clinician.location), "status": "completed"}],
        "serviceProvider": reference("Organization", ORG)
    });
    if let (Some(cond), Some(obj)) = (v.condition, enc.as_object_mut()) {
        obj.insert("reasonReference".into(), json!([reference("Condition", cond)]));
    }
    enc
}

// ---- clinical records --------------------------------------------------

fn condition(
    id: &str,
    patient: &str,
    recorder: &Clinician,
    snomed: (&str, &str),
    icd10: Option<(&str, &str)>,
    onset: &str,
) -> Value {
    let mut coding = vec![json!({"system": SNOMED, "code": snomed.0, "display": snomed.1})];
    if let Some((code, display)) = icd10 {
        coding.push(json!({"system": ICD10CM, "code": code, "display": display}));
    }
    json!({
        "resourceType": "Condition",
        "id": id,
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active",
            "display": "Active"
        }]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed",
            "display": "Confirmed"
        }]},
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "problem-list-item",
            "display": "Problem List Item"
        }]}],
        "code": {"coding": coding, "text": snomed.1},
        "subject": reference("Patient", patient),
        "onsetDateTime": onset,
        "recordedDate": onset,
        "recorder": reference("Practitioner", recorder.id)
    })
}

fn conditions() -> [Value; 5] {
    [
        condition(
            COND_MARIA_HTN,
            MARIA,
            &RIVERA,
            ("59621000", "Essential hypertension"),
            Some(("I10", "Essential (primary) hypertension")),
            "2019-02-01",
        ),
        condition(
            COND_JAMES_AFIB,
            JAMES,
            &OSEI,
            ("49436004", "Atrial fibrillation"),
            Some(("I48.91", "Unspecified atrial fibrillation")),
            "2021-06-15",
        ),
        condition(COND_JAMES_HLD, JAMES, &OSEI, ("55822004", "Hyperlipidemia"), None, "2016-09-20"),
        condition(COND_PRIYA_ASTHMA, PRIYA, &RIVERA, ("195967001", "Asthma"), None, "2004-03-10"),
        condition(COND_TOMAS_T2DM, TOMAS, &BROOKS, ("44054006", "Diabetes mellitus type 2"), None, "2022-05-04"),
    ]
}

fn medication(id: &str, at: &VisitAt, rxnorm: (&str, &str), dosage: &str, reason: &str) -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "id": id,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": concept(RXNORM, rxnorm.0, rxnorm.1),
        "subject": at.patient(),
        "encounter": at.encounter(),
        "authoredOn": date_str(at.date),
        "requester": at.clinician(),
        "reasonReference": [reference("Condition", reason)],
        "dosageInstruction": [{"text": dosage}]
    })
}

fn observation_base(id: &str, at: &VisitAt, category: (&str, &str), code: (&str, &str)) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category.0, "display": category.1}]}],
        "code": concept(LOINC, code.0, code.1),
        "subject": at.patient(),
        "encounter": at.encounter(),
        "effectiveDateTime": at.start,
        "performer": [at.clinician()]
    })
}

fn quantity(value: f64, unit: &str, ucum: &str) -> Value {
    json!({"value": value, "unit": unit, "system": UCUM, "code": ucum})
}

fn blood_pressure(id: &str, at: &VisitAt, systolic: f64, diastolic: f64) -> Value {
    let mut obs = observation_base(
        id,
        at,
        ("vital-signs", "Vital Signs"),
        ("85354-9", "Blood pressure panel with all children optional"),
    );
    if let Some(obj) = obs.as_object_mut() {
        obj.insert(
            "component".into(),
            json!([
                {"code": concept(LOINC, "8480-6", "Systolic blood pressure"),
                 "valueQuantity": quantity(systolic, "mmHg", "mm[Hg]")},
                {"code": concept(LOINC, "8462-4", "Diastolic blood pressure"),
                 "valueQuantity": quantity(diastolic, "mmHg", "mm[Hg]")}
            ]),
        );
    }
    obs
}

fn measured(id: &str, at: &VisitAt, category: (&str, &str), code: (&str, &str), value: Value) -> Value {
    let mut obs = observation_base(id, at, category, code);
    if let Some(obj) = obs.as_object_mut() {
        obj.insert("valueQuantity".into(), value);
    }
    obs
}

fn heart_rate(id: &str, at: &VisitAt, bpm: f64) -> Value {
    measured(id, at, ("vital-signs", "Vital Signs"), ("8867-4", "Heart rate"), quantity(bpm, "beats/minute", "/min"))
}

fn hba1c(id: &str, at: &VisitAt, percent: f64) -> Value {
    measured(
        id,
        at,
        ("laboratory", "Laboratory"),
        ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        quantity(percent, "%", "%"),
    )
}

fn body_weight(id: &str, at: &VisitAt, kg: f64) -> Value {
    measured(id, at, ("vital-signs", "Vital Signs"), ("29463-7", "Body weight"), quantity(kg, "kg", "kg"))
}

fn procedure(id: &str, at: &VisitAt, snomed: (&str, &str), reason: &str) -> Value {
    json!({
        "resourceType": "Procedure",
        "id": id,
        "status": "completed",
        "code": concept(SNOMED, snomed.0, snomed.1),
        "subject": at.patient(),
        "encounter": at.encounter(),
        "performedDateTime": at.start,
        "performer": [{"actor": at.clinician()}],
        "location": reference("Location", at.visit.clinician.location),
        "reasonReference": [reference("Condition", reason)]
    })
}

fn immunization(id: &str, at: &VisitAt, cvx: (&str, &str), lot: &str) -> Value {
    json!({
        "resourceType": "Immunization",
        "id": id,
        "status": "completed",
        "vaccineCode": concept(CVX, cvx.0, cvx.1),
        "patient": at.patient(),
        "encounter": at.encounter(),
        "occurrenceDateTime": at.start,
        "primarySource": true,
        "location": reference("Location", at.visit.clinician.location),
        "lotNumber": lot,
        "site": {"text": "Left upper arm"},
        "route": {"text": "Intramuscular"},
        "performer": [{"actor": at.clinician()}]
    })
}

fn note(id: &str, at: &VisitAt, title: &str, body: &str) -> Value {
    let c = at.visit.clinician;
    let signer = if c.prefix.is_empty() {
        format!("{} {}, {}", c.given, c.family, c.suffix)
    } else {
        format!("{} {} {}, {}", c.prefix, c.given, c.family, c.suffix)
    };
    let text = format!(
        "{title}\nVisit date: {}\nSYNTHETIC DEMO DATA - not a real patient.\n\n{body}\n\nSigned: {signer}\n",
        date_str(at.date)
    );
    json!({
        "resourceType": "DocumentReference",
        "id": id,
        "status": "current",
        "docStatus": "final",
        "type": concept(LOINC, "11506-3", "Progress note"),
        "category": [{"coding": [{
            "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note",
            "display": "Clinical Note"
        }]}],
        "subject": at.patient(),
        "date": at.end,
        "author": [at.clinician()],
        "custodian": reference("Organization", ORG),
        "description": title,
        "content": [{"attachment": {
            "contentType": "text/plain",
            "language": "en-US",
            "data": base64(text.as_bytes()),
            "size": text.len(),
            "title": title,
            "creation": at.end
        }}],
        "context": {"encounter": [at.encounter()], "period": {"start": at.start, "end": at.end}}
    })
}

fn clinical_records(today: Date) -> Vec<Value> {
    let maria1 = VisitAt::new(&VISIT_MARIA_1, today);
    let maria2 = VisitAt::new(&VISIT_MARIA_2, today);
    let james1 = VisitAt::new(&VISIT_JAMES_1, today);
    let priya1 = VisitAt::new(&VISIT_PRIYA_1, today);
    let tomas1 = VisitAt::new(&VISIT_TOMAS_1, today);
    vec![
        // Medications.
        medication(
            "demo-med-maria-lisinopril",
            &maria1,
            ("314076", "lisinopril 10 MG Oral Tablet"),
            "10 mg by mouth once daily",
            COND_MARIA_HTN,
        ),
        medication(
            "demo-med-james-apixaban",
            &james1,
            ("1364445", "apixaban 5 MG Oral Tablet"),
            "5 mg by mouth twice daily",
            COND_JAMES_AFIB,
        ),
        medication(
            "demo-med-james-atorvastatin",
            &james1,
            ("617310", "atorvastatin 20 MG Oral Tablet"),
            "20 mg by mouth once daily in the evening",
            COND_JAMES_HLD,
        ),
        medication(
            "demo-med-priya-albuterol",
            &priya1,
            ("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
            "2 puffs inhaled every 4-6 hours as needed for wheeze",
            COND_PRIYA_ASTHMA,
        ),
        medication(
            "demo-med-tomas-metformin",
            &tomas1,
            ("861007", "metformin hydrochloride 500 MG Oral Tablet"),
            "500 mg by mouth twice daily with meals",
            COND_TOMAS_T2DM,
        ),
        // Allergies.
        allergy(
            "demo-allergy-maria-penicillin",
            MARIA,
            &RIVERA,
            ("764146007", "Penicillin"),
            "medication",
            "high",
            "Hives",
        ),
        allergy("demo-allergy-james-peanut", JAMES, &OSEI, ("256349002", "Peanut"), "food", "low", "Itchy mouth"),
        // Observations.
        blood_pressure("demo-obs-maria-1-bp", &maria1, 128.0, 82.0),
        heart_rate("demo-obs-maria-1-hr", &maria1, 72.0),
        hba1c("demo-obs-maria-1-hba1c", &maria1, 5.6),
        blood_pressure("demo-obs-maria-2-bp", &maria2, 134.0, 86.0),
        body_weight("demo-obs-maria-2-weight", &maria2, 68.4),
        blood_pressure("demo-obs-james-1-bp", &james1, 138.0, 84.0),
        heart_rate("demo-obs-james-1-hr", &james1, 88.0),
        heart_rate("demo-obs-priya-1-hr", &priya1, 76.0),
        blood_pressure("demo-obs-tomas-1-bp", &tomas1, 132.0, 80.0),
        hba1c("demo-obs-tomas-1-hba1c", &tomas1, 7.2),
        // Procedures and immunizations.
        procedure("demo-proc-james-ecg", &james1, ("29303009", "Electrocardiographic procedure"), COND_JAMES_AFIB),
        procedure("demo-proc-priya-spirometry", &priya1, ("127783003", "Spirometry"), COND_PRIYA_ASTHMA),
        immunization(
            "demo-imm-maria-flu",
            &maria2,
            ("140", "Influenza, seasonal, injectable, preservative free"),
            "DEMO-FLU-0001",
        ),
        immunization("demo-imm-priya-tdap", &priya1, ("115", "Tdap"), "DEMO-TDAP-0001"),
        // Clinical notes.
        note(
            "demo-note-maria-1",
            &maria1,
            "Hypertension follow-up",
            "S: Feels well. Takes lisinopril daily, no cough or dizziness. Home readings 125-135/80-85.\n\
             O: BP 128/82 mmHg, HR 72/min. HbA1c 5.6 %.\n\
             A: Essential hypertension, controlled.\n\
             P: Continue lisinopril 10 mg daily. Keep a home BP log. Follow up in 6 weeks.",
        ),
        note(
            "demo-note-maria-2",
            &maria2,
            "Annual wellness visit",
            "S: No new complaints. Walks 30 minutes most days.\n\
             O: BP 134/86 mmHg, weight 68.4 kg.\n\
             A: Well adult; blood pressure slightly above goal.\n\
             P: Seasonal influenza vaccine given. Review BP with Dr. Rivera.",
        ),
        note(
            "demo-note-james-1",
            &james1,
            "Cardiology follow-up",
            "S: Occasional palpitations, no chest pain or bleeding on apixaban.\n\
             O: BP 138/84 mmHg, HR 88/min irregular. ECG: atrial fibrillation, rate controlled.\n\
             A: Persistent atrial fibrillation; hyperlipidemia.\n\
             P: Continue apixaban and atorvastatin. Review in the cardiology clinic.",
        ),
        note(
            "demo-note-priya-1",
            &priya1,
            "Asthma review",
            "S: Uses albuterol about twice a week, no night symptoms.\n\
             O: HR 76/min. Spirometry within normal limits after bronchodilator.\n\
             A: Asthma, well controlled.\n\
             P: Continue albuterol as needed. Tdap booster given.",
        ),
        note(
            "demo-note-tomas-1",
            &tomas1,
            "Diabetes check",
            "S: Taking metformin with meals, mild stomach upset in the first week only.\n\
             O: BP 132/80 mmHg. HbA1c 7.2 %.\n\
             A: Type 2 diabetes, close to target.\n\
             P: Continue metformin. Diet and activity advice given. Repeat HbA1c in 3 months.",
        ),
    ]
}

fn allergy(
    id: &str,
    patient: &str,
    recorder: &Clinician,
    snomed: (&str, &str),
    category: &str,
    criticality: &str,
    reaction: &str,
) -> Value {
    json!({
        "resourceType": "AllergyIntolerance",
        "id": id,
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "code": "active",
            "display": "Active"
        }]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            "code": "confirmed",
            "display": "Confirmed"
        }]},
        "type": "allergy",
        "category": [category],
        "criticality": criticality,
        "code": concept(SNOMED, snomed.0, snomed.1),
        "patient": reference("Patient", patient),
        "recorder": reference("Practitioner", recorder.id),
        "reaction": [{"manifestation": [{"text": reaction}]}]
    })
}

fn care_team() -> Value {
    json!({
        "resourceType": "CareTeam",
        "id": "demo-careteam-maria",
        "status": "active",
        "name": "Maria Okafor-Lindqvist primary care team",
        "subject": reference("Patient", MARIA),
        "period": {"start": "2019-02-01"},
        "participant": [
            {"role": [concept(SNOMED, "446050000", "Primary care physician")],
             "member": reference("Practitioner", RIVERA.id),
             "onBehalfOf": reference("Organization", ORG)},
            {"role": [concept(SNOMED, "224571005", "Nurse practitioner")],
             "member": reference("Practitioner", BROOKS.id),
             "onBehalfOf": reference("Organization", ORG)}
        ],
        "reasonReference": [reference("Condition", COND_MARIA_HTN)],
        "managingOrganization": [reference("Organization", ORG)]
    })
}

fn consent(today: Date) -> Value {
    let signed = VisitAt::new(&VISIT_MARIA_2, today);
    json!({
        "resourceType": "Consent",
        "id": "demo-consent-maria-privacy",
        "status": "active",
        "scope": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent"
        }]},
        "category": [concept(LOINC, "59284-0", "Patient Consent")],
        "patient": reference("Patient", MARIA),
        "dateTime": signed.end,
        "performer": [reference("Patient", MARIA)],
        "organization": [reference("Organization", ORG)],
        // R4 requires a policy or a policyRule (invariant ppc-1).
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN", "display": "opt-in"}]},
        "provision": {
            "type": "permit",
            "period": {"start": date_str(signed.date)},
            "actor": [{
                "role": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "PRCP",
                    "display": "primary information recipient"
                }]},
                "reference": reference("Organization", ORG)
            }]
        }
    })
}

/// Standard base64 (RFC 4648, with padding): the attachment encoding FHIR uses.
/// Written here because haven-cli does not depend on the `base64` crate.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                let sextet = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
    }

    /// A Monday.
    fn sample_day() -> Date {
        date(2026, 11, 23)
    }

    fn key(r: &Value) -> String {
        format!("{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap())
    }

    fn of_type<'a>(set: &'a [Value], t: &str) -> Vec<&'a Value> {
        set.iter().filter(|r| r["resourceType"] == t).collect()
    }

    fn references(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(obj) => {
                for (k, child) in obj {
                    match (k.as_str(), child) {
                        ("reference", Value::String(s)) => out.push(s.clone()),
                        _ => references(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| references(i, out)),
            _ => {}
        }
    }

    fn mentions(r: &Value, target: &str) -> bool {
        let mut refs = Vec::new();
        references(r, &mut refs);
        refs.iter().any(|x| x == target)
    }

    fn valid_id(id: &str) -> bool {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    }

    /// The structural checks that must hold for any start date.
    fn check_integrity(set: &[Value]) {
        let mut keys = BTreeSet::new();
        for r in set {
            let t = r["resourceType"].as_str().expect("resourceType");
            let id = r["id"].as_str().expect("id");
            assert!(
                t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && t.chars().all(|c| c.is_ascii_alphabetic())
            );
            assert!(valid_id(id), "bad id {id:?}");
            assert!(keys.insert(key(r)), "duplicate {}", key(r));
        }
        let ids: BTreeSet<&str> = set.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), set.len(), "ids are unique across types too");
        for r in set {
            let mut refs = Vec::new();
            references(r, &mut refs);
            for target in refs {
                let (t, id) = target.split_once('/').expect("Type/id");
                assert!(!id.contains('/') && !t.contains(':'), "relative reference expected: {target}");
                assert!(keys.contains(&target), "{} points to missing {target}", key(r));
            }
        }
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn ids_unique_typed_and_references_resolve() {
        let set = demo_resources(sample_day());
        check_integrity(&set);
        for r in &set {
            assert_eq!(r["meta"]["tag"][0]["code"], "HTEST", "{}", key(r));
        }
    }

    #[test]
    fn every_resource_of_the_old_json_file_keeps_its_type_and_id() {
        let old: Vec<Value> = serde_json::from_str(include_str!("../demo/resources.json")).unwrap();
        let keys: BTreeSet<String> = demo_resources(sample_day()).iter().map(key).collect();
        for r in &old {
            assert!(keys.contains(&key(r)), "{} is no longer produced", key(r));
        }
        assert!(keys.contains("Patient/demo-patient-maria"));
        assert!(keys.contains("Practitioner/demo-dr-rivera"));
    }

    #[test]
    fn deterministic_and_clinical_ids_do_not_depend_on_the_date() {
        let day = sample_day();
        assert_eq!(demo_resources(day), demo_resources(day));
        let dated = |r: &&Value| r["resourceType"] == "Slot" || r["status"] == "booked";
        let stable =
            |d: Date| -> BTreeSet<String> { demo_resources(d).iter().filter(|r| !dated(r)).map(key).collect() };
        assert_eq!(stable(day), stable(date(2031, 2, 14)));
    }

    #[test]
    fn slots_are_future_weekday_mornings_and_busy_exactly_when_booked() {
        let today = sample_day();
        let set = demo_resources(today);
        let today_s = date_str(today);
        let last_s = date_str(shift(today, SLOT_DAYS).unwrap());
        let slots = of_type(&set, "Slot");
        let mut free = 0;
        for s in &slots {
            let start = s["start"].as_str().unwrap();
            assert!(start.len() == 20 && start.ends_with('Z'), "{start}");
            assert!(start[..10] > *today_s && start[..10] <= *last_s, "{start}");
            let hour = &start[11..16];
            assert!(("09:00"..="11:30").contains(&hour), "{start}");
            let d = Date::parse(&start[..10], time::macros::format_description!("[year]-[month]-[day]")).unwrap();
            assert!(is_weekday(d), "{start}");
            if s["status"] == "free" {
                free += 1;
            } else {
                assert_eq!(s["status"], "busy");
            }
        }
        assert!(free >= 10, "{free} free slots");
        // 10 weekdays in the 14 days after a Monday, 6 slots each, 3 clinicians.
        assert_eq!(slots.len(), 180);

        let by_key: BTreeMap<String, &Value> = slots.iter().map(|s| (key(s), *s)).collect();
        let booked: Vec<&Value> =
            of_type(&set, "Appointment").into_iter().filter(|a| a["status"] == "booked").collect();
        let mut used = BTreeSet::new();
        for a in &booked {
            let slot_ref = a["slot"][0]["reference"].as_str().unwrap();
            let slot = by_key[slot_ref];
            assert_eq!(slot["status"], "busy");
            assert_eq!(a["start"], slot["start"]);
            assert_eq!(a["end"], slot["end"]);
            assert!(used.insert(slot_ref.to_string()), "double-booked {slot_ref}");
            // The slot's schedule belongs to the booked practitioner.
            let schedule = set.iter().find(|r| key(r) == slot["schedule"]["reference"].as_str().unwrap()).unwrap();
            let practitioner = a["participant"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|p| p["actor"]["reference"].as_str().filter(|r| r.starts_with("Practitioner/")))
                .unwrap();
            assert!(mentions(schedule, practitioner));
        }
        let busy = slots.iter().filter(|s| s["status"] == "busy").count();
        assert_eq!(busy, used.len());

        for a in of_type(&set, "Appointment").iter().filter(|a| a["status"] == "fulfilled") {
            assert!(a["end"].as_str().unwrap()[..10] < *today_s);
        }
        for e in of_type(&set, "Encounter") {
            assert_eq!(e["status"], "finished");
            assert!(e["period"]["end"].as_str().unwrap()[..10] < *today_s);
        }
    }

    #[test]
    fn maria_has_a_booking_and_a_chart() {
        let today = sample_day();
        let set = demo_resources(today);
        let maria = "Patient/demo-patient-maria";
        let rivera = "Practitioner/demo-dr-rivera";
        let today_s = date_str(today);
        let booked = of_type(&set, "Appointment")
            .into_iter()
            .filter(|a| a["status"] == "booked" && a["start"].as_str().unwrap()[..10] > *today_s)
            .filter(|a| mentions(a, maria) && mentions(a, rivera))
            .count();
        assert!(booked >= 1);
        for t in ["Condition", "MedicationRequest", "AllergyIntolerance", "DocumentReference", "Observation"] {
            assert!(of_type(&set, t).iter().any(|r| mentions(r, maria)), "Maria has no {t}");
        }
        let team = of_type(&set, "CareTeam");
        assert!(team.iter().any(|t| t["subject"]["reference"] == maria && mentions(t, rivera)));
        assert!(of_type(&set, "Consent").iter().any(|c| c["patient"]["reference"] == maria));
    }

    #[test]
    fn notes_decode_to_synthetic_text() {
        fn decode(s: &str) -> Vec<u8> {
            const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let sextets: Vec<u32> = s
                .bytes()
                .filter(|b| *b != b'=')
                .map(|b| ALPHABET.iter().position(|a| *a == b).unwrap() as u32)
                .collect();
            let mut out = Vec::new();
            for chunk in sextets.chunks(4) {
                let n = chunk.iter().enumerate().fold(0u32, |n, (i, v)| n | (v << (18 - 6 * i)));
                out.extend(n.to_be_bytes()[1..].iter().take(chunk.len() - 1));
            }
            out
        }
        let set = demo_resources(sample_day());
        let notes = of_type(&set, "DocumentReference");
        assert!(!notes.is_empty());
        for n in notes {
            let attachment = &n["content"][0]["attachment"];
            assert_eq!(attachment["contentType"], "text/plain");
            let text = String::from_utf8(decode(attachment["data"].as_str().unwrap())).unwrap();
            assert!(text.contains("SYNTHETIC DEMO DATA"), "{text}");
            assert_eq!(attachment["size"], text.len());
        }
    }

    #[test]
    fn npis_pass_the_luhn_check() {
        for c in CLINICIANS {
            // NPI check digit: Luhn over "80840" + the ten digits.
            let digits: Vec<u32> = format!("80840{}", c.npi).chars().map(|d| d.to_digit(10).unwrap()).collect();
            assert_eq!(c.npi.len(), 10);
            let sum: u32 = digits
                .iter()
                .rev()
                .enumerate()
                .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { *d })
                .sum();
            assert_eq!(sum % 10, 0, "{}", c.npi);
        }
    }

    #[test]
    fn total_over_many_dates_and_the_ends_of_the_calendar() {
        let mut d = date(2024, 1, 1);
        for _ in 0..800 {
            let set = demo_resources(d);
            check_integrity(&set);
            let free = of_type(&set, "Slot").iter().filter(|s| s["status"] == "free").count();
            assert!(free >= 10);
            d = d.next_day().unwrap();
        }
        for d in [Date::MIN, Date::MAX, date(9999, 12, 20), date(-9999, 1, 3)] {
            check_integrity(&demo_resources(d));
        }
    }

    #[test]
    fn counts_for_the_sample_day() {
        let set = demo_resources(sample_day());
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &set {
            *counts.entry(r["resourceType"].as_str().unwrap()).or_default() += 1;
        }
        assert_eq!(counts["Organization"], 1);
        assert_eq!(counts["Location"], 2);
        assert_eq!(counts["Practitioner"], 3);
        assert_eq!(counts["PractitionerRole"], 3);
        assert_eq!(counts["Patient"], 5);
        assert_eq!(counts["Schedule"], 3);
        eprintln!("{counts:?} total {}", set.len());
    }
}
