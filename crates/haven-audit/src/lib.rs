//! Haven's tamper-evident audit log.
//!
//! Every access to PHI and every security event becomes an [`Event`]; the
//! [`AuditLog`] writer places events in the log with group commit (one
//! transaction per batch, acknowledged only once durable), each record
//! chained to the previous one by SHA-256, and every N records or T seconds
//! a [`Checkpoint`] signed with the keyring's Ed25519 key. The [`Verifier`]
//! checks a log (in the database or an exported JSON Lines file) with
//! nothing but the public key.
//!
//! Architecture invariant: records hold ids, never PHI values; the tables
//! are append-only (database triggers reject UPDATE and DELETE, except the
//! checkpoint-anchored pruning of whole records before a signed checkpoint).

mod chain;
mod error;
mod export;
mod record;
mod store;
mod verify;
mod writer;

pub use chain::{Checkpoint, GENESIS, Hash, PublicKey, Signer, hash_record};
pub use error::AuditError;
pub use export::{ExportReport, export_jsonl, verify_jsonl};
pub use record::{Actor, Event, MAX_TEXT, Outcome, RECORD_VERSION, Record, days_ago, now_micros, truncate};
pub use store::{
    AppendResult, AuditQuery, AuditStore, CheckpointPolicy, DEFAULT_SEGMENT_BITS, PgAuditStore, PruneReport,
    SqliteAuditStore, StoredRecord, sqlite_index_path,
};
pub use verify::{Problem, Verifier, VerifyReport, verify_store};
pub use writer::{AppendObserver, AuditLog};
