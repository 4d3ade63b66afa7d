//! The rebuild's fast decoder: reads a `StoredRecord` payload straight from its bytes into the
//! domain's event, borrowing ids and texts from the payload instead of allocating a `String` for
//! each, and skipping the envelope fields views never read.
//!
//! It is an accelerator, not a second definition of the format. It answers only for the shapes a
//! writer of this contract produces (each message field at most once, no groups, the event kinds
//! that carry no lists) and only when the answer is a valid event; for anything else (damage, an
//! unusual but legal encoding such as a repeated message field that protobuf would merge, a rare
//! event kind) it declines and [`crate::decode_event_only`] asks the prost reference decoder
//! instead. So the two agree by construction on every input the fast path declines, and the
//! property tests check that they agree where it answers. Unknown fields are skipped as protobuf
//! skips them, so a newer writer's extra fields do not make it decline.
//!
//! The wire-level primitives are [`crate::scan`]'s.

use fundledger_domain::{Basis, Event, Money, Payment, PaymentId, Period, PlanId, RegionCode, TaxBatchRef};
use prost::encoding::WireType;

use crate::scan::{
    delimited, key, keyed_delimited, keyed_delimited_or_empty, keyed_varint, keyed_varint_or_zero, one_byte_key, skip,
    varint,
};

use crate::convert::{FromPbNumber, period_of as period};
use crate::{ForViews, RecordedEvent};

/// `StoredRecord` field numbers the fast path reads.
const RECORD_RECORDED_AT: u32 = 5;
const RECORD_EFFECTIVE_PERIOD: u32 = 8;
const RECORD_EVENT: u32 = 20;
const RECORD_REJECTED: u32 = 21;

/// What the fast path concluded: `None` means "not answered here, ask the reference decoder";
/// `Some(None)` is a refusal record; `Some(Some(e))` an event.
pub(crate) type Answer = Option<Option<RecordedEvent>>;

// The checks of the reference conversion (`crate::convert`), as `Option`s: a value they refuse
// makes this path decline, and the reference then reports the error.

#[inline(always)]
fn region(value: u32) -> Option<RegionCode> {
    RegionCode::new(value)
}

#[inline(always)]
fn money(fen: i64) -> Option<Money> {
    Money::within_ceiling(fen)
}

/// A count or grade the domain keeps in a `u8`.
#[inline(always)]
fn small(value: u32) -> Option<u8> {
    u8::try_from(value).ok()
}

/// A domain enum from its protobuf number (not 0, which is "unspecified").
#[inline(always)]
fn number<T: FromPbNumber>(value: i32) -> Option<T> {
    T::from_pb_number(value)
}

/// Decodes one payload if it has a shape this path answers for (see the module doc).
pub(crate) fn decode_event_only(bytes: &[u8]) -> Answer {
    let (recorded_at_micros, effective_period, body) = envelope(bytes)?;
    match body {
        Body::Rejected(_) => Some(None),
        Body::Event(content) => {
            let (tag, kind) = kind(content)?;
            Some(Some(RecordedEvent { recorded_at_micros, effective_period, event: event(tag, kind)? }))
        }
    }
}

/// [`crate::decode_for_views_into`]'s fast path: as [`decode_event_only`], but a payment comes
/// back as a [`Payment`] borrowing its ids from `bytes`, with no event built (its basis is
/// checked and dropped: no view reads it). The answer is written into `slot`, where its reader
/// will find it, and `true` returned; `false` leaves `slot` as it was. (Returned by value, the
/// answer was copied twice on its way to the rebuild's ring, each copy stalling on the stores
/// that had just written it.)
pub(crate) fn decode_for_views_into<'a>(bytes: &'a [u8], slot: &mut ForViews<'a>) -> bool {
    let Some((_, _, body)) = envelope(bytes) else { return false };
    let answer = match body {
        Body::Rejected(_) => ForViews::Rejected,
        Body::Event(content) => match kind(content) {
            Some((BENEFIT_PAID, kind)) => {
                let Some(fields) = PaidFields::read(kind) else { return false };
                let Some(payment) = payment(&fields) else { return false };
                // Checked as the event's would be, then dropped: no view reads it.
                if let Some(content) = fields.basis
                    && basis(content).is_none()
                {
                    return false;
                }
                ForViews::Payment(payment)
            }
            Some((tag, kind)) => match event(tag, kind) {
                Some(event) => ForViews::Event(Box::new(event)),
                None => return false,
            },
            None => return false,
        },
    };
    *slot = answer;
    true
}

/// The envelope of a `StoredRecord`: its recorded time, its effective period (checked) and its
/// body (a rejection's content already checked for structure).
#[inline]
fn envelope(bytes: &[u8]) -> Option<(i64, Period, Body<'_>)> {
    let (recorded_at_micros, effective_period, body) = match envelope_in_order(bytes) {
        Some(read) => read,
        None => envelope_by_fields(bytes)?,
    };
    let body = match body {
        Body::Rejected(content) => {
            // `CommandRejected` is read as a message of unknown fields: its structure must hold.
            skip_all(content)?;
            Body::Rejected(content)
        }
        event => event,
    };
    Some((recorded_at_micros, period(effective_period)?, body))
}

/// The two-byte keys of `StoredRecord`'s body fields (20 and 21, length-delimited).
const RECORD_EVENT_KEY: [u8; 2] = [0xa2, 0x01];
const RECORD_REJECTED_KEY: [u8; 2] = [0xaa, 0x01];

/// The envelope's fields as this contract's encoder lays them out: fields 1 to 10 in order,
/// each at most once with its declared wire type (proto3 leaves out a field at its default, so
/// any may be missing), then the body, and nothing else. Such an envelope reads the same as
/// through [`envelope_by_fields`]; any other layout is declined here, and read there. (A field
/// dispatch per field through a jump table was a seventh of the decoder's samples.)
#[inline(always)]
fn envelope_in_order(bytes: &[u8]) -> Option<(i64, u32, Body<'_>)> {
    let mut buf = bytes;
    // Event id, command id, command digest, actor: skipped.
    for tag in 1..=4 {
        keyed_delimited_or_empty(&mut buf, tag)?;
    }
    let recorded_at_micros = keyed_varint_or_zero(&mut buf, RECORD_RECORDED_AT as u8)? as i64;
    // Correlation and causation ids.
    for tag in 6..=7 {
        keyed_delimited_or_empty(&mut buf, tag)?;
    }
    let effective_period = keyed_varint_or_zero(&mut buf, RECORD_EFFECTIVE_PERIOD as u8)? as u32;
    // Index in the command, records in the command.
    for tag in 9..=10 {
        keyed_varint_or_zero(&mut buf, tag)?;
    }
    let (key, mut rest) = buf.split_first_chunk::<2>()?;
    let content = delimited(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    let body = match *key {
        RECORD_EVENT_KEY => Body::Event(content),
        RECORD_REJECTED_KEY => Body::Rejected(content),
        _ => return None,
    };
    Some((recorded_at_micros, effective_period, body))
}

/// The envelope's fields in any layout protobuf accepts (the reference decides on a body given
/// twice).
fn envelope_by_fields(bytes: &[u8]) -> Option<(i64, u32, Body<'_>)> {
    let mut buf = bytes;
    let mut recorded_at_micros = 0i64;
    let mut effective_period = 0u32;
    let mut body: Option<Body<'_>> = None;
    while !buf.is_empty() {
        let (tag, wire_type) = key(&mut buf)?;
        match (tag, wire_type) {
            (RECORD_RECORDED_AT, WireType::Varint) => recorded_at_micros = varint(&mut buf)? as i64,
            (RECORD_EFFECTIVE_PERIOD, WireType::Varint) => effective_period = varint(&mut buf)? as u32,
            // A second body would be merged or replace the first: the reference decides.
            (RECORD_EVENT, WireType::LengthDelimited) if body.is_none() => {
                body = Some(Body::Event(delimited(&mut buf)?));
            }
            (RECORD_REJECTED, WireType::LengthDelimited) if body.is_none() => {
                body = Some(Body::Rejected(delimited(&mut buf)?));
            }
            (RECORD_RECORDED_AT | RECORD_EFFECTIVE_PERIOD | RECORD_EVENT | RECORD_REJECTED, _) => return None,
            _ => skip(&mut buf, wire_type)?,
        }
    }
    Some((recorded_at_micros, effective_period, body?))
}

/// A record's body: an event's content, or a rejection (its content, until checked).
enum Body<'a> {
    Event(&'a [u8]),
    Rejected(&'a [u8]),
}

/// `Event.kind`'s field number for `BenefitPaid`.
const BENEFIT_PAID: u32 = 13;

/// `Event`: exactly one `kind`; its field number and content.
#[inline]
fn kind(mut buf: &[u8]) -> Option<(u32, &[u8])> {
    let mut kind: Option<(u32, &[u8])> = None;
    while !buf.is_empty() {
        let (tag, wire_type) = key(&mut buf)?;
        match (tag, wire_type) {
            (1..=17, WireType::LengthDelimited) if kind.is_none() => kind = Some((tag, delimited(&mut buf)?)),
            (1..=17, _) => return None,
            _ => skip(&mut buf, wire_type)?,
        }
    }
    kind
}

/// `BenefitPaid`'s fields, as read from its content.
struct PaidFields<'a> {
    payment_id: &'a [u8],
    region: u64,
    period: u64,
    benefit: u64,
    category: u64,
    beneficiary: &'a [u8],
    amount_fen: u64,
    basis: Option<&'a [u8]>,
}

impl<'a> PaidFields<'a> {
    /// Reads a payment's content: first as this contract's encoder lays it out (below), else
    /// field by field through [`Fields`].
    #[inline(always)]
    fn read(content: &'a [u8]) -> Option<PaidFields<'a>> {
        match PaidFields::in_order(content) {
            Some(fields) => Some(fields),
            None => PaidFields::of(&Fields::read(content)?),
        }
    }

    /// The layout the encoder writes: fields 1 to 7 once each and in order, each present (none
    /// of a valid payment's has its default value, which protobuf would leave out), then the
    /// basis or nothing. A payment so laid out reads the same as through [`Fields`] (each field
    /// once, so its one value is its last); any other layout is declined here. It saves the
    /// field table's bookkeeping on nearly every record of a ledger.
    #[inline(always)]
    fn in_order(mut buf: &'a [u8]) -> Option<PaidFields<'a>> {
        let fields = PaidFields {
            payment_id: keyed_delimited(&mut buf, 1)?,
            region: keyed_varint(&mut buf, 2)?,
            period: keyed_varint(&mut buf, 3)?,
            benefit: keyed_varint(&mut buf, 4)?,
            category: keyed_varint(&mut buf, 5)?,
            beneficiary: keyed_delimited(&mut buf, 6)?,
            amount_fen: keyed_varint(&mut buf, 7)?,
            basis: if buf.is_empty() { None } else { Some(keyed_delimited(&mut buf, 8)?) },
        };
        buf.is_empty().then_some(fields)
    }

    /// From a field table: declines as its accessors do.
    #[inline]
    fn of(f: &Fields<'a>) -> Option<PaidFields<'a>> {
        Some(PaidFields {
            payment_id: f.text(1)?,
            region: f.varint(2)?,
            period: f.varint(3)?,
            benefit: f.varint(4)?,
            category: f.varint(5)?,
            beneficiary: f.text(6)?,
            amount_fen: f.varint(7)?,
            basis: f.message(8)?,
        })
    }
}

/// `BenefitPaid` as views read it: every field but the basis, which callers read as they need
/// it ([`basis`]). Integer fields take a varint's low bits, as protobuf does (`uint32`, `int32`
/// enums, `int64`).
#[inline]
fn payment<'a>(f: &PaidFields<'a>) -> Option<Payment<'a>> {
    Payment::checked(
        f.payment_id,
        region(f.region as u32)?,
        period(f.period as u32)?,
        number(f.benefit as i32)?,
        number(f.category as i32)?,
        f.beneficiary,
        f.amount_fen as i64,
    )
}

/// An event of a kind this path reads, from its field number and content.
fn event(tag: u32, content: &[u8]) -> Option<Event> {
    let f = Fields::read(content)?;
    // Field numbers per message, as in events.proto; the field names given to the checks only
    // matter in errors, and errors are the reference decoder's to report.
    Some(match tag {
        1 => Event::CollectionRecorded {
            region: region(f.u32(1)?)?,
            period: period(f.u32(2)?)?,
            category: number(f.i32(3)?)?,
            amount: money(f.i64(4)?)?,
            tax_batch: TaxBatchRef::parse_bytes(f.text(5)?).ok()?,
        },
        2 => Event::CollectionRefunded {
            region: region(f.u32(1)?)?,
            period: period(f.u32(2)?)?,
            category: number(f.i32(3)?)?,
            tax_batch: TaxBatchRef::parse_bytes(f.text(4)?).ok()?,
            amount: money(f.i64(5)?)?,
        },
        3 => Event::TransferRecorded {
            region: region(f.u32(1)?)?,
            period: period(f.u32(2)?)?,
            amount: money(f.i64(3)?)?,
        },
        4 => Event::ProvincialIncomeRecorded {
            kind: number(f.i32(1)?)?,
            period: period(f.u32(2)?)?,
            amount: money(f.i64(3)?)?,
        },
        5 => Event::LegacyReserveConsolidated {
            region: region(f.u32(1)?)?,
            kind: number(f.i32(2)?)?,
            period: period(f.u32(3)?)?,
            amount: money(f.i64(4)?)?,
        },
        9 => Event::PlanApproved {
            plan_id: PlanId::parse_bytes(f.text(1)?).ok()?,
            region: region(f.u32(2)?)?,
            period: period(f.u32(3)?)?,
        },
        11 => Event::PlanReviewed {
            plan_id: PlanId::parse_bytes(f.text(1)?).ok()?,
            region: region(f.u32(2)?)?,
            period: period(f.u32(3)?)?,
        },
        12 => Event::FundsAllocated {
            plan_id: PlanId::parse_bytes(f.text(1)?).ok()?,
            region: region(f.u32(2)?)?,
            period: period(f.u32(3)?)?,
            tranche: f.u32(4)?,
            amount: money(f.i64(5)?)?,
        },
        BENEFIT_PAID => {
            let fields = PaidFields::of(&f)?;
            let p = payment(&fields)?;
            let basis = match fields.basis {
                None => None,
                Some(content) => Some(basis(content)?),
            };
            Event::BenefitPaid {
                payment_id: p.payment_id_owned(),
                region: p.region,
                period: p.period,
                benefit: p.benefit,
                category: p.category,
                beneficiary: p.beneficiary_owned(),
                amount: p.amount(),
                basis,
            }
        }
        14 => Event::PaymentReversed {
            payment_id: PaymentId::parse_bytes(f.text(1)?).ok()?,
            region: region(f.u32(2)?)?,
            period: period(f.u32(3)?)?,
            paid_period: period(f.u32(4)?)?,
            benefit: number(f.i32(5)?)?,
            category: number(f.i32(6)?)?,
            amount: money(f.i64(7)?)?,
            reason: number(f.i32(8)?)?,
        },
        15 => Event::PeriodClosed { region: region(f.u32(1)?)?, period: period(f.u32(2)?)? },
        // Budgets, plan submissions and rejections, rates and gap shares carry lists or free
        // text and are rare: the reference decodes them.
        _ => return None,
    })
}

/// `Basis`: exactly one `kind`. Read first as this contract's encoder lays it out (below), else
/// field by field.
#[inline]
fn basis(buf: &[u8]) -> Option<Basis> {
    let (tag, values) = match basis_in_order(buf) {
        Some(read) => read,
        None => basis_by_fields(buf)?,
    };
    basis_from(tag, values)
}

/// The basis kind's field number and its values: `[level, 0, ..]` for nursing, `[0, field 1,
/// field 2, ..]` for the varint fields of a disability or dependants' content, zeros for an
/// `Empty` one.
type BasisValues = (u32, [u64; 5]);

/// The layout the encoder writes: the kind's field alone, and in a content message its fields
/// in order, each at most once (proto3 leaves out a field at its default, so any may be
/// missing), and nothing else. Such a basis reads the same as through [`basis_by_fields`];
/// any other layout is declined here, and read there.
#[inline(always)]
fn basis_in_order(buf: &[u8]) -> Option<BasisValues> {
    let (&first, mut rest) = buf.split_first()?;
    let tag = u32::from(first >> 3);
    let mut values = [0u64; 5];
    if first == one_byte_key(3, 0) {
        values[0] = varint(&mut rest)?;
    } else {
        // Every other kind is a message (length-delimited): its number of varint fields.
        if first & 7 != 2 {
            return None;
        }
        let fields = match tag {
            1 | 2 => 2,
            6 => 4,
            4 | 5 => 0,
            _ => return None,
        };
        let mut content = delimited(&mut rest)?;
        for (number, value) in (1..=fields).zip(&mut values[1..]) {
            *value = keyed_varint_or_zero(&mut content, number)?;
        }
        if !content.is_empty() {
            return None;
        }
    }
    rest.is_empty().then_some((tag, values))
}

/// Any layout protobuf accepts (the reference decides on groups and repeated messages).
fn basis_by_fields(mut buf: &[u8]) -> Option<BasisValues> {
    let mut kind: Option<(u32, u64, &[u8])> = None;
    while !buf.is_empty() {
        let (tag, wire_type) = key(&mut buf)?;
        match (tag, wire_type) {
            (3, WireType::Varint) if kind.is_none() => kind = Some((3, varint(&mut buf)?, &[])),
            (1 | 2 | 4 | 5 | 6, WireType::LengthDelimited) if kind.is_none() => {
                kind = Some((tag, 0, delimited(&mut buf)?));
            }
            (1..=6, _) => return None,
            _ => skip(&mut buf, wire_type)?,
        }
    }
    let (tag, level, content) = kind?;
    let values = match tag {
        3 => [level, 0, 0, 0, 0],
        1 | 2 => {
            let d = Fields::read(content)?;
            [0, d.varint(1)?, d.varint(2)?, 0, 0]
        }
        4 | 5 => {
            // `Empty`: nothing but (skipped) unknown fields.
            skip_all(content)?;
            [0; 5]
        }
        _ => {
            let d = Fields::read(content)?;
            [0, d.varint(1)?, d.varint(2)?, d.varint(3)?, d.varint(4)?]
        }
    };
    Some((tag, values))
}

/// The basis from its kind and values, checked as the reference decoder checks it. Integer
/// fields take a varint's low bits, as protobuf does (`uint32`, `int32` enums, `int64`).
#[inline(always)]
fn basis_from(tag: u32, v: [u64; 5]) -> Option<Basis> {
    Some(match tag {
        3 => Basis::Nursing { level: number(v[0] as i32)? },
        1 | 2 => {
            let grade = small(v[1] as u32)?;
            let own_wage = money(v[2] as i64)?;
            if tag == 1 {
                Basis::DisabilitySubsidy { grade, own_wage }
            } else {
                Basis::DisabilityAllowance { grade, own_wage }
            }
        }
        4 => Basis::Funeral,
        5 => Basis::WorkDeath,
        _ => Basis::DependantsPension {
            deceased_wage: money(v[1] as i64)?,
            spouse: v[2] != 0,
            other_dependants: small(v[3] as u32)?,
            orphans_or_lone_elders: small(v[4] as u32)?,
        },
    })
}

/// Field numbers up to this are kept by [`Fields`]: every message the fast path reads numbers
/// its fields within it. Higher numbers are unknown fields and skipped.
const FIELDS_MAX: u32 = 8;

/// The fields of one flat message: for each number up to [`FIELDS_MAX`], its last value and the
/// wire types it came with. The accessor of a field's type declines when the reference decoder
/// would refuse or merge: a wire type other than the field's, or a length-delimited field (a
/// string or a message) written twice.
struct Fields<'a> {
    varints: [u64; FIELDS_MAX as usize + 1],
    bytes: [&'a [u8]; FIELDS_MAX as usize + 1],
    /// Bit `n`: field `n` came as a varint / length-delimited / length-delimited more than once /
    /// with another wire type.
    seen_varint: u16,
    seen_bytes: u16,
    seen_bytes_twice: u16,
    seen_other: u16,
}

impl<'a> Fields<'a> {
    /// Inlined into each caller, so the 200-byte table is filled in place rather than copied out.
    #[inline(always)]
    fn read(mut buf: &'a [u8]) -> Option<Fields<'a>> {
        let mut f = Fields {
            varints: [0; FIELDS_MAX as usize + 1],
            bytes: [&[]; FIELDS_MAX as usize + 1],
            seen_varint: 0,
            seen_bytes: 0,
            seen_bytes_twice: 0,
            seen_other: 0,
        };
        while !buf.is_empty() {
            let (tag, wire_type) = key(&mut buf)?;
            let known = tag <= FIELDS_MAX;
            let bit = if known { 1u16 << tag } else { 0 };
            match wire_type {
                WireType::Varint => {
                    let v = varint(&mut buf)?;
                    if known {
                        f.varints[tag as usize] = v;
                        f.seen_varint |= bit;
                    }
                }
                WireType::LengthDelimited => {
                    let v = delimited(&mut buf)?;
                    if known {
                        f.bytes[tag as usize] = v;
                        f.seen_bytes_twice |= f.seen_bytes & bit;
                        f.seen_bytes |= bit;
                    }
                }
                other => {
                    skip(&mut buf, other)?;
                    f.seen_other |= bit;
                }
            }
        }
        Some(f)
    }

    /// A varint field's last value (0 when absent, as in proto3).
    #[inline]
    fn varint(&self, tag: u32) -> Option<u64> {
        ((self.seen_bytes | self.seen_other) & (1 << tag) == 0).then_some(self.varints[tag as usize])
    }

    /// `uint32`, `int32` (enums) and `int64` take a varint's low bits, as protobuf does.
    #[inline]
    fn u32(&self, tag: u32) -> Option<u32> {
        self.varint(tag).map(|v| v as u32)
    }

    #[inline]
    fn i32(&self, tag: u32) -> Option<i32> {
        self.varint(tag).map(|v| v as i32)
    }

    #[inline]
    fn i64(&self, tag: u32) -> Option<i64> {
        self.varint(tag).map(|v| v as i64)
    }

    /// A string field written at most once, as its bytes (empty when absent). Every string the
    /// fast path reads is an id, whose parser admits ASCII only: bytes that are not UTF-8 fail
    /// it, and the reference decoder then reports them.
    #[inline]
    fn text(&self, tag: u32) -> Option<&'a [u8]> {
        let bit = 1 << tag;
        if (self.seen_varint | self.seen_other | self.seen_bytes_twice) & bit != 0 {
            return None;
        }
        Some(self.bytes[tag as usize])
    }

    /// A message field written at most once: its content, or `None` when absent.
    #[inline]
    fn message(&self, tag: u32) -> Option<Option<&'a [u8]>> {
        let bit = 1 << tag;
        if (self.seen_varint | self.seen_other | self.seen_bytes_twice) & bit != 0 {
            return None;
        }
        Some((self.seen_bytes & bit != 0).then_some(self.bytes[tag as usize]))
    }
}

/// Checks a message read only for its unknown fields (`Empty`, `CommandRejected` here).
fn skip_all(mut buf: &[u8]) -> Option<()> {
    while !buf.is_empty() {
        let (_, wire_type) = key(&mut buf)?;
        skip(&mut buf, wire_type)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::{Body, PaidFields, basis, basis_by_fields, basis_in_order, envelope_by_fields, envelope_in_order};
    use crate::pb;
    use pb::basis::Kind;

    /// Every kind of basis, with fields at their default (left out by the encoder) and not.
    fn bases() -> Vec<pb::Basis> {
        let disability = |grade, own_wage_fen| pb::DisabilityBasis { grade, own_wage_fen };
        let dependants = |deceased_wage_fen, spouse, other_dependants, orphans_or_lone_elders| pb::DependantsBasis {
            deceased_wage_fen,
            spouse,
            other_dependants,
            orphans_or_lone_elders,
        };
        [
            Kind::DisabilitySubsidy(disability(4, 812_345)),
            Kind::DisabilityAllowance(disability(7, 600_000)),
            Kind::DisabilityAllowance(disability(0, 600_000)),
            Kind::DisabilitySubsidy(disability(3, 0)),
            Kind::Nursing(1),
            Kind::Nursing(3),
            Kind::Funeral(pb::Empty {}),
            Kind::WorkDeath(pb::Empty {}),
            Kind::DependantsPension(dependants(950_000, true, 2, 1)),
            Kind::DependantsPension(dependants(950_000, false, 0, 3)),
            Kind::DependantsPension(dependants(0, false, 0, 0)),
            // Values the checks refuse: a grade past u8, an amount past the ceiling.
            Kind::DisabilitySubsidy(disability(300, 1)),
            Kind::DependantsPension(dependants(i64::MAX, true, 1, 1)),
            Kind::Nursing(99),
        ]
        .into_iter()
        .map(|kind| pb::Basis { kind: Some(kind) })
        .collect()
    }

    /// What the reference conversion makes of a basis.
    fn reference(message: &pb::Basis) -> Option<fundledger_domain::Basis> {
        crate::convert::basis_from_pb(*message).ok()
    }

    #[test]
    fn bases_as_the_encoder_writes_them_are_read_in_order_as_the_reference_reads_them() {
        for message in bases() {
            let bytes = message.encode_to_vec();
            let in_order = basis_in_order(&bytes).expect("the encoder's layout");
            assert_eq!(Some(in_order), basis_by_fields(&bytes), "{message:?}");
            assert_eq!(basis(&bytes), reference(&message), "{message:?}");
        }
    }

    #[test]
    fn other_basis_layouts_are_left_to_the_field_table() {
        for message in bases() {
            let bytes = message.encode_to_vec();
            // An unknown field after the kind, and one inside its content (a newer writer):
            // declined in order, read by the table as the same basis.
            let mut extended = bytes.clone();
            extended.extend_from_slice(&[0x78, 0x01]); // field 15, varint 1
            let mut inner = bytes.clone();
            if bytes[0] & 7 == 2 {
                inner[1] += 2;
                inner.extend_from_slice(&[0x78, 0x01]);
            }
            for layout in [&extended, &inner] {
                if *layout == bytes {
                    continue;
                }
                assert_eq!(basis_in_order(layout), None, "{layout:02x?}");
                assert_eq!(basis(layout), reference(&message), "{layout:02x?}");
            }
            // Two kinds: protobuf keeps the last; the fast path leaves that to the reference.
            let mut twice = bytes.clone();
            twice.extend_from_slice(&bytes);
            assert_eq!(basis_in_order(&twice), None);
            assert_eq!(basis(&twice), None);
        }
        // Content fields out of order: declined in order, the same values by the table.
        let swapped = [0x0a, 0x04, 0x10, 0x05, 0x08, 0x03]; // subsidy: own wage 5, then grade 3
        assert_eq!(basis_in_order(&swapped), None);
        assert_eq!(basis(&swapped), reference(&pb::Basis::decode(&swapped[..]).unwrap()));
        assert!(basis(&swapped).is_some());
    }

    fn paid(basis: Option<pb::Basis>) -> pb::BenefitPaid {
        pb::BenefitPaid {
            payment_id: "P-620100-000001".into(),
            region: 620100,
            period: 202403,
            benefit: 1,
            category: 1,
            beneficiary: "B-620100-0004200".into(),
            amount_fen: 123_456,
            basis,
        }
    }

    /// A record as the encoder fills it: every envelope field set (so none is left out), a
    /// payment or a refusal as its body.
    fn record(rejected: bool) -> pb::StoredRecord {
        pb::StoredRecord {
            event_id: vec![7; 16],
            command_id: "CMD-1".into(),
            command_digest: vec![9; 32],
            actor: Some(pb::Actor { principal: "agency-620100".into(), role: "region_agency".into(), region: 620100 }),
            recorded_at_micros: 1_711_000_000_000_000,
            correlation_id: "batch-7".into(),
            causation_id: "CMD-0".into(),
            effective_period: 202403,
            index_in_command: 2,
            records_in_command: 3,
            body: Some(if rejected {
                pb::stored_record::Body::Rejected(pb::CommandRejected {
                    command_name: "RecordPayment".into(),
                    reason: "unknown_region".into(),
                    message: "no such region".into(),
                })
            } else {
                pb::stored_record::Body::Event(pb::Event { kind: Some(pb::event::Kind::BenefitPaid(paid(None))) })
            }),
        }
    }

    /// The fields as `(recorded time, period, body kind and bytes)`, for comparing readings.
    fn fields(read: Option<(i64, u32, Body<'_>)>) -> Option<(i64, u32, bool, Vec<u8>)> {
        read.map(|(at, period, body)| match body {
            Body::Event(content) => (at, period, true, content.to_vec()),
            Body::Rejected(content) => (at, period, false, content.to_vec()),
        })
    }

    #[test]
    fn envelopes_as_the_encoder_writes_them_are_read_in_order() {
        for rejected in [false, true] {
            let mut message = record(rejected);
            let full = message.encode_to_vec();
            // Optional fields at their default, which the encoder leaves out.
            message.correlation_id.clear();
            message.causation_id.clear();
            message.index_in_command = 0;
            let sparse = message.encode_to_vec();
            for bytes in [full, sparse] {
                let in_order = fields(envelope_in_order(&bytes));
                assert!(in_order.is_some(), "the encoder's layout");
                assert_eq!(in_order, fields(envelope_by_fields(&bytes)));
                assert_eq!(
                    in_order.as_ref().map(|f| (f.0, f.1, f.2)),
                    Some((1_711_000_000_000_000, 202403, !rejected))
                );
            }
        }
    }

    #[test]
    fn other_envelope_layouts_are_left_to_the_field_table() {
        let bytes = record(false).encode_to_vec();
        let expected = fields(envelope_by_fields(&bytes));
        let body_at = bytes.windows(2).position(|w| w == super::RECORD_EVENT_KEY).expect("body key");
        // An unknown field at the end, and one among the envelope's (a newer writer); the body
        // before the envelope's fields; a known field with another wire type (field 9 as bytes,
        // skipped by protobuf as the lite reader does not declare it).
        let mut extended = bytes.clone();
        extended.extend_from_slice(&[0x78, 0x01]);
        let mut inner = bytes[..body_at].to_vec();
        inner.extend_from_slice(&[0x78, 0x01]);
        inner.extend_from_slice(&bytes[body_at..]);
        let mut reordered = bytes[body_at..].to_vec();
        reordered.extend_from_slice(&bytes[..body_at]);
        let mut wire_type = bytes[..body_at].to_vec();
        wire_type.extend_from_slice(&[0x4a, 0x01, 0x05]);
        wire_type.extend_from_slice(&bytes[body_at..]);
        for layout in [&extended, &inner, &reordered] {
            assert_eq!(fields(envelope_in_order(layout)), None, "{layout:02x?}");
            assert_eq!(fields(envelope_by_fields(layout)), expected, "{layout:02x?}");
        }
        assert_eq!(fields(envelope_in_order(&wire_type)), None);
        assert_eq!(fields(envelope_by_fields(&wire_type)), expected);
        // Two bodies: protobuf would merge them; both readers leave that to the reference.
        let mut twice = bytes.clone();
        twice.extend_from_slice(&bytes[body_at..]);
        assert_eq!(fields(envelope_in_order(&twice)), None);
        assert_eq!(fields(envelope_by_fields(&twice)), None);
    }

    #[test]
    fn payments_as_the_encoder_writes_them_are_read_in_order() {
        let nursing = pb::Basis { kind: Some(pb::basis::Kind::Nursing(1)) };
        for message in [paid(None), paid(Some(nursing))] {
            let bytes = message.encode_to_vec();
            let fields = PaidFields::in_order(&bytes).expect("the encoder's layout");
            assert_eq!(fields.payment_id, message.payment_id.as_bytes());
            assert_eq!((fields.region, fields.period, fields.amount_fen), (620100, 202403, 123_456));
            assert_eq!(fields.beneficiary, message.beneficiary.as_bytes());
            assert_eq!(fields.basis.is_some(), message.basis.is_some());
        }
    }

    #[test]
    fn other_layouts_are_left_to_the_field_table() {
        let bytes = paid(None).encode_to_vec();
        // An unknown field appended (a newer writer), a field left out (a default value), a
        // field repeated, fields in another order: declined in order, read by the table.
        let mut extended = bytes.clone();
        extended.extend_from_slice(&[0x78, 0x01]); // field 15, varint 1
        let mut no_region = paid(None);
        no_region.region = 0;
        let no_region = no_region.encode_to_vec();
        let mut repeated = bytes.clone();
        repeated.extend_from_slice(&[0x38, 0x05]); // amount again
        let region_at = bytes.iter().position(|&b| b == 0x10).expect("region key");
        let mut reordered = bytes[region_at..].to_vec();
        reordered.extend_from_slice(&bytes[..region_at]);
        for layout in [&extended, &no_region, &repeated, &reordered] {
            assert!(PaidFields::in_order(layout).is_none(), "{layout:02x?}");
        }
        // The table reads the extended and reordered ones as the same payment.
        for layout in [&extended, &reordered] {
            let fields = PaidFields::read(layout).expect("read through the table");
            assert_eq!(fields.amount_fen, 123_456);
        }
        assert_eq!(PaidFields::read(&repeated).expect("last value wins").amount_fen, 5);
    }
}
