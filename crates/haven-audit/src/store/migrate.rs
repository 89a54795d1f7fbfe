//! Schema migrations, embedded in the binary and applied on open.
//!
//! sqlx's migrator keeps its history in `_sqlx_migrations`, a table name
//! that cannot be changed in sqlx 0.8. On PostgreSQL the audit tables may
//! share a schema with haven-store's, whose migrator would then see (and
//! reject) the audit migrations as unknown. So the audit log keeps its own
//! history table, `audit_migrations`, and applies each migration in one
//! transaction under a lock (SQLite's write lock; a PostgreSQL advisory
//! lock), which makes concurrent starts of several processes safe. SQLite
//! uses the same scheme for one code path.

use sqlx::{Row, Sqlite, SqliteConnection, Transaction};

use crate::AuditError;
use crate::chain::hash_record;

/// One migration: a version, a name and its SQL.
pub(crate) struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// The SQLite migrations.
pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "audit", sql: include_str!("../../migrations/sqlite/0001_audit.sql") },
    Migration { version: 2, name: "lazy_index", sql: include_str!("../../migrations/sqlite/0002_lazy_index.sql") },
    Migration { version: 3, name: "index_file", sql: include_str!("../../migrations/sqlite/0003_index_file.sql") },
];

/// The PostgreSQL migrations.
pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "audit", sql: include_str!("../../migrations/postgres/0001_audit.sql") },
    Migration { version: 2, name: "lazy_index", sql: include_str!("../../migrations/postgres/0002_lazy_index.sql") },
];

/// The advisory lock key held while migrating a PostgreSQL database
/// ("haven-au" in ASCII; unrelated to the append lock).
pub(crate) const PG_MIGRATE_LOCK: i64 = 0x6861_7665_6e2d_6175;

const HISTORY_SQLITE: &str = "CREATE TABLE IF NOT EXISTS audit_migrations (\
     version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum BLOB NOT NULL, applied_at INTEGER NOT NULL)";

const HISTORY_PG: &str = "CREATE TABLE IF NOT EXISTS audit_migrations (\
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum BYTEA NOT NULL, applied_at BIGINT NOT NULL)";

/// Which migrations to apply, given the history `(version, checksum)`.
fn pending<'a>(list: &'a [Migration], applied: &[(i64, Vec<u8>)]) -> Result<Vec<&'a Migration>, AuditError> {
    for (v, sum) in applied {
        match list.iter().find(|m| m.version == *v) {
            None => {
                return Err(AuditError::Corrupt(format!(
                    "the audit database has migration {v}, which this version of Haven does not know (it was written by a newer version)"
                )));
            }
            Some(m) if hash_record(m.sql.as_bytes())[..] != sum[..] => {
                return Err(AuditError::Corrupt(format!(
                    "audit migration {v} ({}) was changed after it was applied",
                    m.name
                )));
            }
            Some(_) => {}
        }
    }
    Ok(list.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)).collect())
}

/// Applies the SQLite migrations inside `tx` (begun with BEGIN IMMEDIATE).
pub(crate) async fn sqlite(tx: &mut Transaction<'static, Sqlite>) -> Result<(), AuditError> {
    let conn: &mut SqliteConnection = tx;
    sqlx::raw_sql(HISTORY_SQLITE).execute(&mut *conn).await?;
    let applied = sqlx::query("SELECT version, checksum FROM audit_migrations")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Vec<u8>, _>(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    for m in pending(SQLITE, &applied)? {
        sqlx::raw_sql(m.sql).execute(&mut *conn).await?;
        sqlx::query("INSERT INTO audit_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)")
            .bind(m.version)
            .bind(m.name)
            .bind(&hash_record(m.sql.as_bytes())[..])
            .bind(crate::now_micros())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Applies the PostgreSQL migrations in one transaction under an advisory lock.
pub(crate) async fn postgres(pool: &sqlx::PgPool) -> Result<(), AuditError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_MIGRATE_LOCK).execute(&mut *tx).await?;
    sqlx::raw_sql(HISTORY_PG).execute(&mut *tx).await?;
    let applied = sqlx::query("SELECT version, checksum FROM audit_migrations")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Vec<u8>, _>(1)?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    for m in pending(POSTGRES, &applied)? {
        sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO audit_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(m.version)
            .bind(m.name)
            .bind(&hash_record(m.sql.as_bytes())[..])
            .bind(crate::now_micros())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn history_is_checked() {
        let sum = hash_record(SQLITE[0].sql.as_bytes()).to_vec();
        assert_eq!(pending(SQLITE, &[]).unwrap().len(), SQLITE.len());
        let later: Vec<i64> = pending(SQLITE, &[(1, sum.clone())]).unwrap().iter().map(|m| m.version).collect();
        assert_eq!(later, [2, 3], "a database at version 1 gets the later migrations");
        assert!(pending(SQLITE, &[(1, vec![0; 32])]).is_err());
        assert!(pending(SQLITE, &[(1, sum), (99, vec![])]).is_err());
    }
}
