//! What the `fundledger` binary's subcommands do, as library functions with typed errors, so that
//! `src/main.rs` only parses arguments, calls one function and maps its error to an exit code.

pub mod charts;
pub mod config;
pub mod data;
pub mod demo;
pub mod error;
pub mod export;
pub mod migrate;
pub mod progress;
pub mod rebuild;
pub mod remote;
pub mod report;
pub mod serve;
pub mod tables;
pub mod verify;

pub use data::DataDir;
pub use error::{CliError, ExitCode};
