//! End-to-end tests: the real `haven` binary and the real server on random
//! ports, spoken to over HTTPS. One test binary keeps link time down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod access;
mod agent;
mod architecture;
mod audit;
mod authz;
mod common;
mod deid;
mod detect;
mod fhir;
mod identity;
mod lifecycle;
mod server;
mod web;
