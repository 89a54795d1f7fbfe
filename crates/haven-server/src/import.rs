//! Bulk import: FHIR bulk-export NDJSON (`Type.000.ndjson`, ids kept),
//! transaction/batch Bundles (Synthea), and single resources. Resumable:
//! each fully imported file is recorded in a ledger (keyed by the SHA-256 of
//! its content, written in the same atomic batch as a Bundle's resources),
//! so running an import again skips what is done and never duplicates.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use haven_core::{ResourceId, ResourceType};
use haven_store::{BatchItem, Precondition, Store};
use serde_json::{Value, json};

use crate::ApiError;
use crate::fhir;

/// Resources written per atomic batch.
const BATCH: usize = 500;

/// The ledger's internal record type (invisible to the FHIR API).
const LEDGER: &str = "HavenImport";

/// Bulk-export files are loaded in this order so conditional references
/// (e.g. `Practitioner?identifier=...`) find their targets.
const TYPE_ORDER: [&str; 6] = ["Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Encounter"];

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Resources written, per type.
    pub per_type: BTreeMap<String, u64>,
    /// What was skipped, and why (source and reason; never content).
    pub skipped: Vec<(String, String)>,
    /// Files imported now.
    pub files_imported: u64,
    /// Files skipped because an earlier run imported them.
    pub files_already_done: u64,
    /// Conditional references that matched nothing (kept as written).
    pub unresolved_references: u64,
}

impl ImportReport {
    /// Resources written in all.
    pub fn total(&self) -> u64 {
        self.per_type.values().sum()
    }

    /// The report as a FHIR Parameters resource.
    pub fn to_parameters(&self) -> Value {
        let mut params = vec![
            json!({"name": "imported", "valueInteger": self.total()}),
            json!({"name": "filesImported", "valueInteger": self.files_imported}),
            json!({"name": "filesAlreadyImported", "valueInteger": self.files_already_done}),
            json!({"name": "unresolvedReferences", "valueInteger": self.unresolved_references}),
        ];
        for (t, n) in &self.per_type {
            params.push(json!({"name": "type", "part": [{"name": "type", "valueCode": t}, {"name": "count", "valueInteger": n}]}));
        }
        for (src, why) in &self.skipped {
            params.push(json!({"name": "skipped", "part": [{"name": "source", "valueString": src}, {"name": "reason", "valueString": why}]}));
        }
        json!({"resourceType": "Parameters", "parameter": params})
    }
}

/// Why an import stopped (a file it cannot read; bad content is skipped instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A path could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The store failed.
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// Where an import is, for a progress display.
#[derive(Clone, Copy, Debug)]
pub struct ImportProgress<'a> {
    /// Resources written so far.
    pub resources: u64,
    /// Input bytes read so far (files done, plus the lines of an NDJSON file
    /// already written).
    pub bytes: u64,
    /// Bytes of all input files together (known before the import starts).
    pub total_bytes: u64,
    /// The file being read.
    pub file: &'a str,
}

/// Progress callback, called after each written batch and each file.
pub type Progress<'a> = &'a (dyn Fn(&ImportProgress<'_>) + Send + Sync);

fn ledger_item(digest: &str) -> Result<BatchItem, ApiError> {
    Ok(BatchItem {
        rtype: ResourceType::parse(LEDGER).map_err(|_| ApiError::Internal)?,
        id: ResourceId::parse(digest).map_err(|_| ApiError::Internal)?,
        precondition: Precondition::None,
        payload: Some(b"{}".to_vec()),
        terms: Vec::new(),
    })
}

/// State shared across the files of one import.
struct Importer<'a> {
    store: &'a Store,
    report: ImportReport,
    /// Conditional reference → `Type/id` it resolved to (or `None`).
    resolved: HashMap<String, Option<String>>,
    progress: Progress<'a>,
    /// Bytes of the files finished so far.
    bytes_done: u64,
    /// Bytes of all input files.
    total_bytes: u64,
}

fn order_key(path: &Path) -> (u8, usize, PathBuf) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.ends_with(".ndjson") {
        let t = name.split('.').next().unwrap_or_default();
        let rank = TYPE_ORDER.iter().position(|x| *x == t).unwrap_or(TYPE_ORDER.len());
        (0, rank, path.to_path_buf())
    } else {
        (1, 0, path.to_path_buf())
    }
}

/// Expands directories (recursively) into `*.ndjson` and `*.json` files, in import order.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p)
            .map_err(|e| ImportError::Read { path: p.display().to_string(), reason: e.to_string() })?;
        if meta.is_dir() {
            let rd = std::fs::read_dir(&p)
                .map_err(|e| ImportError::Read { path: p.display().to_string(), reason: e.to_string() })?;
            for e in rd.flatten() {
                let child = e.path();
                let is_data = child.extension().is_some_and(|x| x == "json" || x == "ndjson");
                if child.is_dir() || is_data {
                    stack.push(child);
                }
            }
        } else {
            out.push(p);
        }
    }
    out.sort_by_key(|p| order_key(p));
    Ok(out)
}

/// What kind of input a file or body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A Bundle or a single resource (`*.json`).
    Json,
    /// A bulk-export file (`Type.000.ndjson`): its name must start with a
    /// resource type, which keeps other NDJSON (Synthea's `log.ndjson`) out.
    NdjsonFile,
    /// NDJSON sent to `$import`: no name to go by; each line's own
    /// `resourceType` decides, and types may be mixed.
    NdjsonBody,
}

/// Imports files and directories.
pub async fn import_paths(
    store: &Store,
    paths: &[PathBuf],
    progress: Progress<'_>,
) -> Result<ImportReport, ImportError> {
    let files = collect_files(paths)?;
    // Sizes up front, so a progress display knows the whole before it starts.
    let total_bytes = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let mut imp = Importer::new(store, progress, total_bytes);
    imp.report_progress("", 0);
    for path in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| ImportError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        let name = path.display().to_string();
        let kind = if path.extension().is_some_and(|x| x == "ndjson") { Kind::NdjsonFile } else { Kind::Json };
        imp.file(&name, &bytes, kind).await?;
    }
    Ok(imp.report)
}

/// Imports one `$import` request body: NDJSON (any mix of types, one
/// resource per line), or a Bundle or single resource.
pub async fn import_body(store: &Store, bytes: &[u8], ndjson: bool) -> Result<ImportReport, ApiError> {
    let quiet = |_: &ImportProgress<'_>| {};
    let mut imp = Importer::new(store, &quiet, bytes.len() as u64);
    let kind = if ndjson { Kind::NdjsonBody } else { Kind::Json };
    imp.file("request body", bytes, kind).await?;
    Ok(imp.report)
}

impl<'a> Importer<'a> {
    fn new(store: &'a Store, progress: Progress<'a>, total_bytes: u64) -> Self {
        Importer {
            store,
            report: ImportReport::default(),
            resolved: HashMap::new(),
            progress,
            bytes_done: 0,
            total_bytes,
        }
    }

    /// Reports progress; `in_file` is how far into the current file the import is.
    fn report_progress(&self, file: &str, in_file: u64) {
        (self.progress)(&ImportProgress {
            resources: self.report.total(),
            bytes: self.bytes_done + in_file,
            total_bytes: self.total_bytes,
            file,
        });
    }

    fn skip(&mut self, source: impl Into<String>, reason: impl Into<String>) {
        self.report.skipped.push((source.into(), reason.into()));
    }

    fn count(&mut self, rtype: &ResourceType, n: u64) {
        *self.report.per_type.entry(rtype.as_str().to_owned()).or_default() += n;
    }

    async fn file(&mut self, name: &str, bytes: &[u8], kind: Kind) -> Result<(), ApiError> {
        let size = bytes.len() as u64;
        self.file_inner(name, bytes, kind).await?;
        self.bytes_done += size;
        self.report_progress(name, 0);
        Ok(())
    }

    async fn file_inner(&mut self, name: &str, bytes: &[u8], kind: Kind) -> Result<(), ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            self.skip(name, "empty file");
            return Ok(());
        }
        let digest = hex::encode(haven_crypto::sha256(bytes));
        let ledger_type = ResourceType::parse(LEDGER).map_err(|_| ApiError::Internal)?;
        let ledger_id = ResourceId::parse(&digest).map_err(|_| ApiError::Internal)?;
        if self.store.head(&ledger_type, &ledger_id).await?.is_some() {
            self.report.files_already_done += 1;
            return Ok(());
        }
        let done = match kind {
            Kind::Json => self.json(name, bytes).await?,
            Kind::NdjsonFile | Kind::NdjsonBody => self.ndjson(name, bytes, kind).await?,
        };
        if done {
            if kind != Kind::Json {
                self.store.write_batch(&[ledger_item(&digest)?]).await?;
            }
            self.report.files_imported += 1;
        }
        Ok(())
    }

    /// Resolves conditional references in place; counts the ones that match nothing.
    async fn resolve(&mut self, v: &mut Value) -> Result<(), ApiError> {
        let mut refs = Vec::new();
        fhir::collect_references(v, &mut refs);
        refs.retain(|r| r.contains('?') && !r.starts_with("http"));
        for r in refs {
            if self.resolved.contains_key(&r) {
                continue;
            }
            let found = match r.split_once('?').and_then(|(t, q)| Some((ResourceType::parse(t).ok()?, q))) {
                // A query the parser refuses resolves to nothing, like one that matches nothing.
                Some((rtype, q)) => match fhir::resolve_conditional(self.store, &rtype, q, None).await {
                    Ok(ids) => match ids.as_slice() {
                        [one] => Some(format!("{}/{}", rtype.as_str(), one.as_str())),
                        _ => None,
                    },
                    Err(ApiError::BadRequest(_)) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            if found.is_none() {
                self.report.unresolved_references += 1;
            }
            self.resolved.insert(r, found);
        }
        let resolved = &self.resolved;
        fhir::rewrite_references(v, &mut |r| Ok(resolved.get(r).cloned().flatten()))
    }

    async fn ndjson(&mut self, name: &str, bytes: &[u8], kind: Kind) -> Result<bool, ApiError> {
        let file = name.rsplit('/').next().unwrap_or(name);
        let starts_with_type = file.split('.').next().is_some_and(haven_fhir::resource_types::is_r4_resource_type);
        if kind == Kind::NdjsonFile && !starts_with_type {
            self.skip(
                name,
                "not a FHIR NDJSON file (the name must start with a resource type, e.g. Patient.000.ndjson)",
            );
            return Ok(false);
        }
        let mut items: Vec<BatchItem> = Vec::with_capacity(BATCH);
        let mut in_batch = std::collections::HashSet::new();
        // Bytes up to the end of the current line, for progress.
        let mut offset = 0u64;
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            offset += line.len() as u64 + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let source = format!("{name}:{}", n + 1);
            let parsed = fhir::parse_json(line).and_then(|v| fhir::check_resource(v, None, true));
            let (rtype, obj) = match parsed {
                Ok(x) => x,
                Err(e) => {
                    self.skip(source, reason(&e));
                    continue;
                }
            };
            let id = match obj.get("id").and_then(Value::as_str).map(ResourceId::parse) {
                Some(Ok(id)) => id,
                None => ResourceId::random(),
                Some(Err(e)) => {
                    self.skip(source, e.to_string());
                    continue;
                }
            };
            let mut v = Value::Object(obj);
            self.resolve(&mut v).await?;
            let Value::Object(obj) = v else { return Err(ApiError::Internal) };
            if !in_batch.insert((rtype.clone(), id.clone())) {
                self.flush(&mut items).await?;
                in_batch.clear();
                in_batch.insert((rtype.clone(), id.clone()));
            }
            let terms = fhir::index_terms(&rtype, &obj);
            let payload = fhir::stored_bytes(obj, &id)?;
            items.push(BatchItem { rtype, id, precondition: Precondition::None, payload: Some(payload), terms });
            if items.len() >= BATCH {
                self.flush(&mut items).await?;
                in_batch.clear();
                self.report_progress(name, offset.min(bytes.len() as u64));
            }
        }
        self.flush(&mut items).await?;
        Ok(true)
    }

    async fn flush(&mut self, items: &mut Vec<BatchItem>) -> Result<(), ApiError> {
        if items.is_empty() {
            return Ok(());
        }
        self.store.write_batch(items).await?;
        for it in items.iter() {
            *self.report.per_type.entry(it.rtype.as_str().to_owned()).or_default() += 1;
        }
        items.clear();
        Ok(())
    }

    async fn json(&mut self, name: &str, bytes: &[u8]) -> Result<bool, ApiError> {
        let digest = hex::encode(haven_crypto::sha256(bytes));
        let (rtype, obj) = match fhir::parse_json(bytes).and_then(|v| fhir::check_resource(v, None, true)) {
            Ok(x) => x,
            Err(e) => {
                self.skip(name, reason(&e));
                return Ok(false);
            }
        };
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default();
        if rtype.as_str() == "Bundle" && kind == "transaction" {
            let opts = fhir::TransactionOptions {
                extra: vec![ledger_item(&digest)?],
                allow_dangling: true,
                skip_reads: true,
                ..Default::default()
            };
            return match fhir::transaction(self.store, &obj, opts).await {
                Ok(results) => {
                    for r in &results {
                        if let Some(t) = r.location.as_deref().and_then(|l| l.split('/').next())
                            && r.status.starts_with("201")
                            && let Ok(t) = ResourceType::parse(t)
                        {
                            self.count(&t, 1);
                        }
                    }
                    Ok(true)
                }
                Err(e) => {
                    self.skip(name, format!("transaction rejected: {}", reason(&e)));
                    Ok(false)
                }
            };
        }
        if rtype.as_str() == "Bundle" && kind == "batch" {
            let mut obj = obj;
            // An import loads data; a batch's GET entries are queries, not data.
            if let Some(Value::Array(entries)) = obj.get_mut("entry") {
                entries
                    .retain(|e| e.get("request").and_then(|r| r.get("method")).and_then(Value::as_str) != Some("GET"));
            }
            for (i, r) in
                fhir::batch(self.store, &obj, fhir::TransactionOptions { allow_dangling: true, ..Default::default() })
                    .await
                    .into_iter()
                    .enumerate()
            {
                match r {
                    Ok(r) => {
                        if let Some(t) = r.location.as_deref().and_then(|l| l.split('/').next())
                            && let Ok(t) = ResourceType::parse(t)
                        {
                            self.count(&t, 1);
                        }
                    }
                    Err(e) => self.skip(format!("{name}: entry {i}"), reason(&e)),
                }
            }
            self.store.write_batch(&[ledger_item(&digest)?]).await?;
            return Ok(true);
        }
        // A single resource (any other Bundle type is stored as a Bundle): keep its id.
        let id = match obj.get("id").and_then(Value::as_str).map(ResourceId::parse) {
            Some(Ok(id)) => id,
            None => ResourceId::random(),
            Some(Err(e)) => {
                self.skip(name, e.to_string());
                return Ok(false);
            }
        };
        let mut v = Value::Object(obj);
        self.resolve(&mut v).await?;
        let Value::Object(obj) = v else { return Err(ApiError::Internal) };
        let terms = fhir::index_terms(&rtype, &obj);
        let payload = fhir::stored_bytes(obj, &id)?;
        let item =
            BatchItem { rtype: rtype.clone(), id, precondition: Precondition::None, payload: Some(payload), terms };
        self.store.write_batch(&[item, ledger_item(&digest)?]).await?;
        self.count(&rtype, 1);
        Ok(true)
    }
}

/// A skip reason: the error's message, or every issue of a validation error.
fn reason(e: &ApiError) -> String {
    match e {
        ApiError::Invalid(issues) => issues
            .iter()
            .map(|i| format!("{}: {}", i.expression.as_deref().unwrap_or("resource"), i.diagnostics))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
