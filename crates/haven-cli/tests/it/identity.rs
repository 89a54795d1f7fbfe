//! Identity end to end: TOTP enrolment and sign-in, replay and recovery
//! codes, staff without MFA kept from PHI, refresh rotation, revocation,
//! client credentials with scopes, lock-out and the common-password list.

use haven_crypto::totp::{self, TotpSecret};
use haven_server::config::Config;
use haven_server::serve::{self, RunningServer, ServeOptions};
use serde_json::{Value, json};

use crate::common::{DataDir, client, haven, haven_ok};

struct Ctx {
    _dir: DataDir,
    server: RunningServer,
    http: reqwest::Client,
    base: String,
}

const PASSWORD: &str = "correct-horse-battery-7";

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

impl Ctx {
    async fn new(setup: impl FnOnce(&DataDir)) -> Ctx {
        let dir = DataDir::new();
        setup(&dir);
        let config = Config::load(&dir.path).unwrap();
        let opts = ServeOptions {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
            insecure_http: false,
        };
        let server = serve::start(&dir.path, config, opts).await.unwrap();
        let http = client(&dir.path);
        let base = server.url();
        Ctx { _dir: dir, server, http, base }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> u16 {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap().status().as_u16()
    }

    async fn login(&self, user: &str, password: &str) -> (u16, Value) {
        self.post("/auth/login", None, json!({"username": user, "password": password})).await
    }

    async fn form(&self, fields: &[(&str, &str)]) -> (u16, Value) {
        let r = self.http.post(format!("{}/auth/token", self.base)).form(fields).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn secret_from_uri(uri: &str) -> TotpSecret {
    let s = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    TotpSecret::from_base32(s).unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn code(secret: &TotpSecret, at: i64) -> String {
    format!("{:06}", totp::code_at(secret, at))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_enrol_totp_before_reaching_phi_and_codes_are_single_use() {
    let c = Ctx::new(|d| add_user(d, "dr.mfa", "clinician", Some(("--practitioner", "doc-mfa")))).await;
    // Password alone: an enrolment session, which reaches no PHI.
    let (s, v) = c.login("dr.mfa", PASSWORD).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("access_token").is_none(), "no access token before MFA: {v}");
    let enrol = v["enrolment_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get("/fhir/Patient", &enrol).await, 403);
    let (s, e) = c.post("/auth/mfa/enroll", Some(&enrol), json!({})).await;
    assert_eq!(s, 200, "{e}");
    let uri = e["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Haven:dr.mfa?"), "{uri}");
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = secret_from_uri(uri);
    let (s, _) = c.post("/auth/mfa/activate", Some(&enrol), json!({"code": "000000x"})).await;
    assert_eq!(s, 400, "a malformed code is refused");
    let t0 = now();
    let (s, a) = c.post("/auth/mfa/activate", Some(&enrol), json!({"code": code(&secret, t0)})).await;
    assert_eq!(s, 200, "{a}");
    let recovery: Vec<String> =
        a["recovery_codes"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    let access = a["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get("/fhir/Patient", &access).await, 200, "signed in with MFA");
    assert_eq!(c.get("/fhir/Patient", &enrol).await, 401, "the enrolment session is spent");

    // Next sign-in: a code is due; the code already used is refused (replay).
    let (_, v) = c.login("dr.mfa", PASSWORD).await;
    let pending = v["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get("/fhir/Patient", &pending).await, 403);
    let (s, _) = c.post("/auth/mfa/verify", Some(&pending), json!({"code": code(&secret, t0)})).await;
    assert_eq!(s, 400, "a used code is refused");
    // One step of drift is accepted.
    let (s, v) = c.post("/auth/mfa/verify", Some(&pending), json!({"code": code(&secret, t0 + 30)})).await;
    assert_eq!(s, 200, "{v}");

    // Recovery codes work once.
    for expect in [200, 400] {
        let (_, v) = c.login("dr.mfa", PASSWORD).await;
        let pending = v["mfa_token"].as_str().unwrap().to_owned();
        let (s, _) = c.post("/auth/mfa/verify", Some(&pending), json!({"code": recovery[0]})).await;
        assert_eq!(s, expect, "recovery code use");
    }
    // Two steps away is outside the window.
    let (_, v) = c.login("dr.mfa", PASSWORD).await;
    let pending = v["mfa_token"].as_str().unwrap().to_owned();
    let (s, _) = c.post("/auth/mfa/verify", Some(&pending), json!({"code": code(&secret, t0 + 120)})).await;
    assert_eq!(s, 400);
    // Guessing codes locks the factor: after repeated wrong codes even the right one is refused.
    for _ in 0..6 {
        let (s, _) = c.post("/auth/mfa/verify", Some(&pending), json!({"code": "123456"})).await;
        assert_eq!(s, 400);
    }
    let (s, _) = c.post("/auth/mfa/verify", Some(&pending), json!({"code": code(&secret, now() + 60)})).await;
    assert_eq!(s, 400, "locked after repeated wrong codes");
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_revocation_and_forgery_are_refused() {
    let mut short = String::new();
    let c = Ctx::new(|d| {
        add_user(d, "pat.one", "patient", Some(("--patient", "p-one")));
        short =
            haven_ok(&["token", "issue", "--data-dir", d.arg(), "--user", "pat.one", "--ttl", "1s"]).trim().to_owned();
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(c.get("/fhir/Patient", &short).await, 401, "an expired token is refused");
    let (s, v) = c.login("pat.one", PASSWORD).await;
    assert_eq!(s, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_owned();
    let refresh = v["refresh_token"].as_str().unwrap().to_owned();
    assert!(v["expires_in"].as_i64().unwrap() <= 900);
    let (s, v2) = c.form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(s, 200, "{v2}");
    assert_ne!(v2["access_token"], v["access_token"]);
    let (s, e) = c.form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_grant")), "a refresh token works once");
    for bad in ["hvn_forged", "hvr_notanaccesstoken", &refresh] {
        assert_eq!(c.get("/fhir/Patient", bad).await, 401, "{bad}");
    }
    let r = c.http.post(format!("{}/auth/logout", c.base)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(c.get("/fhir/Patient", &access).await, 401, "revoked");
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_yield_scoped_tokens() {
    let mut secret = String::new();
    let c = Ctx::new(|d| {
        let out = haven_ok(&[
            "client",
            "add",
            "--data-dir",
            d.arg(),
            "--name",
            "emr-feed",
            "--scopes",
            "system/Observation.rs system/Patient.r",
        ]);
        secret = out.lines().find_map(|l| l.strip_prefix("client_secret = ")).unwrap().to_owned();
    })
    .await;
    let (s, e) =
        c.form(&[("grant_type", "client_credentials"), ("client_id", "emr-feed"), ("client_secret", "wrong")]).await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, v) = c
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "emr-feed"),
            ("client_secret", &secret),
            ("scope", "system/Observation.rs system/Condition.rs"),
        ])
        .await;
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.get("/fhir/Observation", &t).await, 200);
    // Condition was asked for but never granted; Patient was granted but not asked for.
    assert_eq!(c.get("/fhir/Condition/x", &t).await, 403);
    assert_eq!(c.get("/fhir/Patient/x", &t).await, 403);
    let r = c
        .http
        .post(format!("{}/fhir/Observation", c.base))
        .bearer_auth(&t)
        .json(&json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "read scopes do not write");
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_account_and_common_passwords_are_refused() {
    let c = Ctx::new(|d| {
        add_user(d, "pat.lock", "patient", None);
        let pw = d.path.with_extension("common.pw");
        std::fs::write(&pw, "password1234\n").unwrap();
        let out = haven(&[
            "user",
            "add",
            "--data-dir",
            d.arg(),
            "--username",
            "weak",
            "--role",
            "patient",
            "--password-file",
            pw.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("common"), "{}", String::from_utf8_lossy(&out.stderr));
    })
    .await;
    for _ in 0..6 {
        assert_eq!(c.login("pat.lock", "not-the-password-1").await.0, 401);
    }
    let (s, body) = c.login("pat.lock", PASSWORD).await;
    assert_eq!(s, 401, "locked after repeated failures, and it looks like any failure: {body}");
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_accounts_over_http_and_nobody_else_does() {
    let mut tokens = (String::new(), String::new(), String::new());
    let c = Ctx::new(|d| {
        add_user(d, "pat.admin-test", "patient", None);
        tokens = (d.token_for("admin", None), d.fhir_token(), d.token_for("pat.admin-test", None));
    })
    .await;
    let (admin, emr, patient) = tokens;
    let r = c.http.get(format!("{}/v1/admin/users", c.base)).bearer_auth(&emr).send().await.unwrap();
    assert_eq!(r.status(), 403, "a service client is no administrator");
    let r = c.http.get(format!("{}/v1/admin/users", c.base)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let users: Value = r.json().await.unwrap();
    let id = users.as_array().unwrap().iter().find(|u| u["username"] == "pat.admin-test").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = c
        .post(
            "/v1/admin/users",
            Some(&admin),
            json!({"username": "nurse.new", "role": "nurse", "password": "password1234"}),
        )
        .await;
    assert_eq!(s, 400, "common passwords are refused");
    let (s, v) = c
        .post("/v1/admin/users", Some(&admin), json!({"username": "nurse.new", "role": "nurse", "password": PASSWORD}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(c.get("/fhir/Patient", &patient).await, 200);
    let (s, v) = c.post(&format!("/v1/admin/users/{id}/disable"), Some(&admin), json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["revoked_sessions"].as_u64().unwrap() >= 1);
    assert_eq!(c.get("/fhir/Patient", &patient).await, 401, "a disabled account's sessions end at once");
    assert_eq!(c.login("pat.admin-test", PASSWORD).await.0, 401);
    // Administrators see no PHI.
    assert_eq!(c.get("/fhir/Patient/x", &admin).await, 403);
    let r = c.http.get(format!("{}/fhir/Patient", c.base)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["total"], 0);
    c.server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_clients_sign_their_assertions() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let c2 = Ctx::new(|d| {
        let pem = d.path.with_extension("client.pub.pem");
        std::fs::write(&pem, key.public_key_pem()).unwrap();
        haven_ok(&[
            "client",
            "add",
            "--data-dir",
            d.arg(),
            "--name",
            "backend-svc",
            "--scopes",
            "system/Observation.rs",
            "--public-key",
            pem.to_str().unwrap(),
        ]);
    })
    .await;
    let aud = format!("{}/auth/token", c2.base);
    let sign = |k: &rcgen::KeyPair, aud: &str, exp: i64, jti: &str| {
        let enc = jsonwebtoken::EncodingKey::from_ec_pem(k.serialize_pem().as_bytes()).unwrap();
        let claims = json!({"iss": "backend-svc", "sub": "backend-svc", "aud": aud, "exp": exp, "jti": jti});
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384), &claims, &enc).unwrap()
    };
    let ask = |jwt: String| {
        let c2 = &c2;
        async move {
            c2.form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &jwt),
            ])
            .await
        }
    };
    let exp = now() + 120;
    let (s, v) = ask(sign(&key, &aud, exp, "jti-1")).await;
    assert_eq!(s, 200, "{v}");
    let t = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c2.get("/fhir/Observation", &t).await, 200);
    for (jwt, why) in [
        (sign(&key, &aud, exp, "jti-1"), "replayed jti"),
        (sign(&other, &aud, exp, "jti-2"), "signed by another key"),
        (sign(&key, "https://elsewhere.invalid/auth/token", exp, "jti-3"), "wrong audience"),
        (sign(&key, &aud, now() - 120, "jti-4"), "expired"),
        (sign(&key, &aud, now() + 3600, "jti-5"), "lives too long"),
    ] {
        let (s, e) = ask(jwt).await;
        assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")), "{why}");
    }
    c2.server.shutdown();
}
