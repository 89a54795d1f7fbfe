//! The backend trait: rows in, rows out. Backends see ciphertext, HMACs,
//! ids, versions and times; nothing else.

use std::path::Path;

use async_trait::async_trait;
use haven_core::{ResourceId, ResourceType, VersionId};

use crate::StoreError;

/// One stored version of a record, as the backend holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    /// Record type.
    pub rtype: ResourceType,
    /// Record id.
    pub id: ResourceId,
    /// Version (1, 2, ...).
    pub version: VersionId,
    /// Whether this version is a deletion marker.
    pub deleted: bool,
    /// Unix microseconds.
    pub last_updated: i64,
    /// KEK version of `wrapped_key` (0 for deletion markers).
    pub kek_version: u32,
    /// The wrapped data key (empty for deletion markers).
    pub wrapped_key: Vec<u8>,
    /// The sealed payload (empty for deletion markers).
    pub payload: Vec<u8>,
}

/// The newest version of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Newest version.
    pub version: VersionId,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// Unix microseconds.
    pub last_updated: i64,
}

/// A blind-index entry: index name and HMAC value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// e.g. `phone`.
    pub name: String,
    /// HMAC-SHA-256 of the normalised value.
    pub value: [u8; 32],
}

/// One write of an atomic batch: append `row` as the new head if the head
/// is `expected` (`None`: the record must not exist), and replace the
/// record's blind index entries with `index`.
#[derive(Clone, Debug)]
pub struct WriteOp {
    /// The new version.
    pub row: VersionRow,
    /// The head it replaces.
    pub expected: Option<VersionId>,
    /// The record's index entries after the write.
    pub index: Vec<IndexEntry>,
}

/// One clause of an index search: index `name` has any of `values`.
#[derive(Clone, Debug)]
pub struct IndexClause {
    /// Index name.
    pub name: String,
    /// HMAC values, any of which matches.
    pub values: Vec<[u8; 32]>,
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's bind limits.
pub(crate) const CHUNK: usize = 500;

/// A wrapped data key and the row it belongs to (for key rotation).
#[derive(Clone, Debug)]
pub struct KeyRow {
    /// Record type.
    pub rtype: ResourceType,
    /// Record id.
    pub id: ResourceId,
    /// Version.
    pub version: VersionId,
    /// The wrapped key as stored.
    pub wrapped_key: Vec<u8>,
}

/// A storage backend. Every method is atomic on its own.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name: `sqlite` or `postgres`.
    fn name(&self) -> &'static str;

    /// The newest version of a record, if any.
    async fn head(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Option<Head>, StoreError>;

    /// Appends `row` as the new head if the current head is `expected`
    /// (`None`: the record must not exist), and replaces the record's blind
    /// index entries with `index`. Fails with [`StoreError::Race`] when the
    /// head moved. Durable when it returns.
    async fn write(
        &self,
        row: &VersionRow,
        expected: Option<VersionId>,
        index: &[IndexEntry],
    ) -> Result<(), StoreError> {
        self.write_batch(&[WriteOp { row: row.clone(), expected, index: index.to_vec() }]).await
    }

    /// Applies every write or none (one database transaction). Fails with
    /// [`StoreError::Race`] when any head moved. A record appears at most
    /// once per batch. Durable when it returns.
    async fn write_batch(&self, ops: &[WriteOp]) -> Result<(), StoreError>;

    /// The newest version of each of `ids` that exists (deletion markers included).
    async fn current(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<VersionRow>, StoreError>;

    /// The heads of those of `ids` that exist.
    async fn heads(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<(ResourceId, Head)>, StoreError>;

    /// Ids of live records of `rtype` matching every clause, in id order.
    async fn search(&self, rtype: &ResourceType, clauses: &[IndexClause]) -> Result<Vec<ResourceId>, StoreError>;

    /// One version of a record.
    async fn get(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> Result<Option<VersionRow>, StoreError>;

    /// Erases a record: every version, its head and its index entries, in
    /// one transaction (for data that must not outlive its retention, such
    /// as agent conversations). Returns whether there was anything to erase.
    async fn purge(&self, rtype: &ResourceType, id: &ResourceId) -> Result<bool, StoreError>;

    /// All versions of a record, newest first.
    async fn history(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Vec<VersionRow>, StoreError>;

    /// Ids of live records of `rtype` whose index `name` has `value`.
    async fn find(&self, rtype: &ResourceType, name: &str, value: &[u8; 32]) -> Result<Vec<ResourceId>, StoreError>;

    /// Live records of `rtype` (all types if `None`) in (type, id) order,
    /// after the given position, at most `limit`.
    async fn list(
        &self,
        rtype: Option<&ResourceType>,
        after: Option<(&ResourceType, &ResourceId)>,
        limit: u32,
    ) -> Result<Vec<(ResourceType, ResourceId, Head)>, StoreError>;

    /// How many stored versions each KEK version wraps.
    async fn kek_usage(&self) -> Result<Vec<(u32, u64)>, StoreError>;

    /// Up to `limit` rows, in (type, id, version) order after `after`, whose
    /// key is wrapped under a KEK version other than `active`.
    async fn rewrap_candidates(
        &self,
        active: u32,
        after: Option<&KeyRow>,
        limit: u32,
    ) -> Result<Vec<KeyRow>, StoreError>;

    /// Replaces a wrapped key if it is still `old`; false if it changed meanwhile.
    async fn replace_wrapped_key(&self, row: &KeyRow, new_key: &[u8], new_kek: u32) -> Result<bool, StoreError>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Writes a consistent snapshot of the database to `dest` while it serves.
    async fn backup(&self, dest: &Path) -> Result<(), StoreError>;
}

/// A row as the database returned it, before its columns are checked.
pub(crate) struct RawRow {
    pub rtype: String,
    pub id: String,
    pub version: i64,
    pub deleted: bool,
    pub last_updated: i64,
    pub kek_version: i64,
    pub wrapped_key: Vec<u8>,
    pub payload: Vec<u8>,
}

impl TryFrom<RawRow> for VersionRow {
    type Error = StoreError;

    fn try_from(r: RawRow) -> Result<Self, StoreError> {
        let (rtype, id) = parse_key(r.rtype, r.id)?;
        Ok(VersionRow {
            rtype,
            id,
            version: version_from_db(r.version)?,
            deleted: r.deleted,
            last_updated: r.last_updated,
            kek_version: u32::try_from(r.kek_version).map_err(|_| StoreError::Corrupt("kek_version".into()))?,
            wrapped_key: r.wrapped_key,
            payload: r.payload,
        })
    }
}

pub(crate) fn version_from_db(v: i64) -> Result<VersionId, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(|v| VersionId::new(v).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("version {v}")))
}

pub(crate) fn version_to_db(v: VersionId) -> i64 {
    // VersionId is at most i64::MAX by construction.
    i64::try_from(v.get()).unwrap_or(i64::MAX)
}

pub(crate) fn parse_key(rtype: String, id: String) -> Result<(ResourceType, ResourceId), StoreError> {
    Ok((
        ResourceType::parse(&rtype).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ResourceId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    ))
}
