//! FHIR operations on the store, independent of HTTP: checking resources at
//! the boundary, index terms, search, transactions and batches, and
//! `$everything`. The route handlers and the importer both use these.

use std::collections::{BTreeMap, HashMap, HashSet};

use haven_core::{ResourceId, ResourceType, VersionId};
use haven_fhir::search::{self, Handling, SearchQuery};
use haven_fhir::{compartment, limits, model, resource_types, validate};
use haven_store::{BatchItem, IndexTerm, Precondition, Record, Store};
use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::error::Issue;

/// The resource type served from the audit log (`routes/audit.rs`), never from the store.
pub const AUDIT_EVENT: &str = "AuditEvent";

/// Why an AuditEvent cannot be written through the FHIR API or imported.
pub const AUDIT_EVENT_WRITES: &str = "AuditEvent records are written by Haven only";

/// Parses a request body as JSON after the cheap size and depth checks.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    limits::check(body, &limits::JsonLimits::default()).map_err(|e| {
        if e.is_size() { ApiError::TooLarge(e.to_string()) } else { ApiError::BadRequest(e.to_string()) }
    })?;
    // serde_json's messages give a line and column, never the input.
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// Checks a parsed resource: a JSON object of the expected type, structurally
/// valid. `conditional_refs` allows `Type?query` references (transactions).
pub fn check_resource(
    v: Value,
    expected: Option<&ResourceType>,
    conditional_refs: bool,
) -> Result<(ResourceType, Map<String, Value>), ApiError> {
    let Value::Object(obj) = v else { return Err(ApiError::BadRequest("a resource must be a JSON object".into())) };
    let rtype = match obj.get("resourceType") {
        Some(Value::String(t)) => {
            ResourceType::parse(t).map_err(|e| ApiError::BadRequest(format!("resourceType: {e}")))?
        }
        _ => return Err(ApiError::BadRequest("resourceType is missing".into())),
    };
    // Only FHIR R4 types are stored; this also keeps Haven's internal record
    // types (`Haven*`) out of reach. The name is input, so it is not repeated.
    if !resource_types::is_r4_resource_type(rtype.as_str()) {
        return Err(ApiError::NotSupported("resourceType is not a FHIR R4 resource type".into()));
    }
    // Reads and searches of AuditEvent are answered from the audit log, so a
    // stored one could never be read back; only Haven writes audit events.
    if rtype.as_str() == AUDIT_EVENT {
        return Err(ApiError::NotSupported(AUDIT_EVENT_WRITES.into()));
    }
    if let Some(want) = expected
        && want != &rtype
    {
        return Err(ApiError::BadRequest(format!(
            "resourceType {} does not match the URL type {}",
            rtype.as_str(),
            want.as_str()
        )));
    }
    let issues: Vec<Issue> =
        validate::validate(&obj, &validate::Options { allow_conditional_references: conditional_refs })
            .into_iter()
            .filter(|i| i.severity == validate::Severity::Error)
            .map(|i| Issue { code: i.code, expression: Some(i.expression), diagnostics: i.diagnostics })
            .collect();
    if !issues.is_empty() {
        return Err(ApiError::Invalid(issues));
    }
    // Resources Haven's own code reads must also parse into their typed view
    // (scheduling, consent and care-team decisions rely on it).
    let typed = match rtype.as_str() {
        "Patient" => model::PatientDemographics::from_json(&obj).err(),
        "Appointment" => model::AppointmentInfo::from_json(&obj).err(),
        "Slot" => model::SlotInfo::from_json(&obj).err(),
        "Consent" => model::ConsentInfo::from_json(&obj).err(),
        "CareTeam" => model::CareTeamInfo::from_json(&obj).err(),
        _ => None,
    };
    if let Some(e) = typed {
        return Err(ApiError::Invalid(vec![Issue { code: "structure", expression: None, diagnostics: e.to_string() }]));
    }
    Ok((rtype, obj))
}

/// The blind index terms of a resource.
pub fn index_terms(rtype: &ResourceType, obj: &Map<String, Value>) -> Vec<IndexTerm> {
    search::index_terms(rtype.as_str(), obj).into_iter().map(|(name, value)| IndexTerm::new(name, value)).collect()
}

/// The stored form: the resource with its id, without server-owned `meta` fields.
pub fn stored_bytes(mut obj: Map<String, Value>, id: &ResourceId) -> Result<Vec<u8>, ApiError> {
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

/// RFC 3339 of a store timestamp.
pub fn rfc3339(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The stored resource of a record, parsed.
pub fn parse_record(record: &Record) -> Result<Value, ApiError> {
    serde_json::from_slice(&record.payload).map_err(|e| {
        tracing::error!(error = %e, "stored resource is not JSON");
        ApiError::Internal
    })
}

/// The resource of a record with `meta.versionId` and `meta.lastUpdated`.
pub fn with_meta(record: &Record) -> Result<Value, ApiError> {
    Ok(add_meta(record, parse_record(record)?))
}

/// Adds `meta.versionId` and `meta.lastUpdated` to a parsed record.
pub fn add_meta(record: &Record, mut v: Value) -> Value {
    if let Value::Object(obj) = &mut v {
        let meta = obj.entry("meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert("versionId".into(), Value::String(record.meta.version.to_string()));
            meta.insert("lastUpdated".into(), Value::String(rfc3339(record.meta.last_updated)));
        }
    }
    v
}

fn parsed(record: &Record) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&record.payload) {
        Ok(Value::Object(o)) => Some(o),
        _ => None,
    }
}

/// Decides, record by record, what a caller may see (search results,
/// includes, `$everything`). Implemented by the route layer over the policy.
#[async_trait::async_trait]
pub trait Visibility: Send + Sync {
    /// Whether the caller may see this record.
    async fn visible(&self, r: &Record) -> Result<bool, ApiError>;
}

/// Decides whether the caller may write (or read) one entry of a
/// transaction or batch; each entry is checked on its own.
#[async_trait::async_trait]
pub trait EntryCheck: Send + Sync {
    /// `Ok` with the elements to hide when allowed. `patient` is the compartment of the resource.
    async fn check(
        &self,
        action: haven_policy::Action,
        rtype: &ResourceType,
        patient: Option<String>,
    ) -> Result<Vec<&'static str>, ApiError>;
}

/// One page of search results.
#[derive(Debug, Default)]
pub struct SearchPage {
    /// Matches in all pages.
    pub total: usize,
    /// This page's matches.
    pub matches: Vec<Record>,
    /// Resources added by `_include` / `_revinclude`.
    pub included: Vec<Record>,
}

/// How many records are decrypted per step when a search must filter.
const FILTER_CHUNK: usize = 500;

/// Every live id of a type, for searches the index cannot narrow.
async fn all_ids(store: &Store, rtype: &ResourceType) -> Result<Vec<ResourceId>, ApiError> {
    let mut out = Vec::new();
    let mut after: Option<ResourceId> = None;
    loop {
        let page = store.list(Some(rtype), after.as_ref().map(|a| (rtype, a)), 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.1.clone());
        out.extend(page.into_iter().map(|(_, id, _)| id));
    }
    Ok(out)
}

/// Runs a parsed search.
pub async fn search(
    store: &Store,
    rtype: &ResourceType,
    q: &SearchQuery,
    vis: Option<&dyn Visibility>,
) -> Result<SearchPage, ApiError> {
    let mut index_clauses = Vec::new();
    let mut needs_filter = !q.last_updated.is_empty();
    for c in &q.clauses {
        match c.candidate_terms() {
            Some(terms) => index_clauses.push((c.param.name.to_owned(), terms)),
            None => needs_filter = true,
        }
        needs_filter |= c.needs_filter();
    }
    let mut ids = if !index_clauses.is_empty() {
        store.search(rtype, &index_clauses).await?
    } else if let Some(wanted) = &q.ids {
        let mut v: Vec<ResourceId> = wanted.iter().filter_map(|i| ResourceId::parse(i).ok()).collect();
        v.sort();
        v.dedup();
        v
    } else {
        all_ids(store, rtype).await?
    };
    if let Some(wanted) = &q.ids {
        let wanted: HashSet<&str> = wanted.iter().map(String::as_str).collect();
        ids.retain(|i| wanted.contains(i.as_str()));
        needs_filter = true; // ids may name deleted or missing records
    }
    // Hidden records must not be counted either: filter before totals.
    needs_filter |= vis.is_some();
    let (total, matches) = if needs_filter {
        let mut kept = Vec::new();
        for chunk in ids.chunks(FILTER_CHUNK) {
            for r in store.read_many(rtype, chunk).await? {
                let Some(obj) = parsed(&r) else { continue };
                let secs = r.meta.last_updated.div_euclid(1_000_000);
                let ok = q.last_updated.iter().all(|c| c.matches(Some(secs), Some(secs + 1)))
                    && q.clauses.iter().all(|c| c.matches(&obj));
                let shown = match vis {
                    Some(v) if ok => v.visible(&r).await?,
                    _ => ok,
                };
                if shown {
                    kept.push(r);
                }
            }
        }
        let total = kept.len();
        (total, kept.into_iter().skip(q.offset).take(q.count).collect())
    } else if q.summary_count {
        (ids.len(), Vec::new())
    } else {
        let page: Vec<ResourceId> = ids.iter().skip(q.offset).take(q.count).cloned().collect();
        (ids.len(), store.read_many(rtype, &page).await?)
    };
    if q.summary_count {
        return Ok(SearchPage { total, matches: Vec::new(), included: Vec::new() });
    }
    let mut included = Vec::new();
    for r in includes(store, rtype, q, &matches).await? {
        if let Some(v) = vis
            && !v.visible(&r).await?
        {
            continue;
        }
        included.push(r);
    }
    Ok(SearchPage { total, matches, included })
}

async fn includes(
    store: &Store,
    rtype: &ResourceType,
    q: &SearchQuery,
    matches: &[Record],
) -> Result<Vec<Record>, ApiError> {
    let mut out = Vec::new();
    if q.includes.is_empty() && q.revincludes.is_empty() {
        return Ok(out);
    }
    let mut seen: HashSet<(ResourceType, ResourceId)> =
        matches.iter().map(|r| (r.meta.rtype.clone(), r.meta.id.clone())).collect();
    let objs: Vec<Map<String, Value>> = matches.iter().filter_map(parsed).collect();
    let mut wanted: BTreeMap<String, Vec<ResourceId>> = BTreeMap::new();
    for inc in &q.includes {
        let Some(def) = search::param(rtype.as_str(), inc.param) else { continue };
        for obj in &objs {
            for (t, id) in search::references(def, obj) {
                if inc.target.as_deref().is_none_or(|want| want == t)
                    && let Ok(id) = ResourceId::parse(id)
                {
                    wanted.entry(t.to_owned()).or_default().push(id);
                }
            }
        }
    }
    for (t, ids) in wanted {
        let Ok(t) = ResourceType::parse(&t) else { continue };
        for r in store.read_many(&t, &ids).await? {
            if seen.insert((r.meta.rtype.clone(), r.meta.id.clone())) {
                out.push(r);
            }
        }
    }
    for inc in &q.revincludes {
        let Ok(source) = ResourceType::parse(&inc.source) else { continue };
        let refs: Vec<String> =
            matches.iter().map(|r| format!("r:{}/{}", rtype.as_str(), r.meta.id.as_str())).collect();
        if refs.is_empty() {
            continue;
        }
        let ids = store.search(&source, &[(inc.param.to_owned(), refs)]).await?;
        for r in store.read_many(&source, &ids).await? {
            if seen.insert((r.meta.rtype.clone(), r.meta.id.clone())) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// Everything in a patient's compartment: the Patient and every resource
/// the R4 Patient CompartmentDefinition puts there, of any type, typed or
/// stored generically (found through the compartment index term that every
/// write records; see `haven_fhir::compartment`).
pub async fn everything(store: &Store, id: &ResourceId, vis: Option<&dyn Visibility>) -> Result<Vec<Record>, ApiError> {
    let patient_type = ResourceType::parse("Patient").map_err(|_| ApiError::Internal)?;
    let mut out = vec![store.read(&patient_type, id).await?];
    let target = format!("Patient/{}", id.as_str());
    let mut seen: HashSet<(ResourceType, ResourceId)> = HashSet::new();
    seen.insert((patient_type, id.clone()));
    // One index lookup per type of the compartment (66 in R4).
    for (t, _) in compartment::PATIENT_COMPARTMENT {
        let rtype = ResourceType::parse(t).map_err(|_| ApiError::Internal)?;
        let mut ids =
            store.search(&rtype, &[(compartment::COMPARTMENT_INDEX.to_owned(), vec![target.clone()])]).await?;
        // Records written before the compartment index existed are still
        // found through a typed `patient` parameter.
        if search::param(t, "patient").is_some() {
            ids.extend(store.search(&rtype, &[("patient".to_owned(), vec![format!("r:{target}")])]).await?);
            ids.sort();
            ids.dedup();
        }
        ids.retain(|i| !seen.contains(&(rtype.clone(), i.clone())));
        if ids.is_empty() {
            continue;
        }
        for r in store.read_many(&rtype, &ids).await? {
            if !seen.insert((r.meta.rtype.clone(), r.meta.id.clone())) {
                continue;
            }
            if let Some(v) = vis
                && !v.visible(&r).await?
            {
                continue;
            }
            out.push(r);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Transactions and batches

/// One entry of a transaction or batch, checked.
struct Entry {
    method: Method,
    rtype: ResourceType,
    /// The id (PUT, DELETE, GET read; assigned for POST).
    id: Option<ResourceId>,
    /// Query of a GET search.
    query: Option<String>,
    full_url: Option<String>,
    resource: Option<Map<String, Value>>,
    if_match: Option<VersionId>,
    if_none_exist: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    // FHIR's processing order for transactions.
    Delete,
    Post,
    Put,
    Get,
}

fn entry_error(i: usize, msg: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("Bundle.entry[{i}]: {msg}"))
}

fn parse_entry(i: usize, e: &Value, conditional_refs: bool) -> Result<Entry, ApiError> {
    let req = e.get("request").and_then(Value::as_object).ok_or_else(|| entry_error(i, "request is missing"))?;
    let method = match req.get("method").and_then(Value::as_str) {
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("DELETE") => Method::Delete,
        Some("GET") => Method::Get,
        Some(_) => return Err(entry_error(i, "request.method must be GET, POST, PUT or DELETE")),
        None => return Err(entry_error(i, "request.method is missing")),
    };
    let url = req.get("url").and_then(Value::as_str).ok_or_else(|| entry_error(i, "request.url is missing"))?;
    let url = url.trim_start_matches('/');
    // An absolute URL names Type[/id] in its last path segments.
    let url = match url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) {
        Some(rest) => {
            let (path, q) = rest.split_once('?').map_or((rest, None), |(p, q)| (p, Some(q)));
            let segs: Vec<&str> = path.split('/').collect();
            let start = segs.iter().rposition(|s| ResourceType::parse(s).is_ok()).unwrap_or(0);
            let tail = segs[start..].join("/");
            match q {
                Some(q) => format!("{tail}?{q}"),
                None => tail,
            }
        }
        None => url.to_owned(),
    };
    let url = url.as_str();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (url, None),
    };
    let mut parts = path.split('/');
    let rtype = ResourceType::parse(parts.next().unwrap_or_default()).map_err(|e| entry_error(i, e))?;
    let id = parts.next().map(ResourceId::parse).transpose().map_err(|e| entry_error(i, e))?;
    if parts.next().is_some() {
        return Err(entry_error(i, "request.url must be Type, Type/id or Type?query"));
    }
    if !resource_types::is_r4_resource_type(rtype.as_str()) {
        return Err(ApiError::NotSupported(format!(
            "Bundle.entry[{i}]: request.url names a type that is not a FHIR R4 resource type"
        )));
    }
    if rtype.as_str() == AUDIT_EVENT {
        // Entries run against the record store, which holds no audit events.
        return Err(ApiError::NotSupported(format!(
            "Bundle.entry[{i}]: {AUDIT_EVENT_WRITES}; use GET /fhir/AuditEvent"
        )));
    }
    let if_match = req
        .get("ifMatch")
        .and_then(Value::as_str)
        .map(|s| VersionId::parse(s).map_err(|e| entry_error(i, e)))
        .transpose()?;
    // Some clients repeat the type: `Patient?identifier=...`.
    let if_none_exist = req
        .get("ifNoneExist")
        .and_then(Value::as_str)
        .map(|q| q.split_once('?').filter(|(t, _)| ResourceType::parse(t).is_ok()).map_or(q, |(_, q)| q).to_owned());
    let resource = match (method, e.get("resource")) {
        (Method::Post | Method::Put, Some(r)) => {
            let (_, obj) = check_resource(r.clone(), Some(&rtype), conditional_refs).map_err(|err| match err {
                ApiError::Invalid(mut issues) => {
                    for is in &mut issues {
                        is.expression = is.expression.take().map(|x| format!("Bundle.entry[{i}].resource.{x}"));
                    }
                    ApiError::Invalid(issues)
                }
                ApiError::NotSupported(m) => ApiError::NotSupported(format!("Bundle.entry[{i}].resource: {m}")),
                other => entry_error(i, other),
            })?;
            Some(obj)
        }
        (Method::Post | Method::Put, None) => return Err(entry_error(i, "resource is missing")),
        _ => None,
    };
    match (method, &id, &query) {
        (Method::Post, None, None)
        | (Method::Put | Method::Delete, Some(_), None)
        | (Method::Put | Method::Delete, None, Some(_))
        | (Method::Get, _, _) => {}
        _ => return Err(entry_error(i, "request.url does not fit the method")),
    }
    if let (Method::Put, Some(id), Some(r)) = (method, &id, &resource)
        && r.get("id").and_then(Value::as_str).is_some_and(|rid| rid != id.as_str())
    {
        return Err(entry_error(i, "resource.id must match the id in request.url"));
    }
    let full_url = e.get("fullUrl").and_then(Value::as_str).map(str::to_owned);
    Ok(Entry { method, rtype, id, query, full_url, resource, if_match, if_none_exist })
}

/// The pairs of a URL query string, percent-decoded.
pub(crate) fn query_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// Resolves a conditional reference or `ifNoneExist` to the ids it matches.
/// Only records the caller may see can match: a conditional URL must not
/// become an oracle for hidden records.
pub(crate) async fn resolve_conditional(
    store: &Store,
    rtype: &ResourceType,
    query: &str,
    vis: Option<&dyn Visibility>,
) -> Result<Vec<ResourceId>, ApiError> {
    let q = search::parse_query(rtype.as_str(), &query_pairs(query), Handling::Strict)
        .map_err(|e| ApiError::BadRequest(format!("conditional reference: {e}")))?;
    let q = SearchQuery { count: 2, ..q };
    let page = search(store, rtype, &q, vis).await?;
    Ok(page.matches.into_iter().map(|r| r.meta.id).collect())
}

/// Rewrites every `reference` in a resource through `f` (which may fail).
pub(crate) fn rewrite_references(
    v: &mut Value,
    f: &mut dyn FnMut(&str) -> Result<Option<String>, ApiError>,
) -> Result<(), ApiError> {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = x
                {
                    if let Some(new) = f(s)? {
                        *s = new;
                    }
                } else {
                    rewrite_references(x, f)?;
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                rewrite_references(x, f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Collects every `reference` string of a resource.
pub(crate) fn collect_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => collect_references(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_references(x, out)),
        _ => {}
    }
}

/// What a processed transaction did, entry by entry (in request order).
#[derive(Debug)]
pub struct EntryResult {
    /// HTTP status line, e.g. `201 Created`.
    pub status: &'static str,
    /// `Type/id/_history/v` of what was written.
    pub location: Option<String>,
    /// Version written.
    pub version: Option<VersionId>,
    /// Store time.
    pub last_modified: Option<i64>,
    /// A resource to return (GET entries).
    pub resource: Option<Value>,
}

/// Options for a transaction: the importer keeps ids and marks its ledger.
#[derive(Default, Clone)]
pub struct TransactionOptions {
    /// Extra items written in the same atomic batch (the import ledger).
    pub extra: Vec<BatchItem>,
    /// Accept relative references to resources that do not exist (bulk
    /// import of data whose targets arrive later or never).
    pub allow_dangling: bool,
    /// Leave GET entries out (an import loads data; it does not query).
    pub skip_reads: bool,
    /// Checks each entry against the caller's rights (`None`: trusted import).
    pub authorize: Option<std::sync::Arc<dyn EntryCheck>>,
    /// What a GET entry's results are filtered by.
    pub visibility: Option<std::sync::Arc<dyn Visibility>>,
}

/// Processes a `transaction` Bundle atomically: ids are assigned,
/// `urn:uuid:` and conditional references rewritten, every other relative
/// reference must resolve, and all writes commit together or not at all.
pub async fn transaction(
    store: &Store,
    bundle: &Map<String, Value>,
    opts: TransactionOptions,
) -> Result<Vec<EntryResult>, ApiError> {
    let raw = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut entries = Vec::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let is_read = e.get("request").and_then(|r| r.get("method")).and_then(Value::as_str) == Some("GET");
        let is_operation =
            e.get("request").and_then(|r| r.get("url")).and_then(Value::as_str).is_some_and(|u| u.contains('$'));
        if opts.skip_reads && (is_read || is_operation) {
            continue;
        }
        entries.push(parse_entry(i, e, true)?);
    }
    // Assign ids and map fullUrls to them.
    let mut mapped: HashMap<String, String> = HashMap::new();
    let mut targets: HashSet<String> = HashSet::new();
    let mut skip = vec![false; entries.len()];
    for (i, e) in entries.iter_mut().enumerate() {
        if let (Method::Put | Method::Delete, None, Some(q)) = (e.method, &e.id, &e.query) {
            // Conditional update and delete: the query picks the record.
            let found = resolve_conditional(store, &e.rtype, q, opts.visibility.as_deref()).await?;
            match (found.as_slice(), e.method) {
                ([], Method::Put) => e.id = Some(ResourceId::random()),
                ([], _) => skip[i] = true,
                ([one], _) => e.id = Some(one.clone()),
                _ => {
                    return Err(ApiError::PreconditionFailed(format!(
                        "Bundle.entry[{i}]: the conditional URL matches more than one resource"
                    )));
                }
            }
            if let (Some(id), Some(r)) = (&e.id, e.resource.as_mut()) {
                r.insert("id".into(), Value::String(id.as_str().to_owned()));
            }
        }
        if e.method == Method::Post {
            if let Some(cond) = &e.if_none_exist {
                let found = resolve_conditional(store, &e.rtype, cond, opts.visibility.as_deref()).await?;
                match found.as_slice() {
                    [] => {}
                    [one] => {
                        e.id = Some(one.clone());
                        skip[i] = true;
                    }
                    _ => {
                        return Err(ApiError::PreconditionFailed(format!(
                            "Bundle.entry[{i}]: ifNoneExist matches more than one resource"
                        )));
                    }
                }
            }
            if e.id.is_none() {
                e.id = Some(ResourceId::random());
            }
        }
        let (Some(id), Some(full)) = (&e.id, &e.full_url) else {
            if let (Some(id), Method::Put | Method::Post) = (&e.id, e.method) {
                targets.insert(format!("{}/{}", e.rtype.as_str(), id.as_str()));
            }
            continue;
        };
        let local = format!("{}/{}", e.rtype.as_str(), id.as_str());
        if matches!(e.method, Method::Put | Method::Post) {
            targets.insert(local.clone());
            if mapped.insert(full.clone(), local).is_some() {
                return Err(entry_error(i, "fullUrl is used twice"));
            }
        }
    }
    // Rewrite references; check the rest resolve.
    let mut cond_cache: HashMap<String, String> = HashMap::new();
    let mut to_check: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Some(resource) = entry.resource.take() else { continue };
        let mut v = Value::Object(resource);
        let mut refs = Vec::new();
        collect_references(&v, &mut refs);
        for r in refs {
            if mapped.contains_key(&r) || cond_cache.contains_key(&r) || r.starts_with('#') {
                continue;
            }
            if (r.starts_with("urn:uuid:") || r.starts_with("urn:oid:")) && opts.allow_dangling {
                continue;
            }
            if r.starts_with("urn:uuid:") || r.starts_with("urn:oid:") {
                return Err(ApiError::Invalid(vec![Issue {
                    code: "not-found",
                    expression: Some(format!("Bundle.entry[{i}].resource")),
                    diagnostics: format!("reference {r} does not match any fullUrl in the Bundle"),
                }]));
            }
            if let Some((t, q)) = r.split_once('?') {
                let rtype = ResourceType::parse(t).map_err(|e| entry_error(i, e))?;
                let found = resolve_conditional(store, &rtype, q, opts.visibility.as_deref()).await?;
                match found.as_slice() {
                    [one] => {
                        cond_cache.insert(r.clone(), format!("{t}/{}", one.as_str()));
                    }
                    [] if opts.allow_dangling => {}
                    [] => {
                        return Err(ApiError::Invalid(vec![Issue {
                            code: "not-found",
                            expression: Some(format!("Bundle.entry[{i}].resource")),
                            diagnostics: format!("conditional reference to {t} matches no resource"),
                        }]));
                    }
                    _ => {
                        return Err(ApiError::PreconditionFailed(format!(
                            "Bundle.entry[{i}]: conditional reference to {t} matches more than one resource"
                        )));
                    }
                }
                continue;
            }
            if let Some((t, id)) = search::normalise_reference(&r)
                && !r.starts_with("http")
            {
                let local = format!("{t}/{id}");
                if !targets.contains(&local) {
                    to_check.entry(t.to_owned()).or_default().insert(id.to_owned());
                }
            }
        }
        rewrite_references(&mut v, &mut |r| Ok(mapped.get(r).or_else(|| cond_cache.get(r)).cloned()))?;
        let Value::Object(o) = v else { return Err(ApiError::Internal) };
        entry.resource = Some(o);
    }
    if opts.allow_dangling {
        to_check.clear();
    }
    for (t, ids) in to_check {
        let rtype = ResourceType::parse(&t).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let ids: Vec<ResourceId> = ids.iter().filter_map(|i| ResourceId::parse(i).ok()).collect();
        let live: HashSet<ResourceId> =
            store.heads(&rtype, &ids).await?.into_iter().filter(|(_, h)| !h.deleted).map(|(i, _)| i).collect();
        if let Some(missing) = ids.iter().find(|i| !live.contains(*i)) {
            return Err(ApiError::Invalid(vec![Issue {
                code: "not-found",
                expression: Some("Bundle.entry".into()),
                diagnostics: format!("reference {t}/{} does not resolve to a resource", missing.as_str()),
            }]));
        }
    }
    // Each write is authorized on its own, on the resource as it will be
    // stored (references rewritten) and, for updates and deletes, as it is.
    if let Some(auth) = &opts.authorize {
        for (i, e) in entries.iter().enumerate() {
            if skip[i] || e.method == Method::Get {
                continue;
            }
            let Some(id) = &e.id else { continue };
            let action = match e.method {
                Method::Post => haven_policy::Action::Create,
                Method::Put => haven_policy::Action::Update,
                _ => haven_policy::Action::Delete,
            };
            if let Some(obj) = &e.resource {
                let patient = crate::authz::patient_of(e.rtype.as_str(), Some(id.as_str()), obj);
                auth.check(action, &e.rtype, patient).await?;
            }
            if matches!(e.method, Method::Put | Method::Delete)
                && let Ok(old) = store.read(&e.rtype, id).await
            {
                auth.check(action, &e.rtype, crate::authz::record_patient(&old)).await?;
            }
        }
    }
    // Writes, in FHIR's order: DELETE, POST, PUT; then GETs see the result.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].method);
    let mut items = Vec::new();
    let mut item_of: HashMap<usize, usize> = HashMap::new();
    for &i in &order {
        let e = &entries[i];
        if skip[i] || e.method == Method::Get {
            continue;
        }
        if e.method == Method::Delete && e.id.is_none() {
            continue;
        }
        let Some(id) = e.id.clone() else { return Err(ApiError::Internal) };
        let (payload, terms) = match &e.resource {
            Some(obj) => (Some(stored_bytes(obj.clone(), &id)?), index_terms(&e.rtype, obj)),
            None => {
                // Deleting what does not exist succeeds without a write.
                if store.head(&e.rtype, &id).await?.is_none() {
                    continue;
                }
                (None, Vec::new())
            }
        };
        if let Some(v) = e.if_match
            && store.head(&e.rtype, &id).await?.is_none()
        {
            return Err(ApiError::PreconditionFailed(format!(
                "Bundle.entry[{i}]: If-Match names version {v} of {}/{}, which does not exist",
                e.rtype.as_str(),
                id.as_str()
            )));
        }
        let precondition = match (e.method, e.if_match) {
            (_, Some(v)) => Precondition::Version(v),
            (Method::Post, None) => Precondition::MustNotExist,
            _ => Precondition::None,
        };
        item_of.insert(i, items.len());
        items.push(BatchItem { rtype: e.rtype.clone(), id, precondition, payload, terms });
    }
    let n = items.len();
    items.extend(opts.extra);
    let outcomes = store.write_batch(&items).await?;
    let mut results: Vec<Option<EntryResult>> = (0..entries.len()).map(|_| None).collect();
    for &i in &order {
        let e = &entries[i];
        let r = match (e.method, item_of.get(&i).and_then(|&k| (k < n).then(|| &outcomes[k]))) {
            (Method::Get, _) => {
                let resource = match (&e.id, &e.query) {
                    (Some(id), _) => {
                        let r = store.read(&e.rtype, id).await?;
                        let mut v = with_meta(&r)?;
                        if let Some(auth) = &opts.authorize {
                            let hide = auth
                                .check(haven_policy::Action::Read, &e.rtype, crate::authz::record_patient(&r))
                                .await
                                .map_err(|_| ApiError::NotFound)?;
                            crate::authz::redact_elements(&mut v, &hide);
                        }
                        Some(v)
                    }
                    (None, q) => {
                        let q = search::parse_query(
                            e.rtype.as_str(),
                            &query_pairs(q.as_deref().unwrap_or("")),
                            Handling::Strict,
                        )
                        .map_err(|err| entry_error(i, err))?;
                        let page = search(store, &e.rtype, &q, opts.visibility.as_deref()).await?;
                        let mut entries: Vec<Value> = Vec::with_capacity(page.matches.len());
                        for r in &page.matches {
                            let mut res = with_meta(r)?;
                            if let Some(auth) = &opts.authorize {
                                let hide = auth
                                    .check(haven_policy::Action::Read, &e.rtype, crate::authz::record_patient(r))
                                    .await?;
                                crate::authz::redact_elements(&mut res, &hide);
                            }
                            entries.push(json!({"resource": res, "search": {"mode": "match"}}));
                        }
                        Some(
                            json!({"resourceType": "Bundle", "type": "searchset", "total": page.total, "entry": entries}),
                        )
                    }
                };
                EntryResult { status: "200 OK", location: None, version: None, last_modified: None, resource }
            }
            (Method::Delete, _) => EntryResult {
                status: "204 No Content",
                location: None,
                version: None,
                last_modified: None,
                resource: None,
            },
            (_, Some(o)) => EntryResult {
                status: if o.created { "201 Created" } else { "200 OK" },
                location: Some(format!("{}/{}/_history/{}", o.meta.rtype, o.meta.id, o.meta.version)),
                version: Some(o.meta.version),
                last_modified: Some(o.meta.last_updated),
                resource: None,
            },
            (_, None) => {
                // ifNoneExist matched: nothing written.
                let id = e.id.as_ref().map(|id| id.as_str()).unwrap_or_default();
                EntryResult {
                    status: "200 OK",
                    location: Some(format!("{}/{id}", e.rtype)),
                    version: None,
                    last_modified: None,
                    resource: None,
                }
            }
        };
        results[i] = Some(r);
    }
    results.into_iter().map(|r| r.ok_or(ApiError::Internal)).collect()
}

/// A transaction-response or batch-response Bundle.
pub fn response_bundle(kind: &str, results: &[Result<EntryResult, ApiError>]) -> Value {
    let entries: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok(r) => {
                let mut resp = json!({"status": r.status});
                if let Some(l) = &r.location {
                    resp["location"] = json!(l);
                }
                if let Some(v) = r.version {
                    resp["etag"] = json!(format!("W/\"{v}\""));
                }
                if let Some(t) = r.last_modified {
                    resp["lastModified"] = json!(rfc3339(t));
                }
                let mut e = json!({"response": resp});
                if let Some(res) = &r.resource {
                    e["resource"] = res.clone();
                }
                e
            }
            Err(err) => {
                let (status, _) = err.status_and_code();
                json!({"response": {
                    "status": format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")),
                    "outcome": err.outcome(),
                }})
            }
        })
        .collect();
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

/// Processes a `batch` Bundle: every entry on its own, failures reported per entry.
pub async fn batch(
    store: &Store,
    bundle: &Map<String, Value>,
    base: TransactionOptions,
) -> Vec<Result<EntryResult, ApiError>> {
    let raw = bundle.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let one = async {
            let entry = parse_entry(i, e, false)?;
            let mut single = Map::new();
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                o.remove("fullUrl"); // batch entries cannot refer to each other
            }
            single.insert("entry".into(), Value::Array(vec![e]));
            let _ = entry;
            let opts = TransactionOptions { extra: Vec::new(), ..base.clone() };
            let mut r = transaction(store, &single, opts).await?;
            r.pop().ok_or(ApiError::Internal)
        };
        out.push(one.await);
    }
    out
}
