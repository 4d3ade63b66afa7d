//! Operating errors of the log: typed, with the path, segment, offset and position they concern.

use std::path::PathBuf;

use crate::record::Position;

/// What is wrong with a stored record or file structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("CRC32C mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Crc { stored: u32, computed: u32 },
    #[error("length field {length} is impossible here")]
    Length { length: u32 },
    #[error("position gap: found {found}, expected {expected}")]
    PositionGap { expected: Position, found: Position },
    #[error("hash chain broken: stored hash does not equal SHA-256(previous hash || record)")]
    ChainLink,
    #[error("unknown flag bits {flags:#x}")]
    Flags { flags: u32 },
    #[error("zero length field inside the committed data, with valid records after it")]
    EarlyEnd,
    #[error("valid record data after the end of data of a sealed segment")]
    DataAfterEnd,
    #[error("sealed segment ends inside a batch (last record has no batch-end flag)")]
    UnfinishedBatch,
    #[error("a fully written record fails its checks, at the tail of the log: {0}")]
    DamagedTail(Box<Corruption>),
    #[error("segment header damaged: {0}")]
    Header(String),
    #[error("segment {found} found where segment {expected} was expected")]
    SegmentSequence { expected: u64, found: u64 },
    #[error("segment boundary: {0}")]
    Boundary(String),
}

/// Every way an operation on a log can fail. Business outcomes do not live here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The fence against a second writer: the caller's idea of the head is stale.
    #[error("append conflict: expected head position {expected}, log head is {actual}")]
    Conflict { expected: Position, actual: Position },

    /// A previous write or sync failed; the on-disk state is unknown until the log is reopened.
    #[error("log at {dir} refuses writes after an earlier IO failure ({cause}); reopen it")]
    Poisoned { dir: PathBuf, cause: String },

    /// Another process (or handle) holds the writer lock.
    #[error("log at {dir} is locked by another writer (pid {holder_pid})")]
    Locked { dir: PathBuf, holder_pid: String },

    /// The directory holds the log of another fund.
    #[error("log at {path} belongs to fund {found:?}, not {expected:?}")]
    FundMismatch { path: PathBuf, expected: String, found: String },

    /// Damage found while opening or reading. Nothing is ever silently skipped.
    #[error("corrupt log: segment {segment} ({path}) offset {offset} position {position}: {reason}")]
    Corrupt { path: PathBuf, segment: u64, offset: u64, position: Position, reason: Corruption },

    /// Chain verification found a record whose stored hash is not the link from its predecessor.
    #[error("hash chain broken at position {position}")]
    ChainBroken { position: Position },

    /// An IO call failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The caller asked for something the limits forbid (payload or batch too large, empty batch).
    #[error("invalid request: {0}")]
    Invalid(String),

    /// Reading from a position after the head (+1).
    #[error("read from position {from} but head is {head}")]
    BeyondHead { from: Position, head: Position },

    /// A remote backend's failure (reserved for backends that are not files).
    #[error("backend: {0}")]
    Backend(String),
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { op, path: path.into(), source }
    }
}
