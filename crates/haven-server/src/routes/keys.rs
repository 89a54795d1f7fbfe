//! Key status for administrators: the active KEK version and how many
//! stored versions each KEK wraps.

use axum::Json;
use axum::extract::State;
use serde_json::json;

use axum::Extension;
use haven_policy::Action;

use super::Authenticated;
use crate::authz::DecisionFlag;
use crate::{ApiError, AppState};

/// Active KEK version and per-version usage.
#[utoipa::path(get, path = "/v1/admin/keys", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "key status"),
    (status = 401, description = "no valid token"),
    (status = 403, description = "not an administrator")
))]
pub async fn key_status(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.store();
    state.authz().require(store, &flag, &p, Action::ManageKeys, "HavenKeys", None).await?;
    let active = store.key_provider().active_version().await.map_err(|e| {
        tracing::error!(error = %e, "key provider");
        ApiError::Unavailable
    })?;
    let usage = store.kek_usage().await?;
    Ok(Json(json!({
        "provider": store.key_provider().name(),
        "active_version": active.get(),
        "wrapped_keys_by_version": usage,
    })))
}
