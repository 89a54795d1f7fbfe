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
    /// A current TOTP or recovery code, needed when the session's second
    /// factor is older than `security.break_glass_fresh_mfa_secs`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub code: Option<haven_core::Secret<String>>,
}

/// The grant.
#[derive(Serialize, ToSchema)]
pub struct BreakGlassGrant {
    /// The Patient id.
    pub patient: String,
    /// Unix seconds when the grant ends.
    pub expires_at: i64,
}

/// An explicit care assignment: a practitioner joins a patient's care (a
/// referral, a handover, a shift) without a CareTeam, Encounter or Appointment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    /// The Practitioner id assigned.
    pub practitioner: String,
    /// The Patient id.
    pub patient: String,
    /// Why (mandatory; at least 10 characters). Recorded, never logged.
    pub reason: String,
    /// How many days it lasts (1 to 365; default 30).
    #[serde(default)]
    pub days: Option<u32>,
}

/// The assignment made.
#[derive(Serialize, ToSchema)]
pub struct Assignment {
    /// Its id.
    pub id: String,
    /// Unix seconds when it ends.
    pub expires_at: i64,
}

/// Assigns a practitioner to a patient's care. The caller must be allowed to
/// create a CareTeam for that patient: a clinician or nurse who is in the
/// patient's care themselves, or a service client with that scope.
#[utoipa::path(post, path = "/v1/assignments", tag = "access", request_body = AssignmentRequest, security(("bearer" = [])), responses(
    (status = 201, description = "assigned, until expires_at", body = Assignment),
    (status = 400, description = "missing reason, bad ids or days"),
    (status = 403, description = "the caller may not assign care for this patient")
))]
pub async fn assign(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    body: Result<Json<AssignmentRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<Assignment>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let patient = ResourceId::parse(&req.patient).map_err(|e| ApiError::BadRequest(format!("patient: {e}")))?;
    let practitioner =
        ResourceId::parse(&req.practitioner).map_err(|e| ApiError::BadRequest(format!("practitioner: {e}")))?;
    let reason = req.reason.trim();
    if reason.chars().count() < 10 {
        return Err(ApiError::BadRequest("a reason of at least 10 characters is required".into()));
    }
    let days = req.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::BadRequest("days must be between 1 and 365".into()));
    }
    trail.detail(format!("assigned Practitioner/{practitioner} for {days} days: {reason}"));
    trail.resource(format!("Practitioner/{practitioner}"));
    let store = state.store();
    state.authz().require(store, &flag, &p, Action::Create, "CareTeam", Some(patient.as_str())).await?;
    let until = time::OffsetDateTime::now_utc().unix_timestamp() + i64::from(days) * 86_400;
    let by = crate::audit::actor_of(&p).id;
    let id = state.authz().assign(store, &practitioner, &patient, until, reason, &by).await?;
    trail.resource(format!("{}/{id}", crate::authz::ASSIGNMENT_TYPE));
    tracing::info!(by = %p.account, assignment = %id, "care assignment made");
    Ok((axum::http::StatusCode::CREATED, Json(Assignment { id: id.as_str().to_owned(), expires_at: until })))
}

/// Requests emergency access to one patient's record.
#[utoipa::path(post, path = "/v1/break-glass", tag = "access", request_body = BreakGlassRequest, security(("bearer" = [])), responses(
    (status = 200, description = "granted, time-boxed", body = BreakGlassGrant),
    (status = 400, description = "missing reason or bad patient id"),
    (status = 401, description = "a fresh second factor is due: send `code`"),
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
    // Emergency access asks for the second factor again unless it is fresh.
    let sec = &state.config().security;
    let fresh_after = time::OffsetDateTime::now_utc().unix_timestamp()
        - i64::try_from(sec.break_glass_fresh_mfa_secs).unwrap_or(i64::MAX);
    match &req.code {
        Some(code) => {
            if crate::accounts::confirm_second_factor(store, &p, code.expose(), sec).await.is_err() {
                trail.denied();
                trail.detail("break-the-glass: second factor rejected");
                return Err(ApiError::StepUp("the code was not accepted".into()));
            }
        }
        None if sec.break_glass_fresh_mfa_secs > 0 && p.mfa_at.is_some_and(|t| t >= fresh_after) => {}
        None => {
            trail.denied();
            trail.detail("break-the-glass: a fresh second factor is due");
            return Err(ApiError::StepUp(
                "break-the-glass needs a recent second factor: send `code` (a current TOTP or recovery code)".into(),
            ));
        }
    }
    let until = state.authz().break_glass(store, &p.account, patient.as_str(), req.reason.trim()).await?;
    // A security event: counted, logged, and in the audit log as
    // `access.break_glass` with the reason, where threat detection reads it.
    metrics::counter!("haven_security_events_total", "kind" => "break_glass").increment(1);
    tracing::warn!(account = %p.account, patient = %patient, until, security_event = "break-glass", "break-the-glass access granted");
    Ok(Json(BreakGlassGrant { patient: patient.as_str().to_owned(), expires_at: until }))
}
