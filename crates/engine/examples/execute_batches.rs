//! The engine core's own cost per command, without the queue, threads or gRPC: `n` medical
//! payments (default 1,000,000) through `Core::execute` in batches of `batch` (default 1,000),
//! over the file store in a temporary directory (one sync per batch). This is the ceiling for
//! `ExecuteBatch` and the writer's share of every other figure; profile it with `perf record`.
//!
//! ```sh
//! cargo build --release -p fundledger-engine --example execute_batches
//! target/release/examples/execute_batches 1000000 1000
//! ```

use std::sync::Arc;
use std::time::Instant;

use fundledger_domain::{Actor, ExpenditureCategory, Money, Period, Policy, RegionCode};
use fundledger_engine::{Core, CoreOptions, HashIds, Submission, SystemClock};
use fundledger_store::{FileLog, FileOptions};

fn setup(policy: &Policy) -> Vec<Submission> {
    let period = Period::new(2024, 3).expect("period");
    let amount = Money::from_fen(50_000_000_000).expect("money");
    fundledger_demo::ready_to_pay(policy, period, ExpenditureCategory::Medical, amount)
        .into_iter()
        .map(|(id, command)| Submission::new(id, Actor::system(), command))
        .collect()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let batch: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let policy = Arc::new(Policy::gansu());
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path().join("log"), &policy.fund_id, FileOptions::default()).unwrap().0);
    let options = CoreOptions { snapshot_dir: None, snapshot_every_records: u64::MAX };
    let (mut core, _) =
        Core::open(log, policy.clone(), options, Box::new(SystemClock), Box::new(HashIds::new(b"p")), &mut |_, _| {})
            .unwrap();
    for r in core.execute(&setup(&policy)) {
        assert!(r.unwrap().is_accepted());
    }
    let regions: Vec<RegionCode> = policy.units.iter().map(|u| u.code).collect();
    let subs: Vec<Submission> = (0..n)
        .map(|i| {
            let region = regions[i % regions.len()];
            let period = Period::new(2024, 3).unwrap();
            let (id, command) =
                fundledger_demo::medical_payment(&i.to_string(), &(i % 50_000).to_string(), region, period);
            Submission::new(id, Actor::system(), command)
        })
        .collect();
    let started = Instant::now();
    for chunk in subs.chunks(batch) {
        for r in core.execute(chunk) {
            assert!(r.unwrap().is_accepted());
        }
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "{n} payments in batches of {batch}: {s:.2} s, {:.0} commands/s, {:.2} us/command",
        n as f64 / s,
        s * 1e6 / n as f64
    );
}
