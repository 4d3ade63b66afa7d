//! Measures the fold alone: ~2 million realistic in-memory events (16 regions, 3 years; ~75%
//! benefit payments, ~15% collections, the rest transfers, plans, allocations, reversals and
//! closes) folded into `Views`, printing events per second. Decoding and reading the log are
//! not part of this figure. Run: `cargo bench -p fundledger-projections --bench apply`.

use std::hint::black_box;
use std::time::Instant;

use fundledger_domain::{
    BeneficiaryRef, BenefitType, BudgetLines, Event, ExpenditureCategory, IncomeCategory, Money, PaymentId, Period,
    PlanId, Policy, ReversalReason, TaxBatchRef,
};
use fundledger_projections::{EventMeta, Views};

/// Events generated for one fold, roughly.
const EVENTS_TARGET: usize = 2_000_000;
/// Folds timed; the best and the median are reported.
const RUNS: usize = 5;
/// Payments per region and period: 2M × 75% / (16 regions × 36 periods).
const PAYMENTS_PER_REGION_PERIOD: usize = EVENTS_TARGET * 3 / 4 / (16 * 36);
/// Collections per region and period: 2M × 15% / 576.
const COLLECTIONS_PER_REGION_PERIOD: usize = EVENTS_TARGET * 15 / 100 / (16 * 36);
/// Beneficiaries per region (a month's payments spread over them).
const BENEFICIARIES_PER_REGION: u64 = 1500;
/// One payment in this many is reversed.
const REVERSAL_EVERY_PAYMENTS: u64 = 200;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// xorshift64*: a tiny deterministic generator, so the workload is the same every run.
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
}

/// Benefit types paid without a standard basis in the synthetic mix, and their typical fen.
const BENEFITS: [(BenefitType, i64); 6] = [
    (BenefitType::MedicalTreatment, 350_000),
    (BenefitType::Rehabilitation, 120_000),
    (BenefitType::HospitalMealAllowance, 3_000),
    (BenefitType::AssistiveDevice, 80_000),
    (BenefitType::OneTimeMedicalSubsidy, 2_500_000),
    (BenefitType::AppraisalFee, 30_000),
];

fn generate(policy: &Policy) -> Vec<(EventMeta, Event)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<(EventMeta, Event)> = Vec::with_capacity(EVENTS_TARGET + EVENTS_TARGET / 10);
    let mut position = 0u64;
    let mut push = |out: &mut Vec<(EventMeta, Event)>, at: i64, event: Event| {
        position += 1;
        out.push((EventMeta { position, recorded_at_micros: at }, event));
    };
    let regions: Vec<_> = policy.units.iter().map(|u| u.code).collect();
    let mut payment_seq = 0u64;
    let mut batch_seq = 0u64;
    let mut recent_payments: Vec<(PaymentId, BenefitType, ExpenditureCategory, Period, Money)> = Vec::new();
    for year in 2024u16..=2026 {
        for region in &regions {
            let lines = BudgetLines {
                income: vec![(IncomeCategory::Premium, Money::yuan(90_000_000))],
                expenditure: vec![(ExpenditureCategory::Medical, Money::yuan(80_000_000))],
            };
            push(&mut out, 0, Event::BudgetAdopted { region: *region, year, lines });
        }
        for period in Period::months_of(year) {
            let start = fundledger_projections::supervision::period_end_micros(period.prev());
            for (ri, region) in regions.iter().enumerate() {
                let mut at = start + ri as i64 * 1000;
                let mut tick = || {
                    at += 1_000_000;
                    at
                };
                let plan_id = PlanId::parse(&format!("PL-{region}-{period}")).unwrap();
                let plan_total = Money::yuan(5_000_000);
                push(
                    &mut out,
                    tick(),
                    Event::PlanSubmitted {
                        plan_id,
                        region: *region,
                        period,
                        lines: vec![
                            (ExpenditureCategory::Medical, Money::yuan(3_000_000)),
                            (ExpenditureCategory::Disability, Money::yuan(1_500_000)),
                            (ExpenditureCategory::Appraisal, Money::yuan(500_000)),
                        ],
                    },
                );
                push(&mut out, tick(), Event::PlanApproved { plan_id, region: *region, period });
                push(&mut out, tick(), Event::PlanReviewed { plan_id, region: *region, period });
                for c in 0..COLLECTIONS_PER_REGION_PERIOD {
                    batch_seq += 1;
                    let amount = Money::from_fen(5_000_000 + rng.below(20_000_000) as i64).unwrap();
                    let tax_batch = TaxBatchRef::parse(&format!("TB-{batch_seq}")).unwrap();
                    push(
                        &mut out,
                        tick(),
                        Event::CollectionRecorded {
                            region: *region,
                            period,
                            category: IncomeCategory::Premium,
                            amount,
                            tax_batch,
                        },
                    );
                    // Income is remitted in batches: one transfer per two collections.
                    if c % 2 == 1 {
                        push(&mut out, tick(), Event::TransferRecorded { region: *region, period, amount });
                    }
                }
                for tranche in 1..=2u32 {
                    push(
                        &mut out,
                        tick(),
                        Event::FundsAllocated {
                            plan_id,
                            region: *region,
                            period,
                            tranche,
                            amount: Money::from_fen(plan_total.to_fen() / 2).unwrap(),
                        },
                    );
                }
                recent_payments.clear();
                for _ in 0..PAYMENTS_PER_REGION_PERIOD {
                    payment_seq += 1;
                    let (benefit, typical) = BENEFITS[rng.below(BENEFITS.len() as u64) as usize];
                    // 0.5x-2x the typical amount; one payment in 2000 is ten times larger.
                    let mut amount = typical / 2 + (rng.below(typical as u64 * 3 / 2) as i64);
                    if rng.below(2000) == 0 {
                        amount *= 10;
                    }
                    let who = if rng.below(5000) == 0 {
                        format!("B-shared-{}", rng.below(50))
                    } else {
                        format!("B-{region}-{}", rng.below(BENEFICIARIES_PER_REGION))
                    };
                    let payment_id = PaymentId::parse(&format!("P-{payment_seq}")).unwrap();
                    let amount = Money::from_fen(amount.max(1)).unwrap();
                    let category = benefit.category().unwrap();
                    push(
                        &mut out,
                        tick(),
                        Event::BenefitPaid {
                            payment_id,
                            region: *region,
                            period,
                            benefit,
                            category,
                            beneficiary: BeneficiaryRef::parse(&who).unwrap(),
                            amount,
                            basis: None,
                        },
                    );
                    recent_payments.push((payment_id, benefit, category, period, amount));
                    if payment_seq.is_multiple_of(REVERSAL_EVERY_PAYMENTS) {
                        let (payment_id, benefit, category, paid_period, amount) =
                            recent_payments[rng.below(recent_payments.len() as u64) as usize];
                        push(
                            &mut out,
                            tick(),
                            Event::PaymentReversed {
                                payment_id,
                                region: *region,
                                period,
                                paid_period,
                                benefit,
                                category,
                                amount,
                                reason: ReversalReason::Returned,
                            },
                        );
                    }
                }
                // Closes on the 5th of the next month; one region in eight closes on the 20th.
                let close_day = if rng.below(8) == 0 { 20 } else { 5 };
                let close_at =
                    fundledger_projections::supervision::period_end_micros(period) + close_day * MICROS_PER_DAY;
                push(&mut out, close_at.max(tick()), Event::PeriodClosed { region: *region, period });
            }
        }
    }
    // The close timestamps jump ahead of the next region's events; keep recorded times
    // non-decreasing along the log, as the engine's clock does.
    let mut latest = i64::MIN;
    for (meta, _) in &mut out {
        latest = latest.max(meta.recorded_at_micros);
        meta.recorded_at_micros = latest;
    }
    out
}

fn main() {
    let policy = Policy::gansu();
    let events = generate(&policy);
    let payments = events.iter().filter(|(_, e)| matches!(e, Event::BenefitPaid { .. })).count();
    let collections = events.iter().filter(|(_, e)| matches!(e, Event::CollectionRecorded { .. })).count();
    println!(
        "workload: {} events ({:.1}% payments, {:.1}% collections), {} regions, 36 periods",
        events.len(),
        100.0 * payments as f64 / events.len() as f64,
        100.0 * collections as f64 / events.len() as f64,
        policy.units.len()
    );
    // Alternating, in the same run: one event at a time, and `apply_all` over reads of 4,096
    // events (as the rebuild folds), which prefetches ahead.
    let (mut one_by_one, mut batched) = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut views = Views::new(&policy);
        for (meta, event) in &events {
            views.apply(meta, event);
        }
        one_by_one.push(events.len() as f64 / started.elapsed().as_secs_f64());
        let single = black_box(views);
        let started = Instant::now();
        let mut views = Views::new(&policy);
        for read in events.chunks(4_096) {
            views.apply_all(read);
        }
        batched.push(events.len() as f64 / started.elapsed().as_secs_f64());
        assert!(views == single, "apply_all folds to the same views");
        last = Some(black_box(views));
    }
    let views = last.expect("at least one run");
    for (name, rates) in [("one by one", &mut one_by_one), ("apply_all", &mut batched)] {
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "fold {name}: best {:.2} M events/s, median {:.2} M events/s over {RUNS} runs",
            rates[RUNS - 1] / 1e6,
            rates[RUNS / 2] / 1e6
        );
    }
    let s = views.supervision();
    println!(
        "signals: {} reversals, {} outliers, {} multi-region beneficiaries, {} late closes; {} payments indexed, {} open periods tracked",
        s.reversals().len(),
        s.outliers().len(),
        s.multi_region_beneficiaries().len(),
        s.late_closes().len(),
        s.payments_indexed(),
        s.open_periods_tracked()
    );
    println!(
        "supervision positions: {} bytes ({:.2} per payment indexed)",
        s.positions_memory_bytes(),
        s.positions_memory_bytes() as f64 / s.payments_indexed().max(1) as f64
    );
    let reconciled = views.two_lines().reconciliations().iter().all(|r| r.reconciled);
    println!(
        "reconciled: {reconciled}; latest payable months: {:?}",
        views.health().latest().and_then(|p| p.payable_months_rounded)
    );
}
