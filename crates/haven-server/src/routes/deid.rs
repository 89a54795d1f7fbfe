//! `POST /v1/deid` and `POST /v1/reidentify`: de-identification of text for
//! authorized callers, and the way back from reversible tokens. Each call
//! is audited with counts per type, never the values.

use axum::extract::State;
use axum::{Extension, Json};
use haven_core::ResourceId;
use haven_policy::Action;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use super::Authenticated;
use crate::audit::AuditTrail;
use crate::authz::DecisionFlag;
use crate::deid::{DeidFailure, POLICIES};
use crate::{ApiError, AppState};

/// Text to de-identify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeidRequest {
    /// The text.
    pub text: String,
    /// `safe-harbor` (the default), `limited-data-set` (dates and towns
    /// kept) or `llm-round-trip` (reversible tokens).
    #[serde(default)]
    pub policy: Option<String>,
    /// The patient the text is about: date shifts and surrogates follow it.
    #[serde(default)]
    pub patient: Option<String>,
}

/// The de-identified text and what was found.
#[derive(Serialize, ToSchema)]
pub struct DeidResponse {
    /// The de-identified text.
    pub text: String,
    /// The policy applied.
    pub policy: String,
    /// Identifiers found, per type.
    pub counts: BTreeMap<String, usize>,
    /// Identifiers changed, per operator.
    pub operators: BTreeMap<String, usize>,
}

/// Text with tokens to restore.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReidRequest {
    /// Text holding tokens made by the `llm-round-trip` policy (`[[NAME_…]]`).
    pub text: String,
}

/// The text with the tokens the vault knows restored.
#[derive(Serialize, ToSchema)]
pub struct ReidResponse {
    /// The restored text.
    pub text: String,
    /// How many tokens were restored.
    pub restored: usize,
}

fn failure(e: DeidFailure) -> ApiError {
    match e {
        DeidFailure::UnknownPolicy => ApiError::BadRequest(format!("policy: one of {}", POLICIES.join(", "))),
        DeidFailure::Engine => ApiError::BadRequest("the text could not be de-identified".into()),
        DeidFailure::Store(e) => e.into(),
    }
}

/// De-identifies text with a shipped policy.
#[utoipa::path(post, path = "/v1/deid", tag = "deid", request_body = DeidRequest, security(("bearer" = [])), responses(
    (status = 200, description = "the de-identified text with counts per type", body = DeidResponse),
    (status = 400, description = "unknown policy or malformed body"),
    (status = 403, description = "the role may not de-identify")
))]
pub async fn deidentify(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    body: Result<Json<DeidRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<DeidResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    state.authz().require(state.store(), &flag, &p, Action::Deidentify, "Deid", None).await?;
    let policy = req.policy.unwrap_or_else(|| "safe-harbor".into());
    let patient = match &req.patient {
        Some(id) => Some(ResourceId::parse(id).map_err(|_| ApiError::BadRequest("patient: not a valid id".into()))?),
        None => None,
    };
    if let Some(pid) = &patient {
        trail.patient(pid.as_str());
    }
    let out = state
        .deid()
        .apply(state.store(), &policy, &req.text, patient.as_ref().map(|p| p.as_str()))
        .await
        .map_err(failure)?;
    let counts: BTreeMap<String, usize> = out.report.counts.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect();
    let operators: BTreeMap<String, usize> = out.report.operators.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    // Counts and types only: the audit record never holds what was found.
    let listed: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    trail.detail(format!(
        "policy {policy}; {} identifiers{}",
        out.report.total(),
        if listed.is_empty() { String::new() } else { format!(": {}", listed.join(", ")) }
    ));
    metrics::counter!("haven_deid_identifiers_total").increment(out.report.total() as u64);
    Ok(Json(DeidResponse { text: out.text, policy, counts, operators }))
}

/// Restores the tokens of the `llm-round-trip` policy (clinical roles only).
#[utoipa::path(post, path = "/v1/reidentify", tag = "deid", request_body = ReidRequest, security(("bearer" = [])), responses(
    (status = 200, description = "the restored text", body = ReidResponse),
    (status = 403, description = "the role may not re-identify")
))]
pub async fn reidentify(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    body: Result<Json<ReidRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ReidResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    state.authz().require(state.store(), &flag, &p, Action::Reidentify, "Deid", None).await?;
    let vault = crate::deid::load_tokens(state.store(), &req.text).await.map_err(failure)?;
    let (text, restored) = haven_deid::reidentify(&req.text, &vault)
        .map_err(|_| ApiError::BadRequest("the text could not be re-identified".into()))?;
    trail.detail(format!("restored {restored} tokens"));
    Ok(Json(ReidResponse { text, restored }))
}
