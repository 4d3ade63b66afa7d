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

use fundledger_domain::{
    Actor, BeneficiaryRef, BenefitType, BudgetLines, Command, CommandId, ExpenditureCategory, IncomeCategory, Money,
    PaymentId, Period, PlanId, Policy, RegionCode, TaxBatchRef,
};
use fundledger_engine::{Core, CoreOptions, HashIds, Submission, SystemClock};
use fundledger_store::{FileLog, FileOptions};

fn setup(policy: &Policy) -> Vec<Submission> {
    let period = Period::new(2024, 3).expect("period");
    let amount = Money::from_fen(50_000_000_000).expect("money");
    let mut out = Vec::new();
    let mut push = |id: String, command: Command| {
        out.push(Submission::new(CommandId::parse(&id).expect("id"), Actor::system(), command));
    };
    for (u, unit) in policy.units.iter().enumerate() {
        let region = unit.code;
        let tax_batch = TaxBatchRef::parse(&format!("TB-{u}")).expect("tax batch");
        push(
            format!("col-{u}"),
            Command::RecordCollection { region, period, category: IncomeCategory::Premium, amount, tax_batch },
        );
        push(format!("xfer-{u}"), Command::RecordTransfer { region, period, amount });
        let lines = BudgetLines { income: vec![], expenditure: vec![(ExpenditureCategory::Medical, amount)] };
        push(format!("budget-{u}"), Command::AdoptBudget { region, year: 2024, lines });
        let plan_id = PlanId::parse(&format!("P-{u}")).expect("plan");
        push(
            format!("submit-{u}"),
            Command::SubmitPlan { plan_id, region, period, lines: vec![(ExpenditureCategory::Medical, amount)] },
        );
        push(format!("approve-{u}"), Command::ApprovePlan { plan_id });
        push(format!("review-{u}"), Command::ReviewPlan { plan_id });
        push(format!("alloc-{u}"), Command::AllocateFunds { plan_id, amount });
    }
    out
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
            let command = Command::RecordPayment {
                payment_id: PaymentId::parse(&format!("PAY-{i}")).unwrap(),
                region: regions[i % regions.len()],
                period: Period::new(2024, 3).unwrap(),
                benefit: BenefitType::MedicalTreatment,
                beneficiary: BeneficiaryRef::parse(&format!("B-{}", i % 50_000)).unwrap(),
                amount: Money::from_fen(12_345).unwrap(),
                basis: None,
            };
            Submission::new(CommandId::parse(&format!("cmd-{i}")).unwrap(), Actor::system(), command)
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
