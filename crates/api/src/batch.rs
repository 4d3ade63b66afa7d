//! `ExecuteBatch`'s request read without a `String` per field.
//!
//! Decoded by prost, a batch of 1,000 payments is 7,000 strings allocated, copied and freed
//! again, and the vector of entries with them: about a quarter of the API's CPU per command.
//! This reader borrows the text fields of payment entries straight from the request's bytes
//! (which tonic hands over without a copy, see [`crate::server`]), and the conversion reads them
//! from there.
//!
//! It is an accelerator, not a second definition of the protocol, in the manner of the rebuild's
//! fast decoder (`fundledger_wire`'s `fast` module):
//! - a payment entry is read here only in the shape clients write (one `record_payment` field,
//!   its nested `basis` and `trace` at most once each; those two are decoded by prost);
//! - every other entry, and a payment entry of any other shape (a merged repeat, say), is decoded
//!   by prost on its own (entries of a repeated field are independent messages);
//! - a request it cannot read at all (damaged bytes, invalid UTF-8) is decoded by prost whole,
//!   so that prost, not this reader, says what is wrong with it.
//!
//! So it answers exactly as prost does (property tests below check it against prost, field by
//! field, and on damaged bytes), only faster.

use fundledger_domain::Command;
use fundledger_wire::scan::{WireType, delimited, key, skip, varint};
use prost::Message;

use crate::convert::{CommandRequest, batch_entry, payment_command};
use crate::errors::ApiError;
use crate::pb;

/// `ExecuteBatchRequest.commands`.
const BATCH_COMMANDS: u32 = 1;
/// `BatchCommand.record_payment`.
const RECORD_PAYMENT: u32 = 13;
/// `RecordPaymentRequest` fields.
const COMMAND_ID: u32 = 1;
const PAYMENT_ID: u32 = 2;
const REGION: u32 = 3;
const PERIOD: u32 = 4;
const BENEFIT: u32 = 5;
const BENEFICIARY: u32 = 6;
const AMOUNT: u32 = 7;
const BASIS: u32 = 8;
const TRACE: u32 = 15;

/// One entry of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Payment(PaymentEntry<'a>),
    /// Decoded by prost.
    Other(pb::BatchCommand),
}

impl Entry<'_> {
    /// The entry as a command request, `None` when it names no command.
    pub fn request(&self) -> Option<&dyn CommandRequest> {
        match self {
            Entry::Payment(payment) => Some(payment),
            Entry::Other(entry) => batch_entry(entry),
        }
    }
}

/// A `RecordPaymentRequest` whose text fields are borrowed from the request's bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaymentEntry<'a> {
    pub command_id: &'a str,
    pub payment_id: &'a str,
    pub region: &'a str,
    pub period: &'a str,
    pub benefit: i32,
    pub beneficiary: &'a str,
    pub amount: &'a str,
    pub basis: Option<pb::PaymentBasis>,
    pub trace: Option<pb::Trace>,
}

impl CommandRequest for PaymentEntry<'_> {
    fn command_id_text(&self) -> &str {
        self.command_id
    }

    fn trace_ref(&self) -> Option<&pb::Trace> {
        self.trace.as_ref()
    }

    fn to_command(&self) -> Result<Command, ApiError> {
        payment_command(
            self.payment_id,
            self.region,
            self.period,
            self.benefit,
            self.beneficiary,
            self.amount,
            self.basis.as_ref(),
        )
    }
}

/// A request as read: its first entries, in order, and how many it has in all.
#[derive(Debug)]
pub struct Reading<'a> {
    pub entries: Vec<Entry<'a>>,
    pub count: usize,
}

/// The entries of an `ExecuteBatchRequest`; `None` if the bytes are not a request this reader can
/// read (then prost must decode it whole, and will report why it is not one). Every entry is
/// read and checked, but only the first `keep` are kept: a request of millions of tiny entries
/// is refused for its count without holding them all.
pub fn read(bytes: &[u8], keep: usize) -> Option<Reading<'_>> {
    let mut buf = bytes;
    let mut reading = Reading { entries: Vec::new(), count: 0 };
    while !buf.is_empty() {
        let (tag, wire_type) = key(&mut buf)?;
        match (tag, wire_type) {
            (BATCH_COMMANDS, WireType::LengthDelimited) => {
                let entry = entry(delimited(&mut buf)?)?;
                if reading.count < keep {
                    reading.entries.push(entry);
                }
                reading.count += 1;
            }
            (BATCH_COMMANDS, _) => return None,
            _ => skip(&mut buf, wire_type)?,
        }
    }
    Some(reading)
}

/// One `BatchCommand`: a payment read here, anything else by prost.
fn entry(bytes: &[u8]) -> Option<Entry<'_>> {
    let mut buf = bytes;
    if let Some((RECORD_PAYMENT, WireType::LengthDelimited)) = key(&mut buf)
        && let Some(body) = delimited(&mut buf)
        && buf.is_empty()
        && let Some(payment) = payment(body)
    {
        return Some(Entry::Payment(payment));
    }
    as_in_request(&[BATCH_COMMANDS], bytes)?.commands.into_iter().next().map(Entry::Other)
}

/// Decodes a message found inside a request as prost decodes it there: prost limits how deeply
/// messages (and unknown groups) nest, counting from the request, so a message decoded on its
/// own would be allowed levels the whole request is not. `path` is the fields that lead to
/// `bytes` from the request, outermost first; the message is rebuilt around `bytes` along them
/// and decoded whole. (Only the rare entries and nested messages this reader leaves to prost
/// pay for the copy.)
fn as_in_request(path: &[u32], bytes: &[u8]) -> Option<pb::ExecuteBatchRequest> {
    let mut wrapped = bytes.to_vec();
    for &field in path.iter().rev() {
        let mut outer = Vec::with_capacity(wrapped.len() + 11);
        prost::encoding::bytes::encode(field, &wrapped, &mut outer);
        wrapped = outer;
    }
    pb::ExecuteBatchRequest::decode(wrapped.as_slice()).ok()
}

/// The payment of a request rebuilt around one of its fields (see [`as_in_request`]).
fn payment_field_as_in_request(field: u32, bytes: &[u8]) -> Option<pb::RecordPaymentRequest> {
    let request = as_in_request(&[BATCH_COMMANDS, RECORD_PAYMENT, field], bytes)?;
    match request.commands.into_iter().next()?.command? {
        pb::batch_command::Command::RecordPayment(payment) => Some(payment),
        _ => None,
    }
}

/// A `RecordPaymentRequest` in the shape clients write it; `None` for any other (prost decides).
fn payment(bytes: &[u8]) -> Option<PaymentEntry<'_>> {
    let mut buf = bytes;
    let mut payment = PaymentEntry::default();
    while !buf.is_empty() {
        let (tag, wire_type) = key(&mut buf)?;
        // A repeated scalar field keeps its last value, as in prost.
        match (tag, wire_type) {
            (COMMAND_ID, WireType::LengthDelimited) => payment.command_id = text(&mut buf)?,
            (PAYMENT_ID, WireType::LengthDelimited) => payment.payment_id = text(&mut buf)?,
            (REGION, WireType::LengthDelimited) => payment.region = text(&mut buf)?,
            (PERIOD, WireType::LengthDelimited) => payment.period = text(&mut buf)?,
            (BENEFIT, WireType::Varint) => payment.benefit = varint(&mut buf)? as i32,
            (BENEFICIARY, WireType::LengthDelimited) => payment.beneficiary = text(&mut buf)?,
            (AMOUNT, WireType::LengthDelimited) => payment.amount = text(&mut buf)?,
            // A repeated message field would be merged: left to prost.
            (BASIS, WireType::LengthDelimited) if payment.basis.is_none() => {
                payment.basis = payment_field_as_in_request(BASIS, delimited(&mut buf)?)?.basis;
            }
            (TRACE, WireType::LengthDelimited) if payment.trace.is_none() => {
                payment.trace = payment_field_as_in_request(TRACE, delimited(&mut buf)?)?.trace;
            }
            (COMMAND_ID..=BASIS | TRACE, _) => return None,
            _ => skip(&mut buf, wire_type)?,
        }
    }
    Some(payment)
}

/// A `string` field's value; `None` if it is not UTF-8 (prost refuses such a message).
fn text<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    std::str::from_utf8(delimited(buf)?).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::convert::Converted;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[A-Za-z0-9-]{1,12}", "[0-9]{1,8}(\\.[0-9]{1,3})?", ".{0,8}",]
    }

    fn payment_request() -> impl Strategy<Value = pb::RecordPaymentRequest> {
        (
            (text(), text(), text(), text(), any::<i32>(), text(), text()),
            prop::option::of((any::<u32>(), text())),
            prop::option::of((text(), text())),
        )
            .prop_map(
                |((command_id, payment_id, region, period, benefit, beneficiary, amount), basis, trace)| {
                    pb::RecordPaymentRequest {
                        command_id,
                        payment_id,
                        region,
                        period,
                        benefit,
                        beneficiary,
                        amount,
                        basis: basis.map(|(grade, own_wage)| pb::PaymentBasis {
                            kind: Some(pb::payment_basis::Kind::DisabilitySubsidy(pb::payment_basis::Disability {
                                grade,
                                own_wage,
                            })),
                        }),
                        trace: trace.map(|(correlation_id, causation_id)| pb::Trace { correlation_id, causation_id }),
                    }
                },
            )
    }

    fn batch_command() -> impl Strategy<Value = pb::BatchCommand> {
        use pb::batch_command::Command as C;
        prop_oneof![
            4 => payment_request().prop_map(|r| pb::BatchCommand { command: Some(C::RecordPayment(r)) }),
            1 => (text(), text()).prop_map(|(command_id, plan_id)| pb::BatchCommand {
                command: Some(C::ApprovePlan(pb::ApprovePlanRequest { command_id, plan_id, trace: None })),
            }),
            1 => Just(pb::BatchCommand { command: None }),
        ]
    }

    /// What a batch entry converts to, compared as text (the result types have no equality).
    fn converted(request: Option<&dyn CommandRequest>) -> String {
        match request.map(|r| r.convert()) {
            None => "no command".into(),
            Some(Ok(Converted { command_id, command, correlation_id, causation_id })) => {
                format!("{command_id} {command:?} {correlation_id:?} {causation_id:?}")
            }
            Some(Err(error)) => format!("error {:?}", error.to_pb()),
        }
    }

    /// The reader against prost on `bytes`: whatever the reader reads, prost reads too, into the
    /// same entries, which convert to the same commands or the same errors. The reader may
    /// decline a request prost reads (an unknown group at the top level, say): the handler then
    /// decodes it with prost, so the answer is prost's either way. That well-formed requests are
    /// read here is `batches_read_as_prost_reads_them`'s to check.
    fn same_as_prost(bytes: &[u8]) -> Result<(), TestCaseError> {
        let reference = pb::ExecuteBatchRequest::decode(bytes);
        match read(bytes, usize::MAX) {
            None => {}
            Some(Reading { entries, count }) => {
                let reference = reference.expect("prost reads what the reader reads");
                prop_assert_eq!(entries.len(), reference.commands.len());
                prop_assert_eq!(count, reference.commands.len());
                for (ours, theirs) in entries.iter().zip(&reference.commands) {
                    prop_assert_eq!(converted(ours.request()), converted(batch_entry(theirs)));
                    if let Entry::Payment(payment) = ours {
                        let Some(pb::batch_command::Command::RecordPayment(r)) = &theirs.command else {
                            return Err(TestCaseError::fail("a payment entry that prost reads as another"));
                        };
                        prop_assert_eq!(payment.command_id, r.command_id.as_str());
                        prop_assert_eq!(payment.amount, r.amount.as_str());
                        prop_assert_eq!(payment.benefit, r.benefit);
                        prop_assert_eq!(&payment.basis, &r.basis);
                        prop_assert_eq!(&payment.trace, &r.trace);
                    }
                }
            }
        }
        Ok(())
    }

    /// `depth` unknown groups (field 99) nested in one another.
    fn nested_groups(depth: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for _ in 0..depth {
            prost::encoding::encode_key(99, prost::encoding::WireType::StartGroup, &mut bytes);
        }
        for _ in 0..depth {
            prost::encoding::encode_key(99, prost::encoding::WireType::EndGroup, &mut bytes);
        }
        bytes
    }

    /// Prost limits nesting counted from the request: around the limit, an entry, a payment's
    /// basis (and the message inside it) and its trace nest exactly as deep here as there.
    #[test]
    fn nesting_is_limited_as_in_prost() {
        let payment =
            || pb::RecordPaymentRequest { command_id: "N-1".into(), amount: "1.00".into(), ..Default::default() };
        let wrap = |field: u32, inner: &[u8]| {
            let mut out = Vec::new();
            prost::encoding::bytes::encode(field, &inner.to_vec(), &mut out);
            out
        };
        let mut tried = 0;
        for depth in 90..=101 {
            let groups = nested_groups(depth);
            let good = pb::BatchCommand { command: Some(pb::batch_command::Command::RecordPayment(payment())) };
            // An entry of nothing but the groups, after a good one.
            let mut request = wrap(BATCH_COMMANDS, &good.encode_to_vec());
            request.extend(wrap(BATCH_COMMANDS, &groups));
            same_as_prost(&request).unwrap_or_else(|e| panic!("entry, depth {depth}: {e}"));
            // The groups inside a payment's basis, inside the disability message in the basis,
            // and inside its trace.
            let disability = wrap(1, &groups);
            for (field, content) in [(BASIS, groups.clone()), (BASIS, disability), (TRACE, groups.clone())] {
                let mut body = payment().encode_to_vec();
                body.extend(wrap(field, &content));
                let request = wrap(BATCH_COMMANDS, &wrap(RECORD_PAYMENT, &body));
                same_as_prost(&request).unwrap_or_else(|e| panic!("field {field}, depth {depth}: {e}"));
                tried += 1;
            }
        }
        assert_eq!(tried, 36);
        // Both sides of the limit were tried: the deepest requests are refused by prost.
        let mut deepest = wrap(BATCH_COMMANDS, &nested_groups(101));
        deepest.extend(wrap(BATCH_COMMANDS, &[]));
        assert!(pb::ExecuteBatchRequest::decode(deepest.as_slice()).is_err());
        assert!(pb::ExecuteBatchRequest::decode(wrap(BATCH_COMMANDS, &nested_groups(90)).as_slice()).is_ok());
    }

    #[test]
    fn only_the_first_entries_are_kept_but_all_are_counted() {
        let entry = pb::BatchCommand { command: None }.encode_to_vec();
        let mut request = Vec::new();
        for _ in 0..50 {
            prost::encoding::bytes::encode(BATCH_COMMANDS, &entry, &mut request);
        }
        let reading = read(&request, 10).expect("read");
        assert_eq!((reading.entries.len(), reading.count), (10, 50));
    }

    proptest! {
        #[test]
        fn batches_read_as_prost_reads_them(commands in prop::collection::vec(batch_command(), 0..20)) {
            let bytes = pb::ExecuteBatchRequest { commands }.encode_to_vec();
            let entries = read(&bytes, usize::MAX).expect("a well-formed request is read").entries;
            prop_assert!(entries.iter().all(|e| !matches!(e, Entry::Other(pb::BatchCommand {
                command: Some(pb::batch_command::Command::RecordPayment(_)),
            }))), "payments in the usual shape are read here, not by prost");
            same_as_prost(&bytes)?;
        }

        #[test]
        fn damaged_batches_are_refused_or_read_as_prost_reads_them(
            commands in prop::collection::vec(batch_command(), 1..6),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut bytes = pb::ExecuteBatchRequest { commands }.encode_to_vec();
            let at = at.index(bytes.len());
            if cut { bytes.truncate(at) } else { bytes[at] = byte }
            same_as_prost(&bytes)?;
        }

        #[test]
        fn unusual_but_legal_encodings_are_read_as_prost_reads_them(
            first in payment_request(),
            second in payment_request(),
            unknown in any::<u64>(),
        ) {
            // A payment entry repeated inside one `BatchCommand` (prost merges the two), fields
            // repeated inside one payment (the last wins, messages merge), and unknown fields.
            let mut entry = pb::BatchCommand {
                command: Some(pb::batch_command::Command::RecordPayment(first.clone())),
            }
            .encode_to_vec();
            entry.extend(pb::BatchCommand { command: Some(pb::batch_command::Command::RecordPayment(second.clone())) }
                .encode_to_vec());
            let mut payment = first.encode_to_vec();
            payment.extend(second.encode_to_vec());
            prost::encoding::uint64::encode(99, &unknown, &mut payment);
            let mut merged = Vec::new();
            prost::encoding::bytes::encode(RECORD_PAYMENT, &payment, &mut merged);
            let mut bytes = Vec::new();
            prost::encoding::bytes::encode(BATCH_COMMANDS, &entry, &mut bytes);
            prost::encoding::bytes::encode(BATCH_COMMANDS, &merged, &mut bytes);
            prost::encoding::uint64::encode(7, &unknown, &mut bytes);
            same_as_prost(&bytes)?;
        }
    }
}
