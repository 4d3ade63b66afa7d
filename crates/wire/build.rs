//! Generates the Rust types of `proto/fundledger/v1/events.proto` at build time.
//!
//! protoc comes from the `protoc-bin-vendored` crate, so a build needs no system protoc and
//! downloads nothing; the generated code lives only in `OUT_DIR`, never in the repository, so it
//! cannot drift from the .proto file.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let events = proto_root.join("fundledger/v1/events.proto");

    // A directory here makes cargo rerun when any file under it changes.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");

    // Handing prost-build the vendored binary directly has the effect of setting PROTOC, without
    // mutating the process environment (`set_var` is `unsafe` in edition 2024).
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config
        .protoc_executable(protoc)
        // Kept for gRPC reflection and for auditors' own tools (see `EVENTS_DESCRIPTOR`).
        .file_descriptor_set_path(out_dir.join("fundledger_v1_events_descriptor.bin"))
        .compile_protos(&[events], &[proto_root])?;
    Ok(())
}
