//! Reading the audit log: FHIR `AuditEvent` search (shaped after IHE Basic
//! Audit Log Patterns), the accounting of disclosures a patient can read,
//! and the log's verification status. Auditors see everything; a patient
//! sees the accesses to their own record.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use haven_audit::{AuditQuery, Outcome, Record};
use haven_core::{Principal, ResourceId, ResourceType, Role};
use haven_fhir::datetime::PartialDateTime;
use haven_policy::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::Authenticated;
use crate::authz::DecisionFlag;
use crate::fhir::rfc3339;
use crate::{ApiError, AppState};

/// The most records one search or report reads from the log.
const SCAN_LIMIT: usize = 10_000;

/// Whose audit records the caller asks for, decided by policy: auditors may
/// ask for anyone's (or everyone's), a patient only for their own.
async fn authorize(
    state: &AppState,
    flag: &DecisionFlag,
    p: &Principal,
    patient: Option<&str>,
) -> Result<Option<String>, ApiError> {
    // A patient who names no patient means themselves.
    let patient = match (patient, p.role, &p.patient) {
        (None, Role::Patient, Some(own)) => Some(own.as_str().to_owned()),
        (given, _, _) => given.map(str::to_owned),
    };
    if let Some(pid) = &patient {
        ResourceId::parse(pid).map_err(|e| ApiError::BadRequest(format!("patient: {e}")))?;
    }
    // `require` notes the patient and any denial in the audit trail; a
    // denied `read_audit` is a 403.
    state.authz().require(state.store(), flag, p, Action::ReadAudit, "AuditEvent", patient.as_deref()).await?;
    Ok(patient)
}

/// The FHIR AuditEvent `action` code of a Haven action.
fn action_code(action: &str) -> &'static str {
    match action {
        "fhir.create" => "C",
        "fhir.read" | "fhir.vread" | "fhir.history" | "fhir.everything" => "R",
        "fhir.update" => "U",
        "fhir.delete" => "D",
        _ => "E",
    }
}

/// The FHIR AuditEvent `outcome` code.
fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "0",
        Outcome::Denied | Outcome::Failed => "4",
        Outcome::Error => "8",
    }
}

/// The RESTful interaction of a FHIR action, for `subtype`.
fn interaction(action: &str) -> Option<&'static str> {
    Some(match action {
        "fhir.read" => "read",
        "fhir.vread" => "vread",
        "fhir.history" => "history-instance",
        "fhir.search" => "search-type",
        "fhir.create" => "create",
        "fhir.update" => "update",
        "fhir.delete" => "delete",
        "fhir.bundle" => "transaction",
        "fhir.everything" | "fhir.import" => "operation",
        _ => return None,
    })
}

/// One audit record as a FHIR AuditEvent (IHE BALP shape).
pub(crate) fn audit_event(r: &Record) -> Value {
    let e = &r.event;
    let patient_specific = !e.patients.is_empty();
    let profile = match (action_code(&e.action), e.action.as_str(), patient_specific) {
        (_, "fhir.search", true) => Some("IHE.BasicAudit.PatientQuery"),
        (_, "fhir.search", false) => Some("IHE.BasicAudit.Query"),
        ("C", _, true) => Some("IHE.BasicAudit.PatientCreate"),
        ("C", _, false) => Some("IHE.BasicAudit.Create"),
        ("R", _, true) => Some("IHE.BasicAudit.PatientRead"),
        ("R", _, false) => Some("IHE.BasicAudit.Read"),
        ("U", _, true) => Some("IHE.BasicAudit.PatientUpdate"),
        ("U", _, false) => Some("IHE.BasicAudit.Update"),
        ("D", _, true) => Some("IHE.BasicAudit.PatientDelete"),
        ("D", _, false) => Some("IHE.BasicAudit.Delete"),
        _ => None,
    };
    let (type_coding, subtype) = match interaction(&e.action) {
        Some(i) => (
            json!({"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"}),
            json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": i}]),
        ),
        None if e.action.starts_with("auth.") || e.action.starts_with("token.") => (
            json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114", "display": "User Authentication"}),
            json!([{"system": "urn:haven:audit-action", "code": e.action}]),
        ),
        None => (
            json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110113", "display": "Security Alert"}),
            json!([{"system": "urn:haven:audit-action", "code": e.action}]),
        ),
    };
    let who = match &e.actor.fhir {
        Some(reference) => {
            json!({"reference": reference, "identifier": {"system": "urn:haven:actor", "value": e.actor.id}})
        }
        None => json!({"identifier": {"system": "urn:haven:actor", "value": e.actor.id}}),
    };
    let mut agent = json!({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
        "who": who,
        "requestor": true,
    });
    if let Some(role) = &e.actor.role {
        agent["role"] = json!([{"coding": [{"system": "urn:haven:role", "code": role}]}]);
    }
    if let Some(ip) = &e.source_ip {
        agent["network"] = json!({"address": ip, "type": if ip.contains(':') { "5" } else { "2" }});
    }
    if let Some(name) = &e.actor.name {
        agent["name"] = json!(name);
    }
    let mut agents = vec![agent];
    if let Some(obo) = &e.actor.on_behalf_of {
        agents.push(json!({"who": {"identifier": {"system": "urn:haven:actor", "value": obo}}, "requestor": false}));
    }
    let mut entities = Vec::new();
    for p in &e.patients {
        entities.push(json!({
            "what": {"reference": format!("Patient/{p}")},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        }));
    }
    for res in &e.resources {
        let what = if res.contains('/') { json!({"reference": res}) } else { json!({"display": res}) };
        entities.push(json!({
            "what": what,
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
        }));
    }
    if let Some(rid) = &e.request_id {
        entities.push(json!({
            "what": {"identifier": {"value": rid}},
            "type": {"system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType", "code": "XrequestId"},
        }));
    }
    let mut v = json!({
        "resourceType": "AuditEvent",
        "id": r.seq.to_string(),
        "type": type_coding,
        "subtype": subtype,
        "action": action_code(&e.action),
        "recorded": rfc3339(e.time),
        "outcome": outcome_code(e.outcome),
        "agent": agents,
        "source": {
            "observer": {"display": "Haven"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    });
    if let Some(p) = profile {
        v["meta"] = json!({"profile": [format!("https://profiles.ihe.net/ITI/BALP/StructureDefinition/{p}")]});
    }
    if let Some(d) = &e.detail {
        v["outcomeDesc"] = json!(d);
    }
    if let Some(p) = &e.purpose {
        v["purposeOfEvent"] =
            json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": p}]}]);
    }
    v
}

/// A parsed `GET /fhir/AuditEvent` query.
struct EventQuery {
    store: AuditQuery,
    actions: Option<Vec<String>>,
    outcomes: Option<Vec<String>>,
    count: usize,
    offset: usize,
}

fn parse_event_query(pairs: &[(String, String)]) -> Result<EventQuery, ApiError> {
    let mut q = EventQuery {
        store: AuditQuery { limit: SCAN_LIMIT, newest_first: true, ..AuditQuery::default() },
        actions: None,
        outcomes: None,
        count: 50,
        offset: 0,
    };
    let bad = |m: String| ApiError::BadRequest(m);
    for (k, v) in pairs {
        match k.as_str() {
            "patient" | "entity" => {
                let id = v.strip_prefix("Patient/").unwrap_or(v);
                ResourceId::parse(id).map_err(|e| bad(format!("{k}: {e}")))?;
                q.store.patient = Some(id.to_owned());
            }
            "agent" => q.store.actor = Some(v.clone()),
            "action" => q.actions = Some(v.split(',').map(str::to_owned).collect()),
            "outcome" => q.outcomes = Some(v.split(',').map(str::to_owned).collect()),
            "date" => {
                let (prefix, value) = match v.get(..2) {
                    Some(p @ ("ge" | "gt" | "le" | "lt" | "eq")) => (p, &v[2..]),
                    _ => ("eq", v.as_str()),
                };
                let d = PartialDateTime::parse_search(value).map_err(|e| bad(format!("date: {e}")))?;
                let (start, end) = d.range();
                let (start, end) = (start.saturating_mul(1_000_000), end.saturating_mul(1_000_000));
                match prefix {
                    "ge" => q.store.since = Some(start),
                    "gt" => q.store.since = Some(end),
                    "le" => q.store.until = Some(end),
                    "lt" => q.store.until = Some(start),
                    _ => {
                        q.store.since = Some(start);
                        q.store.until = Some(end);
                    }
                }
            }
            "_count" => q.count = v.parse::<usize>().map_err(|_| bad("_count must be a number".into()))?.clamp(1, 1000),
            "_offset" => q.offset = v.parse().map_err(|_| bad("_offset must be a number".into()))?,
            "_format" => {}
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown search parameter {other:?} for AuditEvent (supported: patient, agent, date, action, outcome, _count)"
                )));
            }
        }
    }
    Ok(q)
}

async fn matching(state: &AppState, q: &EventQuery) -> Result<Vec<Record>, ApiError> {
    let stored = state.audit().store().search(&q.store).await.map_err(|e| {
        tracing::error!(error = %e, "audit search failed");
        ApiError::Unavailable
    })?;
    let mut out = Vec::with_capacity(stored.len());
    for s in stored {
        let r = Record::decode(&s.bytes).map_err(|e| {
            tracing::error!(seq = s.seq, error = %e, "unreadable audit record");
            ApiError::Internal
        })?;
        if q.actions.as_ref().is_some_and(|a| !a.iter().any(|c| c == action_code(&r.event.action))) {
            continue;
        }
        if q.outcomes.as_ref().is_some_and(|o| !o.iter().any(|c| c == outcome_code(r.event.outcome))) {
            continue;
        }
        out.push(r);
    }
    Ok(out)
}

/// `GET /fhir/AuditEvent`: a searchset Bundle, newest first.
pub(crate) async fn search_events(
    state: &AppState,
    flag: &DecisionFlag,
    p: &Principal,
    base: &str,
    pairs: &[(String, String)],
) -> Result<Value, ApiError> {
    if let Some(t) = flag.trail() {
        t.action("audit.search");
    }
    let mut q = parse_event_query(pairs)?;
    q.store.patient = authorize(state, flag, p, q.store.patient.as_deref()).await?;
    let all = matching(state, &q).await?;
    let entries: Vec<Value> = all
        .iter()
        .skip(q.offset)
        .take(q.count)
        .map(|r| json!({"fullUrl": format!("{base}/AuditEvent/{}", r.seq), "resource": audit_event(r), "search": {"mode": "match"}}))
        .collect();
    let mut links = Vec::new();
    if q.offset + q.count < all.len() {
        let mut next: Vec<(String, String)> =
            pairs.iter().filter(|(k, _)| k != "_offset" && k != "_count").cloned().collect();
        next.push(("_count".into(), q.count.to_string()));
        next.push(("_offset".into(), (q.offset + q.count).to_string()));
        let qs = form_urlencoded::Serializer::new(String::new()).extend_pairs(&next).finish();
        links.push(json!({"relation": "next", "url": format!("{base}/AuditEvent?{qs}")}));
    }
    Ok(json!({"resourceType": "Bundle", "type": "searchset", "total": all.len(), "link": links, "entry": entries}))
}

/// `GET /fhir/AuditEvent/{seq}`.
pub(crate) async fn read_event(
    state: &AppState,
    flag: &DecisionFlag,
    p: &Principal,
    id: &str,
) -> Result<Value, ApiError> {
    if let Some(t) = flag.trail() {
        t.action("audit.read");
    }
    let seq: u64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let q = AuditQuery {
        after_seq: Some(seq.saturating_sub(1)),
        before_seq: Some(seq.saturating_add(1)),
        limit: 1,
        ..AuditQuery::default()
    };
    let stored = state.audit().store().search(&q).await.map_err(|_| ApiError::Unavailable)?;
    let Some(s) = stored.into_iter().next() else {
        authorize(state, flag, p, None).await?;
        return Err(ApiError::NotFound);
    };
    let r = Record::decode(&s.bytes).map_err(|_| ApiError::Internal)?;
    // Readable by auditors, and by a patient when it is about them alone.
    let about = match r.event.patients.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    match authorize(state, flag, p, about).await {
        Ok(_) => Ok(audit_event(&r)),
        Err(_) => Err(ApiError::NotFound),
    }
}

/// One access to a patient's record, in words a patient can read.
#[derive(Serialize, ToSchema)]
pub struct Disclosure {
    /// When (RFC 3339).
    pub when: String,
    /// Who: the person's name or account, and their role.
    pub who: String,
    /// Their role.
    pub role: Option<String>,
    /// Why: the purpose of use, in words.
    pub why: String,
    /// What was done.
    pub what: String,
    /// The kinds of records involved.
    pub records: Vec<String>,
    /// The audit record (sequence number), for follow-up questions.
    pub audit_id: u64,
}

/// The accounting of disclosures of one patient's record.
#[derive(Serialize, ToSchema)]
pub struct Disclosures {
    /// The Patient id.
    pub patient: String,
    /// Accesses, newest first.
    pub disclosures: Vec<Disclosure>,
    /// True when older entries were left out (the report reads at most 10,000).
    pub truncated: bool,
}

/// The patient whose disclosures are asked for.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct DisclosureQuery {
    /// Patient id (patients may leave it out: their own record).
    pub patient: Option<String>,
}

fn purpose_words(code: Option<&str>) -> &'static str {
    match code {
        Some("TREAT") => "treatment",
        Some("ETREAT") => "emergency treatment (break-the-glass)",
        Some("HPAYMT") => "payment",
        Some("HOPERAT") => "health care operations",
        Some("HSYSADMIN") => "system administration",
        Some("PATRQT") => "your own request",
        _ => "not stated",
    }
}

fn action_words(action: &str) -> &'static str {
    match action {
        "fhir.read" | "fhir.vread" => "viewed a record",
        "fhir.history" => "viewed the history of a record",
        "fhir.search" => "searched records",
        "fhir.everything" => "viewed the whole record",
        "fhir.create" => "added a record",
        "fhir.update" => "changed a record",
        "fhir.delete" => "deleted a record",
        "fhir.bundle" => "added or changed several records",
        "fhir.import" => "imported records",
        "access.break_glass" => "opened emergency access to the record",
        _ => "accessed the record",
    }
}

/// Display names of actors, looked up once per report.
async fn who(state: &AppState, names: &mut HashMap<String, String>, r: &Record) -> String {
    let a = &r.event.actor;
    let key = a.fhir.clone().unwrap_or_else(|| a.id.clone());
    if let Some(n) = names.get(&key) {
        return n.clone();
    }
    let mut name = a.id.clone();
    if let Some((t, id)) = a.fhir.as_deref().and_then(|f| f.split_once('/'))
        && let (Ok(t), Ok(id)) = (ResourceType::parse(t), ResourceId::parse(id))
        && let Ok(rec) = state.store().read(&t, &id).await
        && let Ok(v) = serde_json::from_slice::<Value>(&rec.payload)
    {
        let n = &v["name"][0];
        let text = n["text"].as_str().map(str::to_owned).unwrap_or_else(|| {
            let given: Vec<&str> = n["given"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            format!("{} {}", given.join(" "), n["family"].as_str().unwrap_or_default()).trim().to_owned()
        });
        if !text.is_empty() {
            name = if t.as_str() == "Patient" { format!("{text} (patient)") } else { text };
        }
    }
    names.insert(key, name.clone());
    name
}

/// Who accessed a patient's record, when, why and what: the accounting of
/// disclosures. Patients may read their own; auditors anyone's.
#[utoipa::path(get, path = "/v1/audit/disclosures", tag = "audit", params(DisclosureQuery), security(("bearer" = [])), responses(
    (status = 200, description = "accesses, newest first", body = Disclosures),
    (status = 403, description = "not the caller's to see")
))]
pub async fn disclosures(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Query(q): Query<DisclosureQuery>,
) -> Result<Json<Disclosures>, ApiError> {
    let Some(patient) = authorize(&state, &flag, &p, q.patient.as_deref()).await? else {
        return Err(ApiError::BadRequest("patient is required".into()));
    };
    let query = AuditQuery {
        patient: Some(patient.clone()),
        outcome: Some(Outcome::Success),
        limit: SCAN_LIMIT,
        newest_first: true,
        ..AuditQuery::default()
    };
    let stored = state.audit().store().search(&query).await.map_err(|_| ApiError::Unavailable)?;
    let truncated = stored.len() >= SCAN_LIMIT;
    let mut names = HashMap::new();
    let mut out = Vec::with_capacity(stored.len());
    for s in stored {
        let Ok(r) = Record::decode(&s.bytes) else { continue };
        if !crate::audit::is_disclosure(&r) {
            continue;
        }
        let mut records: Vec<String> =
            r.event.resources.iter().map(|res| res.split('/').next().unwrap_or(res).to_owned()).collect();
        records.dedup();
        out.push(Disclosure {
            when: rfc3339(r.event.time),
            who: who(&state, &mut names, &r).await,
            role: r.event.actor.role.clone(),
            why: purpose_words(r.event.purpose.as_deref()).to_owned(),
            what: action_words(&r.event.action).to_owned(),
            records,
            audit_id: r.seq,
        });
    }
    Ok(Json(Disclosures { patient, disclosures: out, truncated }))
}

/// The audit log's state: its head, latest checkpoint, public key and the
/// server's last verification of the chain.
#[utoipa::path(get, path = "/v1/audit/status", tag = "audit", security(("bearer" = [])), responses(
    (status = 200, description = "status"),
    (status = 403, description = "auditors only")
))]
pub async fn status(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
) -> Result<Response, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::ReadAudit, "AuditEvent", None).await?;
    let store = state.audit().store();
    let head = store.head().await.map_err(|_| ApiError::Unavailable)?;
    let latest = store.latest_checkpoint().await.map_err(|_| ApiError::Unavailable)?;
    let body = json!({
        "head_seq": head.map(|h| h.seq),
        "latest_checkpoint": latest,
        "public_key": state.audit().public_key().to_string(),
        "verification": state.audit_status(),
    });
    Ok((StatusCode::OK, Json(body)).into_response())
}
