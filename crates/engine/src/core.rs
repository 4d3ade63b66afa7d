//! The engine's core: decision state, views, idempotency index and the log, driven one batch of
//! commands at a time. It owns no thread; the writer thread ([`crate::Engine`]) and the bulk
//! importers (the demo generator, migrations) both drive it through [`Core::execute`].
//!
//! One batch: for each command in order, answer a known command id from the index, or `decide`
//! against the live state and apply the accepted events at once (so the next command sees them);
//! encode every new record into one buffer; one append (one sync); then, and only then, update
//! the views and the index, and hand back the outcomes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use fundledger_domain::compact::KeyHasher;
use fundledger_domain::{
    Command, CommandId, Context, FundState, Period, Policy, RecordBody, RecordMeta, Recorded, Rejection,
    authorize_referenced, decide,
};
use fundledger_projections::{EventMeta, Views};
use fundledger_store::{AppendBatch, EventLog, Head, RecordBatch, StoreError, block_on};

use crate::clock::{Clock, IdSource};
use crate::idempotency::{Answer, IdempotencyIndex, command_digest, digest_matches};
use crate::outcome::{EngineError, Outcome, Submission, TRACE_ID_BYTES_MAX};
use crate::shared::Shared;
use crate::snapshot::{SnapshotBody, Snapshotter};

/// Knobs of the core; see [`crate::EngineConfig`] for the writer's.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// Where snapshots are kept; `None` disables them.
    pub snapshot_dir: Option<PathBuf>,
    /// Write a snapshot after this many new records.
    pub snapshot_every_records: u64,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions { snapshot_dir: None, snapshot_every_records: 1_000_000 }
    }
}

/// How start-up went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupReport {
    /// The snapshot start-up began from, if any.
    pub snapshot_position: Option<u64>,
    /// Snapshots found unusable, with why (they were skipped, never trusted).
    pub snapshots_skipped: Vec<(PathBuf, String)>,
    /// Records replayed from the log after the snapshot.
    pub replayed_records: u64,
    pub head: u64,
}

/// What one command of a batch resolved to before the append.
enum Pending {
    Done(Result<Outcome, EngineError>),
    New { key: u64, first: usize, count: usize, rejection: Option<Rejection> },
    SameAs(usize),
}

pub struct Core<L: EventLog> {
    log: Arc<L>,
    policy: Arc<Policy>,
    state: FundState,
    idempotency: IdempotencyIndex,
    head: Head,
    clock: Box<dyn Clock>,
    ids: Box<dyn IdSource>,
    last_time_micros: i64,
    shared: Arc<Shared>,
    snapshotter: Option<Snapshotter>,
    snapshot_every_records: u64,
    records_since_snapshot: u64,
    /// The position of the newest snapshot written or loaded, so shutdown does not rewrite it.
    last_snapshot_position: Option<u64>,
    stopped: Option<String>,
    // Reused buffers: a steady stream of batches allocates little.
    records: Vec<Recorded>,
    payload: Vec<u8>,
    /// Encodes records through one reused message (no allocations per payment).
    encoder: fundledger_wire::RecordEncoder,
    batch: AppendBatch,
    /// The batch's new command ids: their digest and where they are in the batch.
    in_batch: HashMap<CommandId, ([u8; 32], usize), KeyHasher>,
    /// A command's canonical encoding, before it is digested.
    digest_input: Vec<u8>,
}

impl<L: EventLog> Core<L> {
    /// Opens the core on a log: loads the newest valid snapshot, then replays the log's tail.
    /// `progress` is called with (records replayed, records to replay) every so often.
    pub fn open(
        log: Arc<L>,
        policy: Arc<Policy>,
        options: CoreOptions,
        clock: Box<dyn Clock>,
        ids: Box<dyn IdSource>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(Core<L>, StartupReport), EngineError> {
        let head = block_on(log.head())?;
        let mut report = StartupReport { head: head.position, ..StartupReport::default() };
        let snapshotter = options.snapshot_dir.as_ref().map(|dir| Snapshotter::new(dir.clone(), &policy));
        let mut state = FundState::new();
        let mut views = Views::new(&policy);
        let mut idempotency = IdempotencyIndex::default();
        let mut from = 1;
        if let Some(snapshotter) = &snapshotter {
            let (found, skipped) = snapshotter.load_newest(&*log, head.position)?;
            report.snapshots_skipped = skipped;
            for (path, why) in &report.snapshots_skipped {
                tracing::warn!(path = %path.display(), reason = %why, "ignoring unusable snapshot; replaying instead");
            }
            if let Some(body) = found {
                report.snapshot_position = Some(body.position);
                from = body.position + 1;
                state = body.state;
                views = body.views;
                idempotency = body.idempotency;
            }
        }
        let mut last_time_micros = i64::MIN;
        let total = head.position.saturating_sub(from - 1);
        let mut replayed = 0u64;
        replay(&*log, from, head.position, |position, recorded_time, recorded| {
            last_time_micros = last_time_micros.max(recorded_time);
            index_record(&mut idempotency, position, &recorded.meta);
            if let RecordBody::Event(event) = &recorded.body {
                state.apply(event);
                views.apply(&EventMeta { position, recorded_at_micros: recorded_time }, event);
            }
            replayed += 1;
            if replayed.is_multiple_of(PROGRESS_EVERY_RECORDS) {
                progress(replayed, total);
            }
            Ok(())
        })?;
        progress(replayed, total);
        report.replayed_records = replayed;
        let shared = Arc::new(Shared::new(views, head));
        let core = Core {
            log,
            policy,
            state,
            idempotency,
            head,
            clock,
            ids,
            last_time_micros,
            shared,
            snapshotter,
            snapshot_every_records: options.snapshot_every_records.max(1),
            records_since_snapshot: replayed,
            last_snapshot_position: report.snapshot_position,
            stopped: None,
            records: Vec::new(),
            payload: Vec::new(),
            encoder: fundledger_wire::RecordEncoder::default(),
            batch: AppendBatch::new(),
            in_batch: HashMap::with_hasher(KeyHasher::default()),
            digest_input: Vec::new(),
        };
        Ok((core, report))
    }

    /// What queries and subscribers read.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn state(&self) -> &FundState {
        &self.state
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    pub fn log(&self) -> &Arc<L> {
        &self.log
    }

    pub fn head(&self) -> Head {
        self.head
    }

    pub fn idempotency(&self) -> &IdempotencyIndex {
        &self.idempotency
    }

    /// Why the core stopped accepting commands, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// Executes a batch of commands with one append. Returns one result per submission, in order.
    /// The views are updated before it returns, and a snapshot is started when one is due.
    pub fn execute(&mut self, submissions: &[Submission]) -> Vec<Result<Outcome, EngineError>> {
        let (results, update) = self.execute_deferring_views(submissions);
        if let Some(update) = update {
            update.apply(&self.shared);
        }
        self.snapshot_if_due();
        results
    }

    /// [`Core::execute`], but the views' update for the batch is handed back rather than applied:
    /// the writer thread gives it to the responder thread, which applies it and then answers the
    /// callers, so the writer can take the next batch meanwhile. The caller must apply every
    /// update, in order, before answering its batch; a snapshot waits until the views have caught
    /// up (see [`Core::snapshot_if_due`]).
    pub fn execute_deferring_views(
        &mut self,
        submissions: &[Submission],
    ) -> (Vec<Result<Outcome, EngineError>>, Option<ViewUpdate>) {
        if let Some(why) = &self.stopped {
            return (submissions.iter().map(|_| Err(EngineError::Stopped(why.clone()))).collect(), None);
        }
        let ctx = Context { policy: &self.policy };
        let mut pending: Vec<Pending> = Vec::with_capacity(submissions.len());
        let mut in_batch = std::mem::take(&mut self.in_batch);
        in_batch.clear();
        self.records.clear();
        let mut now = self.clock.now_micros().max(self.last_time_micros);
        for (i, sub) in submissions.iter().enumerate() {
            // The tables a command reads (command ids, payments, beneficiaries) are far larger
            // than the cache: ask for the buckets of a command a few places ahead.
            if let Some(ahead) = submissions.get(i + PREFETCH_AHEAD_COMMANDS) {
                self.idempotency.prefetch(self.idempotency.key_of(&ahead.command_id));
                self.state.prefetch(&ahead.command);
            }
            if let Some(at) = sub.recorded_at_micros {
                now = now.max(at);
            }
            if sub.correlation_id.len() > TRACE_ID_BYTES_MAX {
                pending.push(Pending::Done(Err(EngineError::TraceIdTooLong { field: "correlation_id" })));
                continue;
            }
            if sub.causation_id.len() > TRACE_ID_BYTES_MAX {
                pending.push(Pending::Done(Err(EngineError::TraceIdTooLong { field: "causation_id" })));
                continue;
            }
            let digest = command_digest(&sub.command, &mut self.digest_input);
            let key = self.idempotency.key_of(&sub.command_id);
            if let Some(result) = self.earlier_answer(key, sub, &digest) {
                pending.push(Pending::Done(result));
                continue;
            }
            if let Some((earlier_digest, index)) = in_batch.get(&sub.command_id) {
                pending.push(if *earlier_digest == digest {
                    Pending::SameAs(*index)
                } else {
                    Pending::Done(Err(EngineError::CommandIdReused { command_id: sub.command_id }))
                });
                continue;
            }
            if let Err(denied) = authorize_referenced(sub.actor.role, sub.actor.region, &sub.command, &self.state) {
                pending.push(Pending::Done(Err(denied.into())));
                continue;
            }
            let first = self.records.len();
            let decision = decide(&self.state, &sub.command, &ctx);
            let rejection = match decision {
                Ok(events) => {
                    let count = events.len() as u32;
                    for (index, event) in events.into_iter().enumerate() {
                        self.state.apply(&event);
                        let meta = record_meta(
                            sub,
                            &digest,
                            now,
                            event.effective_period(),
                            index as u32,
                            count,
                            &mut *self.ids,
                        );
                        self.records.push(Recorded { meta, body: RecordBody::Event(event) });
                    }
                    None
                }
                Err(rejection) => {
                    let period = command_period(&sub.command).unwrap_or_else(|| period_of_micros(now));
                    let meta = record_meta(sub, &digest, now, period, 0, 1, &mut *self.ids);
                    self.records.push(Recorded {
                        meta,
                        body: RecordBody::Rejected {
                            command_name: sub.command.name().to_string(),
                            reason: rejection.reason,
                            message: rejection.message.clone(),
                        },
                    });
                    Some(rejection)
                }
            };
            in_batch.insert(sub.command_id, (digest, pending.len()));
            pending.push(Pending::New { key, first, count: self.records.len() - first, rejection });
        }
        self.in_batch = in_batch;
        if self.records.is_empty() {
            let results = pending
                .into_iter()
                .map(|p| match p {
                    Pending::Done(result) => result,
                    _ => unreachable!("no new records means no new commands"),
                })
                .collect();
            return (results, None);
        }
        if let Err(err) = self.append_records() {
            let why = err.to_string();
            self.stopped = Some(why.clone());
            self.shared.stop(why.clone());
            tracing::error!(error = %why, "append failed; the engine stops and must be restarted");
            let fenced = match err {
                StoreError::Conflict { expected, actual } => Some((expected, actual)),
                _ => None,
            };
            let results = pending
                .into_iter()
                .map(|p| match p {
                    Pending::Done(result) => result,
                    _ => Err(match fenced {
                        Some((expected, actual)) => EngineError::Fenced { expected, actual },
                        None => EngineError::Stopped(why.clone()),
                    }),
                })
                .collect();
            return (results, None);
        }
        let first_position = self.head.position + 1 - self.records.len() as u64;
        // Index, views and subscribers see the records only now that they are durable. The
        // views' copy of the events is taken before the outcomes take the events themselves.
        let update = self.view_update(first_position);
        self.records_since_snapshot += self.records.len() as u64;
        // An outcome that a repeat of its command id in the same batch also answers is cloned.
        let mut repeated = vec![false; pending.len()];
        for p in &pending {
            if let Pending::SameAs(j) = p {
                repeated[*j] = true;
            }
        }
        self.records.clear();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(pending.len());
        for (sub, p) in submissions.iter().zip(&pending) {
            let outcome = match p {
                Pending::New { key, first, count, rejection } => {
                    let start = first_position + *first as u64;
                    let answer = Answer { first: start, count: *count as u32 };
                    self.idempotency.insert(*key, answer);
                    Some(match rejection {
                        None => Outcome::Accepted {
                            command_id: sub.command_id,
                            positions: start..=start + *count as u64 - 1,
                            replayed: false,
                        },
                        Some(rejection) => Outcome::Rejected {
                            command_id: sub.command_id,
                            rejection: rejection.clone(),
                            position: start,
                            replayed: false,
                        },
                    })
                }
                _ => None,
            };
            outcomes.push(outcome);
        }
        let results = pending
            .into_iter()
            .enumerate()
            .map(|(i, p)| match p {
                Pending::Done(result) => result,
                Pending::New { .. } if repeated[i] => Ok(outcomes[i].clone().expect("set above")),
                Pending::New { .. } => Ok(outcomes[i].take().expect("set above")),
                Pending::SameAs(j) => Ok(mark_replayed(outcomes[j].clone().expect("the original is new"))),
            })
            .collect();
        (results, Some(update))
    }

    /// Starts a background snapshot if enough records were written since the last one. It first
    /// waits for the views to reach the head, so that the snapshot's state and views are of one
    /// position (with [`Core::execute_deferring_views`] the responder may still be applying).
    pub fn snapshot_if_due(&mut self) {
        if self.records_since_snapshot >= self.snapshot_every_records {
            self.snapshot_in_background();
        }
    }

    fn append_records(&mut self) -> Result<(), StoreError> {
        self.batch.clear();
        for record in &self.records {
            self.payload.clear();
            self.encoder.encode_into(record, &mut self.payload);
            self.batch.push(record.meta.recorded_at_micros, &self.payload);
        }
        let appended = block_on(self.log.append(self.head.position, &self.batch))?;
        assert_eq!(appended.first, self.head.position + 1, "the log assigned a gap");
        assert_eq!(appended.head.position, self.head.position + self.records.len() as u64);
        self.head = appended.head;
        let last = self.records.last().map_or(i64::MIN, |r| r.meta.recorded_at_micros);
        self.last_time_micros = self.last_time_micros.max(last);
        Ok(())
    }

    /// The views' update for the batch just made durable. Subscribers follow the log itself (see
    /// [`crate::subscribe`]), so the writer never waits for them.
    fn view_update(&self, first_position: u64) -> ViewUpdate {
        let mut events = Vec::with_capacity(self.records.len());
        for (i, record) in self.records.iter().enumerate() {
            if let RecordBody::Event(event) = &record.body {
                let meta = EventMeta {
                    position: first_position + i as u64,
                    recorded_at_micros: record.meta.recorded_at_micros,
                };
                events.push((meta, event.clone()));
            }
        }
        ViewUpdate { head: self.head, events }
    }

    /// The outcome of an earlier command with this id, if the log holds one: the original outcome
    /// if the payload is the same, `CommandIdReused` if not. The index only locates candidates
    /// (its keys are 64-bit), so each is confirmed against the command id on its first record.
    fn earlier_answer(&self, key: u64, sub: &Submission, digest: &[u8; 32]) -> Option<Result<Outcome, EngineError>> {
        let command_id = &sub.command_id;
        for answer in self.idempotency.candidates(key) {
            let recorded = match self.answer_records(answer) {
                Ok(recorded) => recorded,
                Err(err) => return Some(Err(err)),
            };
            if recorded[0].meta.command_id != *command_id {
                continue; // another command id with the same 64-bit key
            }
            // Records written before the postcard digest carry the JSON one; either confirms.
            if !digest_matches(&recorded[0].meta.command_digest, digest, &sub.command) {
                return Some(Err(EngineError::CommandIdReused { command_id: *command_id }));
            }
            return Some(Ok(Self::replayed_outcome(answer, recorded)));
        }
        None
    }

    /// The records of an answer, read back from the log (never empty).
    fn answer_records(&self, answer: Answer) -> Result<Vec<Recorded>, EngineError> {
        let mut recorded = Vec::with_capacity(answer.count as usize);
        replay(&*self.log, answer.first, answer.first + u64::from(answer.count) - 1, |_, _, r| {
            recorded.push(r);
            Ok(())
        })?;
        if recorded.is_empty() {
            return Err(EngineError::Decode {
                position: answer.first,
                message: "the answer's records are missing".into(),
            });
        }
        Ok(recorded)
    }

    /// Rebuilds the outcome of an already answered command from its records.
    fn replayed_outcome(answer: Answer, recorded: Vec<Recorded>) -> Outcome {
        let first = &recorded[0];
        let command_id = first.meta.command_id;
        match &first.body {
            RecordBody::Rejected { reason, message, .. } => Outcome::Rejected {
                command_id,
                rejection: Rejection::new(*reason, message.clone()),
                position: answer.first,
                replayed: true,
            },
            RecordBody::Event(_) => Outcome::Accepted {
                command_id,
                positions: answer.first..=answer.first + u64::from(answer.count) - 1,
                replayed: true,
            },
        }
    }

    /// A copy of the state, views and index at the head, once the views have reached it: `None` if the
    /// engine stopped first, or if the views did not catch up within a minute (they are applied
    /// on the responder thread, a batch behind at most; a snapshot is skipped, never wrong).
    fn snapshot_body(&self) -> Option<SnapshotBody> {
        let applied = self.shared.wait_applied_blocking(self.head.position, VIEWS_CATCH_UP_WAIT_MAX);
        if applied.position != self.head.position {
            tracing::warn!(
                head = self.head.position,
                views = applied.position,
                "snapshot skipped: the views did not reach the head"
            );
            return None;
        }
        Some(SnapshotBody {
            position: self.head.position,
            head_hash: self.head.hash,
            state: self.state.clone(),
            views: self.shared.views_clone(),
            idempotency: self.idempotency.clone(),
        })
    }

    /// Hands a copy of the state, views and index to the snapshot thread (if it is idle).
    fn snapshot_in_background(&mut self) {
        let Some(snapshotter) = &self.snapshotter else { return };
        if !snapshotter.is_idle() {
            return;
        }
        let Some(body) = self.snapshot_body() else { return };
        snapshotter.write_in_background(body);
        self.records_since_snapshot = 0;
        self.last_snapshot_position = Some(self.head.position);
    }

    /// Writes a snapshot now and waits for it (clean shutdown).
    pub fn snapshot_now(&mut self) -> Result<Option<PathBuf>, EngineError> {
        let Some(snapshotter) = &self.snapshotter else { return Ok(None) };
        snapshotter.wait_idle();
        if self.last_snapshot_position == Some(self.head.position) {
            return Ok(None);
        }
        let Some(body) = self.snapshot_body() else { return Ok(None) };
        let path = snapshotter.write_now(&body)?;
        self.records_since_snapshot = 0;
        self.last_snapshot_position = Some(self.head.position);
        Ok(Some(path))
    }

    /// Waits for a background snapshot to finish (tests, shutdown).
    pub fn wait_for_snapshots(&self) {
        if let Some(snapshotter) = &self.snapshotter {
            snapshotter.wait_idle();
        }
    }
}

/// Replay progress is reported every this many records.
pub const PROGRESS_EVERY_RECORDS: u64 = 100_000;

/// How many commands ahead the writer prefetches their table buckets.
const PREFETCH_AHEAD_COMMANDS: usize = 4;

/// How long a snapshot waits for the views to reach the head before it is skipped.
const VIEWS_CATCH_UP_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// The views' part of a durable batch: its events with their positions and times, and the head
/// the views reach once they are applied. Applying updates out of order, or skipping one, would
/// leave views that a rebuild would not reproduce, so an update can only be consumed by
/// [`ViewUpdate::apply`].
#[must_use = "every batch's view update must be applied, in order"]
#[derive(Debug)]
pub struct ViewUpdate {
    head: Head,
    events: Vec<(EventMeta, fundledger_domain::Event)>,
}

impl ViewUpdate {
    /// Folds the batch into the views and moves their applied head on (waking queries waiting
    /// for a position).
    pub fn apply(self, shared: &Shared) {
        shared.apply(self.head, |views| views.apply_all(&self.events));
    }
}

fn mark_replayed(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Accepted { command_id, positions, .. } => Outcome::Accepted { command_id, positions, replayed: true },
        Outcome::Rejected { command_id, rejection, position, .. } => {
            Outcome::Rejected { command_id, rejection, position, replayed: true }
        }
    }
}

fn record_meta(
    sub: &Submission,
    digest: &[u8; 32],
    now: i64,
    effective_period: Period,
    index_in_command: u32,
    records_in_command: u32,
    ids: &mut dyn IdSource,
) -> RecordMeta {
    RecordMeta {
        event_id: ids.next_id(),
        command_id: sub.command_id,
        command_digest: *digest,
        actor: sub.actor.clone(),
        recorded_at_micros: now,
        correlation_id: sub.correlation_id.clone(),
        causation_id: sub.causation_id.clone(),
        effective_period,
        index_in_command,
        records_in_command,
    }
}

/// Adds a record to the idempotency index if it is the first of its command.
fn index_record(index: &mut IdempotencyIndex, position: u64, meta: &RecordMeta) {
    if meta.index_in_command == 0 {
        index.insert(index.key_of(&meta.command_id), Answer { first: position, count: meta.records_in_command });
    }
}

/// The period a command names, if it names one (used to file the audit record of a refusal).
pub fn command_period(command: &Command) -> Option<Period> {
    use Command::*;
    match command {
        RecordCollection { period, .. }
        | RefundCollection { period, .. }
        | RecordTransfer { period, .. }
        | RecordProvincialIncome { period, .. }
        | ConsolidateLegacyReserve { period, .. }
        | SubmitPlan { period, .. }
        | RecordPayment { period, .. }
        | ReversePayment { period, .. }
        | ClosePeriod { period, .. } => Some(*period),
        AdjustRates { effective, .. } => Some(*effective),
        AdoptBudget { year, .. } | AdjustBudget { year, .. } | AssessGapShares { year } => Period::new(*year, 1),
        ApprovePlan { .. } | RejectPlan { .. } | ReviewPlan { .. } | AllocateFunds { .. } => None,
    }
}

/// The calendar month (UTC) of a timestamp.
fn period_of_micros(micros: i64) -> Period {
    chrono_period(micros).unwrap_or_else(|| Period::new(1990, 1).expect("valid"))
}

fn chrono_period(micros: i64) -> Option<Period> {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant), to avoid a date library in the engine.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Period::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?)
}

/// Reads records `from..=to` from the log, decoding each fully, and calls `each` in order with
/// (position, recorded time, record).
pub fn replay<L: EventLog + ?Sized>(
    log: &L,
    from: u64,
    to: u64,
    mut each: impl FnMut(u64, i64, Recorded) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut next = from;
    let mut batch = RecordBatch::new();
    while next <= to {
        batch = block_on(log.read(next, batch))?;
        if batch.is_empty() {
            return Err(EngineError::Decode { position: next, message: "the log ended before its head".into() });
        }
        for view in batch.iter() {
            let position = view.position();
            if position > to {
                return Ok(());
            }
            let recorded = fundledger_wire::decode_record(view.payload())
                .map_err(|e| EngineError::Decode { position, message: e.to_string() })?;
            each(position, view.recorded_time_us(), recorded)?;
            next = position + 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{HashIds, ManualClock};
    use fundledger_domain::testkit::{collect, lanzhou, m, p};
    use fundledger_domain::{Actor, RegionCode};
    use fundledger_store::MemoryLog;

    fn submission(id: &str, command: Command) -> Submission {
        Submission::new(CommandId::parse(id).unwrap(), Actor::system(), command)
    }

    fn accepted_positions(result: &Result<Outcome, EngineError>) -> (std::ops::RangeInclusive<u64>, bool) {
        match result {
            Ok(Outcome::Accepted { positions, replayed, .. }) => (positions.clone(), *replayed),
            other => panic!("expected an accepted outcome, got {other:?}"),
        }
    }

    /// A core over an in-memory log, with a fixed clock and ids.
    fn open_on(log: Arc<MemoryLog>) -> Core<MemoryLog> {
        Core::open(
            log,
            Arc::new(Policy::gansu()),
            CoreOptions::default(),
            Box::new(ManualClock::new(1_717_200_000_000_000)),
            Box::new(HashIds::new(b"test")),
            &mut |_, _| {},
        )
        .unwrap()
        .0
    }

    fn memory_log() -> Arc<MemoryLog> {
        Arc::new(MemoryLog::new("CN-620000-work-injury").unwrap())
    }

    /// Two command ids whose 64-bit index keys collide (forced here by filing one id's answer
    /// under the other's key) are told apart by the command id on the log's record.
    #[test]
    fn command_ids_sharing_an_index_key_are_told_apart_by_the_log() {
        let mut core = open_on(memory_log());
        let a = submission("A", collect(lanzhou(), p("2024-03"), m("10.00"), "TB-A"));
        let b = submission("B", collect(lanzhou(), p("2024-03"), m("20.00"), "TB-B"));
        let first_a = core.execute(std::slice::from_ref(&a)).remove(0);
        assert_eq!(accepted_positions(&first_a), (1..=1, false));
        // B's key now also leads to A's answer, as a real collision would.
        core.idempotency.insert(core.idempotency.key_of(&b.command_id), Answer { first: 1, count: 1 });
        let first_b = core.execute(std::slice::from_ref(&b)).remove(0);
        assert_eq!(accepted_positions(&first_b), (2..=2, false), "B is new, not a replay of A");
        assert_eq!(core.state().untransferred(RegionCode::new(620100).unwrap(), p("2024-03")), m("30.00"));
        // Retries of both find their own answers.
        assert_eq!(accepted_positions(&core.execute(std::slice::from_ref(&b)).remove(0)), (2..=2, true));
        assert_eq!(accepted_positions(&core.execute(std::slice::from_ref(&a)).remove(0)), (1..=1, true));
        // The same id with another payload is refused even when its key leads elsewhere first.
        let b_changed = submission("B", collect(lanzhou(), p("2024-03"), m("21.00"), "TB-B"));
        assert!(matches!(core.execute(&[b_changed]).remove(0), Err(EngineError::CommandIdReused { .. })));
        assert_eq!(core.head().position, 2, "retries and refusals append nothing");
    }

    /// Records written before the postcard command digest carry the JSON one: a retry of such a
    /// command is still recognised, and the same id with another payload still refused.
    #[test]
    fn retries_are_confirmed_against_records_carrying_the_older_json_digest() {
        let a = submission("A", collect(lanzhou(), p("2024-03"), m("10.00"), "TB-A"));
        let new_log = memory_log();
        let mut core = open_on(new_log.clone());
        assert_eq!(accepted_positions(&core.execute(std::slice::from_ref(&a)).remove(0)), (1..=1, false));
        let mut recorded = Vec::new();
        replay(&*new_log, 1, 1, |_, _, r| {
            recorded.push(r);
            Ok(())
        })
        .unwrap();
        let mut old = recorded.remove(0);
        assert_ne!(old.meta.command_digest, crate::idempotency::command_digest_json(&a.command));
        // The same record as an older build wrote it.
        old.meta.command_digest = crate::idempotency::command_digest_json(&a.command);
        let old_log = memory_log();
        let mut payload = Vec::new();
        fundledger_wire::encode_record_into(&old, &mut payload);
        let mut batch = AppendBatch::new();
        batch.push(old.meta.recorded_at_micros, &payload);
        block_on(old_log.append(0, &batch)).unwrap();
        let mut core = open_on(old_log);
        assert_eq!(accepted_positions(&core.execute(std::slice::from_ref(&a)).remove(0)), (1..=1, true));
        let a_changed = submission("A", collect(lanzhou(), p("2024-03"), m("10.01"), "TB-A"));
        assert!(matches!(core.execute(&[a_changed]).remove(0), Err(EngineError::CommandIdReused { .. })));
        assert_eq!(core.head().position, 1);
    }

    #[test]
    fn period_of_micros_is_the_utc_month() {
        // 2024-03-31T23:59:59Z and 2024-04-01T00:00:00Z.
        assert_eq!(period_of_micros(1_711_929_599_000_000).to_string(), "2024-03");
        assert_eq!(period_of_micros(1_711_929_600_000_000).to_string(), "2024-04");
        assert_eq!(period_of_micros(0).to_string(), "1990-01", "before 1990 falls back to the floor");
    }
}
