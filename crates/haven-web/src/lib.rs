//! Haven's web front-end, presentation only: the patient chat widget's
//! static assets (embedded in the binary), and the staff console's HTML
//! templates with the view-model structs they render.
//!
//! Nothing here reads server state, authenticates or decides: `haven-server`
//! gathers the data (after authentication and its Cedar decisions) into the
//! view models of [`console`] and [`widget`] and serves the result.

pub mod assets;
pub mod console;
pub mod widget;

pub use maud::{Markup, PreEscaped};
