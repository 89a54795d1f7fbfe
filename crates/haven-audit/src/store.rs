//! Where records live: the [`AuditStore`] trait and its SQLite and
//! PostgreSQL implementations.
//!
//! Each append is one transaction under a writer lock (SQLite's write lock,
//! PostgreSQL's advisory lock) that reads the head, chains the new records
//! to it and commits them with any checkpoint due. The chain never depends
//! on the wall clock: sequence numbers come from the head alone.

mod migrate;
mod pg;
mod postings;
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;

use crate::chain::{GENESIS, Hash, Signer, hash_record};
use crate::record::{Event, Outcome, RECORD_VERSION, Record};
use crate::{AuditError, Checkpoint};

pub use pg::PgAuditStore;
pub use sqlite::{DEFAULT_SEGMENT_BITS, SqliteAuditStore, index_path as sqlite_index_path};

/// A record as stored: its sequence number and canonical bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// The sequence number the row is stored under.
    pub seq: u64,
    /// The canonical encoding (see [`Record::encode`]).
    pub bytes: Vec<u8>,
}

/// A search of the log. Filters combine with AND; unset filters match all.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Records that touched this patient's compartment.
    pub patient: Option<String>,
    /// The actor's id (`account:..`), or the FHIR resource it is linked to (`Practitioner/..`).
    pub actor: Option<String>,
    /// The action; a value ending in `.` (such as `fhir.`) matches every action it begins.
    pub action: Option<String>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// Event time at or after this, unix microseconds.
    pub since: Option<i64>,
    /// Event time before this, unix microseconds.
    pub until: Option<i64>,
    /// Sequence numbers after this.
    pub after_seq: Option<u64>,
    /// Sequence numbers before this.
    pub before_seq: Option<u64>,
    /// At most this many records (0 means [`AuditQuery::DEFAULT_LIMIT`]).
    pub limit: usize,
    /// Newest (highest sequence number) first.
    pub newest_first: bool,
}

impl AuditQuery {
    /// The limit used when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 100;
}

/// When the writer signs a checkpoint: after this many records, or this much time.
#[derive(Clone, Debug)]
pub struct CheckpointPolicy {
    /// Records since the last checkpoint that make one due.
    pub every_records: u64,
    /// Time since the last checkpoint that makes one due (if records were added).
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy { every_records: 1000, every: Duration::from_secs(10) }
    }
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The first new record's sequence number (the head's, if none was added).
    pub first_seq: u64,
    /// The last new record's sequence number (the head's, if none was added).
    pub last_seq: u64,
    /// The checkpoint signed in the same transaction, if one was due.
    pub checkpoint: Option<Checkpoint>,
}

/// What a prune did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneReport {
    /// Records deleted.
    pub removed: u64,
    /// The checkpoint the log now starts after (None if never pruned).
    pub anchor: Option<Checkpoint>,
}

/// Durable storage of the audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends `events` as the next records, in order, in one transaction, and
    /// signs a checkpoint for the new head if one is due under `policy` or
    /// `force_checkpoint` is set (and the head is past the last checkpoint).
    async fn append(
        &self,
        events: Vec<Event>,
        signer: &Signer,
        policy: &CheckpointPolicy,
        force_checkpoint: bool,
    ) -> Result<AppendResult, AuditError>;

    /// The newest record.
    async fn head(&self) -> Result<Option<StoredRecord>, AuditError>;

    /// Up to `limit` records with sequence numbers above `after_seq`, ascending.
    async fn records(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredRecord>, AuditError>;

    /// Up to `limit` checkpoints for sequence numbers above `after_seq`, ascending.
    async fn checkpoints(&self, after_seq: u64, limit: usize) -> Result<Vec<Checkpoint>, AuditError>;

    /// The newest checkpoint for a sequence number at or before `seq`.
    async fn checkpoint_at_or_before(&self, seq: u64) -> Result<Option<Checkpoint>, AuditError>;

    /// The newest checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError>;

    /// Records matching `q`, in sequence order (descending if `newest_first`).
    async fn search(&self, q: &AuditQuery) -> Result<Vec<StoredRecord>, AuditError>;

    /// The checkpoint the log starts after once pruned; None if never pruned.
    async fn anchor(&self) -> Result<Option<Checkpoint>, AuditError>;

    /// Retention: makes the newest checkpoint signed before `before_time`
    /// (unix microseconds) the anchor and deletes the records up to it.
    async fn prune(&self, before_time: i64) -> Result<PruneReport, AuditError>;

    /// How many records are stored.
    async fn count(&self) -> Result<u64, AuditError>;

    /// Brings the search indexes up to the head (searches do it first; the
    /// writer also runs it on its timer so that searches find little to do).
    async fn index(&self) -> Result<(), AuditError>;

    /// Background upkeep, run by the writer on a timer off the append path:
    /// the search indexes, and whatever else the backend needs.
    async fn maintain(&self) -> Result<(), AuditError> {
        self.index().await
    }
}

/// Rows per multi-row INSERT at most: 7 values each stays far below both
/// databases' limits on bound parameters.
const MAX_CHUNK: usize = 512;

/// Below this many rows a statement holds exactly the rows given: the
/// small batches of a busy server's group commit take one statement each.
const EXACT_CHUNK: usize = 32;

/// Splits `n` rows into statement sizes drawn from a fixed set (every size
/// up to `EXACT_CHUNK`, then `MAX_CHUNK` and the powers of two below it), so
/// every statement is a cached prepared one instead of new SQL per batch size.
pub(crate) fn chunk_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let take = if n >= MAX_CHUNK {
            MAX_CHUNK
        } else if n <= EXACT_CHUNK {
            n
        } else {
            1 << n.ilog2()
        };
        n -= take;
        Some(take)
    })
}

/// The last record before an append: its sequence number and hash.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tip {
    pub seq: u64,
    pub hash: Hash,
}

impl Tip {
    /// The tip of an empty log: the anchor checkpoint if pruned, else genesis.
    pub fn after(anchor: Option<&Checkpoint>) -> Result<Tip, AuditError> {
        match anchor {
            None => Ok(Tip { seq: 0, hash: GENESIS }),
            Some(cp) => Ok(Tip { seq: cp.seq, hash: parse_hash(&cp.hash)? }),
        }
    }
}

/// Parses a 64-character hex hash.
pub(crate) fn parse_hash(s: &str) -> Result<Hash, AuditError> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h)
        .map_err(|_| AuditError::Corrupt("a checkpoint hash is not 64 hex digits".into()))?;
    Ok(h)
}

/// One row of `audit_log`, ready to insert.
pub(crate) struct Row {
    pub seq: i64,
    pub time: i64,
    pub actor: String,
    pub fhir_actor: Option<String>,
    pub action: String,
    pub outcome: &'static str,
    pub bytes: Vec<u8>,
}

/// One statement's worth of rows. Their search-index rows are added later
/// by the indexer ([`index_rows`]), outside the append's commit.
pub(crate) struct Batch {
    pub rows: Vec<Row>,
}

/// The search-index rows of stored records, each list sorted by key (so
/// consecutive inserts land on the same B-tree pages): `(patient, seq)` and
/// `(actor, seq)` (the actor's id and its FHIR reference).
pub(crate) fn index_rows(records: &[(i64, Vec<u8>)]) -> Result<IndexRows, AuditError> {
    #[derive(serde::Deserialize)]
    struct Keys {
        actor: KeyActor,
        #[serde(default)]
        patients: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct KeyActor {
        id: String,
        #[serde(default)]
        fhir: Option<String>,
    }
    let mut out = IndexRows::default();
    for (seq, bytes) in records {
        let k: Keys = serde_json::from_slice(bytes)
            .map_err(|e| AuditError::Corrupt(format!("record {seq} cannot be indexed: {e}")))?;
        out.patients.extend(k.patients.into_iter().map(|p| (p, *seq)));
        out.actors.push((k.actor.id, *seq));
        if let Some(f) = k.actor.fhir {
            out.actors.push((f, *seq));
        }
    }
    out.patients.sort_unstable();
    out.patients.dedup();
    out.actors.sort_unstable();
    out.actors.dedup();
    Ok(out)
}

/// Index rows for a range of records.
#[derive(Default)]
pub(crate) struct IndexRows {
    pub patients: Vec<(String, i64)>,
    pub actors: Vec<(String, i64)>,
}

/// Records the indexer takes per transaction.
pub(crate) const INDEX_BATCH: i64 = 250;

/// Chains the next `n` events after `tip` (advancing it): numbers, links,
/// encodes and hashes them.
pub(crate) fn build_batch(
    events: &mut impl Iterator<Item = Event>,
    n: usize,
    tip: &mut Tip,
) -> Result<Batch, AuditError> {
    let mut rows = Vec::with_capacity(n);
    for mut event in events.take(n) {
        event.normalise();
        let seq = tip.seq + 1;
        let record = Record { v: RECORD_VERSION, seq, prev: hex::encode(tip.hash), event };
        let bytes = record.encode();
        if bytes.is_empty() {
            return Err(AuditError::Malformed(format!("record {seq} could not be encoded")));
        }
        *tip = Tip { seq, hash: hash_record(&bytes) };
        let db_seq = seq_to_db(seq)?;
        // The strings move from the event into the columns: no copies.
        let e = record.event;
        rows.push(Row {
            seq: db_seq,
            time: e.time,
            actor: e.actor.id,
            fhir_actor: e.actor.fhir,
            action: e.action,
            outcome: e.outcome.as_str(),
            bytes,
        });
    }
    Ok(Batch { rows })
}

/// Whether a checkpoint is due for `head`, given the last one (seq, time).
pub(crate) fn checkpoint_due(
    policy: &CheckpointPolicy,
    force: bool,
    head: u64,
    last: Option<(u64, i64)>,
    now: i64,
) -> bool {
    let (last_seq, last_time) = last.unwrap_or((0, i64::MIN));
    if head <= last_seq {
        return false;
    }
    if force || head - last_seq >= policy.every_records.max(1) {
        return true;
    }
    let every = i64::try_from(policy.every.as_micros()).unwrap_or(i64::MAX);
    // A clock that moved backwards must not stall signing.
    now.saturating_sub(last_time) >= every || now < last_time
}

pub(crate) fn seq_to_db(seq: u64) -> Result<i64, AuditError> {
    i64::try_from(seq).map_err(|_| AuditError::Corrupt(format!("sequence number {seq} out of range")))
}

pub(crate) fn seq_from_db(seq: i64) -> Result<u64, AuditError> {
    u64::try_from(seq).map_err(|_| AuditError::Corrupt(format!("negative sequence number {seq} in the database")))
}

/// `limit` as an SQL LIMIT.
pub(crate) fn limit_to_db(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A value bound into a dynamically built query.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// The SQL of a search, with `?` or `$n` placeholders, and its values.
pub(crate) struct SearchSql {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// Builds the search statement; `numbered` selects PostgreSQL's `$n`
/// placeholders, and `idx` is the schema prefix of the index tables (`idx.`
/// where they live in an attached file).
pub(crate) fn search_sql(q: &AuditQuery, numbered: bool, idx: &str) -> Result<SearchSql, AuditError> {
    let mut sql = String::from("SELECT l.seq, l.record FROM ");
    let mut binds = Vec::new();
    let ph = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        if numbered { format!("${}", binds.len()) } else { "?".to_string() }
    };
    // With a patient, walk the patient index in seq order and join the log.
    let s = if let Some(p) = &q.patient {
        let p = ph(&mut binds, Bind::Text(p.clone()));
        sql.push_str(&format!("{idx}audit_patient p JOIN audit_log l ON l.seq = p.seq WHERE p.patient = {p}"));
        "p.seq"
    } else {
        sql.push_str("audit_log l WHERE 1 = 1");
        "l.seq"
    };
    if let Some(a) = &q.actor {
        let a1 = ph(&mut binds, Bind::Text(a.clone()));
        sql.push_str(&format!(" AND l.seq IN (SELECT seq FROM {idx}audit_actor WHERE actor = {a1})"));
    }
    if let Some(a) = &q.action {
        if a.ends_with('.') {
            let n = a.chars().count();
            let p = ph(&mut binds, Bind::Text(a.clone()));
            sql.push_str(&format!(" AND substr(l.action, 1, {n}) = {p}"));
        } else {
            let p = ph(&mut binds, Bind::Text(a.clone()));
            sql.push_str(&format!(" AND l.action = {p}"));
        }
    }
    if let Some(o) = q.outcome {
        let p = ph(&mut binds, Bind::Text(o.as_str().to_string()));
        sql.push_str(&format!(" AND l.outcome = {p}"));
    }
    if let Some(t) = q.since {
        let p = ph(&mut binds, Bind::Int(t));
        sql.push_str(&format!(" AND l.time >= {p}"));
    }
    if let Some(t) = q.until {
        let p = ph(&mut binds, Bind::Int(t));
        sql.push_str(&format!(" AND l.time < {p}"));
    }
    if let Some(a) = q.after_seq {
        let p = ph(&mut binds, Bind::Int(i64::try_from(a).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" AND {s} > {p}"));
    }
    if let Some(b) = q.before_seq {
        let p = ph(&mut binds, Bind::Int(i64::try_from(b).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" AND {s} < {p}"));
    }
    let limit = if q.limit == 0 { AuditQuery::DEFAULT_LIMIT } else { q.limit };
    let dir = if q.newest_first { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY {s} {dir} LIMIT {}", limit_to_db(limit)));
    Ok(SearchSql { sql, binds })
}

/// A checkpoint row's columns.
pub(crate) fn checkpoint_from(
    seq: i64,
    time: i64,
    hash: String,
    key_id: String,
    signature: String,
) -> Result<Checkpoint, AuditError> {
    Ok(Checkpoint { seq: seq_from_db(seq)?, hash, time, key_id, signature })
}

/// Checks the records a prune is about to delete: they must chain from the
/// current anchor (or genesis) to the new anchor checkpoint. Pruning must
/// never destroy the evidence of tampering.
pub(crate) struct PruneCheck {
    next: u64,
    last: Hash,
}

impl PruneCheck {
    pub fn new(anchor: Option<&Checkpoint>) -> Result<Self, AuditError> {
        let tip = Tip::after(anchor)?;
        Ok(PruneCheck { next: tip.seq + 1, last: tip.hash })
    }

    /// The seq after which to read the next page.
    pub fn after(&self) -> u64 {
        self.next - 1
    }

    pub fn push(&mut self, seq: u64, bytes: &[u8]) -> Result<(), AuditError> {
        match crate::verify::parse_prefix(bytes) {
            Some((s, prev)) if s == seq && seq == self.next && prev == self.last => {
                self.next += 1;
                self.last = hash_record(bytes);
                Ok(())
            }
            _ => Err(AuditError::Corrupt(format!(
                "the chain breaks at record {}; verify the log before pruning",
                self.next
            ))),
        }
    }

    pub fn finish(self, cp: &Checkpoint) -> Result<(), AuditError> {
        if self.next != cp.seq + 1 || hex::encode(self.last) != cp.hash {
            return Err(AuditError::Corrupt(format!(
                "record {} does not match its checkpoint; verify the log before pruning",
                cp.seq
            )));
        }
        Ok(())
    }
}

/// The checkpoint a prune before a cut-off time anchors to (parameters: 1,
/// the current anchor's seq; 2, the cut-off): the newest checkpoint signed
/// before the cut-off that no checkpoint signed at or after it precedes. Age
/// is read from checkpoint times, and a clock that went backwards must not
/// let a prune reach past a checkpoint that is recent.
pub(crate) fn prune_anchor_sql(numbered: bool) -> String {
    let (floor, cut) = if numbered { ("$1", "$2") } else { ("?1", "?2") };
    format!(
        "SELECT seq, time, hash, key_id, signature FROM audit_checkpoint \
         WHERE seq > {floor} AND time < {cut} AND seq < coalesce(\
           (SELECT min(seq) FROM audit_checkpoint WHERE seq > {floor} AND time >= {cut}), 9223372036854775807) \
         ORDER BY seq DESC LIMIT 1"
    )
}

/// Rows per page when a prune checks what it deletes.
pub(crate) const PRUNE_PAGE: i64 = 10_000;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::Actor;

    #[test]
    fn chunk_sizes_cover_and_come_from_a_fixed_set() {
        for n in [0usize, 1, 2, 3, 7, 511, 512, 513, 2000, 4097] {
            let sizes: Vec<usize> = chunk_sizes(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| (s.is_power_of_two() || *s <= EXACT_CHUNK) && *s <= MAX_CHUNK));
            assert!(n > EXACT_CHUNK || sizes.len() <= 1, "a small batch is one statement");
        }
    }

    #[test]
    fn batch_chains_records() {
        let events: Vec<Event> = (0..3)
            .map(|i| {
                let mut e = Event::new(
                    Actor { id: format!("account:{i}"), fhir: Some("Practitioner/x".into()), ..Default::default() },
                    "fhir.read",
                    Outcome::Success,
                );
                e.patients = vec!["b".into(), "a".into(), "a".into()];
                e
            })
            .collect();
        let mut tip = Tip { seq: 0, hash: GENESIS };
        let b = build_batch(&mut events.into_iter(), 5, &mut tip).unwrap();
        assert_eq!(b.rows.len(), 3);
        assert_eq!(tip.seq, 3);
        let stored: Vec<(i64, Vec<u8>)> = b.rows.iter().map(|r| (r.seq, r.bytes.clone())).collect();
        let idx = index_rows(&stored).unwrap();
        assert_eq!(idx.patients.len(), 6, "patients are de-duplicated per record");
        assert_eq!(idx.patients[0], ("a".to_string(), 1));
        assert_eq!(idx.actors.len(), 6, "each record's account id and its FHIR reference");
        let mut prev = GENESIS;
        for (i, r) in b.rows.iter().enumerate() {
            let rec = Record::decode(&r.bytes).unwrap();
            assert_eq!(rec.seq, i as u64 + 1);
            assert_eq!(rec.prev, hex::encode(prev));
            assert_eq!(r.fhir_actor.as_deref(), Some("Practitioner/x"));
            prev = hash_record(&r.bytes);
        }
        assert_eq!(tip.hash, prev);
    }

    #[test]
    fn checkpoint_rules() {
        let p = CheckpointPolicy { every_records: 10, every: Duration::from_secs(1) };
        // Nothing new: never, even forced.
        assert!(!checkpoint_due(&p, true, 5, Some((5, 0)), 0));
        assert!(!checkpoint_due(&p, true, 0, None, 0));
        // First records ever: yes.
        assert!(checkpoint_due(&p, false, 1, None, 0));
        assert!(checkpoint_due(&p, true, 6, Some((5, 0)), 0));
        assert!(checkpoint_due(&p, false, 15, Some((5, 0)), 0));
        assert!(!checkpoint_due(&p, false, 14, Some((5, 0)), 999_999));
        assert!(checkpoint_due(&p, false, 14, Some((5, 0)), 1_000_000));
        // The clock went backwards.
        assert!(checkpoint_due(&p, false, 6, Some((5, 1_000)), 10));
    }

    #[test]
    fn search_sql_shapes() {
        let q = AuditQuery {
            patient: Some("p1".into()),
            actor: Some("account:1".into()),
            action: Some("fhir.".into()),
            outcome: Some(Outcome::Denied),
            since: Some(1),
            until: Some(2),
            after_seq: Some(3),
            before_seq: Some(4),
            limit: 0,
            newest_first: true,
        };
        let s = search_sql(&q, true, "").unwrap();
        assert_eq!(s.binds.len(), 8);
        assert!(s.sql.contains("$8") && s.sql.contains("audit_actor"), "{}", s.sql);
        assert!(s.sql.contains("substr(l.action, 1, 5)"), "{}", s.sql);
        assert!(s.sql.ends_with("ORDER BY p.seq DESC LIMIT 100"), "{}", s.sql);
        let s = search_sql(&AuditQuery { limit: 5, ..Default::default() }, false, "idx.").unwrap();
        assert_eq!(s.sql, "SELECT l.seq, l.record FROM audit_log l WHERE 1 = 1 ORDER BY l.seq ASC LIMIT 5");
    }
}
