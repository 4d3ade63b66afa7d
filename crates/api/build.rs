//! Generates the Rust types and tonic services of `proto/fundledger/v1/ledger.proto` at build time.
//!
//! protoc comes from `protoc-bin-vendored` (no system protoc, no download); the generated code lives
//! only in `OUT_DIR`. The storage contract (`events.proto`) is imported, not regenerated: each of its
//! top-level types is mapped to `fundledger_wire::pb` with `extern_path`, so a `StoredRecord` in a
//! reply is the wire crate's type and its conversions apply unchanged.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let ledger = proto_root.join("fundledger/v1/ledger.proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // Both files share the package `fundledger.v1`, so the mapping is per type, not per package.
    let events = std::fs::read_to_string(proto_root.join("fundledger/v1/events.proto"))?;
    for line in events.lines() {
        let name = line.strip_prefix("message ").or_else(|| line.strip_prefix("enum "));
        if let Some(name) = name.and_then(|rest| rest.split_whitespace().next()) {
            config.extern_path(format!(".fundledger.v1.{name}"), format!("::fundledger_wire::pb::{name}"));
        }
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The set includes events.proto too (imports are included), so reflection can describe
        // every type a reply mentions from this one descriptor.
        .file_descriptor_set_path(out_dir.join("fundledger_v1_ledger_descriptor.bin"))
        .compile_with_config(config, &[ledger], &[proto_root])?;
    Ok(())
}
