//! What callers send the engine and what they get back.

use std::ops::RangeInclusive;

use fundledger_domain::{Actor, Command, CommandId, Rejection};
use fundledger_store::StoreError;

/// Longest correlation or causation id, in bytes.
pub const TRACE_ID_BYTES_MAX: usize = 128;

/// One command as submitted: who, what, and the client's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub command_id: CommandId,
    pub actor: Actor,
    pub command: Command,
    pub correlation_id: String,
    pub causation_id: String,
    /// For imports only (demo history, migrations): the time to record instead of the engine's
    /// clock. The engine still never lets recorded time go backwards. The API never sets it.
    pub recorded_at_micros: Option<i64>,
}

impl Submission {
    pub fn new(command_id: CommandId, actor: Actor, command: Command) -> Submission {
        Submission {
            command_id,
            actor,
            command,
            correlation_id: String::new(),
            causation_id: String::new(),
            recorded_at_micros: None,
        }
    }
}

/// The answer to a submitted command. Both variants are durable facts of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command's events were recorded at `positions` (read them back from the log there: the
    /// answer does not carry copies, which would cost the writer an allocation per command).
    Accepted { command_id: CommandId, positions: RangeInclusive<u64>, replayed: bool },
    /// The rules refused the command; the refusal was recorded at `position`.
    Rejected { command_id: CommandId, rejection: Rejection, position: u64, replayed: bool },
}

impl Outcome {
    pub fn command_id(&self) -> CommandId {
        match self {
            Outcome::Accepted { command_id, .. } | Outcome::Rejected { command_id, .. } => *command_id,
        }
    }

    /// Whether this answer repeats an earlier one (a retry of the same command id and payload).
    pub fn replayed(&self) -> bool {
        match self {
            Outcome::Accepted { replayed, .. } | Outcome::Rejected { replayed, .. } => *replayed,
        }
    }

    /// The last position this outcome occupies in the log.
    pub fn last_position(&self) -> u64 {
        match self {
            Outcome::Accepted { positions, .. } => *positions.end(),
            Outcome::Rejected { position, .. } => *position,
        }
    }

    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted { .. })
    }
}

/// Why the engine could not answer a command with an outcome.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The queue is full; retry later. Nothing was recorded.
    #[error("the ledger is overloaded: its queue of {queue_max} commands is full; retry later")]
    Overloaded { queue_max: usize },
    /// The command id was used before for a different command. Nothing was recorded.
    #[error("command id {command_id} was already used for a different command")]
    CommandIdReused { command_id: CommandId },
    /// A correlation or causation id is too long. Nothing was recorded.
    #[error("{field} is longer than {TRACE_ID_BYTES_MAX} bytes")]
    TraceIdTooLong { field: &'static str },
    /// Another writer moved the log: this engine is fenced off and accepts nothing more.
    #[error("fenced: another writer appended to the log (expected head {expected}, found {actual})")]
    Fenced { expected: u64, actual: u64 },
    /// The store failed; the engine stopped and must be restarted (which replays the log).
    #[error("the ledger stopped after a storage failure and must be restarted: {0}")]
    Stopped(String),
    /// The actor may not act on what the command refers to (another region's payment).
    /// Nothing was recorded.
    #[error("permission denied: {0}")]
    Denied(#[from] fundledger_domain::Denied),
    /// The engine is shutting down.
    #[error("the ledger is shutting down")]
    ShuttingDown,
    /// Reading the log failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A stored record could not be decoded.
    #[error("log record at position {position} cannot be decoded: {message}")]
    Decode { position: u64, message: String },
}
