//! The audit log's error type.

/// What went wrong in the audit log. Messages carry sequence numbers and
/// ids, never record contents.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuditError {
    /// A record (or checkpoint line) is not valid.
    #[error("malformed audit record: {0}")]
    Malformed(String),
    /// The database failed or is unreachable.
    #[error("audit database: {0}")]
    Database(String),
    /// A checkpoint signature is missing, invalid, or by an unknown key.
    #[error("audit checkpoint signature: {0}")]
    Signature(String),
    /// The signing key or a public key could not be used.
    #[error("audit signing key: {0}")]
    Key(String),
    /// A file could not be read or written.
    #[error("audit I/O: {0}")]
    Io(String),
    /// The writer task is gone; nothing more can be recorded.
    #[error("the audit writer has stopped")]
    Closed,
    /// Another writer appended first; the append is redone on the new head.
    #[error("another writer appended first")]
    Conflict,
    /// The stored log breaks an invariant (e.g. a bad row or a broken chain).
    #[error("audit log corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        // Bound values never appear in sqlx's messages, so ids at most.
        AuditError::Database(e.to_string())
    }
}

impl From<std::io::Error> for AuditError {
    fn from(e: std::io::Error) -> Self {
        AuditError::Io(e.to_string())
    }
}
