//! Sign-in, sign-out and the `Authenticated` extractor every protected
//! route takes: no extractor, no access.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use haven_core::{Principal, Secret};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{self, AuthError};
use crate::{ApiError, AppState};

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(http::header::AUTHORIZATION).ok_or(ApiError::Unauthorized)?;
        let value = header.to_str().map_err(|_| ApiError::Unauthorized)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthorized)?
            .trim();
        match accounts::authenticate_cached(state.store(), state.sessions(), token).await {
            Ok(p) => Ok(Authenticated(p)),
            Err(AuthError::InvalidToken) => Err(ApiError::Unauthorized),
            Err(AuthError::Store(e)) => Err(e.into()),
            Err(e) => {
                tracing::error!(error = %e, "authentication failure");
                Err(ApiError::Internal)
            }
        }
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

/// An issued access token.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The account's role.
    pub role: String,
}

/// Signs in with a username and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, description = "signed in", body = TokenResponse),
    (status = 401, description = "invalid username or password")
))]
pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let sec = &state.config().security;
    match accounts::login(state.store(), &req.username, &req.password, sec.password, sec.token_ttl_secs).await {
        Ok((account, token)) => {
            tracing::info!(account = %account.id, role = %account.role, "sign-in");
            Ok(Json(TokenResponse {
                access_token: token.token.expose().clone(),
                token_type: "Bearer",
                expires_in: sec.token_ttl_secs,
                role: account.role.to_string(),
            }))
        }
        Err(AuthError::InvalidCredentials) => {
            tracing::info!("failed sign-in");
            Err(ApiError::Unauthorized)
        }
        Err(AuthError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!(error = %e, "sign-in failure");
            Err(ApiError::Internal)
        }
    }
}

/// Revokes the token used for this request.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "signed out"),
    (status = 401, description = "no valid token")
))]
pub async fn logout(State(state): State<AppState>, Authenticated(p): Authenticated) -> Result<StatusCode, ApiError> {
    state.sessions().evict(&p.session);
    accounts::revoke(state.store(), &p.session).await.map_err(|e| match e {
        AuthError::Store(e) => ApiError::from(e),
        _ => ApiError::Internal,
    })?;
    // Again after the write: a request racing the logout may have re-cached it.
    state.sessions().evict(&p.session);
    Ok(StatusCode::NO_CONTENT)
}
