//! FHIR R4 REST interactions on the encrypted store: capabilities, create,
//! read, vread, update (If-Match), delete (soft), instance history, search,
//! transaction and batch Bundles, `Patient/$everything` and `$import`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use haven_core::{ResourceId, ResourceType, Role, VersionId};
use haven_fhir::search::{self, Handling};
use haven_store::{Record, RecordMeta};
use serde_json::{Value, json};

use super::Authenticated;
use crate::fhir::{self, rfc3339, with_meta};
use crate::{ApiError, AppState};

const FHIR_JSON: &str = "application/fhir+json";

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

/// Parses a type from the path; internal record types are invisible here.
fn parse_type(s: &str) -> Result<ResourceType, ApiError> {
    let t = ResourceType::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if t.as_str().starts_with("Haven") {
        return Err(ApiError::NotFound);
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
    let body = serde_json::to_vec(&with_meta(record)?).map_err(|_| ApiError::Internal)?;
    Ok((status, headers_for(&record.meta), body).into_response())
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
    Authenticated(_p): Authenticated,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtype = parse_type(&rtype)?;
    let (_, obj) = fhir::check_resource(fhir::parse_json(&body)?, Some(&rtype), false)?;
    let id = ResourceId::random();
    let terms = fhir::index_terms(&rtype, &obj);
    let bytes = fhir::stored_bytes(obj, &id)?;
    let meta = state.store().create(&rtype, Some(id), &bytes, &terms).await?;
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
    Authenticated(_p): Authenticated,
    Path((rtype, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let record = state.store().read(&rtype, &id).await?;
    resource_response(StatusCode::OK, &record)
}

async fn vread(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path((rtype, id, vid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let vid = VersionId::parse(&vid).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let record = state.store().vread(&rtype, &id, vid).await?;
    if record.meta.deleted {
        return Err(ApiError::Gone);
    }
    resource_response(StatusCode::OK, &record)
}

async fn update(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let (_, obj) = fhir::check_resource(fhir::parse_json(&body)?, Some(&rtype), false)?;
    match obj.get("id") {
        Some(Value::String(body_id)) if body_id == id.as_str() => {}
        _ => return Err(ApiError::BadRequest("the resource's id must match the id in the URL".into())),
    }
    let terms = fhir::index_terms(&rtype, &obj);
    let bytes = fhir::stored_bytes(obj, &id)?;
    let (meta, created) = state.store().update(&rtype, &id, if_match(&headers)?, &bytes, &terms).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    resource_response(status, &Record { meta, payload: bytes })
}

async fn delete(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let meta = state.store().delete(&rtype, &id, if_match(&headers)?).await?;
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag(meta.version)) {
        h.insert(header::ETAG, v);
    }
    Ok((StatusCode::NO_CONTENT, h).into_response())
}

async fn history(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path((rtype, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (rtype, id) = (parse_type(&rtype)?, parse_id(&id)?);
    let records = state.store().history(&rtype, &id).await?;
    let mut entries = Vec::with_capacity(records.len());
    for r in &records {
        let url = format!("{}/{}/_history/{}", rtype, id, r.meta.version);
        if r.meta.deleted {
            entries.push(json!({"fullUrl": url, "request": {"method": "DELETE", "url": format!("{rtype}/{id}")}, "response": {"status": "204", "etag": etag(r.meta.version)}}));
        } else {
            let method = if r.meta.version == VersionId::FIRST { "POST" } else { "PUT" };
            entries.push(json!({"fullUrl": url, "resource": with_meta(r)?, "request": {"method": method, "url": format!("{rtype}/{id}")}, "response": {"status": "200", "etag": etag(r.meta.version)}}));
        }
    }
    json_response(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "history", "total": entries.len(), "entry": entries}),
    )
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn encode_query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn run_search(
    state: &AppState,
    headers: &HeaderMap,
    rtype: &ResourceType,
    pairs: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let q = search::parse_query(rtype.as_str(), &pairs, handling(headers))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let page = fhir::search(state.store(), rtype, &q).await?;
    let base = base_url(state, headers);
    let link = |offset: usize| {
        let mut p = q.applied.clone();
        p.push(("_count".into(), q.count.to_string()));
        p.push(("_offset".into(), offset.to_string()));
        format!("{base}/{}?{}", rtype.as_str(), encode_query(&p))
    };
    let mut links = vec![json!({"relation": "self", "url": link(q.offset)})];
    if !q.summary_count && q.offset + q.count < page.total {
        links.push(json!({"relation": "next", "url": link(q.offset + q.count)}));
    }
    if q.offset > 0 {
        links.push(json!({"relation": "previous", "url": link(q.offset.saturating_sub(q.count))}));
    }
    let mut entries = Vec::with_capacity(page.matches.len() + page.included.len() + 1);
    for (records, mode) in [(&page.matches, "match"), (&page.included, "include")] {
        for r in records {
            entries.push(json!({
                "fullUrl": format!("{base}/{}/{}", r.meta.rtype, r.meta.id),
                "resource": with_meta(r)?,
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
    Authenticated(_p): Authenticated,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let rtype = parse_type(&rtype)?;
    run_search(&state, &headers, &rtype, query_pairs(raw.as_deref())).await
}

async fn search_post(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtype = parse_type(&rtype)?;
    let mut pairs = query_pairs(raw.as_deref());
    pairs.extend(form_urlencoded::parse(&body).into_owned());
    run_search(&state, &headers, &rtype, pairs).await
}

async fn everything(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let records = fhir::everything(state.store(), &id).await?;
    let base = base_url(&state, &headers);
    let entries: Vec<Value> = records
        .iter()
        .map(|r| {
            with_meta(r).map(|res| json!({"fullUrl": format!("{base}/{}/{}", r.meta.rtype, r.meta.id), "resource": res, "search": {"mode": "match"}}))
        })
        .collect::<Result<_, _>>()?;
    json_response(
        StatusCode::OK,
        &json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries}),
    )
}

pub(super) async fn bundle(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    body: Bytes,
) -> Result<Response, ApiError> {
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
            let results = fhir::transaction(state.store(), &obj, fhir::TransactionOptions::default()).await?;
            let results: Vec<Result<_, ApiError>> = results.into_iter().map(Ok).collect();
            json_response(StatusCode::OK, &fhir::response_bundle("transaction-response", &results))
        }
        Some("batch") => {
            let results = fhir::batch(state.store(), &obj, false).await;
            json_response(StatusCode::OK, &fhir::response_bundle("batch-response", &results))
        }
        _ => Err(ApiError::BadRequest("Bundle.type must be transaction or batch".into())),
    }
}

async fn import(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if p.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let ndjson = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("ndjson"));
    let report = crate::import::import_bytes(state.store(), "request body", &body, ndjson).await?;
    json_response(StatusCode::OK, &report.to_parameters())
}
