//! The default policies as a table: every role × category × basic action ×
//! situation, with the expected outcome written down. Any cell that differs,
//! above all an allow that the table does not list, fails the test.

use haven_core::Role;
use haven_policy::{Action, Caller, Category, Facts, PolicyEngine, Target, category_of};

/// A representative resource type per category.
fn representative(c: Category) -> &'static str {
    match c {
        Category::Demographic => "Patient",
        Category::Directory => "Practitioner",
        Category::Scheduling => "Appointment",
        Category::Financial => "Claim",
        Category::Consent => "Consent",
        Category::Audit => "AuditEvent",
        Category::Clinical => "Observation",
    }
}

const SELF: &str = "pat-self";
const OTHER: &str = "pat-other";

/// The columns of the table.
#[derive(Clone, Copy, Debug)]
enum Situation {
    /// The patient's own record (patient role only).
    Own,
    /// The patient's own record, with a Consent that denies the caller (patient role only).
    OwnConsentDenied,
    /// Another patient, with a care relationship.
    Related,
    /// Another patient, no relationship.
    Unrelated,
    /// Another patient, care relationship, but their Consent denies the caller.
    ConsentDenied,
    /// Another patient, no relationship, the caller holds a break-glass grant.
    BreakGlass,
    /// As `BreakGlass`, and the patient's Consent denies the caller.
    BreakGlassOverConsent,
}

const SITUATIONS: [Situation; 7] = [
    Situation::Own,
    Situation::OwnConsentDenied,
    Situation::Related,
    Situation::Unrelated,
    Situation::ConsentDenied,
    Situation::BreakGlass,
    Situation::BreakGlassOverConsent,
];

impl Situation {
    fn patient(self) -> &'static str {
        match self {
            Situation::Own | Situation::OwnConsentDenied => SELF,
            _ => OTHER,
        }
    }

    fn facts(self) -> Facts {
        let mut f = Facts { mfa: true, ..Facts::default() };
        match self {
            Situation::Own | Situation::Unrelated => {}
            Situation::OwnConsentDenied => f.consent_denies = true,
            Situation::Related => f.care_relationship = true,
            Situation::ConsentDenied => {
                f.care_relationship = true;
                f.consent_denies = true;
            }
            Situation::BreakGlass => f.break_glass = true,
            Situation::BreakGlassOverConsent => {
                f.break_glass = true;
                f.consent_denies = true;
            }
        }
        f
    }
}

const BASIC: [(char, Action); 5] =
    [('r', Action::Read), ('s', Action::Search), ('c', Action::Create), ('u', Action::Update), ('d', Action::Delete)];

/// Expected allows per (role, category): one cell per situation in `SITUATIONS` order
/// (Own, OwnConsentDenied, Related, Unrelated, ConsentDenied, BreakGlass, BreakGlassOverConsent).
/// A cell lists the allowed actions as letters of `rscud` (`""` = nothing); `-` = not a situation for this role
/// (only patients have an own record). Directory resources have no patient, so there the situation only
/// changes the facts.
#[rustfmt::skip]
const EXPECTED: &[(&str, &str, [&str; 7])] = &[
    //            category       Own     OwnCD   Related Unrel.  ConsDen BreakGl BG+CD
    ("patient",   "demographic", ["rs",  "rs",   "",     "",     "",     "",     ""    ]),
    ("patient",   "directory",   ["rs",  "",     "rs",   "rs",   "",     "rs",   ""    ]),
    ("patient",   "scheduling",  ["rscu","rscu", "",     "",     "",     "",     ""    ]),
    ("patient",   "financial",   ["rs",  "rs",   "",     "",     "",     "",     ""    ]),
    ("patient",   "consent",     ["rs",  "rs",   "",     "",     "",     "",     ""    ]),
    ("patient",   "audit",       ["",    "",     "",     "",     "",     "",     ""    ]),
    ("patient",   "clinical",    ["rs",  "rs",   "",     "",     "",     "",     ""    ]),

    ("clinician", "demographic", ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),
    ("clinician", "directory",   ["-",   "-",    "rs",   "rs",   "",     "rs",   "rs"  ]),
    ("clinician", "scheduling",  ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),
    ("clinician", "financial",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("clinician", "consent",     ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),
    ("clinician", "audit",       ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("clinician", "clinical",    ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),

    ("nurse",     "demographic", ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),
    ("nurse",     "directory",   ["-",   "-",    "rs",   "rs",   "",     "rs",   "rs"  ]),
    ("nurse",     "scheduling",  ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),
    ("nurse",     "financial",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("nurse",     "consent",     ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),
    ("nurse",     "audit",       ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("nurse",     "clinical",    ["-",   "-",    "rscu", "",     "",     "rscu", "rscu"]),

    // Front desk works for every patient; only a denying Consent stops it (break-glass is not theirs to use).
    ("scheduler", "demographic", ["-",   "-",    "rscu", "rscu", "",     "rscu", ""    ]),
    ("scheduler", "directory",   ["-",   "-",    "rs",   "rs",   "",     "rs",   ""    ]),
    ("scheduler", "scheduling",  ["-",   "-",    "rscu", "rscu", "",     "rscu", ""    ]),
    ("scheduler", "financial",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("scheduler", "consent",     ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("scheduler", "audit",       ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("scheduler", "clinical",    ["-",   "-",    "",     "",     "",     "",     ""    ]),

    ("billing",   "demographic", ["-",   "-",    "rs",   "rs",   "",     "rs",   ""    ]),
    ("billing",   "directory",   ["-",   "-",    "rs",   "rs",   "",     "rs",   ""    ]),
    ("billing",   "scheduling",  ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("billing",   "financial",   ["-",   "-",    "rscu", "rscu", "",     "rscu", ""    ]),
    ("billing",   "consent",     ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("billing",   "audit",       ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("billing",   "clinical",    ["-",   "-",    "",     "",     "",     "",     ""    ]),

    ("admin",     "demographic", ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("admin",     "directory",   ["-",   "-",    "rscu", "rscu", "",     "rscu", ""    ]),
    ("admin",     "scheduling",  ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("admin",     "financial",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("admin",     "consent",     ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("admin",     "audit",       ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("admin",     "clinical",    ["-",   "-",    "",     "",     "",     "",     ""    ]),

    ("auditor",   "demographic", ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("auditor",   "directory",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("auditor",   "scheduling",  ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("auditor",   "financial",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("auditor",   "consent",     ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("auditor",   "audit",       ["-",   "-",    "rs",   "rs",   "",     "rs",   ""    ]),
    ("auditor",   "clinical",    ["-",   "-",    "",     "",     "",     "",     ""    ]),

    // An agent without scopes gets nothing (see the agent tests for scoped ones).
    ("agent",     "demographic", ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("agent",     "directory",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("agent",     "scheduling",  ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("agent",     "financial",   ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("agent",     "consent",     ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("agent",     "audit",       ["-",   "-",    "",     "",     "",     "",     ""    ]),
    ("agent",     "clinical",    ["-",   "-",    "",     "",     "",     "",     ""    ]),
];

fn caller(role: Role) -> Caller<'static> {
    let patient = (role == Role::Patient).then_some(SELF);
    let practitioner = matches!(role, Role::Clinician | Role::Nurse).then_some("prac-1");
    Caller { account: "acct-1", role, patient, practitioner, scopes: None }
}

#[test]
fn category_of_representatives() {
    for c in Category::ALL {
        assert_eq!(category_of(representative(c)), c);
    }
    assert_eq!(category_of("Slot"), Category::Scheduling);
    assert_eq!(category_of("CoverageEligibilityResponse"), Category::Financial);
    assert_eq!(category_of("Provenance"), Category::Audit);
    assert_eq!(category_of("MedicationRequest"), Category::Clinical);
    assert_eq!(category_of("NotAType"), Category::Clinical);
}

#[test]
fn authorization_matrix() {
    let engine = PolicyEngine::new(None).unwrap();
    assert_eq!(EXPECTED.len(), Role::ALL.len() * Category::ALL.len(), "the table must cover every role × category");
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for &(role_name, category_name, row) in EXPECTED {
        let role = Role::ALL.into_iter().find(|r| r.as_str() == role_name).unwrap();
        let category = Category::ALL.into_iter().find(|c| c.as_str() == category_name).unwrap();
        let rtype = representative(category);
        for (situation, expected) in SITUATIONS.into_iter().zip(row) {
            if expected == "-" {
                continue;
            }
            let patient = (category != Category::Directory).then_some(situation.patient());
            let target = Target { rtype, patient };
            for (letter, action) in BASIC {
                cells += 1;
                let d = engine.decide(&caller(role), action, &target, &situation.facts());
                assert!(d.errors.is_empty(), "{d:?}");
                if d.allow != expected.contains(letter) {
                    mismatches.push(format!(
                        "{role_name} {action:?} {rtype} {situation:?}: expected {}, got {} ({:?})",
                        if expected.contains(letter) { "allow" } else { "deny" },
                        if d.allow { "allow" } else { "deny" },
                        d.reasons
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{} of {cells} cells differ:\n{}", mismatches.len(), mismatches.join("\n"));
    assert_eq!(cells, 1470, "7 patient rows × 7 situations + 49 rows × 5 situations, × 5 actions");
}

#[test]
fn staff_without_mfa_get_nothing() {
    let engine = PolicyEngine::new(None).unwrap();
    for role in Role::ALL.into_iter().filter(|r| r.is_staff()) {
        for action in Action::ALL {
            for c in Category::ALL {
                for situation in SITUATIONS {
                    let facts = Facts { mfa: false, ..situation.facts() };
                    let target = Target { rtype: representative(c), patient: Some(situation.patient()) };
                    let d = engine.decide(&caller(role), action, &target, &facts);
                    assert!(!d.allow, "{role} {action:?} {c:?} {situation:?} allowed without MFA");
                    assert!(d.reasons.iter().any(|r| r == "staff-require-mfa"), "{role} {action:?}: {d:?}");
                }
            }
        }
    }
    // Patients are not staff: MFA is optional for them.
    let d = engine.decide(
        &caller(Role::Patient),
        Action::Read,
        &Target { rtype: "Observation", patient: Some(SELF) },
        &Facts::default(),
    );
    assert!(d.allow, "{d:?}");
}

#[test]
fn nobody_deletes_by_default() {
    let engine = PolicyEngine::new(None).unwrap();
    for role in Role::ALL {
        for c in Category::ALL {
            for situation in SITUATIONS {
                let target = Target { rtype: representative(c), patient: Some(situation.patient()) };
                assert!(!engine.decide(&caller(role), Action::Delete, &target, &situation.facts()).allow);
            }
        }
    }
}

#[test]
fn slots_schedules_and_other_patients_appointments() {
    let engine = PolicyEngine::new(None).unwrap();
    let mfa = Facts { mfa: true, ..Facts::default() };
    let allowed =
        |role, action, rtype, patient| engine.decide(&caller(role), action, &Target { rtype, patient }, &mfa).allow;
    for rtype in ["Slot", "Schedule"] {
        assert!(allowed(Role::Patient, Action::Read, rtype, None));
        assert!(allowed(Role::Patient, Action::Search, rtype, None));
        assert!(!allowed(Role::Patient, Action::Update, rtype, None));
        assert!(allowed(Role::Clinician, Action::Update, rtype, None));
        assert!(allowed(Role::Scheduler, Action::Create, rtype, None));
        assert!(!allowed(Role::Billing, Action::Read, rtype, None));
        assert!(!allowed(Role::Admin, Action::Read, rtype, None));
    }
    // A patient books only their own appointments and cannot see others'.
    assert!(allowed(Role::Patient, Action::Create, "Appointment", Some(SELF)));
    assert!(!allowed(Role::Patient, Action::Create, "Appointment", Some(OTHER)));
    assert!(!allowed(Role::Patient, Action::Read, "Appointment", Some(OTHER)));
    assert!(!allowed(Role::Patient, Action::Create, "Observation", Some(SELF)));
    assert!(!allowed(Role::Patient, Action::Update, "Patient", Some(SELF)));
    // Non-patient clinical data (catalogues) is open to clinical staff only.
    assert!(allowed(Role::Nurse, Action::Read, "Medication", None));
    assert!(!allowed(Role::Scheduler, Action::Read, "Medication", None));
}

#[test]
fn whole_record_and_history() {
    let engine = PolicyEngine::new(None).unwrap();
    let related = Facts { mfa: true, care_relationship: true, ..Facts::default() };
    let own = Target { rtype: "Patient", patient: Some(SELF) };
    let other = Target { rtype: "Patient", patient: Some(OTHER) };
    for action in [Action::History, Action::Everything] {
        assert!(engine.decide(&caller(Role::Patient), action, &own, &Facts::default()).allow);
        assert!(!engine.decide(&caller(Role::Patient), action, &other, &Facts::default()).allow);
        assert!(engine.decide(&caller(Role::Clinician), action, &other, &related).allow);
        assert!(
            !engine.decide(&caller(Role::Clinician), action, &other, &Facts { mfa: true, ..Facts::default() }).allow
        );
        for role in [Role::Scheduler, Role::Billing, Role::Admin, Role::Auditor, Role::Agent] {
            assert!(!engine.decide(&caller(role), action, &other, &related).allow, "{role} {action:?}");
        }
    }
}

#[test]
fn operations_belong_to_their_roles() {
    let engine = PolicyEngine::new(None).unwrap();
    let facts = Facts { mfa: true, consent_denies: true, ..Facts::default() };
    let target = Target { rtype: "Patient", patient: Some(OTHER) };
    let people =
        [Role::Patient, Role::Clinician, Role::Nurse, Role::Scheduler, Role::Billing, Role::Admin, Role::Auditor];
    let expected: [(Action, &[Role]); 11] = [
        // Consent cannot block the request that starts an emergency override.
        (Action::BreakGlass, &[Role::Clinician, Role::Nurse]),
        (Action::ManageAccounts, &[Role::Admin]),
        (Action::ManageKeys, &[Role::Admin]),
        (Action::Import, &[Role::Admin]),
        (Action::ReadAudit, &[Role::Auditor]),
        (Action::UseAgent, &people),
        (Action::ReviewAgent, &[Role::Admin, Role::Auditor]),
        (Action::Deidentify, &[Role::Clinician, Role::Nurse, Role::Admin]),
        (Action::Reidentify, &[Role::Clinician, Role::Nurse]),
        (Action::ReadAlerts, &[Role::Admin, Role::Auditor]),
        (Action::ManageAlerts, &[Role::Admin, Role::Auditor]),
    ];
    for (action, roles) in expected {
        for role in Role::ALL {
            let target = if action == Action::BreakGlass { target } else { Target { rtype: "Account", patient: None } };
            let facts = if action == Action::BreakGlass { facts } else { Facts { mfa: true, ..Facts::default() } };
            let d = engine.decide(&caller(role), action, &target, &facts);
            assert_eq!(d.allow, roles.contains(&role), "{role} {action:?}: {d:?}");
        }
    }
    // Break-glass is about a patient.
    let d = engine.decide(
        &caller(Role::Clinician),
        Action::BreakGlass,
        &Target { rtype: "Practitioner", patient: None },
        &facts,
    );
    assert!(!d.allow);
}

#[test]
fn reasons_and_redactions() {
    let engine = PolicyEngine::new(None).unwrap();
    let facts = Facts { mfa: true, care_relationship: true, ..Facts::default() };
    let d = engine.decide(
        &caller(Role::Clinician),
        Action::Read,
        &Target { rtype: "Observation", patient: Some(OTHER) },
        &facts,
    );
    assert!(d.allow);
    assert_eq!(d.reasons, ["clinician-patient-data"]);
    assert!(d.redact.is_empty() && d.errors.is_empty());

    for rtype in ["Claim", "Patient", "Organization"] {
        let d = engine.decide(&caller(Role::Billing), Action::Read, &Target { rtype, patient: Some(OTHER) }, &facts);
        assert!(d.allow, "{rtype}");
        assert_eq!(d.redact, ["text", "note"], "{rtype}");
    }
    // A deny strips nothing (there is nothing to return) and names the forbid.
    let denied = Facts { consent_denies: true, ..facts };
    let d =
        engine.decide(&caller(Role::Billing), Action::Read, &Target { rtype: "Claim", patient: Some(OTHER) }, &denied);
    assert!(!d.allow && d.redact.is_empty());
    assert_eq!(d.reasons, ["consent-denies"]);
    // The default deny has no policy to name.
    let d = engine.decide(
        &caller(Role::Admin),
        Action::Read,
        &Target { rtype: "Observation", patient: Some(OTHER) },
        &facts,
    );
    assert!(!d.allow && d.reasons.is_empty() && d.errors.is_empty());
}

#[test]
fn texts_are_published() {
    assert!(PolicyEngine::schema_text().contains("namespace Haven"));
    assert!(PolicyEngine::default_policies_text().contains("@id(\"staff-require-mfa\")"));
}
