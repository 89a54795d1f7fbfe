//! Break-the-glass: emergency access to one patient, with a mandatory
//! reason, time-boxed, and loudly recorded.

use axum::extract::State;
use axum::{Extension, Json};
use haven_core::ResourceId;
use haven_policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Authenticated;
use crate::audit::AuditTrail;
use crate::authz::DecisionFlag;
use crate::{ApiError, AppState};

/// An emergency access request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    /// The Patient id.
    pub patient: String,
    /// Why (mandatory; at least 10 characters). Recorded, never logged.
    pub reason: String,
}

/// The grant.
#[derive(Serialize, ToSchema)]
pub struct BreakGlassGrant {
    /// The Patient id.
    pub patient: String,
    /// Unix seconds when the grant ends.
    pub expires_at: i64,
}

/// Requests emergency access to one patient's record.
#[utoipa::path(post, path = "/v1/break-glass", tag = "access", request_body = BreakGlassRequest, security(("bearer" = [])), responses(
    (status = 200, description = "granted, time-boxed", body = BreakGlassGrant),
    (status = 400, description = "missing reason or bad patient id"),
    (status = 403, description = "the role may not break the glass")
))]
pub async fn break_glass(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    body: Result<Json<BreakGlassRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<BreakGlassGrant>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let patient = ResourceId::parse(&req.patient).map_err(|e| ApiError::BadRequest(format!("patient: {e}")))?;
    if req.reason.trim().chars().count() < 10 {
        return Err(ApiError::BadRequest("a reason of at least 10 characters is required".into()));
    }
    let store = state.store();
    // The reason is part of the record whether or not the grant is made.
    trail.purpose("ETREAT");
    trail.detail(req.reason.trim());
    trail.resource(format!("Patient/{patient}"));
    state.authz().require(store, &flag, &p, Action::BreakGlass, "Patient", Some(patient.as_str())).await?;
    let until = state.authz().break_glass(store, &p.account, patient.as_str(), req.reason.trim()).await?;
    // A security event: threat detection (and the audit log) pick this up.
    tracing::warn!(account = %p.account, patient = %patient, until, security_event = "break-glass", "break-the-glass access granted");
    Ok(Json(BreakGlassGrant { patient: patient.as_str().to_owned(), expires_at: until }))
}
