//! Generates the server side of EventStoreDB's gRPC protocol from the copied, published `.proto`
//! files in `proto/` (see `proto/README.md`), with tonic-build 0.12 and the vendored `protoc`.
//!
//! Generated at build time into `OUT_DIR`, never committed, so the server cannot drift from the
//! protocol files. Only the server side: the client under test is the real `eventstore` crate.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");

    // prost-build is given the vendored binary directly, so no PROTOC in the environment is needed
    // (and `set_var` would be `unsafe` in edition 2024). Its include directory supplies
    // google/protobuf/{empty,duration,timestamp,any}.proto.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    let mut config = tonic_build::Config::new();
    config.protoc_executable(protoc);
    let protos = ["streams.proto", "serverfeatures.proto"].map(|name| proto_root.join(name));
    tonic_build::configure().build_client(false).build_server(true).compile_protos_with_config(
        config,
        &protos,
        &[proto_root, well_known],
    )?;
    Ok(())
}
