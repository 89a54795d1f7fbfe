//! FHIR R4 REST interactions on the encrypted store: capabilities, create,
//! read, vread, update (If-Match), delete (soft), instance history, search,
//! transaction and batch Bundles, `Patient/$everything` and `$import`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use haven_core::{ResourceId, ResourceType, VersionId};
use haven_fhir::search::{self, Handling};
use haven_store::{Record, RecordMeta};
use serde_json::{Value, json};

use std::sync::Arc;

use axum::Extension;
use haven_core::Principal;
use haven_policy::Action;

use super::Authenticated;
use crate::authz::{self, DecisionFlag};
// AuditEvents are Haven's audit log seen through FHIR: searched and read
// only, never written through the API.
use crate::fhir::{self, AUDIT_EVENT, rfc3339, with_meta};
use crate::{ApiError, AppState};

/// One request's caller, for the per-record and per-entry checks.
#[derive(Clone)]
struct Guard {
    state: AppState,
    p: Principal,
    flag: DecisionFlag,
}

impl Guard {
    async fn require(
        &self,
        action: Action,
        rtype: &str,
        patient: Option<&str>,
    ) -> Result<haven_policy::Decision, ApiError> {
        self.state.authz().require(self.state.store(), &self.flag, &self.p, action, rtype, patient).await
    }

    /// The resource as this caller may see it (field-level rules applied), or
    /// `NotFound` when it is hidden.
    async fn shown(&self, action: Action, record: &Record) -> Result<Value, ApiError> {
        // Parsed once: for the compartment and for the answer.
        let v = fhir::parse_record(record)?;
        let patient = authz::value_patient(record, &v);
        let d = self.require(action, record.meta.rtype.as_str(), patient.as_deref()).await?;
        if let Some(trail) = self.flag.trail() {
            trail.resource(format!("{}/{}", record.meta.rtype, record.meta.id));
        }
        let mut v = fhir::add_meta(record, v);
        authz::redact(&mut v, &d);
        Ok(v)
    }
}

impl Guard {
    /// Whether the caller may see a record through `action`, without failing.
    async fn allows(&self, action: Action, r: &Record) -> Result<bool, ApiError> {
        let patient = authz::record_patient(r);
        let d = self
            .state
            .authz()
            .decide(self.state.store(), &self.flag, &self.p, action, r.meta.rtype.as_str(), patient.as_deref())
            .await?;
        Ok(d.allow)
    }
}

#[async_trait::async_trait]
impl fhir::Visibility for Guard {
    async fn visible(&self, r: &Record) -> Result<bool, ApiError> {
        self.allows(Action::Read, r).await
    }
}

/// The caller's view of search matches: each decided as a `search`, so a
/// scope or policy that allows reads but not searches finds nothing.
struct Searching<'a>(&'a Guard);

#[async_trait::async_trait]
impl fhir::Visibility for Searching<'_> {
    async fn visible(&self, r: &Record) -> Result<bool, ApiError> {
        self.0.allows(Action::Search, r).await
    }
}

#[async_trait::async_trait]
impl fhir::EntryCheck for Guard {
    async fn check(
        &self,
        action: Action,
        rtype: &ResourceType,
        patient: Option<String>,
    ) -> Result<Vec<&'static str>, ApiError> {
        if let Some(trail) = self.flag.trail() {
            trail.resource(rtype.as_str().to_owned());
        }
        self.require(action, rtype.as_str(), patient.as_deref()).await.map(|d| d.redact)
    }
}

const FHIR_JSON: &str = "application/fhir+json";

/// Every `/fhir` route as (method, template), for the route-coverage tests.
/// (Authentication does not depend on this list: it runs for every route.)
pub const ROUTES: [(&str, &str); 13] = [
    ("POST", "/fhir"),
    ("POST", "/fhir/"),
    ("GET", "/fhir/metadata"),
    ("POST", "/fhir/$import"),
    ("GET", "/fhir/Patient/{id}/$everything"),
    ("POST", "/fhir/{rtype}"),
    ("GET", "/fhir/{rtype}"),
    ("POST", "/fhir/{rtype}/_search"),
    ("GET", "/fhir/{rtype}/{id}"),
    ("PUT", "/fhir/{rtype}/{id}"),
    ("DELETE", "/fhir/{rtype}/{id}"),
    ("GET", "/fhir/{rtype}/{id}/_history"),
    ("GET", "/fhir/{rtype}/{id}/_history/{vid}"),
];

/// The `/fhir` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(bundle))
        .route("/metadata", get(metadata))
        .route("/$import", post(import))
        .route("/Patient/{id}/$everything", get(everything))
        .route("/{rtype}", post(create).get(search_get))
        .route("/{rtype}/_search", post(search_post))
        .route("/{rtype}/{id}", get(read).put(update).delete(delete))
        .route("/{rtype}/{id}/_history", get(history))
        .route("/{rtype}/{id}/_history/{vid}", get(vread))
}

/// Parses a type from the path: FHIR R4 resource types only. Internal
/// record types (`Haven*`) get the same answer as an invented type.
fn parse_type(s: &str) -> Result<ResourceType, ApiError> {
    if !haven_fhir::resource_types::is_r4_resource_type(s) {
        return Err(ApiError::UnknownType);
    }
    ResourceType::parse(s).map_err(|_| ApiError::UnknownType)
}

/// Parses a type the caller wants to write; the audit log is not writable.
fn writable_type(s: &str) -> Result<ResourceType, ApiError> {
    let t = parse_type(s)?;
    if t.as_str() == AUDIT_EVENT {
        return Err(ApiError::NotSupported(fhir::AUDIT_EVENT_WRITES.into()));
    }
    Ok(t)
}

fn parse_id(s: &str) -> Result<ResourceId, ApiError> {
    ResourceId::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn http_date(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap_or_default()
}

/// The weak ETag of a version, as FHIR uses it: `W/"3"`.
fn etag(version: VersionId) -> String {
    format!("W/\"{version}\"")
}

fn headers_for(meta: &RecordMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if let Ok(v) = HeaderValue::from_str(&etag(meta.version)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(meta.last_updated)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h
}

fn json_response(status: StatusCode, body: &Value) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::Internal)?;
    Ok((status, [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))], bytes).into_response())
}

fn resource_response(status: StatusCode, record: &Record) -> Result<Response, ApiError> {
    value_response(status, &record.meta, &with_meta(record)?)
}

fn value_response(status: StatusCode, meta: &RecordMeta, v: &Value) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(v).map_err(|_| ApiError::Internal)?;
    Ok((status, headers_for(meta), body).into_response())
}

fn if_match(headers: &HeaderMap) -> Result<Option<VersionId>, ApiError> {
    headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| VersionId::parse(s).ok())
                .ok_or_else(|| ApiError::BadRequest("If-Match must be a version ETag such as W/\"3\"".into()))
        })
        .transpose()
}

/// `Prefer: handling=lenient` turns unknown search parameters into warnings.
fn handling(headers: &HeaderMap) -> Handling {
    let lenient = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"));
    if lenient { Handling::Lenient } else { Handling::Strict }
}

/// The base URL links are built on: the scheme Haven serves and the Host
/// the client used (checked, so a hostile Host cannot inject into links).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255)
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
        .map(str::to_owned)
        .unwrap_or_else(|| state.config().server.listen.to_string());
    format!("{}://{host}/fhir", state.scheme())
}

async fn metadata(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = rfc3339(time::OffsetDateTime::now_utc().unix_timestamp() * 1_000_000);
    let _ = &state;
    json_response(StatusCode::OK, &haven_fhir::capability::capability_statement(env!("CARGO_PKG_VERSION"), &now))
}

async fn create(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtype = writable_type(&rtype)?;
    let (_, obj) = fhir::check_resource(fhir::parse_json(&body)?, Some(&rtype), false)?;
    let id = ResourceId::random();
    let guard = Guard { state: state.clone(), p, flag };
    let patient = authz::patient_of(rtype.as_str(), Some(id.as_str()), &obj);
    guard.require(Action::Create, rtype.as_str(), patient.as_deref()).await?;
    let terms = fhir::index_terms(&rtype, &obj);
    let bytes = fhir::stored_bytes(obj, &id)?;
    let meta = state.store().create(&rtype, Some(id), &bytes, &terms).await?;
    if let Some(trail) = guard.flag.trail() {
        trail.resource(format!("{rtype}/{}", meta.id));
    }
    let record = Record { meta, payload: bytes };
    let mut resp = resource_response(StatusCode::CREATED, &record)?;
    let location =
        format!("{}/{}/{}/_history/{}", base_url(&state, &headers), rtype, record.meta.id, record.meta.version);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn read(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path((rtype, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    if rtype.as_str() == AUDIT_EVENT {
        let v = super::audit::read_event(&state, &flag, &p, id.as_str()).await?;
        return json_response(StatusCode::OK, &v);
    }
    let guard = Guard { state: state.clone(), p, flag };
    let record = match state.store().read(&rtype, &id).await {
        Ok(r) => r,
        Err(e) => {
            // Decide anyway, so the flag is set and a 410 is not a free oracle.
            guard.require(Action::Read, rtype.as_str(), None).await?;
            return Err(e.into());
        }
    };
    let v = guard.shown(Action::Read, &record).await?;
    value_response(StatusCode::OK, &record.meta, &v)
}

async fn vread(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path((rtype, id, vid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let vid = VersionId::parse(&vid).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let guard = Guard { state: state.clone(), p, flag };
    let record = state.store().vread(&rtype, &id, vid).await;
    let record = match record {
        Ok(r) if !r.meta.deleted => r,
        other => {
            guard.require(Action::Read, rtype.as_str(), None).await?;
            return Err(other.map(|_| ApiError::Gone).unwrap_or_else(ApiError::from));
        }
    };
    let v = guard.shown(Action::Read, &record).await?;
    value_response(StatusCode::OK, &record.meta, &v)
}

async fn update(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (rtype, id) = (writable_type(&rtype)?, parse_id(&id)?);
    let (_, obj) = fhir::check_resource(fhir::parse_json(&body)?, Some(&rtype), false)?;
    match obj.get("id") {
        Some(Value::String(body_id)) if body_id == id.as_str() => {}
        _ => return Err(ApiError::BadRequest("the resource's id must match the id in the URL".into())),
    }
    // Both the resource as it will be and as it is must be the caller's to change.
    let guard = Guard { state: state.clone(), p, flag };
    let patient = authz::patient_of(rtype.as_str(), Some(id.as_str()), &obj);
    guard.require(Action::Update, rtype.as_str(), patient.as_deref()).await?;
    if let Ok(old) = state.store().read(&rtype, &id).await {
        let before = authz::record_patient(&old);
        if before != patient {
            guard.require(Action::Update, rtype.as_str(), before.as_deref()).await?;
        }
    }
    let terms = fhir::index_terms(&rtype, &obj);
    let bytes = fhir::stored_bytes(obj, &id)?;
    let (meta, created) = state.store().update(&rtype, &id, if_match(&headers)?, &bytes, &terms).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    resource_response(status, &Record { meta, payload: bytes })
}

async fn delete(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (rtype, id) = (writable_type(&rtype)?, parse_id(&id)?);
    let guard = Guard { state: state.clone(), p, flag };
    let patient = state.store().read(&rtype, &id).await.ok().and_then(|r| authz::record_patient(&r));
    guard.require(Action::Delete, rtype.as_str(), patient.as_deref()).await?;
    let meta = state.store().delete(&rtype, &id, if_match(&headers)?).await?;
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag(meta.version)) {
        h.insert(header::ETAG, v);
    }
    Ok((StatusCode::NO_CONTENT, h).into_response())
}

async fn history(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path((rtype, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let guard = Guard { state: state.clone(), p, flag };
    let records = match state.store().history(&rtype, &id).await {
        Ok(r) => r,
        Err(e) => {
            guard.require(Action::History, rtype.as_str(), None).await?;
            return Err(e.into());
        }
    };
    // Every version must be visible: a record that moved between patients
    // shows its history only to those who may see all of it.
    for r in records.iter().filter(|r| !r.meta.deleted) {
        guard.shown(Action::History, r).await?;
    }
    if records.iter().all(|r| r.meta.deleted) {
        guard.require(Action::History, rtype.as_str(), None).await?;
    }
    let mut entries = Vec::with_capacity(records.len());
    for r in &records {
        let url = format!("{}/{}/_history/{}", rtype, id, r.meta.version);
        if r.meta.deleted {
            entries.push(json!({"fullUrl": url, "request": {"method": "DELETE", "url": format!("{rtype}/{id}")}, "response": {"status": "204", "etag": etag(r.meta.version)}}));
        } else {
            let method = if r.meta.version == VersionId::FIRST { "POST" } else { "PUT" };
            entries.push(json!({"fullUrl": url, "resource": guard.shown(Action::History, r).await?, "request": {"method": method, "url": format!("{rtype}/{id}")}, "response": {"status": "200", "etag": etag(r.meta.version)}}));
        }
    }
    json_response(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "history", "total": entries.len(), "entry": entries}),
    )
}

fn encode_query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn run_search(
    guard: &Guard,
    headers: &HeaderMap,
    rtype: &ResourceType,
    pairs: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let state = &guard.state;
    let q = search::parse_query(rtype.as_str(), &pairs, handling(headers))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // Each result is decided on its own (as a `search`); what the caller may
    // not see is neither returned nor counted. An empty result discloses
    // nothing, so no decision is owed for it.
    guard.flag.mark();
    if let Some(trail) = guard.flag.trail() {
        // The type searched, never the query (its values may be PHI); the
        // records returned are added as they are shown.
        trail.resource(rtype.as_str().to_owned());
    }
    let page = fhir::search(state.store(), rtype, &q, Some(&Searching(guard))).await?;
    let base = base_url(state, headers);
    let link = |offset: usize| {
        let mut p = q.applied.clone();
        p.push(("_count".into(), q.count.to_string()));
        p.push(("_offset".into(), offset.to_string()));
        format!("{base}/{}?{}", rtype.as_str(), encode_query(&p))
    };
    let mut links = vec![json!({"relation": "self", "url": link(q.offset)})];
    // A total-only answer (`_summary=count`, `_count=0`) has no pages: a
    // next or previous link would point back at the same offset forever.
    if !q.summary_count && q.count > 0 {
        if q.offset + q.count < page.total {
            links.push(json!({"relation": "next", "url": link(q.offset + q.count)}));
        }
        if q.offset > 0 {
            links.push(json!({"relation": "previous", "url": link(q.offset.saturating_sub(q.count))}));
        }
    }
    let mut entries = Vec::with_capacity(page.matches.len() + page.included.len() + 1);
    for (records, mode) in [(&page.matches, "match"), (&page.included, "include")] {
        for r in records {
            entries.push(json!({
                "fullUrl": format!("{base}/{}/{}", r.meta.rtype, r.meta.id),
                "resource": guard.shown(Action::Search, r).await?,
                "search": {"mode": mode},
            }));
        }
    }
    if !q.ignored.is_empty() {
        let names: Vec<&str> = q.ignored.iter().map(String::as_str).collect();
        entries.push(json!({
            "resource": crate::error::operation_outcome("warning", "not-supported", &format!("search parameters ignored: {}", names.join(", "))),
            "search": {"mode": "outcome"},
        }));
    }
    let bundle =
        json!({"resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links, "entry": entries});
    json_response(StatusCode::OK, &bundle)
}

async fn search_get(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let rtype = parse_type(&rtype)?;
    let pairs = fhir::query_pairs(raw.as_deref().unwrap_or_default());
    if rtype.as_str() == AUDIT_EVENT {
        let base = base_url(&state, &headers);
        return json_response(StatusCode::OK, &super::audit::search_events(&state, &flag, &p, &base, &pairs).await?);
    }
    let guard = Guard { state, p, flag };
    run_search(&guard, &headers, &rtype, pairs).await
}

async fn search_post(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtype = parse_type(&rtype)?;
    let mut pairs = fhir::query_pairs(raw.as_deref().unwrap_or_default());
    pairs.extend(form_urlencoded::parse(&body).into_owned());
    if rtype.as_str() == AUDIT_EVENT {
        let base = base_url(&state, &headers);
        return json_response(StatusCode::OK, &super::audit::search_events(&state, &flag, &p, &base, &pairs).await?);
    }
    let guard = Guard { state, p, flag };
    run_search(&guard, &headers, &rtype, pairs).await
}

async fn everything(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let guard = Guard { state: state.clone(), p, flag };
    guard.require(Action::Everything, "Patient", Some(id.as_str())).await?;
    let records = fhir::everything(state.store(), &id, Some(&guard)).await?;
    let base = base_url(&state, &headers);
    let mut entries: Vec<Value> = Vec::with_capacity(records.len());
    for r in &records {
        let res = guard.shown(Action::Read, r).await?;
        entries.push(json!({"fullUrl": format!("{base}/{}/{}", r.meta.rtype, r.meta.id), "resource": res, "search": {"mode": "match"}}));
    }
    json_response(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries}),
    )
}

pub(super) async fn bundle(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Every entry is authorized on its own (EntryCheck, Visibility).
    flag.mark();
    let guard = Arc::new(Guard { state: state.clone(), p, flag });
    let opts = fhir::TransactionOptions {
        authorize: Some(guard.clone()),
        visibility: Some(guard),
        ..fhir::TransactionOptions::default()
    };
    // Each entry's resource is validated on its own (a batch reports
    // entries separately), so only the Bundle's shell is checked here.
    let Value::Object(obj) = fhir::parse_json(&body)? else {
        return Err(ApiError::BadRequest("a Bundle must be a JSON object".into()));
    };
    if obj.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(ApiError::BadRequest("POST /fhir takes a Bundle of type transaction or batch".into()));
    }
    if obj.get("entry").is_some_and(|e| !e.is_array()) {
        return Err(ApiError::BadRequest("Bundle.entry must be an array".into()));
    }
    match obj.get("type").and_then(Value::as_str) {
        Some("transaction") => {
            let results = fhir::transaction(state.store(), &obj, opts).await?;
            let results: Vec<Result<_, ApiError>> = results.into_iter().map(Ok).collect();
            json_response(StatusCode::OK, &fhir::response_bundle("transaction-response", &results))
        }
        Some("batch") => {
            let results = fhir::batch(state.store(), &obj, opts).await;
            json_response(StatusCode::OK, &fhir::response_bundle("batch-response", &results))
        }
        _ => Err(ApiError::BadRequest("Bundle.type must be transaction or batch".into())),
    }
}

async fn import(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::Import, "Bundle", None).await?;
    let ndjson = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("ndjson"));
    let report = crate::import::import_body(state.store(), &body, ndjson).await?;
    json_response(StatusCode::OK, &report.to_parameters())
}
