//! Errors of the CLI commands, each a sentence, and the documented exit codes they map to:
//! 0 ok, 1 the ledger says no (damage found, a rule violated), 2 usage or configuration error.

use std::path::PathBuf;

use fundledger_store::StoreError;

/// The process exit codes (see `docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    /// The ledger says no: damage found, a rule violated.
    LedgerSaysNo = 1,
    /// Usage or configuration error, or an environment problem (locked directory, IO).
    Usage = 2,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "data directory {} is locked by another fundledger process (pid {pid}); while a server holds it, read it \
         through the server instead (e.g. `fundledger report --server URL`), or stop the server first",
        dir.display()
    )]
    Locked { dir: PathBuf, pid: String },
    #[error("data directory {} already holds a ledger ({events} records); demo writes only into an empty one", dir.display())]
    NotEmpty { dir: PathBuf, events: u64 },
    #[error("the ledger in {} is damaged: {detail}", dir.display())]
    Damaged { dir: PathBuf, detail: String },
    #[error("the demo history was refused by the rules at command {index}: {detail}")]
    DemoRefused { index: u64, detail: String },
    #[error("{0}")]
    Config(String),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(StoreError),
    #[error("{0}")]
    Engine(#[from] fundledger_engine::EngineError),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Damaged { .. } | CliError::DemoRefused { .. } => ExitCode::LedgerSaysNo,
            CliError::Store(StoreError::Corrupt { .. } | StoreError::ChainBroken { .. }) => ExitCode::LedgerSaysNo,
            _ => ExitCode::Usage,
        }
    }

    /// Wraps a store error, naming the directory for the ones people hit (locks, damage).
    pub fn from_store(dir: &std::path::Path, err: StoreError) -> CliError {
        match err {
            StoreError::Locked { holder_pid, .. } => CliError::Locked { dir: dir.to_path_buf(), pid: holder_pid },
            e @ (StoreError::Corrupt { .. } | StoreError::ChainBroken { .. }) => {
                CliError::Damaged { dir: dir.to_path_buf(), detail: e.to_string() }
            }
            other => CliError::Store(other),
        }
    }
}
