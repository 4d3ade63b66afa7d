//! The idempotency index: which command ids the log already answers, and with what.
//!
//! Each entry is 40 bytes of payload: a 128-bit key derived from the command id (SHA-256,
//! truncated; a collision needs ~2^64 ids), a 128-bit digest of the command's payload, and the
//! position and count of the records that answered it. The outcome itself is read back from the
//! log on a retry, which is rare, so the index stays small for a long history.

use std::collections::HashMap;

use fundledger_domain::{Command, CommandId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where the answer to a command id lives in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Truncated SHA-256 of the command's canonical encoding.
    pub digest: [u8; 16],
    pub first: u64,
    pub count: u32,
}

/// Command id key → answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyIndex {
    map: HashMap<u128, Answer>,
}

impl IdempotencyIndex {
    pub fn get(&self, key: u128) -> Option<Answer> {
        self.map.get(&key).copied()
    }

    pub fn insert(&mut self, key: u128, answer: Answer) {
        let previous = self.map.insert(key, answer);
        debug_assert!(previous.is_none(), "a command id answered twice");
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Approximate heap bytes held, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket plus the (key, value) slot.
        self.map.capacity() * (1 + std::mem::size_of::<(u128, Answer)>())
    }
}

/// The index key of a command id.
pub fn command_key(command_id: &CommandId) -> u128 {
    let digest = Sha256::digest(command_id.as_str().as_bytes());
    u128::from_le_bytes(digest[..16].try_into().expect("16 bytes"))
}

/// SHA-256 of the command's canonical encoding (its JSON with fields in declaration order, which
/// serde_json keeps stable for a given type), stored in full on each record.
pub fn command_digest(command: &Command) -> [u8; 32] {
    let bytes = serde_json::to_vec(command).expect("commands always serialize");
    Sha256::digest(&bytes).into()
}

/// The truncated digest the index keeps.
pub fn short_digest(digest: &[u8; 32]) -> [u8; 16] {
    digest[..16].try_into().expect("16 of 32 bytes")
}
