//! [`Store`]: the backend-independent half of storage. It seals every
//! payload before a backend sees it, computes blind indexes, enforces
//! optimistic concurrency and re-wraps data keys after a KEK rotation.

use std::collections::BTreeMap;
use std::sync::Arc;

use haven_core::{ResourceId, ResourceType, VersionId};
use haven_crypto::{BlindIndexKey, Envelope, KeyProvider, SealedRecord, WrappedKey};

use crate::{Backend, Head, IndexClause, IndexEntry, KeyRow, StoreError, VersionRow, WriteOp};

/// Unix time in microseconds.
pub type Timestamp = i64;

fn now_micros() -> Timestamp {
    let n = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How many times a write is retried when another writer wins the race.
/// Each retry re-reads the head and re-seals (the version is in the AAD).
const MAX_RACE_RETRIES: usize = 100;

/// Waits a little before retrying a lost race, so racing writers spread out.
async fn race_backoff(attempt: usize) {
    let mut b = [0u8; 1];
    let _ = haven_crypto::random_bytes(&mut b);
    let micros = (u64::from(b[0]) + 1) * (attempt.min(10) as u64 + 1);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// A searchable identifier: index name and a value the caller normalised
/// (e.g. digits only for phones, lower case for emails).
#[derive(Clone, PartialEq, Eq)]
pub struct IndexTerm {
    /// Index name, e.g. `phone`.
    pub name: String,
    /// Normalised value (PHI: never printed).
    pub value: String,
}

impl IndexTerm {
    /// Builds a term.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        IndexTerm { name: name.into(), value: value.into() }
    }
}

impl std::fmt::Debug for IndexTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IndexTerm({}, [REDACTED])", self.name)
    }
}

/// The identity and state of one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// Type.
    pub rtype: ResourceType,
    /// Id.
    pub id: ResourceId,
    /// Version.
    pub version: VersionId,
    /// Unix microseconds.
    pub last_updated: Timestamp,
    /// Whether this version is a deletion.
    pub deleted: bool,
}

/// A decrypted version of a record.
#[derive(Clone)]
pub struct Record {
    /// Identity and state.
    pub meta: RecordMeta,
    /// The plaintext payload (empty for a deletion).
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record({:?}, {} bytes [REDACTED])", self.meta, self.payload.len())
    }
}

/// What must hold before a batch item is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing: create or update.
    None,
    /// The record must not exist (a create with a chosen id).
    MustNotExist,
    /// The record's current version must be this (If-Match).
    Version(VersionId),
}

/// One write in [`Store::write_batch`].
#[derive(Clone)]
pub struct BatchItem {
    /// Type.
    pub rtype: ResourceType,
    /// Id.
    pub id: ResourceId,
    /// What must hold first.
    pub precondition: Precondition,
    /// The new payload, or `None` to delete.
    pub payload: Option<Vec<u8>>,
    /// Index terms of the new payload.
    pub terms: Vec<IndexTerm>,
}

impl std::fmt::Debug for BatchItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BatchItem({}/{}, {:?}, [REDACTED])", self.rtype.as_str(), self.id.as_str(), self.precondition)
    }
}

/// What a batch did to one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The version written (or the existing deletion for a repeated delete).
    pub meta: RecordMeta,
    /// Whether the record did not exist before.
    pub created: bool,
}

/// What [`Store::rewrap_all`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Data keys re-wrapped under the active KEK.
    pub rewrapped: u64,
    /// Rows whose key could not be unwrapped (corrupt or moved): type, id,
    /// version and the error. Their KEK version cannot be retired.
    pub failed: Vec<(ResourceType, ResourceId, VersionId, String)>,
}

/// Told of every record version written through this store (and its
/// clones), after the write succeeded, with the plaintext payload: the live
/// relationship index of threat detection keeps up so. It runs on the
/// writer's request path: it must be quick, must not log the payload and
/// must not keep more of it than its purpose needs.
pub trait WriteObserver: Send + Sync {
    /// A new version of `rtype/id` with this payload.
    fn written(&self, rtype: &ResourceType, id: &ResourceId, payload: &[u8]);
}

/// The record store: encryption and versioning over a [`Backend`].
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    envelope: Envelope,
    index_key: BlindIndexKey,
    observer: Arc<std::sync::OnceLock<Arc<dyn WriteObserver>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({}, {:?})", self.backend.name(), self.envelope)
    }
}

/// Times a store operation and counts its outcome (Prometheus, by operation
/// and backend; never by record).
async fn observed<T>(
    op: &'static str,
    backend: &'static str,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = std::time::Instant::now();
    let r = fut.await;
    let outcome = if r.is_ok() { "ok" } else { "error" };
    metrics::histogram!("haven_store_operation_seconds", "op" => op, "backend" => backend)
        .record(start.elapsed().as_secs_f64());
    metrics::counter!("haven_store_operations_total", "op" => op, "backend" => backend, "outcome" => outcome)
        .increment(1);
    r
}

/// Times a key operation (data-key wrap or unwrap through the provider).
async fn key_op<T>(
    op: &'static str,
    fut: impl std::future::Future<Output = Result<T, haven_crypto::CryptoError>>,
) -> Result<T, StoreError> {
    let start = std::time::Instant::now();
    let r = fut.await;
    let outcome = if r.is_ok() { "ok" } else { "error" };
    metrics::histogram!("haven_key_operation_seconds", "op" => op).record(start.elapsed().as_secs_f64());
    metrics::counter!("haven_key_operations_total", "op" => op, "outcome" => outcome).increment(1);
    Ok(r?)
}

/// The associated data that binds a ciphertext to its record version.
fn record_aad(rtype: &ResourceType, id: &ResourceId, version: VersionId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + rtype.as_str().len() + id.as_str().len());
    aad.extend_from_slice(b"haven/record/v1\0");
    aad.extend_from_slice(rtype.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.get().to_be_bytes());
    aad
}

impl Store {
    /// A store over `backend`, encrypting with keys from `provider`.
    pub async fn new(backend: Arc<dyn Backend>, provider: Arc<dyn KeyProvider>) -> Result<Self, StoreError> {
        let index_key = provider.blind_index_key().await?;
        Ok(Store { backend, envelope: Envelope::new(provider), index_key, observer: Arc::default() })
    }

    /// Sets the observer of every write from now on (one per store and its
    /// clones); false if one was already set.
    pub fn observe_writes(&self, observer: Arc<dyn WriteObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    fn tell(&self, rtype: &ResourceType, id: &ResourceId, payload: &[u8]) {
        if let Some(o) = self.observer.get() {
            o.written(rtype, id, payload);
        }
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The backend (for backups and tests).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The key provider.
    pub fn key_provider(&self) -> &Arc<dyn KeyProvider> {
        self.envelope.provider()
    }

    /// The HMAC value of a normalised identifier in index `name`.
    pub fn blind_value(&self, rtype: &ResourceType, name: &str, value: &str) -> [u8; 32] {
        // The type is part of the index name so indexes never cross types.
        self.index_key.compute(&format!("{}.{}", rtype.as_str(), name), value).0
    }

    fn index_entries(&self, rtype: &ResourceType, terms: &[IndexTerm]) -> Vec<IndexEntry> {
        terms
            .iter()
            .map(|t| IndexEntry { name: t.name.clone(), value: self.blind_value(rtype, &t.name, &t.value) })
            .collect()
    }

    async fn seal_row(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        version: VersionId,
        payload: &[u8],
    ) -> Result<VersionRow, StoreError> {
        let sealed = key_op("seal", self.envelope.seal(&record_aad(rtype, id, version), payload)).await?;
        Ok(VersionRow {
            rtype: rtype.clone(),
            id: id.clone(),
            version,
            deleted: false,
            last_updated: now_micros(),
            kek_version: sealed.wrapped_key.version().get(),
            wrapped_key: sealed.wrapped_key.as_bytes().to_vec(),
            payload: sealed.ciphertext,
        })
    }

    fn meta(row: &VersionRow) -> RecordMeta {
        RecordMeta {
            rtype: row.rtype.clone(),
            id: row.id.clone(),
            version: row.version,
            last_updated: row.last_updated,
            deleted: row.deleted,
        }
    }

    /// Creates version 1 of a new record; a fresh random id if `id` is `None`.
    pub async fn create(
        &self,
        rtype: &ResourceType,
        id: Option<ResourceId>,
        payload: &[u8],
        terms: &[IndexTerm],
    ) -> Result<RecordMeta, StoreError> {
        observed("create", self.backend.name(), self.create_inner(rtype, id, payload, terms)).await
    }

    async fn create_inner(
        &self,
        rtype: &ResourceType,
        id: Option<ResourceId>,
        payload: &[u8],
        terms: &[IndexTerm],
    ) -> Result<RecordMeta, StoreError> {
        let id = id.unwrap_or_else(ResourceId::random);
        let row = self.seal_row(rtype, &id, VersionId::FIRST, payload).await?;
        match self.backend.write(&row, None, &self.index_entries(rtype, terms)).await {
            Ok(()) => {
                self.tell(rtype, &id, payload);
                Ok(Self::meta(&row))
            }
            Err(StoreError::Race) => Err(StoreError::AlreadyExists),
            Err(e) => Err(e),
        }
    }

    /// Writes a new version. With `if_match`, only if that is the current
    /// version; without, creates the record if it does not exist. Returns
    /// the new version and whether it was created.
    pub async fn update(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
        payload: &[u8],
        terms: &[IndexTerm],
    ) -> Result<(RecordMeta, bool), StoreError> {
        observed("update", self.backend.name(), self.update_inner(rtype, id, if_match, payload, terms)).await
    }

    async fn update_inner(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
        payload: &[u8],
        terms: &[IndexTerm],
    ) -> Result<(RecordMeta, bool), StoreError> {
        let index = self.index_entries(rtype, terms);
        for attempt in 0..MAX_RACE_RETRIES {
            let head = self.backend.head(rtype, id).await?;
            let prev = match (head, if_match) {
                (None, Some(_)) => return Err(StoreError::NotFound),
                (Some(h), Some(expected)) if h.version != expected => {
                    return Err(StoreError::VersionConflict { expected, current: h.version });
                }
                (h, _) => h.map(|h| h.version),
            };
            let version = prev.map(VersionId::next).unwrap_or(VersionId::FIRST);
            let row = self.seal_row(rtype, id, version, payload).await?;
            match self.backend.write(&row, prev, &index).await {
                Ok(()) => {
                    self.tell(rtype, id, payload);
                    return Ok((Self::meta(&row), prev.is_none()));
                }
                Err(StoreError::Race) => race_backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Race)
    }

    /// Deletes a record by writing a deletion version (history is kept).
    /// Deleting a deleted record returns its deletion again.
    pub async fn delete(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> Result<RecordMeta, StoreError> {
        observed("delete", self.backend.name(), self.delete_inner(rtype, id, if_match)).await
    }

    async fn delete_inner(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> Result<RecordMeta, StoreError> {
        for attempt in 0..MAX_RACE_RETRIES {
            let head = self.backend.head(rtype, id).await?.ok_or(StoreError::NotFound)?;
            if let Some(expected) = if_match
                && head.version != expected
            {
                return Err(StoreError::VersionConflict { expected, current: head.version });
            }
            if head.deleted {
                return Ok(RecordMeta {
                    rtype: rtype.clone(),
                    id: id.clone(),
                    version: head.version,
                    last_updated: head.last_updated,
                    deleted: true,
                });
            }
            let row = VersionRow {
                rtype: rtype.clone(),
                id: id.clone(),
                version: head.version.next(),
                deleted: true,
                last_updated: now_micros(),
                kek_version: 0,
                wrapped_key: Vec::new(),
                payload: Vec::new(),
            };
            match self.backend.write(&row, Some(head.version), &[]).await {
                Ok(()) => return Ok(Self::meta(&row)),
                Err(StoreError::Race) => race_backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Race)
    }

    async fn open_row(&self, row: VersionRow) -> Result<Record, StoreError> {
        let meta = Self::meta(&row);
        if row.deleted {
            return Ok(Record { meta, payload: Vec::new() });
        }
        let sealed = SealedRecord { wrapped_key: WrappedKey::from_bytes(row.wrapped_key)?, ciphertext: row.payload };
        let aad = record_aad(&row.rtype, &row.id, row.version);
        let payload = key_op("open", self.envelope.open(&aad, &sealed)).await?;
        Ok(Record { meta, payload })
    }

    /// Erases a record with its whole history and index entries; unlike
    /// [`Store::delete`], nothing of it remains. Returns whether it existed.
    pub async fn purge(&self, rtype: &ResourceType, id: &ResourceId) -> Result<bool, StoreError> {
        observed("purge", self.backend.name(), self.backend.purge(rtype, id)).await
    }

    /// The current version of a record; [`StoreError::Gone`] if deleted.
    pub async fn read(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Record, StoreError> {
        observed("read", self.backend.name(), self.read_inner(rtype, id)).await
    }

    async fn read_inner(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Record, StoreError> {
        // One query: the head joined with its version.
        let row = self.backend.current(rtype, std::slice::from_ref(id)).await?.pop().ok_or(StoreError::NotFound)?;
        if row.deleted {
            return Err(StoreError::Gone { version: row.version });
        }
        self.open_row(row).await
    }

    /// The current versions of those of `ids` that exist and are not
    /// deleted, decrypted, in the order of `ids`.
    pub async fn read_many(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<Record>, StoreError> {
        observed("read_many", self.backend.name(), self.read_many_inner(rtype, ids)).await
    }

    async fn read_many_inner(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<Record>, StoreError> {
        let mut rows: std::collections::HashMap<ResourceId, VersionRow> = self
            .backend
            .current(rtype, ids)
            .await?
            .into_iter()
            .filter(|r| !r.deleted)
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for id in ids {
            if let Some(row) = rows.remove(id) {
                out.push(self.open_row(row).await?);
            }
        }
        Ok(out)
    }

    /// Ids of live records matching every clause: `(index name, normalised
    /// values)`, any value matching; in id order.
    pub async fn search(
        &self,
        rtype: &ResourceType,
        clauses: &[(String, Vec<String>)],
    ) -> Result<Vec<ResourceId>, StoreError> {
        let clauses: Vec<IndexClause> = clauses
            .iter()
            .map(|(name, values)| IndexClause {
                name: name.clone(),
                values: values.iter().map(|v| self.blind_value(rtype, name, v)).collect(),
            })
            .collect();
        observed("search", self.backend.name(), self.backend.search(rtype, &clauses)).await
    }

    /// Writes every item or none, atomically. Preconditions are checked
    /// first: the batch fails with the first item's error. Deleting a
    /// deleted record is a no-op that returns its deletion.
    pub async fn write_batch(&self, items: &[BatchItem]) -> Result<Vec<BatchOutcome>, StoreError> {
        observed("write_batch", self.backend.name(), self.write_batch_inner(items)).await
    }

    async fn write_batch_inner(&self, items: &[BatchItem]) -> Result<Vec<BatchOutcome>, StoreError> {
        let mut seen = std::collections::HashSet::new();
        for it in items {
            if !seen.insert((&it.rtype, &it.id)) {
                return Err(StoreError::Invalid(format!(
                    "{}/{} appears twice in one batch",
                    it.rtype.as_str(),
                    it.id.as_str()
                )));
            }
        }
        let indexes: Vec<Vec<IndexEntry>> = items.iter().map(|it| self.index_entries(&it.rtype, &it.terms)).collect();
        for attempt in 0..MAX_RACE_RETRIES {
            let mut heads: std::collections::HashMap<(ResourceType, ResourceId), Head> =
                std::collections::HashMap::new();
            let mut by_type: BTreeMap<&ResourceType, Vec<ResourceId>> = BTreeMap::new();
            for it in items {
                by_type.entry(&it.rtype).or_default().push(it.id.clone());
            }
            for (rtype, ids) in by_type {
                for (id, h) in self.backend.heads(rtype, &ids).await? {
                    heads.insert((rtype.clone(), id), h);
                }
            }
            let mut ops = Vec::with_capacity(items.len());
            let mut outcomes = Vec::with_capacity(items.len());
            for (it, index) in items.iter().zip(&indexes) {
                let head = heads.get(&(it.rtype.clone(), it.id.clone())).copied();
                match (it.precondition, head) {
                    (Precondition::MustNotExist, Some(_)) => return Err(StoreError::AlreadyExists),
                    (Precondition::Version(_), None) => return Err(StoreError::NotFound),
                    (Precondition::Version(expected), Some(h)) if h.version != expected => {
                        return Err(StoreError::VersionConflict { expected, current: h.version });
                    }
                    _ => {}
                }
                let version = head.map(|h| h.version.next()).unwrap_or(VersionId::FIRST);
                let row = match &it.payload {
                    Some(payload) => self.seal_row(&it.rtype, &it.id, version, payload).await?,
                    None => {
                        let Some(h) = head else { return Err(StoreError::NotFound) };
                        if h.deleted {
                            let meta = RecordMeta {
                                rtype: it.rtype.clone(),
                                id: it.id.clone(),
                                version: h.version,
                                last_updated: h.last_updated,
                                deleted: true,
                            };
                            outcomes.push(BatchOutcome { meta, created: false });
                            continue;
                        }
                        VersionRow {
                            rtype: it.rtype.clone(),
                            id: it.id.clone(),
                            version,
                            deleted: true,
                            last_updated: now_micros(),
                            kek_version: 0,
                            wrapped_key: Vec::new(),
                            payload: Vec::new(),
                        }
                    }
                };
                outcomes.push(BatchOutcome { meta: Self::meta(&row), created: head.is_none() });
                let index = if it.payload.is_some() { index.clone() } else { Vec::new() };
                ops.push(WriteOp { row, expected: head.map(|h| h.version), index });
            }
            match self.backend.write_batch(&ops).await {
                Ok(()) => {
                    for it in items {
                        if let Some(payload) = &it.payload {
                            self.tell(&it.rtype, &it.id, payload);
                        }
                    }
                    return Ok(outcomes);
                }
                Err(StoreError::Race) => race_backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Race)
    }

    /// One version of a record (a deletion version comes back with an empty payload).
    pub async fn vread(&self, rtype: &ResourceType, id: &ResourceId, version: VersionId) -> Result<Record, StoreError> {
        observed("vread", self.backend.name(), self.vread_inner(rtype, id, version)).await
    }

    async fn vread_inner(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> Result<Record, StoreError> {
        let row = self.backend.get(rtype, id, version).await?.ok_or(StoreError::NotFound)?;
        self.open_row(row).await
    }

    /// The newest version's metadata.
    pub async fn head(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Option<Head>, StoreError> {
        self.backend.head(rtype, id).await
    }

    /// The heads of those of `ids` that exist.
    pub async fn heads(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<(ResourceId, Head)>, StoreError> {
        self.backend.heads(rtype, ids).await
    }

    /// Every version, newest first, decrypted.
    pub async fn history(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Vec<Record>, StoreError> {
        observed("history", self.backend.name(), self.history_inner(rtype, id)).await
    }

    async fn history_inner(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Vec<Record>, StoreError> {
        let rows = self.backend.history(rtype, id).await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.open_row(row).await?);
        }
        Ok(out)
    }

    /// Ids of live records whose identifier `name` equals the normalised `value`.
    pub async fn find(&self, rtype: &ResourceType, name: &str, value: &str) -> Result<Vec<ResourceId>, StoreError> {
        observed("find", self.backend.name(), self.find_inner(rtype, name, value)).await
    }

    async fn find_inner(&self, rtype: &ResourceType, name: &str, value: &str) -> Result<Vec<ResourceId>, StoreError> {
        self.backend.find(rtype, name, &self.blind_value(rtype, name, value)).await
    }

    /// Live records in (type, id) order, for scans and exports.
    pub async fn list(
        &self,
        rtype: Option<&ResourceType>,
        after: Option<(&ResourceType, &ResourceId)>,
        limit: u32,
    ) -> Result<Vec<(ResourceType, ResourceId, Head)>, StoreError> {
        self.backend.list(rtype, after, limit).await
    }

    /// How many stored versions each KEK version wraps.
    pub async fn kek_usage(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        Ok(self.backend.kek_usage().await?.into_iter().collect())
    }

    /// Re-wraps every data key that is not under the active KEK, `batch`
    /// rows at a time, while the store keeps serving. Payloads are not
    /// touched. A row that cannot be unwrapped is reported, not fatal.
    pub async fn rewrap_all(&self, batch: u32) -> Result<RewrapReport, StoreError> {
        let mut report = RewrapReport::default();
        // Rows changed concurrently (the replace found a different key) are
        // caught by another pass; a pass with no such race is the last.
        loop {
            let active = self.key_provider().active_version().await?.get();
            let mut cursor: Option<KeyRow> = None;
            let mut raced = 0u64;
            loop {
                let rows = self.backend.rewrap_candidates(active, cursor.as_ref(), batch.max(1)).await?;
                let Some(last) = rows.last().cloned() else { break };
                for row in &rows {
                    let KeyRow { rtype, id, version, wrapped_key } = row;
                    let aad = record_aad(rtype, id, *version);
                    let rewrapped = match WrappedKey::from_bytes(wrapped_key.clone()) {
                        Ok(w) => key_op("rewrap", self.envelope.rewrap(&aad, &w)).await.map_err(|e| match e {
                            StoreError::Crypto(c) => c,
                            other => haven_crypto::CryptoError::Provider(other.to_string()),
                        }),
                        Err(e) => Err(e),
                    };
                    match rewrapped {
                        Ok(new) => {
                            if self.backend.replace_wrapped_key(row, new.as_bytes(), new.version().get()).await? {
                                report.rewrapped += 1;
                            } else {
                                raced += 1;
                            }
                        }
                        Err(e) => {
                            let known = report.failed.iter().any(|f| (&f.0, &f.1, f.2) == (rtype, id, *version));
                            if !known {
                                report.failed.push((rtype.clone(), id.clone(), *version, e.to_string()));
                            }
                        }
                    }
                }
                cursor = Some(last);
            }
            if raced == 0 {
                return Ok(report);
            }
        }
    }

    /// Checks the database and the key provider (for `/readyz`).
    pub async fn check(&self) -> Result<(), StoreError> {
        self.backend.ping().await?;
        self.key_provider().check().await?;
        Ok(())
    }
}
