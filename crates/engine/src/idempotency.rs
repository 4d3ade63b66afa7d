//! The idempotency index: where in the log the answer to each command id is.
//!
//! Each entry is a 16-byte slot: a 64-bit key taken from the SHA-256 of the command id, and the
//! position (48 bits) and record count (16 bits) of the answer, plus about 5-10 bytes of hash
//! table holding the slot's number. The key only *locates* candidates: two command ids may share
//! one (for a billion ids, about a 3% chance that some pair does), so every hit is confirmed
//! against the log, whose first record of the answer carries the exact command id and the full
//! SHA-256 of the command's payload. Hits are retries, which are rare, so the read costs nothing
//! in practice, and the index stays at ~24 bytes per command over a long history. Slots live in
//! fixed-size chunks, so the index grows without copying or a half-empty doubling. In a snapshot
//! it is one flat byte string, re-indexed on load.

use std::fmt;

use fundledger_domain::compact::{Bytes, Chunked, KeyHasher, build_table};
use fundledger_domain::{Command, CommandId};
use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Where the answer to a command id may live in the log (to be confirmed there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub first: u64,
    pub count: u32,
}

/// Positions up to 2^48 and up to 2^16 - 1 records per command fit a slot.
const POSITION_BITS: u32 = 48;

const SLOT_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    key: u64,
    /// position << 16 | count
    packed: u64,
}

impl Slot {
    fn answer(&self) -> Answer {
        Answer { first: self.packed >> 16, count: (self.packed & 0xffff) as u32 }
    }
}

/// Command id key → answers (usually none or one).
#[derive(Clone, Default)]
pub struct IdempotencyIndex {
    /// 64 Ki slots of 16 bytes (1 MiB) per chunk.
    slots: Chunked<Slot>,
    table: HashTable<u32>,
    hasher: KeyHasher,
}

impl IdempotencyIndex {
    fn slot(&self, index: u32) -> &Slot {
        self.slots.get(index)
    }

    /// Every answer filed under `key`, oldest first; each must be confirmed against the log.
    pub fn candidates(&self, key: u64) -> Vec<Answer> {
        let mut found: Vec<u32> =
            self.table.iter_hash(self.hasher.packed(key)).copied().filter(|&i| self.slot(i).key == key).collect();
        found.sort_unstable();
        found.into_iter().map(|i| self.slot(i).answer()).collect()
    }

    /// Files an answer under `key` (which may already hold answers of other command ids).
    pub fn insert(&mut self, key: u64, answer: Answer) {
        assert!(answer.first < 1 << POSITION_BITS, "position {} beyond the index's range", answer.first);
        assert!(answer.count < 1 << 16, "{} records for one command", answer.count);
        assert!(answer.first > 0 && answer.count > 0, "an answer is at least one record of the log");
        self.push(Slot { key, packed: answer.first << 16 | u64::from(answer.count) });
    }

    fn push(&mut self, slot: Slot) {
        let index = self.slots.push(slot);
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.table.insert_unique(hasher.packed(slot.key), index, |&i| hasher.packed(slots.get(i).key));
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Approximate heap bytes held, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes() + self.table.capacity() * (1 + size_of::<u32>())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * SLOT_BYTES);
        for slot in self.slots.iter() {
            out.extend_from_slice(&slot.key.to_le_bytes());
            out.extend_from_slice(&slot.packed.to_le_bytes());
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<IdempotencyIndex, String> {
        if !bytes.len().is_multiple_of(SLOT_BYTES) {
            return Err("idempotency index is cut short".into());
        }
        let count = bytes.len() / SLOT_BYTES;
        let mut index = IdempotencyIndex::default();
        index.slots.reserve(count);
        let mut hashes = Vec::with_capacity(count);
        for raw in bytes.chunks_exact(SLOT_BYTES) {
            let slot = Slot {
                key: u64::from_le_bytes(raw[..8].try_into().expect("8 bytes")),
                packed: u64::from_le_bytes(raw[8..].try_into().expect("8 bytes")),
            };
            if slot.packed >> 16 == 0 || slot.packed & 0xffff == 0 {
                return Err(format!("idempotency entry {} points nowhere", index.len()));
            }
            hashes.push((index.hasher.packed(slot.key), index.slots.push(slot)));
        }
        let (hasher, slots) = (&index.hasher, &index.slots);
        let key = |i: u32| slots.get(i).key;
        // Keys may repeat (different command ids), so no two entries are "the same" here.
        index.table = build_table(hashes, |_, _| false, |&i| hasher.packed(key(i)))
            .unwrap_or_else(|_| unreachable!("entries never compare equal"));
        Ok(index)
    }
}

impl PartialEq for IdempotencyIndex {
    fn eq(&self, other: &IdempotencyIndex) -> bool {
        self.slots == other.slots
    }
}

impl Eq for IdempotencyIndex {}

impl fmt::Debug for IdempotencyIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyIndex").field("entries", &self.len()).finish()
    }
}

impl Serialize for IdempotencyIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct("IdempotencyIndex", &Bytes(&self.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for IdempotencyIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IdempotencyIndex, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = IdempotencyIndex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the idempotency index as bytes")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<IdempotencyIndex, D::Error> {
                d.deserialize_bytes(self)
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<IdempotencyIndex, E> {
                IdempotencyIndex::from_bytes(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_newtype_struct("IdempotencyIndex", V)
    }
}

/// The index key of a command id: the first 64 bits of its SHA-256.
pub fn command_key(command_id: &CommandId) -> u64 {
    let digest = Sha256::digest(command_id.as_str().as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// SHA-256 of the command's canonical encoding (its JSON with fields in declaration order, which
/// serde_json keeps stable for a given type), stored in full on each record.
pub fn command_digest(command: &Command) -> [u8; 32] {
    let bytes = serde_json::to_vec(command).expect("commands always serialize");
    Sha256::digest(&bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> u64 {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn answer(i: u64) -> Answer {
        Answer { first: 1 + 3 * i, count: 1 + (i % 3) as u32 }
    }

    #[test]
    fn answers_come_back_across_chunks_and_the_snapshot_form() {
        let mut index = IdempotencyIndex::default();
        let n = fundledger_domain::compact::CHUNK_SLOTS as u64 + 10;
        for i in 0..n {
            index.insert(key(i), answer(i));
        }
        assert_eq!(index.len(), n as usize);
        assert_eq!(size_of::<Slot>(), SLOT_BYTES);
        for i in [0, 1, n - 11, n - 1] {
            assert_eq!(index.candidates(key(i)), vec![answer(i)]);
        }
        assert_eq!(index.candidates(12345), vec![]);
        let back: IdempotencyIndex = postcard::from_bytes(&postcard::to_stdvec(&index).unwrap()).unwrap();
        assert_eq!(back, index);
        assert_eq!(back.candidates(key(n - 1)), vec![answer(n - 1)]);
    }

    #[test]
    fn a_shared_key_keeps_every_answer_in_order_across_a_snapshot() {
        let mut index = IdempotencyIndex::default();
        index.insert(7, answer(5));
        index.insert(8, answer(6));
        index.insert(7, answer(9));
        index.insert(7, answer(2));
        let expected = vec![answer(5), answer(9), answer(2)];
        assert_eq!(index.candidates(7), expected, "oldest first");
        let back = IdempotencyIndex::from_bytes(&index.to_bytes()).unwrap();
        assert_eq!(back.candidates(7), expected);
        assert_eq!(back.candidates(8), vec![answer(6)]);
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let mut index = IdempotencyIndex::default();
        index.insert(7, answer(1));
        let bytes = index.to_bytes();
        assert_eq!(IdempotencyIndex::from_bytes(&bytes).unwrap(), index);
        assert!(IdempotencyIndex::from_bytes(&bytes[..15]).unwrap_err().contains("cut short"));
        assert!(IdempotencyIndex::from_bytes(&[0; 16]).unwrap_err().contains("points nowhere"));
    }
}
