//! FHIR R4 REST interactions on the encrypted store: create, read, vread,
//! update (If-Match), delete (soft) and instance history.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use haven_core::{ResourceId, ResourceType, VersionId};
use haven_store::{Record, RecordMeta};
use serde_json::{Map, Value};

use super::Authenticated;
use crate::{ApiError, AppState};

const FHIR_JSON: &str = "application/fhir+json";

/// The `/fhir` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{rtype}", axum::routing::post(create))
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

fn rfc3339(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn http_date(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).unwrap_or_default()
}

/// Parses a request body into a JSON object of the expected type.
fn parse_body(rtype: &ResourceType, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    let Value::Object(obj) = v else { return Err(ApiError::BadRequest("a resource must be a JSON object".into())) };
    match obj.get("resourceType") {
        Some(Value::String(t)) if t == rtype.as_str() => Ok(obj),
        Some(Value::String(t)) => {
            Err(ApiError::BadRequest(format!("resourceType {t:?} does not match the URL type {}", rtype.as_str())))
        }
        _ => Err(ApiError::BadRequest("resourceType is missing".into())),
    }
}

/// The stored form: the resource without server-owned `meta` fields.
fn stored_bytes(mut obj: Map<String, Value>, id: &ResourceId) -> Result<Vec<u8>, ApiError> {
    obj.insert("id".into(), Value::String(id.as_str().to_owned()));
    if let Some(Value::Object(meta)) = obj.get_mut("meta") {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            obj.remove("meta");
        }
    }
    serde_json::to_vec(&obj).map_err(|_| ApiError::Internal)
}

fn with_meta(record: &Record) -> Result<Value, ApiError> {
    let mut v: Value = serde_json::from_slice(&record.payload).map_err(|e| {
        tracing::error!(error = %e, "stored resource is not JSON");
        ApiError::Internal
    })?;
    if let Value::Object(obj) = &mut v {
        let meta = obj.entry("meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert("versionId".into(), Value::String(record.meta.version.to_string()));
            meta.insert("lastUpdated".into(), Value::String(rfc3339(record.meta.last_updated)));
        }
    }
    Ok(v)
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

async fn create(
    State(state): State<AppState>,
    Authenticated(_p): Authenticated,
    Path(rtype): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rtype = parse_type(&rtype)?;
    let obj = parse_body(&rtype, &body)?;
    let id = ResourceId::random();
    let bytes = stored_bytes(obj, &id)?;
    let meta = state.store().create(&rtype, Some(id), &bytes, &[]).await?;
    let record = Record { meta, payload: bytes };
    let mut resp = resource_response(StatusCode::CREATED, &record)?;
    let location = format!("/fhir/{}/{}/_history/{}", rtype, record.meta.id, record.meta.version);
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
    let obj = parse_body(&rtype, &body)?;
    match obj.get("id") {
        Some(Value::String(body_id)) if body_id == id.as_str() => {}
        _ => return Err(ApiError::BadRequest("the resource's id must match the id in the URL".into())),
    }
    let bytes = stored_bytes(obj, &id)?;
    let (meta, created) = state.store().update(&rtype, &id, if_match(&headers)?, &bytes, &[]).await?;
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
            entries.push(serde_json::json!({"fullUrl": url, "request": {"method": "DELETE", "url": format!("{rtype}/{id}")}, "response": {"status": "204", "etag": etag(r.meta.version)}}));
        } else {
            let method = if r.meta.version == VersionId::FIRST { "POST" } else { "PUT" };
            entries.push(serde_json::json!({"fullUrl": url, "resource": with_meta(r)?, "request": {"method": method, "url": format!("{rtype}/{id}")}, "response": {"status": "200", "etag": etag(r.meta.version)}}));
        }
    }
    let bundle =
        serde_json::json!({"resourceType": "Bundle", "type": "history", "total": entries.len(), "entry": entries});
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    Ok((StatusCode::OK, h, serde_json::to_vec(&bundle).map_err(|_| ApiError::Internal)?).into_response())
}
