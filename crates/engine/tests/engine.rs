//! End-to-end tests of the engine on the file store in temporary directories: group commit,
//! idempotency across restarts, snapshots, rebuild equality, subscriptions, overload and store
//! failure.

use std::sync::Arc;

use fundledger_domain::testkit::*;
use fundledger_domain::{Actor, Command, CommandId, ExpenditureCategory as Cat, FundState, Policy, Reason, Role};
use fundledger_engine::{
    Core, CoreOptions, Engine, EngineConfig, EngineError, HashIds, ManualClock, Outcome, Submission, rebuild,
};
use fundledger_projections::AsOf;
use fundledger_store::{EventLog, FileLog, FileOptions, block_on};

const FUND: &str = "CN-620000-work-injury";

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn log(&self) -> Arc<FileLog> {
        let (log, _) = FileLog::open(
            self.0.path().join("log"),
            FUND,
            FileOptions { segment_bytes: 1 << 20, ..FileOptions::default() },
        )
        .unwrap();
        Arc::new(log)
    }

    fn options(&self) -> CoreOptions {
        CoreOptions { snapshot_dir: Some(self.0.path().join("snapshots")), snapshot_every_records: 50 }
    }

    fn core(&self) -> Core<FileLog> {
        self.open_at(1_717_200_000_000_000).0
    }

    fn open_at(&self, clock_micros: i64) -> (Core<FileLog>, fundledger_engine::StartupReport) {
        Core::open(
            self.log(),
            Arc::new(Policy::gansu()),
            self.options(),
            Box::new(ManualClock::new(clock_micros)),
            Box::new(HashIds::new(b"test")),
            &mut |_, _| {},
        )
        .unwrap()
    }
}

fn sub(id: &str, command: Command) -> Submission {
    Submission::new(CommandId::parse(id).unwrap(), Actor::system(), command)
}

/// A realistic little history: funding, a budget, a plan through review and allocation, payments.
fn history() -> Vec<Command> {
    let mut t = Ledger::gansu();
    t.ready_to_pay("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("5000.00"))]);
    let mut commands = Vec::new();
    // Re-derive the commands the testkit ran, by replaying its setup in the same order.
    commands.extend(collected_and_transferred(lanzhou(), p("2024-03"), m("5000.00"), "TB-1"));
    commands.push(adopt_budget(lanzhou(), 2024, m("0.00"), m("100000.00")));
    commands.extend(plan_allocated("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("5000.00"))]));
    for i in 0..20 {
        commands.push(pay(
            &format!("PAY-{i}"),
            lanzhou(),
            p("2024-03"),
            fundledger_domain::BenefitType::MedicalTreatment,
            &format!("B-{i}"),
            m("100.00"),
        ));
    }
    commands
}

fn reference_state(commands: &[Command]) -> FundState {
    let mut t = Ledger::gansu();
    for c in commands {
        let _ = t.try_apply(c);
    }
    t.state
}

#[test]
fn commands_are_decided_in_order_and_answered_after_commit() {
    let dir = Dir::new();
    let mut core = dir.core();
    let commands = history();
    let subs: Vec<_> = commands.iter().enumerate().map(|(i, c)| sub(&format!("C{i}"), c.clone())).collect();
    let results = core.execute(&subs);
    assert!(results.iter().all(|r| matches!(r, Ok(o) if o.is_accepted())), "{results:?}");
    assert_eq!(core.head().position, commands.len() as u64);
    assert_eq!(core.state(), &reference_state(&commands));
    // The views equal a rebuild from the log.
    let (rebuilt, summary) = rebuild(&**core.log(), core.policy().clone(), AsOf::Head, &mut |_, _| {}).unwrap();
    assert_eq!(summary.through_position, commands.len() as u64);
    assert_eq!(core.shared().views_clone(), rebuilt);
}

#[test]
fn a_retry_returns_the_original_outcome_even_after_restart() {
    let dir = Dir::new();
    let first = {
        let mut core = dir.core();
        let out = core.execute(&[sub("C1", collect(lanzhou(), p("2024-03"), m("10.00"), "TB-1"))]);
        let refused = core.execute(&[sub("C2", transfer(lanzhou(), p("2024-03"), m("99.00")))]);
        assert!(
            matches!(&refused[0], Ok(Outcome::Rejected { rejection, .. }) if rejection.reason == Reason::TransferExceedsUntransferred)
        );
        out.into_iter().next().unwrap().unwrap()
    };
    let mut core = dir.core();
    let head = core.head().position;
    let again = core.execute(&[sub("C1", collect(lanzhou(), p("2024-03"), m("10.00"), "TB-1"))]);
    let again = again.into_iter().next().unwrap().unwrap();
    assert!(again.replayed());
    assert_eq!(again.last_position(), first.last_position());
    // The refusal is answered the same way, even though the state would now allow... nothing new.
    let refused = core.execute(&[sub("C2", transfer(lanzhou(), p("2024-03"), m("99.00")))]);
    assert!(matches!(&refused[0], Ok(Outcome::Rejected { replayed: true, .. })));
    assert_eq!(core.head().position, head, "retries append nothing");
    let other = core.execute(&[sub("C1", collect(lanzhou(), p("2024-03"), m("11.00"), "TB-1"))]);
    assert!(matches!(&other[0], Err(EngineError::CommandIdReused { .. })));
    assert_eq!(core.head().position, head);
}

#[test]
fn concurrent_submitters_are_group_committed() {
    let dir = Dir::new();
    let engine = Arc::new(Engine::start(dir.core(), EngineConfig::default()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        let c = collect(lanzhou(), p("2024-03"), m("1.00"), &format!("TB-{t}-{i}"));
                        engine.submit_blocking(sub(&format!("C-{t}-{i}"), c)).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut positions: Vec<u64> =
        threads.into_iter().flat_map(|h| h.join().unwrap()).map(|o| o.last_position()).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=400).collect::<Vec<_>>(), "every command got its own durable position");
    let core = engine.shutdown().unwrap().unwrap();
    assert_eq!(core.state().untransferred(lanzhou(), p("2024-03")), m("400.00"));
    assert!(engine.stats().batches.load(std::sync::atomic::Ordering::Relaxed) <= 400);
}

#[test]
fn closed_loop_callers_each_wait_for_their_answers_and_report_a_refusal() {
    use fundledger_engine::load::{Callers, closed_loop};
    for callers in [Callers::Threads, Callers::Tasks] {
        let dir = Dir::new();
        let engine = Arc::new(Engine::start(dir.core(), EngineConfig::default()));
        let work: Vec<Vec<Submission>> = (0..6)
            .map(|c| {
                (0..20)
                    .map(|i| {
                        sub(&format!("L-{c}-{i}"), collect(lanzhou(), p("2024-03"), m("1.00"), &format!("TB-{c}-{i}")))
                    })
                    .collect()
            })
            .collect();
        closed_loop(&engine, work, callers).expect("every collection is accepted");
        assert_eq!(block_on(engine.log().head()).unwrap().position, 120, "{callers:?}");
        // A transfer of more than was collected is refused: the load says which, and why.
        let refused = vec![vec![sub("L-too-much", transfer(lanzhou(), p("2024-03"), m("1000.00")))]];
        let why = closed_loop(&engine, refused, callers).expect_err("a refusal is reported");
        assert!(why.contains("not accepted") && why.contains("L-too-much"), "{callers:?}: {why}");
        drop(engine);
    }
}

#[test]
fn start_up_from_a_damaged_snapshot_replays_the_log() {
    let dir = Dir::new();
    let commands = history();
    let expected_views = {
        let mut core = dir.core();
        for (i, c) in commands.iter().enumerate() {
            core.execute(&[sub(&format!("C{i}"), c.clone())]);
        }
        core.snapshot_now().unwrap();
        core.wait_for_snapshots();
        core.shared().views_clone()
    };
    let snapshots = fundledger_engine::snapshot::list_snapshots(&dir.0.path().join("snapshots"));
    assert!(!snapshots.is_empty());
    // Intact: start-up uses the newest snapshot and equals the live views.
    let (core, report) = dir.open_at(0);
    assert_eq!(report.snapshot_position, Some(commands.len() as u64));
    assert_eq!(core.shared().views_clone(), expected_views);
    drop(core);
    // Damage every snapshot: each is skipped with a reason, and a full replay gives the same views.
    for s in &snapshots {
        let mut bytes = std::fs::read(s).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(s, bytes).unwrap();
    }
    let (core, report) = dir.open_at(0);
    assert_eq!(report.snapshot_position, None);
    assert_eq!(report.snapshots_skipped.len(), snapshots.len());
    assert!(report.snapshots_skipped.iter().all(|(_, why)| why.contains("checksum")));
    assert_eq!(report.replayed_records, commands.len() as u64);
    assert_eq!(core.shared().views_clone(), expected_views);
    assert_eq!(core.state(), &reference_state(&commands));
}

#[test]
fn a_snapshot_of_another_history_is_skipped_by_its_header() {
    let (ours, theirs) = (Dir::new(), Dir::new());
    let commands = history();
    for (dir, prefix) in [(&ours, "A"), (&theirs, "B")] {
        let mut core = dir.core();
        for (i, c) in commands.iter().enumerate() {
            core.execute(&[sub(&format!("{prefix}{i}"), c.clone())]);
        }
        core.snapshot_now().unwrap();
        core.wait_for_snapshots();
    }
    // Their snapshot, at the same position as ours but of other records, replaces ours, and
    // its body is damaged too: the header check refuses it before any decoding would.
    let snapshot = |dir: &Dir| fundledger_engine::snapshot::list_snapshots(&dir.0.path().join("snapshots"));
    let (mine, other) = (snapshot(&ours), snapshot(&theirs));
    assert_eq!(mine.len(), 1);
    let mut bytes = std::fs::read(&other[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&mine[0], bytes).unwrap();
    let (core, report) = ours.open_at(0);
    assert_eq!(report.snapshot_position, None);
    assert_eq!(report.snapshots_skipped.len(), 1);
    assert!(report.snapshots_skipped[0].1.contains("differs from the snapshot's"), "{:?}", report.snapshots_skipped);
    assert_eq!(report.replayed_records, commands.len() as u64);
    assert_eq!(core.state(), &reference_state(&commands));
}

#[test]
fn a_subscription_catches_up_then_follows_live_appends() {
    let dir = Dir::new();
    let engine = Engine::start(dir.core(), EngineConfig::default());
    for i in 0..5 {
        engine
            .submit_blocking(sub(&format!("A{i}"), collect(lanzhou(), p("2024-03"), m("1.00"), &format!("T{i}"))))
            .unwrap();
    }
    let mut subscription = fundledger_engine::Subscription::new(engine.log().clone(), 3, 1000).unwrap();
    let mut seen = Vec::new();
    while let Some(r) = subscription.try_next().unwrap() {
        seen.push(r.position);
    }
    assert_eq!(seen, vec![3, 4, 5]);
    assert!(subscription.is_live());
    for i in 5..8 {
        engine
            .submit_blocking(sub(&format!("A{i}"), collect(lanzhou(), p("2024-03"), m("1.00"), &format!("T{i}"))))
            .unwrap();
        seen.push(subscription.next_blocking().unwrap().position);
    }
    assert_eq!(seen, vec![3, 4, 5, 6, 7, 8]);
    let head = block_on(engine.log().head()).unwrap();
    assert_eq!(head.position, 8);
}

#[test]
fn actors_are_recorded_with_their_role() {
    let dir = Dir::new();
    let mut core = dir.core();
    let actor = Actor { principal: "lanzhou-tax".into(), role: Role::RegionTaxBureau, region: Some(lanzhou()) };
    let s = Submission::new(
        CommandId::parse("X1").unwrap(),
        actor.clone(),
        collect(lanzhou(), p("2024-03"), m("3.00"), "T"),
    );
    core.execute(&[s]);
    let mut reader = fundledger_engine::LogReader::new(core.log().clone(), 1).unwrap();
    let record = reader.next_up_to(1).unwrap().unwrap();
    assert_eq!(record.recorded.meta.actor, actor);
    assert_eq!(record.prev_hash, core.log().genesis());
}
