//! Restart and store-failure tests of the engine: a history interrupted at every point (clean
//! shutdown with a snapshot, or a crash after the last acknowledgement with or without an older
//! snapshot) ends in the same state, views and outcomes as an uninterrupted run; a store failure
//! mid-batch stops the engine, and after reopening every acknowledged command is there exactly
//! once and the unacknowledged batch is wholly present or wholly absent.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fundledger_domain::testkit::*;
use fundledger_domain::{
    Actor, BenefitType, Command, CommandId, Department, ExpenditureCategory as Cat, FundState, LegacyFundKind, Policy,
    ProvincialIncomeKind, RecordBody,
};
use fundledger_engine::core::replay;
use fundledger_engine::snapshot::list_snapshots;
use fundledger_engine::{
    Core, CoreOptions, Engine, EngineConfig, EngineError, HashIds, ManualClock, Outcome, Submission,
};
use fundledger_projections::Views;
use fundledger_store::testing::{Fault, FaultyStorage, MemStorage};
use fundledger_store::{EventLog, FileLog, FileOptions, block_on};

const FUND: &str = "CN-620000-work-injury";
/// Small segments, so the history rolls a few of them.
const SEGMENT_BYTES: u64 = 64 << 10;
/// Recorded time of the history's first command: 2024-03-01T00:00:00Z.
const HISTORY_START_MICROS: i64 = 1_709_251_200_000_000;
/// Recorded time between two commands of the history.
const COMMAND_GAP_MICROS: i64 = 60_000_000;
/// Commands per engine job when a run feeds the writer (so batches hold several commands).
const JOB_COMMANDS: usize = 5;
/// Background snapshots after this many records in the "crash after an older snapshot" runs.
const SNAPSHOT_EVERY_RECORDS_SMALL: u64 = 7;

/// Seeds event ids differently at every open, as production does.
static OPENS: AtomicU64 = AtomicU64::new(0);

/// A comparable answer: the outcome, or the error's text.
type Answer = Result<Outcome, String>;

fn sub(index: usize, id: &str, command: Command) -> Submission {
    let mut s = Submission::new(CommandId::parse(id).unwrap(), Actor::system(), command);
    s.recorded_at_micros = Some(HISTORY_START_MICROS + index as i64 * COMMAND_GAP_MICROS);
    s
}

/// A short realistic history that uses every command kind, with refusals (overdrafts, a
/// duplicate payment id, a payment into a closed month, a plan rejected by HRSS), retries of
/// earlier command ids with the same payload (answered, not recorded again) and one reuse of a
/// command id for a different command (an error, nothing recorded).
fn history() -> Vec<Submission> {
    let (l, j) = (lanzhou(), jiayuguan());
    let (mar, apr) = (p("2024-03"), p("2024-04"));
    let medical = BenefitType::MedicalTreatment;
    let mut c: Vec<(String, Command)> = Vec::new();
    let mut push = |id: String, command: Command| c.push((id, command));
    push("rates-1".into(), adjust_rates(p("2025-01"), 3, "0.6", &["50", "80", "120"]));
    push("budget-l".into(), adopt_budget(l, 2024, m("0.00"), m("200000.00")));
    push("budget-j".into(), adopt_budget(j, 2024, m("0.00"), m("100000.00")));
    push("budget-j-adj".into(), adjust_budget(j, 2024, m("0.00"), m("150000.00")));
    push("legacy-l".into(), consolidate(l, LegacyFundKind::Reserve, mar, m("3000.00")));
    push("prov-income".into(), provincial_income(ProvincialIncomeKind::Interest, mar, m("120.00")));
    for (region, name) in [(l, "l"), (j, "j")] {
        for batch_no in 0..3 {
            push(
                format!("col-{name}-{batch_no}"),
                collect(region, mar, m("4000.00"), &format!("TB-{name}-{batch_no}")),
            );
        }
        push(format!("refund-{name}"), refund(region, mar, &format!("TB-{name}-1"), m("500.00")));
        push(format!("xfer-too-much-{name}"), transfer(region, mar, m("99999.00")));
        push(format!("xfer-{name}"), transfer(region, mar, m("11500.00")));
    }
    push("fiscal-advance".into(), fiscal_advance(mar, m("50.00")));
    for command in plan_reviewed("P-L-03", l, mar, &[(Cat::Medical, m("9000.00")), (Cat::Appraisal, m("300.00"))]) {
        let id = format!("plan-l-{}", command.name());
        push(id, command);
    }
    push("alloc-l-1".into(), allocate("P-L-03", m("5000.00")));
    push("alloc-l-2".into(), allocate("P-L-03", m("4300.00")));
    push("alloc-l-over".into(), allocate("P-L-03", m("1.00")));
    push("submit-j".into(), submit("P-J-03", j, mar, &[(Cat::Medical, m("6000.00"))]));
    push("reject-j".into(), reject_plan("P-J-03", Department::Hrss, "lines do not match the case list"));
    push("approve-rejected-j".into(), approve("P-J-03"));
    for command in plan_allocated("P-J-03b", j, mar, &[(Cat::Medical, m("6000.00"))]) {
        let id = format!("plan-j-{}", command.name());
        push(id, command);
    }
    for i in 0..16 {
        let (region, name) = if i % 3 == 0 { (j, "j") } else { (l, "l") };
        push(format!("pay-{i}"), pay(&format!("PAY-{i}"), region, mar, medical, &format!("B-{}", i % 5), m("210.50")));
        if i == 4 {
            push("pay-dup".into(), pay("PAY-4", l, mar, medical, "B-9", m("1.00")));
            push("pay-1".into(), pay("PAY-1", l, mar, medical, "B-1", m("210.50")));
        }
        if i == 9 {
            push(format!("appraisal-{name}"), pay("APR-1", l, mar, BenefitType::AppraisalFee, "B-7", m("300.00")));
            push("reverse-2".into(), reverse("PAY-2", mar, m("10.50")));
            push("reverse-unknown".into(), reverse("PAY-NONE", mar, m("1.00")));
        }
    }
    push("pay-overdraft".into(), pay("PAY-BIG", l, mar, medical, "B-1", m("999999.00")));
    push("pay-employer".into(), pay("PAY-EMP", l, mar, BenefitType::RecoveryPeriodWages, "B-1", m("5.00")));
    push("close-l-03".into(), close(l, mar));
    push("pay-closed".into(), pay("PAY-LATE", l, mar, medical, "B-1", m("5.00")));
    push("close-l-03".into(), close(l, mar));
    // The same command id for a different command: refused before deciding, nothing recorded.
    push("pay-3".into(), pay("PAY-3-OTHER", l, mar, medical, "B-3", m("2.00")));
    for (region, name) in [(l, "l"), (j, "j")] {
        push(format!("col-{name}-apr"), collect(region, apr, m("2500.00"), &format!("TB-{name}-apr")));
        push(format!("xfer-{name}-apr"), transfer(region, apr, m("2500.00")));
    }
    for command in plan_allocated("P-L-04", l, apr, &[(Cat::Medical, m("2000.00"))]) {
        let id = format!("plan-l-04-{}", command.name());
        push(id, command);
    }
    for i in 0..8 {
        push(format!("pay-apr-{i}"), pay(&format!("PAY-APR-{i}"), l, apr, medical, &format!("B-{i}"), m("99.99")));
    }
    push("reverse-apr-0".into(), reverse("PAY-APR-0", apr, m("99.99")));
    push("reverse-apr-0-again".into(), reverse("PAY-APR-0", apr, m("0.01")));
    push("gap-2023".into(), assess_gap(2023));
    c.into_iter().enumerate().map(|(index, (id, command))| sub(index, &id, command)).collect()
}

/// A temporary data directory with a file log and a snapshot directory.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn log(&self) -> Arc<FileLog> {
        let options = FileOptions { segment_bytes: SEGMENT_BYTES, ..FileOptions::default() };
        Arc::new(FileLog::open(self.0.path().join("log"), FUND, options).unwrap().0)
    }

    fn open(&self, snapshot_every_records: u64) -> (Core<FileLog>, fundledger_engine::StartupReport) {
        let options = CoreOptions { snapshot_dir: Some(self.0.path().join("snapshots")), snapshot_every_records };
        Core::open(
            self.log(),
            Arc::new(Policy::gansu()),
            options,
            Box::new(ManualClock::new(0)),
            Box::new(HashIds::new(&OPENS.fetch_add(1, Ordering::Relaxed).to_le_bytes())),
            &mut |_, _| {},
        )
        .unwrap()
    }
}

fn answers(results: Vec<Result<Outcome, EngineError>>) -> Vec<Answer> {
    results.into_iter().map(|r| r.map_err(|e| e.to_string())).collect()
}

/// Runs `commands` through a writer thread, `JOB_COMMANDS` per job, waiting for each job.
fn run_engine(engine: &Engine<FileLog>, commands: &[Submission]) -> Vec<Answer> {
    let mut out = Vec::new();
    for job in commands.chunks(JOB_COMMANDS) {
        let rx = engine.enqueue(job.to_vec()).unwrap();
        out.extend(answers(rx.blocking_recv().unwrap()));
    }
    out
}

/// Runs `commands` straight through the core in batches of three (an importer's path).
fn run_core(core: &mut Core<FileLog>, commands: &[Submission]) -> Vec<Answer> {
    commands.chunks(3).flat_map(|batch| answers(core.execute(batch))).collect()
}

/// The reference: one uninterrupted run. Returns (state, views, every answer).
fn uninterrupted(commands: &[Submission]) -> (FundState, Views, Vec<Answer>) {
    let dir = Dir::new();
    let (core, _) = dir.open(u64::MAX);
    let engine = Engine::start(core, EngineConfig::default());
    let out = run_engine(&engine, commands);
    let core = engine.shutdown().unwrap().unwrap();
    (core.state().clone(), core.shared().views_clone(), out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `Engine::shutdown`: every queued command finishes and a snapshot at the head is written.
    Shutdown,
    /// The core is dropped right after its last acknowledged batch; snapshots were disabled.
    CrashWithoutSnapshot,
    /// The core is dropped right after its last acknowledged batch; background snapshots were
    /// taken every few records, so start-up loads an older one and replays the tail.
    CrashAfterOlderSnapshot,
}

#[test]
fn the_history_uses_every_command_kind_with_refusals_and_retries() {
    let commands = history();
    let (state, _, out) = uninterrupted(&commands);
    let kinds: std::collections::BTreeSet<&str> = commands.iter().map(|s| s.command.name()).collect();
    assert_eq!(kinds.len(), 17, "every command kind appears: {kinds:?}");
    let rejected = out.iter().filter(|a| matches!(a, Ok(Outcome::Rejected { .. }))).count();
    let replayed = out.iter().filter(|a| matches!(a, Ok(o) if o.replayed())).count();
    let errors = out.iter().filter(|a| a.is_err()).count();
    assert_eq!(rejected, 11, "refusals: {out:#?}");
    assert_eq!(replayed, 2, "the two retries are answered from the log");
    assert_eq!(errors, 1, "the reused command id");
    assert!(out.iter().filter(|a| matches!(a, Ok(o) if o.is_accepted())).count() >= 60);
    // The engine's state equals the rules applied to the commands one by one.
    let mut reference = Ledger::gansu();
    let mut seen = HashMap::new();
    for s in &commands {
        if seen.insert(s.command_id, s.command.clone()).is_none() {
            let _ = reference.try_apply(&s.command);
        }
    }
    assert_eq!(state, reference.state);
}

#[test]
fn a_restart_at_every_point_ends_as_an_uninterrupted_run() {
    let commands = history();
    let (expected_state, expected_views, expected) = uninterrupted(&commands);
    for k in 0..=commands.len() {
        let stop = [Stop::Shutdown, Stop::CrashWithoutSnapshot, Stop::CrashAfterOlderSnapshot][k % 3];
        let dir = Dir::new();
        let (before, head_at_stop) = match stop {
            Stop::Shutdown => {
                let (core, _) = dir.open(u64::MAX);
                let engine = Engine::start(core, EngineConfig::default());
                let out = run_engine(&engine, &commands[..k]);
                let core = engine.shutdown().unwrap().unwrap();
                (out, core.head().position)
            }
            Stop::CrashWithoutSnapshot | Stop::CrashAfterOlderSnapshot => {
                let every = if stop == Stop::CrashWithoutSnapshot { u64::MAX } else { SNAPSHOT_EVERY_RECORDS_SMALL };
                let (mut core, _) = dir.open(every);
                let out = run_core(&mut core, &commands[..k]);
                // Let a background snapshot finish (or not start); then the "crash".
                core.wait_for_snapshots();
                let head = core.head().position;
                drop(core);
                (out, head)
            }
        };
        assert_eq!(before[..], expected[..k], "k={k} {stop:?}: answers before the stop");
        let (mut core, report) = dir.open(u64::MAX);
        assert_eq!(report.head, head_at_stop, "k={k} {stop:?}: every acknowledged record is durable");
        match stop {
            Stop::Shutdown => {
                assert_eq!(report.snapshot_position, Some(head_at_stop), "k={k}");
                assert_eq!(report.replayed_records, 0, "k={k}");
            }
            Stop::CrashWithoutSnapshot => {
                assert_eq!(report.snapshot_position, None, "k={k}");
                assert_eq!(report.replayed_records, head_at_stop, "k={k}");
            }
            Stop::CrashAfterOlderSnapshot => {
                let from = report.snapshot_position.unwrap_or(0);
                assert!(head_at_stop < SNAPSHOT_EVERY_RECORDS_SMALL || from > 0, "k={k}: a snapshot was taken");
                assert_eq!(report.replayed_records, head_at_stop - from, "k={k}");
            }
        }
        assert!(report.snapshots_skipped.is_empty(), "k={k}: {:?}", report.snapshots_skipped);
        // Retries of everything acknowledged before the stop answer the same, at the same
        // positions, and append nothing.
        let retried = run_core(&mut core, &commands[..k]);
        for (i, (again, first)) in retried.iter().zip(&expected[..k]).enumerate() {
            match (again, first) {
                (Ok(again), Ok(first)) => {
                    assert!(again.replayed(), "k={k}, command {i}: {again:?}");
                    assert_eq!(again.last_position(), first.last_position(), "k={k}, command {i}");
                    assert_eq!(again.is_accepted(), first.is_accepted(), "k={k}, command {i}");
                }
                (Err(again), Err(first)) => assert_eq!(again, first, "k={k}, command {i}"),
                _ => panic!("k={k}, command {i}: {again:?} after the restart, {first:?} before"),
            }
        }
        assert_eq!(core.head().position, head_at_stop, "k={k}: retries append nothing");
        let after = run_core(&mut core, &commands[k..]);
        assert_eq!(after[..], expected[k..], "k={k} {stop:?}: answers after the restart");
        assert_eq!(core.state(), &expected_state, "k={k} {stop:?}");
        assert_eq!(core.shared().views_clone(), expected_views, "k={k} {stop:?}");
    }
}

/// The writer thread hands each batch's view update to the responder thread and takes the next
/// batch meanwhile, so a background snapshot must wait for the views to reach its position. A
/// start-up from every snapshot the writer took (each alone in its directory, then the log's
/// tail) ends with the uninterrupted run's state and views; a snapshot whose views lagged its
/// state would miss the lagging batch's events.
#[test]
fn snapshots_taken_by_the_writer_thread_hold_views_of_their_own_position() {
    let commands = history();
    let (expected_state, expected_views, _) = uninterrupted(&commands);
    let dir = Dir::new();
    let (core, _) = dir.open(SNAPSHOT_EVERY_RECORDS_SMALL);
    let engine = Engine::start(core, EngineConfig::default());
    let saved = tempfile::tempdir().unwrap();
    let live = dir.0.path().join("snapshots");
    let mut positions = std::collections::BTreeSet::new();
    let mut keep_new_snapshots = || {
        for path in list_snapshots(&live) {
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let position: u64 = name["snapshot-".len()..][..20].parse().unwrap();
            // The snapshotter keeps the newest two: an older one may go between listing and copying.
            if !positions.contains(&position) && std::fs::copy(&path, saved.path().join(&name)).is_ok() {
                positions.insert(position);
            }
        }
    };
    for job in commands.chunks(JOB_COMMANDS) {
        engine.enqueue(job.to_vec()).unwrap().blocking_recv().unwrap();
        keep_new_snapshots();
    }
    drop(engine.shutdown().unwrap().unwrap());
    drop(engine); // it holds the log open too
    keep_new_snapshots();
    // How many background snapshots there are depends on how fast the snapshot thread writes
    // (one starts only when the last is done); the first (the thread is idle at the start) and
    // the one at shutdown always are. Each job is one batch and starts at most one snapshot, so
    // none is pruned before it is listed.
    assert!(positions.len() >= 2, "snapshots taken along the way: {positions:?}");
    for position in positions {
        let name = format!("snapshot-{position:020}.fls");
        std::fs::remove_dir_all(&live).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        std::fs::copy(saved.path().join(&name), live.join(&name)).unwrap();
        let (core, report) = dir.open(u64::MAX);
        assert_eq!(report.snapshot_position, Some(position), "start-up used the snapshot at {position}");
        assert!(core.state() == &expected_state, "state from the snapshot at {position}");
        assert!(core.shared().views_clone() == expected_views, "views from the snapshot at {position}");
    }
}

/// Records of the log by command id: (first position, records) of each command's answer, and
/// how many times its first record occurs.
fn records_by_command(log: &FileLog) -> HashMap<CommandId, (u64, u32, usize)> {
    let head = block_on(log.head()).unwrap().position;
    let mut found: HashMap<CommandId, (u64, u32, usize)> = HashMap::new();
    replay(log, 1, head, |position, _, recorded| {
        if recorded.meta.index_in_command == 0 {
            let entry =
                found.entry(recorded.meta.command_id).or_insert((position, recorded.meta.records_in_command, 0));
            entry.2 += 1;
        }
        Ok(())
    })
    .unwrap();
    found
}

fn open_mem(storage: &MemStorage) -> (Arc<FaultyStorage>, Arc<FileLog>) {
    let faulty = Arc::new(FaultyStorage::new(Arc::new(storage.clone())));
    let options = FileOptions { segment_bytes: 1 << 20, prepare_ahead: false, ..FileOptions::default() };
    let log = FileLog::open_with(faulty.clone(), FUND, options).unwrap().0;
    (faulty, Arc::new(log))
}

fn open_core(log: Arc<FileLog>) -> Core<FileLog> {
    let options = CoreOptions { snapshot_dir: None, snapshot_every_records: u64::MAX };
    let policy = Arc::new(Policy::gansu());
    Core::open(log, policy, options, Box::new(ManualClock::new(0)), Box::new(HashIds::new(b"f")), &mut |_, _| {})
        .unwrap()
        .0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// The process dies; the page cache survives.
    Process,
    /// The machine loses power; only synced data survives.
    Power,
}

/// What the reopened log holds of the batch whose append failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Present,
    Absent,
    /// The store may decide either way (the bytes reached the page cache but the sync failed);
    /// all or nothing is still required.
    Either,
}

/// Acknowledged commands, then one batch whose append hits `fault`, then the rest refused.
fn a_store_failure_mid_batch(fault: Fault, crash: Crash, expect: Expect) {
    let commands = history();
    let (expected_state, expected_views, expected) = uninterrupted(&commands);
    // Commands acknowledged before the fault, and the batch that meets it (all new commands, so
    // every one of them would append).
    let acked = 40;
    let failing: Vec<Submission> = commands[acked..acked + JOB_COMMANDS].to_vec();
    assert!(expected[acked..acked + JOB_COMMANDS].iter().all(|a| matches!(a, Ok(o) if !o.replayed())));
    let storage = MemStorage::new();
    {
        let (faulty, log) = open_mem(&storage);
        let engine = Engine::start(open_core(log), EngineConfig::default());
        let before = run_engine(&engine, &commands[..acked]);
        assert_eq!(before[..], expected[..acked]);
        faulty.arm(fault);
        let rx = engine.enqueue(failing.clone()).unwrap();
        let refused = rx.blocking_recv().unwrap();
        assert!(faulty.triggered(), "{fault:?} fired");
        assert_eq!(refused.len(), failing.len());
        for r in &refused {
            assert!(matches!(r, Err(EngineError::Stopped(_))), "{fault:?}: the batch's callers are told: {r:?}");
        }
        // Every later command is refused, a retry of an acknowledged one included.
        let later = engine.submit_blocking(commands[acked + JOB_COMMANDS].clone());
        assert!(matches!(later, Err(EngineError::Stopped(_))), "{later:?}");
        let retry = engine.submit_blocking(commands[0].clone());
        assert!(matches!(retry, Err(EngineError::Stopped(_))), "{retry:?}");
        let core = engine.shutdown().unwrap().unwrap();
        assert!(core.stopped().is_some());
    }
    match crash {
        Crash::Process => storage.crash_process(),
        Crash::Power => storage.crash_power(),
    }
    let (_, log) = open_mem(&storage);
    let found = records_by_command(&log);
    // Every acknowledged command is present exactly once, at its acknowledged positions.
    for (s, answer) in commands[..acked].iter().zip(&expected[..acked]) {
        let Ok(outcome) = answer else { continue };
        let (first, count, times) = found[&s.command_id];
        assert_eq!(times, 1, "{}: present exactly once", s.command_id);
        assert_eq!(u64::from(count) - 1 + first, outcome.last_position());
    }
    let present = failing.iter().filter(|s| found.contains_key(&s.command_id)).count();
    assert!(present == 0 || present == failing.len(), "{fault:?}: all or nothing, found {present}");
    let acked_head =
        expected[..acked].iter().filter_map(|a| a.as_ref().ok()).map(Outcome::last_position).max().unwrap();
    let failing_records: u64 = expected[acked..acked + JOB_COMMANDS]
        .iter()
        .map(|a| match a.as_ref().unwrap() {
            Outcome::Accepted { positions, .. } => positions.clone().count() as u64,
            Outcome::Rejected { .. } => 1,
        })
        .sum();
    let head = block_on(log.head()).unwrap().position;
    match expect {
        Expect::Present => assert_eq!(present, failing.len(), "{fault:?} {crash:?}: the batch became durable"),
        Expect::Absent => assert_eq!(present, 0, "{fault:?} {crash:?}: the batch never became durable"),
        Expect::Either => {}
    }
    assert_eq!(head, acked_head + if present > 0 { failing_records } else { 0 }, "nothing else is in the log");
    // Retrying the unacknowledged batch with the same ids gives the uninterrupted run's answers
    // (replayed when they had become durable); then the rest of the history runs as usual.
    let mut core = open_core(log);
    let retried = answers(core.execute(&failing));
    for (again, first) in retried.iter().zip(&expected[acked..acked + JOB_COMMANDS]) {
        let (again, first) = (again.as_ref().unwrap(), first.as_ref().unwrap());
        assert_eq!(again.replayed(), present > 0, "{again:?}");
        assert_eq!(again.last_position(), first.last_position());
        assert_eq!(again.is_accepted(), first.is_accepted());
        if let (Outcome::Accepted { positions: a, .. }, Outcome::Accepted { positions: b, .. }) = (again, first) {
            assert_eq!(a, b);
        }
    }
    let rest = answers(core.execute(&commands[acked + JOB_COMMANDS..]));
    assert_eq!(rest[..], expected[acked + JOB_COMMANDS..]);
    assert_eq!(core.state(), &expected_state);
    assert_eq!(core.shared().views_clone(), expected_views);
    // No record of a refused-before-deciding command, and no record twice.
    let found = records_by_command(core.log());
    assert!(found.values().all(|(_, _, times)| *times == 1));
    let mut bodies = 0;
    replay(&**core.log(), 1, core.head().position, |_, _, r| {
        bodies += usize::from(matches!(r.body, RecordBody::Event(_) | RecordBody::Rejected { .. }));
        Ok(())
    })
    .unwrap();
    assert_eq!(bodies as u64, core.head().position);
}

#[test]
fn a_failed_sync_that_never_became_durable_loses_the_whole_unacknowledged_batch() {
    a_store_failure_mid_batch(Fault::FailSync { nth: 0, durable: false }, Crash::Power, Expect::Absent);
}

#[test]
fn a_failed_sync_seen_again_after_a_process_crash_is_all_or_nothing() {
    a_store_failure_mid_batch(Fault::FailSync { nth: 0, durable: false }, Crash::Process, Expect::Either);
}

#[test]
fn a_failed_sync_that_did_become_durable_keeps_the_whole_batch_and_retries_replay_it() {
    // The sync reached the disk and only its report failed: the batch survives a power loss,
    // although its callers were told `Stopped`. Retrying with the same ids answers `replayed`.
    a_store_failure_mid_batch(Fault::FailSync { nth: 0, durable: true }, Crash::Power, Expect::Present);
}

#[test]
fn a_torn_write_loses_the_whole_unacknowledged_batch() {
    for keep_bytes in [0, 1, 100, 700] {
        a_store_failure_mid_batch(Fault::TearWrite { nth: 0, keep_bytes }, Crash::Process, Expect::Absent);
        a_store_failure_mid_batch(Fault::TearWrite { nth: 0, keep_bytes }, Crash::Power, Expect::Absent);
    }
}

#[test]
fn a_failed_write_loses_the_whole_unacknowledged_batch() {
    a_store_failure_mid_batch(Fault::FailWrite { nth: 0 }, Crash::Process, Expect::Absent);
}
