//! Small shared pieces of the views: a fast deterministic hasher for hot maps, a serde adapter
//! that writes hash maps sorted (so equal views serialise identically), and fen helpers.
//!
//! Every view keeps its sums in whole fen (`i64`) rather than `Money`: adding two `i64`s is one
//! instruction, a checked `Decimal` addition with a ceiling test is tens of nanoseconds, and the
//! fold runs over tens of millions of events. The domain bounds every total by
//! `MONEY_FEN_MAX` (1e14 fen), far inside `i64`, so the sums cannot overflow.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use fundledger_domain::compact::KeyHasher;
use fundledger_domain::money::MONEY_SCALE;
use fundledger_domain::{BenefitType, ExpenditureCategory, Money};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hash map with the fixed, fast [`FxHasher`]: no random state, so a clone, a rebuild and a
/// deserialised snapshot all behave alike, and small keys hash in a few instructions.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The multiplicative hash rustc uses (FxHash): fast, deterministic, not DoS-resistant. Keys
/// here come from the verified log, not from an attacker choosing collisions.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

/// FxHash's multiplier (from rustc-hash).
const FX_SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The product's high bits are the well-mixed ones; the table indexes by the low bits,
        // so rotate them down (as rustc-hash 2 does).
        self.hash.rotate_left(26)
    }
}

/// A 64-bit fingerprint of an id's text: the domain's seeded folded multiply, eight bytes a step
/// (`KeyHasher::text`), with a fixed seed; deterministic across runs and machines. A payment's
/// id is fingerprinted once per payment folded; byte-at-a-time FNV-1a took ~30 ns of it.
pub(crate) fn fingerprint(text: &str) -> u64 {
    KeyHasher::from_seed(FINGERPRINT_SEED).text(text.as_bytes())
}

/// [`fingerprint`]'s seed: fixed (the first hexadecimal digits of pi's fraction), so that every
/// process folds the same fingerprints into the views, and a view restored from a snapshot and
/// continued equals one rebuilt from the log.
const FINGERPRINT_SEED: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];

/// Serde adapter: a hash map is written as a sequence of `(key, value)` pairs sorted by key, so
/// two equal maps serialise to the same bytes whatever their insertion history, and tuple keys
/// work in formats (JSON) whose map keys must be strings.
pub(crate) mod sorted_map {
    use super::*;

    pub(crate) fn serialize<K, V, H, S>(map: &HashMap<K, V, H>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Ord + Serialize,
        V: Serialize,
        S: Serializer,
    {
        let mut entries: Vec<(&K, &V)> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serializer.collect_seq(entries)
    }

    pub(crate) fn deserialize<'de, K, V, H, D>(deserializer: D) -> Result<HashMap<K, V, H>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        H: BuildHasher + Default,
        D: Deserializer<'de>,
    {
        let entries: Vec<(K, V)> = Vec::deserialize(deserializer)?;
        Ok(entries.into_iter().collect())
    }
}

/// Serde adapter for B-tree maps with composite keys: written as a sequence of `(key, value)`
/// pairs (already in key order), so formats whose map keys must be strings can hold them.
pub(crate) mod pairs {
    use std::collections::BTreeMap;

    use super::*;

    pub(crate) fn serialize<K, V, S>(map: &BTreeMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        serializer.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let entries: Vec<(K, V)> = Vec::deserialize(deserializer)?;
        Ok(entries.into_iter().collect())
    }
}

/// Number of expenditure categories ([`ExpenditureCategory::ALL`]).
pub(crate) const CATEGORY_COUNT: usize = 6;
/// Number of benefit types ([`BenefitType::ALL`]).
pub(crate) const BENEFIT_COUNT: usize = 18;

const _: () = assert!(ExpenditureCategory::ALL.len() == CATEGORY_COUNT);
const _: () = assert!(BenefitType::ALL.len() == BENEFIT_COUNT);

/// Per-category amounts in fen, indexed in [`ExpenditureCategory::ALL`] order.
pub(crate) type ByCategory = [i64; CATEGORY_COUNT];

/// The category's index in [`ExpenditureCategory::ALL`] (its declaration order).
#[inline]
pub(crate) fn cat(category: ExpenditureCategory) -> usize {
    category as usize
}

/// A domain amount in whole fen. Amounts decided by the rules carry scale 2 and take the fast
/// path; `Money::ZERO` (and `Money::default()`) carry scale 0, so `Money::to_fen` would trip its
/// debug assertion on them: they are rescaled instead.
#[inline]
pub(crate) fn fen(amount: Money) -> i64 {
    let d = amount.as_decimal();
    if d.scale() == MONEY_SCALE {
        i64::try_from(d.mantissa()).expect("Money is bounded by MONEY_FEN_MAX")
    } else {
        rescaled_fen(d)
    }
}

#[cold]
fn rescaled_fen(mut d: Decimal) -> i64 {
    d.rescale(MONEY_SCALE);
    i64::try_from(d.mantissa()).expect("Money is bounded by MONEY_FEN_MAX")
}

/// Whole fen back to a `Money`. Sums of a verified history stay within the money ceiling (the
/// domain's state would have refused them otherwise), so failure is a programmer error.
#[track_caller]
pub(crate) fn money(fen: i64) -> Money {
    Money::from_fen(fen).expect("view sums stay within the money ceiling")
}

/// Adds a plan's or a budget's lines into per-category fen.
pub(crate) fn lines_fen(lines: &[(ExpenditureCategory, Money)]) -> ByCategory {
    let mut out = [0i64; CATEGORY_COUNT];
    for (category, amount) in lines {
        out[cat(*category)] += fen(*amount);
    }
    out
}

/// A [`FastMap`] that remembers where its last key is. A fold's consecutive events often touch
/// the same region and period (a region's payments arrive in batches), and each payment
/// touches six such maps; an update under the last key compares one key and skips the hash
/// and the probe. Entries live in a vector in the order first
/// inserted, found through a map of key → place; none is ever removed. Stored and compared as
/// the map it is: sorted `(key, value)` pairs (the bytes [`sorted_map`] writes for a `FastMap`),
/// content equality whatever the insertion order.
#[derive(Debug, Clone)]
pub(crate) struct MemoMap<K, V> {
    places: FastMap<K, u32>,
    entries: Vec<(K, V)>,
    /// The key of the last `entry` and its place.
    last: Option<(K, u32)>,
}

impl<K, V> Default for MemoMap<K, V> {
    fn default() -> Self {
        MemoMap { places: FastMap::default(), entries: Vec::new(), last: None }
    }
}

/// A [`MemoMap`] entry, as `HashMap::entry` gives one: only `or_default` is needed.
pub(crate) struct MemoEntry<'a, K, V> {
    map: &'a mut MemoMap<K, V>,
    key: K,
}

impl<'a, K: Copy + Eq + Hash, V: Default> MemoEntry<'a, K, V> {
    #[inline]
    pub(crate) fn or_default(self) -> &'a mut V {
        let MemoEntry { map, key } = self;
        let place = match map.last {
            Some((last, place)) if last == key => place,
            _ => {
                let place = map.place_or_insert(key);
                map.last = Some((key, place));
                place
            }
        };
        &mut map.entries[place as usize].1
    }
}

impl<K: Copy + Eq + Hash, V> MemoMap<K, V> {
    #[inline]
    pub(crate) fn entry(&mut self, key: K) -> MemoEntry<'_, K, V> {
        MemoEntry { map: self, key }
    }

    fn place_or_insert(&mut self, key: K) -> u32
    where
        V: Default,
    {
        let next = u32::try_from(self.entries.len()).expect("under 2^32 keys");
        let place = *self.places.entry(key).or_insert(next);
        if place == next {
            self.entries.push((key, V::default()));
        }
        place
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.places.get(key).map(|&place| &self.entries[place as usize].1)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.places.get(key).map(|&place| &mut self.entries[place as usize].1)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.places.contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in the order first inserted.
    pub(crate) fn iter(&self) -> MemoIter<'_, K, V> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// [`MemoMap::iter`]'s iterator.
pub(crate) type MemoIter<'a, K, V> = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

impl<'a, K: Copy + Eq + Hash, V> IntoIterator for &'a MemoMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = MemoIter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K: Copy + Eq + Hash, V> std::ops::Index<&K> for MemoMap<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        self.get(key).expect("a key of the map")
    }
}

impl<K: Copy + Eq + Hash, V: PartialEq> PartialEq for MemoMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: Copy + Eq + Hash, V: Eq> Eq for MemoMap<K, V> {}

impl<K: Copy + Eq + Hash + Ord + Serialize, V: Serialize> Serialize for MemoMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&K, &V)> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serializer.collect_seq(entries)
    }
}

impl<'de, K: Copy + Eq + Hash + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for MemoMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries: Vec<(K, V)> = Vec::deserialize(deserializer)?;
        let mut places = FastMap::default();
        for (place, (key, _)) in entries.iter().enumerate() {
            let place = u32::try_from(place).map_err(|_| serde::de::Error::custom("too many keys"))?;
            if places.insert(*key, place).is_some() {
                return Err(serde::de::Error::custom("a key twice in one map"));
            }
        }
        Ok(MemoMap { places, entries, last: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_indices_follow_declaration_order() {
        for (i, c) in ExpenditureCategory::ALL.iter().enumerate() {
            assert_eq!(cat(*c), i);
        }
        for (i, b) in BenefitType::ALL.iter().enumerate() {
            assert_eq!(*b as usize, i);
        }
    }

    #[test]
    fn fen_of_zero_with_scale_zero() {
        assert_eq!(fen(Money::ZERO), 0);
        assert_eq!(fen(Money::default()), 0);
        assert_eq!(fen(Money::yuan(3)), 300);
        assert_eq!(fen(Money::from_fen(-7).unwrap()), -7);
    }

    #[test]
    fn fingerprints_are_stable_and_spread() {
        // Fixed value: a change of the function would silently change snapshot contents.
        assert_eq!(fingerprint("P-1"), fingerprint("P-1"));
        assert_ne!(fingerprint("P-1"), fingerprint("P-2"));
        assert_ne!(fingerprint(""), fingerprint("a"));
    }

    #[test]
    fn memo_maps_find_every_key_whatever_the_last_one_was() {
        let mut memo: MemoMap<(u32, u16), i64> = MemoMap::default();
        let mut plain: FastMap<(u32, u16), i64> = FastMap::default();
        // Runs of one key and keys alternating, so that both the remembered place and the
        // lookup are taken.
        let keys = [(1, 1), (1, 1), (2, 1), (1, 1), (1, 2), (1, 2), (3, 9), (2, 1), (2, 1), (1, 1)];
        for (i, key) in keys.iter().cycle().take(200).enumerate() {
            *memo.entry(*key).or_default() += i as i64;
            *plain.entry(*key).or_default() += i as i64;
        }
        assert_eq!(memo.len(), plain.len());
        for (key, value) in &plain {
            assert_eq!(memo.get(key), Some(value));
            assert_eq!(memo[key], *value);
        }
        assert_eq!(memo.get(&(4, 4)), None);
        assert!(!memo.contains_key(&(4, 4)));
        assert_eq!(memo.keys().copied().collect::<Vec<_>>(), [(1, 1), (2, 1), (1, 2), (3, 9)], "first-inserted order");
        *memo.get_mut(&(3, 9)).unwrap() += 1;
        assert_eq!(memo[&(3, 9)], plain[&(3, 9)] + 1);
    }

    #[test]
    fn memo_maps_compare_and_store_as_the_maps_they_replaced() {
        let mut forwards: MemoMap<(u32, u16), i64> = MemoMap::default();
        let mut backwards: MemoMap<(u32, u16), i64> = MemoMap::default();
        let mut plain: FastMap<(u32, u16), i64> = FastMap::default();
        for i in 0..50u32 {
            *forwards.entry((i % 7, i as u16)).or_default() += i64::from(i);
            *backwards.entry((7 - i % 7, 50 - i as u16)).or_default() -= 1;
            plain.insert((i % 7, i as u16), i64::from(i));
        }
        let mut reordered: MemoMap<(u32, u16), i64> = MemoMap::default();
        for i in (0..50u32).rev() {
            *reordered.entry((i % 7, i as u16)).or_default() += i64::from(i);
        }
        assert_eq!(reordered, forwards, "content equality, whatever the order");
        assert_ne!(backwards, forwards);
        *reordered.entry((0, 0)).or_default() += 1;
        assert_ne!(reordered, forwards);
        let mut as_map = serde_json::Serializer::new(Vec::new());
        sorted_map::serialize(&plain, &mut as_map).unwrap();
        let text = serde_json::to_string(&forwards).unwrap();
        assert_eq!(text.as_bytes(), as_map.into_inner(), "snapshots written before read the same");
        let mut read: MemoMap<(u32, u16), i64> = serde_json::from_str(&text).unwrap();
        assert_eq!(read, forwards);
        *read.entry((6, 48)).or_default() += 1;
        assert_eq!(read[&(6, 48)], forwards[&(6, 48)] + 1);
        let twice = "[[[1,1],5],[[1,1],6]]";
        let err = serde_json::from_str::<MemoMap<(u32, u16), i64>>(twice).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }
}
