//! Rebuilding the views from the log: the whole history, or a prefix "as of" a position or a
//! recorded time (for inspections: "what did the books say on 2025-06-30?").

use std::sync::Arc;

use fundledger_domain::Policy;
use fundledger_projections::{AsOf, EventMeta, Views};
use fundledger_store::{EventLog, RecordBatch, block_on};

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
    // One read's events, decoded, then folded together (so the fold can prefetch ahead).
    let mut events = Vec::new();
    let mut next = 1;
    let mut done = false;
    while next <= end && !done {
        batch = block_on(log.read(next, batch))?;
        if batch.is_empty() {
            break;
        }
        events.clear();
        let records_before = summary.records;
        for view in batch.iter() {
            let position = view.position();
            let time = view.recorded_time_us();
            if position > end || matches!(as_of, AsOf::Time(t) if time > t) {
                done = true;
                break;
            }
            let decoded = fundledger_wire::decode_event_only(view.payload())
                .map_err(|e| EngineError::Decode { position, message: e.to_string() })?;
            if let Some(recorded) = decoded {
                events.push((EventMeta { position, recorded_at_micros: time }, recorded.event));
            }
            summary.records += 1;
            summary.through_position = position;
            next = position + 1;
        }
        views.apply_all(&events);
        summary.events += events.len() as u64;
        // After a read (a few thousand records) that passed a multiple of the interval.
        if summary.records / REBUILD_PROGRESS_EVERY_RECORDS > records_before / REBUILD_PROGRESS_EVERY_RECORDS {
            progress(summary.records, end);
        }
    }
    progress(summary.records, end);
    Ok((views, summary))
}
