//! FHIR R4 (4.0.1) for Haven: bad input becomes a typed error here, at the
//! boundary; everything above works with checked resources.
//!
//! - [`limits`]: cheap pre-parse checks (nesting depth, string and array
//!   sizes) so hostile JSON is refused before it costs memory.
//! - [`validate`]: structural validation of a parsed resource, as
//!   OperationOutcome-ready issues.
//! - [`model`]: typed views of the resources Haven's own code reads
//!   (Patient demographics, Appointment, Slot, Consent, CareTeam).
//! - [`search`]: the search parameters Haven supports, the index terms a
//!   resource yields, and the parser for search queries.
//! - [`capability`]: the CapabilityStatement, generated from the same tables.
//! - [`resource_types`]: the FHIR R4 resource type names; nothing else is accepted.
//! - [`compartment`]: the R4 Patient compartment and the patients a resource belongs to.

pub mod capability;
pub mod compartment;
pub mod datetime;
pub mod limits;
pub mod model;
pub mod resource_types;
pub mod search;
pub mod validate;
