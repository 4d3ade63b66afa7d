//! What the engine records around each event: who asked, when, in answer to which command. The
//! domain defines the shape; the engine fills it from its injected clock and id generator.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::ids::{CommandId, RegionCode};
use crate::period::Period;
use crate::rejection::Reason;
use crate::role::Role;

/// The authenticated issuer of a command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// Shared, not copied: every record of a batch names the same caller, and a clone is a
    /// reference count rather than an allocation on the writer's hot path.
    pub principal: Arc<str>,
    pub role: Role,
    /// The region of a region role; `None` for provincial roles.
    pub region: Option<RegionCode>,
}

impl Actor {
    /// The actor the engine uses for history it writes itself (demo data, migrations).
    pub fn system() -> Actor {
        Actor { principal: "system".into(), role: Role::Admin, region: None }
    }
}

/// Metadata of one log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// 16 bytes from the engine's injected id generator.
    pub event_id: [u8; 16],
    pub command_id: CommandId,
    /// SHA-256 of the command's canonical encoding (idempotency across restarts).
    pub command_digest: [u8; 32],
    pub actor: Actor,
    /// Microseconds since the Unix epoch, UTC, from the engine's injected clock.
    pub recorded_at_micros: i64,
    pub correlation_id: String,
    pub causation_id: String,
    pub effective_period: Period,
    pub index_in_command: u32,
    pub records_in_command: u32,
}

/// What a record holds: a fact, or the audit trail of a refused command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordBody {
    Event(Event),
    Rejected { command_name: String, reason: Reason, message: String },
}

/// One decoded log record's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub meta: RecordMeta,
    pub body: RecordBody,
}
