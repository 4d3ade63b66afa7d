//! Conversions between the domain's types and the generated protobuf types, and the record codec
//! the engine and the projections use.
//!
//! Encoding is total: every domain value has exactly one protobuf form. Decoding is checked: a
//! payload is only as trustworthy as the disk or peer it came from, so every field is validated
//! against what its domain type promises and anything else becomes a [`DecodeError`] that names
//! the field (as `Message.field`, the names in the .proto file) and the bad value.
//!
//! Enums map with exhaustive `match`es in both directions (see `enum_map!`), so adding a variant
//! on either side fails to compile until the mapping says where it goes. The protobuf
//! `*_UNSPECIFIED = 0` values never map to a domain value: a zero there means the field was not
//! written, which is an error, not a default.

use fundledger_domain::money::MONEY_FEN_MAX;
use fundledger_domain::{
    Actor, Basis, BeneficiaryRef, BenefitType, BudgetLines, CommandId, Department, Event, ExpenditureCategory,
    GapShare, IdError, IncomeCategory, LegacyFundKind, Money, NursingLevel, Payment, PaymentId, Period, PlanId,
    ProvincialIncomeKind, Reason, RecordBody, RecordMeta, Recorded, RegionCode, ReversalReason, Role, TaxBatchRef,
};
use prost::Message;
use rust_decimal::Decimal;

use crate::pb;

/// Length of `StoredRecord.event_id`, in bytes.
pub const EVENT_ID_BYTES: usize = 16;
/// Length of `StoredRecord.command_digest` (a SHA-256), in bytes.
pub const COMMAND_DIGEST_BYTES: usize = 32;
/// Longest accepted decimal text (`RatesAdjusted` rates). A `Decimal` prints in at most 31 bytes
/// (sign, 29 digits, point), so this refuses nothing real and bounds what an error message copies.
pub const DECIMAL_TEXT_BYTES_MAX: usize = 40;
/// How much of an offending text value a `DecodeError` keeps: enough to recognise it, never a
/// whole damaged payload in a log line.
const ERROR_TEXT_CHARS_MAX: usize = 64;

/// Why a payload is not a valid record. Each variant names the field as `Message.field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not a valid protobuf StoredRecord: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field} is unspecified (0)")]
    Unspecified { field: &'static str },
    #[error("{field} is {value}, which is not a value of the enum")]
    UnknownEnum { field: &'static str, value: i32 },
    #[error("{field} is {value}, not a period YYYYMM with a month 01-12 and a year 1990-2199")]
    BadPeriod { field: &'static str, value: u32 },
    #[error("{field} is {value}, not a year 1990-2199")]
    BadYear { field: &'static str, value: u32 },
    #[error("{field} is {value}, not a six-digit region code")]
    BadRegion { field: &'static str, value: u32 },
    #[error("{field} is {fen} fen, beyond the ceiling of {MONEY_FEN_MAX} fen either side of zero")]
    BadAmount { field: &'static str, fen: i64 },
    #[error("{field}: {source}")]
    BadId { field: &'static str, source: IdError },
    #[error("{field} has {actual} bytes, expected {expected}")]
    BadLength { field: &'static str, expected: usize, actual: usize },
    #[error("{field} is {value}, above its maximum {max}")]
    OutOfRange { field: &'static str, value: u32, max: u32 },
    #[error("{field} is {value:?}, not a known role")]
    UnknownRole { field: &'static str, value: String },
    #[error("{field} is {value:?}, not a known reason code")]
    UnknownReason { field: &'static str, value: String },
    #[error("{field} is {value:?}, not an exact decimal such as \"0.2\"")]
    BadDecimal { field: &'static str, value: String },
}

/// The part of a record that views fold: what [`decode_event_only`] returns for an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// `StoredRecord.recorded_at_micros`: for as-of-time rebuilds.
    pub recorded_at_micros: i64,
    /// `StoredRecord.effective_period`.
    pub effective_period: Period,
    pub event: Event,
}

// ---------------------------------------------------------------------------------------------
// The record codec.

/// Encodes one record as a `StoredRecord` payload.
pub fn encode_record(rec: &Recorded) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_record_into(rec, &mut buf);
    buf
}

/// Appends one record's `StoredRecord` payload to `buf`, so the engine encodes a whole commit
/// batch into one buffer. Returns nothing: the caller frames the payload and knows its start.
pub fn encode_record_into(rec: &Recorded, buf: &mut Vec<u8>) {
    let msg = record_to_pb(rec);
    buf.reserve(msg.encoded_len());
    // Encoding fails only when the buffer cannot grow, which a Vec always can.
    msg.encode(buf).expect("a Vec grows to fit any message");
}

/// Encodes records as [`encode_record_into`] does, but into one reused `StoredRecord`: its
/// strings and byte vectors keep their capacity from record to record, so a benefit payment (the
/// bulk of a log) is encoded without the seven allocations a fresh message costs. prost encodes
/// the same message either way, so the bytes are the same (a property test checks it). The
/// writer keeps one and encodes every record of a commit through it.
#[derive(Debug, Default)]
pub struct RecordEncoder {
    scratch: pb::StoredRecord,
}

impl RecordEncoder {
    /// Appends one record's payload to `buf`.
    pub fn encode_into(&mut self, rec: &Recorded, buf: &mut Vec<u8>) {
        fill_record(&mut self.scratch, rec);
        buf.reserve(self.scratch.encoded_len());
        // Encoding fails only when the buffer cannot grow, which a Vec always can.
        self.scratch.encode(buf).expect("a Vec grows to fit any message");
    }
}

/// Writes `rec` into `msg`, overwriting every field and reusing the capacity of its strings, of
/// its byte vectors and of a benefit payment's body (a fresh message is the special case of an
/// empty one: [`record_to_pb`]).
fn fill_record(msg: &mut pb::StoredRecord, rec: &Recorded) {
    use pb::event::Kind;
    use pb::stored_record::Body;
    // Every field is named, with no `..`, so that a field added to the message cannot keep the
    // previous record's value here.
    let pb::StoredRecord {
        event_id,
        command_id,
        command_digest,
        actor,
        recorded_at_micros,
        correlation_id,
        causation_id,
        effective_period,
        index_in_command,
        records_in_command,
        body,
    } = msg;
    let m = &rec.meta;
    set_bytes(event_id, &m.event_id);
    set_text(command_id, m.command_id.as_str());
    set_bytes(command_digest, &m.command_digest);
    let pb::Actor { principal, role, region } = actor.get_or_insert_with(pb::Actor::default);
    set_text(principal, &m.actor.principal);
    set_text(role, m.actor.role.as_str());
    // 0 is the proto's "no region" (provincial roles); no region code is 0.
    *region = m.actor.region.map_or(0, RegionCode::get);
    *recorded_at_micros = m.recorded_at_micros;
    set_text(correlation_id, &m.correlation_id);
    set_text(causation_id, &m.causation_id);
    *effective_period = period_to_pb(m.effective_period);
    *index_in_command = m.index_in_command;
    *records_in_command = m.records_in_command;
    match &rec.body {
        RecordBody::Event(event @ Event::BenefitPaid { .. }) => {
            if !matches!(body, Some(Body::Event(pb::Event { kind: Some(Kind::BenefitPaid(_)) }))) {
                *body = Some(Body::Event(pb::Event { kind: Some(Kind::BenefitPaid(pb::BenefitPaid::default())) }));
            }
            let Some(Body::Event(pb::Event { kind: Some(Kind::BenefitPaid(paid)) })) = body else {
                unreachable!("set just above")
            };
            fill_benefit_paid(paid, event);
        }
        other => *body = record_body_to_pb(other),
    }
}

/// Writes a `BenefitPaid` event into `msg`, overwriting every field (see [`fill_record`]).
fn fill_benefit_paid(msg: &mut pb::BenefitPaid, event: &Event) {
    let Event::BenefitPaid { payment_id, region, period, benefit, category, beneficiary, amount, basis } = event else {
        unreachable!("called for benefit payments only")
    };
    let pb::BenefitPaid {
        payment_id: pb_payment_id,
        region: pb_region,
        period: pb_period,
        benefit: pb_benefit,
        category: pb_category,
        beneficiary: pb_beneficiary,
        amount_fen,
        basis: pb_basis,
    } = msg;
    set_text(pb_payment_id, payment_id.as_str());
    *pb_region = region.get();
    *pb_period = period_to_pb(*period);
    *pb_benefit = benefit_type_to_pb(*benefit);
    *pb_category = expenditure_category_to_pb(*category);
    set_text(pb_beneficiary, beneficiary.as_str());
    *amount_fen = amount.to_fen();
    *pb_basis = basis.as_ref().map(basis_to_pb);
}

/// Replaces a reused string's text, keeping its capacity.
fn set_text(field: &mut String, text: &str) {
    field.clear();
    field.push_str(text);
}

/// Replaces a reused byte vector's contents, keeping its capacity.
fn set_bytes(field: &mut Vec<u8>, bytes: &[u8]) {
    field.clear();
    field.extend_from_slice(bytes);
}

/// Decodes and validates one `StoredRecord` payload.
pub fn decode_record(bytes: &[u8]) -> Result<Recorded, DecodeError> {
    record_from_pb(pb::StoredRecord::decode(bytes)?)
}

/// The fast path of rebuilds: decodes only what a view folds (the recorded time, the effective
/// period and the event), skipping the envelope's ids, digest, actor and free text without
/// allocating them. `Ok(None)` for a rejected-command record, which views ignore.
///
/// The skipped fields are not validated, so use this only on a log whose records have been
/// checked already (CRC and hash chain on read); [`decode_record`] checks everything.
///
/// Same answer as [`decode_event_only_reference`] for every input: a hand-written decoder reads
/// the common records straight from the bytes (ids borrowed, not allocated) and hands anything
/// else, including every error, to the reference (see `fast.rs`).
pub fn decode_event_only(bytes: &[u8]) -> Result<Option<RecordedEvent>, DecodeError> {
    match crate::fast::decode_event_only(bytes) {
        Some(answer) => Ok(answer),
        None => decode_event_only_reference(bytes),
    }
}

/// What the views fold from one record, as [`decode_for_views`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForViews<'a> {
    /// A benefit payment (most of a ledger's records), its ids borrowed from the payload.
    Payment(Payment<'a>),
    /// Any other event, or a payment the fast path left to the reference decoder (boxed: the
    /// rare case should not make every payment as large as the largest event).
    Event(Box<Event>),
    /// A refused command's record: views ignore it.
    Rejected,
}

impl ForViews<'_> {
    /// The payment this record holds, from either form.
    pub fn payment(&self) -> Option<Payment<'_>> {
        match self {
            ForViews::Payment(payment) => Some(*payment),
            ForViews::Event(event) => Payment::of(event),
            ForViews::Rejected => None,
        }
    }
}

/// The rebuild's decoder: [`decode_event_only`] without the event for a payment, which comes
/// back as a [`Payment`] borrowing its ids from `bytes` (its basis checked, then dropped, as no
/// view reads it). Same acceptance and errors as [`decode_event_only`], which the tests check on
/// every input they make; the recorded time is the log frame's, so it is not returned.
pub fn decode_for_views(bytes: &[u8]) -> Result<ForViews<'_>, DecodeError> {
    let mut slot = ForViews::Rejected;
    decode_for_views_into(bytes, &mut slot)?;
    Ok(slot)
}

/// [`decode_for_views`] into `slot` (its old value dropped), for a reader that keeps records
/// in place, such as the rebuild's read-ahead ring. On an error `slot` is left as it was.
#[inline]
pub fn decode_for_views_into<'a>(bytes: &'a [u8], slot: &mut ForViews<'a>) -> Result<(), DecodeError> {
    if crate::fast::decode_for_views_into(bytes, slot) {
        return Ok(());
    }
    *slot = match decode_event_only_reference(bytes)? {
        Some(recorded) => ForViews::Event(Box::new(recorded.event)),
        None => ForViews::Rejected,
    };
    Ok(())
}

/// The fast path alone, for tests and benchmarks: `None` when it leaves the payload to the
/// reference decoder, otherwise what [`decode_event_only`] returns.
pub fn decode_event_only_fast(bytes: &[u8]) -> Option<Option<RecordedEvent>> {
    crate::fast::decode_event_only(bytes)
}

/// [`decode_event_only`] through prost's generated decoder: the reference the fast path is
/// tested against, and what it falls back to.
pub fn decode_event_only_reference(bytes: &[u8]) -> Result<Option<RecordedEvent>, DecodeError> {
    let lite = StoredRecordLite::decode(bytes)?;
    match lite.body {
        None => Err(DecodeError::Missing { field: "StoredRecord.body" }),
        Some(BodyLite::Rejected(Skipped {})) => Ok(None),
        Some(BodyLite::Event(event)) => Ok(Some(RecordedEvent {
            recorded_at_micros: lite.recorded_at_micros,
            effective_period: period("StoredRecord.effective_period", lite.effective_period)?,
            event: event_from_pb(event)?,
        })),
    }
}

/// `StoredRecord` with only the tags views need. prost skips the tags a struct does not declare
/// without allocating, so the envelope's strings and bytes cost a bounds check each.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredRecordLite {
    #[prost(int64, tag = "5")]
    recorded_at_micros: i64,
    #[prost(uint32, tag = "8")]
    effective_period: u32,
    #[prost(oneof = "BodyLite", tags = "20, 21")]
    body: Option<BodyLite>,
}

/// `StoredRecord.body`, declared as a oneof so that the same last-one-wins rule applies as in the
/// full decode.
#[derive(Clone, PartialEq, prost::Oneof)]
enum BodyLite {
    #[prost(message, tag = "20")]
    Event(pb::Event),
    #[prost(message, tag = "21")]
    Rejected(Skipped),
}

/// A message whose content is skipped (`CommandRejected`, when only events matter).
#[derive(Clone, PartialEq, prost::Message)]
struct Skipped {}

// ---------------------------------------------------------------------------------------------
// Records and their envelope.

/// A record's body as its protobuf message.
fn record_body_to_pb(body: &RecordBody) -> Option<pb::stored_record::Body> {
    Some(match body {
        RecordBody::Event(event) => pb::stored_record::Body::Event(event_to_pb(event)),
        RecordBody::Rejected { command_name, reason, message } => {
            pb::stored_record::Body::Rejected(pb::CommandRejected {
                command_name: command_name.clone(),
                reason: reason.code().to_string(),
                message: message.clone(),
            })
        }
    })
}

/// A domain record as its protobuf message.
pub fn record_to_pb(rec: &Recorded) -> pb::StoredRecord {
    let mut msg = pb::StoredRecord::default();
    fill_record(&mut msg, rec);
    msg
}

/// Validates a decoded protobuf record into the domain's record.
pub fn record_from_pb(msg: pb::StoredRecord) -> Result<Recorded, DecodeError> {
    let meta = RecordMeta {
        event_id: fixed_bytes("StoredRecord.event_id", &msg.event_id)?,
        command_id: id("StoredRecord.command_id", &msg.command_id, CommandId::parse)?,
        command_digest: fixed_bytes("StoredRecord.command_digest", &msg.command_digest)?,
        actor: actor_from_pb(msg.actor.ok_or(DecodeError::Missing { field: "StoredRecord.actor" })?)?,
        recorded_at_micros: msg.recorded_at_micros,
        correlation_id: msg.correlation_id,
        causation_id: msg.causation_id,
        effective_period: period("StoredRecord.effective_period", msg.effective_period)?,
        index_in_command: msg.index_in_command,
        records_in_command: msg.records_in_command,
    };
    let body = match msg.body.ok_or(DecodeError::Missing { field: "StoredRecord.body" })? {
        pb::stored_record::Body::Event(event) => RecordBody::Event(event_from_pb(event)?),
        pb::stored_record::Body::Rejected(r) => RecordBody::Rejected {
            reason: Reason::parse(&r.reason).ok_or_else(|| DecodeError::UnknownReason {
                field: "CommandRejected.reason",
                value: excerpt(&r.reason),
            })?,
            command_name: r.command_name,
            message: r.message,
        },
    };
    Ok(Recorded { meta, body })
}

fn actor_from_pb(msg: pb::Actor) -> Result<Actor, DecodeError> {
    let role = Role::parse(&msg.role)
        .ok_or_else(|| DecodeError::UnknownRole { field: "Actor.role", value: excerpt(&msg.role) })?;
    let region = match msg.region {
        0 => None,
        code => Some(region("Actor.region", code)?),
    };
    Ok(Actor { principal: msg.principal.into(), role, region })
}

// ---------------------------------------------------------------------------------------------
// Events.

/// A domain event as its protobuf message.
pub fn event_to_pb(event: &Event) -> pb::Event {
    use pb::event::Kind;
    let kind = match event {
        Event::CollectionRecorded { region, period, category, amount, tax_batch } => {
            Kind::CollectionRecorded(pb::CollectionRecorded {
                region: region.get(),
                period: period_to_pb(*period),
                category: income_category_to_pb(*category),
                amount_fen: amount.to_fen(),
                tax_batch: tax_batch.as_str().to_string(),
            })
        }
        Event::CollectionRefunded { region, period, category, tax_batch, amount } => {
            Kind::CollectionRefunded(pb::CollectionRefunded {
                region: region.get(),
                period: period_to_pb(*period),
                category: income_category_to_pb(*category),
                tax_batch: tax_batch.as_str().to_string(),
                amount_fen: amount.to_fen(),
            })
        }
        Event::TransferRecorded { region, period, amount } => Kind::TransferRecorded(pb::TransferRecorded {
            region: region.get(),
            period: period_to_pb(*period),
            amount_fen: amount.to_fen(),
        }),
        Event::ProvincialIncomeRecorded { kind, period, amount } => {
            Kind::ProvincialIncomeRecorded(pb::ProvincialIncomeRecorded {
                kind: provincial_income_kind_to_pb(*kind),
                period: period_to_pb(*period),
                amount_fen: amount.to_fen(),
            })
        }
        Event::LegacyReserveConsolidated { region, kind, period, amount } => {
            Kind::LegacyReserveConsolidated(pb::LegacyReserveConsolidated {
                region: region.get(),
                kind: legacy_fund_kind_to_pb(*kind),
                period: period_to_pb(*period),
                amount_fen: amount.to_fen(),
            })
        }
        Event::BudgetAdopted { region, year, lines } => Kind::BudgetAdopted(pb::BudgetAdopted {
            region: region.get(),
            year: u32::from(*year),
            lines: Some(budget_lines_to_pb(lines)),
        }),
        Event::BudgetAdjusted { region, year, lines } => Kind::BudgetAdjusted(pb::BudgetAdjusted {
            region: region.get(),
            year: u32::from(*year),
            lines: Some(budget_lines_to_pb(lines)),
        }),
        Event::PlanSubmitted { plan_id, region, period, lines } => Kind::PlanSubmitted(pb::PlanSubmitted {
            plan_id: plan_id.as_str().to_string(),
            region: region.get(),
            period: period_to_pb(*period),
            lines: expenditure_lines_to_pb(lines),
        }),
        Event::PlanApproved { plan_id, region, period } => Kind::PlanApproved(pb::PlanApproved {
            plan_id: plan_id.as_str().to_string(),
            region: region.get(),
            period: period_to_pb(*period),
        }),
        Event::PlanRejected { plan_id, region, period, by, reason } => Kind::PlanRejected(pb::PlanRejected {
            plan_id: plan_id.as_str().to_string(),
            region: region.get(),
            period: period_to_pb(*period),
            by: department_to_pb(*by),
            reason: reason.clone(),
        }),
        Event::PlanReviewed { plan_id, region, period } => Kind::PlanReviewed(pb::PlanReviewed {
            plan_id: plan_id.as_str().to_string(),
            region: region.get(),
            period: period_to_pb(*period),
        }),
        Event::FundsAllocated { plan_id, region, period, tranche, amount } => {
            Kind::FundsAllocated(pb::FundsAllocated {
                plan_id: plan_id.as_str().to_string(),
                region: region.get(),
                period: period_to_pb(*period),
                tranche: *tranche,
                amount_fen: amount.to_fen(),
            })
        }
        Event::BenefitPaid { .. } => {
            let mut paid = pb::BenefitPaid::default();
            fill_benefit_paid(&mut paid, event);
            Kind::BenefitPaid(paid)
        }
        Event::PaymentReversed { payment_id, region, period, paid_period, benefit, category, amount, reason } => {
            Kind::PaymentReversed(pb::PaymentReversed {
                payment_id: payment_id.as_str().to_string(),
                region: region.get(),
                period: period_to_pb(*period),
                paid_period: period_to_pb(*paid_period),
                benefit: benefit_type_to_pb(*benefit),
                category: expenditure_category_to_pb(*category),
                amount_fen: amount.to_fen(),
                reason: reversal_reason_to_pb(*reason),
            })
        }
        Event::PeriodClosed { region, period } => {
            Kind::PeriodClosed(pb::PeriodClosed { region: region.get(), period: period_to_pb(*period) })
        }
        Event::RatesAdjusted { effective, class, benchmark_rate_pct, allowed_floats_pct } => {
            Kind::RatesAdjusted(pb::RatesAdjusted {
                effective_period: period_to_pb(*effective),
                class: u32::from(*class),
                benchmark_rate_pct: benchmark_rate_pct.to_string(),
                allowed_floats_pct: allowed_floats_pct.iter().map(Decimal::to_string).collect(),
            })
        }
        Event::GapSharesAssessed { year, gap, shares, province_share } => {
            Kind::GapSharesAssessed(pb::GapSharesAssessed {
                year: u32::from(*year),
                gap_fen: gap.to_fen(),
                shares: shares
                    .iter()
                    .map(|s| pb::GapShare {
                        region: s.region.get(),
                        shortfall_fen: s.shortfall.to_fen(),
                        share_fen: s.share.to_fen(),
                    })
                    .collect(),
                province_share_fen: province_share.to_fen(),
            })
        }
    };
    pb::Event { kind: Some(kind) }
}

/// Validates a protobuf event into the domain's event.
pub fn event_from_pb(msg: pb::Event) -> Result<Event, DecodeError> {
    use pb::event::Kind;
    Ok(match msg.kind.ok_or(DecodeError::Missing { field: "Event.kind" })? {
        Kind::CollectionRecorded(m) => Event::CollectionRecorded {
            region: region("CollectionRecorded.region", m.region)?,
            period: period("CollectionRecorded.period", m.period)?,
            category: income_category_from_pb("CollectionRecorded.category", m.category)?,
            amount: money("CollectionRecorded.amount_fen", m.amount_fen)?,
            tax_batch: id("CollectionRecorded.tax_batch", &m.tax_batch, TaxBatchRef::parse)?,
        },
        Kind::CollectionRefunded(m) => Event::CollectionRefunded {
            region: region("CollectionRefunded.region", m.region)?,
            period: period("CollectionRefunded.period", m.period)?,
            category: income_category_from_pb("CollectionRefunded.category", m.category)?,
            tax_batch: id("CollectionRefunded.tax_batch", &m.tax_batch, TaxBatchRef::parse)?,
            amount: money("CollectionRefunded.amount_fen", m.amount_fen)?,
        },
        Kind::TransferRecorded(m) => Event::TransferRecorded {
            region: region("TransferRecorded.region", m.region)?,
            period: period("TransferRecorded.period", m.period)?,
            amount: money("TransferRecorded.amount_fen", m.amount_fen)?,
        },
        Kind::ProvincialIncomeRecorded(m) => Event::ProvincialIncomeRecorded {
            kind: provincial_income_kind_from_pb("ProvincialIncomeRecorded.kind", m.kind)?,
            period: period("ProvincialIncomeRecorded.period", m.period)?,
            amount: money("ProvincialIncomeRecorded.amount_fen", m.amount_fen)?,
        },
        Kind::LegacyReserveConsolidated(m) => Event::LegacyReserveConsolidated {
            region: region("LegacyReserveConsolidated.region", m.region)?,
            kind: legacy_fund_kind_from_pb("LegacyReserveConsolidated.kind", m.kind)?,
            period: period("LegacyReserveConsolidated.period", m.period)?,
            amount: money("LegacyReserveConsolidated.amount_fen", m.amount_fen)?,
        },
        Kind::BudgetAdopted(m) => Event::BudgetAdopted {
            region: region("BudgetAdopted.region", m.region)?,
            year: year("BudgetAdopted.year", m.year)?,
            lines: budget_lines_from_pb(m.lines.ok_or(DecodeError::Missing { field: "BudgetAdopted.lines" })?)?,
        },
        Kind::BudgetAdjusted(m) => Event::BudgetAdjusted {
            region: region("BudgetAdjusted.region", m.region)?,
            year: year("BudgetAdjusted.year", m.year)?,
            lines: budget_lines_from_pb(m.lines.ok_or(DecodeError::Missing { field: "BudgetAdjusted.lines" })?)?,
        },
        Kind::PlanSubmitted(m) => Event::PlanSubmitted {
            plan_id: id("PlanSubmitted.plan_id", &m.plan_id, PlanId::parse)?,
            region: region("PlanSubmitted.region", m.region)?,
            period: period("PlanSubmitted.period", m.period)?,
            lines: expenditure_lines_from_pb(m.lines)?,
        },
        Kind::PlanApproved(m) => Event::PlanApproved {
            plan_id: id("PlanApproved.plan_id", &m.plan_id, PlanId::parse)?,
            region: region("PlanApproved.region", m.region)?,
            period: period("PlanApproved.period", m.period)?,
        },
        Kind::PlanRejected(m) => Event::PlanRejected {
            plan_id: id("PlanRejected.plan_id", &m.plan_id, PlanId::parse)?,
            region: region("PlanRejected.region", m.region)?,
            period: period("PlanRejected.period", m.period)?,
            by: department_from_pb("PlanRejected.by", m.by)?,
            reason: m.reason,
        },
        Kind::PlanReviewed(m) => Event::PlanReviewed {
            plan_id: id("PlanReviewed.plan_id", &m.plan_id, PlanId::parse)?,
            region: region("PlanReviewed.region", m.region)?,
            period: period("PlanReviewed.period", m.period)?,
        },
        Kind::FundsAllocated(m) => Event::FundsAllocated {
            plan_id: id("FundsAllocated.plan_id", &m.plan_id, PlanId::parse)?,
            region: region("FundsAllocated.region", m.region)?,
            period: period("FundsAllocated.period", m.period)?,
            tranche: m.tranche,
            amount: money("FundsAllocated.amount_fen", m.amount_fen)?,
        },
        Kind::BenefitPaid(m) => Event::BenefitPaid {
            payment_id: id("BenefitPaid.payment_id", &m.payment_id, PaymentId::parse)?,
            region: region("BenefitPaid.region", m.region)?,
            period: period("BenefitPaid.period", m.period)?,
            benefit: benefit_type_from_pb("BenefitPaid.benefit", m.benefit)?,
            category: expenditure_category_from_pb("BenefitPaid.category", m.category)?,
            beneficiary: id("BenefitPaid.beneficiary", &m.beneficiary, BeneficiaryRef::parse)?,
            amount: money("BenefitPaid.amount_fen", m.amount_fen)?,
            basis: m.basis.map(basis_from_pb).transpose()?,
        },
        Kind::PaymentReversed(m) => Event::PaymentReversed {
            payment_id: id("PaymentReversed.payment_id", &m.payment_id, PaymentId::parse)?,
            region: region("PaymentReversed.region", m.region)?,
            period: period("PaymentReversed.period", m.period)?,
            paid_period: period("PaymentReversed.paid_period", m.paid_period)?,
            benefit: benefit_type_from_pb("PaymentReversed.benefit", m.benefit)?,
            category: expenditure_category_from_pb("PaymentReversed.category", m.category)?,
            amount: money("PaymentReversed.amount_fen", m.amount_fen)?,
            reason: reversal_reason_from_pb("PaymentReversed.reason", m.reason)?,
        },
        Kind::PeriodClosed(m) => Event::PeriodClosed {
            region: region("PeriodClosed.region", m.region)?,
            period: period("PeriodClosed.period", m.period)?,
        },
        Kind::RatesAdjusted(m) => Event::RatesAdjusted {
            effective: period("RatesAdjusted.effective_period", m.effective_period)?,
            class: small("RatesAdjusted.class", m.class)?,
            benchmark_rate_pct: decimal("RatesAdjusted.benchmark_rate_pct", &m.benchmark_rate_pct)?,
            allowed_floats_pct: m
                .allowed_floats_pct
                .iter()
                .map(|text| decimal("RatesAdjusted.allowed_floats_pct", text))
                .collect::<Result<_, _>>()?,
        },
        Kind::GapSharesAssessed(m) => Event::GapSharesAssessed {
            year: year("GapSharesAssessed.year", m.year)?,
            gap: money("GapSharesAssessed.gap_fen", m.gap_fen)?,
            shares: m
                .shares
                .into_iter()
                .map(|s| {
                    Ok(GapShare {
                        region: region("GapShare.region", s.region)?,
                        shortfall: money("GapShare.shortfall_fen", s.shortfall_fen)?,
                        share: money("GapShare.share_fen", s.share_fen)?,
                    })
                })
                .collect::<Result<_, DecodeError>>()?,
            province_share: money("GapSharesAssessed.province_share_fen", m.province_share_fen)?,
        },
    })
}

fn budget_lines_to_pb(lines: &BudgetLines) -> pb::BudgetLines {
    pb::BudgetLines {
        income: lines
            .income
            .iter()
            .map(|(category, amount)| pb::IncomeLine {
                category: income_category_to_pb(*category),
                amount_fen: amount.to_fen(),
            })
            .collect(),
        expenditure: expenditure_lines_to_pb(&lines.expenditure),
    }
}

fn budget_lines_from_pb(msg: pb::BudgetLines) -> Result<BudgetLines, DecodeError> {
    Ok(BudgetLines {
        income: msg
            .income
            .into_iter()
            .map(|line| {
                Ok((
                    income_category_from_pb("IncomeLine.category", line.category)?,
                    money("IncomeLine.amount_fen", line.amount_fen)?,
                ))
            })
            .collect::<Result<_, DecodeError>>()?,
        expenditure: expenditure_lines_from_pb(msg.expenditure)?,
    })
}

fn expenditure_lines_to_pb(lines: &[(ExpenditureCategory, Money)]) -> Vec<pb::ExpenditureLine> {
    lines
        .iter()
        .map(|(category, amount)| pb::ExpenditureLine {
            category: expenditure_category_to_pb(*category),
            amount_fen: amount.to_fen(),
        })
        .collect()
}

fn expenditure_lines_from_pb(
    lines: Vec<pb::ExpenditureLine>,
) -> Result<Vec<(ExpenditureCategory, Money)>, DecodeError> {
    lines
        .into_iter()
        .map(|line| {
            Ok((
                expenditure_category_from_pb("ExpenditureLine.category", line.category)?,
                money("ExpenditureLine.amount_fen", line.amount_fen)?,
            ))
        })
        .collect()
}

fn basis_to_pb(basis: &Basis) -> pb::Basis {
    use pb::basis::Kind;
    let kind = match *basis {
        Basis::DisabilitySubsidy { grade, own_wage } => {
            Kind::DisabilitySubsidy(pb::DisabilityBasis { grade: u32::from(grade), own_wage_fen: own_wage.to_fen() })
        }
        Basis::DisabilityAllowance { grade, own_wage } => {
            Kind::DisabilityAllowance(pb::DisabilityBasis { grade: u32::from(grade), own_wage_fen: own_wage.to_fen() })
        }
        Basis::Nursing { level } => Kind::Nursing(nursing_level_to_pb(level)),
        Basis::Funeral => Kind::Funeral(pb::Empty {}),
        Basis::WorkDeath => Kind::WorkDeath(pb::Empty {}),
        Basis::DependantsPension { deceased_wage, spouse, other_dependants, orphans_or_lone_elders } => {
            Kind::DependantsPension(pb::DependantsBasis {
                deceased_wage_fen: deceased_wage.to_fen(),
                spouse,
                other_dependants: u32::from(other_dependants),
                orphans_or_lone_elders: u32::from(orphans_or_lone_elders),
            })
        }
    };
    pb::Basis { kind: Some(kind) }
}

pub(crate) fn basis_from_pb(msg: pb::Basis) -> Result<Basis, DecodeError> {
    use pb::basis::Kind;
    Ok(match msg.kind.ok_or(DecodeError::Missing { field: "Basis.kind" })? {
        Kind::DisabilitySubsidy(d) => Basis::DisabilitySubsidy {
            grade: small("DisabilityBasis.grade", d.grade)?,
            own_wage: money("DisabilityBasis.own_wage_fen", d.own_wage_fen)?,
        },
        Kind::DisabilityAllowance(d) => Basis::DisabilityAllowance {
            grade: small("DisabilityBasis.grade", d.grade)?,
            own_wage: money("DisabilityBasis.own_wage_fen", d.own_wage_fen)?,
        },
        Kind::Nursing(level) => Basis::Nursing { level: nursing_level_from_pb("Basis.nursing", level)? },
        Kind::Funeral(pb::Empty {}) => Basis::Funeral,
        Kind::WorkDeath(pb::Empty {}) => Basis::WorkDeath,
        Kind::DependantsPension(d) => Basis::DependantsPension {
            deceased_wage: money("DependantsBasis.deceased_wage_fen", d.deceased_wage_fen)?,
            spouse: d.spouse,
            other_dependants: small("DependantsBasis.other_dependants", d.other_dependants)?,
            orphans_or_lone_elders: small("DependantsBasis.orphans_or_lone_elders", d.orphans_or_lone_elders)?,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Enums.

/// Defines `$to` (domain -> proto number) and `$from` (proto number -> domain) for one enum pair,
/// each an exhaustive `match`, so neither side can gain a variant the other silently drops.
macro_rules! enum_map {
    ($to:ident, $from:ident, $domain:ident, $pb:ident { $($d:ident <=> $p:ident),+ $(,)? }) => {
        fn $to(value: $domain) -> i32 {
            i32::from(match value {
                $($domain::$d => pb::$pb::$p),+
            })
        }

        pub(crate) fn $from(field: &'static str, value: i32) -> Result<$domain, DecodeError> {
            match pb::$pb::try_from(value) {
                Ok(pb::$pb::Unspecified) => Err(DecodeError::Unspecified { field }),
                Err(_) => Err(DecodeError::UnknownEnum { field, value }),
                Ok(_) => Ok($domain::from_pb_number(value).expect("a known number other than 0")),
            }
        }

        impl FromPbNumber for $domain {
            #[inline]
            fn from_pb_number(value: i32) -> Option<$domain> {
                match pb::$pb::try_from(value) {
                    $(Ok(pb::$pb::$p) => Some($domain::$d),)+
                    Ok(pb::$pb::Unspecified) | Err(_) => None,
                }
            }
        }
    };
}

/// A domain enum from its protobuf number, without an error to build and drop: `None` for 0
/// ("unspecified") and for numbers the enum does not have. The fast decoder's check; `*_from_pb`
/// report which of the two it was.
pub(crate) trait FromPbNumber: Sized {
    fn from_pb_number(value: i32) -> Option<Self>;
}

enum_map!(income_category_to_pb, income_category_from_pb, IncomeCategory, IncomeCategory {
    Premium <=> Premium,
    Interest <=> Interest,
    Other <=> Other,
});

enum_map!(provincial_income_kind_to_pb, provincial_income_kind_from_pb, ProvincialIncomeKind, ProvincialIncomeKind {
    Interest <=> Interest,
    FiscalSubsidy <=> FiscalSubsidy,
    FiscalAdvance <=> FiscalAdvance,
    UpperGrant <=> UpperGrant,
});

enum_map!(expenditure_category_to_pb, expenditure_category_from_pb, ExpenditureCategory, ExpenditureCategory {
    Medical <=> Medical,
    Disability <=> Disability,
    Death <=> Death,
    Appraisal <=> Appraisal,
    Prevention <=> Prevention,
    Other <=> Other,
});

enum_map!(benefit_type_to_pb, benefit_type_from_pb, BenefitType, BenefitType {
    MedicalTreatment <=> MedicalTreatment,
    Rehabilitation <=> Rehabilitation,
    AssistiveDevice <=> AssistiveDevice,
    HospitalMealAllowance <=> HospitalMealAllowance,
    OutOfRegionTravel <=> OutOfRegionTravel,
    NursingAllowance <=> NursingAllowance,
    OneTimeDisabilitySubsidy <=> OneTimeDisabilitySubsidy,
    MonthlyDisabilityAllowance <=> MonthlyDisabilityAllowance,
    OneTimeMedicalSubsidy <=> OneTimeMedicalSubsidy,
    FuneralSubsidy <=> FuneralSubsidy,
    DependantsPension <=> DependantsPension,
    OneTimeWorkDeathSubsidy <=> OneTimeWorkDeathSubsidy,
    AppraisalFee <=> AppraisalFee,
    PreventionProject <=> PreventionProject,
    OtherExpenditure <=> OtherExpenditure,
    Grade5To6Allowance <=> Grade56Allowance,
    RecoveryPeriodWages <=> RecoveryPeriodWages,
    OneTimeEmploymentSubsidy <=> OneTimeEmploymentSubsidy,
});

enum_map!(legacy_fund_kind_to_pb, legacy_fund_kind_from_pb, LegacyFundKind, LegacyFundKind {
    Reserve <=> Reserve,
    AdjustmentFund <=> AdjustmentFund,
});

enum_map!(department_to_pb, department_from_pb, Department, Department {
    Hrss <=> Hrss,
    Finance <=> Finance,
});

enum_map!(reversal_reason_to_pb, reversal_reason_from_pb, ReversalReason, ReversalReason {
    Returned <=> Returned,
    Recovered <=> Recovered,
});

enum_map!(nursing_level_to_pb, nursing_level_from_pb, NursingLevel, NursingLevel {
    Full <=> Full,
    Major <=> Major,
    Partial <=> Partial,
});

// ---------------------------------------------------------------------------------------------
// Scalars.

fn period_to_pb(period: Period) -> u32 {
    u32::from(period.year()) * 100 + u32::from(period.month())
}

pub(crate) fn period(field: &'static str, value: u32) -> Result<Period, DecodeError> {
    period_of(value).ok_or(DecodeError::BadPeriod { field, value })
}

/// A `YYYYMM` number as a period, if it is one.
#[inline]
pub(crate) fn period_of(value: u32) -> Option<Period> {
    Period::new(u16::try_from(value / 100).ok()?, u8::try_from(value % 100).ok()?)
}

/// A year field (budgets, gap shares): checked against the period range, because the domain
/// derives the event's effective period from it and relies on that being valid.
pub(crate) fn year(field: &'static str, value: u32) -> Result<u16, DecodeError> {
    u16::try_from(value).ok().filter(|y| Period::new(*y, 1).is_some()).ok_or(DecodeError::BadYear { field, value })
}

pub(crate) fn region(field: &'static str, value: u32) -> Result<RegionCode, DecodeError> {
    RegionCode::new(value).ok_or(DecodeError::BadRegion { field, value })
}

pub(crate) fn money(field: &'static str, fen: i64) -> Result<Money, DecodeError> {
    Money::from_fen(fen).map_err(|_| DecodeError::BadAmount { field, fen })
}

/// A count or grade the domain keeps in a `u8`.
pub(crate) fn small(field: &'static str, value: u32) -> Result<u8, DecodeError> {
    u8::try_from(value).map_err(|_| DecodeError::OutOfRange { field, value, max: u32::from(u8::MAX) })
}

fn id<T>(field: &'static str, text: &str, parse: fn(&str) -> Result<T, IdError>) -> Result<T, DecodeError> {
    parse(text).map_err(|source| DecodeError::BadId { field, source: shorten_id_error(source) })
}

fn fixed_bytes<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::BadLength { field, expected: N, actual: bytes.len() })
}

/// Exact decimal text: an optional '-', digits, optionally '.' and digits. Stricter than
/// `Decimal::from_str` (which also takes '_' separators and a leading '+'), so one value has few
/// spellings on disk, and exact: text with more precision than a `Decimal` holds is refused, not
/// rounded.
fn decimal(field: &'static str, text: &str) -> Result<Decimal, DecodeError> {
    let bad = || DecodeError::BadDecimal { field, value: excerpt(text) };
    if text.len() > DECIMAL_TEXT_BYTES_MAX {
        return Err(bad());
    }
    if !fundledger_domain::money::is_plain_decimal(text) {
        return Err(bad());
    }
    Decimal::from_str_exact(text).map_err(|_| bad())
}

/// The first characters of a text, for error messages about possibly huge damaged fields.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(ERROR_TEXT_CHARS_MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// `IdError`s that quote the text quote at most an excerpt of it.
fn shorten_id_error(error: IdError) -> IdError {
    match error {
        IdError::BadCharacter { kind, text } => IdError::BadCharacter { kind, text: excerpt(&text) },
        IdError::LooksLikeIdNumber(text) => IdError::LooksLikeIdNumber(excerpt(&text)),
        IdError::BadRegionCode(text) => IdError::BadRegionCode(excerpt(&text)),
        other @ (IdError::Empty { .. } | IdError::TooLong { .. }) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_yyyymm() {
        assert_eq!(period("f", 202403), Ok(Period::new(2024, 3).unwrap()));
        assert_eq!(period_to_pb(Period::new(2024, 12).unwrap()), 202412);
        for bad in [202413, 202400, 0, 198912, 220001, u32::MAX] {
            assert_eq!(period("f", bad), Err(DecodeError::BadPeriod { field: "f", value: bad }));
        }
    }

    #[test]
    fn decimals_are_plain_and_exact() {
        assert_eq!(decimal("f", "0.2"), Ok(Decimal::new(2, 1)));
        assert_eq!(decimal("f", "-150"), Ok(Decimal::from(-150)));
        for bad in ["", "+1", "1_000", "1e3", ".5", "5.", "0.2 ", "NaN", "0.00000000000000000000000000001"] {
            assert!(decimal("f", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_texts_are_bounded() {
        let long = "x".repeat(10_000);
        assert_eq!(excerpt(&long).len(), ERROR_TEXT_CHARS_MAX + 3);
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"冬".repeat(100)).chars().count(), ERROR_TEXT_CHARS_MAX + 3);
    }
}
