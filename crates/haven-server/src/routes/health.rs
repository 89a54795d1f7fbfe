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

/// Readiness: the store answers and keys are reachable.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "the store or the key provider is unavailable")
))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store();
    let db = store.backend().ping().await;
    let keys = store.key_provider().check().await;
    let ok = db.is_ok() && keys.is_ok();
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
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_json() -> impl IntoResponse {
    Json(crate::api_doc())
}
