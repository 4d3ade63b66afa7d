//! Building blocks of the compact in-memory indexes (the payment book here, the engine's
//! idempotency index): slots in fixed-size chunks, seeded hashing of fingerprints and text, a
//! hash table of slot numbers whose snapshot form is its memory layout ([`SlotTable`]), hash
//! tables built in bucket order on load, byte strings for the snapshot form, and the
//! helpers that spread a snapshot load over the cores.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Slots per chunk.
pub const CHUNK_SLOTS: usize = 1 << 16;

/// An append-only vector of small `Copy` slots in fixed-size chunks: growth never copies what is
/// there nor leaves a half-empty doubling behind, and a slot's number (`u32`) is its address.
#[derive(Clone)]
pub struct Chunked<T> {
    /// Every chunk has room for [`CHUNK_SLOTS`]; all but the last are full.
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked { chunks: Vec::new(), len: 0 }
    }
}

impl<T: Copy> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, number: u32) -> &T {
        let number = number as usize;
        assert!(number < self.len, "slot {number} of {}", self.len);
        &self.chunks[number / CHUNK_SLOTS][number % CHUNK_SLOTS]
    }

    /// Appends a slot and returns its number.
    pub fn push(&mut self, slot: T) -> u32 {
        let number = u32::try_from(self.len).expect("fewer than 2^32 slots");
        if self.len == self.chunks.len() * CHUNK_SLOTS {
            self.chunks.push(Vec::with_capacity(CHUNK_SLOTS));
        }
        self.chunks.last_mut().expect("a chunk with room").push(slot);
        self.len += 1;
        number
    }

    /// A vector of `count` slots, slot `i` being `slot(i)` (loading a snapshot); the chunks are
    /// built on all cores. The first error, in slot order, stops it.
    pub fn load<E: Send>(count: usize, slot: impl Fn(usize) -> Result<T, E> + Sync) -> Result<Chunked<T>, E>
    where
        T: Send,
    {
        u32::try_from(count).expect("fewer than 2^32 slots");
        let parts = in_parallel(count.div_ceil(CHUNK_SLOTS), 1, |chunks| {
            chunks
                .map(|c| {
                    let mut chunk = Vec::with_capacity(CHUNK_SLOTS);
                    for i in c * CHUNK_SLOTS..((c + 1) * CHUNK_SLOTS).min(count) {
                        chunk.push(slot(i)?);
                    }
                    Ok(chunk)
                })
                .collect::<Result<Vec<_>, E>>()
        });
        let mut chunks = Vec::with_capacity(count.div_ceil(CHUNK_SLOTS));
        for part in parts {
            chunks.extend(part?);
        }
        Ok(Chunked { chunks, len: count })
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.chunks.len() * CHUNK_SLOTS * size_of::<T>()
    }
}

impl<T: Copy + PartialEq> PartialEq for Chunked<T> {
    fn eq(&self, other: &Chunked<T>) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Copy + Eq> Eq for Chunked<T> {}

/// Hashes for the in-memory indexes, seeded at random when an index is created; an index stored
/// in a snapshot as it is keeps its seed there.
///
/// Keys that are already fingerprints (SHA-256 of an id) or small packed numbers get one seeded
/// folded multiply; text chosen by agencies (beneficiary refs) gets a seeded folded multiply per
/// 8 bytes. Either way the bucket of a key cannot be predicted without the seed, so crafted ids
/// cannot pile up.
#[derive(Clone)]
pub struct KeyHasher {
    seed: [u64; 2],
}

impl Default for KeyHasher {
    fn default() -> KeyHasher {
        let random = RandomState::new();
        KeyHasher::from_seed([random.hash_one(0x5eed_u64), random.hash_one(0xfeed_u64)])
    }
}

impl KeyHasher {
    /// A hasher with a given seed (a stored table's, so that the table can be read back as it is).
    pub fn from_seed(seed: [u64; 2]) -> KeyHasher {
        KeyHasher { seed: [seed[0], seed[1] | 1] }
    }

    /// The seed, to store with a table built on it.
    pub fn seed(&self) -> [u64; 2] {
        self.seed
    }

    /// The seed as stored in a snapshot: 16 bytes, little endian.
    pub fn seed_bytes(&self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.seed[0].to_le_bytes());
        out[8..].copy_from_slice(&self.seed[1].to_le_bytes());
        out
    }

    /// A hasher from a stored seed; `None` unless it is 16 bytes.
    pub fn from_seed_bytes(bytes: &[u8]) -> Option<KeyHasher> {
        (bytes.len() == 16).then(|| KeyHasher::from_seed([u64_le(bytes, 0), u64_le(bytes, 8)]))
    }

    /// A 128-bit fingerprint, as two halves.
    pub fn fingerprint(&self, key: [u64; 2]) -> u64 {
        folded_multiply(key[0] ^ self.seed[0], key[1] ^ self.seed[1])
    }

    /// A packed 64-bit key.
    pub fn packed(&self, key: u64) -> u64 {
        folded_multiply(key ^ self.seed[0], self.seed[1])
    }

    /// Text and other agency-chosen bytes.
    pub fn text(&self, bytes: &[u8]) -> u64 {
        let hash = fold_words(self.seed[0] ^ (bytes.len() as u64).rotate_left(32), bytes, self.seed[1]);
        folded_multiply(hash ^ self.seed[0].rotate_left(17), self.seed[1])
    }
}

/// A `KeyHasher` as a std `BuildHasher`, for the small short-lived maps on hot paths (the
/// writer's map of a batch's command ids): the same seeded folded multiply per 8 bytes as
/// [`KeyHasher::text`], where SipHash took a few percent of the writer's time.
impl std::hash::BuildHasher for KeyHasher {
    type Hasher = FoldingHasher;

    fn build_hasher(&self) -> FoldingHasher {
        FoldingHasher { hash: self.seed[0], multiplier: self.seed[1] }
    }
}

/// The hasher [`KeyHasher`] builds.
pub struct FoldingHasher {
    hash: u64,
    multiplier: u64,
}

impl std::hash::Hasher for FoldingHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.hash = fold_words(self.hash, bytes, self.multiplier);
    }

    fn write_u8(&mut self, n: u8) {
        self.hash = folded_multiply(self.hash ^ u64::from(n), self.multiplier);
    }

    fn write_usize(&mut self, n: usize) {
        self.hash = folded_multiply(self.hash ^ n as u64, self.multiplier);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.hash ^ self.multiplier.rotate_left(17), self.multiplier)
    }
}

/// The little-endian `u64` at `at` in a snapshot's byte string.
pub fn u64_le(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Folds `bytes` into `hash`, 8 bytes (little endian, the last word zero-padded) at a time.
fn fold_words(mut hash: u64, bytes: &[u8], multiplier: u64) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        hash = folded_multiply(hash ^ u64::from_le_bytes(word.try_into().expect("8 bytes")), multiplier);
    }
    let rest = words.remainder().len();
    if rest > 0 {
        hash = folded_multiply(hash ^ last_bytes_le(bytes, rest), multiplier);
    }
    hash
}

/// The last `n` (0-8) bytes of `bytes` as a little-endian word with zeros above: what a copy
/// into a zeroed 8-byte buffer gives, without the copy (a `memcpy` call for a length known only
/// at run time), by one overlapping load when `bytes` has 8 or more.
#[inline]
pub fn last_bytes_le(bytes: &[u8], n: usize) -> u64 {
    assert!(n <= 8 && n <= bytes.len(), "the last {n} of {} bytes as a word", bytes.len());
    if n == 0 {
        return 0;
    }
    if bytes.len() >= 8 {
        return u64_le(bytes, bytes.len() - 8) >> (8 * (8 - n));
    }
    bytes.iter().rev().fold(0u64, |word, &b| (word << 8) | u64::from(b))
}

fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// How many parts to cut `n` items into: one per core (at most four), none shorter than
/// `min_part`; and the length of each but the last.
fn parts_of(n: usize, min_part: usize) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()).min(4);
    let parts = cores.min(n / min_part.max(1)).max(1);
    (parts, n.div_ceil(parts).max(1))
}

/// Runs `work` over `0..n` cut into contiguous ranges (see [`parts_of`]) on scoped threads; the
/// results come back in range order. Loading a large snapshot is mostly copying, checking and
/// faulting in fresh memory, which all spread over cores.
pub fn in_parallel<R: Send>(n: usize, min_part: usize, work: impl Fn(std::ops::Range<usize>) -> R + Sync) -> Vec<R> {
    let (parts, per_part) = parts_of(n, min_part);
    let ranges: Vec<_> = (0..parts).map(|p| (p * per_part).min(n)..((p + 1) * per_part).min(n)).collect();
    if parts == 1 {
        return ranges.into_iter().map(&work).collect();
    }
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = ranges.into_iter().map(|r| scope.spawn(move || work(r))).collect();
        handles.into_iter().map(|h| h.join().expect("a loading thread panicked")).collect()
    })
}

/// [`in_parallel`] over the parts of a slice, each given with its offset.
pub fn in_parallel_mut<T: Send, R: Send>(
    data: &mut [T],
    min_part: usize,
    work: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let (parts, per_part) = parts_of(data.len(), min_part);
    if parts == 1 {
        return vec![work(0, data)];
    }
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = data
            .chunks_mut(per_part)
            .enumerate()
            .map(|(p, part)| scope.spawn(move || work(p * per_part, part)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("a loading thread panicked")).collect()
    })
}

/// Asks the processor to start loading the cache line holding `value` (a hint: nothing happens
/// on processors without one). Folds over many events call it a few events ahead of a lookup
/// in a table too large for the cache, so that the miss overlaps useful work.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault; the pointer comes from
    // a reference, so it is valid anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Parts of a table at least this many buckets long are checked on a thread of their own.
const PARALLEL_MIN_BUCKETS: usize = 1 << 20;

/// A hash table of slot numbers whose memory layout is its snapshot form: open addressing with
/// linear probing over a power-of-two number of buckets, at most 7/8 full, each bucket a tag byte
/// (7 bits of the hash, or 0 for empty) and a `u32` slot number. Five bytes a bucket, like
/// hashbrown's, but a snapshot stores the two arrays as they are and loading them is a copy, not
/// ten million inserts. The values are the slot numbers `0..len` in the order they were pushed
/// (the caller's slots live in a vector beside it), so growing reads the caller's slots in order
/// rather than at random. Entries are never removed. Equal hashes may hold several values (the
/// caller tells them apart through [`SlotTable::candidates`] or [`SlotTable::find`]).
#[derive(Clone, Default)]
pub struct SlotTable {
    tags: Vec<u8>,
    values: Vec<u32>,
    len: usize,
}

impl fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotTable").field("len", &self.len).field("buckets", &self.buckets()).finish()
    }
}

const TABLE_MIN_BUCKETS: usize = 16;

fn tag_of(hash: u64) -> u8 {
    (hash >> 57) as u8 | 0x80
}

impl SlotTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn buckets(&self) -> usize {
        self.tags.len()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.tags.capacity() + self.values.capacity() * size_of::<u32>()
    }

    /// The values stored under `hash` (and, rarely, under other hashes sharing its tag and
    /// probe run), in probe order: insertion order until the table grows, not after (a caller
    /// that needs an order sorts, as the idempotency index does by slot number).
    pub fn candidates(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let mask = self.tags.len().wrapping_sub(1);
        let tag = tag_of(hash);
        let mut at = hash as usize & mask;
        let mut done = self.tags.is_empty();
        std::iter::from_fn(move || {
            while !done {
                let here = at;
                at = (at + 1) & mask;
                match self.tags[here] {
                    0 => done = true,
                    t if t == tag => return Some(self.values[here]),
                    _ => {}
                }
            }
            None
        })
    }

    /// Asks the processor to start loading the buckets a lookup of `hash` reads first (its tag
    /// and its slot number), for a caller that knows its next lookups a few steps ahead.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if !self.tags.is_empty() {
            let home = hash as usize & (self.tags.len() - 1);
            prefetch(&self.tags[home]);
            prefetch(&self.values[home]);
        }
    }

    /// The first value stored under `hash` that `is` accepts.
    pub fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        self.candidates(hash).find(|&v| is(v))
    }

    /// Adds the next slot number (`len`) under `hash` and returns it; `rehash` gives the hash of
    /// a stored slot number when the table grows.
    pub fn push(&mut self, hash: u64, rehash: impl Fn(u32) -> u64) -> u32 {
        let value = u32::try_from(self.len).expect("fewer than 2^32 slots");
        if (self.len + 1) * 8 > self.tags.len() * 7 {
            self.grow(rehash);
        }
        self.place(hash, value);
        self.len += 1;
        value
    }

    fn place(&mut self, hash: u64, value: u32) {
        let mask = self.tags.len() - 1;
        let mut at = hash as usize & mask;
        while self.tags[at] != 0 {
            at = (at + 1) & mask;
        }
        self.tags[at] = tag_of(hash);
        self.values[at] = value;
    }

    fn grow(&mut self, rehash: impl Fn(u32) -> u64) {
        let buckets = (self.tags.len() * 2).max(TABLE_MIN_BUCKETS);
        self.tags = vec![0; buckets];
        self.values = vec![0; buckets];
        // In slot order: the caller's slots are read front to back (a table of millions of
        // entries is mostly outside the cache, and reading them in bucket order cost a cache miss
        // each), while the writes go to the new table, a fifth of the slots' size.
        for value in 0..self.len as u32 {
            self.place(rehash(value), value);
        }
    }

    /// The snapshot form: the tag bytes, then the values as little-endian `u32`s (0 in empty
    /// buckets).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.tags.len() * 5);
        out.extend_from_slice(&self.tags);
        for value in &self.values {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Reads back [`SlotTable::to_bytes`] for a table of `slots` values, checking that its shape
    /// is that of a table (a power of two buckets, at most 7/8 full) and that it holds each
    /// number below `slots` exactly once. Where each entry sits is not re-derived (that would
    /// rehash every key); the snapshot's checksum vouches for it.
    pub fn from_bytes(bytes: &[u8], slots: usize) -> Result<SlotTable, String> {
        if !bytes.len().is_multiple_of(5) {
            return Err("hash table is cut short".into());
        }
        let buckets = bytes.len() / 5;
        if buckets == 0 && slots == 0 {
            return Ok(SlotTable::default());
        }
        if !buckets.is_power_of_two() || buckets < TABLE_MIN_BUCKETS || slots * 8 > buckets * 7 {
            return Err(format!("hash table of {buckets} buckets cannot hold {slots} entries"));
        }
        let (tags, raw) = bytes.split_at(buckets);
        // Each number below `slots` exactly once: as many entries as slots, none out of range,
        // and the wrapping sum of a 64-bit mix of the numbers equal to that of 0..slots (a
        // number twice means another missing, which changes the sum but for a 2^-64 chance). A
        // bitmap would be exact, but its random writes took a tenth of a large start-up; the
        // snapshot's checksum is what catches damage, this only confirms the table's shape.
        let mix = |v: u64| folded_multiply(v ^ 0x243f_6a88_85a3_08d3, 0x9e37_79b9_7f4a_7c15);
        let mut values = vec![0u32; buckets];
        let parts = in_parallel_mut(&mut values, PARALLEL_MIN_BUCKETS, |offset, out| {
            let raw = &raw[offset * 4..(offset + out.len()) * 4];
            for (value, b) in out.iter_mut().zip(raw.chunks_exact(4)) {
                *value = u32::from_le_bytes(b.try_into().expect("4 bytes"));
            }
            let (mut len, mut out_of_range, mut bad_tag, mut sum) = (0usize, false, false, 0u64);
            for (&tag, &value) in tags[offset..offset + out.len()].iter().zip(out.iter()) {
                let used = tag != 0;
                len += usize::from(used);
                out_of_range |= used & (value as usize >= slots);
                bad_tag |= used & (tag & 0x80 == 0);
                sum = sum.wrapping_add(mix(u64::from(value)) & 0u64.wrapping_sub(u64::from(used)));
            }
            (len, out_of_range || bad_tag, sum)
        });
        let expected = in_parallel(slots, PARALLEL_MIN_BUCKETS, |r| r.fold(0u64, |a, v| a.wrapping_add(mix(v as u64))))
            .into_iter()
            .fold(0u64, u64::wrapping_add);
        let len: usize = parts.iter().map(|p| p.0).sum();
        if len != slots {
            return Err(format!("hash table holds {len} entries for {slots} slots"));
        }
        let sum = parts.iter().fold(0u64, |a, p| a.wrapping_add(p.2));
        if parts.iter().any(|p| p.1) || sum != expected {
            return Err("hash table holds an entry that is not a slot, or one slot twice".into());
        }
        Ok(SlotTable { tags: tags.to_vec(), values, len })
    }
}

/// Builds a hash table from `(hash, value)` pairs, inserting them in the order of their home
/// buckets, so that loading millions of entries walks the table front to back instead of missing
/// the cache on every insert (~10x faster at ten million entries). `same` tells equal values
/// apart (it is called only when the stored hash bits match); `rehash` is never called, as the
/// table is sized up front. `Err(value)` is a value equal to one inserted before it.
pub fn build_table<T: Copy>(
    mut entries: Vec<(u64, T)>,
    same: impl Fn(&T, &T) -> bool,
    rehash: impl Fn(&T) -> u64,
) -> Result<HashTable<T>, T> {
    let mut table = HashTable::with_capacity(entries.len());
    // hashbrown's buckets are a power of two, 7/8 of which are usable; the home bucket of a hash
    // is its low bits.
    let buckets = (table.capacity() * 8 / 7).next_power_of_two().max(1) as u64;
    let bits = buckets.trailing_zeros();
    // Within a group of 16 buckets (one control word) the order does not matter.
    let mut shift = 4.min(bits);
    let mut scratch = entries.clone();
    while shift < bits {
        let digit = |hash: u64| ((hash >> shift) & 0xff) as usize;
        let mut starts = [0usize; 256];
        for (hash, _) in &entries {
            starts[digit(*hash)] += 1;
        }
        let mut sum = 0;
        for start in &mut starts {
            (*start, sum) = (sum, sum + *start);
        }
        for entry in &entries {
            let d = digit(entry.0);
            scratch[starts[d]] = *entry;
            starts[d] += 1;
        }
        std::mem::swap(&mut entries, &mut scratch);
        shift += 8;
    }
    drop(scratch);
    for (hash, value) in entries {
        match table.entry(hash, |v| same(v, &value), &rehash) {
            hashbrown::hash_table::Entry::Occupied(_) => return Err(value),
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(value);
            }
        }
    }
    Ok(table)
}

/// Serializes a byte string as bytes (not as a sequence of numbers).
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// A byte string read back: borrowed from the input where the format allows (postcard over a
/// slice, as snapshots are read), so that hundreds of megabytes are not copied before parsing;
/// owned otherwise (from a sequence of numbers in text formats).
pub struct ByteBuf<'de>(pub Cow<'de, [u8]>);

impl<'de> Deserialize<'de> for ByteBuf<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ByteBuf<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ByteBuf<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<ByteBuf<'de>, E> {
                Ok(ByteBuf(Cow::Borrowed(v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf<'de>, E> {
                Ok(ByteBuf(Cow::Owned(v.to_vec())))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf<'de>, E> {
                Ok(ByteBuf(Cow::Owned(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ByteBuf(Cow::Owned(out)))
            }
        }
        deserializer.deserialize_bytes(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fold_words` as first written (each chunk copied into a zeroed word): stored tables were
    /// built with its hashes, so the faster form must give the same ones.
    fn fold_words_by_copy(mut hash: u64, bytes: &[u8], multiplier: u64) -> u64 {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            hash = folded_multiply(hash ^ u64::from_le_bytes(word), multiplier);
        }
        hash
    }

    #[test]
    fn words_are_folded_as_before_at_every_length() {
        let bytes: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8 | 1).collect();
        for start in 0..8 {
            for len in 0..=bytes.len() - start {
                let text = &bytes[start..start + len];
                assert_eq!(
                    fold_words(0x1234, text, 0x9e37_79b9_7f4a_7c15),
                    fold_words_by_copy(0x1234, text, 0x9e37_79b9_7f4a_7c15),
                    "{start} {len}"
                );
            }
        }
    }

    #[test]
    fn the_std_hasher_keeps_equal_keys_together_and_depends_on_the_seed() {
        use std::hash::BuildHasher;
        let ids: Vec<crate::CommandId> =
            (0..2_000).map(|i| crate::CommandId::parse(&format!("cmd-{i}")).expect("id")).collect();
        let (a, b) = (KeyHasher::from_seed([1, 2]), KeyHasher::from_seed([3, 4]));
        let mut map = std::collections::HashMap::with_hasher(a.clone());
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(map.insert(*id, i), None);
        }
        assert!(ids.iter().enumerate().all(|(i, id)| map.get(id) == Some(&i)));
        assert_eq!(a.hash_one(ids[7]), a.hash_one(crate::CommandId::parse("cmd-7").expect("id")));
        let differing = ids.iter().filter(|id| a.hash_one(id) != b.hash_one(id)).count();
        assert_eq!(differing, ids.len(), "another seed, other hashes");
        let distinct: std::collections::HashSet<u64> = ids.iter().map(|id| a.hash_one(id)).collect();
        assert_eq!(distinct.len(), ids.len(), "no collisions among a few thousand ids");
    }

    #[test]
    fn tables_built_in_bucket_order_find_everything_and_catch_repeats() {
        let hasher = KeyHasher::default();
        for n in [0u64, 1, 7, 100, 5000] {
            let entries: Vec<(u64, u64)> = (0..n).map(|k| (hasher.packed(k * 3), k * 3)).collect();
            let table = build_table(entries, |a, b| a == b, |&k| hasher.packed(k)).unwrap();
            assert_eq!(table.len() as u64, n);
            for k in 0..n * 3 {
                assert_eq!(table.find(hasher.packed(k), |&v| v == k).is_some(), k % 3 == 0, "{k} of {n}");
            }
        }
        let repeated = vec![(hasher.packed(1), 1u64), (hasher.packed(2), 2), (hasher.packed(1), 1)];
        assert_eq!(build_table(repeated, |a, b| a == b, |&k| hasher.packed(k)).unwrap_err(), 1);
    }

    #[test]
    fn slot_tables_find_everything_across_growth_and_their_stored_form() {
        let hasher = KeyHasher::default();
        let keys: Vec<u64> = (0..20_000u64).map(|k| k * 3).collect();
        let hash = |v: u32| hasher.packed(keys[v as usize]);
        let mut table = SlotTable::default();
        for v in 0..keys.len() as u32 {
            assert_eq!(table.push(hash(v), hash), v);
            assert!(table.len() * 8 <= table.buckets() * 7);
        }
        let back = SlotTable::from_bytes(&table.to_bytes(), keys.len()).unwrap();
        let again = KeyHasher::from_seed_bytes(&hasher.seed_bytes()).unwrap();
        assert_eq!(again.seed(), hasher.seed());
        assert!(KeyHasher::from_seed_bytes(&hasher.seed_bytes()[..15]).is_none());
        for t in [&table, &back] {
            assert_eq!(t.len(), keys.len());
            for k in 0..keys.len() as u64 * 3 {
                let found = t.find(again.packed(k), |v| keys[v as usize] == k);
                assert_eq!(found, (k % 3 == 0).then_some((k / 3) as u32), "{k}");
            }
        }
        // Equal hashes keep every value (in insertion order, as the table has not grown since).
        let mut shared = SlotTable::default();
        for _ in 0..3 {
            shared.push(77, |_| 77);
        }
        assert_eq!(shared.candidates(77).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(SlotTable::from_bytes(&[], 0).unwrap().candidates(5).count(), 0);
    }

    #[test]
    fn text_hashes_follow_the_seed_and_spread() {
        let hasher = KeyHasher::default();
        let again = KeyHasher::from_seed_bytes(&hasher.seed_bytes()).unwrap();
        assert_eq!(again.seed(), hasher.seed());
        assert!(KeyHasher::from_seed_bytes(&hasher.seed_bytes()[..15]).is_none());
        let other = KeyHasher::from_seed([hasher.seed()[0] ^ 1, hasher.seed()[1]]);
        let texts: Vec<String> = (0..10_000).map(|i| format!("B-{i:07}")).collect();
        let hashes: std::collections::HashSet<u64> = texts.iter().map(|t| hasher.text(t.as_bytes())).collect();
        assert_eq!(hashes.len(), texts.len(), "no two of these texts share a hash");
        for t in &texts {
            assert_eq!(again.text(t.as_bytes()), hasher.text(t.as_bytes()));
        }
        assert_ne!(other.text(b"B-0000001"), hasher.text(b"B-0000001"));
        // Trailing zero bytes and length both count.
        assert_ne!(hasher.text(b"ab"), hasher.text(b"ab\0"));
        assert_ne!(hasher.text(b""), hasher.text(b"\0"));
    }

    /// Homes crowded at the end of the table (so probe runs wrap around) and equal tags
    /// everywhere (so every probe step asks the caller): every value is still found, each
    /// hash's values all come back, and absent values are not found.
    #[test]
    fn slot_tables_probe_across_the_wrap_and_through_equal_tags() {
        let hash = |v: u32| u64::MAX - u64::from(v % 5);
        let mut table = SlotTable::default();
        for v in 0..3000u32 {
            table.push(hash(v), hash);
            if v % 97 == 0 {
                for w in 0..=v {
                    assert_eq!(table.find(hash(w), |x| x == w), Some(w), "{w} after {v}");
                }
            }
        }
        for v in 3000..3100u32 {
            assert_eq!(table.find(hash(v), |x| x == v), None);
        }
        for r in 0..5u32 {
            let expected: Vec<u32> = (0..3000).filter(|v| v % 5 == r).collect();
            let mut found: Vec<u32> = table.candidates(hash(r)).filter(|v| v % 5 == r).collect();
            found.sort_unstable();
            assert_eq!(found, expected, "residue {r}");
        }
        let back = SlotTable::from_bytes(&table.to_bytes(), 3000).unwrap();
        assert_eq!(back.find(hash(2999), |x| x == 2999), Some(2999));
    }

    #[test]
    fn damaged_slot_tables_are_refused() {
        let mut table = SlotTable::default();
        for v in 0..10u32 {
            table.push(u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15), |v| {
                u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            });
        }
        let bytes = table.to_bytes();
        assert!(SlotTable::from_bytes(&bytes[..bytes.len() - 1], 10).unwrap_err().contains("cut short"));
        assert!(SlotTable::from_bytes(&bytes, 11).unwrap_err().contains("10 entries for 11"));
        assert!(SlotTable::from_bytes(&bytes, 9).unwrap_err().contains("10 entries for 9"));
        assert!(SlotTable::from_bytes(&bytes, 100).unwrap_err().contains("cannot hold"));
        let buckets = table.buckets();
        let occupied: Vec<usize> = (0..buckets).filter(|&b| bytes[b] != 0).collect();
        let mut twice = bytes.clone();
        let (a, b) = (buckets + 4 * occupied[0], buckets + 4 * occupied[1]);
        let value = twice[b..b + 4].to_vec();
        twice[a..a + 4].copy_from_slice(&value);
        assert!(SlotTable::from_bytes(&twice, 10).unwrap_err().contains("one slot twice"));
        let mut beyond = bytes.clone();
        beyond[a..a + 4].copy_from_slice(&10u32.to_le_bytes());
        assert!(SlotTable::from_bytes(&beyond, 10).unwrap_err().contains("not a slot"));
        let mut bad_tag = bytes.clone();
        bad_tag[occupied[0]] = 0x11;
        assert!(SlotTable::from_bytes(&bad_tag, 10).is_err());
    }

    #[test]
    fn chunked_slots_keep_their_numbers_across_chunks() {
        let mut slots = Chunked::default();
        for i in 0..(CHUNK_SLOTS as u64 + 3) {
            assert_eq!(slots.push(i * 7), i as u32);
        }
        assert_eq!(slots.len(), CHUNK_SLOTS + 3);
        assert_eq!(*slots.get(CHUNK_SLOTS as u32 + 2), (CHUNK_SLOTS as u64 + 2) * 7);
        assert_eq!(slots.iter().count(), CHUNK_SLOTS + 3);
        assert_eq!(slots.heap_bytes(), 2 * CHUNK_SLOTS * 8);
        // Loading builds full chunks (on several threads) and reports the first error in order.
        let n = CHUNK_SLOTS * 5 + 7;
        let loaded = Chunked::load(n, |i| Ok::<u64, usize>(i as u64 * 3)).unwrap();
        assert_eq!(loaded.len(), n);
        assert!(loaded.iter().copied().eq((0..n as u64).map(|i| i * 3)));
        let mut loaded = loaded;
        assert_eq!(loaded.push(1), n as u32);
        assert_eq!(*loaded.get(n as u32), 1);
        let failing = |i: usize| if i % (CHUNK_SLOTS + 1) == 5 && i > CHUNK_SLOTS { Err(i) } else { Ok(i as u64) };
        assert_eq!(Chunked::load(n, failing).err(), Some(CHUNK_SLOTS + 6));
        assert!(Chunked::<u64>::load(0, |_| Err(())).unwrap().is_empty());
    }

    #[test]
    fn work_in_parallel_covers_every_item_once_in_order() {
        for n in [0usize, 1, 7, 1000, 4097] {
            let parts = in_parallel(n, 10, |r| r.collect::<Vec<_>>());
            assert_eq!(parts.concat(), (0..n).collect::<Vec<_>>());
            let mut data = vec![0usize; n];
            let offsets = in_parallel_mut(&mut data, 10, |offset, part| {
                for (i, d) in part.iter_mut().enumerate() {
                    *d = offset + i;
                }
                offset
            });
            assert_eq!(data, (0..n).collect::<Vec<_>>());
            assert_eq!(offsets[0], 0);
        }
    }
}
