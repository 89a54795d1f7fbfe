//! Operators extend the defaults with their own Cedar text, checked against the schema at startup.

use haven_core::Role;
use haven_policy::{Action, Caller, Facts, PolicyEngine, PolicyError, Target};

fn staff(role: Role) -> Caller<'static> {
    Caller { account: "s1", role, patient: None, practitioner: Some("prac-1"), scopes: None }
}

const CARE: Facts = Facts { care_relationship: true, consent_denies: false, break_glass: false, mfa: true };

fn obs() -> Target<'static> {
    Target { rtype: "Observation", patient: Some("pat-1") }
}

#[test]
fn an_extra_forbid_takes_effect() {
    let extra = r#"
        // Nurses do not see observations at this site.
        @id("site-no-nurse-observations")
        forbid (principal, action, resource)
        when { principal.role == "nurse" && resource.rtype == "Observation" };
    "#;
    let engine = PolicyEngine::new(Some(extra)).unwrap();
    let d = engine.decide(&staff(Role::Nurse), Action::Read, &obs(), &CARE);
    assert!(!d.allow);
    assert_eq!(d.reasons, ["site-no-nurse-observations"]);
    assert!(engine.decide(&staff(Role::Clinician), Action::Read, &obs(), &CARE).allow);
    // A forbid wins over break-glass too: operators can wall off data completely.
    let bg = Facts { break_glass: true, ..CARE };
    assert!(!engine.decide(&staff(Role::Nurse), Action::Read, &obs(), &bg).allow);
}

#[test]
fn an_extra_permit_with_redaction_and_a_generated_id() {
    let extra = r#"
        @redact("identifier, telecom")
        permit (principal, action == Haven::Action::"read", resource)
        when { principal.role == "auditor" && resource.category == "demographic" };
    "#;
    let engine = PolicyEngine::new(Some(extra)).unwrap();
    let d = engine.decide(&staff(Role::Auditor), Action::Read, &Target { rtype: "Patient", patient: Some("p") }, &CARE);
    assert!(d.allow, "{d:?}");
    assert_eq!(d.reasons, ["operator-policy0"]);
    assert_eq!(d.redact, ["identifier", "telecom"]);
    // The defaults' guards still apply to operator permits.
    let no_mfa = Facts { mfa: false, ..CARE };
    assert!(
        !engine
            .decide(&staff(Role::Auditor), Action::Read, &Target { rtype: "Patient", patient: Some("p") }, &no_mfa)
            .allow
    );
}

/// Validated policies can still fail at evaluation time (here an overflow); the decision is then a deny.
#[test]
fn an_evaluation_error_denies() {
    let extra = r#"
        @id("overflowing-forbid")
        forbid (principal, action, resource)
        when { principal.role == "clinician" && 9223372036854775807 + 1 > 0 };
    "#;
    let engine = PolicyEngine::new(Some(extra)).unwrap();
    let d = engine.decide(&staff(Role::Clinician), Action::Read, &obs(), &CARE);
    assert!(!d.allow, "{d:?}");
    assert_eq!(d.reasons, ["overflowing-forbid"]);
    assert!(d.errors.iter().any(|e| e.contains("overflowing-forbid") && e.contains("overflow")), "{:?}", d.errors);
    // Roles the forbid short-circuits past evaluate cleanly.
    assert!(engine.decide(&staff(Role::Nurse), Action::Read, &obs(), &CARE).allow);
}

fn load_error(extra: &str) -> String {
    match PolicyEngine::new(Some(extra)) {
        Ok(_) => panic!("policy accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_syntax_error_names_the_line() {
    let msg = load_error("@id(\"a\")\npermit (principal, action, resource)\nwhen { principal.role == };\n");
    assert!(msg.starts_with("operator policies do not parse"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn a_schema_error_names_the_attribute_and_line() {
    let msg = load_error(
        "\n\n@id(\"dept\")\nforbid (principal, action, resource)\nwhen { principal.department == \"x\" };\n",
    );
    assert!(msg.starts_with("operator policies do not match the schema"), "{msg}");
    assert!(msg.contains("department") && msg.contains("line 5") && msg.contains("dept"), "{msg}");
}

/// Reading an optional attribute without `has` is refused at load time, before it could error at run time.
#[test]
fn reading_a_maybe_missing_attribute_is_refused() {
    let msg = load_error("forbid (principal, action, resource) when { resource.patient == \"pat-9\" };");
    assert!(msg.contains("patient") && msg.contains("line 1"), "{msg}");
    assert!(
        PolicyEngine::new(Some(
            "forbid (principal, action, resource) when { resource has patient && resource.patient == \"pat-9\" };"
        ))
        .is_ok()
    );
}

#[test]
fn other_mistakes_are_refused() {
    let unknown_action = load_error("permit (principal, action == Haven::Action::\"fly\", resource);");
    assert!(unknown_action.contains("fly"), "{unknown_action}");

    let dup = PolicyEngine::new(Some("@id(\"staff-require-mfa\") forbid (principal, action, resource);"));
    assert!(matches!(dup, Err(PolicyError::DuplicateId(ref id)) if id == "staff-require-mfa"), "{dup:?}");

    let template = load_error("permit (principal == ?principal, action, resource);");
    assert!(template.contains("template"), "{template}");

    let redact = load_error("@redact(\"text,txet\") permit (principal, action, resource) when { false };");
    assert!(redact.contains("txet") && redact.contains("identifier"), "{redact}");

    // An empty file adds nothing and is fine.
    assert!(PolicyEngine::new(Some("// nothing yet\n")).is_ok());
}
