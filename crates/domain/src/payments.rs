//! The payment book: every recorded payment, kept compactly for the duplicate-id check, reversals
//! and the once-per-period rule of periodic benefits.
//!
//! A provincial ledger records tens of millions of payments over a decade, and the decision
//! state must hold every one of them, so this is the largest structure in memory. Each payment
//! takes one 32-byte slot plus about 5-10 bytes of hash table:
//!
//! - **key**: the first 128 bits of SHA-256 of the payment id. Two different ids share a key with
//!   probability about n²/2¹²⁹ (for a billion payments, ~10⁻²¹), and finding such a pair on
//!   purpose costs ~2⁶⁴ SHA-256 evaluations. (The engine's idempotency index can do with 64-bit
//!   keys because it confirms every hit against the log; the decision state has no such check.)
//! - region, period, benefit type and amount, as plain integers;
//! - the beneficiary as an index into an interning table (a beneficiary is paid many times);
//! - the amount reversed so far lives in a side map, since few payments are ever reversed.
//!
//! Periodic benefits paid (beneficiary, benefit type, month) are bits in 64-month words, one
//! word per beneficiary and benefit type for five years of a monthly pension.
//!
//! Slots live in fixed-size chunks, so growth never copies the book nor leaves a half-empty
//! doubling behind. The hash tables store only slot numbers and are keyed with a random seed, so
//! crafted ids cannot pile up in one bucket. In a snapshot the book is a few flat byte strings:
//! the slots word for word, and the payment table as it is with its seed, so loading ten million
//! payments is a copy and a check of every field, not ten million inserts.

use std::collections::HashMap;
use std::fmt;

use hashbrown::HashTable;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::category::BenefitType;
use crate::compact::{ByteBuf, Bytes, Chunked, KeyHasher, SlotTable, build_table, u64_le};
use crate::ids::{BeneficiaryRef, PaymentId, RegionCode};
use crate::money::{MONEY_FEN_MAX, Money};
use crate::period::Period;

/// A recorded payment, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentRecord {
    pub region: RegionCode,
    pub period: Period,
    pub benefit: BenefitType,
    pub beneficiary: BeneficiaryRef,
    pub amount: Money,
    pub reversed: Money,
}

/// A payment's fields, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    key: [u64; 2],
    amount_fen: i64,
    beneficiary: u32,
    region: u32,
    period: u16,
    benefit: u8,
}

/// One payment, in 32 bytes: the key, then amount (47 bits: `MONEY_FEN_MAX` < 2⁴⁷) with the
/// period (15 bits), then beneficiary number (32 bits), region code − 100000 (20 bits) and
/// benefit type (5 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    key: [u64; 2],
    amount_period: u64,
    who_where: u64,
}

const AMOUNT_BITS: u32 = 47;
const REGION_BASE: u32 = 100_000;

impl Slot {
    /// `None` if a field does not fit (never for valid money, regions, periods and benefits).
    fn pack(f: Fields) -> Option<Slot> {
        let amount = u64::try_from(f.amount_fen).ok().filter(|a| *a < 1 << AMOUNT_BITS)?;
        let region = f.region.checked_sub(REGION_BASE).filter(|r| *r < 1 << 20)?;
        (f.period < 1 << 15 && f.benefit < 1 << 5).then_some(Slot {
            key: f.key,
            amount_period: amount | u64::from(f.period) << AMOUNT_BITS,
            who_where: u64::from(f.beneficiary) | u64::from(region) << 32 | u64::from(f.benefit) << 52,
        })
    }

    fn fields(&self) -> Fields {
        Fields {
            key: self.key,
            amount_fen: (self.amount_period & ((1 << AMOUNT_BITS) - 1)) as i64,
            period: (self.amount_period >> AMOUNT_BITS) as u16,
            beneficiary: self.who_where as u32,
            region: ((self.who_where >> 32) & 0xf_ffff) as u32 + REGION_BASE,
            benefit: (self.who_where >> 52) as u8,
        }
    }
}

/// A slot in a snapshot: its four words, little-endian.
const SLOT_WIRE_BYTES: usize = 32;

/// The key of a payment id: the first 128 bits of its SHA-256.
fn payment_key(id: &PaymentId) -> [u64; 2] {
    // A payment's id is looked up when the writer prefetches for it, when it is decided and
    // again when it is recorded: recent keys are kept, per thread, in a small direct-mapped
    // cache (slot chosen by the id's length and last byte), so that only the first costs a
    // SHA-256.
    const RECENT_KEYS: usize = 16;
    type Recent = [Option<(PaymentId, [u64; 2])>; RECENT_KEYS];
    thread_local! {
        static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new([None; RECENT_KEYS]) };
    }
    let text = id.as_str().as_bytes();
    let slot = (text.len() * 31 + usize::from(text.last().copied().unwrap_or(0))) % RECENT_KEYS;
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        match recent[slot] {
            Some((known, key)) if known == *id => key,
            _ => {
                let key = payment_key_uncached(id);
                recent[slot] = Some((*id, key));
                key
            }
        }
    })
}

fn payment_key_uncached(id: &PaymentId) -> [u64; 2] {
    let digest = Sha256::digest(id.as_str().as_bytes());
    [
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")),
        u64::from_le_bytes(digest[8..16].try_into().expect("8 bytes")),
    ]
}

fn period_code(period: Period) -> u16 {
    u16::try_from(period.index()).expect("periods up to year 5461 fit 16 bits")
}

/// Where a periodic mark lives: the key of its 64-month word (beneficiary, benefit type, period
/// index / 64) and the bit of its month in that word.
fn periodic_word(beneficiary: u32, benefit: BenefitType, period: Period) -> (u64, u64) {
    let code = u64::from(period_code(period));
    ((u64::from(beneficiary) << 32) | (u64::from(benefit as u8) << 16) | (code / 64), 1 << (code % 64))
}

/// Every recorded payment and the periodic benefits already paid. See the module docs.
#[derive(Clone, Default)]
pub struct PaymentBook {
    /// 64 Ki slots of 32 bytes (2 MiB) per chunk.
    slots: Chunked<Slot>,
    /// Slot numbers, hashed by key; stored in snapshots as it is, with the hasher's seed.
    by_key: SlotTable,
    /// Amounts reversed so far, by slot number; only payments with a reversal appear.
    reversed: HashMap<u32, i64>,
    /// Interned beneficiaries, in order of first payment.
    beneficiaries: Vec<BeneficiaryRef>,
    beneficiary_index: SlotTable,
    /// Periodic benefits paid and not fully reversed: per beneficiary and benefit type, one bit
    /// per month in words of 64 months (a monthly pension over five years is one or two words).
    periodic: HashTable<(u64, u64)>,
    hasher: KeyHasher,
}

impl PaymentBook {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn slot(&self, index: u32) -> &Slot {
        self.slots.get(index)
    }

    fn find(&self, key: [u64; 2]) -> Option<u32> {
        let hash = self.hasher.fingerprint(key);
        self.by_key.find(hash, |i| self.slot(i).key == key)
    }

    /// Starts loading the table buckets that deciding and recording a payment of `id` to `who`
    /// will read first (see [`SlotTable::prefetch`]).
    pub fn prefetch(&self, id: &PaymentId, who: &BeneficiaryRef) {
        self.by_key.prefetch(self.hasher.fingerprint(payment_key(id)));
        self.beneficiary_index.prefetch(self.hasher.text(who.as_str().as_bytes()));
    }

    fn beneficiary_number(&self, who: &BeneficiaryRef) -> Option<u32> {
        let hash = self.hasher.text(who.as_str().as_bytes());
        self.beneficiary_index.find(hash, |i| self.beneficiaries[i as usize] == *who)
    }

    fn intern(&mut self, who: BeneficiaryRef) -> u32 {
        if let Some(number) = self.beneficiary_number(&who) {
            return number;
        }
        let number = u32::try_from(self.beneficiaries.len()).expect("fewer than 2^32 beneficiaries");
        self.beneficiaries.push(who);
        let hasher = &self.hasher;
        let beneficiaries = &self.beneficiaries;
        let text = |i: u32| hasher.text(beneficiaries[i as usize].as_str().as_bytes());
        let indexed = self.beneficiary_index.push(hasher.text(who.as_str().as_bytes()), text);
        debug_assert_eq!(indexed, number, "the beneficiary table numbers refs as they are interned");
        number
    }

    fn record_at(&self, index: u32) -> PaymentRecord {
        let f = self.slot(index).fields();
        let money = |fen: i64| Money::from_fen(fen).expect("amounts in the book were valid money");
        PaymentRecord {
            region: RegionCode::new(f.region).expect("regions in the book are valid"),
            period: Period::from_index(u32::from(f.period)).expect("periods in the book are valid"),
            benefit: BenefitType::ALL[usize::from(f.benefit)],
            beneficiary: self.beneficiaries[f.beneficiary as usize],
            amount: money(f.amount_fen),
            reversed: money(self.reversed.get(&index).copied().unwrap_or(0)),
        }
    }

    pub fn contains(&self, id: &PaymentId) -> bool {
        self.find(payment_key(id)).is_some()
    }

    pub fn get(&self, id: &PaymentId) -> Option<PaymentRecord> {
        self.find(payment_key(id)).map(|i| self.record_at(i))
    }

    /// Records a new payment (with nothing reversed); `false` if the id is already recorded.
    pub fn insert(&mut self, id: &PaymentId, record: &PaymentRecord) -> bool {
        let key = payment_key(id);
        if self.find(key).is_some() {
            return false;
        }
        let beneficiary = self.intern(record.beneficiary);
        let slot = Slot::pack(Fields {
            key,
            amount_fen: record.amount.to_fen(),
            beneficiary,
            region: record.region.get(),
            period: period_code(record.period),
            benefit: record.benefit as u8,
        })
        .expect("a valid payment fits a slot");
        self.push_slot(slot);
        true
    }

    /// Appends a slot whose key is not in the book yet, and indexes it.
    fn push_slot(&mut self, slot: Slot) {
        let index = self.slots.push(slot);
        let (hasher, slots) = (&self.hasher, &self.slots);
        let indexed = self.by_key.push(hasher.fingerprint(slot.key), |i| hasher.fingerprint(slots.get(i).key));
        debug_assert_eq!(indexed, index, "the payment table numbers slots as they are pushed");
    }

    /// Adds a reversal to a recorded payment and returns the payment after it.
    pub fn add_reversal(&mut self, id: &PaymentId, amount: Money) -> Option<PaymentRecord> {
        let index = self.find(payment_key(id))?;
        *self.reversed.entry(index).or_insert(0) += amount.to_fen();
        Some(self.record_at(index))
    }

    pub fn periodic_paid(&self, beneficiary: &BeneficiaryRef, benefit: BenefitType, period: Period) -> bool {
        let Some(number) = self.beneficiary_number(beneficiary) else { return false };
        let (word, bit) = periodic_word(number, benefit, period);
        self.periodic.find(self.hasher.packed(word), |&(w, _)| w == word).is_some_and(|&(_, bits)| bits & bit != 0)
    }

    pub fn mark_periodic(&mut self, beneficiary: BeneficiaryRef, benefit: BenefitType, period: Period) {
        let number = self.intern(beneficiary);
        let (word, bit) = periodic_word(number, benefit, period);
        let hasher = &self.hasher;
        let entry = self.periodic.entry(hasher.packed(word), |&(w, _)| w == word, |&(w, _)| hasher.packed(w));
        entry.or_insert((word, 0)).get_mut().1 |= bit;
    }

    pub fn unmark_periodic(&mut self, beneficiary: &BeneficiaryRef, benefit: BenefitType, period: Period) {
        let Some(number) = self.beneficiary_number(beneficiary) else { return };
        let (word, bit) = periodic_word(number, benefit, period);
        if let Ok(mut entry) = self.periodic.find_entry(self.hasher.packed(word), |&(w, _)| w == word) {
            entry.get_mut().1 &= !bit;
            if entry.get().1 == 0 {
                entry.remove();
            }
        }
    }

    /// Approximate heap bytes held, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
            + self.by_key.heap_bytes()
            + self.reversed.capacity() * (1 + size_of::<(u32, i64)>())
            + self.beneficiaries.capacity() * size_of::<BeneficiaryRef>()
            + self.beneficiary_index.heap_bytes()
            + self.periodic.capacity() * (1 + size_of::<(u64, u64)>())
    }

    fn sorted_periodic(&self) -> Vec<(u64, u64)> {
        let mut keys: Vec<(u64, u64)> = self.periodic.iter().copied().collect();
        keys.sort_unstable();
        keys
    }

    fn sorted_reversed(&self) -> Vec<(u32, i64)> {
        let mut reversed: Vec<(u32, i64)> = self.reversed.iter().map(|(&i, &fen)| (i, fen)).collect();
        reversed.sort_unstable();
        reversed
    }
}

impl PartialEq for PaymentBook {
    fn eq(&self, other: &PaymentBook) -> bool {
        self.slots == other.slots
            && self.beneficiaries == other.beneficiaries
            && self.sorted_reversed() == other.sorted_reversed()
            && self.sorted_periodic() == other.sorted_periodic()
    }
}

impl Eq for PaymentBook {}

impl fmt::Debug for PaymentBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentBook")
            .field("payments", &self.len())
            .field("reversed", &self.reversed.len())
            .field("beneficiaries", &self.beneficiaries.len())
            .field("periodic", &self.periodic.len())
            .finish()
    }
}

// ---- snapshot form: flat little-endian byte strings ----

impl Serialize for PaymentBook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut slots = Vec::with_capacity(self.len() * SLOT_WIRE_BYTES);
        for slot in self.slots.iter() {
            for word in [slot.key[0], slot.key[1], slot.amount_period, slot.who_where] {
                slots.extend_from_slice(&word.to_le_bytes());
            }
        }
        let seed = self.hasher.seed_bytes();
        let mut reversed = Vec::with_capacity(self.reversed.len() * 12);
        for (index, fen) in self.sorted_reversed() {
            reversed.extend_from_slice(&index.to_le_bytes());
            reversed.extend_from_slice(&fen.to_le_bytes());
        }
        let mut beneficiaries = Vec::new();
        for who in &self.beneficiaries {
            beneficiaries.push(who.as_str().len() as u8);
            beneficiaries.extend_from_slice(who.as_str().as_bytes());
        }
        let mut periodic = Vec::with_capacity(self.periodic.len() * 16);
        for (word, bits) in self.sorted_periodic() {
            periodic.extend_from_slice(&word.to_le_bytes());
            periodic.extend_from_slice(&bits.to_le_bytes());
        }
        let mut s = serializer.serialize_struct("PaymentBook", PART_NAMES.len())?;
        s.serialize_field("seed", &Bytes(&seed))?;
        s.serialize_field("slots", &Bytes(&slots))?;
        s.serialize_field("table", &Bytes(&self.by_key.to_bytes()))?;
        s.serialize_field("reversed", &Bytes(&reversed))?;
        s.serialize_field("beneficiaries", &Bytes(&beneficiaries))?;
        s.serialize_field("beneficiary_table", &Bytes(&self.beneficiary_index.to_bytes()))?;
        s.serialize_field("periodic", &Bytes(&periodic))?;
        s.end()
    }
}

/// The snapshot parts of a payment book, in order.
const PART_NAMES: &[&str] = &["seed", "slots", "table", "reversed", "beneficiaries", "beneficiary_table", "periodic"];

/// The parts as read, in [`PART_NAMES`] order.
struct Parts<'de>([ByteBuf<'de>; 7]);

impl<'de> Deserialize<'de> for PaymentBook {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PaymentBook, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PaymentBook;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a payment book")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PaymentBook, A::Error> {
                let mut next = || -> Result<ByteBuf<'de>, A::Error> {
                    seq.next_element::<ByteBuf<'de>>()?.ok_or_else(|| de::Error::custom("payment book is cut short"))
                };
                let parts = Parts([next()?, next()?, next()?, next()?, next()?, next()?, next()?]);
                PaymentBook::from_parts(&parts).map_err(de::Error::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PaymentBook, A::Error> {
                let mut parts: [Option<ByteBuf<'de>>; 7] = Default::default();
                while let Some(name) = map.next_key::<String>()? {
                    let at = PART_NAMES
                        .iter()
                        .position(|f| *f == name)
                        .ok_or_else(|| de::Error::unknown_field(&name, PART_NAMES))?;
                    parts[at] = Some(map.next_value()?);
                }
                let [Some(a), Some(b), Some(c), Some(d), Some(e), Some(f), Some(g)] = parts else {
                    return Err(de::Error::custom("payment book lacks a part"));
                };
                PaymentBook::from_parts(&Parts([a, b, c, d, e, f, g])).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_struct("PaymentBook", PART_NAMES, V)
    }
}

impl PaymentBook {
    /// Rebuilds a book from its snapshot parts, checking every field.
    fn from_parts(parts: &Parts<'_>) -> Result<PaymentBook, String> {
        let [seed, slots, table, reversed, beneficiaries, beneficiary_table, periodic] =
            parts.0.each_ref().map(|p| &*p.0);
        let hasher = KeyHasher::from_seed_bytes(seed).ok_or("payment book's hash seed is not 16 bytes")?;
        let mut book = PaymentBook { hasher, ..PaymentBook::default() };
        book.load_beneficiaries(beneficiaries, beneficiary_table)?;
        if !slots.len().is_multiple_of(SLOT_WIRE_BYTES) {
            return Err("payment slots are cut short".into());
        }
        let count = slots.len() / SLOT_WIRE_BYTES;
        let beneficiary_count = book.beneficiaries.len() as u64;
        book.slots = Chunked::load(count, |number| {
            let raw = &slots[number * SLOT_WIRE_BYTES..(number + 1) * SLOT_WIRE_BYTES];
            let slot = Slot {
                key: [u64_le(raw, 0), u64_le(raw, 8)],
                amount_period: u64_le(raw, 16),
                who_where: u64_le(raw, 24),
            };
            let f = slot.fields();
            let valid = f.amount_fen > 0
                && f.amount_fen <= MONEY_FEN_MAX
                && slot.who_where >> 57 == 0
                && u64::from(f.beneficiary) < beneficiary_count
                && RegionCode::new(f.region).is_some()
                && Period::from_index(u32::from(f.period)).is_some()
                && usize::from(f.benefit) < BenefitType::ALL.len();
            if valid { Ok(slot) } else { Err(format!("payment slot {number} is not a valid payment")) }
        })?;
        book.by_key = SlotTable::from_bytes(table, count).map_err(|e| format!("payment table: {e}"))?;
        if !reversed.len().is_multiple_of(12) {
            return Err("reversal table is cut short".into());
        }
        for raw in reversed.chunks_exact(12) {
            let index = u32::from_le_bytes(raw[..4].try_into().expect("4 bytes"));
            let fen = i64::from_le_bytes(raw[4..].try_into().expect("8 bytes"));
            if index as usize >= book.len() || fen <= 0 || fen > book.slot(index).fields().amount_fen {
                return Err(format!("reversal of payment slot {index} is not valid"));
            }
            if book.reversed.insert(index, fen).is_some() {
                return Err(format!("payment slot {index} is reversed twice in the table"));
            }
        }
        if !periodic.len().is_multiple_of(16) {
            return Err("periodic table is cut short".into());
        }
        let mut words = Vec::with_capacity(periodic.len() / 16);
        for raw in periodic.chunks_exact(16) {
            let (word, bits) = (u64_le(raw, 0), u64_le(raw, 8));
            let (number, benefit, first) = (word >> 32, (word >> 16) & 0xffff, (word & 0xffff) * 64);
            let months_valid = (0..64)
                .filter(|b| bits & (1 << b) != 0)
                .all(|b| u16::try_from(first + b).is_ok_and(|code| Period::from_index(u32::from(code)).is_some()));
            if number >= beneficiary_count || benefit as usize >= BenefitType::ALL.len() || bits == 0 || !months_valid {
                return Err("periodic table holds an invalid entry".into());
            }
            words.push((book.hasher.packed(word), (word, bits)));
        }
        let hasher = &book.hasher;
        book.periodic = build_table(words, |a, b| a.0 == b.0, |&(w, _)| hasher.packed(w))
            .map_err(|_| "periodic table repeats an entry".to_string())?;
        Ok(book)
    }

    /// Reads the snapshot's beneficiaries (length-prefixed refs, each checked) and their table.
    fn load_beneficiaries(&mut self, mut rest: &[u8], table: &[u8]) -> Result<(), String> {
        while let Some((&len, tail)) = rest.split_first() {
            let len = usize::from(len);
            if tail.len() < len {
                return Err("beneficiary table is cut short".into());
            }
            let text = std::str::from_utf8(&tail[..len]).map_err(|_| "beneficiary ref is not text")?;
            self.beneficiaries.push(BeneficiaryRef::parse(text).map_err(|e| e.to_string())?);
            rest = &tail[len..];
        }
        self.beneficiary_index =
            SlotTable::from_bytes(table, self.beneficiaries.len()).map_err(|e| format!("beneficiary table: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(beneficiary: &str, amount_fen: i64) -> PaymentRecord {
        PaymentRecord {
            region: RegionCode::new(620100).unwrap(),
            period: Period::new(2025, 3).unwrap(),
            benefit: BenefitType::MonthlyDisabilityAllowance,
            beneficiary: BeneficiaryRef::parse(beneficiary).unwrap(),
            amount: Money::from_fen(amount_fen).unwrap(),
            reversed: Money::ZERO,
        }
    }

    fn id(text: &str) -> PaymentId {
        PaymentId::parse(text).unwrap()
    }

    #[test]
    fn slots_are_32_bytes_and_pack_every_valid_field_exactly() {
        assert_eq!(size_of::<Slot>(), 32);
        let extremes = [
            Fields { key: [1, 2], amount_fen: 1, beneficiary: 0, region: 100_000, period: 0, benefit: 0 },
            Fields {
                key: [u64::MAX, 0],
                amount_fen: crate::money::MONEY_FEN_MAX,
                beneficiary: u32::MAX,
                region: 999_999,
                period: period_code(Period::new(2199, 12).unwrap()),
                benefit: (BenefitType::ALL.len() - 1) as u8,
            },
        ];
        for f in extremes {
            assert_eq!(Slot::pack(f).unwrap().fields(), f);
        }
        let too_big = Fields { amount_fen: 1 << 47, ..extremes[0] };
        assert_eq!(Slot::pack(too_big), None);
        assert_eq!(Slot::pack(Fields { amount_fen: -1, ..extremes[0] }), None);
    }

    #[test]
    fn records_come_back_exactly_and_duplicates_are_refused() {
        let mut book = PaymentBook::default();
        assert!(book.insert(&id("p-1"), &record("b-1", 1234)));
        assert!(book.insert(&id("p-2"), &record("b-2", 99)));
        assert!(!book.insert(&id("p-1"), &record("b-3", 5)), "a second payment under p-1 is refused");
        assert_eq!(book.len(), 2);
        assert_eq!(book.get(&id("p-1")), Some(record("b-1", 1234)));
        assert_eq!(book.get(&id("p-3")), None);
        let after = book.add_reversal(&id("p-1"), Money::from_fen(34).unwrap()).unwrap();
        assert_eq!(after.reversed, Money::from_fen(34).unwrap());
        assert_eq!(book.get(&id("p-2")).unwrap().reversed, Money::ZERO);
    }

    #[test]
    fn periodic_marks_are_per_beneficiary_benefit_and_period() {
        let mut book = PaymentBook::default();
        let (who, other) = (BeneficiaryRef::parse("b-1").unwrap(), BeneficiaryRef::parse("b-2").unwrap());
        let (march, april) = (Period::new(2025, 3).unwrap(), Period::new(2025, 4).unwrap());
        let pension = BenefitType::DependantsPension;
        book.mark_periodic(who, pension, march);
        assert!(book.periodic_paid(&who, pension, march));
        assert!(!book.periodic_paid(&who, pension, april));
        assert!(!book.periodic_paid(&other, pension, march));
        assert!(!book.periodic_paid(&who, BenefitType::NursingAllowance, march));
        book.unmark_periodic(&who, pension, march);
        assert!(!book.periodic_paid(&who, pension, march));
        assert_eq!(book.periodic.len(), 0, "an emptied word is removed");
        // Ten years of a monthly pension span several 64-month words; each month stands alone.
        let months: Vec<Period> = (0..120).map(|i| Period::from_index(march.index() + i).unwrap()).collect();
        for (i, month) in months.iter().enumerate() {
            if i % 7 != 3 {
                book.mark_periodic(who, pension, *month);
            }
        }
        book.unmark_periodic(&who, pension, months[10]);
        for (i, month) in months.iter().enumerate() {
            assert_eq!(book.periodic_paid(&who, pension, *month), i % 7 != 3 && i != 10, "month {i}");
        }
        let back: PaymentBook = postcard::from_bytes(&postcard::to_stdvec(&book).unwrap()).unwrap();
        assert_eq!(back, book);
        assert!(back.periodic_paid(&who, pension, months[11]) && !back.periodic_paid(&who, pension, months[10]));
    }

    #[test]
    fn many_payments_span_chunks_and_survive_the_snapshot_form() {
        let mut book = PaymentBook::default();
        for i in 0..(crate::compact::CHUNK_SLOTS as i64 + 500) {
            assert!(book.insert(&id(&format!("pay-{i}")), &record(&format!("b-{}", i % 97), 100 + i)));
        }
        book.add_reversal(&id("pay-66000"), Money::from_fen(7).unwrap()).expect("recorded");
        book.mark_periodic(
            BeneficiaryRef::parse("b-5").unwrap(),
            BenefitType::DependantsPension,
            Period::new(2025, 1).unwrap(),
        );
        let bytes = postcard::to_stdvec(&book).unwrap();
        let back: PaymentBook = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, book);
        assert_eq!(back.get(&id("pay-65600")), book.get(&id("pay-65600")));
        assert_eq!(back.get(&id("pay-66000")).unwrap().reversed, Money::from_fen(7).unwrap());
        let json = serde_json::to_string(&book).unwrap();
        assert_eq!(serde_json::from_str::<PaymentBook>(&json).unwrap(), book);
    }

    fn from_parts(parts: [&[u8]; 7]) -> Result<PaymentBook, String> {
        PaymentBook::from_parts(&Parts(parts.map(|p| ByteBuf(std::borrow::Cow::Borrowed(p)))))
    }

    fn wire_slot(key: [u64; 2], beneficiary: u32) -> Vec<u8> {
        let fields = Fields {
            key,
            amount_fen: 10,
            beneficiary,
            region: 620100,
            period: period_code(Period::new(2025, 1).unwrap()),
            benefit: 0,
        };
        let slot = Slot::pack(fields).unwrap();
        [slot.key[0], slot.key[1], slot.amount_period, slot.who_where].iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn recent_payment_keys_are_the_keys() {
        // Ids sharing a cache slot (same length, same last byte) and ids that do not, in turn.
        let ids: Vec<PaymentId> = (0..40).map(|i| id(&format!("p-{:03}x", i % 20))).collect();
        for round in 0..3 {
            for (i, pid) in ids.iter().enumerate() {
                let expected = payment_key_uncached(pid);
                assert_eq!(payment_key(pid), expected, "round {round}, id {i}");
                assert_eq!(payment_key(pid), expected, "again, round {round}, id {i}");
            }
        }
        let mut book = PaymentBook::default();
        book.prefetch(&id("p-1"), &BeneficiaryRef::parse("b-1").unwrap());
        assert!(book.insert(&id("p-1"), &record("b-1", 10)));
        book.prefetch(&id("p-1"), &BeneficiaryRef::parse("b-1").unwrap());
        assert!(book.contains(&id("p-1")), "prefetching changes nothing");
    }

    #[test]
    fn damaged_snapshot_parts_are_refused() {
        let mut book = PaymentBook::default();
        book.insert(&id("p-1"), &record("b-1", 10));
        let good = postcard::to_stdvec(&book).unwrap();
        let back: PaymentBook = postcard::from_bytes(&good).unwrap();
        assert_eq!(back, book);
        assert_eq!(back.get(&id("p-1")), book.get(&id("p-1")));
        let seed = [1u8; 16];
        // A table of one entry (slot 0), for one slot or one beneficiary.
        let one = {
            let mut table = SlotTable::default();
            table.push(3, |_| 3);
            table.to_bytes()
        };
        let who = [3, b'b', b'-', b'1'];
        // A slot naming a beneficiary that is not in the table.
        let slots = wire_slot([0, 0], 5);
        let err = from_parts([&seed, &slots, &one, &[], &who, &one, &[]]).unwrap_err();
        assert!(err.contains("not a valid payment"), "{err}");
        let mut bad_bits = wire_slot([0, 0], 0);
        bad_bits[31] = 0xff;
        let err = from_parts([&seed, &bad_bits, &one, &[], &who, &one, &[]]).unwrap_err();
        assert!(err.contains("not a valid payment"), "{err}");
        let slots = wire_slot([0, 0], 0);
        assert!(from_parts([&seed, &slots, &one, &[], &who, &one, &[]]).is_ok());
        assert!(from_parts([&seed[..8], &slots, &one, &[], &who, &one, &[]]).unwrap_err().contains("seed"));
        let err = from_parts([&seed, &slots[..20], &[], &[], &[], &[], &[]]).unwrap_err();
        assert!(err.contains("cut short"), "{err}");
        assert!(from_parts([&seed, &[], &[], &[], &[9, b'x'], &[], &[]]).unwrap_err().contains("cut short"));
        let err = from_parts([&seed, &[], &[], &[0; 12], &[], &[], &[]]).unwrap_err();
        assert!(err.contains("reversal"), "{err}");
        // Tables that do not index exactly the slots or the beneficiaries.
        let err = from_parts([&seed, &slots, &[], &[], &who, &one, &[]]).unwrap_err();
        assert!(err.contains("payment table"), "{err}");
        let mut two = slots.clone();
        two.extend_from_slice(&wire_slot([7, 7], 0));
        let err = from_parts([&seed, &two, &one, &[], &who, &one, &[]]).unwrap_err();
        assert!(err.contains("payment table"), "{err}");
        let err =
            from_parts([&seed, &[], &[], &[], &[3, b'b', b'-', b'1', 3, b'b', b'-', b'2'], &one, &[]]).unwrap_err();
        assert!(err.contains("beneficiary table"), "{err}");
        let err = from_parts([&seed, &[], &[], &[], &[18, b'1'], &[], &[]]).unwrap_err();
        assert!(err.contains("cut short"), "{err}");
    }
}
