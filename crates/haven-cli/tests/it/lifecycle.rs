//! The binary across its life: crashes, key rotation, backup and restore,
//! refusal to start on unsafe files, and logs without PHI.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::common::{DataDir, ServerProcess, client, haven, haven_ok};

const PHI_NAME: &str = "Zebulon Quixote-Marchetti";

fn patient(i: usize) -> Value {
    json!({"resourceType": "Patient", "name": [{"text": format!("Burst Patient {i}")}], "birthDate": "1970-01-01"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_write_burst_loses_no_acknowledged_write() {
    let dir = DataDir::new();
    let mut server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    let token = dir.fhir_token();
    let acked = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (http, base, token, acked) = (http.clone(), server.base.clone(), token.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let n = w * 1_000_000 + i;
                let r = http.post(format!("{base}/fhir/Patient")).bearer_auth(&token).json(&patient(n)).send().await;
                match r {
                    Ok(r) if r.status() == 201 => {
                        let v: Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => return, // the body was cut off by the kill
                        };
                        acked.lock().await.push((v["id"].as_str().unwrap().to_string(), n));
                    }
                    _ => return,
                }
            }
        }));
    }
    // Let the burst run, then kill the server without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().await.len() < 300 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 50, "the burst wrote too little to mean anything: {}", acked.len());

    let server = ServerProcess::start(&dir, &[]).await;
    let token = dir.fhir_token();
    for (id, n) in &acked {
        let r = http.get(format!("{}/fhir/Patient/{id}", server.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged write {id} lost after SIGKILL");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["name"][0]["text"], format!("Burst Patient {n}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_while_serving() {
    let dir = DataDir::new();
    let server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    let token = dir.fhir_token();
    let mut ids = Vec::new();
    for i in 0..30 {
        let r = http.post(format!("{}/fhir/Patient", server.base)).bearer_auth(&token).json(&patient(i)).send().await;
        ids.push(r.unwrap().json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    // Keep writing and reading while the rotation runs in another process.
    let (h, base, t, first) = (http.clone(), server.base.clone(), token.clone(), ids[0].clone());
    let traffic = tokio::spawn(async move {
        let mut written = Vec::new();
        for i in 100..160 {
            let r = h.post(format!("{base}/fhir/Patient")).bearer_auth(&t).json(&patient(i)).send().await.unwrap();
            assert_eq!(r.status(), 201);
            written.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
            let r = h.get(format!("{base}/fhir/Patient/{first}")).bearer_auth(&t).send().await.unwrap();
            assert_eq!(r.status(), 200, "reads keep working during rotation");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        written
    });
    let arg = dir.arg().to_string();
    let out = tokio::task::spawn_blocking(move || haven_ok(&["keys", "rotate", "--data-dir", &arg, "--batch", "7"]));
    let out = out.await.unwrap();
    assert!(out.contains("added KEK version 2"), "{out}");
    ids.extend(traffic.await.unwrap());
    // Writes that raced the rotation under v1 are picked up by a second pass.
    haven_ok(&["keys", "rewrap", "--data-dir", dir.arg()]);
    let status = haven_ok(&["keys", "status", "--data-dir", dir.arg()]);
    assert!(status.lines().any(|l| l.starts_with("v2") && l.contains("Active")), "{status}");
    let admin = dir.token_for("admin", None);
    let keys: Value = http
        .get(format!("{}/v1/admin/keys", server.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["active_version"], 2);
    assert!(keys["wrapped_keys_by_version"].get("1").is_none(), "{keys}");
    for id in &ids {
        let r = http.get(format!("{}/fhir/Patient/{id}", server.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // A second rotation retires v1 at the latest (nothing uses it).
    let out = haven_ok(&["keys", "rotate", "--data-dir", dir.arg()]);
    assert!(out.contains("retired KEK version"), "{out}");
    let status = haven_ok(&["keys", "status", "--data-dir", dir.arg()]);
    assert!(status.lines().any(|l| l.starts_with("v1") && l.contains("Retired")), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_then_restore_reads_every_record() {
    let dir = DataDir::new();
    haven_ok(&["demo", "--data-dir", dir.arg(), "--no-serve"]);
    let server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    let token = dir.fhir_token();
    let r = http.post(format!("{}/fhir/Patient", server.base)).bearer_auth(&token).json(&patient(7)).send().await;
    let new_id = r.unwrap().json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    let backup = dir.path.with_extension("backup.db");
    let out = haven_ok(&["backup", "--data-dir", dir.arg(), "--out", backup.to_str().unwrap()]);
    assert!(out.contains("Wrote"), "{out}");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(&backup).unwrap();
    assert!(!bytes.windows(9).any(|w| w == b"Whitfield"), "the backup holds ciphertext only");
    assert!(!bytes.windows(8).any(|w| w == b"\"keks\": "), "the backup holds no keyring");

    // Restoring over a running server's data is refused.
    let busy = haven(&["restore", "--data-dir", dir.arg(), "--from", backup.to_str().unwrap(), "--force"]);
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("in use"));
    drop(server);

    // A new machine: the config and keyring (kept separately), then the backup.
    let tmp = tempfile::tempdir().unwrap();
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o700)).unwrap();
    for f in ["haven.toml", "keyring.json"] {
        std::fs::copy(dir.path.join(f), restored.join(f)).unwrap();
    }
    let r = restored.to_str().unwrap();
    let out = haven_ok(&["restore", "--data-dir", r, "--from", backup.to_str().unwrap()]);
    assert!(out.contains("records decrypted and verified"), "{out}");
    let n: usize = out.split('(').nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(n >= 16, "demo resources, accounts and the new patient: {out}");

    let restored_dir = DataDir::wrap(restored);
    let server = ServerProcess::start(&restored_dir, &[]).await;
    let http = client(&restored_dir.path);
    let token = restored_dir.fhir_token();
    for id in ["Patient/demo-patient-james", &format!("Patient/{new_id}")] {
        let r = http.get(format!("{}/fhir/{id}", server.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{id}");
    }
}

#[test]
fn refuses_unsafe_keyrings_and_explains_bad_config() {
    let dir = DataDir::new();
    let keyring = dir.path.join("keyring.json");
    std::fs::set_permissions(&keyring, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = haven(&["serve", "--data-dir", dir.arg(), "--listen", "127.0.0.1:0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("group or others") && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&keyring, std::fs::Permissions::from_mode(0o600)).unwrap();

    let moved = dir.path.join("keyring.moved");
    std::fs::rename(&keyring, &moved).unwrap();
    let out = haven(&["config", "check", "--data-dir", dir.arg()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    std::fs::rename(&moved, &keyring).unwrap();

    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = haven(&["serve", "--data-dir", dir.arg()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 700"));
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o700)).unwrap();

    let config = dir.path.join("haven.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, good.replace("request_timeout_secs = 30", "request_timeout_secs = \"soon\"")).unwrap();
    let out = haven(&["config", "check", "--data-dir", dir.arg()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("server.request_timeout_secs"), "{err}");
    std::fs::write(&config, good).unwrap();
    let out = haven_ok(&["config", "check", "--data-dir", dir.arg()]);
    assert!(out.contains("configuration: ok"), "{out}");

    let out = haven(&["init", "--data-dir", dir.arg()]);
    assert!(!out.status.success(), "init never overwrites a data directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_phi_or_secrets() {
    let dir = DataDir::new();
    let env = [("HAVEN_LOG__FORMAT", "json"), ("HAVEN_LOG", "debug")];
    let server = ServerProcess::start(&dir, &env).await;
    let http = client(&dir.path);
    let password = dir.admin_password();
    let token = dir.fhir_token();
    let signin = json!({"username": "admin", "password": password});
    let r = http.post(format!("{}/auth/login", server.base)).json(&signin).send().await.unwrap();
    assert_eq!(r.status(), 200, "the admin's password is accepted (a second factor is then due)");
    let body = json!({"resourceType": "Patient", "name": [{"text": PHI_NAME}], "telecom": [{"system": "phone", "value": "617-555-0142"}]});
    let r =
        http.post(format!("{}/fhir/Patient?name={PHI_NAME}", server.base)).bearer_auth(&token).json(&body).send().await;
    assert_eq!(r.unwrap().status(), 201);
    // A failed sign-in whose username is PHI, and a malformed body quoting PHI.
    let _ = http
        .post(format!("{}/auth/login", server.base))
        .json(&json!({"username": "zebulon.quixote", "password": "617-555-0142"}))
        .send()
        .await;
    let _ = http
        .post(format!("{}/fhir/Patient", server.base))
        .bearer_auth(&token)
        .body(format!("{{\"x\": \"{PHI_NAME}"))
        .send()
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = server.stderr();
    assert!(logs.contains("\"request_id\""), "JSON logs with request ids: {logs}");
    for needle in ["Zebulon", "Quixote", "617-555-0142", "zebulon.quixote", token.as_str(), password.as_str()] {
        assert!(!logs.contains(needle), "the log contains {needle:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_cleanly() {
    let dir = DataDir::new();
    let mut server = ServerProcess::start(&dir, &[]).await;
    let http = client(&dir.path);
    let token = dir.fhir_token();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let (mut ok, mut cut) = (Vec::new(), 0);
            for i in 0..10_000 {
                let r = http
                    .post(format!("{base}/fhir/Patient"))
                    .bearer_auth(&token)
                    .json(&patient(w * 100_000 + i))
                    .send();
                match r.await {
                    Ok(r) if r.status() == 201 => match r.json::<Value>().await {
                        Ok(v) => ok.push(v["id"].as_str().unwrap().to_string()),
                        Err(_) => cut += 1,
                    },
                    Ok(r) => panic!("unexpected status during shutdown: {}", r.status()),
                    // Refused after the listener closed: expected.
                    Err(e) if e.is_connect() => break,
                    Err(_) => {
                        cut += 1;
                        break;
                    }
                }
            }
            (ok, cut)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || {
        let s = server.child.wait().unwrap();
        (s, server)
    });
    let (status, server) = status.await.unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}; {}", server.stderr());
    let mut acked = Vec::new();
    for w in writers {
        let (ok, _cut) = w.await.unwrap();
        acked.extend(ok);
    }
    assert!(server.stderr().contains("shutting down"), "{}", server.stderr());
    assert!(!acked.is_empty());
    drop(server);
    let server = ServerProcess::start(&dir, &[]).await;
    let token = dir.fhir_token();
    for id in &acked {
        let r = http.get(format!("{}/fhir/Patient/{id}", server.base)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged before shutdown, readable after");
    }
}
