//! The PostgreSQL backend, for deployments at scale. Selected by a
//! `postgres://` URL; an optional schema keeps several Haven instances (or
//! test runs) apart in one database.

use std::path::Path;

use async_trait::async_trait;
use haven_core::{ResourceId, ResourceType, VersionId};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Postgres, QueryBuilder, Row};

use crate::backend::{CHUNK, RawRow, parse_key, version_from_db, version_to_db};
use crate::{Backend, Head, IndexClause, IndexEntry, KeyRow, StoreError, VersionRow, WriteOp};

/// PostgreSQL storage.
#[derive(Clone, Debug)]
pub struct PgBackend {
    pool: PgPool,
}

/// Whether `s` is a plain identifier we may splice into `SET search_path`.
fn valid_schema(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PgBackend {
    /// Connects, creates `schema` if given, and migrates.
    pub async fn connect(url: &str, schema: Option<&str>, max_connections: u32) -> Result<Self, StoreError> {
        let opts: PgConnectOptions = url.parse()?;
        let mut pool = PgPoolOptions::new().max_connections(max_connections.max(1));
        if let Some(schema) = schema {
            if !valid_schema(schema) {
                return Err(StoreError::Corrupt(format!(
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
        crate::migrate::postgres().run(&pool).await?;
        Ok(PgBackend { pool })
    }

    /// Drops a schema and everything in it (for tests).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        if !valid_schema(schema) {
            return Err(StoreError::Corrupt("bad schema name".into()));
        }
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await?;
        pool.close().await;
        Ok(())
    }

    /// The pool, for tests that inspect tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn row_from(r: sqlx::postgres::PgRow) -> Result<VersionRow, StoreError> {
    VersionRow::try_from(RawRow {
        rtype: r.try_get("rtype")?,
        id: r.try_get("id")?,
        version: r.try_get("version")?,
        deleted: r.try_get("deleted")?,
        last_updated: r.try_get("last_updated")?,
        kek_version: i64::from(r.try_get::<i32, _>("kek_version")?),
        wrapped_key: r.try_get("wrapped_key")?,
        payload: r.try_get("payload")?,
    })
}

fn head_from(r: &sqlx::postgres::PgRow) -> Result<Head, StoreError> {
    Ok(Head {
        version: version_from_db(r.try_get("version")?)?,
        deleted: r.try_get("deleted")?,
        last_updated: r.try_get("last_updated")?,
    })
}

const SELECT_ROW: &str =
    "SELECT rtype, id, version, deleted, last_updated, kek_version, wrapped_key, payload FROM resource_versions";

fn kek_to_db(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[async_trait]
impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn head(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Option<Head>, StoreError> {
        let r = sqlx::query("SELECT version, deleted, last_updated FROM resource_heads WHERE rtype = $1 AND id = $2")
            .bind(rtype.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(head_from).transpose()
    }

    async fn write_batch(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        // New records: one multi-row insert; a conflict means another writer won.
        let fresh: Vec<&WriteOp> = ops.iter().filter(|o| o.expected.is_none()).collect();
        for chunk in fresh.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "INSERT INTO resource_heads (rtype, id, version, deleted, last_updated) ",
            );
            qb.push_values(chunk, |mut b, o| {
                b.push_bind(o.row.rtype.as_str())
                    .push_bind(o.row.id.as_str())
                    .push_bind(version_to_db(o.row.version))
                    .push_bind(o.row.deleted)
                    .push_bind(o.row.last_updated);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            if qb.build().execute(&mut *tx).await?.rows_affected() != chunk.len() as u64 {
                return Err(StoreError::Race);
            }
        }
        for o in ops {
            let Some(prev) = o.expected else { continue };
            let moved = sqlx::query(
                "UPDATE resource_heads SET version = $1, deleted = $2, last_updated = $3 \
                 WHERE rtype = $4 AND id = $5 AND version = $6",
            )
            .bind(version_to_db(o.row.version))
            .bind(o.row.deleted)
            .bind(o.row.last_updated)
            .bind(o.row.rtype.as_str())
            .bind(o.row.id.as_str())
            .bind(version_to_db(prev))
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(StoreError::Race);
            }
        }
        for chunk in ops.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "INSERT INTO resource_versions (rtype, id, version, deleted, last_updated, kek_version, wrapped_key, payload) ",
            );
            qb.push_values(chunk, |mut b, o| {
                b.push_bind(o.row.rtype.as_str())
                    .push_bind(o.row.id.as_str())
                    .push_bind(version_to_db(o.row.version))
                    .push_bind(o.row.deleted)
                    .push_bind(o.row.last_updated)
                    .push_bind(kek_to_db(o.row.kek_version))
                    .push_bind(&o.row.wrapped_key[..])
                    .push_bind(&o.row.payload[..]);
            });
            qb.build().execute(&mut *tx).await?;
        }
        for chunk in ops.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new("DELETE FROM blind_index WHERE (rtype, id) IN (");
            let mut sep = qb.separated(", ");
            for o in chunk {
                sep.push("(").push_bind_unseparated(o.row.rtype.as_str()).push_unseparated(", ");
                sep.push_bind_unseparated(o.row.id.as_str()).push_unseparated(")");
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        let entries: Vec<(&WriteOp, &IndexEntry)> =
            ops.iter().flat_map(|o| o.index.iter().map(move |e| (o, e))).collect();
        for chunk in entries.chunks(CHUNK * 4) {
            let mut qb = QueryBuilder::<Postgres>::new("INSERT INTO blind_index (rtype, name, value, id) ");
            qb.push_values(chunk, |mut b, (o, e)| {
                b.push_bind(o.row.rtype.as_str())
                    .push_bind(e.name.as_str())
                    .push_bind(&e.value[..])
                    .push_bind(o.row.id.as_str());
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn current(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<VersionRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "SELECT v.rtype, v.id, v.version, v.deleted, v.last_updated, v.kek_version, v.wrapped_key, v.payload \
                 FROM resource_heads h JOIN resource_versions v \
                 ON v.rtype = h.rtype AND v.id = h.id AND v.version = h.version WHERE h.rtype = ",
            );
            qb.push_bind(rtype.as_str()).push(" AND h.id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_str());
            }
            qb.push(")");
            for r in qb.build().fetch_all(&self.pool).await? {
                out.push(row_from(r)?);
            }
        }
        Ok(out)
    }

    async fn heads(&self, rtype: &ResourceType, ids: &[ResourceId]) -> Result<Vec<(ResourceId, Head)>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Postgres>::new(
                "SELECT rtype, id, version, deleted, last_updated FROM resource_heads WHERE rtype = ",
            );
            qb.push_bind(rtype.as_str()).push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_str());
            }
            qb.push(")");
            for r in qb.build().fetch_all(&self.pool).await? {
                let (_, id) = parse_key(r.try_get("rtype")?, r.try_get("id")?)?;
                out.push((id, head_from(&r)?));
            }
        }
        Ok(out)
    }

    async fn search(&self, rtype: &ResourceType, clauses: &[IndexClause]) -> Result<Vec<ResourceId>, StoreError> {
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        // One statement: the database intersects the clauses.
        let mut qb = QueryBuilder::<Postgres>::new("");
        for (i, c) in clauses.iter().enumerate() {
            if i > 0 {
                qb.push(" INTERSECT ");
            }
            qb.push("SELECT id FROM blind_index WHERE rtype = ").push_bind(rtype.as_str());
            qb.push(" AND name = ").push_bind(c.name.as_str()).push(" AND value IN (");
            let mut sep = qb.separated(", ");
            for v in &c.values {
                sep.push_bind(&v[..]);
            }
            if c.values.is_empty() {
                sep.push("NULL");
            }
            qb.push(")");
        }
        qb.push(" ORDER BY id");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| ResourceId::parse(&r.try_get::<String, _>("id")?).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn get(
        &self,
        rtype: &ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> Result<Option<VersionRow>, StoreError> {
        let q = format!("{SELECT_ROW} WHERE rtype = $1 AND id = $2 AND version = $3");
        let r = sqlx::query(&q)
            .bind(rtype.as_str())
            .bind(id.as_str())
            .bind(version_to_db(version))
            .fetch_optional(&self.pool)
            .await?;
        r.map(row_from).transpose()
    }

    async fn purge(&self, rtype: &ResourceType, id: &ResourceId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut erased = 0;
        for table in ["blind_index", "resource_heads", "resource_versions"] {
            erased += sqlx::query(&format!("DELETE FROM {table} WHERE rtype = $1 AND id = $2"))
                .bind(rtype.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(erased > 0)
    }

    async fn history(&self, rtype: &ResourceType, id: &ResourceId) -> Result<Vec<VersionRow>, StoreError> {
        let q = format!("{SELECT_ROW} WHERE rtype = $1 AND id = $2 ORDER BY version DESC");
        let rows = sqlx::query(&q).bind(rtype.as_str()).bind(id.as_str()).fetch_all(&self.pool).await?;
        rows.into_iter().map(row_from).collect()
    }

    async fn find(&self, rtype: &ResourceType, name: &str, value: &[u8; 32]) -> Result<Vec<ResourceId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM blind_index WHERE rtype = $1 AND name = $2 AND value = $3 ORDER BY id")
            .bind(rtype.as_str())
            .bind(name)
            .bind(&value[..])
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| ResourceId::parse(&r.try_get::<String, _>("id")?).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn list(
        &self,
        rtype: Option<&ResourceType>,
        after: Option<(&ResourceType, &ResourceId)>,
        limit: u32,
    ) -> Result<Vec<(ResourceType, ResourceId, Head)>, StoreError> {
        let (at, ai) = after.map(|(t, i)| (t.as_str(), i.as_str())).unwrap_or(("", ""));
        let rows = sqlx::query(
            "SELECT rtype, id, version, deleted, last_updated FROM resource_heads \
             WHERE NOT deleted AND ($1::text IS NULL OR rtype = $1) AND (rtype, id) > ($2, $3) \
             ORDER BY rtype, id LIMIT $4",
        )
        .bind(rtype.map(|t| t.as_str()))
        .bind(at)
        .bind(ai)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let (t, i) = parse_key(r.try_get("rtype")?, r.try_get("id")?)?;
                Ok((t, i, head_from(&r)?))
            })
            .collect()
    }

    async fn kek_usage(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kek_version, COUNT(*) AS n FROM resource_versions WHERE kek_version > 0 \
             GROUP BY kek_version ORDER BY kek_version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let v: i32 = r.try_get("kek_version")?;
                let n: i64 = r.try_get("n")?;
                Ok((u32::try_from(v).unwrap_or(0), u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn rewrap_candidates(
        &self,
        active: u32,
        after: Option<&KeyRow>,
        limit: u32,
    ) -> Result<Vec<KeyRow>, StoreError> {
        let (at, ai, av) =
            after.map(|k| (k.rtype.as_str(), k.id.as_str(), version_to_db(k.version))).unwrap_or(("", "", 0));
        let rows = sqlx::query(
            "SELECT rtype, id, version, wrapped_key FROM resource_versions \
             WHERE kek_version > 0 AND kek_version <> $1 AND (rtype, id, version) > ($2, $3, $4) \
             ORDER BY rtype, id, version LIMIT $5",
        )
        .bind(kek_to_db(active))
        .bind(at)
        .bind(ai)
        .bind(av)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let (rtype, id) = parse_key(r.try_get("rtype")?, r.try_get("id")?)?;
                Ok(KeyRow {
                    rtype,
                    id,
                    version: version_from_db(r.try_get("version")?)?,
                    wrapped_key: r.try_get("wrapped_key")?,
                })
            })
            .collect()
    }

    async fn replace_wrapped_key(&self, row: &KeyRow, new_key: &[u8], new_kek: u32) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE resource_versions SET wrapped_key = $1, kek_version = $2 \
             WHERE rtype = $3 AND id = $4 AND version = $5 AND wrapped_key = $6",
        )
        .bind(new_key)
        .bind(kek_to_db(new_kek))
        .bind(row.rtype.as_str())
        .bind(row.id.as_str())
        .bind(version_to_db(row.version))
        .bind(&row.wrapped_key)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    async fn backup(&self, _dest: &Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported {
            backend: "postgres",
            what: "online backup (use pg_dump, and back up the keyring separately)",
        })
    }
}
