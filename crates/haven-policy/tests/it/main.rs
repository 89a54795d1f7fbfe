//! Integration tests of the default policies, agents' scopes and operator policies, in one binary.

mod agents;
mod matrix;
mod operator;
