//! The audit log in PostgreSQL, for deployments at scale. Several Haven
//! processes may append at once: each append holds a transaction-scoped
//! advisory lock, so their records form one chain.

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, PgConnection, Postgres, QueryBuilder, Row};

use super::{
    AppendResult, AuditQuery, AuditStore, Batch, Bind, CheckpointPolicy, INDEX_BATCH, PRUNE_PAGE, PruneCheck,
    PruneReport, Row as LogRow, StoredRecord, Tip, build_batch, checkpoint_due, checkpoint_from, chunk_sizes,
    index_rows, limit_to_db, prune_anchor_sql, search_sql, seq_from_db, seq_to_db,
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

/// The audit log in a PostgreSQL database (optionally in its own schema).
#[derive(Clone, Debug)]
pub struct PgAuditStore {
    pool: PgPool,
    /// Advisory lock key for appends to this schema's log.
    lock_key: i64,
}

/// Whether `s` is a plain identifier we may splice into `SET search_path`.
fn valid_schema(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The append lock key: fixed per schema, so instances in different schemas
/// of one database do not wait for each other.
fn lock_key(schema: &str) -> i64 {
    let h = hash_record(format!("haven-audit/append/{schema}").as_bytes());
    let mut k = [0u8; 8];
    k.copy_from_slice(&h[..8]);
    i64::from_be_bytes(k)
}

impl PgAuditStore {
    /// Connects, creates `schema` if given (and sets it as the search path of
    /// every connection), and migrates.
    pub async fn connect(url: &str, schema: Option<&str>, max_connections: u32) -> Result<Self, AuditError> {
        let opts: PgConnectOptions = url.parse()?;
        let mut pool = PgPoolOptions::new().max_connections(max_connections.max(1));
        if let Some(schema) = schema {
            if !valid_schema(schema) {
                return Err(AuditError::Database(format!(
                    "schema name {schema:?} must be 1-63 characters of a-z, 0-9 and _"
                )));
            }
            let setup = PgPoolOptions::new().max_connections(1).connect_with(opts.clone()).await?;
            setup.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str()).await?;
            setup.close().await;
            let set = format!("SET search_path TO {schema}");
            pool = pool.after_connect(move |conn, _| {
                let set = set.clone();
                Box::pin(async move {
                    conn.execute(set.as_str()).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(opts).await?;
        super::migrate::postgres(&pool).await?;
        let current: Option<String> = sqlx::query_scalar("SELECT current_schema()").fetch_one(&pool).await?;
        Ok(PgAuditStore { pool, lock_key: lock_key(current.as_deref().unwrap_or("")) })
    }

    /// Drops a schema and everything in it (for tests).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), AuditError> {
        if !valid_schema(schema) {
            return Err(AuditError::Database("bad schema name".into()));
        }
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await?;
        pool.close().await;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn stored_from(r: &PgRow) -> Result<StoredRecord, AuditError> {
    Ok(StoredRecord { seq: seq_from_db(r.try_get(0)?)?, bytes: r.try_get(1)? })
}

fn checkpoint_row(r: &PgRow) -> Result<Checkpoint, AuditError> {
    checkpoint_from(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)
}

async fn anchor_on(conn: &mut PgConnection) -> Result<Option<Checkpoint>, AuditError> {
    let q = format!("SELECT {CP_COLS} FROM audit_anchor ORDER BY seq DESC LIMIT 1");
    sqlx::query(&q).fetch_optional(conn).await?.as_ref().map(checkpoint_row).transpose()
}

async fn insert_batch(conn: &mut PgConnection, batch: &Batch) -> Result<(), AuditError> {
    // The caller sizes batches from `chunk_sizes`: one cached statement each.
    {
        let chunk: &[LogRow] = &batch.rows;
        let mut qb = QueryBuilder::<Postgres>::new(
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
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts `(key, seq)` rows into an index table, in statements of at most
/// `chunk_sizes` rows.
async fn insert_keys(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    rows: &[(String, i64)],
) -> Result<(), AuditError> {
    let mut rest = rows;
    for n in chunk_sizes(rest.len()) {
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let mut qb = QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} ({column}, seq) "));
        qb.push_values(chunk, |mut b, (k, s)| {
            b.push_bind(k.as_str()).push_bind(*s);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl PgAuditStore {
    /// Brings the search indexes up to the head, in batches. The row lock on
    /// `audit_indexed` keeps indexers of several processes apart without
    /// blocking appends.
    async fn catch_up(&self, pace: bool) -> Result<(), AuditError> {
        loop {
            let started = std::time::Instant::now();
            let mut tx = self.pool.begin().await?;
            let done: i64 =
                sqlx::query_scalar("SELECT seq FROM audit_indexed WHERE id = 1 FOR UPDATE").fetch_one(&mut *tx).await?;
            let rows = sqlx::query("SELECT seq, record FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(done)
                .bind(INDEX_BATCH)
                .fetch_all(&mut *tx)
                .await?;
            let Some(last) = rows.last() else {
                tx.rollback().await?;
                return Ok(());
            };
            let last: i64 = last.try_get(0)?;
            let records =
                rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<Vec<_>, sqlx::Error>>()?;
            let idx = index_rows(&records)?;
            insert_keys(&mut tx, "audit_patient", "patient", &idx.patients).await?;
            insert_keys(&mut tx, "audit_actor", "actor", &idx.actors).await?;
            sqlx::query("UPDATE audit_indexed SET seq = $1 WHERE id = 1").bind(last).execute(&mut *tx).await?;
            tx.commit().await?;
            if records.len() < INDEX_BATCH as usize {
                return Ok(());
            }
            if pace {
                // In the background, hold the write lock at most half the
                // time, so that appends (and the requests waiting on them)
                // never queue behind a long catch-up.
                tokio::time::sleep(started.elapsed()).await;
            }
        }
    }
}

#[async_trait]
impl AuditStore for PgAuditStore {
    async fn append(
        &self,
        events: Vec<Event>,
        signer: &Signer,
        policy: &CheckpointPolicy,
        force_checkpoint: bool,
    ) -> Result<AppendResult, AuditError> {
        let mut tx = self.pool.begin().await?;
        // Held until commit: the next appender reads the head only after
        // this transaction's records are visible.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(self.lock_key).execute(&mut *tx).await?;
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
            sqlx::query(
                "INSERT INTO audit_checkpoint (seq, time, hash, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(seq_to_db(cp.seq)?)
            .bind(cp.time)
            .bind(&cp.hash)
            .bind(&cp.key_id)
            .bind(&cp.signature)
            .execute(&mut *tx)
            .await?;
            Some(cp)
        } else {
            None
        };
        tx.commit().await?;
        let first_seq = if added == 0 { head.seq } else { tip.seq + 1 };
        Ok(AppendResult { first_seq, last_seq: head.seq, checkpoint })
    }

    async fn head(&self) -> Result<Option<StoredRecord>, AuditError> {
        let r = sqlx::query("SELECT seq, record FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(stored_from).transpose()
    }

    async fn records(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredRecord>, AuditError> {
        let rows = sqlx::query("SELECT seq, record FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq_to_db(after_seq)?)
            .bind(limit_to_db(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_from).collect()
    }

    async fn checkpoints(&self, after_seq: u64, limit: usize) -> Result<Vec<Checkpoint>, AuditError> {
        let q = format!("SELECT {CP_COLS} FROM audit_checkpoint WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(&q).bind(seq_to_db(after_seq)?).bind(limit_to_db(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(checkpoint_row).collect()
    }

    async fn checkpoint_at_or_before(&self, seq: u64) -> Result<Option<Checkpoint>, AuditError> {
        let q = format!("SELECT {CP_COLS} FROM audit_checkpoint WHERE seq <= $1 ORDER BY seq DESC LIMIT 1");
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        sqlx::query(&q).bind(seq).fetch_optional(&self.pool).await?.as_ref().map(checkpoint_row).transpose()
    }

    async fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let q = format!("SELECT {CP_COLS} FROM audit_checkpoint ORDER BY seq DESC LIMIT 1");
        sqlx::query(&q).fetch_optional(&self.pool).await?.as_ref().map(checkpoint_row).transpose()
    }

    async fn search(&self, q: &AuditQuery) -> Result<Vec<StoredRecord>, AuditError> {
        // Complete results: index whatever the appends added since the last run.
        self.catch_up(false).await?;
        let s = search_sql(q, true, "")?;
        let mut query = sqlx::query(&s.sql);
        for b in s.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(stored_from).collect()
    }

    async fn anchor(&self) -> Result<Option<Checkpoint>, AuditError> {
        let mut conn = self.pool.acquire().await?;
        anchor_on(&mut conn).await
    }

    async fn prune(&self, before_time: i64) -> Result<PruneReport, AuditError> {
        let mut tx = self.pool.begin().await?;
        // The append lock keeps the head and anchor still while we work.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(self.lock_key).execute(&mut *tx).await?;
        let current = anchor_on(&mut tx).await?;
        let floor = current.as_ref().map_or(0, |c| c.seq);
        let q = prune_anchor_sql(true);
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
            let rows =
                sqlx::query("SELECT seq, record FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3")
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
        sqlx::query("INSERT INTO audit_anchor (seq, time, hash, key_id, signature) VALUES ($1, $2, $3, $4, $5)")
            .bind(seq)
            .bind(cp.time)
            .bind(&cp.hash)
            .bind(&cp.key_id)
            .bind(&cp.signature)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_patient WHERE seq <= $1").bind(seq).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM audit_actor WHERE seq <= $1").bind(seq).execute(&mut *tx).await?;
        let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1").bind(seq).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(PruneReport { removed: removed.rows_affected(), anchor: Some(cp) })
    }

    async fn count(&self) -> Result<u64, AuditError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&self.pool).await?;
        seq_from_db(n)
    }

    async fn index(&self) -> Result<(), AuditError> {
        self.catch_up(true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        assert!(valid_schema("haven_audit_test_0a"));
        assert!(!valid_schema(""));
        assert!(!valid_schema("a;drop"));
        assert!(!valid_schema("Upper"));
        assert!(!valid_schema(&"a".repeat(64)));
        assert_ne!(lock_key("a"), lock_key("b"));
    }
}
