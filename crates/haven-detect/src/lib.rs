//! Threat detection on Haven's audit stream.
//!
//! Haven sees every access at the source, so it can detect misuse as it
//! happens and explain away the benign. This crate holds:
//!
//! - [`RuleSet`]: rules in a documented YAML format modelled on Sigma
//!   (named selections, a condition, and a correlation: event count,
//!   distinct-value count, a temporal sequence, an absence, or a baseline),
//!   refused at load with file, line and reason ([`RuleError`]). The default
//!   rules are embedded ([`RuleSet::defaults`]); `docs/detect.md` documents the format.
//! - [`Detector`]: runs a rule set over [`Event`]s (converted from
//!   [`haven_audit::Record`]) with correlation windows, per-actor and
//!   peer-group baselines (median/MAD robust scores) and explanations, and
//!   returns [`Alert`]s.
//! - [`Explainer`] and [`RelationshipIndex`]: legitimate reasons for an
//!   access (appointments, encounters, care teams, orders and notes,
//!   departments, role duties) and sensitive facts (family, coworker, VIP,
//!   deceased), built from FHIR resources with [`RelationshipIndex::from_fhir`].
//! - [`IncidentBook`]: alerts deduplicated and correlated into incidents with
//!   state, assignee, timeline and summary.
//! - [`export`]: OCSF-style JSON Lines and a webhook.
//! - [`spawn_consumer`]: the bounded, non-blocking live consumer with lag figures.
//! - [`sim`]: a seeded hospital simulator with labelled attacks, and the evaluation.
//!
//! # Intended integration in `haven serve`
//!
//! ```text
//! let index = RelationshipIndex::from_fhir(resources.iter());   // Appointment, Encounter, CareTeam, Patient, Practitioner...
//! index.link_account("account:42", "Patient/p1");               // accounts the store knows
//! let detector = Detector::new(RuleSet::defaults()?, Arc::new(index));
//! let (feed, task) = spawn_consumer(detector, audit.store().clone(), head_seq, 10_000, now_micros,
//!     move |alerts| { for a in alerts { book.lock().add(a); /* webhook */ } });
//! // after each audit append: feed.offer(record)   (never blocks; overflow is read back from the store)
//! // GET /v1/alerts, /v1/incidents: IncidentBook (ReadAlerts); state changes: ManageAlerts
//! ```
//!
//! The relationship index is a snapshot: the server rebuilds it (or adds
//! resources with [`RelationshipIndex::add_fhir`]) as the store changes.
//!
//! Architecture invariant: alerts, summaries, exports and `Debug` output
//! carry ids, never names, addresses or other PHI values; demographics used
//! by the family rule are held only as hashes.

mod alert;
mod baseline;
mod consumer;
mod engine;
mod event;
mod explain;
pub mod export;
mod incident;
mod rules;
pub mod sim;
mod summary;

pub use alert::{Alert, AlertStatus, MAX_EVIDENCE, MAX_PATIENTS, PatientExplanation};
pub use baseline::Deviation;
pub use consumer::{DetectionFeed, LagMonitor, LagReport, spawn_consumer};
pub use engine::{Detector, DetectorStats};
pub use event::{ActorKind, Event};
pub use explain::{
    Access, EMPLOYEE_SYSTEM, Explainer, Explanation, ExplanationKind, LinkKind, LiveIndex, NoExplainer, PatientFacts,
    PatientProfile, RelationshipIndex, StaffProfile,
};
pub use incident::{
    DEFAULT_CORRELATION_WINDOW, HistoryEntry, Incident, IncidentBook, IncidentError, IncidentState, Resolution,
    TimelineEntry,
};
pub use rules::{Category, DEFAULT_RULES, Feature, Level, Rule, RuleError, RuleSet, parse_rule};
