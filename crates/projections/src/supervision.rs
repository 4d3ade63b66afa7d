//! `Supervision`: signals worth an inspector's look, each pointing at the log positions behind it.
//!
//! Signals and their exact definitions:
//! - **reversal**: every payment reversal, with the payment id, amount, reason and the positions
//!   of the payment and of the reversal;
//! - **multi-region beneficiary**: one beneficiary ref paid by two or more regions in one period
//!   (the payment's period); lists the first payment of each region;
//! - **outlier payment**: a payment above [`OUTLIER_MULTIPLE`] × the running median of the same
//!   region's earlier payments of the same benefit type, once [`OUTLIER_MIN_SAMPLES`] of them
//!   exist. The median is read from a fixed log-bucket histogram (see [`Histogram`]) and the
//!   comparison uses the *upper* edge of the median's bucket, so every signal is also a signal
//!   against the exact median; payments between 3× and about 3.3× the exact median may go
//!   unflagged. Reversals do not remove payments from the histogram. Standard-bound benefits are
//!   not tested: their amounts are fixed by the unified standards and checked to the fen;
//! - **late close**: a `PeriodClosed` recorded more than [`CLOSE_GRACE_DAYS`] days after the
//!   period's end (the first day of the next month at 00:00 Beijing time, UTC+8).
//!
//! Memory stays bounded by the fund's shape, not its history, except for the payment position
//! index (12 bytes per payment, one sorted run per region and period) and the signals themselves:
//! one histogram per region and benefit type (1.5 KB each), beneficiaries seen per period (32
//! bytes each, plus the text of refs longer than 16 bytes) only while some unit still has the
//! period open.

use std::collections::BTreeMap;

use fundledger_domain::compact::{last_bytes_le, u64_le};
use fundledger_domain::{
    BeneficiaryRef, BenefitType, Event, Money, Payment, PaymentId, Period, Policy, RegionCode, ReversalReason,
};
use serde::{Deserialize, Serialize};

use crate::EventMeta;
use crate::util::{FastMap, MemoMap, fingerprint, money, pairs, sorted_map};

/// A payment is an outlier above this multiple of its region and benefit type's running median.
pub const OUTLIER_MULTIPLE: u64 = 3;
/// Earlier payments of the same region and benefit type needed before the outlier test applies.
pub const OUTLIER_MIN_SAMPLES: u32 = 20;
/// Days after a period's end within which its close is on time.
pub const CLOSE_GRACE_DAYS: i64 = 15;
/// The province's offset from UTC (China Standard Time), for where a period ends.
pub const PROVINCE_UTC_OFFSET_SECONDS: i64 = 8 * 3600;
const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Sub-buckets per power of two in a [`Histogram`]: bucket edges are 2^(1/8) ≈ 9% apart.
pub const HISTOGRAM_SUB_BUCKETS_PER_OCTAVE: u32 = 8;
const SUB_BITS: u32 = 3;
const _: () = assert!(1 << SUB_BITS == HISTOGRAM_SUB_BUCKETS_PER_OCTAVE);
/// Buckets of a [`Histogram`]: enough for every amount up to the money ceiling (1e14 fen < 2^47).
pub const HISTOGRAM_BUCKETS: usize = 8 + (47 - 3) * 8;

/// A fixed log-bucket histogram of payment amounts in fen, with its median bucket tracked
/// incrementally. Amounts 1-7 fen have a bucket each; above, each power of two is split into 8
/// buckets by the three bits after the leading one. Same inputs, same buckets: deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u32,
    /// The bucket holding the lower median (0-based rank (total − 1) / 2).
    median: u16,
    /// Samples in buckets below `median`.
    below: u32,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; HISTOGRAM_BUCKETS], total: 0, median: 0, below: 0 }
    }
}

impl Histogram {
    /// The bucket of an amount of at least one fen.
    pub fn bucket(amount_fen: u64) -> usize {
        let amount = amount_fen.max(1);
        let octave = 63 - amount.leading_zeros();
        if octave < SUB_BITS {
            return amount as usize;
        }
        let sub = (amount >> (octave - SUB_BITS)) & u64::from(HISTOGRAM_SUB_BUCKETS_PER_OCTAVE - 1);
        (8 + (octave - SUB_BITS) * HISTOGRAM_SUB_BUCKETS_PER_OCTAVE) as usize + sub as usize
    }

    /// The smallest amount above every amount of the bucket (its exclusive upper edge).
    pub fn bucket_upper(bucket: usize) -> u64 {
        if bucket < 8 {
            return bucket as u64 + 1;
        }
        let octave = (bucket as u32 - 8) / HISTOGRAM_SUB_BUCKETS_PER_OCTAVE + SUB_BITS;
        let sub = (bucket as u64 - 8) % u64::from(HISTOGRAM_SUB_BUCKETS_PER_OCTAVE);
        (9 + sub) << (octave - SUB_BITS)
    }

    pub fn samples(&self) -> u32 {
        self.total
    }

    /// The exclusive upper edge of the median's bucket: every amount at the median is below it.
    pub fn median_upper(&self) -> Option<u64> {
        (self.total > 0).then(|| Histogram::bucket_upper(usize::from(self.median)))
    }

    /// Adds a sample and moves the median bucket to the new lower median; each step crosses at
    /// most the empty buckets between two samples, so the cost is small and bounded.
    pub fn insert(&mut self, amount_fen: u64) {
        let b = Histogram::bucket(amount_fen).min(HISTOGRAM_BUCKETS - 1);
        self.counts[b] += 1;
        self.total += 1;
        if self.total == 1 {
            self.median = b as u16;
            self.below = 0;
            return;
        }
        if b < usize::from(self.median) {
            self.below += 1;
        }
        let rank = (self.total - 1) / 2;
        let mut m = usize::from(self.median);
        while self.below > rank {
            m -= 1;
            self.below -= self.counts[m];
        }
        while self.below + self.counts[m] <= rank {
            self.below += self.counts[m];
            m += 1;
        }
        self.median = m as u16;
    }
}

/// Payment id fingerprint → log position, for the reversal signal, one run per region and
/// payment period. A reversal names its payment's region and period, so a lookup searches one
/// run. While the region still has the period open, a payment is pushed onto the run's end and
/// a lookup scans; when the region closes the period no payment can join it any more, so the run
/// is sorted once and binary-searched from then on. Inserting is a push: no large hash table, no
/// cache miss per payment.
///
/// A large region's open run holds ~80,000 payments a period, and a bank returns a few of them
/// within the month: scanning the whole run for each took 7% of a full rebuild. So a lookup in a
/// long open run first copies the entries pushed since its last lookup into [`OPEN_BUCKETS`]
/// buckets by their fingerprint's top bits (a tight loop whose 64 bucket ends stay in the cache),
/// then scans one bucket. Pushes stay one sequential write; a run no lookup meets never builds the
/// buckets. They are a cache of the entries: not stored, not compared, dropped at the seal.
///
/// 12 bytes per payment (`positions_memory_bytes`): the fingerprint as two 32-bit halves and the
/// position as a 32-bit offset from the run's first payment, in one `[u32; 3]` so that sorting
/// orders by fingerprint then position. A payment more than `u32::MAX` positions after the run's
/// first (a run left open across four billion records) goes to `wide` with its full position,
/// so every position is kept exactly. Two ids of one run with the same 64-bit fingerprint are
/// not told apart: the lookup answers `None` rather than a wrong position.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PaymentRun {
    /// Position of the run's first payment; `entries` hold offsets from it.
    base: u64,
    /// `[fingerprint >> 32, fingerprint as u32, position − base]`.
    #[serde(with = "flat_entries")]
    entries: Vec<[u32; 3]>,
    /// `(fingerprint, position)` of payments too far after `base` for a 32-bit offset.
    wide: Vec<(u64, u64)>,
    sorted: bool,
    /// An open run's entries by bucket, up to the last lookup's time.
    #[serde(skip)]
    open_index: OpenIndex,
}

/// Equal entries in the same order: the lookup cache does not count.
impl PartialEq for PaymentRun {
    fn eq(&self, other: &PaymentRun) -> bool {
        (self.base, &self.entries, &self.wide, self.sorted) == (other.base, &other.entries, &other.wide, other.sorted)
    }
}

impl Eq for PaymentRun {}

/// [`PaymentRun::entries`]' first `indexed`, copied by the top [`OPEN_BUCKET_BITS`] bits of
/// their fingerprint into [`OPEN_BUCKETS`] buckets (none before the first lookup), each in push
/// order.
#[derive(Debug, Clone, Default)]
struct OpenIndex {
    indexed: usize,
    buckets: Vec<Vec<[u32; 3]>>,
}

/// Bits of a fingerprint that choose an open run's bucket.
const OPEN_BUCKET_BITS: u32 = 6;
/// Buckets of an open run: a lookup scans ~1/64 of it.
const OPEN_BUCKETS: usize = 1 << OPEN_BUCKET_BITS;
/// Open runs shorter than this are scanned whole (24 KiB at most): buckets would not pay.
const OPEN_INDEX_MIN_ENTRIES: usize = 2048;

impl PaymentRun {
    fn push(&mut self, key: u64, position: u64) {
        debug_assert!(!self.sorted, "payment in a period its region closed");
        if self.entries.is_empty() && self.wide.is_empty() {
            self.base = position;
        }
        match u32::try_from(position.wrapping_sub(self.base)) {
            Ok(offset) if position >= self.base => self.entries.push([(key >> 32) as u32, key as u32, offset]),
            _ => self.wide.push((key, position)),
        }
    }

    fn len(&self) -> usize {
        self.entries.len() + self.wide.len()
    }

    /// Reopens a sealed run to add a payment: only tests build ambiguous runs this way.
    #[cfg(test)]
    fn push_unsealed(&mut self, key: u64, position: u64) {
        self.sorted = false;
        self.push(key, position);
    }

    /// The run's bytes, with an open run's lookup buckets.
    fn memory_bytes(&self) -> usize {
        let bucketed: usize = self.open_index.buckets.iter().map(Vec::capacity).sum();
        (self.entries.capacity() + bucketed) * std::mem::size_of::<[u32; 3]>()
            + self.open_index.buckets.capacity() * std::mem::size_of::<Vec<[u32; 3]>>()
            + self.wide.capacity() * std::mem::size_of::<(u64, u64)>()
    }

    /// The open bucket of a fingerprint's high word.
    #[inline]
    fn bucket(hi: u32) -> usize {
        (hi >> (32 - OPEN_BUCKET_BITS)) as usize
    }

    /// The entries a lookup of `hi` must scan, at least: a sealed run's from the first not
    /// below `(hi, lo)`, a short open run's all of them, a long one's bucket (brought up to date).
    fn candidates(&mut self, hi: u32, lo: u32) -> &[[u32; 3]] {
        if self.sorted {
            let start = self.entries.partition_point(|e| (e[0], e[1]) < (hi, lo));
            return &self.entries[start..];
        }
        if self.entries.len() < OPEN_INDEX_MIN_ENTRIES {
            return &self.entries;
        }
        let index = &mut self.open_index;
        if index.buckets.is_empty() {
            index.buckets = vec![Vec::new(); OPEN_BUCKETS];
        }
        for e in &self.entries[index.indexed..] {
            index.buckets[Self::bucket(e[0])].push(*e);
        }
        index.indexed = self.entries.len();
        &index.buckets[Self::bucket(hi)]
    }

    /// The position of the one payment of the run with fingerprint `key`; `None` if there is
    /// none, or several.
    fn get(&mut self, key: u64) -> Option<u64> {
        let mut hits = 0;
        let mut found = None;
        let (hi, lo) = ((key >> 32) as u32, key as u32);
        let (base, sorted) = (self.base, self.sorted);
        for e in self.candidates(hi, lo) {
            if e[0] == hi && e[1] == lo {
                hits += 1;
                found = Some(base + u64::from(e[2]));
            } else if sorted {
                break;
            }
        }
        // Only for a run left open across four billion records.
        let start = if self.sorted { self.wide.partition_point(|(k, _)| *k < key) } else { 0 };
        for (k, p) in &self.wide[start..] {
            if *k == key {
                hits += 1;
                found = Some(*p);
            } else if self.sorted {
                break;
            }
        }
        (hits == 1).then_some(found).flatten()
    }

    fn seal(&mut self) {
        self.open_index = OpenIndex::default();
        if !self.sorted {
            self.entries = sorted_entries(std::mem::take(&mut self.entries));
            self.wide.sort_unstable();
            self.wide.shrink_to_fit();
            self.sorted = true;
        }
    }
}

/// Runs shorter than this are sorted by comparison; longer ones by [`sorted_entries`]' radix
/// passes, whose counter tables cost more than they save on a short run.
const RADIX_SORT_MIN_ENTRIES: usize = 4096;

/// Bits of the fingerprint's high word each radix pass sorts by: 2,048 buckets, whose write
/// ends (128 KiB) stay in the cache while a pass scatters a run into them.
const RADIX_BITS: u32 = 11;
/// Passes to cover the 32-bit high word.
const RADIX_PASSES: u32 = 32_u32.div_ceil(RADIX_BITS);

/// `entries` in the order of `sort_unstable` (fingerprint, then position), in a vector of
/// exactly their length. A region's run of a period holds tens of thousands of payments and is
/// sorted once, when the region closes the period; the comparison sort of them took ~5% of a
/// full rebuild. Long runs are sorted instead by the fingerprint's high word, 11 bits a stable
/// counting pass, three passes (all three digits counted in one read); entries whose high words
/// tie (a few per run) are then put in order by the rest among themselves. The result is the
/// same vector: no two entries are equal, as no two payments share a position. (Two passes of
/// 16 bits scattered each run over 65,536 buckets, a cache miss an entry: 4% of a rebuild.)
fn sorted_entries(mut entries: Vec<[u32; 3]>) -> Vec<[u32; 3]> {
    if entries.len() < RADIX_SORT_MIN_ENTRIES {
        entries.sort_unstable();
        entries.shrink_to_fit();
        return entries;
    }
    let digit = |hi: u32, pass: u32| ((hi >> (pass * RADIX_BITS)) & ((1 << RADIX_BITS) - 1)) as usize;
    let mut counts = vec![[0usize; 1 << RADIX_BITS]; RADIX_PASSES as usize];
    for e in &entries {
        for (pass, table) in (0..RADIX_PASSES).zip(counts.iter_mut()) {
            table[digit(e[0], pass)] += 1;
        }
    }
    let mut out = vec![[0u32; 3]; entries.len()];
    for (pass, table) in (0..RADIX_PASSES).zip(counts.iter_mut()) {
        let mut start = 0;
        for count in table.iter_mut() {
            (*count, start) = (start, start + *count);
        }
        for e in &entries {
            let slot = &mut table[digit(e[0], pass)];
            out[*slot] = *e;
            *slot += 1;
        }
        std::mem::swap(&mut entries, &mut out);
    }
    drop(out);
    entries.shrink_to_fit();
    let mut at = 0;
    while at < entries.len() {
        let end = at + entries[at..].iter().take_while(|e| e[0] == entries[at][0]).count();
        if end - at > 1 {
            entries[at..end].sort_unstable();
        }
        at = end;
    }
    entries
}

/// A run's entries in a snapshot: one byte string of little-endian `u32`s, read back with one
/// pass and an exact allocation (a hundred megabytes at ten million payments).
mod flat_entries {
    use fundledger_domain::compact::{ByteBuf, Bytes};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(entries: &[[u32; 3]], serializer: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = entries.iter().flatten().flat_map(|w| w.to_le_bytes()).collect();
        Bytes(&bytes).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<[u32; 3]>, D::Error> {
        let bytes = ByteBuf::deserialize(deserializer)?;
        if !bytes.0.len().is_multiple_of(12) {
            return Err(serde::de::Error::custom("payment run is cut short"));
        }
        let word = |raw: &[u8], at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
        Ok(bytes.0.chunks_exact(12).map(|raw| [word(raw, 0), word(raw, 4), word(raw, 8)]).collect())
    }
}

/// A payment reversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalSignal {
    pub payment_id: PaymentId,
    pub region: RegionCode,
    pub period: Period,
    pub paid_period: Period,
    pub benefit: BenefitType,
    pub amount: Money,
    pub reason: ReversalReason,
    /// `None` only if the payment is not in the folded history or its fingerprint is shared.
    pub payment_position: Option<u64>,
    pub reversal_position: u64,
}

/// One beneficiary ref paid by several regions in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionSignal {
    pub beneficiary: BeneficiaryRef,
    pub period: Period,
    /// The first payment of each region, in the order the regions first paid.
    pub payments: Vec<(RegionCode, u64)>,
}

/// A payment well above its region and benefit type's running median.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlierSignal {
    pub payment_id: PaymentId,
    pub region: RegionCode,
    pub period: Period,
    pub benefit: BenefitType,
    pub amount: Money,
    /// Upper edge of the median's histogram bucket (≥ the exact median, within 2^(1/8)).
    pub median_upper: Money,
    /// Earlier payments the median is over.
    pub samples: u32,
    pub position: u64,
}

/// A period closed after its grace days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateCloseSignal {
    pub region: RegionCode,
    pub period: Period,
    pub position: u64,
    pub recorded_at_micros: i64,
    /// The period's end (next month's first day, 00:00 Beijing time) in microseconds.
    pub period_end_micros: i64,
    /// Whole days from the period's end to the close.
    pub days_after_end: i64,
}

/// The first payment of a beneficiary in a period, 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    position: u64,
    region: RegionCode,
    /// [`MULTI`] once a multi-region signal exists for this beneficiary and period; the low 31
    /// bits are the ref's index in [`SeenPeriod::long_refs`] for a ref longer than 16 bytes.
    tag: u32,
}

/// [`Seen::tag`]'s flag: the beneficiary was paid by several regions in the period.
const MULTI: u32 = 1 << 31;

impl Seen {
    fn multi(&self) -> bool {
        self.tag & MULTI != 0
    }

    fn long_index(&self) -> usize {
        (self.tag & !MULTI) as usize
    }
}

/// A beneficiary ref as two words. A ref of at most 16 bytes is its own bytes, zero-padded:
/// refs are ASCII without NUL, so the key is exact. A longer ref is `(LONG_REF, fingerprint)`:
/// no ASCII byte has its top bit set, so long keys never meet short ones, and a long key is
/// checked against the ref text in [`SeenPeriod::long_refs`] so that two refs sharing a
/// fingerprint are still told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct RefKey(u64, u64);

/// [`RefKey`]'s first word for a ref longer than 16 bytes.
const LONG_REF: u64 = 1 << 63;
/// Refs up to this many bytes are their own [`RefKey`].
const INLINE_REF_BYTES: usize = 16;

/// The supervision view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervision {
    /// Paying units in the policy: a period's beneficiary memory is dropped once all closed it.
    units: u16,
    positions: MemoMap<(RegionCode, Period), PaymentRun>,
    reversals: Vec<ReversalSignal>,
    /// Beneficiaries paid per period, kept while some unit still has the period open.
    seen: BTreeMap<Period, SeenPeriod>,
    closed_units: BTreeMap<Period, u16>,
    #[serde(with = "pairs")]
    multi_region: BTreeMap<(BeneficiaryRef, Period), Vec<(RegionCode, u64)>>,
    #[serde(with = "sorted_map")]
    histograms: FastMap<(RegionCode, BenefitType), Histogram>,
    outliers: Vec<OutlierSignal>,
    late_closes: Vec<LateCloseSignal>,
}

/// A [`RefKey`] and its [`Seen`]: one entry of a [`RefTable`], 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    key: RefKey,
    seen: Seen,
}

/// No ref's key is all zeros (a short ref has a non-zero first byte, a long one [`LONG_REF`]
/// set), so no entry has this key.
const EMPTY_KEY: RefKey = RefKey(0, 0);

/// An empty slot of a [`RefTable`].
const EMPTY_SLOT: u32 = 0;

/// The fewest slots a table has.
const REF_TABLE_MIN_SLOTS: usize = 16;

/// Tables of at least this many slots (1 MiB) are prefetched into: smaller ones stay in the
/// cache, where a prefetch only costs the work of finding the slot twice.
const REF_TABLE_PREFETCH_MIN_SLOTS: usize = 1 << 18;

/// The beneficiaries of one period by [`RefKey`]. The entries sit in a vector in the order they
/// were first paid; an index of 4-byte slots finds them: open addressing with linear probing
/// over a power-of-two number of slots, at most half full. A slot of a table of `2^k` slots
/// holds the entry's number plus one in its low `k` bits and, above them, `32 - k` bits of the
/// key's hash (its tag), so a probe reads an entry only when the tags agree: for nearly every
/// key the entry it reads is its own. Hundreds of thousands of beneficiaries a period give an
/// index of 2 MiB, which the cache can hold, where a table of the 32-byte entries themselves
/// (16 MiB) could not, and missed the cache for nearly every payment. A new beneficiary, most
/// payments' case, touches one slot and appends its entry. [`RefTable::prefetch`] lets a fold
/// ask for a slot a few events early. Entries are never removed (the whole table goes when
/// every unit has closed the period).
#[derive(Debug, Clone, Default)]
struct RefTable {
    slots: Vec<u32>,
    entries: Vec<Bucket>,
}

impl RefTable {
    fn with_capacity(capacity: usize) -> RefTable {
        let slots = (capacity * 2).next_power_of_two().max(REF_TABLE_MIN_SLOTS);
        RefTable { slots: vec![EMPTY_SLOT; slots], entries: Vec::with_capacity(capacity) }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The mask of a slot's entry number (the low `k` bits of a table of `2^k` slots).
    fn number_mask(&self) -> u32 {
        u32::try_from(self.slots.len() - 1).expect("slots are counted in u32")
    }

    /// The key's home slot (the top `k` bits of a multiplicative hash of both words) and its
    /// tag (the `32 - k` bits below them, in the slot's top bits).
    #[inline]
    fn home_and_tag(&self, key: &RefKey) -> (usize, u32) {
        let bits = self.slots.len().trailing_zeros();
        let h = (key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let home = (h >> (64 - bits)) as usize;
        let tag = (((h >> 32) << bits) as u32) & !self.number_mask();
        (home, tag)
    }

    /// Whether the table is too large for the cache, so that prefetching pays for itself.
    fn worth_prefetching(&self) -> bool {
        self.slots.len() >= REF_TABLE_PREFETCH_MIN_SLOTS
    }

    /// Asks the processor to start loading the key's home slot.
    fn prefetch(&self, key: &RefKey) {
        if !self.slots.is_empty() {
            fundledger_domain::compact::prefetch(&self.slots[self.home_and_tag(key).0]);
        }
    }

    /// Asks for the entry the key's home slot names, if the slot's tag is the key's (a
    /// [`RefTable::prefetch`] earlier has brought the slot in). Without a branch on the slot:
    /// otherwise it asks for entry 0, which costs nothing.
    fn prefetch_entry(&self, key: &RefKey) {
        if let Some(first) = self.entries.first() {
            let (home, tag) = self.home_and_tag(key);
            let slot = self.slots[home];
            let numbers = self.number_mask();
            let number = (slot & numbers) as usize;
            let named = if slot & !numbers == tag { number.saturating_sub(1) } else { 0 };
            fundledger_domain::compact::prefetch(self.entries.get(named).unwrap_or(first));
        }
    }

    /// `Ok` with the number of the entry holding `key`, or `Err` with the empty slot where it
    /// would go and the key's tag (the table has slots and at least one is empty).
    #[inline]
    fn find(&self, key: &RefKey) -> Result<usize, (usize, u32)> {
        let mask = self.slots.len() - 1;
        let numbers = self.number_mask();
        let (mut at, tag) = self.home_and_tag(key);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY_SLOT {
                return Err((at, tag));
            }
            if slot & !numbers == tag {
                let number = (slot & numbers) as usize - 1;
                if self.entries[number].key == *key {
                    return Ok(number);
                }
            }
            at = (at + 1) & mask;
        }
    }

    fn get(&self, key: &RefKey) -> Option<&Seen> {
        if self.slots.is_empty() {
            return None;
        }
        self.find(key).ok().map(|number| &self.entries[number].seen)
    }

    /// The entry under `key`, inserting `fresh` if there is none; `true` if it was inserted.
    fn entry(&mut self, key: RefKey, fresh: Seen) -> (&mut Seen, bool) {
        debug_assert_ne!(key, EMPTY_KEY);
        if (self.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        match self.find(&key) {
            Ok(number) => (&mut self.entries[number].seen, false),
            Err((at, tag)) => {
                self.entries.push(Bucket { key, seen: fresh });
                self.slots[at] = tag | self.slot_number(self.entries.len());
                (&mut self.entries.last_mut().expect("pushed").seen, true)
            }
        }
    }

    /// The low bits of a slot for the entry numbered `count - 1`.
    fn slot_number(&self, count: usize) -> u32 {
        let number = u32::try_from(count).ok().filter(|&n| n <= self.number_mask());
        number.expect("a period's beneficiaries fit its index")
    }

    /// Twice the slots, each entry re-indexed in order (the entries themselves stay put).
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(REF_TABLE_MIN_SLOTS);
        assert!(size <= 1 << 31, "over 2^30 beneficiaries in one period");
        self.slots = vec![EMPTY_SLOT; size];
        let mask = size - 1;
        for count in 1..=self.entries.len() {
            let (mut at, tag) = self.home_and_tag(&self.entries[count - 1].key);
            while self.slots[at] != EMPTY_SLOT {
                at = (at + 1) & mask;
            }
            self.slots[at] = tag | self.slot_number(count);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&RefKey, &Seen)> {
        self.entries.iter().map(|b| (&b.key, &b.seen))
    }
}

/// Equal contents, whatever the order (entries first paid in another order, slots placed
/// differently by a table grown in steps and one sized up front).
impl PartialEq for RefTable {
    fn eq(&self, other: &RefTable) -> bool {
        self.len() == other.len() && self.iter().all(|(key, seen)| other.get(key) == Some(seen))
    }
}

impl Eq for RefTable {}

/// As a map written by [`sorted_map`]: `(key, seen)` pairs in key order.
impl Serialize for RefTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&RefKey, &Seen)> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        serializer.collect_seq(entries)
    }
}

impl<'de> Deserialize<'de> for RefTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RefTable, D::Error> {
        let entries: Vec<(RefKey, Seen)> = Vec::deserialize(deserializer)?;
        let mut table = RefTable::with_capacity(entries.len());
        for (key, seen) in entries {
            if key == EMPTY_KEY {
                return Err(serde::de::Error::custom("a beneficiary key of zeros"));
            }
            if !table.entry(key, seen).1 {
                return Err(serde::de::Error::custom("a beneficiary key twice in one period"));
            }
        }
        Ok(table)
    }
}

/// Beneficiaries paid in one period: 32 bytes an entry (a 16-byte key and a [`Seen`]) rather
/// than a 41-byte ref and its first payment, and two to four 4-byte index slots per entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SeenPeriod {
    by_key: RefTable,
    /// Refs longer than 16 bytes, in the order first paid; a long key's entry points here.
    long_refs: Vec<BeneficiaryRef>,
    /// Long refs whose fingerprint an earlier, different long ref of the period holds (in the
    /// order first paid): kept apart exactly. Empty unless two refs' fingerprints collide.
    colliding: Vec<(BeneficiaryRef, Seen)>,
}

impl SeenPeriod {
    fn with_capacity(capacity: usize) -> SeenPeriod {
        SeenPeriod { by_key: RefTable::with_capacity(capacity), long_refs: Vec::new(), colliding: Vec::new() }
    }

    fn len(&self) -> usize {
        self.by_key.len() + self.colliding.len()
    }

    /// The beneficiary's first payment in the period, recorded as `(region, position)` if this
    /// is the first. `fingerprint` hashes refs longer than 16 bytes (a parameter so that tests
    /// can force collisions).
    fn first_payment(
        &mut self,
        who: &str,
        region: RegionCode,
        position: u64,
        fingerprint: fn(&str) -> u64,
    ) -> &mut Seen {
        let fresh = Seen { position, region, tag: 0 };
        let key = ref_key(who, fingerprint);
        if key.0 != LONG_REF {
            return self.by_key.entry(key, fresh).0;
        }
        let next =
            u32::try_from(self.long_refs.len()).ok().filter(|i| i & MULTI == 0).expect("under 2^31 refs a period");
        let (seen, inserted) = self.by_key.entry(key, Seen { tag: next, ..fresh });
        if inserted {
            self.long_refs.push(checked_ref(who));
            return seen;
        }
        if self.long_refs[seen.long_index()].as_str() == who {
            return seen;
        }
        // Another ref with the same fingerprint: found or added by its text.
        match self.colliding.iter().position(|(r, _)| r.as_str() == who) {
            Some(i) => &mut self.colliding[i].1,
            None => {
                self.colliding.push((checked_ref(who), fresh));
                &mut self.colliding.last_mut().expect("pushed").1
            }
        }
    }
}

/// A ref from its text, which a [`Payment`] has checked.
fn checked_ref(who: &str) -> BeneficiaryRef {
    BeneficiaryRef::parse(who).expect("a payment's checked beneficiary ref")
}

/// A ref's [`RefKey`]: its own bytes if it has at most 16, else [`LONG_REF`] and its
/// fingerprint (a parameter so that tests can force collisions).
#[inline]
fn ref_key(who: &str, fingerprint: fn(&str) -> u64) -> RefKey {
    let text = who.as_bytes();
    let n = text.len();
    if n > INLINE_REF_BYTES {
        return RefKey(LONG_REF, fingerprint(who));
    }
    // The two zero-padded words, by word loads rather than a copy into a padded buffer (a
    // `memcpy` call for a length known only at run time, twice per payment with the prefetch).
    if n > 8 { RefKey(u64_le(text, 0), last_bytes_le(text, n - 8)) } else { RefKey(last_bytes_le(text, n), 0) }
}

impl Supervision {
    pub fn new(policy: &Policy) -> Supervision {
        Supervision::with_units(u16::try_from(policy.units.len()).expect("a policy has few units"))
    }

    /// A view for a fund of `units` paying units.
    pub fn with_units(units: u16) -> Supervision {
        Supervision {
            units,
            positions: MemoMap::default(),
            reversals: Vec::new(),
            seen: BTreeMap::new(),
            closed_units: BTreeMap::new(),
            multi_region: BTreeMap::new(),
            histograms: FastMap::default(),
            outliers: Vec::new(),
            late_closes: Vec::new(),
        }
    }

    /// Starts loading what [`Supervision::apply`] will read at random for `event`: the
    /// beneficiary's slot in its period's table. A fold calls it a few events ahead, so that
    /// the cache miss overlaps the events in between instead of stalling the fold.
    #[inline]
    pub fn prefetch(&self, p: &Payment<'_>) {
        if let Some((table, key)) = self.table_worth_prefetching(p) {
            table.prefetch(&key);
        }
    }

    /// [`Supervision::prefetch`]'s second step, a few events later: the beneficiary's entry,
    /// if the slot that step brought in names one under the beneficiary's tag.
    #[inline]
    pub fn prefetch_near(&self, p: &Payment<'_>) {
        if let Some((table, key)) = self.table_worth_prefetching(p) {
            table.prefetch_entry(&key);
        }
    }

    /// The payment's period table and the beneficiary's key in it, if the table is large
    /// enough for prefetching to pay.
    #[inline]
    fn table_worth_prefetching(&self, p: &Payment<'_>) -> Option<(&RefTable, RefKey)> {
        let table = &self.seen.get(&p.period)?.by_key;
        table.worth_prefetching().then(|| (table, ref_key(p.beneficiary(), fingerprint)))
    }

    /// Folds one payment (as [`Supervision::apply`] folds its `BenefitPaid`).
    #[inline]
    pub fn paid(&mut self, meta: &EventMeta, p: &Payment<'_>) {
        self.positions.entry((p.region, p.period)).or_default().push(fingerprint(p.payment_id()), meta.position);
        self.check_outlier(meta, p);
        self.check_beneficiary(meta, p.region, p.period, p.beneficiary());
    }

    /// Folds one event.
    pub fn apply(&mut self, meta: &EventMeta, event: &Event) {
        match event {
            Event::BenefitPaid { .. } => self.paid(meta, &Payment::of(event).expect("a payment")),
            Event::PaymentReversed { payment_id, region, period, paid_period, benefit, amount, reason, .. } => {
                self.reversals.push(ReversalSignal {
                    payment_id: *payment_id,
                    region: *region,
                    period: *period,
                    paid_period: *paid_period,
                    benefit: *benefit,
                    amount: *amount,
                    reason: *reason,
                    payment_position: self
                        .positions
                        .get_mut(&(*region, *paid_period))
                        .and_then(|run| run.get(fingerprint(payment_id.as_str()))),
                    reversal_position: meta.position,
                });
            }
            Event::PeriodClosed { region, period } => {
                let end = period_end_micros(*period);
                if meta.recorded_at_micros > end + CLOSE_GRACE_DAYS * MICROS_PER_DAY {
                    self.late_closes.push(LateCloseSignal {
                        region: *region,
                        period: *period,
                        position: meta.position,
                        recorded_at_micros: meta.recorded_at_micros,
                        period_end_micros: end,
                        days_after_end: (meta.recorded_at_micros - end) / MICROS_PER_DAY,
                    });
                }
                if let Some(run) = self.positions.get_mut(&(*region, *period)) {
                    run.seal();
                }
                let closed = self.closed_units.entry(*period).or_default();
                *closed += 1;
                if *closed >= self.units {
                    // Every unit closed the period: no payment can be booked in it any more.
                    self.seen.remove(period);
                    self.closed_units.remove(period);
                }
            }
            _ => {}
        }
    }

    fn check_outlier(&mut self, meta: &EventMeta, p: &Payment<'_>) {
        let Payment { region, period, benefit, .. } = *p;
        // Standard-bound benefits are computed by the unified standards from their basis and
        // checked to the fen by the rules, so a large one is a large basis (a high grade, a full
        // household), not an anomaly worth an inspector's look.
        if benefit.is_standard_bound() {
            return;
        }
        let a = p.amount_fen().max(1) as u64;
        let h = self.histograms.entry((region, benefit)).or_default();
        if h.samples() >= OUTLIER_MIN_SAMPLES
            && let Some(upper) = h.median_upper()
            && u128::from(a) > u128::from(OUTLIER_MULTIPLE) * u128::from(upper)
        {
            self.outliers.push(OutlierSignal {
                payment_id: p.payment_id_owned(),
                region,
                period,
                benefit,
                amount: p.amount(),
                median_upper: money(upper as i64),
                samples: h.samples(),
                position: meta.position,
            });
        }
        h.insert(a);
    }

    fn check_beneficiary(&mut self, meta: &EventMeta, region: RegionCode, period: Period, who: &str) {
        self.check_beneficiary_with(meta, region, period, who, fingerprint);
    }

    /// [`Supervision::check_beneficiary`] with the fingerprint of long refs as a parameter.
    #[inline]
    fn check_beneficiary_with(
        &mut self,
        meta: &EventMeta,
        region: RegionCode,
        period: Period,
        who: &str,
        fingerprint: fn(&str) -> u64,
    ) {
        if !self.seen.contains_key(&period) {
            // A new period will likely see as many beneficiaries as the busiest open one: sized
            // for them up front, its table is not rehashed a dozen times while it fills.
            let expected = self.seen.values().map(SeenPeriod::len).max().unwrap_or(0);
            self.seen.insert(period, SeenPeriod::with_capacity(expected));
        }
        let seen =
            self.seen.get_mut(&period).expect("inserted above").first_payment(who, region, meta.position, fingerprint);
        if seen.region == region && !seen.multi() {
            return;
        }
        let first = (seen.region, seen.position);
        seen.tag |= MULTI;
        let payments = self.multi_region.entry((checked_ref(who), period)).or_insert_with(|| vec![first]);
        if !payments.iter().any(|(r, _)| *r == region) {
            payments.push((region, meta.position));
        }
    }

    /// Every reversal, in log order.
    pub fn reversals(&self) -> &[ReversalSignal] {
        &self.reversals
    }

    /// Beneficiaries paid by several regions in one period, by beneficiary then period.
    pub fn multi_region_beneficiaries(&self) -> Vec<MultiRegionSignal> {
        self.multi_region
            .iter()
            .map(|((b, p), payments)| MultiRegionSignal { beneficiary: *b, period: *p, payments: payments.clone() })
            .collect()
    }

    /// Outlier payments, in log order.
    pub fn outliers(&self) -> &[OutlierSignal] {
        &self.outliers
    }

    /// Late closes, in log order.
    pub fn late_closes(&self) -> &[LateCloseSignal] {
        &self.late_closes
    }

    /// Payments indexed for reversal lookups.
    pub fn payments_indexed(&self) -> usize {
        self.positions.values().map(PaymentRun::len).sum()
    }

    /// Bytes held by the payment position index (12 per payment, plus unused capacity of the
    /// runs still open).
    pub fn positions_memory_bytes(&self) -> usize {
        self.positions.values().map(PaymentRun::memory_bytes).sum()
    }

    /// The running histogram of a region and benefit type, if it has payments.
    pub fn histogram(&self, region: RegionCode, benefit: BenefitType) -> Option<&Histogram> {
        self.histograms.get(&(region, benefit))
    }

    /// Periods whose beneficiaries are still remembered (some unit has not closed them).
    pub fn open_periods_tracked(&self) -> usize {
        self.seen.len()
    }
}

/// Where a period ends: the first day of the next month, 00:00 in the province (UTC+8), in
/// microseconds since the Unix epoch.
pub fn period_end_micros(period: Period) -> i64 {
    let midnight_utc =
        period.end_exclusive().and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_micros();
    midnight_utc - PROVINCE_UTC_OFFSET_SECONDS * MICROS_PER_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_edges_bound_their_amounts() {
        let mut last = 0;
        for amount in (1..5000u64).chain([1 << 20, (1 << 20) + 1, 99_999_999_999_999, 100_000_000_000_000]) {
            let b = Histogram::bucket(amount);
            assert!(b >= last, "bucket of {amount} went down");
            last = b;
            assert!(b < HISTOGRAM_BUCKETS, "{amount} has no bucket");
            assert!(amount < Histogram::bucket_upper(b), "{amount} not below its bucket's upper edge");
            if b > 0 {
                assert!(amount >= Histogram::bucket_upper(b - 1), "{amount} below its bucket's lower edge");
            }
        }
    }

    #[test]
    fn histogram_median_tracks_the_lower_median_bucket() {
        let mut h = Histogram::default();
        let samples = [500u64, 10, 10_000, 7, 300, 300, 250_000, 42, 42, 42, 9_999];
        let mut sorted = Vec::new();
        for s in samples {
            h.insert(s);
            sorted.push(s);
            sorted.sort_unstable();
            let exact = sorted[(sorted.len() - 1) / 2];
            assert_eq!(h.median_upper(), Some(Histogram::bucket_upper(Histogram::bucket(exact))), "after {sorted:?}");
        }
    }

    proptest::proptest! {
        /// The radix sort of long runs orders entries exactly as the comparison sort does, with
        /// high words that tie often (few distinct ones) or rarely.
        #[test]
        fn long_runs_sort_as_the_comparison_sort_does(
            len in RADIX_SORT_MIN_ENTRIES..3 * RADIX_SORT_MIN_ENTRIES,
            distinct_high in proptest::sample::select(vec![3u32, 1000, u32::MAX]),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
            let entries: Vec<[u32; 3]> = (0..len as u32)
                .map(|position| [(next() as u32) % distinct_high, next() as u32, position])
                .collect();
            let mut expected = entries.clone();
            expected.sort_unstable();
            let sorted = sorted_entries(entries);
            proptest::prop_assert_eq!(sorted.capacity(), sorted.len());
            proptest::prop_assert_eq!(sorted, expected);
        }
    }

    #[test]
    fn ref_keys_are_the_zero_padded_bytes_at_every_length() {
        let text = "B-620100-0004200X";
        for n in 1..=INLINE_REF_BYTES {
            let who = &text[..n];
            let mut bytes = [0u8; INLINE_REF_BYTES];
            bytes[..n].copy_from_slice(who.as_bytes());
            let expected = RefKey(
                u64::from_le_bytes(bytes[..8].try_into().unwrap()),
                u64::from_le_bytes(bytes[8..].try_into().unwrap()),
            );
            assert_eq!(ref_key(who, fingerprint), expected, "{who}");
        }
        assert_eq!(ref_key(text, fingerprint), RefKey(LONG_REF, fingerprint(text)));
    }

    #[test]
    fn payment_runs_find_entries_open_and_sealed() {
        let mut run = PaymentRun::default();
        let check = |run: &mut PaymentRun, n: u64| {
            assert_eq!(run.len(), n as usize);
            for i in (0..n).step_by(97).chain([n - 1]) {
                assert_eq!(run.get(fingerprint(&format!("P-{i}"))), Some(1_000 + 3 * i), "P-{i} of {n}");
            }
            assert_eq!(run.get(fingerprint("never")), None);
        };
        // Short, then long enough for buckets, then grown between lookups: each lookup sees
        // every payment pushed before it.
        for (from, to) in [(0u64, 1000u64), (1000, 5000), (5000, 5001), (5001, 7000)] {
            for i in from..to {
                run.push(fingerprint(&format!("P-{i}")), 1_000 + 3 * i);
            }
            check(&mut run, to);
            assert_eq!(run.open_index.buckets.is_empty(), to < OPEN_INDEX_MIN_ENTRIES as u64);
        }
        let index = &run.open_index;
        assert_eq!(index.indexed, 7000);
        assert_eq!(index.buckets.len(), OPEN_BUCKETS);
        assert!(index.buckets.iter().all(|b| !b.is_empty() && b.len() < 7000 / 16), "spread over every bucket");
        for (i, bucket) in index.buckets.iter().enumerate() {
            assert!(bucket.iter().all(|e| PaymentRun::bucket(e[0]) == i));
            assert!(bucket.windows(2).all(|w| w[0][2] < w[1][2]), "push order");
        }
        assert_eq!(index.buckets.iter().map(Vec::len).sum::<usize>(), 7000);
        // The buckets are a cache: not stored, not compared; a run read back finds the same.
        let mut restored: PaymentRun = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        assert!(restored.open_index.buckets.is_empty());
        assert_eq!(restored, run);
        check(&mut restored, 7000);
        assert_eq!(restored.open_index.buckets, run.open_index.buckets);
        run.seal();
        assert!(run.open_index.buckets.is_empty());
        check(&mut run, 7000);
        assert_eq!(run.memory_bytes(), 7000 * 12, "12 bytes a payment once sealed");
        // A shared key is ambiguous: no answer rather than a wrong one.
        run.push_unsealed(fingerprint("P-3"), 999_999);
        assert_eq!(run.get(fingerprint("P-3")), None);
        assert_eq!(run.get(fingerprint("P-4")), Some(1_012));
        run.seal();
        assert_eq!(run.get(fingerprint("P-3")), None);
    }

    #[test]
    fn payment_runs_keep_wide_offsets_exactly() {
        let mut run = PaymentRun::default();
        let base = 5u64;
        let far = base + u64::from(u32::MAX);
        let cases = [
            (1u64, base),
            (2, base + 1),
            (3, far),     // the largest 32-bit offset
            (4, far + 1), // one past it: kept whole
            (5, u64::MAX / 2),
            // Fingerprints that sort around the wide ones.
            (u64::MAX, far + 2),
            (0, far + 3),
            (0x1_0000_0000, base + 7),
        ];
        for (key, position) in cases {
            run.push(key, position);
        }
        assert_eq!(run.wide.len(), 4);
        assert_eq!(run.len(), cases.len());
        for sealed in [false, true] {
            if sealed {
                run.seal();
            }
            for (key, position) in cases {
                assert_eq!(run.get(key), Some(position), "key {key:#x}, sealed {sealed}");
            }
            assert_eq!(run.get(6), None);
        }
        // A key shared by a narrow and a wide payment is ambiguous in both halves.
        run.push_unsealed(2, far + 10);
        run.push_unsealed(4, base + 2);
        for sealed in [false, true] {
            if sealed {
                run.seal();
            }
            assert_eq!(run.get(2), None);
            assert_eq!(run.get(4), None);
            assert_eq!(run.get(1), Some(base));
        }
    }

    fn weak(_: &str) -> u64 {
        7
    }

    fn refs(texts: &[&str]) -> Vec<BeneficiaryRef> {
        texts.iter().map(|t| BeneficiaryRef::parse(t).unwrap()).collect()
    }

    /// A key per `i`, spread over both words like real refs (and some long-ref keys).
    fn table_key(i: u64) -> RefKey {
        if i.is_multiple_of(7) {
            RefKey(LONG_REF, i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        } else {
            RefKey(0x2d42 | i << 16, i % 3)
        }
    }

    fn table_seen(i: u64) -> Seen {
        Seen { position: i * 10 + 1, region: RegionCode::new(620_100 + (i % 5) as u32).unwrap(), tag: (i % 4) as u32 }
    }

    #[test]
    fn ref_tables_keep_every_key_across_growth_and_compare_by_content() {
        let keys = 5_000u64;
        let mut grown = RefTable::default();
        for i in 0..keys {
            let (seen, inserted) = grown.entry(table_key(i), table_seen(i));
            assert!(inserted && *seen == table_seen(i), "{i}");
            assert!(grown.len() * 2 <= grown.slots.len());
        }
        // A second entry under a key finds the first, unchanged.
        for i in (0..keys).step_by(97) {
            let (seen, inserted) = grown.entry(table_key(i), table_seen(i + 1));
            assert!(!inserted && *seen == table_seen(i), "{i}");
        }
        for i in 0..keys {
            assert_eq!(grown.get(&table_key(i)), Some(&table_seen(i)), "{i}");
        }
        assert_eq!(grown.get(&table_key(keys)), None);
        assert_eq!(RefTable::default().get(&table_key(1)), None);
        // Sized up front and filled backwards: other buckets, equal contents.
        let mut sized = RefTable::with_capacity(keys as usize);
        for i in (0..keys).rev() {
            sized.entry(table_key(i), table_seen(i));
        }
        assert_eq!(sized, grown);
        sized.entry(table_key(0), table_seen(0)).0.tag |= MULTI;
        assert_ne!(sized, grown, "a changed entry");
        let mut fewer = RefTable::default();
        fewer.entry(table_key(1), table_seen(1));
        assert_ne!(fewer, grown);
    }

    #[test]
    fn ref_tables_tell_apart_keys_with_the_same_home_and_tag() {
        // Two keys whose hash gives the same slot and the same tag in a 16-slot table (28 bits
        // to match: found among a few hundred thousand keys).
        let small = RefTable::with_capacity(0);
        assert_eq!(small.slots.len(), REF_TABLE_MIN_SLOTS);
        let mut by_hash: std::collections::HashMap<(usize, u32), u64> = std::collections::HashMap::new();
        let (a, b) = (0..1u64 << 22)
            .find_map(|i| by_hash.insert(small.home_and_tag(&table_key(i)), i).map(|j| (j, i)))
            .expect("a shared home and tag");
        assert_ne!(table_key(a), table_key(b));
        for first in [a, b] {
            let second = if first == a { b } else { a };
            let mut t = RefTable::with_capacity(0);
            assert!(t.entry(table_key(first), table_seen(first)).1);
            assert_eq!(t.get(&table_key(second)), None, "same tag, another key");
            assert!(t.entry(table_key(second), table_seen(second)).1);
            assert_eq!(t.get(&table_key(first)), Some(&table_seen(first)));
            assert_eq!(t.get(&table_key(second)), Some(&table_seen(second)));
            assert_eq!(t.len(), 2);
        }
    }

    #[test]
    fn ref_tables_are_stored_as_the_sorted_map_they_replaced() {
        let mut table = RefTable::default();
        let mut map: FastMap<RefKey, Seen> = FastMap::default();
        for i in 0..300 {
            table.entry(table_key(i), table_seen(i));
            map.insert(table_key(i), table_seen(i));
        }
        let mut as_map = serde_json::Serializer::new(Vec::new());
        sorted_map::serialize(&map, &mut as_map).unwrap();
        let text = serde_json::to_string(&table).unwrap();
        assert_eq!(text.as_bytes(), as_map.into_inner(), "snapshots written before read the same");
        assert_eq!(serde_json::from_str::<RefTable>(&text).unwrap(), table);
        let pair = |i: u64| serde_json::to_string(&(table_key(i), table_seen(i))).unwrap();
        let twice = format!("[{},{}]", pair(1), pair(1));
        assert!(serde_json::from_str::<RefTable>(&twice).unwrap_err().to_string().contains("twice"));
        let zero = serde_json::to_string(&vec![(EMPTY_KEY, table_seen(1))]).unwrap();
        assert!(serde_json::from_str::<RefTable>(&zero).unwrap_err().to_string().contains("zeros"));
    }

    #[test]
    fn seen_keys_short_refs_exactly_and_tells_colliding_long_refs_apart() {
        let region = |n: u32| RegionCode::parse(&format!("6201{n:02}")).unwrap();
        let all = refs(&[
            "a",
            "a.",
            "B-620100-00042",
            "B-620100-000420",   // 15 bytes
            "B-620100-0004200",  // 16 bytes: the longest inline ref
            "B-620100-00042000", // 17 bytes: long
            "B-620100-00042001",
            "p:0123456789abcdef0123456789abcdef",
            "p:0123456789abcdef0123456789abcdeF",
        ]);
        for (fp, collide) in [(fingerprint as fn(&str) -> u64, false), (weak, true)] {
            let mut period = SeenPeriod::default();
            for (i, who) in all.iter().enumerate() {
                let seen = period.first_payment(who.as_str(), region(i as u32), 100 + i as u64, fp);
                assert_eq!((seen.region, seen.position, seen.multi()), (region(i as u32), 100 + i as u64, false));
            }
            assert_eq!(period.len(), all.len());
            assert_eq!(period.long_refs.len() + period.colliding.len(), 4);
            if collide {
                assert_eq!(period.colliding.len(), 3, "every long ref after the first collides");
            }
            // Later payments find each ref's own first payment, whatever the fingerprint.
            for (i, who) in all.iter().enumerate().rev() {
                let seen = period.first_payment(who.as_str(), region(50), 900, fp);
                assert_eq!((seen.region, seen.position), (region(i as u32), 100 + i as u64), "{who:?}");
                seen.tag |= MULTI;
            }
            assert_eq!(period.len(), all.len());
            for who in &all {
                assert!(period.first_payment(who.as_str(), region(50), 901, fp).multi(), "{who:?}");
            }
        }
    }

    /// Folds payments of the given refs and regions into a view with the given fingerprint of
    /// long refs, and returns its multi-region signals.
    fn multi_region_with(fp: fn(&str) -> u64, payments: &[(&str, u32)]) -> Vec<MultiRegionSignal> {
        let mut view = Supervision::with_units(3);
        let period = Period::new(2024, 1).unwrap();
        for (i, (who, r)) in payments.iter().enumerate() {
            let region = RegionCode::parse(&format!("6201{r:02}")).unwrap();
            let meta = EventMeta { position: i as u64 + 1, recorded_at_micros: 0 };
            view.check_beneficiary_with(&meta, region, period, BeneficiaryRef::parse(who).unwrap().as_str(), fp);
        }
        view.multi_region_beneficiaries()
    }

    #[test]
    fn multi_region_signals_do_not_depend_on_the_fingerprint() {
        let long = |n: u32| format!("ps:{n:032}");
        let (l1, l2, l3) = (long(1), long(2), long(3));
        let payments: Vec<(&str, u32)> = vec![
            (&l1, 1),
            (&l2, 2),
            ("B-short", 1),
            (&l2, 2),
            (&l3, 3),
            (&l1, 1), // same region again: nothing
            ("B-short", 2),
            (&l2, 1), // l2 now in two regions
            (&l3, 3),
            ("B-short", 3),
            (&l2, 3),
            (&l2, 1),
        ];
        let exact = multi_region_with(fingerprint, &payments);
        assert_eq!(exact, multi_region_with(weak, &payments), "a shared fingerprint changes nothing");
        let region = |n: u32| RegionCode::parse(&format!("6201{n:02}")).unwrap();
        let period = Period::new(2024, 1).unwrap();
        let signal = |who: &str, payments: Vec<(RegionCode, u64)>| MultiRegionSignal {
            beneficiary: BeneficiaryRef::parse(who).unwrap(),
            period,
            payments,
        };
        assert_eq!(
            exact,
            vec![
                signal("B-short", vec![(region(1), 3), (region(2), 7), (region(3), 10)]),
                signal(&l2, vec![(region(2), 2), (region(1), 8), (region(3), 11)]),
            ]
        );
    }

    proptest::proptest! {
        /// Against a naive model (each ref's first payment per region, in order), with the real
        /// fingerprint and with one that makes every long ref collide.
        #[test]
        fn multi_region_signals_match_a_naive_model(
            payments in proptest::collection::vec((0usize..6, 1u32..4), 0..60)
        ) {
            let texts = ["B-1", "B-620100-0004200", "B-620100-00042000", "B-620100-00042001", "ps:a-long-pseudonym-0001", "ps:a-long-pseudonym-0002"];
            let payments: Vec<(&str, u32)> = payments.iter().map(|(w, r)| (texts[*w], *r)).collect();
            let period = Period::new(2024, 1).unwrap();
            let mut model: BTreeMap<BeneficiaryRef, Vec<(RegionCode, u64)>> = BTreeMap::new();
            for (i, (who, r)) in payments.iter().enumerate() {
                let region = RegionCode::parse(&format!("6201{r:02}")).unwrap();
                let firsts = model.entry(BeneficiaryRef::parse(who).unwrap()).or_default();
                if !firsts.iter().any(|(seen, _)| *seen == region) {
                    firsts.push((region, i as u64 + 1));
                }
            }
            let expected: Vec<MultiRegionSignal> = model
                .into_iter()
                .filter(|(_, firsts)| firsts.len() > 1)
                .map(|(beneficiary, payments)| MultiRegionSignal { beneficiary, period, payments })
                .collect();
            proptest::prop_assert_eq!(&multi_region_with(fingerprint, &payments), &expected);
            proptest::prop_assert_eq!(&multi_region_with(weak, &payments), &expected);
        }
    }

    #[test]
    fn period_end_is_midnight_beijing_time() {
        // 2024-02-01 00:00 UTC+8 = 2024-01-31 16:00 UTC = 1706745600 − 8·3600 s
        // (2024-01-01 00:00 UTC is 1704067200; January has 31 · 86400 s).
        let p = Period::new(2024, 1).unwrap();
        assert_eq!(period_end_micros(p), (1_706_745_600 - 8 * 3600) * 1_000_000);
    }
}
