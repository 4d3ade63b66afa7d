//! The read models of the fund, each a pure fold over the event sequence, and the rebuild and
//! as-of machinery.
//!
//! What this crate does not do: it never appends, never reads the store, does no IO and no
//! async. The engine (or a test) hands each accepted event with its log position and recorded
//! time to [`Views::apply`]; refused-command audit records are never passed in.
//!
//! Determinism: every view's state is a function of the events folded alone. Hot maps use a
//! fixed hasher and are written sorted, so a live view, a view rebuilt from the log and a view
//! restored from a snapshot and continued compare equal and serialise to the same bytes.
//!
//! Cost: `apply` does no allocation on the hot events (payments and collections) beyond the
//! occasional growth of a map, formats no strings, and keeps sums in whole fen (`i64`).

pub mod health;
pub mod provincial;
pub mod region_expenditure;
pub mod supervision;
pub mod two_lines;
mod util;

use fundledger_domain::{Event, Payment, Policy};
use serde::{Deserialize, Serialize};

pub use health::{
    BudgetAlert, BudgetAlertKind, CapBase, FundHealth, GapAssessment, HealthParams, HealthPoint, PreventionUsage,
    RateSignal, WarningLevel,
};
pub use provincial::{IncomeByCategory, LegacyConsolidation, PooledPeriod, ProvincialFund};
pub use region_expenditure::{CategoryExpenditure, Execution, PlanSummary, RegionExpenditure, RegionPeriodExpenditure};
pub use supervision::{LateCloseSignal, MultiRegionSignal, OutlierSignal, ReversalSignal, Supervision};
pub use two_lines::{ExpenditureLine, IncomeLine, ProvincialTwoLines, Reconciliation, RowFlags, TwoLines, TwoLinesRow};

/// [`rebuild`] reports progress after every this many events.
pub const PROGRESS_EVERY_EVENTS: u64 = 1 << 20;

/// How far ahead [`Views::apply_all`] prefetches: enough events to cover a miss to memory
/// (~100 ns) with the fold of the ones in between (tens of ns each).
pub const PREFETCH_AHEAD_EVENTS: usize = 8;

/// How far ahead [`Views::apply_all`] takes the second step of the prefetch
/// ([`Views::prefetch_near`]): half way, when what the first step asked for has arrived.
pub const PREFETCH_NEAR_EVENTS: usize = PREFETCH_AHEAD_EVENTS / 2;

/// Where an event sits in the log: what the engine passes along with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The record's log position (gapless from 1).
    pub position: u64,
    /// When the engine recorded it, microseconds since the Unix epoch, UTC.
    pub recorded_at_micros: i64,
}

/// How much of the history a rebuild folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AsOf {
    /// Everything.
    Head,
    /// Records at or before this position.
    Position(u64),
    /// Records recorded at or before this time (microseconds since the Unix epoch, UTC).
    Time(i64),
}

impl AsOf {
    /// Whether a record belongs to the history as of this point. Positions and recorded times
    /// never decrease along the log, so the first record outside ends the fold.
    pub fn includes(&self, meta: &EventMeta) -> bool {
        match *self {
            AsOf::Head => true,
            AsOf::Position(p) => meta.position <= p,
            AsOf::Time(t) => meta.recorded_at_micros <= t,
        }
    }
}

/// All five views, folded together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Views {
    provincial: ProvincialFund,
    region_expenditure: RegionExpenditure,
    two_lines: TwoLines,
    health: FundHealth,
    supervision: Supervision,
    events_applied: u64,
    last_position: Option<u64>,
}

impl Views {
    /// Empty views for a fund under `policy` (the views copy the few figures they need).
    pub fn new(policy: &Policy) -> Views {
        Views {
            provincial: ProvincialFund::new(),
            region_expenditure: RegionExpenditure::new(),
            two_lines: TwoLines::new(),
            health: FundHealth::new(policy),
            supervision: Supervision::new(policy),
            events_applied: 0,
            last_position: None,
        }
    }

    /// Folds one event into every view. Positions must increase (asserted in debug builds).
    #[inline]
    pub fn apply(&mut self, meta: &EventMeta, event: &Event) {
        if let Some(payment) = Payment::of(event) {
            return self.apply_payment(meta, &payment);
        }
        self.check_position(meta);
        self.provincial.apply(meta, event);
        self.region_expenditure.apply(meta, event);
        self.two_lines.apply(meta, event);
        self.health.apply(meta, event);
        self.supervision.apply(meta, event);
        self.events_applied += 1;
        self.last_position = Some(meta.position);
    }

    /// Folds one payment into every view: the same as [`Views::apply`] of the `BenefitPaid`
    /// event it was read from (which comes here too), without the event.
    #[inline]
    pub fn apply_payment(&mut self, meta: &EventMeta, payment: &Payment<'_>) {
        self.check_position(meta);
        self.region_expenditure.paid(payment);
        self.two_lines.paid(payment);
        self.health.paid(payment);
        self.supervision.paid(meta, payment);
        self.events_applied += 1;
        self.last_position = Some(meta.position);
    }

    /// Asks for the memory [`Views::apply_payment`] of `payment` will read at random (the
    /// supervision view's beneficiary table, far larger than the cache), a few payments ahead.
    #[inline]
    pub fn prefetch(&self, payment: &Payment<'_>) {
        self.supervision.prefetch(payment);
    }

    /// The prefetch's second step, [`PREFETCH_NEAR_EVENTS`] payments ahead: asks for what the
    /// memory [`Views::prefetch`] brought in points to (the supervision view's entry for a
    /// beneficiary already paid in the period, about one payment in seven).
    #[inline]
    pub fn prefetch_near(&self, payment: &Payment<'_>) {
        self.supervision.prefetch_near(payment);
    }

    #[inline]
    fn check_position(&self, meta: &EventMeta) {
        debug_assert!(
            self.last_position.is_none_or(|last| meta.position > last),
            "position {} after {:?}",
            meta.position,
            self.last_position
        );
    }

    /// Folds `events` in order, as [`Views::apply`] does one by one, asking [`PREFETCH_AHEAD_EVENTS`]
    /// events ahead for the memory the supervision view will read at random (its per-period
    /// beneficiary table is far larger than the cache): the misses then overlap the folding of
    /// the events in between. The result is the same as applying each event in turn.
    pub fn apply_all(&mut self, events: &[(EventMeta, Event)]) {
        for (i, (meta, event)) in events.iter().enumerate() {
            if let Some((_, ahead)) = events.get(i + PREFETCH_AHEAD_EVENTS)
                && let Some(payment) = Payment::of(ahead)
            {
                self.prefetch(&payment);
            }
            if let Some((_, near)) = events.get(i + PREFETCH_NEAR_EVENTS)
                && let Some(payment) = Payment::of(near)
            {
                self.prefetch_near(&payment);
            }
            self.apply(meta, event);
        }
    }

    /// Folds records until the first one past `as_of`; returns how many were folded. Calls
    /// `progress` with the running count after every [`PROGRESS_EVERY_EVENTS`] events.
    pub fn apply_until(
        &mut self,
        records: impl IntoIterator<Item = (EventMeta, Event)>,
        as_of: AsOf,
        mut progress: impl FnMut(u64),
    ) -> u64 {
        let mut folded = 0u64;
        for (meta, event) in records {
            if !as_of.includes(&meta) {
                break;
            }
            self.apply(&meta, &event);
            folded += 1;
            if folded.is_multiple_of(PROGRESS_EVERY_EVENTS) {
                progress(folded);
            }
        }
        folded
    }

    pub fn provincial(&self) -> &ProvincialFund {
        &self.provincial
    }

    pub fn region_expenditure(&self) -> &RegionExpenditure {
        &self.region_expenditure
    }

    pub fn two_lines(&self) -> &TwoLines {
        &self.two_lines
    }

    pub fn health(&self) -> &FundHealth {
        &self.health
    }

    pub fn supervision(&self) -> &Supervision {
        &self.supervision
    }

    /// Events folded so far.
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    /// Position of the last event folded.
    pub fn last_position(&self) -> Option<u64> {
        self.last_position
    }
}

/// Rebuilds the views from the start of a history: folds `records` (in log order) up to and
/// including the last one within `as_of`, and stops at the first record past it. "As of time T"
/// means every record recorded at or before T. `progress` is called with the number of events
/// folded so far after every [`PROGRESS_EVERY_EVENTS`] events, and once more at the end.
pub fn rebuild(
    policy: &Policy,
    records: impl IntoIterator<Item = (EventMeta, Event)>,
    as_of: AsOf,
    mut progress: impl FnMut(u64),
) -> Views {
    let mut views = Views::new(policy);
    let folded = views.apply_until(records, as_of, &mut progress);
    progress(folded);
    views
}
