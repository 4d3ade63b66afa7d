//! The storage and wire contract: protobuf types generated at build time from
//! `proto/fundledger/v1/events.proto`, and the one place where they meet the domain's types.
//!
//! Nothing below this crate knows protobuf: `fundledger-domain` never sees a `pb` type, and the
//! store sees only the bytes [`encode_record`] produces. Decoding validates everything the domain
//! types promise (six-digit regions, real months, money within its ceiling, well-formed ids), so a
//! damaged or foreign payload becomes a [`DecodeError`], never a panic or an invalid value.

mod convert;
mod fast;
pub mod scan;

pub use convert::{
    COMMAND_DIGEST_BYTES, DECIMAL_TEXT_BYTES_MAX, DecodeError, EVENT_ID_BYTES, ForViews, RecordEncoder, RecordedEvent,
    decode_event_only, decode_event_only_fast, decode_event_only_reference, decode_for_views, decode_for_views_into,
    decode_record, encode_record, encode_record_into, event_from_pb, event_to_pb, record_from_pb, record_to_pb,
};

/// The generated protobuf types of package `fundledger.v1`.
///
/// The module path mirrors the package so that crates compiling protos that
/// `import "fundledger/v1/events.proto"` can map these types with
/// `extern_path(".fundledger.v1", "::fundledger_wire::pb")` instead of generating them twice.
#[allow(clippy::all, clippy::pedantic, missing_docs)] // generated code: its shape is prost's, not ours
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/fundledger.v1.rs"));
}

/// The directory that `.proto` imports are relative to (`proto/` at the repository root), for
/// build scripts of crates that compile protos importing `fundledger/v1/events.proto`.
pub const PROTO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");

/// The events proto's path relative to [`PROTO_ROOT`], as other protos import it.
pub const EVENTS_PROTO_PATH: &str = "fundledger/v1/events.proto";

/// The text of `events.proto`, compiled in, so a binary can show auditors the exact contract
/// its log was written under.
pub const EVENTS_PROTO: &str = include_str!("../../../proto/fundledger/v1/events.proto");

/// The serialized `FileDescriptorSet` of `events.proto`, for gRPC reflection.
pub const EVENTS_DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fundledger_v1_events_descriptor.bin"));
