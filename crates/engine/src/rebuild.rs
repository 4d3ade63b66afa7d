//! Rebuilding the views from the log: the whole history, or a prefix "as of" a position or a
//! recorded time (for inspections: "what did the books say on 2025-06-30?").

use std::collections::VecDeque;
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
        // `Views::apply_all` prefetches), so that each payment's bucket in the supervision view's
        // tables is asked for before it is folded. Payments come as `Payment`s borrowing the
        // read's bytes: no event is built for them.
        let mut decoded: VecDeque<(EventMeta, ForViews<'_>)> = VecDeque::with_capacity(PREFETCH_AHEAD_EVENTS + 1);
        let records_before = summary.records;
        for view in batch.iter() {
            let position = view.position();
            let time = view.recorded_time_us();
            if position > end || matches!(as_of, AsOf::Time(t) if time > t) {
                done = true;
                break;
            }
            let record = fundledger_wire::decode_for_views(view.payload())
                .map_err(|e| EngineError::Decode { position, message: e.to_string() })?;
            if let ForViews::Payment(payment) = &record {
                views.prefetch(payment);
            }
            if !matches!(record, ForViews::Rejected) {
                decoded.push_back((EventMeta { position, recorded_at_micros: time }, record));
                if let Some((_, ForViews::Payment(near))) =
                    decoded.len().checked_sub(PREFETCH_NEAR_EVENTS + 1).and_then(|at| decoded.get(at))
                {
                    views.prefetch_near(near);
                }
                summary.events += 1;
                if decoded.len() > PREFETCH_AHEAD_EVENTS {
                    // Folded where it lies, then dropped: not moved out of the ring first.
                    let (meta, record) = decoded.front().expect("not empty");
                    fold(&mut views, meta, record);
                    decoded.pop_front();
                }
            }
            summary.records += 1;
            summary.through_position = position;
            next = position + 1;
        }
        for (meta, record) in &decoded {
            fold(&mut views, meta, record);
        }
        // After a read (a few thousand records) that passed a multiple of the interval.
        if summary.records / REBUILD_PROGRESS_EVERY_RECORDS > records_before / REBUILD_PROGRESS_EVERY_RECORDS {
            progress(summary.records, end);
        }
    }
    progress(summary.records, end);
    Ok((views, summary))
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
