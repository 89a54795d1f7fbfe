//! Haven's server: typed configuration, the TLS listener, the middleware
//! stack (request ids, limits, timeouts, metrics, authentication) and the
//! routes. [`app`] builds the whole router as a value, so tests can drive it
//! in-process or on a real port.

pub mod accounts;
pub mod agent;
pub mod audit;
pub mod authz;
pub mod config;
pub mod deid;
pub mod detect;
mod error;
pub mod fhir;
pub mod import;
mod metrics_layer;
mod routes;
pub mod serve;
pub mod state;
pub mod tls;

pub use error::{ApiError, Issue};
pub use routes::{FHIR_ROUTES, PUBLIC_ROUTES, api_doc, app};
pub use state::AppState;
