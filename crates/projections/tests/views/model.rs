//! Property test: random workloads decided by the real rules (refused commands are dropped, as
//! the engine never passes them to views), folded into `Views`, checked against a naive model of
//! plain i64 sums and against the domain's own state; every reconciliation holds; and folding
//! split at any point, cloned (or serialised and restored) and continued gives equal views.

use std::collections::BTreeMap;

use fundledger_domain::testkit::{batch, beneficiary, jiayuguan, jinchang, lanzhou, p, payment_id, plan_id};
use fundledger_domain::{
    BenefitType, BudgetLines, Command, Context, Department, Event, ExpenditureCategory, FundState, IncomeCategory,
    LegacyFundKind, Money, Period, PlanStatus, Policy, ProvincialIncomeKind, RegionCode, ReversalReason, decide,
};
use fundledger_projections::{EventMeta, Views};
use proptest::prelude::*;

/// What a step of a workload tries; indices pick a region, period, payment, ...; amounts are
/// shaped from the current state so that most steps are accepted.
#[derive(Debug, Clone)]
enum Op {
    Collect {
        r: usize,
        p: usize,
        fen: i64,
        other: bool,
    },
    Refund {
        r: usize,
        p: usize,
        pct: i64,
    },
    Transfer {
        r: usize,
        p: usize,
        pct: i64,
    },
    ProvincialIncome {
        p: usize,
        advance: bool,
        fen: i64,
    },
    Consolidate {
        r: usize,
        fen: i64,
    },
    Budget {
        r: usize,
    },
    /// Moves the region-period's plan one step on: submit, approve, review, then allocate.
    Advance {
        r: usize,
        p: usize,
        fen: i64,
        pct: i64,
    },
    Reject {
        r: usize,
        p: usize,
    },
    Allocate {
        r: usize,
        p: usize,
        pct: i64,
    },
    Pay {
        r: usize,
        p: usize,
        benefit: usize,
        who: usize,
        fen: i64,
    },
    Reverse {
        k: usize,
        p: usize,
        pct: i64,
    },
    Close {
        r: usize,
        p: usize,
    },
}

const REGIONS: usize = 3;
const PERIODS: usize = 3;
const BENEFITS: [BenefitType; 5] = [
    BenefitType::MedicalTreatment,
    BenefitType::Rehabilitation,
    BenefitType::OneTimeMedicalSubsidy,
    BenefitType::AppraisalFee,
    BenefitType::OtherExpenditure,
];

fn region(i: usize) -> RegionCode {
    [lanzhou(), jiayuguan(), jinchang()][i % REGIONS]
}

fn period(i: usize) -> Period {
    [p("2024-01"), p("2024-02"), p("2024-03")][i % PERIODS]
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0..REGIONS;
    let pp = 0..PERIODS;
    prop_oneof![
        4 => (r.clone(), pp.clone(), 1i64..5_000_000, any::<bool>())
            .prop_map(|(r, p, fen, other)| Op::Collect { r, p, fen, other }),
        1 => (r.clone(), pp.clone(), 1i64..=100).prop_map(|(r, p, pct)| Op::Refund { r, p, pct }),
        3 => (r.clone(), pp.clone(), 1i64..=100).prop_map(|(r, p, pct)| Op::Transfer { r, p, pct }),
        3 => (pp.clone(), any::<bool>(), 1i64..5_000_000).prop_map(|(p, advance, fen)| Op::ProvincialIncome { p, advance, fen }),
        1 => (r.clone(), 0i64..1_000_000).prop_map(|(r, fen)| Op::Consolidate { r, fen }),
        1 => r.clone().prop_map(|r| Op::Budget { r }),
        8 => (r.clone(), pp.clone(), 100i64..3_000_000, 1i64..=100)
            .prop_map(|(r, p, fen, pct)| Op::Advance { r, p, fen, pct }),
        1 => (r.clone(), pp.clone()).prop_map(|(r, p)| Op::Reject { r, p }),
        3 => (r.clone(), pp.clone(), 1i64..=100).prop_map(|(r, p, pct)| Op::Allocate { r, p, pct }),
        10 => (r.clone(), pp.clone(), 0..BENEFITS.len(), 0usize..4, 1i64..500_000)
            .prop_map(|(r, p, benefit, who, fen)| Op::Pay { r, p, benefit, who, fen }),
        2 => (any::<usize>(), pp.clone(), 1i64..=100).prop_map(|(k, p, pct)| Op::Reverse { k, p, pct }),
        1 => (r, pp).prop_map(|(r, p)| Op::Close { r, p }),
    ]
}

/// Whole fen of any amount: the domain's `Money::ZERO` has scale 0, which `Money::to_fen`
/// debug-asserts against, so go through the decimal.
trait Fen {
    fn fen(self) -> i64;
}

impl Fen for Money {
    fn fen(self) -> i64 {
        let mut d = self.as_decimal();
        d.rescale(2);
        i64::try_from(d.mantissa()).unwrap()
    }
}

fn fen(f: i64) -> Money {
    Money::from_fen(f.max(1)).unwrap()
}

/// The workload's state besides the fund's: the names it has handed out.
#[derive(Default)]
struct Names {
    batches: Vec<(String, RegionCode, Period)>,
    payments: Vec<String>,
    plans: usize,
}

/// Turns a step into a command, reading the state for plausible amounts; `None` when the step
/// has nothing to act on.
fn command(op: &Op, state: &FundState, names: &mut Names) -> Option<Command> {
    Some(match *op {
        Op::Collect { r, p, fen: f, other } => {
            let name = format!("T{}", names.batches.len());
            names.batches.push((name.clone(), region(r), period(p)));
            let category = if other { IncomeCategory::Other } else { IncomeCategory::Premium };
            Command::RecordCollection {
                region: region(r),
                period: period(p),
                category,
                amount: fen(f),
                tax_batch: batch(&name),
            }
        }
        Op::Refund { r, p, pct } => {
            let (name, _, _) = names.batches.iter().rev().find(|(_, br, bp)| *br == region(r) && *bp == period(p))?;
            let left = state.untransferred(region(r), period(p)).fen();
            Command::RefundCollection {
                region: region(r),
                period: period(p),
                tax_batch: batch(name),
                amount: fen(left * pct / 100),
            }
        }
        Op::Transfer { r, p, pct } => {
            let left = state.untransferred(region(r), period(p)).fen();
            Command::RecordTransfer { region: region(r), period: period(p), amount: fen(left * pct / 100) }
        }
        Op::ProvincialIncome { p, advance, fen: f } => Command::RecordProvincialIncome {
            kind: if advance { ProvincialIncomeKind::FiscalAdvance } else { ProvincialIncomeKind::Interest },
            period: period(p),
            amount: fen(f),
        },
        Op::Consolidate { r, fen: f } => Command::ConsolidateLegacyReserve {
            region: region(r),
            kind: LegacyFundKind::Reserve,
            period: p("2024-01"),
            amount: Money::from_fen(f).unwrap(),
        },
        Op::Budget { r } => Command::AdoptBudget {
            region: region(r),
            year: 2024,
            lines: BudgetLines {
                income: vec![(IncomeCategory::Premium, Money::yuan(100_000))],
                expenditure: vec![(ExpenditureCategory::Medical, Money::yuan(1_000_000))],
            },
        },
        Op::Advance { r, p, fen: f, pct } => match state.open_plan(region(r), period(p)) {
            None => {
                names.plans += 1;
                Command::SubmitPlan {
                    plan_id: plan_id(&format!("PL-{}", names.plans)),
                    region: region(r),
                    period: period(p),
                    lines: vec![
                        (ExpenditureCategory::Medical, fen(f)),
                        (ExpenditureCategory::Disability, fen(f / 2)),
                        (ExpenditureCategory::Appraisal, fen(10_000)),
                        (ExpenditureCategory::Other, fen(10_000)),
                    ],
                }
            }
            Some(id) => match state.plan(id)?.status {
                PlanStatus::Submitted => Command::ApprovePlan { plan_id: id },
                PlanStatus::Approved => Command::ReviewPlan { plan_id: id },
                _ => return command(&Op::Allocate { r, p, pct }, state, names),
            },
        },
        Op::Reject { r, p } => {
            let id = state.open_plan(region(r), period(p))?;
            let by =
                if state.plan(id)?.status == PlanStatus::Approved { Department::Finance } else { Department::Hrss };
            Command::RejectPlan { plan_id: id, by, reason: "test".into() }
        }
        Op::Allocate { r, p, pct } => {
            let id = state.open_plan(region(r), period(p))?;
            let plan = state.plan(id)?;
            let left = plan.total().fen() - plan.allocated.fen();
            let amount = (left * pct / 100).min(state.pooled_balance().fen());
            Command::AllocateFunds { plan_id: id, amount: fen(amount) }
        }
        Op::Pay { r, p, benefit, who, fen: f } => {
            let benefit = BENEFITS[benefit];
            let id = state.open_plan(region(r), period(p))?;
            let plan = state.plan(id)?;
            let category = benefit.category().unwrap();
            let room = plan.line(category).fen() - plan.paid(category).fen();
            let amount = f.min(room).min(state.expenditure_balance(region(r)).fen());
            let name = format!("P{}", names.payments.len());
            names.payments.push(name.clone());
            Command::RecordPayment {
                payment_id: payment_id(&name),
                region: region(r),
                period: period(p),
                benefit,
                // Refs over 16 bytes take the supervision view's fingerprinted path.
                beneficiary: beneficiary(&if who < 2 { format!("B-{who}") } else { format!("B-long-pseudonym-{who}") }),
                amount: fen(amount),
                basis: None,
            }
        }
        Op::Reverse { k, p, pct } => {
            if names.payments.is_empty() {
                return None;
            }
            let id = payment_id(&names.payments[k % names.payments.len()]);
            let payment = state.payment(id)?;
            let left = payment.amount.fen() - payment.reversed.fen();
            Command::ReversePayment {
                payment_id: id,
                period: period(p).max(payment.period),
                amount: fen(left * pct / 100),
                reason: ReversalReason::Recovered,
            }
        }
        Op::Close { r, p } => Command::ClosePeriod { region: region(r), period: period(p) },
    })
}

/// Runs a workload through `decide`; returns the accepted events with positions and the state.
fn accepted(policy: &Policy, ops: &[Op]) -> (Vec<(EventMeta, Event)>, FundState) {
    let mut state = FundState::new();
    let mut names = Names::default();
    let mut out = Vec::new();
    // Every region has a 2024 budget, so allocations are limited by plans and the pooled fund.
    let preamble: Vec<Op> = (0..REGIONS).map(|r| Op::Budget { r }).collect();
    for op in preamble.iter().chain(ops) {
        let Some(command) = command(op, &state, &mut names) else { continue };
        let Ok(events) = decide(&state, &command, &Context { policy }) else { continue };
        for event in events {
            state.apply(&event);
            let position = out.len() as u64 + 1;
            out.push((EventMeta { position, recorded_at_micros: position as i64 * 1_000 }, event));
        }
    }
    (out, state)
}

/// The naive model: plain sums per region and period.
#[derive(Default, Debug, PartialEq, Eq, Clone, Copy)]
struct Sums {
    collected: i64,
    refunded: i64,
    transferred: i64,
    allocated: i64,
    paid: i64,
    reversed: i64,
}

fn naive(records: &[(EventMeta, Event)]) -> (BTreeMap<(RegionCode, Period), Sums>, i64) {
    let mut rows: BTreeMap<(RegionCode, Period), Sums> = BTreeMap::new();
    let mut pooled = 0i64;
    for (_, event) in records {
        match event {
            Event::CollectionRecorded { region, period, amount, .. } => {
                rows.entry((*region, *period)).or_default().collected += amount.fen()
            }
            Event::CollectionRefunded { region, period, amount, .. } => {
                rows.entry((*region, *period)).or_default().refunded += amount.fen()
            }
            Event::TransferRecorded { region, period, amount } => {
                rows.entry((*region, *period)).or_default().transferred += amount.fen();
                pooled += amount.fen();
            }
            Event::FundsAllocated { region, period, amount, .. } => {
                rows.entry((*region, *period)).or_default().allocated += amount.fen();
                pooled -= amount.fen();
            }
            Event::BenefitPaid { region, period, amount, .. } => {
                rows.entry((*region, *period)).or_default().paid += amount.fen()
            }
            Event::PaymentReversed { region, period, amount, .. } => {
                rows.entry((*region, *period)).or_default().reversed += amount.fen()
            }
            Event::ProvincialIncomeRecorded { amount, .. } | Event::LegacyReserveConsolidated { amount, .. } => {
                pooled += amount.fen()
            }
            _ => {}
        }
    }
    (rows, pooled)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn views_match_the_naive_model_and_survive_splits(ops in prop::collection::vec(op(), 1..200), split in any::<prop::sample::Index>()) {
        let policy = Policy::gansu();
        let (records, state) = accepted(&policy, &ops);
        let mut views = Views::new(&policy);
        for (meta, event) in &records {
            views.apply(meta, event);
        }

        // The two-lines columns equal the naive sums, row by row.
        let (model, pooled) = naive(&records);
        let rows = views.two_lines().rows();
        let got: BTreeMap<(RegionCode, Period), Sums> = rows
            .iter()
            .filter(|r| model.contains_key(&(r.region, r.period)))
            .map(|r| ((r.region, r.period), Sums {
                collected: r.income.collected.fen(),
                refunded: r.income.refunded.fen(),
                transferred: r.income.transferred.fen(),
                allocated: r.expenditure.allocated.fen(),
                paid: r.expenditure.paid.fen(),
                reversed: r.expenditure.reversed.fen(),
            }))
            .collect();
        prop_assert_eq!(&got, &model);
        for r in &rows {
            let s = model.get(&(r.region, r.period)).copied().unwrap_or_default();
            prop_assert_eq!(r.income.untransferred.fen(), s.collected - s.refunded - s.transferred);
            // The carried balance: running sum over the region's earlier periods.
            let carried: i64 = model
                .range((r.region, Period::new(1990, 1).unwrap())..=(r.region, r.period))
                .map(|(_, s)| s.allocated - s.paid + s.reversed)
                .sum();
            prop_assert_eq!(r.expenditure.balance.fen(), carried);
        }

        // Pooled balance: naive sum, provincial view, two-lines running balance, domain state.
        prop_assert_eq!(views.provincial().pooled_balance().fen(), pooled);
        prop_assert_eq!(views.two_lines().pooled_balance(), state.pooled_balance());
        prop_assert_eq!(
            views.provincial().pooled_by_period().last().map_or(0, |p| p.closing_balance.fen()),
            pooled
        );
        for i in 0..REGIONS {
            prop_assert_eq!(views.two_lines().expenditure_balance(region(i)), state.expenditure_balance(region(i)));
            let untransferred: i64 = (0..PERIODS).map(|j| state.untransferred(region(i), period(j)).fen()).sum();
            prop_assert_eq!(views.two_lines().untransferred(region(i)).fen(), untransferred);
        }
        // Fund balance in the health series: pooled plus expenditure accounts.
        let accounts: i64 = (0..REGIONS).map(|i| state.expenditure_balance(region(i)).fen()).sum();
        prop_assert_eq!(views.health().latest().map_or(0, |p| p.fund_balance.fen()), pooled + accounts);

        for rec in views.two_lines().reconciliations() {
            prop_assert!(rec.reconciled && rec.difference.is_zero(), "{:?}", rec);
        }

        // Split, clone, continue: equal. Split, serialise, restore, continue: equal and the
        // same bytes.
        let at = split.index(records.len() + 1);
        let mut first = Views::new(&policy);
        for (meta, event) in &records[..at] {
            first.apply(meta, event);
        }
        let mut cloned = first.clone();
        let mut restored: Views = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        for (meta, event) in &records[at..] {
            cloned.apply(meta, event);
            restored.apply(meta, event);
        }
        prop_assert_eq!(&cloned, &views);
        prop_assert_eq!(&restored, &views);
        // The batched fold (with its prefetching) in two runs equals the fold one by one.
        let mut batched = Views::new(&policy);
        batched.apply_all(&records[..at]);
        batched.apply_all(&records[at..]);
        prop_assert_eq!(&batched, &views);
        prop_assert_eq!(serde_json::to_string(&restored).unwrap(), serde_json::to_string(&views).unwrap());
    }
}
