//! Rebuilding the views from the log: the whole history, or a prefix "as of" a position or a
//! recorded time (for inspections: "what did the books say on 2025-06-30?").

use std::sync::Arc;

use fundledger_domain::Policy;
use fundledger_projections::{AsOf, EventMeta, PREFETCH_AHEAD_EVENTS, PREFETCH_NEAR_EVENTS, Views};
use fundledger_store::{EventLog, RecordBatch, block_on};
use fundledger_wire::ForViews;

use crate::outcome::EngineError;

/// Rebuild progress is reported every this many records.
pub const REBUILD_PROGRESS_EVERY_RECORDS: u64 = 250_000;

/// What a rebuild folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildSummary {
    /// The last position folded (0 if none).
    pub through_position: u64,
    /// Records read (events and refusal records).
    pub records: u64,
    /// Events folded into the views.
    pub events: u64,
}

/// Folds the log from the start into fresh views, stopping after the as-of point.
/// `progress(records_done, records_total)` is called every so often and at the end.
pub fn rebuild<L: EventLog + ?Sized>(
    log: &L,
    policy: Arc<Policy>,
    as_of: AsOf,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Views, RebuildSummary), EngineError> {
    let head = block_on(log.head())?.position;
    let end = match as_of {
        AsOf::Position(p) => p.min(head),
        _ => head,
    };
    let mut views = Views::new(&policy);
    let mut summary = RebuildSummary { through_position: 0, records: 0, events: 0 };
    let mut batch = RecordBatch::new();
    let mut next = 1;
    let mut done = false;
    while next <= end && !done {
        batch = block_on(log.read(next, batch))?;
        if batch.is_empty() {
            break;
        }
        // Records are decoded [`PREFETCH_AHEAD_EVENTS`] ahead of the fold (as far as
        // `Views::apply_all` prefetches), so that each payment's slot in the supervision view's
        // tables is asked for before it is folded. Payments come as `Payment`s borrowing the
        // read's bytes: no event is built for them. Each record is decoded into its place in
        // the ring and folded there.
        let mut ring = Ring::new();
        let records_before = summary.records;
        for view in batch.iter() {
            let position = view.position();
            let time = view.recorded_time_us();
            if position > end || matches!(as_of, AsOf::Time(t) if time > t) {
                done = true;
                break;
            }
            let (meta, record) = ring.next_slot();
            *meta = EventMeta { position, recorded_at_micros: time };
            fundledger_wire::decode_for_views_into(view.payload(), record)
                .map_err(|e| EngineError::Decode { position, message: e.to_string() })?;
            summary.records += 1;
            summary.through_position = position;
            next = position + 1;
            match record {
                ForViews::Rejected => continue,
                ForViews::Payment(payment) => views.prefetch(payment),
                ForViews::Event(_) => {}
            }
            ring.push();
            summary.events += 1;
            if let Some((_, ForViews::Payment(near))) = ring.back(PREFETCH_NEAR_EVENTS) {
                views.prefetch_near(near);
            }
            if ring.len() > PREFETCH_AHEAD_EVENTS {
                let (meta, record) = ring.front();
                fold(&mut views, meta, record);
                ring.pop();
            }
        }
        while ring.len() > 0 {
            let (meta, record) = ring.front();
            fold(&mut views, meta, record);
            ring.pop();
        }
        // After a read (a few thousand records) that passed a multiple of the interval.
        if summary.records / REBUILD_PROGRESS_EVERY_RECORDS > records_before / REBUILD_PROGRESS_EVERY_RECORDS {
            progress(summary.records, end);
        }
    }
    progress(summary.records, end);
    Ok((views, summary))
}

/// Slots of [`Ring`]: a power of two above [`PREFETCH_AHEAD_EVENTS`].
const RING_SLOTS: usize = (PREFETCH_AHEAD_EVENTS + 1).next_power_of_two();

/// The rebuild's read-ahead: records decoded in place, folded from the front. A record is
/// decoded into [`Ring::next_slot`] and becomes part of the ring when [`Ring::push`]ed (a
/// refusal is not: its slot is reused).
struct Ring<'a> {
    slots: [(EventMeta, ForViews<'a>); RING_SLOTS],
    head: usize,
    len: usize,
}

impl<'a> Ring<'a> {
    fn new() -> Ring<'a> {
        let empty = || (EventMeta { position: 0, recorded_at_micros: 0 }, ForViews::Rejected);
        Ring { slots: std::array::from_fn(|_| empty()), head: 0, len: 0 }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The slot after the last record (the ring is never full when asked: it is folded down to
    /// [`PREFETCH_AHEAD_EVENTS`] records after each push).
    #[inline]
    fn next_slot(&mut self) -> (&mut EventMeta, &mut ForViews<'a>) {
        debug_assert!(self.len < RING_SLOTS);
        let (meta, record) = &mut self.slots[(self.head + self.len) % RING_SLOTS];
        (meta, record)
    }

    /// Takes the record decoded into [`Ring::next_slot`] in.
    #[inline]
    fn push(&mut self) {
        self.len += 1;
    }

    /// The record `back` places before the last one, if the ring holds it.
    #[inline]
    fn back(&self, back: usize) -> Option<&(EventMeta, ForViews<'a>)> {
        (back < self.len).then(|| &self.slots[(self.head + self.len - 1 - back) % RING_SLOTS])
    }

    #[inline]
    fn front(&self) -> (&EventMeta, &ForViews<'a>) {
        let (meta, record) = &self.slots[self.head];
        (meta, record)
    }

    /// Drops the first record from the ring (its slot keeps the value until overwritten).
    #[inline]
    fn pop(&mut self) {
        debug_assert!(self.len > 0);
        self.head = (self.head + 1) % RING_SLOTS;
        self.len -= 1;
    }
}

/// Folds one decoded record: a payment without its event, anything else as an event.
#[inline]
fn fold(views: &mut Views, meta: &EventMeta, record: &ForViews<'_>) {
    match record {
        ForViews::Payment(payment) => views.apply_payment(meta, payment),
        ForViews::Event(event) => views.apply(meta, event),
        ForViews::Rejected => {}
    }
}
