//! Security operations: alerts, incidents and the state of live threat
//! detection, for auditors and administrators (Cedar: `read_alerts`,
//! `manage_alerts`). Every call is audited like any other.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use haven_detect::{AlertStatus, IncidentError, Resolution};
use haven_policy::Action;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::Authenticated;
use crate::audit::AuditTrail;
use crate::authz::DecisionFlag;
use crate::detect::{Change, ChangeError, DetectService};
use crate::{ApiError, AppState};

/// Most items one list returns.
const MAX_LIMIT: usize = 1000;

fn service(state: &AppState) -> Result<&DetectService, ApiError> {
    state.detect().map(|d| d.as_ref()).ok_or_else(|| {
        ApiError::Disabled(
            "threat detection is not running (detect.enabled is false, or this is not `haven serve`)".into(),
        )
    })
}

fn limit(n: Option<usize>) -> usize {
    n.unwrap_or(100).clamp(1, MAX_LIMIT)
}

/// Which alerts to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `open` (the default), `explained` or `all`.
    pub status: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Which incidents to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// `unresolved` (the default) or `all`.
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A change of an incident.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, tag = "action", rename_all = "snake_case")]
pub enum IncidentChange {
    /// Assign the incident to someone.
    Assign {
        /// Who works on it.
        assignee: String,
    },
    /// Start investigating a new incident.
    Investigate,
    /// Close it with a resolution and a reason.
    Resolve {
        /// `true_positive`, `benign` or `false_positive`.
        resolution: String,
        /// Why (required).
        reason: String,
    },
    /// Reopen a resolved incident.
    Reopen,
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Open or explained alerts, newest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "security", params(AlertQuery), security(("bearer" = [])), responses(
    (status = 200, description = "alerts, newest first"),
    (status = 403, description = "auditors and administrators only, or detection is off")
))]
pub async fn alerts(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    q: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    state.authz().require(state.store(), &flag, &p, Action::ReadAlerts, "HavenAlert", None).await?;
    let status = match q.status.as_deref().unwrap_or("open") {
        "open" => Some(AlertStatus::Open),
        "explained" => Some(AlertStatus::Explained),
        "all" => None,
        _ => return Err(ApiError::BadRequest("status: one of open, explained, all".into())),
    };
    let d = service(&state)?;
    Ok(Json(json!({ "alerts": d.alerts(status, limit(q.limit)) })))
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/v1/incidents", tag = "security", params(IncidentQuery), security(("bearer" = [])), responses(
    (status = 200, description = "incidents, newest first"),
    (status = 403, description = "auditors and administrators only, or detection is off")
))]
pub async fn incidents(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    q: Result<Query<IncidentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    state.authz().require(state.store(), &flag, &p, Action::ReadAlerts, "HavenIncident", None).await?;
    let unresolved = match q.state.as_deref().unwrap_or("unresolved") {
        "unresolved" => true,
        "all" => false,
        _ => return Err(ApiError::BadRequest("state: one of unresolved, all".into())),
    };
    let d = service(&state)?;
    Ok(Json(json!({ "incidents": d.incidents(unresolved, limit(q.limit)) })))
}

fn incident_id(id: &str) -> Result<u64, ApiError> {
    id.parse::<u64>().ok().filter(|n| *n > 0).ok_or(ApiError::NotFound)
}

/// One incident: its timeline of evidence (audit sequence numbers), history and summary.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "the incident"),
    (status = 404, description = "no such incident")
))]
pub async fn incident(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::ReadAlerts, "HavenIncident", None).await?;
    let id = incident_id(&id)?;
    let inc = service(&state)?.incident(id).ok_or(ApiError::NotFound)?;
    let evidence = inc.evidence();
    let mut v = serde_json::to_value(&inc).map_err(|_| ApiError::Internal)?;
    v["evidence"] = json!(evidence);
    Ok(Json(v))
}

/// Assigns, starts investigating, resolves (with a reason) or reopens an incident.
#[utoipa::path(post, path = "/v1/incidents/{id}", tag = "security", request_body = IncidentChange, security(("bearer" = [])), responses(
    (status = 200, description = "the incident as it now is"),
    (status = 400, description = "malformed change, or a resolution without a reason"),
    (status = 404, description = "no such incident"),
    (status = 409, description = "the change does not apply in the incident's state")
))]
pub async fn change_incident(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    Path(id): Path<String>,
    body: Result<Json<IncidentChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(change) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    state.authz().require(state.store(), &flag, &p, Action::ManageAlerts, "HavenIncident", None).await?;
    let id = incident_id(&id)?;
    let d = service(&state)?;
    let by = format!("account:{}", p.account);
    let (change, words) = match &change {
        IncidentChange::Assign { assignee } => {
            let who = assignee.trim();
            if who.is_empty() || who.len() > 200 {
                return Err(ApiError::BadRequest("assignee: 1 to 200 characters".into()));
            }
            (Change::Assign(who), "assign".to_string())
        }
        IncidentChange::Investigate => (Change::Investigate, "investigate".into()),
        IncidentChange::Resolve { resolution, reason } => {
            let r = Resolution::parse(resolution).ok_or_else(|| {
                ApiError::BadRequest("resolution: one of true_positive, benign, false_positive".into())
            })?;
            if reason.len() > 2000 {
                return Err(ApiError::BadRequest("reason: at most 2000 characters".into()));
            }
            (Change::Resolve(r, reason), format!("resolve as {resolution}"))
        }
        IncidentChange::Reopen => (Change::Reopen, "reopen".into()),
    };
    // The action, not the words: a reason may name people.
    trail.detail(format!("incident {id}: {words}"));
    match d.change(id, change, &by).await {
        Ok(inc) => Ok(Json(inc).into_response()),
        Err(ChangeError::Refused(IncidentError::NotFound(_))) => Err(ApiError::NotFound),
        Err(ChangeError::Refused(IncidentError::ReasonRequired)) => {
            Err(ApiError::BadRequest("reason: a resolution needs a reason".into()))
        }
        Err(ChangeError::Refused(e)) => Err(ApiError::Conflict(e.to_string())),
        Err(ChangeError::Store(e)) => Err(e.into()),
    }
}

/// Live detection: rules loaded, relationship index size, queue and lag.
#[utoipa::path(get, path = "/v1/detect/status", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "detection status"),
    (status = 403, description = "auditors and administrators only, or detection is off")
))]
pub async fn status(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
) -> Result<Json<Value>, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::ReadAlerts, "HavenAlert", None).await?;
    let s = service(&state)?.status();
    serde_json::to_value(s).map(Json).map_err(|_| ApiError::Internal)
}

/// Alerts and incidents as OCSF JSON Lines, for a SIEM to pull.
#[utoipa::path(get, path = "/v1/incidents/export", tag = "security", security(("bearer" = [])), responses(
    (status = 200, description = "OCSF detection findings, one per line", content_type = "application/x-ndjson"),
    (status = 403, description = "auditors and administrators only, or detection is off")
))]
pub async fn export(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
) -> Result<Response, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::ReadAlerts, "HavenIncident", None).await?;
    let d = service(&state)?;
    let alerts = d.alerts(None, usize::MAX);
    let incidents = d.incidents(false, usize::MAX);
    let mut out = Vec::new();
    haven_detect::export::write_jsonl(&mut out, alerts.iter(), incidents.iter()).map_err(|_| ApiError::Internal)?;
    Ok(([(http::header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}
