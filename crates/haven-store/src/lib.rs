//! Haven's record store: versioned, encrypted records behind one
//! [`Backend`] trait with two implementations, SQLite (the embedded default)
//! and PostgreSQL, which pass the same [`conformance`] suite.
//!
//! [`Store`] owns everything backend-independent: envelope encryption of
//! every payload (the backends only ever see ciphertext), blind indexes,
//! optimistic concurrency and key rotation.
//!
//! Architecture invariant: no payload reaches a backend unencrypted, and no
//! searchable identifier reaches one except as a keyed HMAC.

mod backend;
pub mod conformance;
mod error;
mod migrate;
mod postgres;
mod sqlite;
mod store;

pub use backend::{Backend, Head, IndexClause, IndexEntry, KeyRow, VersionRow, WriteOp};
pub use error::StoreError;
pub use postgres::PgBackend;
pub use sqlite::SqliteBackend;
pub use store::{
    BatchItem, BatchOutcome, IndexTerm, Precondition, Record, RecordMeta, RewrapReport, Store, Timestamp, WriteObserver,
};
