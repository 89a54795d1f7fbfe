//! Access end to end, beyond the matrix: a service client acting for a user
//! (token exchange) gets the intersection of both; signing out ends a whole
//! sign-in; care relationships end with their CareTeam, Encounter or
//! Appointment, and explicit assignments start one; break-the-glass asks
//! for a fresh second factor; searches are decided as searches; billing
//! sees resources with their narrative removed. Every step is checked in
//! the audit log too.

use haven_audit::Record;
use haven_crypto::totp::{self, TotpSecret};
use haven_server::config::Config;
use haven_server::serve::{self, RunningServer, ServeOptions};
use serde_json::{Value, json};

use crate::common::{DataDir, client, haven_ok};

const PASSWORD: &str = "an-access-test-password-9";

struct Ctx {
    dir: DataDir,
    server: RunningServer,
    http: reqwest::Client,
    base: String,
}

fn add_user(dir: &DataDir, user: &str, role: &str, link: Option<(&str, &str)>) {
    let pw = dir.path.with_extension(format!("{user}.pw"));
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut args = vec!["user", "add", "--data-dir", dir.arg(), "--username", user, "--role", role];
    args.extend(["--password-file", pw.to_str().unwrap()]);
    if let Some((flag, id)) = link {
        args.extend([flag, id]);
    }
    haven_ok(&args);
}

/// Adds a service client with a secret; returns the secret.
fn add_client(dir: &DataDir, name: &str, scopes: &str) -> String {
    let out = haven_ok(&["client", "add", "--data-dir", dir.arg(), "--name", name, "--scopes", scopes]);
    out.lines().find_map(|l| l.strip_prefix("client_secret = ")).unwrap().trim().to_owned()
}

impl Ctx {
    async fn new(dir: DataDir) -> Ctx {
        let config = Config::load(&dir.path).unwrap();
        let opts = ServeOptions {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
            insecure_http: false,
        };
        let server = serve::start(&dir.path, config, opts).await.unwrap();
        let http = client(&dir.path);
        let base = server.url();
        Ctx { dir, server, http, base }
    }

    async fn put(&self, token: &str, path: &str, body: Value) {
        let r = self.http.put(format!("{}/fhir/{path}", self.base)).bearer_auth(token).json(&body).send().await;
        let s = r.unwrap().status();
        assert!(s.is_success(), "PUT {path}: {s}");
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: Option<&str>, path: &str, body: Value) -> reqwest::Response {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    async fn form(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(format!("{}/auth/token", self.base)).form(fields).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Token exchange: `client` acting for the holder of `subject`.
    async fn exchange(&self, client: &str, secret: &str, subject: &str) -> (u16, Value) {
        self.form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("client_id", client),
            ("client_secret", secret),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ])
        .await
    }

    /// Every audit record so far, decoded.
    async fn records(&self) -> Vec<Record> {
        let store = self.server.state().audit().store().clone();
        let rows = store.records(0, 1_000_000).await.unwrap();
        rows.iter().map(|r| serde_json::from_slice(&r.bytes).unwrap()).collect()
    }
}

fn observation(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")}})
}

fn care_team(id: &str, patient: &str, practitioner: &str, status: &str) -> Value {
    json!({"resourceType": "CareTeam", "id": id, "status": status,
        "subject": {"reference": format!("Patient/{patient}")},
        "participant": [{"member": {"reference": format!("Practitioner/{practitioner}")}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_acting_for_a_user_gets_the_intersection_and_dies_with_the_sign_in() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    add_user(&dir, "dr.obo", "clinician", Some(("--practitioner", "doc-obo")));
    add_user(&dir, "pat.obo", "patient", Some(("--patient", "p-mine")));
    let dr = dir.token_for("dr.obo", None);
    let copilot = add_client(&dir, "copilot", "user/Observation.rs user/Condition.rs");
    let pclient = add_client(&dir, "patient-app", "patient/Observation.rs patient/Appointment.crus");
    let c = Ctx::new(dir).await;

    for (pid, obs) in [("p-rel", "o-rel"), ("p-unrel", "o-unrel"), ("p-mine", "o-mine")] {
        c.put(&emr, &format!("Patient/{pid}"), json!({"resourceType": "Patient", "id": pid})).await;
        c.put(&emr, &format!("Observation/{obs}"), observation(obs, pid)).await;
    }
    c.put(&emr, "CareTeam/t-rel", care_team("t-rel", "p-rel", "doc-obo", "active")).await;

    // The clinician's own token is delegated to the copilot.
    let (s, v) = c.exchange("copilot", &copilot, &dr).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["scope"], "user/Observation.rs user/Condition.rs", "the granted scopes are reported");
    let obo = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get(&obo, "/fhir/Observation/o-rel").await.0, 200, "the clinician's patient");
    assert_eq!(c.get(&obo, "/fhir/Observation/o-unrel").await.0, 404, "the scopes alone do not open a chart");
    let (s, b) = c.get(&obo, "/fhir/Observation?_count=50").await;
    assert_eq!((s, b["total"].as_u64()), (200, Some(1)), "searches see the intersection only: {b}");
    let r =
        c.http.put(format!("{}/fhir/Observation/o-rel", c.base)).bearer_auth(&obo).json(&observation("o-rel", "p-rel"));
    assert_eq!(r.send().await.unwrap().status(), 403, "the clinician may write, the client's scopes may not");

    // A patient's app reaches that patient's own record only.
    let r = c.post(None, "/auth/login", json!({"username": "pat.obo", "password": PASSWORD})).await;
    let login: Value = r.json().await.unwrap();
    let pat = login["access_token"].as_str().unwrap().to_owned();
    let pat_refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let (s, v) = c.exchange("patient-app", &pclient, &pat).await;
    assert_eq!(s, 200, "{v}");
    let app = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get(&app, "/fhir/Observation/o-mine").await.0, 200);
    assert_eq!(c.get(&app, "/fhir/Observation/o-rel").await.0, 404);

    // What cannot be exchanged: a wrong secret, a client's own token, a
    // delegated token, garbage.
    assert_eq!(c.exchange("copilot", "hvs_wrong", &dr).await.0, 401);
    let (_, own) =
        c.form(&[("grant_type", "client_credentials"), ("client_id", "copilot"), ("client_secret", &copilot)]).await;
    assert_eq!(own["scope"], "user/Observation.rs user/Condition.rs");
    let own = own["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.exchange("copilot", &copilot, &own).await.0, 400, "a client's token is no user's");
    assert_eq!(c.exchange("copilot", &copilot, &obo).await.0, 400, "no delegation of a delegation");
    assert_eq!(c.exchange("copilot", &copilot, "hvn_forged").await.0, 400);

    // Signing out ends the sign-in: the access token, its refresh token and
    // the app's delegated token.
    assert_eq!(c.post(Some(&pat), "/auth/logout", json!({})).await.status(), 204);
    assert_eq!(c.get(&pat, "/fhir/Observation/o-mine").await.0, 401);
    assert_eq!(c.get(&app, "/fhir/Observation/o-mine").await.0, 401, "the delegated token ended with it");
    let (s, _) = c.form(&[("grant_type", "refresh_token"), ("refresh_token", &pat_refresh)]).await;
    assert_eq!(s, 400, "the refresh token ended with it");

    // The audit log names the client and the user it acted for.
    let records = c.records().await;
    let dr_account = records
        .iter()
        .find(|r| r.event.action == "token.exchange" && r.event.outcome == haven_audit::Outcome::Success)
        .and_then(|r| r.event.actor.on_behalf_of.clone())
        .expect("the exchange is recorded with the user");
    let reads: Vec<&Record> = records
        .iter()
        .filter(|r| r.event.action == "fhir.read" && r.event.status == Some(200))
        .filter(|r| r.event.resources == ["Observation/o-rel"])
        .collect();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|r| r.event.actor.on_behalf_of.as_deref() == Some(dr_account.as_str())));
    assert!(reads.iter().all(|r| r.event.actor.role.as_deref() == Some("agent")));
    assert!(reads.iter().all(|r| r.event.purpose.as_deref() == Some("TREAT")), "the user's purpose");
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_relationships_end_with_their_resources_and_assignments_start_them() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    add_user(&dir, "dr.a", "clinician", Some(("--practitioner", "doc-a")));
    add_user(&dir, "dr.b", "clinician", Some(("--practitioner", "doc-b")));
    let (a, b) = (dir.token_for("dr.a", None), dir.token_for("dr.b", None));
    let c = Ctx::new(dir).await;
    for pid in ["p1", "p2", "p3", "p4", "p5", "p6", "p7"] {
        c.put(&emr, &format!("Patient/{pid}"), json!({"resourceType": "Patient", "id": pid})).await;
    }
    let doc_a = json!({"reference": "Practitioner/doc-a"});
    c.put(&emr, "Appointment/ap1", json!({"resourceType": "Appointment", "id": "ap1", "status": "cancelled",
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}, {"actor": doc_a, "status": "accepted"}]}))
        .await;
    c.put(
        &emr,
        "Encounter/e2",
        json!({"resourceType": "Encounter", "id": "e2", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p2"}, "participant": [{"individual": doc_a}],
        "period": {"start": "2021-03-01T09:00:00Z", "end": "2021-03-01T10:00:00Z"}}),
    )
    .await;
    let recent = (time::OffsetDateTime::now_utc() - time::Duration::days(20)).date();
    c.put(
        &emr,
        "Encounter/e3",
        json!({"resourceType": "Encounter", "id": "e3", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p3"}, "participant": [{"individual": doc_a}],
        "period": {"start": format!("{recent}"), "end": format!("{recent}")}}),
    )
    .await;
    c.put(&emr, "CareTeam/t4", care_team("t4", "p4", "doc-a", "inactive")).await;
    c.put(&emr, "CareTeam/t5", care_team("t5", "p5", "doc-b", "active")).await;

    assert_eq!(c.get(&a, "/fhir/Patient/p1").await.0, 404, "a cancelled appointment ties nobody");
    assert_eq!(c.get(&a, "/fhir/Patient/p2").await.0, 404, "an encounter that ended years ago");
    assert_eq!(c.get(&a, "/fhir/Patient/p3").await.0, 200, "an encounter that ended last month");
    assert_eq!(c.get(&a, "/fhir/Patient/p4").await.0, 404, "an inactive care team");
    assert_eq!(c.get(&a, "/fhir/Patient/p5").await.0, 404);

    // Dr B, in p5's care, hands p5 over to Dr A; Dr A may not assign
    // anyone to a patient outside their own care.
    let body = json!({"practitioner": "doc-a", "patient": "p5", "reason": "handover at the end of shift", "days": 2});
    let r = c.post(Some(&b), "/v1/assignments", body).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert!(v["expires_at"].as_i64().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp() + 86_000);
    assert_eq!(c.get(&a, "/fhir/Patient/p5").await.0, 200, "assigned");
    let body = json!({"practitioner": "doc-a", "patient": "p6", "reason": "I would like to read this chart"});
    assert_eq!(c.post(Some(&a), "/v1/assignments", body).await.status(), 403);
    let body = json!({"practitioner": "doc-a", "patient": "p5", "reason": "short"});
    assert_eq!(c.post(Some(&b), "/v1/assignments", body).await.status(), 400, "a reason is required");
    assert_eq!(c.get(&a, "/fhir/Patient/p6").await.0, 404);

    // An operator assigns from the command line.
    haven_ok(&[
        "assign",
        "--data-dir",
        c.dir.arg(),
        "--practitioner",
        "doc-a",
        "--patient",
        "p7",
        "--reason",
        "covering the ward tonight",
        "--days",
        "1",
    ]);
    assert_eq!(c.get(&a, "/fhir/Patient/p7").await.0, 200, "assigned by an operator");

    let records = c.records().await;
    let assigned: Vec<&Record> = records.iter().filter(|r| r.event.action == "access.assign").collect();
    assert_eq!(assigned.len(), 4, "every attempt is recorded");
    assert!(assigned.iter().any(|r| r.event.patients == ["p7"] && r.event.actor.id.starts_with("operator:")));
    assert!(assigned.iter().any(|r| r.event.detail.as_deref().is_some_and(|d| d.contains("handover"))));
    c.server.shutdown();
}

fn secret_from_uri(uri: &str) -> TotpSecret {
    let s = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    TotpSecret::from_base32(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_the_glass_asks_for_a_fresh_second_factor() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    // Every second factor is stale at once: break-the-glass always asks again.
    let file = dir.path.join("haven.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("break_glass_fresh_mfa_secs = 900", "break_glass_fresh_mfa_secs = 0")).unwrap();
    add_user(&dir, "dr.glass", "clinician", Some(("--practitioner", "doc-glass")));
    let c = Ctx::new(dir).await;
    c.put(&emr, "Patient/p-er", json!({"resourceType": "Patient", "id": "p-er"})).await;

    // Sign in with TOTP.
    let v: Value =
        c.post(None, "/auth/login", json!({"username": "dr.glass", "password": PASSWORD})).await.json().await.unwrap();
    let enrol = v["enrolment_token"].as_str().unwrap().to_owned();
    let e: Value = c.post(Some(&enrol), "/auth/mfa/enroll", json!({})).await.json().await.unwrap();
    let secret = secret_from_uri(e["otpauth_uri"].as_str().unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = |at: i64| format!("{:06}", totp::code_at(&secret, at));
    let a: Value = c.post(Some(&enrol), "/auth/mfa/activate", json!({"code": code(now)})).await.json().await.unwrap();
    let token = a["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get(&token, "/fhir/Patient/p-er").await.0, 404, "no care relationship");

    let reason = "unconscious in the emergency department";
    let r = c.post(Some(&token), "/v1/break-glass", json!({"patient": "p-er", "reason": reason})).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("insufficient_user_authentication"), "{challenge}");
    let body = json!({"patient": "p-er", "reason": reason, "code": "123456"});
    assert_eq!(c.post(Some(&token), "/v1/break-glass", body).await.status(), 401, "a wrong code");
    let body = json!({"patient": "p-er", "reason": reason, "code": code(now + 30)});
    let r = c.post(Some(&token), "/v1/break-glass", body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(&token, "/fhir/Patient/p-er").await.0, 200, "emergency access");

    let records = c.records().await;
    let glass: Vec<&Record> = records.iter().filter(|r| r.event.action == "access.break_glass").collect();
    assert_eq!(glass.len(), 3);
    assert!(glass.iter().all(|r| r.event.purpose.as_deref() == Some("ETREAT")));
    assert!(glass.iter().filter(|r| r.event.outcome == haven_audit::Outcome::Denied).count() == 2);
    let granted = glass.iter().find(|r| r.event.outcome == haven_audit::Outcome::Success).unwrap();
    assert_eq!(granted.event.detail.as_deref(), Some(reason), "the reason is in the record");
    let read = records.iter().rfind(|r| r.event.action == "fhir.read").unwrap();
    assert_eq!((read.event.status, read.event.purpose.as_deref()), (Some(200), Some("ETREAT")));
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_need_the_search_right_and_billing_sees_no_narrative() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    add_client(&dir, "reader", "system/Observation.r");
    let reader = dir.token_for("reader", None);
    add_user(&dir, "bill", "billing", None);
    let bill = dir.token_for("bill", None);
    let c = Ctx::new(dir).await;
    c.put(&emr, "Patient/p-b", json!({"resourceType": "Patient", "id": "p-b"})).await;
    c.put(&emr, "Observation/o-b", observation("o-b", "p-b")).await;
    assert_eq!(c.get(&reader, "/fhir/Observation/o-b").await.0, 200, "read is granted");
    let (s, b) = c.get(&reader, "/fhir/Observation?_id=o-b").await;
    assert_eq!((s, b["total"].as_u64()), (200, Some(0)), "search is not: {b}");

    let coverage = json!({"resourceType": "Coverage", "id": "cov-b", "status": "active",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Gold plan</div>"},
        "beneficiary": {"reference": "Patient/p-b"}, "payor": [{"reference": "Patient/p-b"}]});
    c.put(&emr, "Coverage/cov-b", coverage).await;
    let (s, v) = c.get(&bill, "/fhir/Coverage/cov-b").await;
    assert_eq!(s, 200);
    assert!(v.get("text").is_none(), "the narrative is removed: {v}");
    assert_eq!(v["status"], "active", "the rest is kept");
    assert_eq!(v["meta"]["security"][0]["code"], "REDACTED", "and the resource says so");
    let (_, full) = c.get(&emr, "/fhir/Coverage/cov-b").await;
    assert!(full.get("text").is_some(), "stored whole");
    c.server.shutdown();
}
