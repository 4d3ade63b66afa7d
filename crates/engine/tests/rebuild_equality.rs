//! Rebuild equality over a long random history: the live views equal a rebuild from scratch, a
//! start-up from each of several snapshots taken along the way, and rebuilds as of positions and
//! recorded times observed during the live run.
//!
//! The history (about 60,000 commands, seeded) runs a realistic month of the fund for all 16
//! paying units over and over: collections in tax batches, refunds, transfers, plans through
//! HRSS and Finance (some rejected and resubmitted), allocations in tranches, many benefit
//! payments, reversals, month closes; with refusals (overdrafts, duplicate payment ids, transfers
//! beyond the untransferred income) and retries of earlier command ids.

use std::path::PathBuf;
use std::sync::Arc;

use fundledger_domain::testkit::*;
use fundledger_domain::{
    Actor, BenefitType, Command, CommandId, Department, ExpenditureCategory as Cat, Money, Period, Policy, RegionCode,
};
use fundledger_engine::core::replay;
use fundledger_engine::snapshot::list_snapshots;
use fundledger_engine::{Core, CoreOptions, HashIds, ManualClock, Outcome, Submission, rebuild};
use fundledger_projections::{AsOf, Views};
use fundledger_store::{FileLog, FileOptions};

const FUND: &str = "CN-620000-work-injury";
/// Months of history; with 16 units this gives about 60,000 commands.
const HISTORY_MONTHS: u32 = 18;
/// Benefit payments per unit and month (before refusals and retries).
const PAYMENTS_PER_UNIT_MONTH: u32 = 170;
/// A background snapshot after this many new records: several along the history.
const SNAPSHOT_EVERY_RECORDS: u64 = 12_000;
/// Largest batch the live run hands the core (one append each).
const BATCH_COMMANDS_MAX: u64 = 400;
/// Every this many batches the live views are kept for the as-of checks.
const CHECKPOINT_EVERY_BATCHES: usize = 53;
/// Recorded time of the first command (2024-01-01T00:00:00Z) and the step between commands.
const HISTORY_START_MICROS: i64 = 1_704_067_200_000_000;
const COMMAND_GAP_MICROS: i64 = 1_000_000;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `permille` / 1000.
    fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }
}

fn fen(amount: i64) -> Money {
    Money::from_fen(amount).unwrap()
}

struct History {
    rng: Rng,
    out: Vec<Submission>,
}

impl History {
    fn push(&mut self, id: String, command: Command) {
        let mut s = Submission::new(CommandId::parse(&id).unwrap(), Actor::system(), command);
        s.recorded_at_micros = Some(HISTORY_START_MICROS + self.out.len() as i64 * COMMAND_GAP_MICROS);
        self.out.push(s);
        // Now and then a client retries an earlier command with the same id and payload.
        if self.rng.chance(4) {
            let earlier = self.rng.below(self.out.len() as u64) as usize;
            let mut again = self.out[earlier].clone();
            again.recorded_at_micros = Some(HISTORY_START_MICROS + self.out.len() as i64 * COMMAND_GAP_MICROS);
            self.out.push(again);
        }
    }

    fn month(&mut self, units: &[RegionCode], period: Period) {
        for (u, &region) in units.iter().enumerate() {
            let tag = format!("{period}-{u}");
            if period.month() == 1 {
                self.push(format!("budget-{tag}"), adopt_budget(region, period.year(), m("0.00"), m("200000000.00")));
            }
            let mut untransferred = 0i64;
            for b in 0..3 {
                // 2 M to 6 M yuan, in fen.
                let amount = 200_000_000 + self.rng.below(400_000_000) as i64;
                untransferred += amount;
                self.push(format!("col-{tag}-{b}"), collect(region, period, fen(amount), &format!("TB-{tag}-{b}")));
            }
            if self.rng.chance(100) {
                self.push(format!("refund-{tag}"), refund(region, period, &format!("TB-{tag}-0"), fen(10_000)));
                untransferred -= 10_000;
            }
            if self.rng.chance(50) {
                self.push(format!("xfer-over-{tag}"), transfer(region, period, fen(untransferred + 1)));
            }
            self.push(format!("xfer-{tag}"), transfer(region, period, fen(untransferred)));
            let line = untransferred / 2;
            let mut plan = format!("P-{tag}");
            if self.rng.chance(60) {
                self.push(format!("submit-{plan}"), submit(&plan, region, period, &[(Cat::Medical, fen(line))]));
                let reason = "lines do not match the case list";
                self.push(format!("reject-{plan}"), reject_plan(&plan, Department::Hrss, reason));
                plan = format!("P-{tag}-b");
            }
            for command in plan_reviewed(&plan, region, period, &[(Cat::Medical, fen(line))]) {
                let id = format!("{}-{plan}", command.name());
                self.push(id, command);
            }
            let first_tranche = line * 3 / 5;
            self.push(format!("alloc-1-{plan}"), allocate(&plan, fen(first_tranche)));
            self.push(format!("alloc-2-{plan}"), allocate(&plan, fen(line - first_tranche)));
            let mut paid = 0i64;
            let mut recorded: Vec<String> = Vec::new();
            let average = line / i64::from(PAYMENTS_PER_UNIT_MONTH) / 2;
            for i in 0..PAYMENTS_PER_UNIT_MONTH {
                let payment = format!("PAY-{tag}-{i}");
                let amount = 1 + self.rng.below(2 * average as u64) as i64;
                let who = format!("B-{u}-{}", self.rng.below(400));
                let command = if self.rng.chance(5) {
                    // Beyond the plan line: refused.
                    pay(&payment, region, period, BenefitType::MedicalTreatment, &who, fen(line + 1))
                } else if self.rng.chance(5) && !recorded.is_empty() {
                    // A payment id already used: refused.
                    let used = &recorded[self.rng.below(recorded.len() as u64) as usize];
                    pay(used, region, period, BenefitType::Rehabilitation, &who, fen(amount))
                } else {
                    paid += amount;
                    recorded.push(payment.clone());
                    pay(&payment, region, period, BenefitType::MedicalTreatment, &who, fen(amount))
                };
                self.push(format!("pay-{tag}-{i}"), command);
                if self.rng.chance(10) && !recorded.is_empty() {
                    let reversed = recorded[self.rng.below(recorded.len() as u64) as usize].clone();
                    self.push(format!("rev-{tag}-{i}"), reverse(&reversed, period, fen(1)));
                }
            }
            assert!(paid <= line);
            self.push(format!("close-{tag}"), close(region, period));
        }
    }
}

fn history() -> Vec<Submission> {
    let policy = Policy::gansu();
    let units: Vec<RegionCode> = policy.units.iter().map(|u| u.code).collect();
    let mut h = History { rng: Rng(0x9e37_79b9_7f4a_7c15), out: Vec::new() };
    let mut period = policy.reform_period();
    for _ in 0..HISTORY_MONTHS {
        h.month(&units, period);
        period = period.next();
    }
    h.out
}

fn open(dir: &std::path::Path, snapshot_dir: PathBuf, snapshot_every_records: u64) -> (Core<FileLog>, u64, u64) {
    let log = Arc::new(FileLog::open(dir.join("log"), FUND, FileOptions::default()).unwrap().0);
    let options = CoreOptions { snapshot_dir: Some(snapshot_dir), snapshot_every_records };
    let (core, report) = Core::open(
        log,
        Arc::new(Policy::gansu()),
        options,
        Box::new(ManualClock::new(0)),
        Box::new(HashIds::new(b"rebuild-equality")),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.snapshots_skipped.is_empty(), "{:?}", report.snapshots_skipped);
    (core, report.snapshot_position.unwrap_or(0), report.replayed_records)
}

/// The live views right after a batch, with the position and recorded time it ended at.
struct Checkpoint {
    position: u64,
    time: i64,
    views: Views,
}

#[test]
fn rebuilds_and_snapshot_start_ups_equal_the_live_views() {
    let commands = history();
    assert!(commands.len() >= 50_000, "{} commands", commands.len());
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let live_snapshots = dir.path().join("snapshots");
    let (mut core, _, _) = open(dir.path(), live_snapshots.clone(), SNAPSHOT_EVERY_RECORDS);
    let mut rng = Rng(7);
    let mut checkpoints = Vec::new();
    let mut saved_positions: Vec<u64> = Vec::new();
    let (mut accepted, mut rejected, mut replayed) = (0, 0, 0);
    let mut next = 0;
    let mut batches = 0;
    while next < commands.len() {
        let size = (1 + rng.below(BATCH_COMMANDS_MAX) as usize).min(commands.len() - next);
        for result in core.execute(&commands[next..next + size]) {
            match result.unwrap() {
                o if o.replayed() => replayed += 1,
                Outcome::Accepted { .. } => accepted += 1,
                Outcome::Rejected { .. } => rejected += 1,
            }
        }
        next += size;
        batches += 1;
        // Keep every snapshot as it appears (only the newest two stay in the live directory).
        core.wait_for_snapshots();
        for path in list_snapshots(&live_snapshots) {
            let name = path.file_name().unwrap().to_owned();
            let position: u64 = name.to_str().unwrap()["snapshot-".len()..][..20].parse().unwrap();
            if !saved_positions.contains(&position) {
                std::fs::copy(&path, saved.join(&name)).unwrap();
                saved_positions.push(position);
            }
        }
        if batches % CHECKPOINT_EVERY_BATCHES == 0 {
            let position = core.head().position;
            let mut time = 0;
            replay(&**core.log(), position, position, |_, t, _| {
                time = t;
                Ok(())
            })
            .unwrap();
            checkpoints.push(Checkpoint { position, time, views: core.shared().views_clone() });
        }
    }
    assert!(rejected > 500 && replayed > 100 && accepted > 40_000, "{accepted} {rejected} {replayed}");
    assert!(saved_positions.len() >= 4, "snapshots taken along the way: {saved_positions:?}");
    assert!(checkpoints.len() >= 4);
    let head = core.head().position;
    let live_views = core.shared().views_clone();
    let live_state = core.state().clone();
    let policy = core.policy().clone();
    let log = core.log().clone();
    assert_eq!(live_state.check_identities(), Ok(()));

    // From scratch, as of the head.
    let (rebuilt, summary) = rebuild(&*log, policy.clone(), AsOf::Head, &mut |_, _| {}).unwrap();
    assert_eq!(summary.through_position, head);
    assert_eq!(summary.records, head);
    assert_eq!(summary.events, live_views.events_applied());
    assert!(rebuilt == live_views, "a rebuild from scratch equals the live views");

    // As of each checkpoint's position, and of its recorded time (exactly, and just before the
    // next record's time).
    for c in &checkpoints {
        let (views, summary) = rebuild(&*log, policy.clone(), AsOf::Position(c.position), &mut |_, _| {}).unwrap();
        assert_eq!(summary.through_position, c.position);
        assert!(views == c.views, "as of position {}", c.position);
        let mut next_time = i64::MAX;
        replay(&*log, c.position + 1, c.position + 1, |_, t, _| {
            next_time = t;
            Ok(())
        })
        .unwrap();
        assert!(next_time > c.time, "times increase between batches");
        for t in [c.time, next_time - 1] {
            let (views, summary) = rebuild(&*log, policy.clone(), AsOf::Time(t), &mut |_, _| {}).unwrap();
            assert_eq!(summary.through_position, c.position, "as of time {t}");
            assert!(views == c.views, "as of time {t} (position {})", c.position);
        }
        // One microsecond before the checkpoint's time leaves out at least its last record.
        let (_, summary) = rebuild(&*log, policy.clone(), AsOf::Time(c.time - 1), &mut |_, _| {}).unwrap();
        assert!(summary.through_position < c.position);
    }
    drop(log);
    drop(core);

    // Start-up from each saved snapshot, alone in its directory, then the log's tail.
    saved_positions.sort_unstable();
    for position in saved_positions {
        let alone = dir.path().join(format!("alone-{position}"));
        std::fs::create_dir_all(&alone).unwrap();
        let name = format!("snapshot-{position:020}.fls");
        std::fs::copy(saved.join(&name), alone.join(&name)).unwrap();
        let (core, from, replayed) = open(dir.path(), alone, u64::MAX);
        assert_eq!(from, position, "start-up used the snapshot at {position}");
        assert_eq!(replayed, head - position);
        assert!(core.state() == &live_state, "state from the snapshot at {position}");
        assert!(core.shared().views_clone() == live_views, "views from the snapshot at {position}");
    }
}
