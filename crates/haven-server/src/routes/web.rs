//! The browser front-end's routes: the chat widget (loader script, panel
//! page, assets) and the staff console (sign-in with TOTP, then the pages).
//!
//! These routes sit in the same router as the API, behind the same layers:
//! authentication (the console's session cookie carries the same session
//! token the API issues), a Cedar decision on every non-public route, and
//! an audit record for every request but the static files. Pages gather
//! their data here, mostly by calling the API's own handlers (so the same
//! decisions apply), and render it with `haven-web`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use haven_core::{Principal, Secret, SessionStage};
use haven_policy::Action;
use haven_web::console::{self, Chrome, Page};
use haven_web::{Markup, assets};
use serde::Deserialize;

use super::Authenticated;
use crate::accounts::{self, AuthError, LoginOutcome};
use crate::audit::AuditTrail;
use crate::authz::DecisionFlag;
use crate::{ApiError, AppState};

/// The console's session cookie (`__Host-`: Secure, path `/`, no domain).
pub const SESSION_COOKIE: &str = "__Host-haven_session";

/// Web routes anyone may call: static files, the widget's page, sign-in.
pub const PUBLIC: [&str; 5] = ["/widget.js", "/widget", "/assets/{file}", "/console/login", "/console/signed-out"];

/// Web routes a partly signed-in session may call (the second factor).
pub const PARTIAL: [&str; 3] = ["/console/mfa", "/console/enrol", "/console/logout"];

/// Static files: nothing to audit, as for the health probes.
pub const UNAUDITED: [&str; 3] = ["/widget.js", "/widget", "/assets/{file}"];

/// The web routes that act only on the caller's own session or are public.
pub fn needs_no_decision(route: &str) -> bool {
    PUBLIC.contains(&route) || PARTIAL.contains(&route)
}

/// The audit action of a web route.
pub fn action_for(method: &str, route: &str) -> Option<&'static str> {
    Some(match (method, route) {
        ("GET", "/console/login") | ("GET", "/console/signed-out") => "console.sign_in_page",
        ("POST", "/console/login") => "auth.login",
        ("GET", "/console/mfa") => "console.sign_in_page",
        ("POST", "/console/mfa") => "auth.mfa.verify",
        ("GET", "/console/enrol") => "auth.mfa.enroll",
        ("POST", "/console/enrol") => "auth.mfa.activate",
        ("POST", "/console/logout") => "auth.logout",
        ("GET", "/console") => "console.dashboard",
        ("GET", "/console/audit") => "console.audit",
        ("POST", "/console/audit/verify") => "console.audit.verify",
        ("GET", "/console/alerts") => "console.alerts",
        ("POST", "/console/incidents/{id}/resolve") => "security.incident_change",
        ("GET", "/console/users") => "console.users",
        ("POST", "/console/users/{id}/revoke") => "admin.user.revoke_sessions",
        ("GET", "/console/feedback") => "console.feedback",
        ("GET", "/console/knowledge") => "console.knowledge",
        ("GET", "/console/keys") => "console.keys",
        ("POST", "/console/keys/rotate") => "keys.rotate",
        ("GET", "/console/compliance") => "console.compliance",
        _ => return None,
    })
}

/// Every web route, for the audit-action test.
#[cfg(test)]
const ROUTES: [(&str, &str); 23] = [
    ("GET", "/widget.js"),
    ("GET", "/widget"),
    ("GET", "/assets/{file}"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("GET", "/console/signed-out"),
    ("GET", "/console/mfa"),
    ("POST", "/console/mfa"),
    ("GET", "/console/enrol"),
    ("POST", "/console/enrol"),
    ("POST", "/console/logout"),
    ("GET", "/console"),
    ("GET", "/console/audit"),
    ("POST", "/console/audit/verify"),
    ("GET", "/console/alerts"),
    ("POST", "/console/incidents/{id}/resolve"),
    ("GET", "/console/users"),
    ("POST", "/console/users/{id}/revoke"),
    ("GET", "/console/feedback"),
    ("GET", "/console/knowledge"),
    ("GET", "/console/keys"),
    ("POST", "/console/keys/rotate"),
    ("GET", "/console/compliance"),
];

/// The web routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(loader))
        .route("/widget", get(widget_page))
        .route("/assets/{file}", get(asset))
        .route("/console/login", get(login_page).post(login))
        .route("/console/signed-out", get(login_page))
        .route("/console/mfa", get(mfa_page).post(mfa))
        .route("/console/enrol", get(enrol_page).post(enrol))
        .route("/console/logout", post(logout))
        .route("/console", get(dashboard))
        .route("/console/audit", get(audit_page))
        .route("/console/audit/verify", post(verify_chain))
        .route("/console/alerts", get(alerts))
        .route("/console/incidents/{id}/resolve", post(resolve_incident))
        .route("/console/users", get(users))
        .route("/console/users/{id}/revoke", post(revoke))
        .route("/console/feedback", get(feedback))
        .route("/console/knowledge", get(knowledge))
        .route("/console/keys", get(keys))
        .route("/console/keys/rotate", post(rotate))
        .route("/console/compliance", get(compliance))
}

fn is_console(route: &str) -> bool {
    route == "/console" || route.starts_with("/console/")
}

/// The console's session token from its cookie (console routes only: the
/// API takes bearer tokens alone, so a cookie can never act on it).
pub fn session_token<'a>(route: &str, headers: &'a HeaderMap) -> Option<&'a str> {
    if !is_console(route) {
        return None;
    }
    cookie(headers, SESSION_COOKIE)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// What a console route answers a browser that is not (fully) signed in:
/// back to the sign-in page, instead of the API's 401/403.
pub fn console_refusal(route: &str) -> Option<Response> {
    is_console(route).then(|| Redirect::to("/console/login").into_response())
}

/// The CSRF token of a session: derived from its secret token, which only
/// the browser's HttpOnly cookie holds; forms carry it, cross-site pages cannot.
fn csrf_for(token: &str) -> String {
    hex::encode(&haven_crypto::sha256(format!("haven-console-csrf:{token}").as_bytes())[..16])
}

/// Every console POST: the form's CSRF token must be the session's.
/// Answers the refusal when it does not match.
fn check_csrf(headers: &HeaderMap, route: &str, given: &str) -> Option<Response> {
    let Some(token) = session_token(route, headers) else { return Some(forbidden("No session.")) };
    let want = csrf_for(token);
    // Both are hex of a hash: comparing them reveals nothing about the token.
    (want.as_bytes() != given.as_bytes()).then(|| forbidden("The form has expired: reload the page."))
}

fn forbidden(text: &str) -> Response {
    (StatusCode::FORBIDDEN, Html(console::message("Not allowed", text).into_string())).into_response()
}

fn session_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"))
        .unwrap_or_else(|_| {
            HeaderValue::from_static("__Host-haven_session=; Path=/; Secure; HttpOnly; SameSite=Strict")
        })
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-haven_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
}

fn with_cookie(token: &str, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().insert(header::SET_COOKIE, session_cookie(token));
    r
}

fn page(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

// ---------------------------------------------------------------------------
// Security headers
// ---------------------------------------------------------------------------

/// Headers on every web response: CSP (no inline script), HSTS, framing,
/// no sniffing, no referrer to other sites; CORS for the loader from allowed origins.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut resp = next.run(req).await;
    let widget = path == "/widget";
    let loader = path == "/widget.js";
    if !(widget || loader || path.starts_with("/assets/") || is_console(&path)) {
        return resp;
    }
    let embed = &state.config().web.embed_origins;
    let h = resp.headers_mut();
    let csp = if widget {
        let ancestors = std::iter::once("'self'").chain(embed.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'none'; base-uri 'none'; frame-ancestors {ancestors}"
        )
    } else {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
            .to_owned()
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if state.scheme() == "https" {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if is_console(&path) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static(if loader { "cross-origin" } else { "same-origin" }),
    );
    if loader
        && let Some(o) = origin.filter(|o| embed.iter().any(|e| e == o))
        && let Ok(v) = HeaderValue::from_str(&o)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

// ---------------------------------------------------------------------------
// The widget
// ---------------------------------------------------------------------------

fn serve_asset(a: assets::Asset) -> Response {
    ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "no-cache")], a.body).into_response()
}

async fn loader() -> Response {
    serve_asset(assets::WIDGET_LOADER)
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::by_path(&format!("/assets/{file}")) {
        Some(a) => serve_asset(a),
        None => ApiError::NotFound.into_response(),
    }
}

async fn widget_page(State(state): State<AppState>) -> Response {
    let agent = state.agent();
    page(haven_web::widget::page(&haven_web::widget::WidgetPage {
        disclaimer: agent.agent().disclaimer().to_owned(),
        disclaimer_version: agent.disclaimer_version().to_owned(),
        allow_anonymous: agent.allows_visitors(),
    }))
}

// ---------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------

/// The peer address, for sign-in back-off.
struct Peer(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
    csrf: String,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn login_page() -> Response {
    page(console::login(None))
}

/// A POST must come from the console's own pages (defence in depth beside
/// SameSite=Strict and the CSRF token): a foreign `Origin` is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // Browsers say where a request comes from; other clients may not.
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = text("origin") else { return true };
    let host = text("host").unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, h)| h == host)
}

async fn login(
    State(state): State<AppState>,
    Peer(ip): Peer,
    trail: AuditTrail,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        trail.detail("cross-origin sign-in refused");
        return forbidden("Sign in from the console's own page.");
    }
    let Ok(Form(f)) = form else {
        return (StatusCode::BAD_REQUEST, page(console::login(Some("Enter a username and a password."))))
            .into_response();
    };
    let sec = &state.config().security;
    let password = Secret::new(f.password);
    match accounts::login(state.store(), state.limiter(), ip, &f.username, &password, sec, &trail).await {
        Ok((_, LoginOutcome::Tokens(pair))) => {
            trail.detail("signed in (console)");
            with_cookie(pair.access.token.expose(), "/console")
        }
        Ok((_, LoginOutcome::MfaRequired(t))) => {
            trail.detail("password accepted; second factor due (console)");
            with_cookie(t.token.expose(), "/console/mfa")
        }
        Ok((_, LoginOutcome::EnrolmentRequired(t))) => {
            trail.detail("password accepted; second-factor enrolment due (console)");
            with_cookie(t.token.expose(), "/console/enrol")
        }
        Err(AuthError::InvalidCredentials | AuthError::InvalidToken) => {
            (StatusCode::UNAUTHORIZED, page(console::login(Some("Invalid username or password.")))).into_response()
        }
        Err(AuthError::Store(e)) => ApiError::from(e).into_response(),
        Err(e) => {
            tracing::info!(error = %e, "console sign-in refused");
            (
                StatusCode::TOO_MANY_REQUESTS,
                page(console::login(Some("Sign-in is not possible right now. Try again later."))),
            )
                .into_response()
        }
    }
}

fn token_of(headers: &HeaderMap, route: &str) -> String {
    session_token(route, headers).map(csrf_for).unwrap_or_default()
}

async fn mfa_page(Authenticated(p): Authenticated, headers: HeaderMap) -> Response {
    if p.stage != SessionStage::MfaPending {
        return Redirect::to("/console").into_response();
    }
    page(console::mfa(&token_of(&headers, "/console/mfa"), None))
}

async fn mfa(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    trail: AuditTrail,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Some(r) = check_csrf(&headers, "/console/mfa", &f.csrf) {
        return r;
    }
    match accounts::verify_mfa(state.store(), &p, f.code.trim(), &state.config().security).await {
        Ok(pair) => {
            trail.detail("second factor accepted; signed in (console)");
            state.sessions().evict(&p.session);
            with_cookie(pair.access.token.expose(), "/console")
        }
        Err(AuthError::Store(e)) => ApiError::from(e).into_response(),
        Err(_) => {
            trail.detail("second factor rejected");
            let csrf = token_of(&headers, "/console/mfa");
            (StatusCode::BAD_REQUEST, page(console::mfa(&csrf, Some("That code is not valid. Try the next one."))))
                .into_response()
        }
    }
}

async fn enrol_page(State(state): State<AppState>, Authenticated(p): Authenticated, headers: HeaderMap) -> Response {
    if p.stage != SessionStage::Enrolment {
        return Redirect::to("/console").into_response();
    }
    enrol_form(&state, &p, &headers, None).await
}

async fn enrol_form(state: &AppState, p: &Principal, headers: &HeaderMap, error: Option<&str>) -> Response {
    let e = match accounts::enrol_mfa(state.store(), p).await {
        Ok(e) => e,
        Err(AuthError::Store(e)) => return ApiError::from(e).into_response(),
        Err(_) => return ApiError::Internal.into_response(),
    };
    let secret =
        e.uri.expose().split(['?', '&']).find_map(|kv| kv.strip_prefix("secret=")).unwrap_or_default().to_owned();
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let csrf = token_of(headers, "/console/enrol");
    (status, page(console::enrol(&csrf, e.qr_svg.expose(), &secret, error))).into_response()
}

async fn enrol(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    trail: AuditTrail,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Some(r) = check_csrf(&headers, "/console/enrol", &f.csrf) {
        return r;
    }
    if p.stage != SessionStage::Enrolment {
        return Redirect::to("/console").into_response();
    }
    match accounts::activate_mfa(state.store(), &p, f.code.trim(), &state.config().security).await {
        Ok((pair, codes)) => {
            trail.detail("second factor activated; signed in (console)");
            state.sessions().evict(&p.session);
            let codes: Vec<String> = codes.iter().map(|c| c.expose().clone()).collect();
            let mut r = page(console::recovery(&codes));
            r.headers_mut().insert(header::SET_COOKIE, session_cookie(pair.access.token.expose()));
            r
        }
        Err(AuthError::Store(e)) => ApiError::from(e).into_response(),
        Err(_) => {
            trail.detail("activation code rejected");
            enrol_form(&state, &p, &headers, Some("That code is not valid: scan the new QR code and try again.")).await
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&headers, "/console/logout", &f.csrf) {
        return r;
    }
    state.sessions().evict(&p.session);
    if let Ok(revoked) = accounts::sign_out(state.store(), &p.session).await {
        for id in &revoked {
            state.sessions().evict(id);
        }
    }
    let mut r = Redirect::to("/console/signed-out").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/// What each page needs the policy to allow.
fn page_actions(p: Page) -> &'static [(Action, &'static str)] {
    match p.href {
        "/console/audit" => &[(Action::ReadAudit, "AuditEvent")],
        "/console/alerts" => &[(Action::ReadAlerts, "HavenAlert")],
        "/console/users" => &[(Action::ManageAccounts, "HavenAccount")],
        "/console/feedback" | "/console/knowledge" => &[(Action::ReviewAgent, "Conversation")],
        "/console/keys" => &[(Action::ManageKeys, "HavenKeys")],
        "/console/compliance" => &[(Action::ReadAudit, "AuditEvent"), (Action::ManageKeys, "HavenKeys")],
        // The dashboard's figures: for those who review the assistant or the log.
        _ => &[(Action::ReviewAgent, "Conversation"), (Action::ReadAudit, "AuditEvent")],
    }
}

/// Whether the policy allows any of the page's actions (no denial is recorded).
async fn may(state: &AppState, flag: &DecisionFlag, p: &Principal, page: Page) -> Result<bool, ApiError> {
    for (action, rtype) in page_actions(page) {
        if state.authz().decide(state.store(), flag, p, *action, rtype, None).await?.allow {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The page's frame: who is signed in and the pages the policy lets them use.
async fn chrome(state: &AppState, flag: &DecisionFlag, p: &Principal, headers: &HeaderMap) -> Result<Chrome, ApiError> {
    let mut nav = vec![console::DASHBOARD];
    for page in console::PAGES.into_iter().skip(1) {
        if may(state, flag, p, page).await? {
            nav.push(page);
        }
    }
    let username = match accounts::account_by_id(state.store(), &p.account).await {
        Ok(a) => a.username,
        Err(_) => p.account.as_str().to_owned(),
    };
    Ok(Chrome { username, role: p.role.to_string(), nav, csrf: token_of(headers, "/console") })
}

/// Nothing when the policy allows the page; else a 403 page (recorded as a denial).
async fn guard(
    state: &AppState,
    flag: &DecisionFlag,
    trail: &AuditTrail,
    p: &Principal,
    page: Page,
) -> Option<Response> {
    match may(state, flag, p, page).await {
        Ok(true) => None,
        Ok(false) => {
            trail.denied();
            trail.detail(format!("policy denied the console page {}", page.href));
            Some(forbidden("Your role may not use this page."))
        }
        Err(e) => Some(e.into_response()),
    }
}

struct Ctx {
    state: AppState,
    p: Principal,
    flag: DecisionFlag,
    trail: AuditTrail,
    headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut http::request::Parts, s: &S) -> Result<Self, Response> {
        use axum::extract::FromRef;
        let state = AppState::from_ref(s);
        let p = parts.extensions.get::<Principal>().cloned().ok_or_else(|| ApiError::Unauthorized.into_response())?;
        let flag = parts.extensions.get::<DecisionFlag>().cloned().ok_or_else(|| ApiError::Internal.into_response())?;
        let trail = parts.extensions.get::<AuditTrail>().cloned().unwrap_or_default();
        Ok(Ctx { state, p, flag, trail, headers: parts.headers.clone() })
    }
}

impl Ctx {
    async fn render(&self, current: Page, body: Markup) -> Response {
        match chrome(&self.state, &self.flag, &self.p, &self.headers).await {
            Ok(c) => page(console::layout(&c, current, body)),
            Err(e) => e.into_response(),
        }
    }

    async fn guard(&self, page: Page) -> Option<Response> {
        guard(&self.state, &self.flag, &self.trail, &self.p, page).await
    }

    fn csrf(&self) -> String {
        token_of(&self.headers, "/console")
    }

    fn api(&self) -> (State<AppState>, Authenticated, Extension<DecisionFlag>) {
        (State(self.state.clone()), Authenticated(self.p.clone()), Extension(self.flag.clone()))
    }
}

fn now_micros() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn when(secs: i64) -> String {
    crate::fhir::rfc3339(secs.saturating_mul(1_000_000))
}

fn chain_view(state: &AppState, head: Option<u64>) -> console::ChainView {
    let s = state.audit_status();
    console::ChainView {
        head_seq: head,
        verified_seq: s.verified_seq,
        verified_checkpoint_time: s.verified_checkpoint_time.map(crate::fhir::rfc3339),
        checked_at: s.checked_at.map(when),
        records_verified: s.records_verified,
        problem: s.problem,
    }
}

async fn head_seq(state: &AppState) -> Option<u64> {
    state.audit().store().head().await.ok().flatten().map(|h| h.seq)
}

/// The most audit records the dashboard reads.
const DASHBOARD_SCAN: usize = 20_000;

async fn dashboard(ctx: Ctx) -> Response {
    let figures = match may(&ctx.state, &ctx.flag, &ctx.p, console::DASHBOARD).await {
        Ok(true) => Some(figures(&ctx).await),
        Ok(false) => None,
        Err(e) => return e.into_response(),
    };
    ctx.render(console::DASHBOARD, console::dashboard(figures.as_ref())).await
}

async fn figures(ctx: &Ctx) -> console::Dashboard {
    const HOURS: i64 = 24;
    let now = now_micros();
    let since = now - HOURS * 3_600_000_000;
    let query = haven_audit::AuditQuery {
        since: Some(since),
        limit: DASHBOARD_SCAN,
        newest_first: true,
        ..haven_audit::AuditQuery::default()
    };
    let stored = ctx.state.audit().store().search(&query).await.unwrap_or_default();
    let mut d = console::Dashboard {
        window_hours: 24,
        hourly: vec![0; 24],
        truncated: stored.len() >= DASHBOARD_SCAN,
        ..Default::default()
    };
    for s in &stored {
        let Ok(r) = haven_audit::Record::decode(&s.bytes) else { continue };
        let e = &r.event;
        d.requests += 1;
        if e.action == "agent.message" {
            d.agent_replies += 1;
            if e.detail.as_deref().is_some_and(|t| t.contains("=block")) {
                d.safeguard_blocks += 1;
            }
        }
        if e.outcome == haven_audit::Outcome::Denied {
            d.denied += 1;
        }
        let age_hours = usize::try_from((now - e.time) / 3_600_000_000).unwrap_or(0);
        if let Some(slot) = 23usize.checked_sub(age_hours) {
            d.hourly[slot] += 1;
        }
    }
    if let Ok(true) = ctx
        .state
        .authz()
        .decide(ctx.state.store(), &ctx.flag, &ctx.p, Action::ReadAudit, "AuditEvent", None)
        .await
        .map(|d| d.allow)
    {
        d.chain = Some(chain_view(&ctx.state, head_seq(&ctx.state).await));
    }
    d.open_incidents = ctx.state.detect().map(|det| det.status().open_incidents as u64);
    d
}

#[derive(Deserialize, Default)]
struct AuditForm {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
}

async fn audit_page(ctx: Ctx, Query(q): Query<AuditForm>) -> Response {
    if let Some(r) = ctx.guard(console::AUDIT).await {
        return r;
    }
    let v = audit_view(&ctx, q, None).await;
    ctx.render(console::AUDIT, console::audit(&v, &ctx.csrf())).await
}

async fn audit_view(ctx: &Ctx, q: AuditForm, notice: Option<String>) -> console::AuditPage {
    let mut v = console::AuditPage {
        patient: q.patient.trim().to_owned(),
        actor: q.actor.trim().to_owned(),
        action: q.action.trim().to_owned(),
        notice,
        ..Default::default()
    };
    if !v.patient.is_empty() {
        // The API's own report: the same decision, about this patient.
        let (s, a, f) = ctx.api();
        let query = super::audit::DisclosureQuery { patient: Some(v.patient.clone()) };
        match super::audit::disclosures(s, a, f, Query(query)).await {
            Ok(axum::Json(d)) => {
                v.disclosures = Some(
                    d.disclosures
                        .into_iter()
                        .map(|d| console::DisclosureRow {
                            when: d.when,
                            who: d.who,
                            role: d.role.unwrap_or_default(),
                            why: d.why,
                            what: d.what,
                            records: d.records.join(", "),
                            audit_id: d.audit_id,
                        })
                        .collect(),
                )
            }
            Err(ApiError::BadRequest(m)) => v.error = Some(m),
            Err(_) => v.error = Some("The disclosures of this patient are not available to you.".into()),
        }
    }
    let query = haven_audit::AuditQuery {
        patient: (!v.patient.is_empty()).then(|| v.patient.clone()),
        actor: (!v.actor.is_empty()).then(|| v.actor.clone()),
        action: (!v.action.is_empty()).then(|| v.action.clone()),
        limit: 100,
        newest_first: true,
        ..haven_audit::AuditQuery::default()
    };
    let stored = ctx.state.audit().store().search(&query).await.unwrap_or_default();
    v.events = stored
        .iter()
        .filter_map(|s| haven_audit::Record::decode(&s.bytes).ok())
        .map(|r| console::EventRow {
            seq: r.seq,
            when: crate::fhir::rfc3339(r.event.time),
            actor: r.event.actor.name.clone().unwrap_or_else(|| r.event.actor.id.clone()),
            action: r.event.action.clone(),
            outcome: format!("{:?}", r.event.outcome).to_lowercase(),
            patients: r.event.patients.join(", "),
            detail: r.event.detail.clone().unwrap_or_default(),
        })
        .collect();
    v.chain = chain_view(&ctx.state, head_seq(&ctx.state).await);
    v
}

/// Verifies the whole chain now (after a fresh checkpoint) and shows the result.
async fn verify_chain(ctx: Ctx, Form(f): Form<CsrfForm>) -> Response {
    if let Some(r) = check_csrf(&ctx.headers, "/console/audit/verify", &f.csrf) {
        return r;
    }
    if let Some(r) = ctx.guard(console::AUDIT).await {
        return r;
    }
    let _ = ctx.state.audit().checkpoint_now().await;
    let keys = vec![ctx.state.audit().public_key()];
    let report = haven_audit::verify_store(ctx.state.audit().store().as_ref(), keys, None, None).await;
    let notice = match report {
        Ok(r) => {
            let mut status = ctx.state.audit_status();
            status.checked_at = Some(time::OffsetDateTime::now_utc().unix_timestamp());
            match (&r.problem, &r.last_checkpoint) {
                (Some(p), _) => {
                    status.problem = Some(p.to_string());
                    ctx.state.set_audit_status(status);
                    ctx.trail.detail("chain verification failed");
                    format!("The chain does not verify: {p}")
                }
                (None, Some(cp)) => {
                    status.verified_seq = Some(cp.seq);
                    status.verified_checkpoint_time = Some(cp.time);
                    status.records_verified = status.records_verified.max(r.records);
                    status.problem = None;
                    ctx.state.set_audit_status(status);
                    ctx.trail.detail(format!("chain verified to checkpoint {}", cp.seq));
                    format!(
                        "Verified {} records: the chain is intact up to the checkpoint at record {} ({}).",
                        r.records,
                        cp.seq,
                        crate::fhir::rfc3339(cp.time)
                    )
                }
                (None, None) => format!("Verified {} records; no checkpoint yet.", r.records),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "audit verification could not run");
            "Verification could not run.".to_owned()
        }
    };
    let v = audit_view(&ctx, AuditForm::default(), Some(notice)).await;
    ctx.render(console::AUDIT, console::audit(&v, &ctx.csrf())).await
}

/// The unresolved incidents (with a resolve form) and the latest alerts
/// explained away, as the queue shows them: `None` while no detection runs
/// in this server, which the page says.
fn alert_source(state: &AppState) -> Option<Vec<console::AlertRow>> {
    let d = state.detect()?;
    let mut rows = Vec::new();
    for i in d.incidents(true, 50) {
        let state_words = match (&i.assignee, i.state) {
            (Some(a), s) => format!("{s:?}, assigned to {a}").to_lowercase(),
            (None, s) => format!("{s:?}").to_lowercase(),
        };
        rows.push(console::AlertRow {
            id: format!("incident-{}", i.id),
            severity: i.severity.as_str().to_owned(),
            title: format!("Incident {}: {}", i.id, i.attacks.join(", ").replace('_', " ")),
            explanation: i.summary.clone(),
            timeline: i
                .timeline
                .iter()
                .map(|t| {
                    let seqs: Vec<String> = t.evidence.iter().take(12).map(u64::to_string).collect();
                    let more = if t.evidence.len() > 12 { ", …" } else { "" };
                    (
                        crate::fhir::rfc3339(t.time),
                        format!("{} (×{}; audit records {}{more})", t.summary, t.repeats, seqs.join(", ")),
                    )
                })
                .collect(),
            status: state_words,
            resolve: Some(format!("/console/incidents/{}/resolve", i.id)),
        });
    }
    for a in d.alerts(Some(haven_detect::AlertStatus::Explained), 20) {
        let why: Vec<String> =
            a.explanations.iter().map(|e| format!("{}: {}", e.patient, e.explanation.text())).collect();
        rows.push(console::AlertRow {
            id: format!("alert-{}", a.id),
            severity: a.level.as_str().to_owned(),
            title: format!("Alert {}: {}", a.id, a.title),
            explanation: format!("Explained away: {}", why.join("; ")),
            timeline: vec![(crate::fhir::rfc3339(a.time), a.summary.clone())],
            status: "resolved automatically (benign)".to_owned(),
            resolve: None,
        });
    }
    Some(rows)
}

async fn alerts(ctx: Ctx) -> Response {
    if let Some(r) = ctx.guard(console::ALERTS).await {
        return r;
    }
    let rows = alert_source(&ctx.state);
    ctx.render(console::ALERTS, console::alerts(rows.as_deref(), &ctx.csrf(), None)).await
}

#[derive(Deserialize)]
struct ResolveForm {
    csrf: String,
    resolution: String,
    reason: String,
}

async fn resolve_incident(ctx: Ctx, Path(id): Path<String>, Form(f): Form<ResolveForm>) -> Response {
    if let Some(r) = check_csrf(&ctx.headers, "/console/incidents/{id}/resolve", &f.csrf) {
        return r;
    }
    // The API's handler: the same decision, the same checks, the same record.
    let (s, a, fl) = ctx.api();
    let change = super::detect::IncidentChange::Resolve { resolution: f.resolution, reason: f.reason };
    let notice =
        match super::detect::change_incident(s, a, fl, ctx.trail.clone(), Path(id.clone()), Ok(axum::Json(change)))
            .await
        {
            Ok(_) => format!("Incident {id} resolved."),
            Err(ApiError::Forbidden) => return forbidden("Your role may not resolve incidents."),
            Err(ApiError::NotFound) => "No such incident.".to_owned(),
            Err(ApiError::BadRequest(m) | ApiError::Conflict(m)) => format!("Not resolved: {m}"),
            Err(e) => return e.into_response(),
        };
    let rows = alert_source(&ctx.state);
    ctx.render(console::ALERTS, console::alerts(rows.as_deref(), &ctx.csrf(), Some(&notice))).await
}

async fn user_rows(state: &AppState) -> Vec<console::UserRow> {
    let accounts = accounts::list_accounts(state.store()).await.unwrap_or_default();
    accounts
        .into_iter()
        .map(|a| console::UserRow {
            id: a.id.as_str().to_owned(),
            username: a.username,
            role: a.role.to_string(),
            mfa: a.mfa_active,
            staff: a.role.is_staff(),
            disabled: a.disabled,
            client: a.is_client,
        })
        .collect()
}

async fn users(ctx: Ctx) -> Response {
    if let Some(r) = ctx.guard(console::USERS).await {
        return r;
    }
    let rows = user_rows(&ctx.state).await;
    ctx.render(console::USERS, console::users(&rows, &ctx.csrf(), None)).await
}

async fn revoke(ctx: Ctx, Path(id): Path<String>, Form(f): Form<CsrfForm>) -> Response {
    if let Some(r) = check_csrf(&ctx.headers, "/console/users/{id}/revoke", &f.csrf) {
        return r;
    }
    // The API's handler: the same decision, the same effect.
    let (s, a, fl) = ctx.api();
    let notice = match super::admin::revoke_sessions(s, a, fl, Path(id.clone())).await {
        Ok(axum::Json(r)) => {
            ctx.trail.resource(format!("HavenAccount/{id}"));
            format!("Revoked {} sessions.", r.revoked_sessions)
        }
        Err(ApiError::Forbidden) => return forbidden("Your role may not manage accounts."),
        Err(ApiError::NotFound) => "No such account.".to_owned(),
        Err(e) => return e.into_response(),
    };
    let rows = user_rows(&ctx.state).await;
    ctx.render(console::USERS, console::users(&rows, &ctx.csrf(), Some(&notice))).await
}

async fn feedback(ctx: Ctx) -> Response {
    if let Some(r) = ctx.guard(console::FEEDBACK).await {
        return r;
    }
    let (s, a, f) = ctx.api();
    let report = match super::agent::feedback_report(s, a, f).await {
        Ok(axum::Json(v)) => v,
        Err(e) => return e.into_response(),
    };
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let v = console::FeedbackPage {
        up: n(&report["up"]),
        down: n(&report["down"]),
        with_comment: n(&report["with_comment"]),
        sources: report["sources"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| (s["source"].as_str().unwrap_or_default().to_owned(), n(&s["up"]), n(&s["down"])))
                    .collect()
            })
            .unwrap_or_default(),
    };
    ctx.render(console::FEEDBACK, console::feedback(&v)).await
}

async fn knowledge(ctx: Ctx) -> Response {
    if let Some(r) = ctx.guard(console::KNOWLEDGE).await {
        return r;
    }
    let sources = ctx.state.agent().agent().answerer().kb().sources().unwrap_or_default();
    let rows: Vec<console::SourceRow> = sources
        .into_iter()
        .map(|s| console::SourceRow { id: s.id, title: s.title, origin: s.origin, url: s.url, passages: s.passages })
        .collect();
    ctx.render(console::KNOWLEDGE, console::knowledge(&rows)).await
}

fn local_keyring(state: &AppState) -> Option<haven_crypto::LocalKeyring> {
    let cfg = &state.config().keys;
    if cfg.provider != crate::config::KeyProviderKind::Local {
        return None;
    }
    haven_crypto::LocalKeyring::open(&state.data_dir().join(&cfg.keyring)).ok()
}

/// The active KEK's creation time (the last rotation) and its age in days.
fn last_rotation(state: &AppState, active: u32) -> (Option<String>, Option<i64>) {
    let Some(ring) = local_keyring(state) else { return (None, None) };
    let Some(info) = ring.status().ok().and_then(|s| s.into_iter().find(|k| k.version.get() == active)) else {
        return (None, None);
    };
    let age = time::OffsetDateTime::parse(&info.created, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (time::OffsetDateTime::now_utc() - t).whole_days());
    (Some(info.created), age)
}

async fn keys_view(ctx: &Ctx, notice: Option<String>) -> Result<console::KeysPage, Response> {
    let (s, a, f) = ctx.api();
    let axum::Json(status) = super::keys::key_status(s, a, f).await.map_err(IntoResponse::into_response)?;
    let active = u32::try_from(status["active_version"].as_u64().unwrap_or(0)).unwrap_or(0);
    let (last, age) = last_rotation(&ctx.state, active);
    Ok(console::KeysPage {
        provider: status["provider"].as_str().unwrap_or_default().to_owned(),
        active_version: active,
        last_rotation: last,
        age_days: age,
        policy_days: i64::from(ctx.state.config().keys.rotation_policy_days),
        wrapped: status["wrapped_keys_by_version"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
            .unwrap_or_default(),
        can_rotate: local_keyring(&ctx.state).is_some(),
        notice,
    })
}

async fn keys(ctx: Ctx) -> Response {
    if let Some(r) = ctx.guard(console::KEYS).await {
        return r;
    }
    match keys_view(&ctx, None).await {
        Ok(v) => ctx.render(console::KEYS, console::keys(&v, &ctx.csrf())).await,
        Err(r) => r,
    }
}

/// Makes a new KEK version active (local keyring): new data keys are
/// wrapped under it; `haven keys rewrap` moves the existing ones.
async fn rotate(ctx: Ctx, Form(f): Form<CsrfForm>) -> Response {
    if let Some(r) = check_csrf(&ctx.headers, "/console/keys/rotate", &f.csrf) {
        return r;
    }
    if let Some(r) = ctx.guard(console::KEYS).await {
        return r;
    }
    let Some(ring) = local_keyring(&ctx.state) else {
        return forbidden("This installation's keys rotate outside Haven (environment key provider).");
    };
    let notice = match ring.rotate() {
        Ok(v) => {
            ctx.trail.detail(format!("KEK version {v} active (console)"));
            format!("KEK version {v} is now active. Run haven keys rewrap to re-wrap existing data keys.")
        }
        Err(e) => {
            tracing::error!(error = %e, "key rotation failed");
            ctx.trail.detail("key rotation failed");
            "Rotation failed; see the server log.".to_owned()
        }
    };
    match keys_view(&ctx, Some(notice)).await {
        Ok(v) => ctx.render(console::KEYS, console::keys(&v, &ctx.csrf())).await,
        Err(r) => r,
    }
}

async fn compliance(ctx: Ctx) -> Response {
    if let Some(r) = ctx.guard(console::COMPLIANCE).await {
        return r;
    }
    let items = compliance_items(&ctx).await;
    let generated = when(time::OffsetDateTime::now_utc().unix_timestamp());
    ctx.render(console::COMPLIANCE, console::compliance(&items, &generated)).await
}

/// The HIPAA Security Rule's technical safeguards (45 CFR 164.312), each
/// with the evidence this server holds now.
async fn compliance_items(ctx: &Ctx) -> Vec<console::ComplianceItem> {
    use console::{ComplianceItem as Item, Status};
    let state = &ctx.state;
    let cfg = state.config();
    let accounts = accounts::list_accounts(state.store()).await.unwrap_or_default();
    let people: Vec<_> = accounts.iter().filter(|a| !a.is_client && !a.disabled).collect();
    let staff: Vec<_> = people.iter().filter(|a| a.role.is_staff()).collect();
    let staff_without = staff.iter().filter(|a| !a.mfa_active).count();
    let chain = state.audit_status();
    let head = head_seq(state).await;
    let ring_age = match local_keyring(state) {
        Some(ring) => ring
            .status()
            .ok()
            .and_then(|s| s.into_iter().max_by_key(|k| k.version.get()))
            .and_then(|k| time::OffsetDateTime::parse(&k.created, &time::format_description::well_known::Rfc3339).ok())
            .map(|t| (time::OffsetDateTime::now_utc() - t).whole_days()),
        None => None,
    };
    let policy_days = i64::from(cfg.keys.rotation_policy_days);
    let https = state.scheme() == "https";
    vec![
        Item {
            safeguard: "Access control",
            citation: "§ 164.312(a)(1)",
            check: "Unique user identification; every request authorised by policy".into(),
            status: Status::Met,
            evidence: format!(
                "{} active accounts with unique usernames; every non-public route needs a Cedar decision (deny by default, fails closed).",
                people.len()
            ),
        },
        Item {
            safeguard: "Access control",
            citation: "§ 164.312(a)(2)(ii), (iii)",
            check: "Emergency access procedure; automatic logoff".into(),
            status: if cfg.security.token_ttl_secs <= 3600 { Status::Met } else { Status::Attention },
            evidence: format!(
                "Break-the-glass grants last {} minutes with a reason and a fresh second factor; access tokens expire after {} s, sessions after {} s idle.",
                cfg.security.break_glass_minutes, cfg.security.token_ttl_secs, cfg.security.refresh_idle_secs
            ),
        },
        Item {
            safeguard: "Access control",
            citation: "§ 164.312(a)(2)(iv)",
            check: format!("Encryption at rest; key-encryption keys rotated within {policy_days} days"),
            status: match ring_age {
                Some(a) if a <= policy_days => Status::Met,
                Some(_) => Status::Attention,
                None => Status::Attention,
            },
            evidence: match ring_age {
                Some(a) => format!(
                    "Every record sealed with AES-256-GCM under a wrapped data key; the active KEK is {a} days old."
                ),
                None => {
                    "Every record sealed with AES-256-GCM; the KEK's age is not known to Haven (external key provider)."
                        .into()
                }
            },
        },
        Item {
            safeguard: "Audit controls",
            citation: "§ 164.312(b)",
            check: "Every request recorded before its response".into(),
            status: if head.is_some() { Status::Met } else { Status::Attention },
            evidence: format!(
                "Hash-chained audit log, newest record #{}; signed checkpoints every {} records or {} s.",
                head.unwrap_or(0),
                cfg.audit.checkpoint_every_records,
                cfg.audit.checkpoint_every_secs
            ),
        },
        Item {
            safeguard: "Integrity",
            citation: "§ 164.312(c)(1), (c)(2)",
            check: "Audit chain verified; records authenticated".into(),
            status: match (&chain.problem, chain.verified_seq) {
                (Some(_), _) => Status::NotMet,
                (None, Some(_)) => Status::Met,
                (None, None) => Status::Attention,
            },
            evidence: match (&chain.problem, chain.verified_seq) {
                (Some(p), _) => format!("The chain does not verify: {p}"),
                (None, Some(seq)) => format!(
                    "Chain verified up to the checkpoint at record {seq}{}; stored records are AEAD-sealed, so a changed byte fails to open.",
                    chain
                        .verified_checkpoint_time
                        .map(|t| format!(" ({})", crate::fhir::rfc3339(t)))
                        .unwrap_or_default()
                ),
                (None, None) => {
                    "No checkpoint verified yet (the server verifies every few seconds; or use Verify chain).".into()
                }
            },
        },
        Item {
            safeguard: "Person or entity authentication",
            citation: "§ 164.312(d)",
            check: "Second factor enforced for staff".into(),
            status: if staff_without == 0 { Status::Met } else { Status::Attention },
            evidence: format!(
                "Policy forbids staff any action without a second factor; {} of {} staff accounts have enrolled TOTP{}. Passwords: Argon2id.",
                staff.len() - staff_without,
                staff.len(),
                if staff_without > 0 { " (the rest cannot reach data until they enrol)" } else { "" }
            ),
        },
        Item {
            safeguard: "Transmission security",
            citation: "§ 164.312(e)(1)",
            check: "TLS on every connection".into(),
            status: if https { Status::Met } else { Status::NotMet },
            evidence: if https {
                "HTTPS only, TLS 1.2 and 1.3; HSTS on the web pages.".into()
            } else {
                "This server is running over plain HTTP (--insecure-http).".into()
            },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_web_route_has_an_audit_action_or_is_a_static_file() {
        for (method, route) in ROUTES {
            assert!(
                action_for(method, route).is_some() || UNAUDITED.contains(&route),
                "{method} {route} has no audit action"
            );
        }
    }

    #[test]
    fn the_session_cookie_is_read_on_console_routes_only() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; __Host-haven_session=hvn_x; c=d"));
        assert_eq!(session_token("/console/audit", &h), Some("hvn_x"));
        assert_eq!(session_token("/console", &h), Some("hvn_x"));
        assert_eq!(session_token("/v1/admin/keys", &h), None);
        assert_eq!(session_token("/consoleX", &h), None);
    }

    #[test]
    fn csrf_tokens_are_per_session() {
        assert_ne!(csrf_for("a"), csrf_for("b"));
        assert_eq!(csrf_for("a").len(), 32);
    }
}
