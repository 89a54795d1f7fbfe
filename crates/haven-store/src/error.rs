//! The store's error type: what a caller can match on.

use haven_core::VersionId;

/// What went wrong in the store. Messages carry ids and versions, never payloads.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record with that type and id (or that version).
    #[error("not found")]
    NotFound,
    /// The record was deleted; `version` is the deletion's version.
    #[error("deleted (version {version})")]
    Gone {
        /// The version that deleted it.
        version: VersionId,
    },
    /// An If-Match precondition failed.
    #[error("version conflict: expected version {expected}, current is {current}")]
    VersionConflict {
        /// What the caller expected.
        expected: VersionId,
        /// What is stored.
        current: VersionId,
    },
    /// A create found a record with the same id.
    #[error("a record with this id already exists")]
    AlreadyExists,
    /// Another writer won a race; the store retries these itself.
    #[error("concurrent write conflict")]
    Race,
    /// Decryption or key-provider failure.
    #[error(transparent)]
    Crypto(#[from] haven_crypto::CryptoError),
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database failed on a direct (synchronous) read.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Migrations could not be applied.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row violates an invariant (e.g. a bad id in the table).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The backend cannot do this (e.g. online backup on PostgreSQL).
    #[error("not supported by the {backend} backend: {what}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What was asked.
        what: &'static str,
    },
    /// The request itself is not valid (e.g. one record twice in a batch).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A local file could not be written or read.
    #[error("{0}")]
    Io(String),
}

impl StoreError {
    /// Whether the database is unreachable or busy for now (a retry may
    /// succeed), as opposed to a request or data problem.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            StoreError::Database(e) => {
                matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::SystemIoFailure
            ),
            _ => false,
        }
    }
}
