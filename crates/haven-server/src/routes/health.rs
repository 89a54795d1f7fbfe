//! Liveness, readiness and the OpenAPI document: the public routes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive")))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store, the keys and the audit log answer; also reports
/// the last audit checkpoint the server verified.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "the store or the key provider is unavailable")
))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store();
    let db = store.backend().ping().await;
    let keys = store.key_provider().check().await;
    let audit = state.audit().store().head().await;
    let ok = db.is_ok() && keys.is_ok() && audit.is_ok();
    if let Err(e) = &audit {
        tracing::warn!(error = %e, "readiness: audit log unavailable");
    }
    let verified = state.audit_status();
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: store unavailable");
    }
    if let Err(e) = &keys {
        tracing::warn!(error = %e, "readiness: keys unavailable");
    }
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "store": {"backend": store.backend_name(), "ok": db.is_ok()},
        "keys": {"provider": store.key_provider().name(), "ok": keys.is_ok()},
        "audit": {
            "ok": audit.is_ok(),
            "chain_ok": verified.problem.is_none(),
            "last_verified_checkpoint": verified.verified_seq,
            "checked_at": verified.checked_at,
        },
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_json() -> impl IntoResponse {
    Json(crate::api_doc())
}
