//! The browser front-end end to end: the demo clinic served by the real
//! binary, driven in headless Chromium through chromedriver (W3C WebDriver,
//! spoken here over loopback HTTP with a few lines of JSON); and the web
//! security headers checked over plain HTTPS. Screenshots of every page are
//! kept under `target/web-screenshots/` (in `CARGO_TARGET_DIR` when set).
//!
//! The browser tests print `SKIPPED: chromium/chromedriver not installed`
//! and pass only when `/usr/bin/chromium` or `/usr/bin/chromedriver` is
//! missing; `scripts/test-deps.sh` installs both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use haven_crypto::totp::{self, TotpSecret};
use serde_json::{Value, json};

use crate::common::{DataDir, ServerProcess, client, free_port, haven_ok};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a step may take before the test gives up (a deadline, not a measurement).
const PATIENCE: Duration = Duration::from_secs(45);

/// One browser at a time: the machine's cores are shared.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A headless Chromium session through chromedriver.
struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

impl Browser {
    /// A new browser, or `None` (after printing SKIPPED) when not installed.
    async fn start(test: &str) -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            println!("SKIPPED: chromium/chromedriver not installed ({test}); scripts/test-deps.sh installs them");
            return None;
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "unhandledPromptBehavior": "accept",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--ignore-certificate-errors", "--no-first-run",
                         "--disable-extensions", "--disable-background-networking", "--disable-sync",
                         "--disable-component-update", "--disable-default-apps"]
            }
        }}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {r}"));
        Some(Browser { http, session: format!("{base}/session/{id}"), driver })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let ok = r.status().is_success();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if ok { Ok(v["value"].clone()) } else { Err(v["value"].clone()) }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Waits until `css` matches a visible element, and returns its reference.
    async fn visible(&self, css: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self
                .js(
                    "const e = document.querySelector(arguments[0]);
                     return e && !e.closest('[hidden]') && e.getClientRects().length > 0 ? e : null;",
                    json!([css]),
                )
                .await;
            if found.get(ELEMENT).is_some() {
                return found;
            }
            if Instant::now() > deadline {
                self.screenshot("failure").await;
                panic!("{css} did not become visible at {}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let e = self.visible(css).await;
        let id = e[ELEMENT].as_str().unwrap().to_owned();
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.visible(css).await;
        let id = e[ELEMENT].as_str().unwrap().to_owned();
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({"text": text})).await;
    }

    async fn text(&self, css: &str) -> String {
        self.visible(css).await;
        self.js("return document.querySelector(arguments[0]).textContent;", json!([css]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the visible element `css` contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let t = self.text(css).await;
            if t.contains(needle) {
                return t;
            }
            if Instant::now() > deadline {
                self.screenshot("failure").await;
                panic!("{css} never contained {needle:?}; it has {t:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn count(&self, css: &str) -> u64 {
        self.js("return document.querySelectorAll(arguments[0]).length;", json!([css])).await.as_u64().unwrap()
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None).await.unwrap_or_default().as_str().unwrap_or_default().to_owned()
    }

    /// Into the frame `css` (`None`: back to the top page).
    async fn frame(&self, css: Option<&str>) {
        let id = match css {
            Some(c) => self.visible(c).await,
            None => Value::Null,
        };
        self.post("/frame", json!({"id": id})).await;
    }

    async fn screenshot(&self, name: &str) {
        if let Ok(png) = self.cmd(reqwest::Method::GET, "/screenshot", None).await
            && let Some(b64) = png.as_str()
        {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            std::fs::write(screenshots().join(format!("{name}.png")), bytes).unwrap();
        }
    }

    async fn quit(mut self) {
        let _ = self.cmd(reqwest::Method::DELETE, "", None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// A page of a site that embeds the widget, served from its own loopback
/// origin (`http://127.0.0.1:PORT`).
async fn host_site(haven: Arc<Mutex<String>>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let haven = haven.lock().unwrap().clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let body = format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Riverside Clinic</title></head>\
                     <body><h1>Riverside Clinic</h1><p>Opening hours: 8 to 6.</p>\
                     <script src=\"{haven}/widget.js\" async></script></body></html>"
                );
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, task)
}

/// The demo clinic with an auditor account, two host sites (one allowed to
/// embed the widget, one not), visitors admitted and patients on TOTP.
struct Clinic {
    dir: DataDir,
    server: ServerProcess,
    allowed: u16,
    other: u16,
    _sites: Vec<tokio::task::JoinHandle<()>>,
    /// Operator-issued tokens (made before the server starts).
    clinician: String,
    patient: String,
    admin: String,
}

const AUDITOR_PASSWORD: &str = "auditor-demo-password-1";

impl Clinic {
    async fn new() -> Clinic {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.keep().join("demo");
        haven_ok(&["demo", "--data-dir", path.to_str().unwrap(), "--no-serve"]);
        let dir = DataDir::wrap(path);
        let pw = dir.path.with_extension("auditor-password");
        std::fs::write(&pw, AUDITOR_PASSWORD).unwrap();
        haven_ok(&[
            "user",
            "add",
            "--data-dir",
            dir.arg(),
            "--username",
            "amy.auditor",
            "--role",
            "auditor",
            "--password-file",
            pw.to_str().unwrap(),
        ]);
        let clinician = dir.token_for("dr.rivera", None);
        let patient = dir.token_for("maria.demo", None);
        let admin = dir.token_for("demo.admin", None);
        // The sites need Haven's address and Haven needs theirs: the sites
        // start first and learn Haven's address once it listens.
        let haven = Arc::new(Mutex::new(String::new()));
        let (allowed, a) = host_site(haven.clone()).await;
        let (other, b) = host_site(haven.clone()).await;
        let origins = format!("http://127.0.0.1:{allowed}");
        let env = [
            ("HAVEN_WEB__EMBED_ORIGINS", origins.as_str()),
            ("HAVEN_AGENT__ALLOW_ANONYMOUS", "true"),
            ("HAVEN_SECURITY__MFA_REQUIRED_FOR_PATIENTS", "true"),
            // Access tokens that live a minute and a second: the widget
            // renews them (a minute before expiry) during the tests.
            ("HAVEN_SECURITY__TOKEN_TTL_SECS", "61"),
        ];
        let server = ServerProcess::start(&dir, &env).await;
        *haven.lock().unwrap() = server.base.clone();
        Clinic { dir, server, allowed, other, _sites: vec![a, b], clinician, patient, admin }
    }
}

fn totp_code(base32: &str) -> String {
    let secret = TotpSecret::from_base32(base32.trim()).unwrap();
    format!("{:06}", totp::code_at(&secret, time::OffsetDateTime::now_utc().unix_timestamp()))
}

/// Sends a message in the open chat panel; returns the finished reply's text.
async fn ask(b: &Browser, text: &str) -> String {
    let before = b.count("#hv-log .hv-agent[data-done]").await;
    b.type_into("#hv-input", text).await;
    b.click("#hv-submit").await;
    let deadline = Instant::now() + PATIENCE;
    while b.count("#hv-log .hv-agent[data-done]").await <= before {
        assert!(Instant::now() < deadline, "no reply to {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.js("const r = document.querySelectorAll('#hv-log .hv-agent'); return r[r.length - 1].textContent;", json!([]))
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

/// Opens the widget on a host page and enters its frame.
async fn open_widget(b: &Browser, site: u16) {
    b.goto(&format!("http://127.0.0.1:{site}/")).await;
    b.click("#haven-launcher").await;
    b.frame(Some("#haven-frame")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_an_allowed_site_gets_a_cited_answer_and_the_emergency_banner_and_other_sites_get_nothing() {
    let _one = BROWSER.lock().await;
    let Some(b) = Browser::start("widget visitor").await else { return };
    let c = Clinic::new().await;

    // The allowed site: disclaimer first, then a guest conversation.
    open_widget(&b, c.allowed).await;
    let notice = b.text("#hv-consent").await;
    assert!(notice.contains("not a medical device"), "{notice}");
    b.screenshot("widget-1-disclaimer").await;
    b.click("#hv-accept").await;
    b.click("#hv-guest").await;
    b.visible("#hv-chat").await;
    let reply = ask(&b, "How long does it take for the flu vaccine to protect me?").await;
    assert!(reply.contains("two weeks"), "{reply}");
    // Citations are expandable quotes.
    b.click("#hv-log .hv-agent .hv-cite summary").await;
    let quote = b.text("#hv-log .hv-agent .hv-cite blockquote").await;
    assert!(!quote.is_empty() && reply.contains(&quote), "the quote is the reply's own words: {quote}");
    assert!(b.text("#hv-log .hv-agent .hv-cite summary").await.contains("Flu vaccination"));
    b.screenshot("widget-2-cited-answer").await;
    // Visitors rate replies too.
    b.click("#hv-log .hv-agent:last-child .hv-fb-down").await;
    b.wait_text("#hv-log .hv-agent:last-child .hv-thanks", "Thank you").await;

    // A red flag: the emergency banner, before anything else.
    ask(&b, "I have crushing chest pain spreading to my left arm").await;
    let banner = b.wait_text("#hv-banner.hv-emergency", "911").await;
    assert!(banner.starts_with("Emergency"), "{banner}");
    b.screenshot("widget-3-emergency-banner").await;
    b.frame(None).await;
    b.screenshot("widget-4-embedded-on-allowed-site").await;

    // Another site: the loader runs, but Haven refuses its frame there.
    b.goto(&format!("http://127.0.0.1:{}/", c.other)).await;
    b.click("#haven-launcher").await;
    b.frame(Some("#haven-frame")).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = b
            .js(
                "return {url: location.href, ready: document.readyState, app: !!document.getElementById('haven-app')};",
                json!([]),
            )
            .await;
        assert_eq!(state["app"], false, "the widget loaded on a site not allowed to embed it");
        if state["url"] != "about:blank" && state["ready"] == "complete" {
            break;
        }
        assert!(Instant::now() < deadline, "the frame never settled: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.frame(None).await;
    b.screenshot("widget-5-refused-on-other-site").await;
    b.quit().await;
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_signs_in_with_totp_in_the_widget_then_books_and_cancels_an_appointment() {
    let _one = BROWSER.lock().await;
    let Some(b) = Browser::start("widget patient").await else { return };
    let c = Clinic::new().await;
    open_widget(&b, c.allowed).await;
    b.click("#hv-accept").await;
    b.click("#hv-signin-open").await;
    b.type_into("#hv-user", "maria.demo").await;
    b.type_into("#hv-pass", "demo-patient-password").await;
    b.click("#hv-signin-submit").await;
    // Patients on this installation need TOTP: enrol with the QR code's key.
    let secret = b.text("#hv-secret").await;
    assert!(secret.len() >= 16, "{secret}");
    b.visible("#hv-qr").await;
    b.screenshot("widget-6-totp-enrolment").await;
    b.type_into("#hv-totp", &totp_code(&secret)).await;
    b.click("#hv-code-submit").await;
    b.visible("#hv-recovery").await;
    assert!(b.count("#hv-codes li").await >= 5);
    b.click("#hv-recovery-done").await;
    b.visible("#hv-chat").await;
    // Past the token's renewal point (a minute before its 61 s expire).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let r = ask(&b, "I'd like to book an appointment").await;
    assert!(r.contains("Cardiology"), "{r}");
    assert!(ask(&b, "cardiology").await.contains("When would suit you"));
    assert!(ask(&b, "any time").await.contains("1."));
    assert!(ask(&b, "1").await.contains("Shall I book"));
    ask(&b, "yes").await;
    b.visible(".hv-action[data-kind='appointment.booked']").await;
    b.screenshot("widget-7-appointment-booked").await;
    // Feedback on the reply.
    b.click("#hv-log .hv-agent:last-child .hv-fb-up").await;
    b.wait_text("#hv-log .hv-agent:last-child .hv-thanks", "Thank you").await;

    assert!(ask(&b, "I need to cancel an appointment").await.contains("1."));
    assert!(ask(&b, "1").await.to_lowercase().contains("cancel"));
    ask(&b, "yes").await;
    b.visible(".hv-action[data-kind='appointment.cancelled']").await;
    b.screenshot("widget-8-appointment-cancelled").await;
    b.quit().await;

    // The booking and the cancellation were the patient's, through the assistant.
    let out = haven_ok(&["audit", "export", "--data-dir", c.dir.arg()]);
    assert!(out.lines().any(|l| l.contains("haven-assistant") && l.contains("demo-patient-maria")));
    // The widget renewed its short-lived access token with the refresh token.
    assert!(
        out.lines().any(|l| l.contains("\"token.refresh\"") && l.contains("\"success\"")),
        "the widget never renewed its token"
    );
}

/// Signs in to the console as a staff member enrolling TOTP on the way.
async fn console_sign_in(b: &Browser, base: &str, user: &str, password: &str, shot: &str) {
    b.goto(&format!("{base}/console")).await;
    assert!(b.url().await.ends_with("/console/login"), "not signed in: to the sign-in page");
    b.type_into("#username", user).await;
    b.type_into("#password", password).await;
    b.screenshot(&format!("{shot}-1-sign-in")).await;
    b.click("#sign-in").await;
    let secret = b.text("#totp-secret").await;
    b.visible(".qr svg").await;
    b.screenshot(&format!("{shot}-2-enrol-totp")).await;
    b.type_into("#code", &totp_code(&secret)).await;
    b.click("#activate").await;
    b.visible("#recovery-codes").await;
    b.click("#continue").await;
    b.wait_text("header.top .who", user).await;
}

async fn nav(b: &Browser) -> String {
    b.text("nav.side").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_with_totp_find_a_patients_disclosures_and_see_only_their_roles_pages() {
    let _one = BROWSER.lock().await;
    let Some(b) = Browser::start("console").await else { return };
    let c = Clinic::new().await;
    let base = c.server.base.clone();
    // Someone reads Maria's record, so there is a disclosure to account for.
    let http = client(&c.dir.path);
    for t in [&c.clinician, &c.patient] {
        http.get(format!("{base}/fhir/Patient/demo-patient-maria")).bearer_auth(t).send().await.unwrap();
    }
    // Someone guesses a password (from another address: the sign-in limiter
    // would otherwise slow the console's own sign-in below): threat
    // detection opens an incident.
    let pem = std::fs::read(c.dir.path.join("tls/cert.pem")).unwrap();
    let guesser = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    for _ in 0..11 {
        let guess = json!({"username": "dr.rivera", "password": "guessing-the-password"});
        let r = guesser.post(format!("{base}/auth/login")).json(&guess).send().await.unwrap();
        assert!(r.status().is_client_error());
    }

    // The auditor: the audit pages, not the administrators'.
    console_sign_in(&b, &base, "amy.auditor", AUDITOR_PASSWORD, "console-auditor").await;
    let menu = nav(&b).await;
    assert!(menu.contains("Audit & disclosures") && menu.contains("Alerts & incidents"), "{menu}");
    assert!(!menu.contains("Users & clients") && !menu.contains("Keys"), "{menu}");
    b.visible("#card-requests").await;
    b.visible("svg.chart").await;
    b.screenshot("console-auditor-3-dashboard").await;
    b.click("nav.side a[href='/console/audit']").await;
    b.type_into("#patient", "demo-patient-maria").await;
    b.click("#search").await;
    let rows = b.text("#disclosures").await;
    assert!(rows.contains("Rivera") || rows.contains("patient"), "{rows}");
    assert!(b.count("#disclosures tbody tr").await >= 1);
    b.screenshot("console-auditor-4-disclosures").await;
    b.click("#verify-chain").await;
    b.wait_text("#chain-status", "Verified up to checkpoint").await;
    b.wait_text(".notice", "the chain is intact").await;
    b.screenshot("console-auditor-5-chain-verified").await;
    // The alerts queue: the incident with its evidence, resolved with a reason.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        b.goto(&format!("{base}/console/alerts")).await;
        if b.count("form.resolve").await > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no incident: {}", b.text("main").await);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let queue = b.text("main").await;
    assert!(queue.contains("brute force") && queue.contains("failed sign-ins"), "{queue}");
    assert!(queue.contains("audit records"), "the evidence is listed: {queue}");
    b.screenshot("console-auditor-6-alerts").await;
    b.type_into("form.resolve input[name='reason']", "a test of the lockout, run by the security team").await;
    b.click("form.resolve button").await;
    b.wait_text(".notice", "resolved").await;
    b.screenshot("console-auditor-6b-incident-resolved").await;
    b.click("nav.side a[href='/console/compliance']").await;
    let report = b.text("#compliance").await;
    for s in
        ["Access control", "Audit controls", "Integrity", "Person or entity authentication", "Transmission security"]
    {
        assert!(report.contains(s), "{s} missing from {report}");
    }
    b.screenshot("console-auditor-7-compliance").await;
    // A page the role may not use: refused, whatever the menu shows.
    b.goto(&format!("{base}/console/users")).await;
    assert!(b.text("main").await.contains("may not use this page"));
    b.goto(&format!("{base}/console")).await;
    b.click("#sign-out").await;
    b.visible("#sign-in").await;

    // The administrator: accounts, keys, the assistant's review; no audit log.
    console_sign_in(&b, &base, "demo.admin", "demo-admin-password", "console-admin").await;
    let menu = nav(&b).await;
    for p in ["Users & clients", "Keys", "Feedback", "Knowledge base", "Compliance"] {
        assert!(menu.contains(p), "{p} missing from {menu}");
    }
    assert!(!menu.contains("Audit & disclosures"), "{menu}");
    b.screenshot("console-admin-3-dashboard").await;
    b.click("nav.side a[href='/console/users']").await;
    let users = b.text("#users").await;
    assert!(users.contains("maria.demo") && users.contains("amy.auditor"), "{users}");
    b.screenshot("console-admin-4-users").await;
    b.click("nav.side a[href='/console/keys']").await;
    assert_eq!(b.text("#active-version").await.trim(), "1");
    b.screenshot("console-admin-5-keys").await;
    b.click("nav.side a[href='/console/knowledge']").await;
    assert!(b.text("#sources").await.contains("Flu vaccination"));
    b.screenshot("console-admin-6-knowledge").await;
    b.click("nav.side a[href='/console/feedback']").await;
    b.visible("main h1").await;
    b.screenshot("console-admin-7-feedback").await;
    b.click("nav.side a[href='/console/compliance']").await;
    b.wait_text("#compliance", "Second factor enforced for staff").await;
    b.screenshot("console-admin-8-compliance").await;
    b.quit().await;

    // Every console page was an audited request, as the console's user.
    let out = haven_ok(&["audit", "export", "--data-dir", c.dir.arg()]);
    for action in ["console.dashboard", "console.audit", "console.audit.verify", "console.users", "console.keys"] {
        assert!(out.contains(&format!("\"{action}\"")), "{action} was not audited");
    }
}

/// An HTTPS client that does not follow redirects.
fn raw_client(dir: &Path) -> reqwest::Client {
    let pem = std::fs::read(dir.join("tls/cert.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

fn form_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn web_pages_send_security_headers_and_the_console_cookie_is_secure_and_csrf_checked() {
    let c = Clinic::new().await;
    let base = c.server.base.clone();
    let http = raw_client(&c.dir.path);
    let allowed = format!("http://127.0.0.1:{}", c.allowed);

    // The console: strict CSP, no framing, HSTS, no sniffing, no referrer to other sites.
    let r = http.get(format!("{base}/console/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = header(&r, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(header(&r, "strict-transport-security").starts_with("max-age="));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "referrer-policy"), "same-origin");
    assert_eq!(header(&r, "x-frame-options"), "DENY");
    assert!(!r.text().await.unwrap().contains("<script>"), "no inline script");

    // The widget's frame: only Haven and the allowed origins may embed it.
    let r = http.get(format!("{base}/widget")).send().await.unwrap();
    let csp = header(&r, "content-security-policy");
    assert!(csp.contains(&format!("frame-ancestors 'self' {allowed}")), "{csp}");
    assert!(!csp.contains(&format!("127.0.0.1:{}", c.other)), "{csp}");
    assert!(header(&r, "strict-transport-security").starts_with("max-age="));
    // The loader: CORS for allowed origins only.
    let r = http.get(format!("{base}/widget.js")).header("origin", &allowed).send().await.unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), allowed);
    assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let other = format!("http://127.0.0.1:{}", c.other);
    let r = http.get(format!("{base}/widget.js")).header("origin", &other).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The API itself answers no cross-origin reads.
    let r = http.post(format!("{base}/v1/visitor/conversations")).header("origin", &allowed).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // Not signed in: to the sign-in page, not an error.
    let r = http.get(format!("{base}/console/keys")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/console/login");

    // A sign-in from another site is refused.
    let creds = [("username", "demo.admin"), ("password", "demo-admin-password")];
    let r = http
        .post(format!("{base}/console/login"))
        .header("origin", "https://evil.example")
        .form(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The password step: the session cookie is __Host-, Secure, HttpOnly, SameSite=Strict.
    let r = http.post(format!("{base}/console/login")).form(&creds).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), "/console/enrol");
    let set = header(&r, "set-cookie").to_owned();
    assert!(set.starts_with("__Host-haven_session=hvn_"), "{set}");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.split("; ").any(|a| a == attr), "{attr} missing: {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    // A partly signed-in session reaches the enrolment page only.
    let r = http.get(format!("{base}/console")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = http.get(format!("{base}/console/enrol")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code");
    let secret = page.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let csrf = form_csrf(&page);
    // Without the form's CSRF token nothing is done.
    let r = http
        .post(format!("{base}/console/enrol"))
        .header("cookie", &cookie)
        .form(&[("code", totp_code(&secret)), ("csrf", "0".repeat(32))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{base}/console/enrol"))
        .header("cookie", &cookie)
        .form(&[("code", totp_code(&secret)), ("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = header(&r, "set-cookie").to_owned();
    assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    assert!(r.text().await.unwrap().contains("recovery-codes"));

    // Signed in: the cookie opens console pages, never the API.
    let r = http.get(format!("{base}/console/users")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let page = r.text().await.unwrap();
    assert!(page.contains("maria.demo"));
    let r = http.get(format!("{base}/v1/admin/keys")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 401, "the API takes bearer tokens only");
    // Revoking sessions: refused without the CSRF token, done with it.
    let accounts: Value =
        http.get(format!("{base}/v1/admin/users")).bearer_auth(&c.admin).send().await.unwrap().json().await.unwrap();
    let id = accounts.as_array().unwrap().iter().find(|a| a["username"] == "dr.rivera").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{base}/console/users/{id}/revoke");
    let r = http.post(&url).header("cookie", &cookie).form(&[("csrf", "nope")]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.post(&url).header("cookie", &cookie).form(&[("csrf", form_csrf(&page))]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Revoked"));
    // Rotating the key-encryption key from the console.
    let r = http.get(format!("{base}/console/keys")).header("cookie", &cookie).send().await.unwrap();
    let keys_page = r.text().await.unwrap();
    assert!(keys_page.contains("id=\"active-version\">1<"), "{keys_page}");
    let r = http.post(format!("{base}/console/keys/rotate")).header("cookie", &cookie).send().await.unwrap();
    assert_ne!(r.status(), 200, "no CSRF token, no rotation");
    let r = http
        .post(format!("{base}/console/keys/rotate"))
        .header("cookie", &cookie)
        .form(&[("csrf", form_csrf(&keys_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = r.text().await.unwrap();
    assert!(t.contains("KEK version 2 is now active"), "{t}");
    // Signing out ends the session.
    let r = http
        .post(format!("{base}/console/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", form_csrf(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(header(&r, "set-cookie").contains("Max-Age=0"));
    let r = http.get(format!("{base}/console/users")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 303, "the session no longer works");
}
