//! Haven's PHI detection and de-identification engine.
//!
//! [`Detector`] finds the HIPAA Safe Harbor identifiers that occur in text
//! (names, locations, dates, ages over 89, phone and fax numbers, emails,
//! SSNs, medical record, health plan, account, licence, vehicle and device
//! numbers, URLs, IP addresses and other labelled identifiers) in one pass of
//! a compiled pattern set plus a dictionary-driven token pass, linear in the
//! input. [`Deidentifier`] applies a [`Policy`] (one operator per type:
//! redact, tag, mask, surrogate, pseudonymize, dateshift, generalize,
//! tokenize) to text and, through [`fhir`], to FHIR resources.
//!
//! The crate does no IO and holds no global mutable state; it never puts
//! input text in `Debug` output, errors or logs.
//!
//! # Server integration
//!
//! A server builds one [`Deidentifier`] per tenant policy from a
//! [`PseudonymKey`] derived from its keyring, and passes per request:
//!
//! - a [`TokenVault`] implementation backed by its encrypted store (the
//!   `tokenize` operator writes token → value pairs; [`reidentify`] reads
//!   them back, and the server authorizes and audits that call on its own);
//! - a [`DateOffsets`] implementation that keeps each patient's shift in the
//!   keyring-protected store ([`KeyedDateOffsets`] derives a stable offset
//!   from the key and the patient id when there is no store);
//! - the patient id, when known, in [`DeidOptions`].
//!
//! Every call returns a [`DeidReport`] with counts per type (never values),
//! ready for the audit log.

mod detect;
mod dict;
pub mod eval;
pub mod fhir;
mod ops;
mod pattern_set;
mod patterns;
mod policy;
mod types;
mod vault;

pub use detect::{Detector, DetectorConfig};
pub use dict::RESTRICTED_ZIP3;
pub use ops::{DeidError, DeidOptions, DeidReport, Deidentified, Deidentifier, find_tokens, reidentify};
pub use policy::{Operator, Policy, PolicyError};
pub use types::{CharSpan, PhiType, Span, UnknownPhiType, char_spans, to_char_spans};
pub use vault::{DateOffsets, InMemoryVault, KeyedDateOffsets, PseudonymKey, TokenVault, VaultError};
