//! Migrations embedded in the binary, applied at start-up with sqlx's
//! migrator (checksums, locking on PostgreSQL).

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

fn migrator(list: &[(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = list
        .iter()
        .map(|(v, name, sql)| Migration::new(*v, Cow::Borrowed(name), MigrationType::Simple, Cow::Borrowed(sql), false))
        .collect::<Vec<_>>();
    Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
}

/// The SQLite migrations.
pub(crate) fn sqlite() -> Migrator {
    migrator(&[(1, "records", include_str!("../migrations/sqlite/0001_records.sql"))])
}

/// The PostgreSQL migrations.
pub(crate) fn postgres() -> Migrator {
    migrator(&[(1, "records", include_str!("../migrations/postgres/0001_records.sql"))])
}
