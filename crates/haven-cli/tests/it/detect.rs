//! Threat detection inside `haven serve`: the live audit stream raises
//! alerts, the relationship index learns of an appointment the moment it is
//! written and explains the access that follows, alerts become incidents
//! that auditors resolve through the API, and all of it survives a restart
//! without alerts raised twice.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{DataDir, client, haven_ok, start};

const PASSWORD: &str = "a-detection-test-password-7";

fn add_user(dir: &DataDir, user: &str, role: &str, link: &[&str]) {
    let pw = dir.path.with_extension(format!("{user}.pw"));
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut args = vec!["user", "add", "--data-dir", dir.arg(), "--username", user, "--role", role];
    args.extend(["--password-file", pw.to_str().unwrap()]);
    args.extend(link);
    haven_ok(&args);
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, token: &str, path: &str, body: Value) {
        let r = self.http.put(format!("{}/fhir/{path}", self.base)).bearer_auth(token).json(&body).send().await;
        let s = r.unwrap().status();
        assert!(s.is_success(), "PUT {path}: {s}");
    }

    /// Polls until `path` answers with something `done` accepts.
    async fn wait_for(&self, token: &str, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(token, path).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {status} {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fail_logins(&self, user: &str, n: usize) {
        for _ in 0..n {
            let r = self
                .http
                .post(format!("{}/auth/login", self.base))
                .json(&json!({"username": user, "password": "not-the-password-at-all"}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_client_error(), "{}", r.status());
        }
    }
}

fn restricted_patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "name": [{"family": "Rowe"}],
        "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]}})
}

fn alerts_of(body: &Value, rule: &str) -> Vec<Value> {
    body["alerts"].as_array().unwrap().iter().filter(|a| a["rule"] == rule).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_detection_raises_explains_files_and_survives_a_restart() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    add_user(&dir, "dr.a", "clinician", &["--practitioner", "doc-a"]);
    add_user(&dir, "sec1", "auditor", &[]);
    add_user(&dir, "victim", "scheduler", &[]);
    let (dr, auditor) = (dir.token_for("dr.a", None), dir.token_for("sec1", None));
    let server = start(&dir).await;
    let api = Api { http: client(&dir.path), base: server.url() };
    api.wait_for(&auditor, "/v1/detect/status", "detection to run", |s| s["running"] == true).await;

    // Only auditors and administrators see alerts.
    assert_eq!(api.get(&dr, "/v1/alerts").await.0, 403);
    assert_eq!(api.get(&auditor, "/v1/alerts?status=maybe").await.0, 400);

    // An appointment written now explains Dr A's access to a restricted record at once.
    api.put(&emr, "Patient/vip1", restricted_patient("vip1")).await;
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    api.put(
        &emr,
        "Appointment/ap1",
        json!({"resourceType": "Appointment", "id": "ap1", "status": "booked", "start": soon, "end": soon,
            "participant": [{"actor": {"reference": "Patient/vip1"}, "status": "accepted"},
                            {"actor": {"reference": "Practitioner/doc-a"}, "status": "accepted"}]}),
    )
    .await;
    assert_eq!(api.get(&dr, "/fhir/Patient/vip1").await.0, 200);
    let explained = api
        .wait_for(&auditor, "/v1/alerts?status=explained", "the explained VIP access", |b| {
            !alerts_of(b, "snooping.vip").is_empty()
        })
        .await;
    let vip = &alerts_of(&explained, "snooping.vip")[0];
    assert_eq!(vip["patients"], json!(["vip1"]));
    let why = vip["explanations"].to_string();
    assert!(why.contains("appointment") && why.contains("Appointment/ap1"), "{why}");

    // Password guessing against one account: an open alert, filed as an incident.
    api.fail_logins("victim", 11).await;
    let open = api
        .wait_for(&auditor, "/v1/alerts", "the brute-force alert", |b| {
            !alerts_of(b, "credential.brute_force").is_empty()
        })
        .await;
    let brute = alerts_of(&open, "credential.brute_force");
    assert_eq!(brute.len(), 1, "one alert per burst: {open}");
    let first_alert = brute[0]["id"].as_u64().unwrap();
    let (_, list) = api.get(&auditor, "/v1/incidents").await;
    let incident = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["attacks"].as_array().unwrap().contains(&json!("brute_force")))
        .cloned()
        .unwrap_or_else(|| panic!("no incident: {list}"));
    let id = incident["id"].as_u64().unwrap();
    let (status, one) = api.get(&auditor, &format!("/v1/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert!(one["evidence"].as_array().unwrap().len() >= 10, "every failed sign-in is evidence: {one}");
    assert!(one["summary"].as_str().unwrap().contains("failed sign-ins"), "{one}");
    assert_eq!(api.get(&auditor, "/v1/incidents/999").await.0, 404);

    // Resolving needs the manage right, a known resolution and a reason; twice is a conflict.
    let path = format!("/v1/incidents/{id}");
    let resolve =
        json!({"action": "resolve", "resolution": "true_positive", "reason": "password guessing from one host"});
    assert_eq!(api.post(&dr, &path, resolve.clone()).await.0, 403);
    let bad = json!({"action": "resolve", "resolution": "maybe", "reason": "x"});
    assert_eq!(api.post(&auditor, &path, bad).await.0, 400);
    let no_reason = json!({"action": "resolve", "resolution": "benign", "reason": " "});
    assert_eq!(api.post(&auditor, &path, no_reason).await.0, 400);
    let (status, _) = api.post(&auditor, &path, json!({"action": "assign", "assignee": "sec1"})).await;
    assert_eq!(status, 200);
    let (status, done) = api.post(&auditor, &path, resolve.clone()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((done["state"].as_str(), done["resolution"].as_str()), (Some("resolved"), Some("true_positive")));
    assert_eq!(api.post(&auditor, &path, resolve).await.0, 409);

    // A SIEM pulls everything as OCSF lines.
    let r = api.http.get(format!("{}/v1/incidents/export", api.base)).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let lines = r.text().await.unwrap();
    assert!(lines.lines().count() >= 3, "{lines}");
    for l in lines.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(v["class_uid"].is_number(), "{l}");
    }

    // Every look at the security queue is itself audited.
    let (_, events) = api.get(&auditor, "/fhir/AuditEvent?_count=200").await;
    assert!(events.to_string().contains("security.incident_change"), "{events}");

    server.shutdown();
    server.wait().await;

    // After a restart: the resolution stands, nothing is raised twice, numbering goes on.
    let server = start(&dir).await;
    let api = Api { http: client(&dir.path), base: server.url() };
    api.wait_for(&auditor, "/v1/detect/status", "detection to run again", |s| s["running"] == true).await;
    let (_, again) = api.get(&auditor, &path).await;
    assert_eq!(again["state"], "resolved", "{again}");
    assert!(again["history"].to_string().contains("assigned to sec1"), "{again}");
    api.fail_logins("victim", 11).await;
    let open = api
        .wait_for(&auditor, "/v1/alerts?status=all", "a second brute-force alert", |b| {
            alerts_of(b, "credential.brute_force").len() >= 2
        })
        .await;
    let ids: Vec<u64> = alerts_of(&open, "credential.brute_force").iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 2, "the first burst is not raised again: {open}");
    assert!(ids[0] > first_alert, "numbering continues: {ids:?}");
    assert_eq!(alerts_of(&open, "snooping.vip").len(), 1, "{open}");
    // The resolved incident stays closed: the new alert opens another.
    let (_, list) = api.get(&auditor, "/v1/incidents").await;
    assert!(list["incidents"].as_array().unwrap().iter().all(|i| i["id"].as_u64() != Some(id)), "{list}");
    server.shutdown();
    server.wait().await;
}
