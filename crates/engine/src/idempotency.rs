//! The idempotency index: where in the log the answer to each command id is.
//!
//! Each entry is a 16-byte slot: a 64-bit seeded hash of the command id (its key), and the
//! position (48 bits) and record count (16 bits) of the answer, plus about 5-10 bytes of hash
//! table holding the slot's number. The key only *locates* candidates: two command ids may share
//! one (for a billion ids, about a 3% chance that some pair does), so every hit is confirmed
//! against the log, whose first record of the answer carries the exact command id and the full
//! SHA-256 of the command's payload. Hits are retries, which are rare, so the read costs nothing
//! in practice, and the index stays at ~24 bytes per command over a long history. Slots live in
//! fixed-size chunks, so the index grows without copying or a half-empty doubling. In a snapshot
//! it is flat byte strings: the hash seed, the slots, and the table as it is, so loading is a
//! copy and a check, not an insert per command.

use std::fmt;

use fundledger_domain::compact::{ByteBuf, Bytes, Chunked, KeyHasher, SlotTable, u64_le};
use fundledger_domain::{Command, CommandId};
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
    table: SlotTable,
    hasher: KeyHasher,
}

impl IdempotencyIndex {
    fn slot(&self, index: u32) -> &Slot {
        self.slots.get(index)
    }

    /// The index key of a command id: a seeded 64-bit hash of its text. The seed is the
    /// index's own (random when the index is created, kept in its snapshots), so keys cannot be
    /// aimed at each other from outside; and a shared key only costs a read of the log.
    pub fn key_of(&self, command_id: &CommandId) -> u64 {
        self.hasher.text(command_id.as_str().as_bytes())
    }

    /// Starts loading the buckets a lookup of `key` reads first.
    pub fn prefetch(&self, key: u64) {
        self.table.prefetch(self.hasher.packed(key));
    }

    /// Every answer filed under `key`, oldest first; each must be confirmed against the log.
    pub fn candidates(&self, key: u64) -> Vec<Answer> {
        let mut found: Vec<u32> =
            self.table.candidates(self.hasher.packed(key)).filter(|&i| self.slot(i).key == key).collect();
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
        let indexed = self.table.push(hasher.packed(slot.key), |i| hasher.packed(slots.get(i).key));
        debug_assert_eq!(indexed, index, "the command table numbers slots as they are pushed");
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Approximate heap bytes held, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes() + self.table.heap_bytes()
    }

    /// The snapshot form: seed, slots and table.
    fn to_parts(&self) -> [Vec<u8>; 3] {
        let seed = self.hasher.seed_bytes().to_vec();
        let mut slots = Vec::with_capacity(self.len() * SLOT_BYTES);
        for slot in self.slots.iter() {
            slots.extend_from_slice(&slot.key.to_le_bytes());
            slots.extend_from_slice(&slot.packed.to_le_bytes());
        }
        [seed, slots, self.table.to_bytes()]
    }

    fn from_parts(seed: &[u8], slots: &[u8], table: &[u8]) -> Result<IdempotencyIndex, String> {
        let hasher = KeyHasher::from_seed_bytes(seed).ok_or("idempotency index's hash seed is not 16 bytes")?;
        if !slots.len().is_multiple_of(SLOT_BYTES) {
            return Err("idempotency index is cut short".into());
        }
        let count = slots.len() / SLOT_BYTES;
        let mut index = IdempotencyIndex { hasher, ..Default::default() };
        index.slots = Chunked::load(count, |number| {
            let raw = &slots[number * SLOT_BYTES..(number + 1) * SLOT_BYTES];
            let slot = Slot { key: u64_le(raw, 0), packed: u64_le(raw, 8) };
            if slot.packed >> 16 == 0 || slot.packed & 0xffff == 0 {
                return Err(format!("idempotency entry {number} points nowhere"));
            }
            Ok(slot)
        })?;
        index.table = SlotTable::from_bytes(table, count).map_err(|e| format!("idempotency table: {e}"))?;
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
        let [seed, slots, table] = self.to_parts();
        (Bytes(&seed), Bytes(&slots), Bytes(&table)).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdempotencyIndex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IdempotencyIndex, D::Error> {
        let (seed, slots, table) = <(ByteBuf<'de>, ByteBuf<'de>, ByteBuf<'de>)>::deserialize(deserializer)?;
        IdempotencyIndex::from_parts(&seed.0, &slots.0, &table.0).map_err(serde::de::Error::custom)
    }
}

/// The prefix of the command digest's input: names the encoding, and keeps it apart from the
/// JSON of [`command_digest_json`] (JSON text starts with `{` or `"`, never with this).
const DIGEST_V1_PREFIX: &[u8] = b"\x01fundledger.command.postcard.v1\x00";

/// SHA-256 of the command's canonical encoding: [`DIGEST_V1_PREFIX`], then the command in
/// postcard (serde's declaration order of fields and variants, integers as varints, text
/// length-prefixed; stable for a given type). Stored in full on each record. `scratch` is
/// reused between calls.
pub fn command_digest(command: &Command, scratch: &mut Vec<u8>) -> [u8; 32] {
    scratch.clear();
    scratch.extend_from_slice(DIGEST_V1_PREFIX);
    let encoded = postcard::to_extend(command, std::mem::take(scratch)).expect("commands always serialize");
    *scratch = encoded;
    Sha256::digest(&scratch).into()
}

/// The digest that records written before the postcard digest carry: SHA-256 of the command's
/// JSON (fields in declaration order). Computed only to confirm a retry against such a record.
pub fn command_digest_json(command: &Command) -> [u8; 32] {
    Sha256::digest(serde_json::to_vec(command).expect("commands always serialize")).into()
}

/// Whether a record's stored digest is that of `command`, under either encoding.
pub fn digest_matches(stored: &[u8; 32], digest: &[u8; 32], command: &Command) -> bool {
    stored == digest || *stored == command_digest_json(command)
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
        let [seed, slots, table] = index.to_parts();
        let back = IdempotencyIndex::from_parts(&seed, &slots, &table).unwrap();
        assert_eq!(back.candidates(7), expected);
        assert_eq!(back.candidates(8), vec![answer(6)]);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The command digest is stored in every record and compared on every retry, across
    /// upgrades: its encoding must never drift. These values pin it (recompute them only with a
    /// new digest version, keeping the old one accepted as the JSON digest is).
    #[test]
    fn the_command_digest_encoding_is_pinned_and_the_json_one_still_confirms() {
        use fundledger_domain::testkit::{collect, lanzhou, m, p};
        let command = collect(lanzhou(), p("2024-03"), m("10.00"), "TB-A");
        let mut scratch = Vec::new();
        let digest = command_digest(&command, &mut scratch);
        assert_eq!(hex(&digest), "363abd074b906df3e0ab74d3961a0ac65df83d7ca5004b4adbc537478e680496");
        let json = command_digest_json(&command);
        assert_eq!(hex(&json), "d4c94501bde87371f97713f2516e42cca2c9a49e81bbdf15095859d41fbc7d81");
        assert_ne!(digest, json);
        assert!(digest_matches(&digest, &digest, &command));
        assert!(digest_matches(&json, &digest, &command), "an older record's JSON digest confirms");
        let other = collect(lanzhou(), p("2024-03"), m("10.01"), "TB-A");
        let other_digest = command_digest(&other, &mut scratch);
        assert!(!digest_matches(&digest, &other_digest, &other));
        assert!(!digest_matches(&json, &other_digest, &other));
    }

    #[test]
    fn damaged_parts_are_refused() {
        let mut index = IdempotencyIndex::default();
        index.insert(7, answer(1));
        let [seed, slots, table] = index.to_parts();
        assert_eq!(IdempotencyIndex::from_parts(&seed, &slots, &table).unwrap(), index);
        assert!(IdempotencyIndex::from_parts(&seed, &slots[..15], &table).unwrap_err().contains("cut short"));
        assert!(IdempotencyIndex::from_parts(&seed[..4], &slots, &table).unwrap_err().contains("seed"));
        assert!(IdempotencyIndex::from_parts(&seed, &[0; 16], &table).unwrap_err().contains("points nowhere"));
        assert!(IdempotencyIndex::from_parts(&seed, &slots, &[]).unwrap_err().contains("idempotency table"));
        let mut two = slots.clone();
        two.extend_from_slice(&slots);
        assert!(IdempotencyIndex::from_parts(&seed, &two, &table).unwrap_err().contains("idempotency table"));
    }
}
