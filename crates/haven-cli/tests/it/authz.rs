//! The authorization matrix, against the real HTTP server: every role ×
//! resource type × read/search/write × {own, related, unrelated,
//! consent-denied, break-glass patient}. Zero unexpected allows.

use haven_server::config::Config;
use haven_server::serve::{self, ServeOptions};
use serde_json::{Value, json};

use crate::common::{DataDir, client, haven_ok};

const PATIENTS: [(&str, &str); 5] = [
    ("own", "p-own"),
    ("related", "p-rel"),
    ("unrelated", "p-unrel"),
    ("consent-denied", "p-consent"),
    ("break-glass", "p-glass"),
];
/// Patient-linked types of every category the policies speak of, each
/// linked to its patient the way FHIR does it (subject, patient, for,
/// beneficiary, actor, target).
const TYPES: [&str; 20] = [
    "Patient",
    "RelatedPerson",
    "Observation",
    "Condition",
    "Encounter",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "Procedure",
    "DiagnosticReport",
    "DocumentReference",
    "CarePlan",
    "Task",
    "Appointment",
    "AppointmentResponse",
    "Coverage",
    "Claim",
    "ExplanationOfBenefit",
    "Consent",
    "Provenance",
];
const OPS: [&str; 3] = ["read", "search", "write"];
/// Non-patient data: the directory.
const DIRECTORY: [&str; 3] = ["Practitioner", "Organization", "Location"];

fn coding(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

fn resource(rtype: &str, pid: &str) -> (String, Value) {
    let id = if rtype == "Patient" { pid.to_owned() } else { format!("{}-{pid}", rtype.to_lowercase()) };
    let pat = json!({"reference": format!("Patient/{pid}")});
    let loinc = coding("http://loinc.org", "8867-4");
    let mut r = match rtype {
        "Patient" => json!({"name": [{"family": "Matrix"}]}),
        "RelatedPerson" => json!({"patient": pat}),
        "Observation" => json!({"status": "final", "code": loinc, "subject": pat}),
        "Condition" => json!({"subject": pat, "code": coding("http://snomed.info/sct", "38341003")}),
        "Encounter" => json!({"status": "finished", "subject": pat,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}),
        "MedicationRequest" => json!({"status": "active", "intent": "order", "subject": pat,
            "medicationCodeableConcept": coding("http://www.nlm.nih.gov/research/umls/rxnorm", "197361")}),
        "AllergyIntolerance" => json!({"patient": pat}),
        "Immunization" => json!({"status": "completed", "patient": pat, "occurrenceDateTime": "2024-01-01",
            "vaccineCode": coding("http://hl7.org/fhir/sid/cvx", "140")}),
        "Procedure" => json!({"status": "completed", "subject": pat}),
        "DiagnosticReport" => json!({"status": "final", "code": loinc, "subject": pat}),
        "DocumentReference" => json!({"status": "current", "subject": pat,
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}),
        "CarePlan" => json!({"status": "active", "intent": "plan", "subject": pat}),
        "Task" => json!({"status": "requested", "intent": "order", "for": pat}),
        "Appointment" => json!({"status": "booked", "participant": [{"actor": pat, "status": "accepted"}]}),
        "AppointmentResponse" => json!({"appointment": {"reference": format!("Appointment/appointment-{pid}")},
            "participantStatus": "accepted", "actor": pat}),
        "Coverage" => json!({"status": "active", "beneficiary": pat, "payor": [{"reference": "Organization/payer"}]}),
        "Claim" => json!({"status": "active", "use": "claim", "patient": pat, "created": "2024-01-01",
            "type": coding("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
            "provider": {"reference": "Organization/payer"}, "priority": coding("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
            "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": format!("Coverage/coverage-{pid}")}}]}),
        "ExplanationOfBenefit" => json!({"status": "active", "use": "claim", "patient": pat, "created": "2024-01-01",
            "type": coding("http://terminology.hl7.org/CodeSystem/claim-type", "professional"), "outcome": "complete",
            "insurer": {"reference": "Organization/payer"}, "provider": {"reference": "Organization/payer"},
            "insurance": [{"focal": true, "coverage": {"reference": format!("Coverage/coverage-{pid}")}}]}),
        // A proposed Consent: in the data, without changing any decision.
        "Consent" => json!({"status": "proposed", "patient": pat,
            "scope": coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
            "category": [coding("http://loinc.org", "59284-0")]}),
        "Provenance" => json!({"target": [pat], "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": "Organization/payer"}}]}),
        other => panic!("no test resource for {other}"),
    };
    r["resourceType"] = json!(rtype);
    r["id"] = json!(id);
    (id, r)
}

/// What the default policies promise (the table), by category.
fn expected(role: &str, rtype: &str, op: &str, kind: &str) -> bool {
    let read = op != "write";
    let category = haven_policy::category_of(rtype).as_str();
    match role {
        "patient" => kind == "own" && ((read && category != "audit") || rtype == "Appointment"),
        "clinician" | "nurse" => {
            matches!(kind, "related" | "break-glass")
                && ["clinical", "demographic", "scheduling", "consent"].contains(&category)
        }
        "scheduler" => matches!(category, "scheduling" | "demographic"),
        "billing" => category == "financial" || (category == "demographic" && read),
        "auditor" => category == "audit" && read,
        "agent" => rtype == "Observation" && read,
        _ => false, // admin: no PHI
    }
}

/// The directory: everyone but auditors and narrowly scoped agents reads it;
/// administrators maintain it.
fn expected_directory(role: &str, op: &str) -> bool {
    match op {
        "write" => role == "admin",
        _ => !matches!(role, "auditor" | "agent"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_type_action_and_relationship() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    let pw = dir.path.with_extension("pw");
    std::fs::write(&pw, "a-long-matrix-password-1\n").unwrap();
    let pw = pw.to_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for (role, link) in [
        ("patient", Some(("--patient", "p-own"))),
        ("clinician", Some(("--practitioner", "doc-1"))),
        ("nurse", Some(("--practitioner", "nurse-1"))),
        ("scheduler", None),
        ("billing", None),
        ("admin", None),
        ("auditor", None),
    ] {
        let user = format!("m-{role}");
        let mut args =
            vec!["user", "add", "--data-dir", dir.arg(), "--username", &user, "--role", role, "--password-file", &pw];
        if let Some((flag, id)) = link {
            args.extend([flag, id]);
        }
        haven_ok(&args);
        tokens.push((role, dir.token_for(&user, None)));
    }
    haven_ok(&["client", "add", "--data-dir", dir.arg(), "--name", "m-agent", "--scopes", "system/Observation.rs"]);
    tokens.push(("agent", dir.token_for("m-agent", Some("system/Observation.rs"))));

    let config = Config::load(&dir.path).unwrap();
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        insecure_http: false,
    };
    let server = serve::start(&dir.path, config, opts).await.unwrap();
    let http = client(&dir.path);
    let fhir = format!("{}/fhir", server.url());
    let put = |t: &str, path: String, body: Value| {
        http.put(format!("{fhir}/{path}")).bearer_auth(t.to_owned()).json(&body).send()
    };

    // The data: care relationships for doc-1 and nurse-1 with p-rel and
    // p-consent; p-consent's active Consent denies both of them.
    for (path, body) in [
        ("Practitioner/doc-1", json!({"resourceType": "Practitioner", "id": "doc-1"})),
        ("Practitioner/nurse-1", json!({"resourceType": "Practitioner", "id": "nurse-1"})),
        ("Organization/payer", json!({"resourceType": "Organization", "id": "payer", "name": "Payer"})),
        ("Location/ward-1", json!({"resourceType": "Location", "id": "ward-1", "name": "Ward 1"})),
    ] {
        assert!(put(&emr, path.to_owned(), body).await.unwrap().status().is_success());
    }
    for (_, pid) in PATIENTS {
        for t in TYPES {
            let (id, r) = resource(t, pid);
            let s = put(&emr, format!("{t}/{id}"), r).await.unwrap().status();
            assert!(s.is_success(), "{t}/{id}: {s}");
        }
    }
    for pid in ["p-rel", "p-consent"] {
        let team = json!({"resourceType": "CareTeam", "id": format!("team-{pid}"), "status": "active",
            "subject": {"reference": format!("Patient/{pid}")},
            "participant": [{"member": {"reference": "Practitioner/doc-1"}}, {"member": {"reference": "Practitioner/nurse-1"}}]});
        assert!(put(&emr, format!("CareTeam/team-{pid}"), team).await.unwrap().status().is_success());
    }
    let consent = json!({"resourceType": "Consent", "id": "deny-p-consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/p-consent"},
        "provision": {"type": "deny", "actor": [
            {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]}, "reference": {"reference": "Practitioner/doc-1"}},
            {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]}, "reference": {"reference": "Practitioner/nurse-1"}}]}});
    let s = put(&emr, "Consent/deny-p-consent".into(), consent).await.unwrap().status();
    assert!(s.is_success(), "consent: {s}");

    // Break-the-glass for the clinical staff, with a reason; without one it is refused.
    for (role, t) in &tokens {
        let r = http
            .post(format!("{}/v1/break-glass", server.url()))
            .bearer_auth(t)
            .json(&json!({"patient": "p-glass", "reason": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{role}: the reason is mandatory");
        let body = json!({"patient": "p-glass", "reason": "unconscious in the emergency department"});
        let r = http.post(format!("{}/v1/break-glass", server.url())).bearer_auth(t).json(&body).send().await.unwrap();
        let want = if matches!(*role, "clinician" | "nurse") { 200 } else { 403 };
        assert_eq!(r.status(), want, "{role} breaks the glass");
    }

    let mut unexpected_allows = Vec::new();
    let mut unexpected_denies = Vec::new();
    for (role, token) in &tokens {
        for (kind, pid) in PATIENTS {
            for t in TYPES {
                let (id, body) = resource(t, pid);
                for op in OPS {
                    let allowed = match op {
                        "read" => {
                            let r = http.get(format!("{fhir}/{t}/{id}")).bearer_auth(token).send().await.unwrap();
                            let s = r.status().as_u16();
                            assert!([200, 403, 404].contains(&s), "{role} read {t}/{id}: {s}");
                            s == 200
                        }
                        "search" => {
                            let r = http.get(format!("{fhir}/{t}?_id={id}")).bearer_auth(token).send().await.unwrap();
                            let s = r.status().as_u16();
                            assert!([200, 403].contains(&s), "{role} search {t}: {s}");
                            let v: Value = r.json().await.unwrap();
                            s == 200 && v["total"] == 1 && v["entry"].as_array().is_some_and(|e| !e.is_empty())
                        }
                        _ => {
                            let s = put(token, format!("{t}/{id}"), body.clone()).await.unwrap().status().as_u16();
                            assert!([200, 201, 403, 404].contains(&s), "{role} write {t}/{id}: {s}");
                            s == 200
                        }
                    };
                    let want = expected(role, t, op, kind);
                    let cell = format!("{role} {op} {t} ({kind})");
                    if allowed && !want {
                        unexpected_allows.push(cell);
                    } else if !allowed && want {
                        unexpected_denies.push(cell);
                    }
                }
            }
        }
    }
    // The directory: no patient, the same for every kind of patient.
    for (role, token) in &tokens {
        for (t, id) in DIRECTORY.iter().zip(["doc-1", "payer", "ward-1"]) {
            let (_, body) = (
                (),
                http.get(format!("{fhir}/{t}/{id}"))
                    .bearer_auth(&emr)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap(),
            );
            for op in OPS {
                let allowed = match op {
                    "read" => {
                        http.get(format!("{fhir}/{t}/{id}")).bearer_auth(token).send().await.unwrap().status() == 200
                    }
                    "search" => {
                        let r = http.get(format!("{fhir}/{t}?_id={id}")).bearer_auth(token).send().await.unwrap();
                        r.status() == 200 && r.json::<Value>().await.unwrap()["total"] == 1
                    }
                    _ => put(token, format!("{t}/{id}"), body.clone()).await.unwrap().status() == 200,
                };
                let want = expected_directory(role, op);
                let cell = format!("{role} {op} {t} (directory)");
                if allowed && !want {
                    unexpected_allows.push(cell);
                } else if !allowed && want {
                    unexpected_denies.push(cell);
                }
            }
        }
    }
    let cells = tokens.len() * (PATIENTS.len() * TYPES.len() + DIRECTORY.len()) * OPS.len();
    eprintln!("authorization matrix: {cells} cells over HTTP");
    assert!(unexpected_allows.is_empty(), "UNEXPECTED ALLOWS:\n{}", unexpected_allows.join("\n"));
    assert!(unexpected_denies.is_empty(), "unexpected denies:\n{}", unexpected_denies.join("\n"));
    server.shutdown();
}
