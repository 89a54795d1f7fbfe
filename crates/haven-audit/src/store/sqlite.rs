//! The audit log in its own SQLite file: WAL, `synchronous=FULL` (an
//! acknowledged append survives a crash or power loss), one writer
//! connection and a small pool of readers.
//!
//! Nothing but appends takes the log's write lock: the search index lives in
//! a second file (`audit-index.db`) with a connection of its own, written a
//! segment of records at a time ([`super::postings`]), and the WAL is copied
//! into the database file by a passive checkpoint from a third connection
//! when the log is idle or the WAL has grown large ([`AuditStore::maintain`]),
//! never inside an append's commit.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::postings::{self, Keys};
use super::{
    AppendResult, AuditQuery, AuditStore, Batch, Bind, CheckpointPolicy, PRUNE_PAGE, PruneCheck, PruneReport,
    Row as LogRow, StoredRecord, Tip, build_batch, checkpoint_due, checkpoint_from, chunk_sizes, limit_to_db,
    prune_anchor_sql, search_sql, seq_from_db, seq_to_db,
};
use crate::chain::{Signer, hash_record};
use crate::record::{Event, now_micros};
use crate::{AuditError, Checkpoint};

const CP_COLS: &str = "seq, time, hash, key_id, signature";

const HEAD_AND_CHECKPOINT: &str = "SELECT \
     (SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), \
     (SELECT record FROM audit_log ORDER BY seq DESC LIMIT 1), \
     (SELECT seq FROM audit_checkpoint ORDER BY seq DESC LIMIT 1), \
     (SELECT time FROM audit_checkpoint ORDER BY seq DESC LIMIT 1)";

/// The audit log in a SQLite database file of its own.
#[derive(Clone, Debug)]
pub struct SqliteAuditStore {
    writer: SqlitePool,
    /// Read-only connections to the log.
    readers: SqlitePool,
    /// Reads pages of records for verification and export, off the driver.
    pages: Arc<PageReader>,
    /// The index file's one connection.
    indexer: SqlitePool,
    /// Runs passive WAL checkpoints of the log, off the append path.
    checkpointer: SqlitePool,
    /// Index segments hold 2^bits records.
    segment_bits: u32,
    /// Record bytes appended through this store since the WAL was last
    /// copied, and appends at the last upkeep (to tell when the log is idle).
    pending: Arc<Pending>,
    /// The head as this store last wrote or read it; appends through this
    /// store take it in turn.
    known: Arc<tokio::sync::Mutex<Option<Known>>>,
}

/// Records per index segment by default (2^14 = 16,384): a search reads at
/// most that many unindexed records directly.
pub const DEFAULT_SEGMENT_BITS: u32 = 14;

/// Past this many bytes appended the WAL is copied into the database even
/// while appends go on; below it, only when the log is idle.
const WAL_CHECKPOINT_BYTES: u64 = 64 << 20;

/// The head of the log and its last checkpoint `(seq, time)`.
#[derive(Clone, Copy, Debug)]
struct Known {
    tip: Tip,
    last_cp: Option<(u64, i64)>,
}

/// What this store appended that the database file does not hold yet.
#[derive(Debug, Default)]
struct Pending {
    bytes: AtomicU64,
    appends: AtomicU64,
    appends_seen: AtomicU64,
}

/// The schema of the index file: derived data, rebuilt from the log when
/// missing or made for another log. `seq` is the last record indexed (the
/// end of a segment), `floor` how far pruning has removed postings.
const INDEX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_postings (
    kind    INTEGER NOT NULL,
    key     TEXT    NOT NULL,
    segment INTEGER NOT NULL,
    seqs    BLOB    NOT NULL,
    PRIMARY KEY (kind, key, segment)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_indexed (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    log_id       TEXT    NOT NULL,
    segment_bits INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    floor        INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_postings_no_update BEFORE UPDATE ON audit_postings
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_postings_no_delete BEFORE DELETE ON audit_postings
WHEN OLD.segment >= (SELECT floor FROM audit_indexed WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
";

/// The index file beside the log: `audit.db` -> `audit-index.db`.
pub fn index_path(log: &Path) -> PathBuf {
    let stem = log.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match log.extension() {
        Some(ext) => format!("{stem}-index.{}", ext.to_string_lossy()),
        None => format!("{stem}-index"),
    };
    log.with_file_name(name)
}

/// Creates `path` (mode 0600) if missing, before SQLite does, so that it is
/// never readable by others, not even briefly; SQLite gives the WAL and
/// shared-memory files the database file's mode.
fn create_private(path: &Path) -> Result<(), AuditError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| AuditError::Io(format!("cannot create {}: {e}", path.display())))
}

impl SqliteAuditStore {
    /// Opens (creating if needed, mode 0600) the database at `path` and
    /// migrates it; opens or rebuilds its index file beside it.
    pub async fn open(path: &Path) -> Result<Self, AuditError> {
        Self::open_with_segments(path, DEFAULT_SEGMENT_BITS).await
    }

    /// [`SqliteAuditStore::open`] with index segments of 2^`bits` records
    /// (1 to 16; tests use small ones). An index built with another size is rebuilt.
    pub async fn open_with_segments(path: &Path, bits: u32) -> Result<Self, AuditError> {
        if !(1..=16).contains(&bits) {
            return Err(AuditError::Malformed(format!("index segments of 2^{bits} records are not supported")));
        }
        create_private(path)?;
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // Several processes may share the file; appends wait for each other.
            .busy_timeout(Duration::from_secs(30));
        // A larger page cache keeps the pages that appends touch in memory.
        // The statement journal of a multi-row insert stays in memory instead
        // of a temporary file (measured: appends 15.7k -> 21k records/s, p99
        // wait 7.2 -> 5.4 ms with 256 submitters on this machine's disk).
        // No automatic WAL checkpoint: the commit that crossed the threshold
        // would copy the WAL into the database and sync it before answering
        // (p99 wait 3.9 -> 1.3 ms at 10k records/s); `maintain` does it.
        // The WAL file is never cut back: once copied, it is overwritten from
        // its beginning, and a sync of blocks the file already has is cheaper
        // than one that also grows it.
        let writer_opts = opts
            .clone()
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", "0");
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_opts)
            .await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        super::migrate::sqlite(&mut tx).await?;
        let log_id: String =
            sqlx::query_scalar("SELECT log_id FROM audit_meta WHERE id = 1").fetch_one(&mut *tx).await?;
        let head: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        let checkpointer =
            SqlitePoolOptions::new().test_before_acquire(false).max_connections(1).connect_with(opts.clone()).await?;

        let idx_path = index_path(path);
        let indexer = open_index(&idx_path, &log_id, head.unwrap_or(0), bits).await?;
        let readers = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        restrict_permissions(path);
        restrict_permissions(&idx_path);
        Ok(SqliteAuditStore {
            writer,
            readers,
            pages: Arc::new(PageReader { path: path.to_path_buf(), idle: std::sync::Mutex::new(None) }),
            indexer,
            checkpointer,
            segment_bits: bits,
            pending: Arc::default(),
            known: Arc::default(),
        })
    }

    /// Closes the connections, first copying the whole WAL into the
    /// database file (so the file alone holds the log once this returns).
    pub async fn close(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await {
            tracing::warn!(error = %e, "could not checkpoint the audit WAL on close");
        }
        self.readers.close().await;
        self.indexer.close().await;
        self.checkpointer.close().await;
        self.writer.close().await;
    }
}

/// Opens the index file for the log `log_id` whose head is `head`; an index
/// of another log, one ahead of this log or one with other segments is
/// deleted and started afresh.
async fn open_index(path: &Path, log_id: &str, head: i64, bits: u32) -> Result<SqlitePool, AuditError> {
    for attempt in 0..2 {
        create_private(path)?;
        // Derived data: NORMAL keeps the file consistent after a crash, and a
        // lost tail is simply indexed again.
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::raw_sql(INDEX_SCHEMA).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT OR IGNORE INTO audit_indexed (id, log_id, segment_bits, seq, floor) VALUES (1, ?, ?, 0, 0)",
        )
        .bind(log_id)
        .bind(i64::from(bits))
        .execute(&mut *tx)
        .await?;
        let (of, made_with, seq): (String, i64, i64) =
            sqlx::query_as("SELECT log_id, segment_bits, seq FROM audit_indexed WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        if of == log_id && made_with == i64::from(bits) && seq <= head {
            return Ok(pool);
        }
        pool.close().await;
        if attempt == 0 {
            tracing::warn!(path = %path.display(), "the audit index file does not fit this log; rebuilding it");
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
    }
    Err(AuditError::Corrupt(format!("the audit index file {} could not be rebuilt", path.display())))
}

/// Records hold ids and times: metadata that is for the operator only.
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    for p in [path.as_os_str().to_owned(), wal, shm] {
        let p = Path::new(&p);
        if p.exists() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// Reads pages of the log with its own read-only connection, on the
/// calling (blocking) thread: through the async driver, a row each cost a
/// worker-thread hand-off and two copies, which was most of the time of
/// verifying from the database.
#[derive(Debug)]
struct PageReader {
    path: PathBuf,
    /// The connection, kept between pages; a second concurrent read opens its own.
    idle: std::sync::Mutex<Option<rusqlite::Connection>>,
}

impl PageReader {
    fn read(&self, after: i64, limit: i64) -> Result<Vec<StoredRecord>, AuditError> {
        let conn = match self.idle.lock().ok().and_then(|mut c| c.take()) {
            Some(c) => c,
            None => {
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let c = rusqlite::Connection::open_with_flags(&self.path, flags).map_err(db_error)?;
                c.busy_timeout(Duration::from_secs(30)).map_err(db_error)?;
                c
            }
        };
        let page = {
            let mut stmt = conn
                .prepare_cached("SELECT seq, record FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .map_err(db_error)?;
            let mut rows = stmt.query([after, limit]).map_err(db_error)?;
            let mut out = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(1 << 16));
            while let Some(r) = rows.next().map_err(db_error)? {
                let seq = seq_from_db(r.get(0).map_err(db_error)?)?;
                // Records are stored as TEXT or BLOB depending on the writer's binding.
                let bytes = match r.get_ref(1).map_err(db_error)? {
                    rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b.to_vec(),
                    _ => return Err(AuditError::Corrupt(format!("record {seq} is not stored as bytes"))),
                };
                out.push(StoredRecord { seq, bytes });
            }
            out
        };
        if let Ok(mut idle) = self.idle.lock() {
            *idle = Some(conn);
        }
        Ok(page)
    }
}

/// A SQLite error from the page reader, in the log's error type.
fn db_error(e: rusqlite::Error) -> AuditError {
    // Bound values never appear in SQLite's messages.
    AuditError::Database(e.to_string())
}

fn stored_from(r: &SqliteRow) -> Result<StoredRecord, AuditError> {
    Ok(StoredRecord { seq: seq_from_db(r.try_get(0)?)?, bytes: r.try_get(1)? })
}

fn checkpoint_row(r: &SqliteRow) -> Result<Checkpoint, AuditError> {
    checkpoint_from(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)
}

async fn anchor_on(conn: &mut SqliteConnection) -> Result<Option<Checkpoint>, AuditError> {
    let q = format!("SELECT {CP_COLS} FROM audit_anchor ORDER BY seq DESC LIMIT 1");
    sqlx::query(&q).fetch_optional(conn).await?.as_ref().map(checkpoint_row).transpose()
}

async fn insert_batch(conn: &mut SqliteConnection, batch: &Batch) -> Result<(), AuditError> {
    // The caller sizes batches from `chunk_sizes`: one cached statement each.
    {
        let chunk: &[LogRow] = &batch.rows;
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO audit_log (seq, time, actor, fhir_actor, action, outcome, record) ",
        );
        qb.push_values(chunk, |mut b, r| {
            b.push_bind(r.seq)
                .push_bind(r.time)
                .push_bind(r.actor.as_str())
                .push_bind(r.fhir_actor.as_deref())
                .push_bind(r.action.as_str())
                .push_bind(r.outcome)
                .push_bind(&r.bytes[..]);
        });
        match qb.build().execute(&mut *conn).await {
            Ok(_) => {}
            // Another process appended these sequence numbers first.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(AuditError::Conflict),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl SqliteAuditStore {
    /// Counts a batch towards the WAL upkeep.
    fn appended(&self, batch: &Batch) {
        self.pending.appends.fetch_add(1, Ordering::Relaxed);
        let bytes: u64 = batch.rows.iter().map(|r| r.bytes.len() as u64).sum();
        self.pending.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Indexes every complete segment not indexed yet, one transaction on
    /// the index file each. The log is only read, so appends never wait.
    /// Paced (in the background), it rests as long as it worked after each
    /// slice, so it never takes a core in a burst long enough to be felt by
    /// the appends, which share the machine.
    async fn catch_up(&self, pace: bool) -> Result<u64, AuditError> {
        let bits = self.segment_bits;
        let per = 1u64 << bits;
        loop {
            let head = self.head_seq().await?;
            let mut tx = self.indexer.begin_with("BEGIN IMMEDIATE").await?;
            let done: i64 =
                sqlx::query_scalar("SELECT seq FROM audit_indexed WHERE id = 1").fetch_one(&mut *tx).await?;
            let done = seq_from_db(done)?;
            if head < done + per {
                tx.rollback().await?;
                return Ok(done);
            }
            // Records pruned away are simply absent from their segment.
            let records = self.records_upto(done, done + per).await?;
            // Parsing a segment is milliseconds of CPU: off the async workers,
            // where it would hold up the writer task behind it.
            let segment = postings::segment_of(done + 1, bits);
            let mut rows = tokio::task::spawn_blocking(move || postings::build(segment, bits, &records, pace))
                .await
                .map_err(|e| AuditError::Io(format!("the indexing task failed: {e}")))??;
            for n in chunk_sizes(rows.len()) {
                let started = std::time::Instant::now();
                let chunk: Vec<_> = rows.drain(..n).collect();
                let mut qb =
                    QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO audit_postings (kind, key, segment, seqs) ");
                qb.push_values(chunk, |mut b, (kind, key, segment, seqs)| {
                    b.push_bind(kind).push_bind(key).push_bind(segment).push_bind(seqs);
                });
                qb.build().execute(&mut *tx).await?;
                if pace {
                    tokio::time::sleep(started.elapsed()).await;
                }
            }
            sqlx::query("UPDATE audit_indexed SET seq = ? WHERE id = 1")
                .bind(seq_to_db(done + per)?)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }

    async fn head_seq(&self) -> Result<u64, AuditError> {
        let h: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM audit_log").fetch_one(&self.readers).await?;
        seq_from_db(h.unwrap_or(0))
    }

    /// The records with sequence numbers in `(after, upto]`, ascending.
    async fn records_upto(&self, after: u64, upto: u64) -> Result<Vec<StoredRecord>, AuditError> {
        let mut out = Vec::new();
        let mut from = after;
        loop {
            let page = self.records(from, 10_000).await?;
            let Some(last) = page.last().map(|r| r.seq) else { break };
            let full = page.len() == 10_000;
            out.extend(page.into_iter().filter(|r| r.seq <= upto));
            if last >= upto || !full {
                break;
            }
            from = last;
        }
        Ok(out)
    }

    /// The records with these sequence numbers (ascending, any number).
    async fn records_at(&self, seqs: &[u64]) -> Result<Vec<StoredRecord>, AuditError> {
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT seq, record FROM audit_log WHERE seq IN (");
            let mut list = qb.separated(", ");
            for s in chunk {
                list.push_bind(seq_to_db(*s)?);
            }
            qb.push(") ORDER BY seq");
            let rows = qb.build().fetch_all(&self.readers).await?;
            for r in &rows {
                out.push(stored_from(r)?);
            }
        }
        Ok(out)
    }

    /// The indexed candidates for a search by patient and/or actor: the
    /// posting lists of the complete segments (intersected), and then every
    /// record after them, which the caller filters.
    async fn candidates(&self, q: &AuditQuery, indexed: u64) -> Result<Vec<u64>, AuditError> {
        let mut lists = Vec::new();
        for (kind, key) in [(postings::PATIENT, &q.patient), (postings::ACTOR, &q.actor)] {
            let Some(key) = key else { continue };
            let rows: Vec<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT segment, seqs FROM audit_postings WHERE kind = ? AND key = ? ORDER BY segment")
                    .bind(kind)
                    .bind(key)
                    .fetch_all(&self.indexer)
                    .await?;
            let mut seqs = Vec::new();
            for (segment, offsets) in rows {
                seqs.extend(postings::decode(segment, self.segment_bits, &offsets)?);
            }
            lists.push(seqs);
        }
        let mut found = lists.pop().unwrap_or_default();
        for other in lists {
            found = postings::intersect(&found, &other);
        }
        found.retain(|s| *s <= indexed);
        Ok(found)
    }

    /// A search by patient or actor: candidates from the postings and the
    /// unindexed tail, each record then checked against every filter.
    async fn search_keys(&self, q: &AuditQuery) -> Result<Vec<StoredRecord>, AuditError> {
        let indexed = self.catch_up(false).await?;
        let limit = if q.limit == 0 { AuditQuery::DEFAULT_LIMIT } else { q.limit };
        let in_bounds = |s: u64| q.after_seq.is_none_or(|a| s > a) && q.before_seq.is_none_or(|b| s < b);
        let mut out = Vec::new();
        let keep = |out: &mut Vec<StoredRecord>, rs: Vec<StoredRecord>| -> Result<bool, AuditError> {
            for r in rs {
                if in_bounds(r.seq) && Keys::of(&r)?.matches(q) {
                    out.push(r);
                    if out.len() == limit {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        };
        let mut cands = self.candidates(q, indexed).await?;
        cands.retain(|s| in_bounds(*s));
        if q.newest_first {
            // The tail first, newest to oldest, then the indexed candidates.
            let mut tail = self.records_upto(indexed, u64::MAX).await?;
            tail.reverse();
            if keep(&mut out, tail)? {
                return Ok(out);
            }
            for chunk in cands.rchunks(500) {
                let mut rs = self.records_at(chunk).await?;
                rs.reverse();
                if keep(&mut out, rs)? {
                    return Ok(out);
                }
            }
        } else {
            for chunk in cands.chunks(500) {
                if keep(&mut out, self.records_at(chunk).await?)? {
                    return Ok(out);
                }
            }
            keep(&mut out, self.records_upto(indexed, u64::MAX).await?)?;
        }
        Ok(out)
    }
}

async fn insert_checkpoint(conn: &mut SqliteConnection, cp: &Checkpoint) -> Result<(), AuditError> {
    sqlx::query("INSERT INTO audit_checkpoint (seq, time, hash, key_id, signature) VALUES (?, ?, ?, ?, ?)")
        .bind(seq_to_db(cp.seq)?)
        .bind(cp.time)
        .bind(&cp.hash)
        .bind(&cp.key_id)
        .bind(&cp.signature)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl AuditStore for SqliteAuditStore {
    async fn append(
        &self,
        events: Vec<Event>,
        signer: &Signer,
        policy: &CheckpointPolicy,
        force_checkpoint: bool,
    ) -> Result<AppendResult, AuditError> {
        let mut known = self.known.lock().await;
        // The common case, a small batch with no checkpoint due on a head
        // this store knows: one INSERT, its own durable transaction, chained
        // to the known head. Another process that appended meanwhile holds
        // the next sequence number, so the INSERT fails on the primary key
        // and the append is redone under the write lock.
        if let Some(k) = *known
            && !events.is_empty()
            && chunk_sizes(events.len()).nth(1).is_none()
        {
            let mut head = k.tip;
            let batch = build_batch(&mut events.iter().cloned(), events.len(), &mut head)?;
            if !checkpoint_due(policy, force_checkpoint, head.seq, k.last_cp, now_micros()) {
                let mut conn = self.writer.acquire().await?;
                match insert_batch(&mut conn, &batch).await {
                    Ok(()) => {
                        self.appended(&batch);
                        *known = Some(Known { tip: head, last_cp: k.last_cp });
                        return Ok(AppendResult { first_seq: k.tip.seq + 1, last_seq: head.seq, checkpoint: None });
                    }
                    Err(AuditError::Conflict) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // BEGIN IMMEDIATE takes the write lock before reading the head, so
        // another process cannot append between our read and our insert.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        // One round trip for the head and the last checkpoint.
        let r = sqlx::query(HEAD_AND_CHECKPOINT).fetch_one(&mut *tx).await?;
        let tip = match (r.try_get::<Option<i64>, _>(0)?, r.try_get::<Option<Vec<u8>>, _>(1)?) {
            (Some(seq), Some(bytes)) => Tip { seq: seq_from_db(seq)?, hash: hash_record(&bytes) },
            _ => Tip::after(anchor_on(&mut tx).await?.as_ref())?,
        };
        let last_cp = match (r.try_get::<Option<i64>, _>(2)?, r.try_get::<Option<i64>, _>(3)?) {
            (Some(seq), Some(time)) => Some((seq_from_db(seq)?, time)),
            _ => None,
        };
        let added = events.len() as u64;
        let mut sizes = chunk_sizes(events.len());
        let mut events = events.into_iter();
        let mut head = tip;
        let mut current = sizes.next().map(|n| build_batch(&mut events, n, &mut head)).transpose()?;
        while let Some(batch) = current.take() {
            self.appended(&batch);
            // Encode and hash the next chunk while the database inserts this one.
            let (inserted, next) = tokio::join!(biased; insert_batch(&mut tx, &batch), async {
                sizes.next().map(|n| build_batch(&mut events, n, &mut head)).transpose()
            });
            inserted?;
            current = next?;
        }
        let now = now_micros();
        let checkpoint = if checkpoint_due(policy, force_checkpoint, head.seq, last_cp, now) {
            let cp = signer.sign(head.seq, &head.hash, now);
            insert_checkpoint(&mut tx, &cp).await?;
            Some(cp)
        } else {
            None
        };
        // Until the commit is known to have happened, nothing is known.
        *known = None;
        tx.commit().await?;
        let last_cp = checkpoint.as_ref().map_or(last_cp, |c| Some((c.seq, c.time)));
        *known = Some(Known { tip: head, last_cp });
        let first_seq = if added == 0 { head.seq } else { tip.seq + 1 };
        Ok(AppendResult { first_seq, last_seq: head.seq, checkpoint })
    }

    async fn head(&self) -> Result<Option<StoredRecord>, AuditError> {
        let r = sqlx::query("SELECT seq, record FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.readers)
            .await?;
        r.as_ref().map(stored_from).transpose()
    }

    async fn records(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredRecord>, AuditError> {
        let (after, limit) = (seq_to_db(after_seq)?, limit_to_db(limit));
        let pages = self.pages.clone();
        tokio::task::spawn_blocking(move || pages.read(after, limit))
            .await
            .map_err(|e| AuditError::Io(format!("the audit page reader failed: {e}")))?
    }

    async fn checkpoints(&self, after_seq: u64, limit: usize) -> Result<Vec<Checkpoint>, AuditError> {
        let q = format!("SELECT {CP_COLS} FROM audit_checkpoint WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows =
            sqlx::query(&q).bind(seq_to_db(after_seq)?).bind(limit_to_db(limit)).fetch_all(&self.readers).await?;
        rows.iter().map(checkpoint_row).collect()
    }

    async fn checkpoint_at_or_before(&self, seq: u64) -> Result<Option<Checkpoint>, AuditError> {
        let q = format!("SELECT {CP_COLS} FROM audit_checkpoint WHERE seq <= ? ORDER BY seq DESC LIMIT 1");
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        sqlx::query(&q).bind(seq).fetch_optional(&self.readers).await?.as_ref().map(checkpoint_row).transpose()
    }

    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let q = format!("SELECT {CP_COLS} FROM audit_checkpoint ORDER BY seq DESC LIMIT 1");
        sqlx::query(&q).fetch_optional(&self.readers).await?.as_ref().map(checkpoint_row).transpose()
    }

    async fn search(&self, q: &AuditQuery) -> Result<Vec<StoredRecord>, AuditError> {
        if q.patient.is_some() || q.actor.is_some() {
            return self.search_keys(q).await;
        }
        // The other filters are columns of the log itself.
        let s = search_sql(q, false, "")?;
        let mut query = sqlx::query(&s.sql);
        for b in s.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.readers).await?;
        rows.iter().map(stored_from).collect()
    }

    async fn anchor(&self) -> Result<Option<Checkpoint>, AuditError> {
        let mut conn = self.readers.acquire().await?;
        anchor_on(&mut conn).await
    }

    async fn prune(&self, before_time: i64) -> Result<PruneReport, AuditError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let current = anchor_on(&mut tx).await?;
        let floor = current.as_ref().map_or(0, |c| c.seq);
        let q = prune_anchor_sql(false);
        let cp = sqlx::query(&q)
            .bind(seq_to_db(floor)?)
            .bind(before_time)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(checkpoint_row)
            .transpose()?;
        let Some(cp) = cp else {
            tx.rollback().await?;
            return Ok(PruneReport { removed: 0, anchor: current });
        };
        let seq = seq_to_db(cp.seq)?;
        let mut check = PruneCheck::new(current.as_ref())?;
        loop {
            let rows = sqlx::query("SELECT seq, record FROM audit_log WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?")
                .bind(seq_to_db(check.after())?)
                .bind(seq)
                .bind(PRUNE_PAGE)
                .fetch_all(&mut *tx)
                .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let b: Vec<u8> = r.try_get(1)?;
                check.push(seq_from_db(r.try_get(0)?)?, &b)?;
            }
        }
        check.finish(&cp)?;
        sqlx::query("INSERT INTO audit_anchor (seq, time, hash, key_id, signature) VALUES (?, ?, ?, ?, ?)")
            .bind(seq)
            .bind(cp.time)
            .bind(&cp.hash)
            .bind(&cp.key_id)
            .bind(&cp.signature)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= ?").bind(seq).execute(&mut *tx).await?;
        tx.commit().await?;
        // The index rows of the pruned records go after the records
        // themselves: until then they point at nothing and match nothing.
        // Whole segments only: a segment the anchor cuts keeps its postings,
        // whose pruned records then match nothing.
        let below = i64::try_from(postings::segment_of(cp.seq + 1, self.segment_bits)).unwrap_or(i64::MAX);
        let mut tx = self.indexer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE audit_indexed SET floor = max(floor, ?) WHERE id = 1")
            .bind(below)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_postings WHERE segment < ?").bind(below).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(PruneReport { removed: removed.rows_affected(), anchor: Some(cp) })
    }

    async fn count(&self) -> Result<u64, AuditError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&self.readers).await?;
        seq_from_db(n)
    }

    async fn index(&self) -> Result<(), AuditError> {
        self.catch_up(false).await.map(drop)
    }

    async fn maintain(&self) -> Result<(), AuditError> {
        // Copying the WAL into the database syncs the database file, and
        // that sync slows the appends' own syncs: do it when the log is idle,
        // or when the WAL has grown past its bound. Passive: it copies what
        // no reader still needs and never blocks the writer, which restarts
        // the WAL from its beginning once all of it has been copied.
        let p = &*self.pending;
        let appends = p.appends.load(Ordering::Relaxed);
        let idle = p.appends_seen.swap(appends, Ordering::Relaxed) == appends;
        let bytes = p.bytes.load(Ordering::Relaxed);
        if bytes > 0 && (idle || bytes > WAL_CHECKPOINT_BYTES) {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.checkpointer).await?;
            p.bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        self.catch_up(true).await.map(drop)
    }
}
