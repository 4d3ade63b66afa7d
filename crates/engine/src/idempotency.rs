//! The idempotency index: which command ids the log already answers, and with what.
//!
//! Each entry is a 32-byte slot: a 128-bit key derived from the command id (SHA-256,
//! truncated; a collision needs ~2^64 ids), the first 64 bits of the SHA-256 of the command's
//! payload (a retry with a *different* payload passes for the same command with probability
//! 2^-64; the full digest stays on the record in the log), and the position (48 bits) and record
//! count (16 bits) of the answer, plus about 5-10 bytes of hash table holding the slot's number.
//! Slots live in fixed-size chunks, so the index grows without copying or a half-empty doubling.
//! The outcome itself is read back from the log on a retry, which is rare, so the index stays
//! small for a long history. In a snapshot it is one flat byte string, re-indexed on load.

use std::fmt;

use fundledger_domain::payments::build_table;
use fundledger_domain::{Command, CommandId, KeyHasher};
use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Where the answer to a command id lives in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Truncated SHA-256 of the command's canonical encoding.
    pub digest: [u8; 8],
    pub first: u64,
    pub count: u32,
}

/// Positions up to 2^48 and up to 2^16 - 1 records per command fit a slot.
const POSITION_BITS: u32 = 48;

/// Slots per chunk (2 MiB).
const CHUNK_SLOTS: usize = 1 << 16;

const SLOT_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// The key's two halves (a `u128` field would align the slot to 16 bytes, making it 48).
    key: [u64; 2],
    digest: [u8; 8],
    /// position << 16 | count
    packed: u64,
}

impl Slot {
    fn answer(&self) -> Answer {
        Answer { digest: self.digest, first: self.packed >> 16, count: (self.packed & 0xffff) as u32 }
    }
}

/// Command id key → answer.
#[derive(Clone, Default)]
pub struct IdempotencyIndex {
    chunks: Vec<Box<[Slot]>>,
    len: usize,
    table: HashTable<u32>,
    hasher: KeyHasher,
}

impl IdempotencyIndex {
    fn slot(&self, index: u32) -> &Slot {
        let index = index as usize;
        &self.chunks[index / CHUNK_SLOTS][index % CHUNK_SLOTS]
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flat_map(|c| c.iter()).take(self.len)
    }

    fn find(&self, key: [u64; 2]) -> Option<u32> {
        self.table.find(self.hasher.fingerprint(key), |&i| self.slot(i).key == key).copied()
    }

    pub fn get(&self, key: u128) -> Option<Answer> {
        self.find(split(key)).map(|i| self.slot(i).answer())
    }

    pub fn insert(&mut self, key: u128, answer: Answer) {
        assert!(answer.first < 1 << POSITION_BITS, "position {} beyond the index's range", answer.first);
        assert!(answer.count < 1 << 16, "{} records for one command", answer.count);
        let added = self.push(Slot {
            key: split(key),
            digest: answer.digest,
            packed: answer.first << 16 | u64::from(answer.count),
        });
        debug_assert!(added, "a command id answered twice");
    }

    /// Appends a slot and indexes it, in one probe of the table; `false` (and nothing changed)
    /// if its key is already there.
    fn push(&mut self, slot: Slot) -> bool {
        let index = u32::try_from(self.len).expect("fewer than 2^32 commands");
        let (hasher, chunks) = (&self.hasher, &self.chunks);
        let at = |i: u32| &chunks[i as usize / CHUNK_SLOTS][i as usize % CHUNK_SLOTS];
        match self.table.entry(
            hasher.fingerprint(slot.key),
            |&i| at(i).key == slot.key,
            |&i| hasher.fingerprint(at(i).key),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => return false,
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(index);
            }
        }
        if self.len == self.chunks.len() * CHUNK_SLOTS {
            self.chunks.push(vec![slot; CHUNK_SLOTS].into_boxed_slice());
        }
        self.chunks[self.len / CHUNK_SLOTS][self.len % CHUNK_SLOTS] = slot;
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap bytes held, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.chunks.len() * CHUNK_SLOTS * size_of::<Slot>() + self.table.capacity() * (1 + size_of::<u32>())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len * SLOT_BYTES);
        for slot in self.slots() {
            out.extend_from_slice(&slot.key[0].to_le_bytes());
            out.extend_from_slice(&slot.key[1].to_le_bytes());
            out.extend_from_slice(&slot.digest);
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
        index.chunks.reserve_exact(count.div_ceil(CHUNK_SLOTS));
        let mut hashes = Vec::with_capacity(count);
        for raw in bytes.chunks_exact(SLOT_BYTES) {
            let slot = Slot {
                key: [
                    u64::from_le_bytes(raw[..8].try_into().expect("8 bytes")),
                    u64::from_le_bytes(raw[8..16].try_into().expect("8 bytes")),
                ],
                digest: raw[16..24].try_into().expect("8 bytes"),
                packed: u64::from_le_bytes(raw[24..].try_into().expect("8 bytes")),
            };
            if slot.packed >> 16 == 0 || slot.packed & 0xffff == 0 {
                return Err(format!("idempotency entry {} points nowhere", index.len));
            }
            hashes.push((index.hasher.fingerprint(slot.key), index.len as u32));
            if index.len == index.chunks.len() * CHUNK_SLOTS {
                index.chunks.push(vec![slot; CHUNK_SLOTS].into_boxed_slice());
            }
            index.chunks[index.len / CHUNK_SLOTS][index.len % CHUNK_SLOTS] = slot;
            index.len += 1;
        }
        let (hasher, chunks) = (&index.hasher, &index.chunks);
        let key = |i: u32| chunks[i as usize / CHUNK_SLOTS][i as usize % CHUNK_SLOTS].key;
        index.table = build_table(hashes, |&a, &b| key(a) == key(b), |&i| hasher.fingerprint(key(i)))
            .map_err(|i| format!("idempotency entry {i} repeats a command id"))?;
        Ok(index)
    }
}

fn split(key: u128) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}

impl PartialEq for IdempotencyIndex {
    fn eq(&self, other: &IdempotencyIndex) -> bool {
        self.len == other.len && self.slots().eq(other.slots())
    }
}

impl Eq for IdempotencyIndex {}

impl fmt::Debug for IdempotencyIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyIndex").field("entries", &self.len).finish()
    }
}

/// Serializes as bytes, not as a sequence of numbers.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
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
pub fn short_digest(digest: &[u8; 32]) -> [u8; 8] {
    digest[..8].try_into().expect("8 of 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> u128 {
        u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    }

    fn answer(i: u64) -> Answer {
        Answer { digest: [i as u8; 8], first: 1 + 3 * i, count: 1 + (i % 3) as u32 }
    }

    #[test]
    fn answers_come_back_across_chunks_and_the_snapshot_form() {
        let mut index = IdempotencyIndex::default();
        let n = CHUNK_SLOTS as u64 + 10;
        for i in 0..n {
            index.insert(key(i), answer(i));
        }
        assert_eq!(index.len(), n as usize);
        assert_eq!(size_of::<Slot>(), SLOT_BYTES);
        for i in [0, 1, CHUNK_SLOTS as u64, n - 1] {
            assert_eq!(index.get(key(i)), Some(answer(i)));
        }
        assert_eq!(index.get(12345), None);
        let back: IdempotencyIndex = postcard::from_bytes(&postcard::to_stdvec(&index).unwrap()).unwrap();
        assert_eq!(back, index);
        assert_eq!(back.get(key(n - 1)), Some(answer(n - 1)));
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let mut index = IdempotencyIndex::default();
        index.insert(7, answer(1));
        let bytes = index.to_bytes();
        assert_eq!(IdempotencyIndex::from_bytes(&bytes).unwrap(), index);
        assert!(IdempotencyIndex::from_bytes(&bytes[..31]).unwrap_err().contains("cut short"));
        let twice = [bytes.clone(), bytes.clone()].concat();
        assert!(IdempotencyIndex::from_bytes(&twice).unwrap_err().contains("repeats"));
        assert!(IdempotencyIndex::from_bytes(&[0; 32]).unwrap_err().contains("points nowhere"));
    }
}
