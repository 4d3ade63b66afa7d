//! The gRPC API of the ledger: generated services, conversions between protobuf and the domain,
//! authentication and authorisation, the tonic services and the server, and a load generator.

/// The generated types of package `fundledger.v1` (ledger.proto), plus the storage contract's
/// types (events.proto) re-exported from `fundledger_wire` so both live under one path.
/// The glob import is shadowed by nothing: build.rs maps every events.proto type to the wire crate.
#[allow(clippy::all, clippy::pedantic, missing_docs)] // generated code: its shape is prost's, not ours
pub mod pb {
    pub use fundledger_wire::pb::*;
    include!(concat!(env!("OUT_DIR"), "/fundledger.v1.rs"));
}

/// The serialized `FileDescriptorSet` of ledger.proto and what it imports, for reflection.
pub const LEDGER_DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fundledger_v1_ledger_descriptor.bin"));

pub mod audit;
pub mod auth;
pub mod batch;
pub mod commands;
pub mod convert;
pub mod errors;
pub mod limits;
pub mod load;
pub mod queries;
pub mod server;

pub use auth::{Auth, MintedToken, Principal, Principals, demo_principals, mint_token};
pub use errors::{ApiError, ERROR_DOMAIN};
pub use server::{ServeConfig, ServeError, TlsConfig, serve, serve_on};
