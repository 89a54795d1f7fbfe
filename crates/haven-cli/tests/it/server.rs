//! The server in-process on random ports: health, OpenAPI, authentication,
//! FHIR interactions, limits, TLS and metrics.

use std::collections::BTreeSet;

use haven_server::serve::RunningServer;
use serde_json::{Value, json};

use crate::common::{DataDir, client, start};

struct Ctx {
    _dir: DataDir,
    server: RunningServer,
    http: reqwest::Client,
    base: String,
    admin: String,
    emr: String,
}

impl Ctx {
    async fn new() -> Ctx {
        let dir = DataDir::new();
        // Operator-issued tokens, made before the in-process server starts.
        let admin = dir.token_for("admin", None);
        let emr = dir.fhir_token();
        let server = start(&dir).await;
        let http = client(&dir.path);
        let base = server.url();
        Ctx { _dir: dir, server, http, base, admin, emr }
    }

    async fn admin_token(&self) -> String {
        self.admin.clone()
    }
}

#[tokio::test]
async fn health_ready_and_request_ids() {
    let c = Ctx::new().await;
    let r = c.http.get(format!("{}/healthz", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some(), "every response carries a request id");
    let r = c.http.get(format!("{}/readyz", c.base)).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "trace-me-42", "a caller's request id is kept");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["store"]["backend"], "sqlite");
    assert_eq!(v["keys"]["provider"], "local-keyring");
}

#[tokio::test]
async fn openapi_documents_every_route_and_every_documented_route_exists() {
    let c = Ctx::new().await;
    let doc: Value = c.http.get(format!("{}/openapi.json", c.base)).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/auth/login",
        "/auth/token",
        "/auth/mfa/verify",
        "/auth/mfa/enroll",
        "/auth/mfa/activate",
        "/auth/logout",
        "/v1/admin/keys",
        "/v1/break-glass",
        "/v1/assignments",
        "/v1/admin/users",
        "/v1/admin/users/{id}/disable",
        "/v1/admin/users/{id}/reset-mfa",
        "/v1/admin/users/{id}/revoke-sessions",
        "/v1/admin/clients",
        "/v1/audit/disclosures",
        "/v1/audit/status",
        "/v1/agent/consent",
        "/v1/agent/replies/{id}",
        "/v1/conversations",
        "/v1/conversations/{id}",
        "/v1/conversations/{id}/messages",
        "/v1/feedback",
        "/v1/admin/feedback",
        "/v1/visitor/conversations",
        "/v1/visitor/conversations/{id}/messages",
        "/v1/visitor/feedback",
        "/v1/deid",
        "/v1/reidentify",
        "/v1/alerts",
        "/v1/incidents",
        "/v1/incidents/export",
        "/v1/incidents/{id}",
        "/v1/detect/status",
    ]
    .into();
    assert_eq!(paths, expected, "every non-FHIR route is documented, and nothing else");
    // Everything the document promises answers (not 404/405).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = c.http.request(m, format!("{}{path}", c.base)).json(&json!({})).send().await.unwrap();
            assert!(![404, 405].contains(&r.status().as_u16()), "{method} {path} -> {}", r.status());
        }
    }
    // An undocumented path is a 404 OperationOutcome, not a silent route.
    let r = c.http.get(format!("{}/v1/not-a-route", c.base)).bearer_auth(&c.admin).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn protected_routes_refuse_missing_and_forged_tokens() {
    let c = Ctx::new().await;
    // Every route the server has: the documented ones and the FHIR table.
    let doc = serde_json::to_value(haven_server::api_doc()).unwrap();
    let mut cases: Vec<(reqwest::Method, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| k.chars().all(|c| c.is_ascii_lowercase())) {
            cases.push((reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), path.clone()));
        }
    }
    for (m, path) in haven_server::FHIR_ROUTES {
        let concrete = path.replace("{rtype}", "Patient").replace("{id}", "x").replace("{vid}", "1");
        cases.push((reqwest::Method::from_bytes(m.as_bytes()).unwrap(), concrete));
    }
    assert!(cases.len() >= 20, "{cases:?}");
    let public: Vec<String> = haven_server::PUBLIC_ROUTES.iter().map(|p| (*p).to_owned()).collect();
    let cases: Vec<_> = cases.into_iter().filter(|(_, p)| !public.contains(p)).collect();
    assert!(cases.iter().any(|(_, p)| p == "/v1/admin/keys") && cases.iter().any(|(_, p)| p == "/fhir/$import"));
    for (m, path) in cases {
        for auth in [None, Some("Bearer hvn_forged-token"), Some("Basic YWRtaW46YWRtaW4=")] {
            let mut req = c.http.request(m.clone(), format!("{}{path}", c.base)).body("{}");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{m} {path} with {auth:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
        }
    }
    // Wrong password and unknown user look the same.
    let mut bodies = Vec::new();
    for (u, p) in [("admin", "wrong-password-123"), ("nobody-here", "wrong-password-123")] {
        let r = c.http.post(format!("{}/auth/login", c.base)).json(&json!({"username": u, "password": p})).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), 401);
        bodies.push(r.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert!(bodies[0].contains("authentication required"), "{}", bodies[0]);
    // Logout revokes the token.
    let token = c.admin_token().await;
    let keys = |t: String| c.http.get(format!("{}/v1/admin/keys", c.base)).bearer_auth(t).send();
    assert_eq!(keys(token.clone()).await.unwrap().status(), 200);
    let r = c.http.post(format!("{}/auth/logout", c.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(keys(token).await.unwrap().status(), 401);
}

/// Every route, called by callers who are allowed in (an administrator and
/// an EMR client), answers without a 500: a handler that returned data
/// without asking for a policy decision would be turned into one, so a new
/// route that forgets authorization fails here.
#[tokio::test]
async fn no_route_answers_without_a_policy_decision() {
    let c = Ctx::new().await;
    let doc = serde_json::to_value(haven_server::api_doc()).unwrap();
    let mut cases: Vec<(reqwest::Method, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| k.chars().all(|c| c.is_ascii_lowercase())) {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            cases.push((m, path.replace("{id}", "no-such-account")));
        }
    }
    for (m, path) in haven_server::FHIR_ROUTES {
        let concrete = path.replace("{rtype}", "Patient").replace("{id}", "x").replace("{vid}", "1");
        cases.push((reqwest::Method::from_bytes(m.as_bytes()).unwrap(), concrete));
    }
    let bodies = [json!({}), json!({"resourceType": "Patient", "id": "x"})];
    let mut seen_success = 0;
    for (m, path) in &cases {
        if path == "/auth/logout" {
            continue; // it would end the caller's session for the cases after it
        }
        for token in [&c.admin, &c.emr] {
            for body in &bodies {
                let r = c.http.request(m.clone(), format!("{}{path}", c.base)).bearer_auth(token).json(body);
                let s = r.send().await.unwrap().status();
                assert_ne!(s, 500, "{m} {path} answered 500: a handler without an authorization decision?");
                seen_success += usize::from(s.is_success());
            }
        }
    }
    assert!(seen_success >= 10, "the callers were let in often enough to mean something ({seen_success})");
}

#[tokio::test]
async fn fhir_create_read_update_delete_history() {
    let c = Ctx::new().await;
    let t = c.emr.clone();
    let url = |p: &str| format!("{}/fhir/{p}", c.base);
    let patient = json!({"resourceType": "Patient", "name": [{"family": "Quixote-Marchetti", "given": ["Zebulon"]}]});
    let r = c.http.post(url("Patient")).bearer_auth(&t).json(&patient).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["etag"], "W/\"1\"");
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["meta"]["versionId"], "1");

    let read: Value =
        c.http.get(url(&format!("Patient/{id}"))).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
    assert_eq!(read["name"][0]["given"][0], "Zebulon");

    let mut changed = read.clone();
    changed["gender"] = json!("other");
    let stale = c.http.put(url(&format!("Patient/{id}"))).bearer_auth(&t).header("if-match", "W/\"9\"").json(&changed);
    let r = stale.send().await.unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
    let r = c.http.put(url(&format!("Patient/{id}"))).bearer_auth(&t).header("if-match", "W/\"1\"").json(&changed);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "W/\"2\"");

    let v1: Value = c
        .http
        .get(url(&format!("Patient/{id}/_history/1")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v1.get("gender").is_none());
    let r = c.http.delete(url(&format!("Patient/{id}"))).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c.http.get(url(&format!("Patient/{id}"))).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let h: Value =
        c.http.get(url(&format!("Patient/{id}/_history"))).bearer_auth(&t).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["type"], "history");
    assert_eq!(h["total"], 3);

    // Bad input: typed errors with the right status, never a 500.
    let bad = [
        ("Patient", "{not json".to_string(), 400),
        ("Patient", json!({"resourceType": "Observation"}).to_string(), 400),
        ("Patient", json!([1, 2]).to_string(), 400),
        // Type names are case-sensitive: `patient` is no FHIR R4 type.
        ("patient", json!({"resourceType": "patient"}).to_string(), 404),
        ("HavenAccount", json!({"resourceType": "HavenAccount"}).to_string(), 404),
        ("Patient", "[".repeat(10_000), 400),
    ];
    for (ty, body, status) in bad {
        let r = c.http.post(url(ty)).bearer_auth(&t).body(body).send().await.unwrap();
        assert_eq!(r.status(), status, "POST /fhir/{ty}");
        assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
    }
    let r = c.http.get(url("Patient/bad%20id")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c.http.get(url("Patient/does-not-exist")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let c = Ctx::new().await;
    let t = c.admin_token().await;
    let huge = format!("{{\"resourceType\":\"Patient\",\"x\":\"{}\"}}", "a".repeat(9 * 1024 * 1024));
    let r = c.http.post(format!("{}/fhir/Patient", c.base)).bearer_auth(&t).body(huge).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["issue"][0]["code"], "too-costly");
    // Other errors made outside the handlers have the same shape.
    let r = c.http.patch(format!("{}/healthz", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn metrics_are_served_on_the_loopback_listener() {
    let c = Ctx::new().await;
    c.http.get(format!("{}/healthz", c.base)).send().await.unwrap();
    c.admin_token().await; // a store read and a key unwrap
    let maddr = c.server.metrics_addr.unwrap();
    assert!(maddr.ip().is_loopback());
    let text = c.http.get(format!("https://{maddr}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("haven_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""));
    assert!(text.contains("haven_store_operations_total"), "store operations are counted");
    assert!(text.contains("haven_key_operations_total"), "key operations are counted");
    // Metrics are not on the public listener.
    let r = c.http.get(format!("{}/metrics", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn only_tls_1_2_and_later_and_no_plain_http() {
    let c = Ctx::new().await;
    // Plain HTTP to the TLS port does not get an answer.
    let plain_client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(3)).build().unwrap();
    let plain = plain_client.get(format!("http://{}/healthz", c.server.addr)).send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    let Ok(probe) = std::process::Command::new("openssl").arg("version").output() else {
        eprintln!("SKIPPED: TLS version probe (openssl is not installed)");
        return;
    };
    assert!(probe.status.success());
    let addr = c.server.addr.to_string();
    // Asynchronous, so the in-process server keeps running while we wait.
    let try_version = |flag: &'static str| {
        let addr = addr.clone();
        async move {
            let out = tokio::process::Command::new("timeout")
                .args(["10", "openssl", "s_client", "-connect", &addr, flag, "-brief"])
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .unwrap();
            out.status.success()
        }
    };
    assert!(try_version("-tls1_2").await, "TLS 1.2 is accepted");
    assert!(try_version("-tls1_3").await, "TLS 1.3 is accepted");
    assert!(!try_version("-tls1_1").await, "TLS 1.1 is refused");
}
