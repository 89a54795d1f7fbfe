//! Account administration over HTTP: the equivalents of `haven user ...`
//! and `haven client add`. Every route needs the `ManageAccounts` decision.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use haven_core::{Principal, ResourceId, Role, Secret};
use haven_policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Authenticated;
use crate::accounts::{self, AuthError, NewAccount};
use crate::authz::DecisionFlag;
use crate::{ApiError, AppState};

/// An account as administrators see it (no secrets).
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    /// Id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: String,
    /// Linked Patient id.
    pub patient: Option<String>,
    /// Linked Practitioner id.
    pub practitioner: Option<String>,
    /// Whether TOTP is active.
    pub mfa: bool,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// Whether this is a service client.
    pub client: bool,
}

impl From<accounts::Account> for AccountView {
    fn from(a: accounts::Account) -> Self {
        AccountView {
            id: a.id.as_str().to_owned(),
            username: a.username,
            role: a.role.to_string(),
            patient: a.patient.map(|p| p.as_str().to_owned()),
            practitioner: a.practitioner.map(|p| p.as_str().to_owned()),
            mfa: a.mfa_active,
            disabled: a.disabled,
            client: a.is_client,
        }
    }
}

async fn require(state: &AppState, flag: &DecisionFlag, p: &Principal) -> Result<(), ApiError> {
    state.authz().require(state.store(), flag, p, Action::ManageAccounts, "HavenAccount", None).await.map(|_| ())
}

fn admin_error(e: AuthError) -> ApiError {
    match e {
        AuthError::NoSuchAccount => ApiError::NotFound,
        AuthError::UsernameTaken => ApiError::Conflict(e.to_string()),
        AuthError::BadUsername | AuthError::WeakPassword | AuthError::CommonPassword | AuthError::Invalid(_) => {
            ApiError::BadRequest(e.to_string())
        }
        AuthError::Store(e) => e.into(),
        other => {
            tracing::error!(error = %other, "account administration failure");
            ApiError::Internal
        }
    }
}

fn parse_id(s: &str) -> Result<ResourceId, ApiError> {
    ResourceId::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Lists accounts.
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "accounts", body = [AccountView]),
    (status = 403, description = "not allowed")
))]
pub async fn list_users(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    require(&state, &flag, &p).await?;
    let all = accounts::list_accounts(state.store()).await.map_err(admin_error)?;
    Ok(Json(all.into_iter().map(AccountView::from).collect()))
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Username.
    pub username: String,
    /// Role (not `agent`: service clients are added at /v1/admin/clients).
    pub role: String,
    /// Password (at least 12 characters, not a common one).
    #[schema(value_type = String, format = Password)]
    pub password: Secret<String>,
    /// Linked Patient id (role patient).
    pub patient: Option<String>,
    /// Linked Practitioner id (clinical staff).
    pub practitioner: Option<String>,
}

/// Creates an account.
#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", request_body = NewUser, security(("bearer" = [])), responses(
    (status = 201, description = "created", body = AccountView),
    (status = 400, description = "invalid account"),
    (status = 409, description = "username taken")
))]
pub async fn add_user(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    body: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    require(&state, &flag, &p).await?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let role: Role = req.role.parse().map_err(|e: haven_core::UnknownRole| ApiError::BadRequest(e.to_string()))?;
    if role == Role::Agent {
        return Err(ApiError::BadRequest("service clients are added at /v1/admin/clients".into()));
    }
    // An administrator who could link an account they hold the password of to
    // a Patient or Practitioner would read that chart: links are made by an
    // operator with local access to the data directory (`haven user add`).
    if req.patient.is_some() || req.practitioner.is_some() {
        return Err(ApiError::BadRequest(
            "accounts linked to a Patient or Practitioner are created with `haven user add` on the server".into(),
        ));
    }
    let new = NewAccount {
        username: &req.username,
        role,
        password: &req.password,
        patient: req.patient.as_deref().map(parse_id).transpose()?,
        practitioner: req.practitioner.as_deref().map(parse_id).transpose()?,
    };
    let a = accounts::create_linked(state.store(), new, state.config().security.password).await.map_err(admin_error)?;
    tracing::info!(by = %p.account, account = %a.id, role = %a.role, "account created");
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// What an administrative action did.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// Sessions revoked.
    pub revoked_sessions: u64,
}

macro_rules! account_action {
    ($name:ident, $path:literal, $doc:literal, $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "admin", params(("id" = String, Path, description = "account id")), security(("bearer" = [])), responses(
            (status = 200, description = "done", body = Revoked),
            (status = 404, description = "no such account")
        ))]
        pub async fn $name(
            State(state): State<AppState>,
            Authenticated(p): Authenticated,
            Extension(flag): Extension<DecisionFlag>,
            Path(id): Path<String>,
        ) -> Result<Json<Revoked>, ApiError> {
            require(&state, &flag, &p).await?;
            let id = parse_id(&id)?;
            let n = $call(state.store(), &id).await.map_err(admin_error)?;
            // Cached sessions of this account must stop working now.
            state.sessions().clear();
            tracing::info!(by = %p.account, account = %id, action = stringify!($name), "account changed");
            Ok(Json(Revoked { revoked_sessions: n }))
        }
    };
}

async fn disable(store: &haven_store::Store, id: &ResourceId) -> Result<u64, AuthError> {
    accounts::set_disabled(store, id, true).await
}

account_action!(disable_user, "/v1/admin/users/{id}/disable", "Disables an account and revokes its sessions.", disable);
account_action!(
    reset_mfa,
    "/v1/admin/users/{id}/reset-mfa",
    "Removes an account's second factor and revokes its sessions.",
    accounts::reset_mfa
);
account_action!(
    revoke_sessions,
    "/v1/admin/users/{id}/revoke-sessions",
    "Revokes every session of an account.",
    accounts::revoke_all_sessions
);

/// A new service client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Client id.
    pub name: String,
    /// SMART scopes it may be granted.
    pub scopes: String,
}

/// A created client and its secret (shown once).
#[derive(Serialize, ToSchema)]
pub struct ClientCreated {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

/// Registers a service client (OAuth 2.0 client credentials).
#[utoipa::path(post, path = "/v1/admin/clients", tag = "admin", request_body = NewClient, security(("bearer" = [])), responses(
    (status = 201, description = "created; the secret is shown once", body = ClientCreated),
    (status = 400, description = "invalid scopes or name")
))]
pub async fn add_client(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    body: Result<Json<NewClient>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<ClientCreated>), ApiError> {
    require(&state, &flag, &p).await?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    haven_policy::parse_scopes(&req.scopes).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (a, secret) = accounts::create_client(state.store(), &req.name, &req.scopes).await.map_err(admin_error)?;
    tracing::info!(by = %p.account, account = %a.id, "service client created");
    Ok((StatusCode::CREATED, Json(ClientCreated { client_id: a.username, client_secret: secret.expose().clone() })))
}
