//! Haven's shared vocabulary: identifiers, resource names, versions and the
//! redacting [`Secret`] wrapper. Everything here is pure (no IO) and every
//! type is parsed once at the boundary, so code further in can trust it.

mod ids;
mod principal;
mod secret;

pub use ids::{IdError, ResourceId, ResourceType, VersionId};
pub use principal::{OnBehalfOf, Principal, Role, SessionStage, UnknownRole};
pub use secret::Secret;
