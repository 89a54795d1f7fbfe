//! Sign-in, second factor, token refresh and client credentials, sign-out,
//! and the `Authenticated` extractor. Authentication itself runs for every
//! non-public route in [`require_authentication`], before any handler.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haven_core::{Principal, Secret, SessionStage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{self, AuthError, LoginOutcome, TokenPair};
use crate::audit::AuditTrail;
use crate::{ApiError, AppState};

/// Routes anyone may call without a token.
pub const PUBLIC_ROUTES: [&str; 9] = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/auth/login",
    "/auth/token",
    "/fhir/metadata",
    // Visitors' conversations: refused (404) unless `agent.allow_anonymous`;
    // each message needs its conversation's secret, and reaches no record.
    "/v1/visitor/conversations",
    "/v1/visitor/conversations/{id}/messages",
    "/v1/visitor/feedback",
];

/// Routes a partly signed-in session (`MfaPending`, `Enrolment`) may call.
const PARTIAL_ROUTES: [&str; 4] = ["/auth/mfa/verify", "/auth/mfa/enroll", "/auth/mfa/activate", "/auth/logout"];

/// The authenticated caller of a request (set by [`require_authentication`]).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parts.extensions.get::<Principal>().cloned().map(Authenticated).ok_or(ApiError::Unauthorized)
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
    Some(value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim())
}

/// Authenticates every request to a non-public route: no valid token, no
/// handler. Partly signed-in sessions reach only the second-factor routes.
pub async fn require_authentication(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    if PUBLIC_ROUTES.contains(&route.as_str()) || super::web::PUBLIC.contains(&route.as_str()) {
        return next.run(req).await;
    }
    let trail = req.extensions().get::<AuditTrail>().cloned().unwrap_or_default();
    // The console's pages carry the same session token in a cookie.
    let Some(token) = bearer(&req).or_else(|| super::web::session_token(&route, req.headers())) else {
        trail.detail("no bearer token");
        return super::web::console_refusal(&route).unwrap_or_else(|| ApiError::Unauthorized.into_response());
    };
    let principal = match accounts::authenticate_cached(state.store(), state.sessions(), token).await {
        Ok(p) => p,
        Err(AuthError::InvalidToken) => {
            trail.detail("invalid or expired token");
            return super::web::console_refusal(&route).unwrap_or_else(|| ApiError::Unauthorized.into_response());
        }
        Err(AuthError::Store(e)) => return ApiError::from(e).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "authentication failure");
            return ApiError::Internal.into_response();
        }
    };
    trail.principal(&principal);
    if principal.stage != SessionStage::Full
        && !PARTIAL_ROUTES.contains(&route.as_str())
        && !super::web::PARTIAL.contains(&route.as_str())
    {
        trail.denied();
        trail.detail("sign-in not complete (second factor due)");
        return super::web::console_refusal(&route).unwrap_or_else(|| ApiError::Forbidden.into_response());
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The peer address, when the listener recorded it (for per-address back-off).
pub struct ClientIp(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// A username and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: Secret<String>,
}

/// The result of a sign-in step: tokens, or what is still due.
#[derive(Serialize, ToSchema, Default)]
pub struct TokenResponse {
    /// The bearer token (when signed in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the returned token expires.
    pub expires_in: i64,
    /// Refresh token for `POST /auth/token` with `grant_type=refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The account's role.
    pub role: String,
    /// A one-time code is due: send it to `/auth/mfa/verify` with this token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// A second factor must be enrolled first (`/auth/mfa/enroll` with this token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolment_token: Option<String>,
    /// Granted scopes (service clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn remaining(expires_at: i64) -> i64 {
    (expires_at - time::OffsetDateTime::now_utc().unix_timestamp()).max(0)
}

fn pair_response(pair: TokenPair, role: String) -> TokenResponse {
    TokenResponse {
        expires_in: remaining(pair.access.expires_at),
        access_token: Some(pair.access.token.expose().clone()),
        refresh_token: Some(pair.refresh.token.expose().clone()),
        token_type: "Bearer",
        role,
        ..TokenResponse::default()
    }
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::InvalidCredentials | AuthError::InvalidToken => ApiError::Unauthorized,
        AuthError::InvalidCode => ApiError::BadRequest(e.to_string()),
        AuthError::Invalid(m) => ApiError::BadRequest(m),
        AuthError::Store(e) => e.into(),
        other => {
            tracing::error!(error = %other, "authentication failure");
            ApiError::Internal
        }
    }
}

/// Signs in with a username and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "signed in, or a second factor is due", body = TokenResponse),
    (status = 401, description = "invalid username or password")
))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    trail: AuditTrail,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let sec = &state.config().security;
    let (account, outcome) =
        accounts::login(state.store(), state.limiter(), ip, &req.username, &req.password, sec, &trail)
            .await
            .map_err(auth_error)?;
    trail.detail(match &outcome {
        LoginOutcome::Tokens(_) => "signed in",
        LoginOutcome::MfaRequired(_) => "password accepted; second factor due",
        LoginOutcome::EnrolmentRequired(_) => "password accepted; second-factor enrolment due",
    });
    tracing::info!(account = %account.id, role = %account.role, "sign-in: password accepted");
    let role = account.role.to_string();
    Ok(Json(match outcome {
        LoginOutcome::Tokens(pair) => pair_response(pair, role),
        LoginOutcome::MfaRequired(t) => TokenResponse {
            mfa_token: Some(t.token.expose().clone()),
            expires_in: remaining(t.expires_at),
            token_type: "Bearer",
            role,
            ..TokenResponse::default()
        },
        LoginOutcome::EnrolmentRequired(t) => TokenResponse {
            enrolment_token: Some(t.token.expose().clone()),
            expires_in: remaining(t.expires_at),
            token_type: "Bearer",
            role,
            ..TokenResponse::default()
        },
    }))
}

/// A one-time code (TOTP, or a recovery code).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The code.
    #[schema(value_type = String)]
    pub code: Secret<String>,
}

/// Completes sign-in with a one-time code (TOTP or recovery code).
#[utoipa::path(post, path = "/auth/mfa/verify", tag = "auth", request_body = CodeRequest, security(("bearer" = [])), responses(
    (status = 200, description = "signed in", body = TokenResponse),
    (status = 400, description = "invalid or reused code")
))]
pub async fn mfa_verify(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    trail: AuditTrail,
    body: Result<Json<CodeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let sec = &state.config().security;
    let pair = accounts::verify_mfa(state.store(), &p, req.code.expose(), sec).await.map_err(|e| {
        tracing::info!(account = %p.account, "second factor rejected");
        auth_error(e)
    })?;
    trail.detail("second factor accepted; signed in");
    state.sessions().evict(&p.session);
    Ok(Json(pair_response(pair, p.role.to_string())))
}

/// A new TOTP secret to add to an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct EnrolResponse {
    /// `otpauth://totp/...` (contains the secret).
    pub otpauth_uri: String,
    /// The same URI as an SVG QR code.
    pub qr_svg: String,
}

/// Starts TOTP enrolment; activate it with one code.
#[utoipa::path(post, path = "/auth/mfa/enroll", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, description = "a new secret", body = EnrolResponse)
))]
pub async fn mfa_enroll(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<EnrolResponse>, ApiError> {
    let e = accounts::enrol_mfa(state.store(), &p).await.map_err(auth_error)?;
    Ok(Json(EnrolResponse { otpauth_uri: e.uri.expose().clone(), qr_svg: e.qr_svg.expose().clone() }))
}

/// Recovery codes, shown once, with the tokens of the completed sign-in.
#[derive(Serialize, ToSchema)]
pub struct ActivateResponse {
    /// Tokens.
    #[serde(flatten)]
    pub tokens: TokenResponse,
    /// Ten single-use recovery codes.
    pub recovery_codes: Vec<String>,
}

/// Activates the enrolled TOTP secret with one valid code.
#[utoipa::path(post, path = "/auth/mfa/activate", tag = "auth", request_body = CodeRequest, security(("bearer" = [])), responses(
    (status = 200, description = "activated; signed in", body = ActivateResponse),
    (status = 400, description = "invalid code")
))]
pub async fn mfa_activate(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    body: Result<Json<CodeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ActivateResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let sec = &state.config().security;
    let (pair, codes) = accounts::activate_mfa(state.store(), &p, req.code.expose(), sec).await.map_err(auth_error)?;
    state.sessions().evict(&p.session);
    tracing::info!(account = %p.account, "second factor activated");
    Ok(Json(ActivateResponse {
        tokens: pair_response(pair, p.role.to_string()),
        recovery_codes: codes.iter().map(|c| c.expose().clone()).collect(),
    }))
}

/// OAuth 2.0 token request (form-encoded).
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `refresh_token`, `client_credentials`, or
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (a client acting for a user).
    pub grant_type: String,
    /// For `refresh_token`.
    #[schema(value_type = Option<String>)]
    pub refresh_token: Option<Secret<String>>,
    /// For `client_credentials`.
    pub client_id: Option<String>,
    /// For `client_credentials`.
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<Secret<String>>,
    /// Requested scopes (narrow the client's grant).
    pub scope: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` for `private_key_jwt`.
    pub client_assertion_type: Option<String>,
    /// The signed JWT (RFC 7523), instead of a client secret.
    pub client_assertion: Option<String>,
    /// For token exchange: the signed-in user's access token.
    #[schema(value_type = Option<String>)]
    pub subject_token: Option<Secret<String>>,
    /// For token exchange: `urn:ietf:params:oauth:token-type:access_token`.
    pub subject_token_type: Option<String>,
}

/// The grant type of OAuth 2.0 token exchange (RFC 8693).
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type of an access token (RFC 8693).
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The client-assertion type of RFC 7523.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// OAuth error body (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, Json(serde_json::json!({"error": code}))).into_response()
}

/// Issues tokens: refresh (rotating) or client credentials for service clients.
#[utoipa::path(post, path = "/auth/token", tag = "auth", request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 200, description = "tokens", body = TokenResponse),
    (status = 400, description = "invalid request or grant"),
    (status = 401, description = "invalid client")
))]
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    trail: AuditTrail,
    headers: http::HeaderMap,
    body: Result<axum::Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(req)) = body else { return oauth_error(StatusCode::BAD_REQUEST, "invalid_request") };
    let sec = &state.config().security;
    let exchange = match req.grant_type.as_str() {
        "refresh_token" => {
            trail.action("token.refresh");
            let Some(rt) = req.refresh_token else { return oauth_error(StatusCode::BAD_REQUEST, "invalid_request") };
            return match accounts::refresh(state.store(), rt.expose(), sec).await {
                Ok((account, pair)) => {
                    trail.actor(crate::audit::account_actor(&account));
                    Json(pair_response(pair, account.role.to_string())).into_response()
                }
                Err(AuthError::InvalidToken) => {
                    trail.detail("invalid or expired refresh token");
                    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
                }
                Err(e) => auth_error(e).into_response(),
            };
        }
        "client_credentials" => {
            trail.action("token.client_credentials");
            false
        }
        TOKEN_EXCHANGE => {
            trail.action("token.exchange");
            true
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    if let Some(id) = &req.client_id {
        // Client ids are chosen by operators: names, not PHI.
        let name = haven_audit::truncate(id.clone(), 64);
        trail.actor(haven_audit::Actor { id: "anonymous".into(), name: Some(name), ..Default::default() });
    }
    let client = match (req.client_id, req.client_secret, req.client_assertion_type, req.client_assertion) {
        (Some(id), Some(secret), None, None) => {
            accounts::client_secret(state.store(), state.limiter(), ip, &id, &secret, sec).await
        }
        (_, None, Some(kind), Some(jwt)) if kind == JWT_BEARER => {
            // The assertion's audience must be this endpoint, as the client reached it.
            let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
            let audience = format!("{}://{host}/auth/token", state.scheme());
            accounts::client_assertion(state.store(), state.limiter(), ip, &jwt, &audience, sec).await
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    };
    let client = match client {
        Ok(c) => c,
        Err(AuthError::InvalidCredentials) => {
            trail.detail("client authentication failed");
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        Err(e) => return auth_error(e).into_response(),
    };
    let account = client.account();
    let mut actor = crate::audit::account_actor(&account);
    actor.name = Some(account.username.clone());
    trail.actor(actor.clone());
    let scope = req.scope.as_deref();
    let issued = if exchange {
        let (Some(subject), Some(ACCESS_TOKEN_TYPE)) = (&req.subject_token, req.subject_token_type.as_deref()) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        };
        match accounts::exchange(state.store(), &client, subject.expose(), scope, sec).await {
            Ok((user, t)) => {
                actor.on_behalf_of = Some(format!("account:{}", user.account));
                trail.actor(actor);
                for_user(&user, &trail);
                Ok(t)
            }
            Err(e) => Err(e),
        }
    } else {
        accounts::client_token(state.store(), &client, scope, sec).await
    };
    match issued {
        Ok(t) => {
            tracing::info!(account = %account.id, exchange, "client token issued");
            Json(TokenResponse {
                access_token: Some(t.token.token.expose().clone()),
                token_type: "Bearer",
                expires_in: remaining(t.token.expires_at),
                role: account.role.to_string(),
                scope: Some(t.scopes),
                ..TokenResponse::default()
            })
            .into_response()
        }
        Err(AuthError::InvalidToken) => {
            trail.detail("invalid subject token");
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
        }
        Err(e) => auth_error(e).into_response(),
    }
}

/// Notes, for the audit record, the user a client now acts for.
fn for_user(user: &haven_core::OnBehalfOf, trail: &AuditTrail) {
    if let Some(p) = &user.patient {
        trail.patient(p.as_str());
    }
    trail.detail(format!("acting for a {} account", user.role));
}

/// Signs out: revokes the token used for this request, its refresh token and
/// every token exchanged for them.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "signed out"),
    (status = 401, description = "no valid token")
))]
pub async fn logout(State(state): State<AppState>, Authenticated(p): Authenticated) -> Result<StatusCode, ApiError> {
    state.sessions().evict(&p.session);
    let revoked = accounts::sign_out(state.store(), &p.session).await.map_err(auth_error)?;
    // Again after the write: a request racing the logout may have re-cached them.
    for id in &revoked {
        state.sessions().evict(id);
    }
    Ok(StatusCode::NO_CONTENT)
}
