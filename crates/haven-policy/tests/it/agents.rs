//! Agents (and apps) act only within their SMART scopes; the server also asks as the user they act for.

use haven_core::Role;
use haven_policy::{Action, Caller, Facts, PolicyEngine, Scope, Target, parse_scopes};

fn agent<'a>(scopes: Option<&'a [Scope]>, launch_patient: Option<&'a str>) -> Caller<'a> {
    Caller { account: "agent-triage", role: Role::Agent, patient: launch_patient, practitioner: None, scopes }
}

fn obs(patient: &str) -> Target<'_> {
    Target { rtype: "Observation", patient: Some(patient) }
}

#[test]
fn patient_scopes_stay_in_the_launch_compartment() {
    let engine = PolicyEngine::new(None).unwrap();
    let scopes = parse_scopes("openid fhirUser patient/Observation.rs").unwrap();
    let a = agent(Some(&scopes), Some("pat-1"));
    let f = Facts::default();
    assert!(engine.decide(&a, Action::Read, &obs("pat-1"), &f).allow);
    assert!(engine.decide(&a, Action::Search, &obs("pat-1"), &f).allow);
    assert_eq!(engine.decide(&a, Action::Read, &obs("pat-1"), &f).reasons, ["agent-scopes"]);
    assert!(!engine.decide(&a, Action::Read, &obs("pat-2"), &f).allow);
    assert!(!engine.decide(&a, Action::Create, &obs("pat-1"), &f).allow);
    assert!(!engine.decide(&a, Action::Read, &Target { rtype: "Condition", patient: Some("pat-1") }, &f).allow);
    assert!(!engine.decide(&a, Action::Read, &Target { rtype: "Observation", patient: None }, &f).allow);
    // Without a launch patient, patient/ scopes grant nothing.
    assert!(!engine.decide(&agent(Some(&scopes), None), Action::Read, &obs("pat-1"), &f).allow);
    let d = engine.decide(&a, Action::Read, &obs("pat-2"), &f);
    assert_eq!(d.reasons, ["scopes-bound-rights"]);
}

#[test]
fn user_and_system_scopes() {
    let engine = PolicyEngine::new(None).unwrap();
    let f = Facts::default();
    let user = parse_scopes("user/*.rs").unwrap();
    let a = agent(Some(&user), None);
    assert!(engine.decide(&a, Action::Read, &obs("pat-7"), &f).allow);
    assert!(engine.decide(&a, Action::Everything, &Target { rtype: "Patient", patient: Some("pat-7") }, &f).allow);
    assert!(!engine.decide(&a, Action::Update, &obs("pat-7"), &f).allow);
    assert!(!engine.decide(&a, Action::Delete, &obs("pat-7"), &f).allow);

    let system = parse_scopes("system/*.cruds").unwrap();
    let a = agent(Some(&system), None);
    assert!(engine.decide(&a, Action::Delete, &obs("pat-7"), &f).allow);
    // Scopes never reach operations outside FHIR data.
    for action in [Action::BreakGlass, Action::Import, Action::ManageAccounts, Action::ManageKeys, Action::ReadAudit] {
        assert!(!engine.decide(&a, action, &obs("pat-7"), &f).allow, "{action:?}");
    }
    // No scopes, no access.
    assert!(!engine.decide(&agent(None, None), Action::Read, &obs("pat-7"), &f).allow);
    assert!(!engine.decide(&agent(Some(&[]), None), Action::Read, &obs("pat-7"), &f).allow);
}

#[test]
fn consent_binds_agents_and_they_cannot_break_the_glass() {
    let engine = PolicyEngine::new(None).unwrap();
    let scopes = parse_scopes("user/*.cruds").unwrap();
    let a = agent(Some(&scopes), None);
    let denied = Facts { consent_denies: true, break_glass: true, ..Facts::default() };
    let d = engine.decide(&a, Action::Read, &obs("pat-1"), &denied);
    assert!(!d.allow);
    assert_eq!(d.reasons, ["consent-denies"]);
}

/// Scopes bound a user's rights, never extend them: a patient's app with `patient/Observation.r`.
#[test]
fn scopes_bound_other_roles_too() {
    let engine = PolicyEngine::new(None).unwrap();
    let scopes = parse_scopes("patient/Observation.r").unwrap();
    let app = Caller {
        account: "p1",
        role: Role::Patient,
        patient: Some("pat-1"),
        practitioner: None,
        scopes: Some(&scopes),
    };
    let f = Facts::default();
    assert!(engine.decide(&app, Action::Read, &obs("pat-1"), &f).allow);
    assert!(!engine.decide(&app, Action::Search, &obs("pat-1"), &f).allow);
    assert!(!engine.decide(&app, Action::Read, &Target { rtype: "Condition", patient: Some("pat-1") }, &f).allow);
    // A broad scope does not widen the patient's own rights.
    let wide = parse_scopes("system/*.cruds").unwrap();
    let app = Caller { scopes: Some(&wide), ..app };
    assert!(!engine.decide(&app, Action::Read, &obs("pat-2"), &f).allow);
    assert!(!engine.decide(&app, Action::Delete, &obs("pat-1"), &f).allow);
}

/// The documented agent flow: allow only if the agent's own decision and the on-behalf user's both allow.
#[test]
fn agent_on_behalf_of_a_user_is_the_intersection() {
    let engine = PolicyEngine::new(None).unwrap();
    let scopes = parse_scopes("user/Observation.rs user/Condition.rs").unwrap();
    let a = agent(Some(&scopes), None);
    let nurse = Caller { account: "n1", role: Role::Nurse, patient: None, practitioner: Some("prac-2"), scopes: None };
    let facts = Facts { mfa: true, care_relationship: true, ..Facts::default() };
    let own = Facts { mfa: true, ..Facts::default() };
    let both = |action, target: &Target<'_>, facts: &Facts| {
        engine.decide_delegated(&a, &own, &nurse, facts, action, target).allow
    };
    assert!(both(Action::Read, &obs("pat-1"), &facts));
    // The nurse may update, the agent's scopes may not.
    assert!(!both(Action::Update, &obs("pat-1"), &facts));
    // The agent may read, the nurse has no relationship with this patient.
    assert!(!both(Action::Read, &obs("pat-1"), &Facts { care_relationship: false, ..facts }));
    // Nor through an active Consent that denies the nurse.
    assert!(!both(Action::Read, &obs("pat-1"), &Facts { consent_denies: true, ..facts }));
    // A nurse may not see the Conditions of an unrelated patient even when
    // the agent's scopes would let it read any Condition.
    let cond = Target { rtype: "Condition", patient: Some("pat-2") };
    assert!(!both(Action::Read, &cond, &Facts { care_relationship: false, ..facts }));

    // A patient's agent: `patient/` scopes with the patient's own record as
    // launch context reach that record only.
    let pscopes = parse_scopes("patient/Appointment.crus patient/Observation.rs").unwrap();
    let pa = agent(Some(&pscopes), Some("pat-9"));
    let me = Caller { account: "u9", role: Role::Patient, patient: Some("pat-9"), practitioner: None, scopes: None };
    let pf = Facts::default();
    let d = |action, rtype, patient| {
        engine.decide_delegated(&pa, &pf, &me, &pf, action, &Target { rtype, patient: Some(patient) }).allow
    };
    assert!(d(Action::Read, "Observation", "pat-9"));
    assert!(d(Action::Create, "Appointment", "pat-9"));
    assert!(!d(Action::Read, "Observation", "pat-1"), "another patient's record");
    assert!(!d(Action::Read, "Condition", "pat-9"), "outside the client's scopes");
    assert!(!d(Action::Delete, "Appointment", "pat-9"), "outside the client's scopes");
}
