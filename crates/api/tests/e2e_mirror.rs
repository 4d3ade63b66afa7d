//! TEMPORARY: runs the root e2e tests from this crate while the root package does not build.
#[path = "../../../tests/e2e/api/mod.rs"]
mod api;
