//! The audit log end to end: every request leaves a record (allowed and
//! denied), auditors and patients read it through FHIR and the disclosures
//! report, `haven audit verify` catches each kind of tampering in an export,
//! a SIGKILL during a burst loses no acknowledged request's record, and a
//! failing audit write fails the request.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use haven_server::config::Config;
use haven_server::serve::{self, ServeOptions};
use serde_json::{Value, json};

use crate::common::{DataDir, ServerProcess, client, haven, haven_ok};

fn patient() -> Value {
    json!({"resourceType": "Patient", "name": [{"family": "Audit", "given": ["Alice"]}], "gender": "female"})
}

fn add_user(dir: &DataDir, username: &str, role: &str, link: &[&str]) {
    let pw = dir.path.with_extension(format!("{username}.pw"));
    std::fs::write(&pw, "a-long-enough-password-42\n").unwrap();
    let mut args = vec!["user", "add", "--data-dir", dir.arg(), "--username", username, "--role", role];
    args.extend(["--password-file", pw.to_str().unwrap()]);
    args.extend(link);
    haven_ok(&args);
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["resource"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_recorded_and_readable_by_auditors_and_the_patient() {
    let dir = DataDir::new();
    let server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    let emr = dir.fhir_token();
    let base = &server.base;

    let r = http.post(format!("{base}/fhir/Patient")).bearer_auth(&emr).json(&patient()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let create_rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let pid = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = http.get(format!("{base}/fhir/Patient/{pid}")).bearer_auth(&emr).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/fhir/Patient/{pid}")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let anon_rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();

    add_user(&dir, "auditor1", "auditor", &[]);
    add_user(&dir, "alice", "patient", &["--patient", &pid]);
    let auditor = dir.token_for("auditor1", None);
    let alice = dir.token_for("alice", None);

    // The auditor sees the create and the read of this patient, with the request ids.
    let url = format!("{base}/fhir/AuditEvent?patient={pid}");
    let b: Value = http.get(&url).bearer_auth(&auditor).send().await.unwrap().json().await.unwrap();
    let events = entries(&b);
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"C") && actions.contains(&"R"), "{actions:?}");
    assert!(
        events.iter().all(|e| e["entity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["what"]["reference"] == format!("Patient/{pid}")))
    );
    let text = b.to_string();
    assert!(text.contains(&create_rid), "the create's request id is in its record");
    assert!(text.contains("IHE.BasicAudit.PatientRead"));
    // The refused anonymous request is recorded too, as a failure.
    let b: Value = http
        .get(format!("{base}/fhir/AuditEvent?outcome=4"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(b.to_string().contains(&anon_rid), "the denied request is in the log");
    // No PHI values: the patient's name never reaches the log.
    assert!(!b.to_string().contains("Alice"));

    // Others may not read the log.
    let r = http.get(format!("{base}/fhir/AuditEvent")).bearer_auth(&emr).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{base}/fhir/AuditEvent"))
        .bearer_auth(&emr)
        .json(&json!({"resourceType": "AuditEvent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "AuditEvents are not writable");

    // The patient reads who accessed their record, and nobody else's.
    let d: Value = http
        .get(format!("{base}/v1/audit/disclosures"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = d["disclosures"].as_array().unwrap();
    assert!(list.iter().any(|x| x["what"] == "viewed a record"), "{d}");
    assert!(list.iter().any(|x| x["what"] == "added a record"), "{d}");
    let r =
        http.get(format!("{base}/v1/audit/disclosures?patient=someone-else")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.get(format!("{base}/fhir/AuditEvent?patient=someone-else")).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let b: Value =
        http.get(format!("{base}/fhir/AuditEvent")).bearer_auth(&alice).send().await.unwrap().json().await.unwrap();
    assert!(!entries(&b).is_empty());
    assert!(entries(&b).iter().all(|e| e.to_string().contains(&format!("Patient/{pid}"))));

    // The CLI report names the same accesses; the status endpoint shows the chain.
    let out = haven_ok(&["audit", "disclosures", "--data-dir", dir.arg(), "--patient", &pid]);
    assert!(out.contains("fhir.read") && out.contains("fhir.create"), "{out}");
    let s: Value =
        http.get(format!("{base}/v1/audit/status")).bearer_auth(&auditor).send().await.unwrap().json().await.unwrap();
    assert!(s["head_seq"].as_u64().unwrap() > 5, "{s}");
    assert!(s["public_key"].as_str().unwrap().starts_with("ed25519:"));
}

/// Rewrites an exported file's lines and returns the verifier's output and exit status.
fn verify_lines(dir: &DataDir, name: &str, lines: &[String], key: &str, trusted: Option<&str>) -> (bool, String) {
    let path = dir.path.with_extension(format!("{name}.jsonl"));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut args = vec!["audit", "verify", "--from", path.to_str().unwrap(), "--public-key", key];
    let cp = dir.path.with_extension(format!("{name}.checkpoint"));
    if let Some(t) = trusted {
        std::fs::write(&cp, t).unwrap();
        args.extend(["--checkpoint", cp.to_str().unwrap()]);
    }
    let out = haven(&args);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_each_kind_of_tampering_in_an_export() {
    let dir = DataDir::new();
    std::fs::write(dir.path.join("haven.toml"), "[audit]\ncheckpoint_every_records = 5\n").unwrap();
    let server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    let emr = dir.fhir_token();
    for _ in 0..30 {
        let r = http.post(format!("{}/fhir/Patient", server.base)).bearer_auth(&emr).json(&patient()).send().await;
        assert_eq!(r.unwrap().status(), 201);
    }
    drop(server);
    let export = dir.path.with_extension("export.jsonl");
    haven_ok(&["audit", "export", "--data-dir", dir.arg(), "--out", export.to_str().unwrap()]);
    let key = haven_ok(&["audit", "public-key", "--data-dir", dir.arg()]).trim().to_owned();
    let lines: Vec<String> = std::fs::read_to_string(&export).unwrap().lines().map(str::to_owned).collect();
    let records: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("{\"v\":")).collect();
    assert!(records.len() >= 30, "{} records", records.len());

    let (ok, out) = verify_lines(&dir, "intact", &lines, &key, None);
    assert!(ok, "an intact export verifies: {out}");
    let (ok, _) = verify_lines(&dir, "wrong-key", &lines, "ed25519:rSwzQy03rKIfHr7HOFwi3hjhA+ZFiY9a+bP4sJMCBbw=", None);
    assert!(!ok, "another key does not verify the signatures");
    // The seq of the i-th record line.
    let seq_of =
        |i: usize| -> u64 { serde_json::from_str::<Value>(&lines[records[i]]).unwrap()["seq"].as_u64().unwrap() };

    // A modified field.
    let mut m = lines.clone();
    m[records[10]] = m[records[10]].replace("\"outcome\":\"success\"", "\"outcome\":\"denied\"");
    assert_ne!(m, lines);
    let (ok, out) = verify_lines(&dir, "modified", &m, &key, None);
    assert!(!ok && out.contains(&format!("seq {}", seq_of(10))), "modified: {out}");

    // A deleted record.
    let mut d = lines.clone();
    d.remove(records[12]);
    let (ok, out) = verify_lines(&dir, "deleted", &d, &key, None);
    assert!(!ok && out.contains(&format!("seq {}", seq_of(12))), "deleted: {out}");

    // An inserted record (a copy of another).
    let mut ins = lines.clone();
    ins.insert(records[14], lines[records[3]].clone());
    let (ok, out) = verify_lines(&dir, "inserted", &ins, &key, None);
    assert!(!ok && out.contains("seq"), "inserted: {out}");

    // Two records swapped.
    let mut s = lines.clone();
    s.swap(records[16], records[17]);
    let (ok, out) = verify_lines(&dir, "swapped", &s, &key, None);
    let named = out.contains(&format!("seq {}", seq_of(16))) || out.contains(&format!("seq {}", seq_of(17)));
    assert!(!ok && named, "swapped: {out}");

    // Truncation past a checkpoint the verifier holds: cut the file before it.
    let last_cp = lines.iter().rposition(|l| l.starts_with("{\"checkpoint\"")).unwrap();
    let trusted = lines[last_cp].clone();
    let cut: Vec<String> = lines[..records[20]].to_vec();
    let (ok, out) = verify_lines(&dir, "truncated", &cut, &key, Some(&trusted));
    assert!(!ok && out.to_lowercase().contains("truncat"), "truncated: {out}");
    // Without the trusted checkpoint the shorter log is consistent in itself.
    let (ok, _) = verify_lines(&dir, "truncated-untrusted", &cut, &key, None);
    assert!(ok);

    // The data directory itself verifies, and fails against a checkpoint from a longer log.
    haven_ok(&["audit", "verify", "--data-dir", dir.arg()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_no_acknowledged_record() {
    let dir = DataDir::new();
    let emr = dir.fhir_token();
    let mut server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    // Request ids acknowledged, with the resource a write created.
    let acked = Arc::new(tokio::sync::Mutex::new(Vec::<(String, Option<String>)>::new()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (http, base, token, acked) = (http.clone(), server.base.clone(), emr.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            loop {
                // Half the workers write, half search.
                let r = if w % 2 == 0 {
                    http.post(format!("{base}/fhir/Patient")).bearer_auth(&token).json(&patient()).send().await
                } else {
                    http.get(format!("{base}/fhir/Patient?_count=1")).bearer_auth(&token).send().await
                };
                let Ok(r) = r else { break };
                if r.status().is_success() {
                    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
                    let created = r.headers().get("location").map(|l| {
                        let l = l.to_str().unwrap();
                        let path = l.split("/fhir/").nth(1).unwrap();
                        path.split("/_history").next().unwrap().to_owned()
                    });
                    acked.lock().await.push((id, created));
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().await.len() < 400 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill9();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 100, "the burst was too small to mean anything: {}", acked.len());

    // The chain verifies after the crash, and every acknowledged request has its record.
    let out = haven_ok(&["audit", "verify", "--data-dir", dir.arg()]);
    assert!(out.contains("verifies"), "{out}");
    let export = dir.path.with_extension("crash.jsonl");
    haven_ok(&["audit", "export", "--data-dir", dir.arg(), "--out", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();
    let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: HashSet<&str> = records.iter().filter_map(|r| r["request_id"].as_str()).collect();
    let missing: Vec<_> = acked.iter().filter(|(id, _)| !ids.contains(id.as_str())).collect();
    assert!(missing.is_empty(), "{} acknowledged requests have no audit record", missing.len());
    // Each acknowledged write's record names what it created.
    let writes: Vec<_> = acked.iter().filter_map(|(id, c)| c.as_ref().map(|c| (id, c))).collect();
    assert!(writes.len() >= 20, "too few writes to mean anything: {}", writes.len());
    for (id, created) in writes {
        let r = records.iter().find(|r| r["request_id"] == id.as_str()).unwrap();
        assert_eq!((r["action"].as_str(), r["resources"][0].as_str()), (Some("fhir.create"), Some(created.as_str())));
    }
    let written = acked.iter().filter(|(_, c)| c.is_some()).count();
    // And the restarted server carries on the same chain.
    let server = ServerProcess::start(&dir, &[]).await;
    let r = http.get(format!("{}/fhir/Patient?_count=1", server.base)).bearer_auth(&emr).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let total = r.json::<Value>().await.unwrap()["total"].as_u64().unwrap();
    assert!(total >= written as u64, "every acknowledged write survived: {total} < {written}");
    drop(server);
    haven_ok(&["audit", "verify", "--data-dir", dir.arg()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_audit_write_fails_the_request() {
    let dir = DataDir::new();
    let emr = dir.fhir_token(); // before the in-process server: the CLI blocks
    let config = Config::load(&dir.path).unwrap();
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        insecure_http: false,
    };
    let server = serve::start(&dir.path, config, opts).await.unwrap();
    let http = client(&dir.path);
    let url = format!("{}/fhir/Patient?_count=1", server.url());
    assert_eq!(http.get(&url).bearer_auth(&emr).send().await.unwrap().status(), 200);
    // The writer stops: nothing can be recorded any more, so nothing is served.
    server.state().audit().close().await;
    let r = http.get(&url).bearer_auth(&emr).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(!body.contains("Patient/"), "no data leaves without its record: {body}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_tokens_and_key_changes_are_recorded() {
    let dir = DataDir::new();
    add_user(&dir, "pat.events", "patient", &["--patient", "p-ev"]);
    let config = Config::load(&dir.path).unwrap();
    let opts = ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        insecure_http: false,
    };
    let server = serve::start(&dir.path, config, opts).await.unwrap();
    let http = client(&dir.path);
    let base = server.url();
    let login = |user: &str, pw: &str| {
        http.post(format!("{base}/auth/login")).json(&json!({"username": user, "password": pw})).send()
    };
    assert_eq!(login("nobody.here@example.org", "whatever-password-1").await.unwrap().status(), 401);
    assert_eq!(login("pat.events", "the-wrong-password-1").await.unwrap().status(), 401);
    let v: Value = login("pat.events", "a-long-enough-password-42").await.unwrap().json().await.unwrap();
    let (access, refresh) = (v["access_token"].as_str().unwrap(), v["refresh_token"].as_str().unwrap());
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let r = http.post(format!("{base}/auth/token")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let access2 = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(http.post(format!("{base}/auth/logout")).bearer_auth(&access2).send().await.unwrap().status(), 204);
    assert_eq!(http.get(format!("{base}/fhir/Patient/p-ev")).bearer_auth(access).send().await.unwrap().status(), 401);
    haven_ok(&["keys", "rotate", "--data-dir", dir.arg()]);

    let stored = server.state().audit().store().records(0, 100_000).await.unwrap();
    let records: Vec<haven_audit::Record> = stored.iter().map(|r| serde_json::from_slice(&r.bytes).unwrap()).collect();
    let find = |action: &str, outcome: &str| {
        records.iter().filter(|r| r.event.action == action && r.event.outcome.as_str() == outcome).collect::<Vec<_>>()
    };
    let failed = find("auth.login", "denied");
    assert_eq!(failed.len(), 2, "both failures");
    let unknown = failed.iter().find(|r| r.event.detail.as_deref() == Some("unknown-user")).unwrap();
    assert!(unknown.event.actor.name.as_deref().unwrap().starts_with("unknown-user:"), "a keyed pseudonym");
    let text: String = stored.iter().map(|r| String::from_utf8_lossy(&r.bytes)).collect();
    assert!(!text.contains("nobody.here"), "an unknown sign-in name is never stored");
    let bad = failed.iter().find(|r| r.event.detail.as_deref() == Some("bad-password")).unwrap();
    assert!(bad.event.actor.id.starts_with("account:") && bad.event.actor.fhir.as_deref() == Some("Patient/p-ev"));
    let account = bad.event.actor.id.clone();
    assert_eq!(find("auth.login", "success").len(), 1);
    let refreshed = find("token.refresh", "success");
    assert_eq!(refreshed.len(), 1);
    assert_eq!(refreshed[0].event.actor.id, account, "the refresh names the account");
    let out = find("auth.logout", "success");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event.actor.id, account);
    assert_eq!(find("fhir.read", "denied").len(), 1, "the revoked token's attempt");
    for action in ["keys.rotate", "keys.rewrap", "keys.retire"] {
        let r = find(action, "success");
        assert!(!r.is_empty(), "{action} is recorded");
        assert!(r.iter().all(|r| r.event.actor.id.starts_with("operator:")), "{action} by the operator");
    }
    assert_eq!(find("server.start", "success").len(), 1);
    server.shutdown();
}
