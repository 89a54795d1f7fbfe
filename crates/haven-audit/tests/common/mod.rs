//! Shared test fixtures: a store on SQLite in a temporary directory, and on
//! PostgreSQL (in a schema of its own) when `HAVEN_TEST_POSTGRES_URL` is set.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use haven_audit::{
    Actor, AuditStore, Checkpoint, CheckpointPolicy, Event, Outcome, PgAuditStore, PublicKey, Signer, SqliteAuditStore,
};
use sqlx::Executor;

pub const PG_ENV: &str = "HAVEN_TEST_POSTGRES_URL";
pub const BASE_TIME: i64 = 1_700_000_000_000_000;

pub fn signer() -> Signer {
    Signer::from_seed(&[42; 32]).unwrap()
}

pub fn keys() -> Vec<PublicKey> {
    vec![signer().public_key()]
}

/// A policy that never signs on its own: tests decide where checkpoints go.
pub fn manual() -> CheckpointPolicy {
    CheckpointPolicy { every_records: u64::MAX, every: Duration::from_secs(3600) }
}

/// A varied event; `i` picks the actor, action, outcome and patient.
pub fn event(i: u64) -> Event {
    let mut e = Event::new(
        Actor {
            id: format!("account:{}", i % 3),
            role: Some("clinician".into()),
            fhir: (i.is_multiple_of(2)).then(|| format!("Practitioner/p{}", i % 3)),
            ..Default::default()
        },
        if i.is_multiple_of(4) { "auth.login" } else { "fhir.read" },
        if i.is_multiple_of(5) { Outcome::Denied } else { Outcome::Success },
    );
    e.time = BASE_TIME + i as i64 * 1000;
    e.patients = vec![format!("pat{}", i % 4)];
    e.resources = vec![format!("Patient/pat{}", i % 4)];
    e.request_id = Some(format!("req-{i}"));
    e
}

pub fn events(from: u64, n: u64) -> Vec<Event> {
    (from..from + n).map(event).collect()
}

/// Appends `n` events as batches of `per` records, each batch ending with a
/// checkpoint; returns the checkpoints.
pub async fn fill(store: &dyn AuditStore, n: u64, per: u64) -> Vec<Checkpoint> {
    let s = signer();
    let mut out = Vec::new();
    let mut i = 1;
    while i <= n {
        let k = per.min(n - i + 1);
        let r = store.append(events(i, k), &s, &manual(), true).await.unwrap();
        assert_eq!((r.first_seq, r.last_seq), (i, i + k - 1));
        out.push(r.checkpoint.expect("forced checkpoint"));
        i += k;
    }
    out
}

enum Db {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Pg { url: String, schema: String },
}

/// One empty audit database and a store on it.
pub struct Fixture {
    pub name: &'static str,
    pub store: Arc<dyn AuditStore>,
    db: Db,
}

static SKIP_NOTED: AtomicBool = AtomicBool::new(false);

/// Index segments of 4 records in tests, so that searches go through both
/// the postings and the unindexed tail.
pub const SEGMENT_BITS: u32 = 2;

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = SqliteAuditStore::open_with_segments(&path, SEGMENT_BITS).await.unwrap();
        Fixture { name: "sqlite", store: Arc::new(store), db: Db::Sqlite { _dir: dir, path } }
    }

    pub async fn pg() -> Option<Fixture> {
        let Ok(url) = std::env::var(PG_ENV) else {
            if !SKIP_NOTED.swap(true, Ordering::Relaxed) {
                // Straight to stderr: the test harness would swallow println! in a passing test.
                let msg = format!("SKIPPED: PostgreSQL audit tests (set {PG_ENV} to run them)\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            }
            return None;
        };
        let mut b = [0u8; 6];
        haven_crypto::random_bytes(&mut b).unwrap();
        let schema = format!("haven_audit_test_{}", hex::encode(b));
        let store = PgAuditStore::connect(&url, Some(&schema), 4).await.unwrap();
        Some(Fixture { name: "postgres", store: Arc::new(store), db: Db::Pg { url, schema } })
    }

    /// SQLite always; PostgreSQL when configured.
    pub async fn all() -> Vec<Fixture> {
        let mut v = vec![Fixture::sqlite().await];
        v.extend(Fixture::pg().await);
        v
    }

    /// A second, independent store on the same database (another process).
    pub async fn reopen(&self) -> Arc<dyn AuditStore> {
        match &self.db {
            Db::Sqlite { path, .. } => {
                Arc::new(SqliteAuditStore::open_with_segments(path, SEGMENT_BITS).await.unwrap())
            }
            Db::Pg { url, schema } => Arc::new(PgAuditStore::connect(url, Some(schema), 4).await.unwrap()),
        }
    }

    /// A raw connection that bypasses the store.
    pub async fn raw(&self) -> Raw {
        match &self.db {
            Db::Sqlite { path, .. } => {
                let opts =
                    sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(10));
                // The search indexes live in a file of their own; attached,
                // their tables answer to the same unqualified names.
                let idx = haven_audit::sqlite_index_path(path).to_string_lossy().into_owned();
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .after_connect(move |c, _| {
                        let idx = idx.clone();
                        Box::pin(async move {
                            sqlx::query("ATTACH DATABASE ? AS idx").bind(idx).execute(c).await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .unwrap();
                Raw::Sqlite(pool)
            }
            Db::Pg { url, schema } => {
                let set = format!("SET search_path TO {schema}");
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .after_connect(move |c, _| {
                        let set = set.clone();
                        Box::pin(async move {
                            c.execute(set.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
                    .unwrap();
                Raw::Pg(pool)
            }
        }
    }

    pub async fn cleanup(self) {
        if let Db::Pg { url, schema } = &self.db {
            PgAuditStore::drop_schema(url, schema).await.unwrap();
        }
    }
}

/// A value bound into raw SQL.
pub enum Val {
    I(i64),
    B(Vec<u8>),
    T(String),
}

/// Raw SQL access, as an attacker with database access would have.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    /// Runs one statement with `$1, $2...` placeholders; returns rows affected.
    pub async fn exec(&self, sql: &str, vals: Vec<Val>) -> Result<u64, sqlx::Error> {
        match self {
            Raw::Sqlite(p) => {
                let mut q = sqlx::query(sql);
                for v in vals {
                    q = match v {
                        Val::I(i) => q.bind(i),
                        Val::B(b) => q.bind(b),
                        Val::T(t) => q.bind(t),
                    };
                }
                Ok(q.execute(p).await?.rows_affected())
            }
            Raw::Pg(p) => {
                let mut q = sqlx::query(sql);
                for v in vals {
                    q = match v {
                        Val::I(i) => q.bind(i),
                        Val::B(b) => q.bind(b),
                        Val::T(t) => q.bind(t),
                    };
                }
                Ok(q.execute(p).await?.rows_affected())
            }
        }
    }

    pub async fn run(&self, sql: &str) -> u64 {
        self.exec(sql, vec![]).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// What someone with full database access does first.
    pub async fn drop_triggers(&self) {
        match self {
            Raw::Sqlite(p) => {
                let names: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    .fetch_all(p)
                    .await
                    .unwrap();
                assert!(names.len() >= 9, "{names:?}");
                for n in names {
                    self.run(&format!("DROP TRIGGER {n}")).await;
                }
            }
            Raw::Pg(_) => {
                for t in ["audit_log", "audit_patient", "audit_checkpoint", "audit_anchor"] {
                    self.run(&format!("ALTER TABLE {t} DISABLE TRIGGER USER")).await;
                }
            }
        }
    }

    pub async fn set_record(&self, seq: u64, bytes: &[u8]) {
        let n = self
            .exec("UPDATE audit_log SET record = $1 WHERE seq = $2", vec![Val::B(bytes.to_vec()), Val::I(seq as i64)])
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    pub async fn close(self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Pg(p) => p.close().await,
        }
    }
}

/// The stored bytes of record `seq`.
pub async fn record_bytes(store: &dyn AuditStore, seq: u64) -> Vec<u8> {
    let r = store.records(seq - 1, 1).await.unwrap();
    assert_eq!(r[0].seq, seq);
    r[0].bytes.clone()
}
