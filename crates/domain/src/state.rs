//! `FundState`: the decision state, folded from events by `apply`. It holds exactly what the rules
//! need to decide the next command, and the running totals behind the balance identities.
//!
//! `apply` trusts its events (they were decided against this same state, or read back from a
//! verified log); it asserts the invariants that are cheap to check, so a bug cannot leave a
//! negative balance or a broken identity behind unnoticed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::category::{ExpenditureCategory, IncomeCategory, LegacyFundKind};
use crate::command::BudgetLines;
use crate::event::Event;
use crate::ids::{PaymentId, PlanId, RegionCode, TaxBatchRef};
use crate::money::Money;
use crate::payments::{PaymentBook, PaymentRecord};
use crate::period::Period;

/// Where a spending plan stands in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Submitted,
    Approved,
    Reviewed,
    Rejected,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Submitted => "submitted",
            PlanStatus::Approved => "approved",
            PlanStatus::Reviewed => "reviewed",
            PlanStatus::Rejected => "rejected",
        }
    }
}

/// A spending plan and what has been allocated and paid against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub region: RegionCode,
    pub period: Period,
    pub status: PlanStatus,
    pub lines: BTreeMap<ExpenditureCategory, Money>,
    pub allocated: Money,
    pub tranches: u32,
    /// Net of reversals, per category.
    pub paid: BTreeMap<ExpenditureCategory, Money>,
}

impl Plan {
    pub fn total(&self) -> Money {
        self.lines.values().copied().sum()
    }

    pub fn line(&self, category: ExpenditureCategory) -> Money {
        self.lines.get(&category).copied().unwrap_or(Money::ZERO)
    }

    pub fn paid(&self, category: ExpenditureCategory) -> Money {
        self.paid.get(&category).copied().unwrap_or(Money::ZERO)
    }
}

/// A tax batch and what was refunded of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxBatch {
    pub region: RegionCode,
    pub period: Period,
    pub category: IncomeCategory,
    pub collected: Money,
    pub refunded: Money,
}

/// A region's budget for a year and the allocations counted against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub lines: BudgetLines,
    pub allocated: Money,
}

/// One paying unit's own books.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionState {
    /// The expenditure account (支出户) balance.
    pub expenditure_balance: Money,
    /// Collected but not yet transferred income, per period (the income account).
    pub untransferred: BTreeMap<Period, Money>,
    /// Income collected net of refunds, per year (for gap shares).
    pub net_income_by_year: BTreeMap<u16, Money>,
    pub closed: BTreeSet<Period>,
    pub legacy_consolidated: Option<LegacyFundKind>,
}

impl RegionState {
    pub fn untransferred(&self, period: Period) -> Money {
        self.untransferred.get(&period).copied().unwrap_or(Money::ZERO)
    }

    pub fn untransferred_total(&self) -> Money {
        self.untransferred.values().copied().sum()
    }
}

/// Running totals since the beginning of the ledger; the balance identities are stated on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    pub collected: Money,
    pub refunded: Money,
    pub transferred: Money,
    pub provincial_income: Money,
    pub fiscal_advances: Money,
    pub consolidated: Money,
    pub allocated: Money,
    pub paid: Money,
    pub reversed: Money,
}

/// A dated version of a risk class's rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateVersion {
    pub effective: Period,
    pub benchmark_rate_pct: Decimal,
    pub allowed_floats_pct: Vec<Decimal>,
}

/// The whole decision state of one fund.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FundState {
    pub(crate) pooled_balance: Money,
    pub(crate) regions: BTreeMap<RegionCode, RegionState>,
    pub(crate) plans: HashMap<PlanId, Plan>,
    /// The open (not rejected) plan of each region and period.
    pub(crate) open_plans: HashMap<(RegionCode, Period), PlanId>,
    /// Every payment, and the periodic benefits paid (beneficiary, benefit, period) and not
    /// fully reversed.
    pub(crate) payments: PaymentBook,
    pub(crate) tax_batches: HashMap<TaxBatchRef, TaxBatch>,
    pub(crate) budgets: BTreeMap<(RegionCode, u16), Budget>,
    /// Province-wide premium income net of refunds, per year (for the prevention cap).
    pub(crate) premium_income_by_year: BTreeMap<u16, Money>,
    /// Province-wide prevention spending net of reversals, per year.
    pub(crate) prevention_paid_by_year: BTreeMap<u16, Money>,
    /// Fiscal advances per year: the gap the pooled fund could not cover itself.
    pub(crate) fiscal_advances_by_year: BTreeMap<u16, Money>,
    pub(crate) rates: BTreeMap<u8, Vec<RateVersion>>,
    pub(crate) gap_assessed: BTreeSet<u16>,
    pub(crate) totals: Totals,
    /// Events applied so far.
    pub(crate) events_applied: u64,
}

impl FundState {
    pub fn new() -> FundState {
        FundState::default()
    }

    /// The provincial fiscal special account (the pooled fund).
    pub fn pooled_balance(&self) -> Money {
        self.pooled_balance
    }

    /// A region's expenditure account balance.
    pub fn expenditure_balance(&self, region: RegionCode) -> Money {
        self.regions.get(&region).map_or(Money::ZERO, |r| r.expenditure_balance)
    }

    /// A region's collected but untransferred income for a period.
    pub fn untransferred(&self, region: RegionCode, period: Period) -> Money {
        self.regions.get(&region).map_or(Money::ZERO, |r| r.untransferred(period))
    }

    pub fn region(&self, region: RegionCode) -> Option<&RegionState> {
        self.regions.get(&region)
    }

    pub fn regions(&self) -> impl Iterator<Item = (&RegionCode, &RegionState)> {
        self.regions.iter()
    }

    pub fn plan(&self, plan_id: PlanId) -> Option<&Plan> {
        self.plans.get(&plan_id)
    }

    pub fn open_plan(&self, region: RegionCode, period: Period) -> Option<PlanId> {
        self.open_plans.get(&(region, period)).copied()
    }

    pub fn payment(&self, payment_id: PaymentId) -> Option<PaymentRecord> {
        self.payments.get(&payment_id)
    }

    /// The payment book (for its size in memory reports).
    pub fn payment_book(&self) -> &PaymentBook {
        &self.payments
    }

    pub fn budget(&self, region: RegionCode, year: u16) -> Option<&Budget> {
        self.budgets.get(&(region, year))
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    pub fn is_closed(&self, region: RegionCode, period: Period) -> bool {
        self.regions.get(&region).is_some_and(|r| r.closed.contains(&period))
    }

    pub fn premium_income(&self, year: u16) -> Option<Money> {
        self.premium_income_by_year.get(&year).copied()
    }

    pub fn prevention_paid(&self, year: u16) -> Money {
        self.prevention_paid_by_year.get(&year).copied().unwrap_or(Money::ZERO)
    }

    pub fn fiscal_advances(&self, year: u16) -> Money {
        self.fiscal_advances_by_year.get(&year).copied().unwrap_or(Money::ZERO)
    }

    pub fn rate_history(&self, class: u8) -> &[RateVersion] {
        self.rates.get(&class).map_or(&[], Vec::as_slice)
    }

    pub fn gap_assessed(&self, year: u16) -> bool {
        self.gap_assessed.contains(&year)
    }

    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    /// Checks the balance identities on the running totals:
    /// pooled = transfers in + provincial income + consolidations − allocations, and
    /// Σ expenditure balances = allocations − payments + reversals, and
    /// Σ untransferred = collected − refunded − transferred. Returns the first that fails.
    pub fn check_identities(&self) -> Result<(), String> {
        let t = &self.totals;
        let pooled = t.transferred.add(t.provincial_income).add(t.consolidated).sub(t.allocated);
        if pooled != self.pooled_balance {
            return Err(format!("pooled balance {} but identity gives {}", self.pooled_balance, pooled));
        }
        let spend: Money = self.regions.values().map(|r| r.expenditure_balance).sum();
        let expected = t.allocated.sub(t.paid).add(t.reversed);
        if spend != expected {
            return Err(format!("expenditure balances sum to {spend} but identity gives {expected}"));
        }
        let untransferred: Money = self.regions.values().map(RegionState::untransferred_total).sum();
        let expected = t.collected.sub(t.refunded).sub(t.transferred);
        if untransferred != expected {
            return Err(format!("untransferred income sums to {untransferred} but identity gives {expected}"));
        }
        Ok(())
    }

    /// Folds one event into the state. Events come from `decide` against this state, or from a
    /// verified log, so a violated invariant here is a programmer error and panics.
    /// Starts loading what deciding `command` will look up at random in large tables (a
    /// payment's id and beneficiary): a writer calls it a few commands ahead, so that the cache
    /// misses overlap the commands in between. Changes nothing.
    pub fn prefetch(&self, command: &crate::Command) {
        if let crate::Command::RecordPayment { payment_id, beneficiary, .. } = command {
            self.payments.prefetch(payment_id, beneficiary);
        }
    }

    pub fn apply(&mut self, event: &Event) {
        self.events_applied += 1;
        match event {
            Event::CollectionRecorded { region, period, category, amount, tax_batch } => {
                let r = self.regions.entry(*region).or_default();
                add_to(r.untransferred.entry(*period).or_default(), *amount);
                add_to(r.net_income_by_year.entry(period.year()).or_default(), *amount);
                if *category == IncomeCategory::Premium {
                    add_to(self.premium_income_by_year.entry(period.year()).or_default(), *amount);
                }
                self.tax_batches.insert(
                    *tax_batch,
                    TaxBatch {
                        region: *region,
                        period: *period,
                        category: *category,
                        collected: *amount,
                        refunded: Money::ZERO,
                    },
                );
                add_to(&mut self.totals.collected, *amount);
            }
            Event::CollectionRefunded { region, period, category, tax_batch, amount } => {
                let r = self.regions.entry(*region).or_default();
                sub_from(r.untransferred.entry(*period).or_default(), *amount);
                sub_from(r.net_income_by_year.entry(period.year()).or_default(), *amount);
                if *category == IncomeCategory::Premium {
                    sub_from(self.premium_income_by_year.entry(period.year()).or_default(), *amount);
                }
                let batch = self.tax_batches.get_mut(tax_batch).expect("refund of a known batch");
                add_to(&mut batch.refunded, *amount);
                assert!(batch.refunded <= batch.collected, "refunds exceed batch {tax_batch}");
                add_to(&mut self.totals.refunded, *amount);
            }
            Event::TransferRecorded { region, period, amount } => {
                let r = self.regions.entry(*region).or_default();
                sub_from(r.untransferred.entry(*period).or_default(), *amount);
                add_to(&mut self.pooled_balance, *amount);
                add_to(&mut self.totals.transferred, *amount);
            }
            Event::ProvincialIncomeRecorded { kind, period, amount } => {
                add_to(&mut self.pooled_balance, *amount);
                add_to(&mut self.totals.provincial_income, *amount);
                if *kind == crate::category::ProvincialIncomeKind::FiscalAdvance {
                    add_to(&mut self.totals.fiscal_advances, *amount);
                    add_to(self.fiscal_advances_by_year.entry(period.year()).or_default(), *amount);
                }
            }
            Event::LegacyReserveConsolidated { region, kind, amount, .. } => {
                let r = self.regions.entry(*region).or_default();
                assert!(r.legacy_consolidated.is_none(), "legacy reserve of {region} consolidated twice");
                r.legacy_consolidated = Some(*kind);
                add_to(&mut self.pooled_balance, *amount);
                add_to(&mut self.totals.consolidated, *amount);
            }
            Event::BudgetAdopted { region, year, lines } => {
                let previous =
                    self.budgets.insert((*region, *year), Budget { lines: lines.clone(), allocated: Money::ZERO });
                assert!(previous.is_none(), "budget of {region} for {year} adopted twice");
            }
            Event::BudgetAdjusted { region, year, lines } => {
                let budget = self.budgets.get_mut(&(*region, *year)).expect("adjusting an adopted budget");
                budget.lines = lines.clone();
            }
            Event::PlanSubmitted { plan_id, region, period, lines } => {
                let plan = Plan {
                    region: *region,
                    period: *period,
                    status: PlanStatus::Submitted,
                    lines: lines.iter().copied().collect(),
                    allocated: Money::ZERO,
                    tranches: 0,
                    paid: BTreeMap::new(),
                };
                assert!(self.plans.insert(*plan_id, plan).is_none(), "plan {plan_id} submitted twice");
                let open = self.open_plans.insert((*region, *period), *plan_id);
                assert!(open.is_none(), "two open plans for {region} {period}");
            }
            Event::PlanApproved { plan_id, .. } => {
                self.set_status(*plan_id, PlanStatus::Submitted, PlanStatus::Approved)
            }
            Event::PlanReviewed { plan_id, .. } => {
                self.set_status(*plan_id, PlanStatus::Approved, PlanStatus::Reviewed)
            }
            Event::PlanRejected { plan_id, region, period, .. } => {
                let plan = self.plans.get_mut(plan_id).expect("rejecting a known plan");
                assert!(matches!(plan.status, PlanStatus::Submitted | PlanStatus::Approved));
                plan.status = PlanStatus::Rejected;
                self.open_plans.remove(&(*region, *period));
            }
            Event::FundsAllocated { plan_id, region, period, tranche, amount } => {
                let plan = self.plans.get_mut(plan_id).expect("allocating to a known plan");
                assert_eq!(plan.status, PlanStatus::Reviewed, "allocation to an unreviewed plan");
                add_to(&mut plan.allocated, *amount);
                plan.tranches += 1;
                assert_eq!(plan.tranches, *tranche, "tranches of {plan_id} out of order");
                assert!(plan.allocated <= plan.total(), "allocations exceed plan {plan_id}");
                if let Some(budget) = self.budgets.get_mut(&(*region, period.year())) {
                    add_to(&mut budget.allocated, *amount);
                }
                sub_from(&mut self.pooled_balance, *amount);
                add_to(&mut self.regions.entry(*region).or_default().expenditure_balance, *amount);
                add_to(&mut self.totals.allocated, *amount);
            }
            Event::BenefitPaid { payment_id, region, period, benefit, category, beneficiary, amount, .. } => {
                let r = self.regions.entry(*region).or_default();
                sub_from(&mut r.expenditure_balance, *amount);
                if let Some(plan_id) = self.open_plans.get(&(*region, *period)) {
                    let plan = self.plans.get_mut(plan_id).expect("open plan exists");
                    add_to(plan.paid.entry(*category).or_default(), *amount);
                }
                if *category == ExpenditureCategory::Prevention {
                    add_to(self.prevention_paid_by_year.entry(period.year()).or_default(), *amount);
                }
                if benefit.is_periodic() {
                    self.payments.mark_periodic(*beneficiary, *benefit, *period);
                }
                let record = PaymentRecord {
                    region: *region,
                    period: *period,
                    benefit: *benefit,
                    beneficiary: *beneficiary,
                    amount: *amount,
                    reversed: Money::ZERO,
                };
                assert!(self.payments.insert(payment_id, &record), "payment {payment_id} recorded twice");
                add_to(&mut self.totals.paid, *amount);
            }
            Event::PaymentReversed { payment_id, region, paid_period, benefit, category, amount, .. } => {
                let record = self.payments.add_reversal(payment_id, *amount).expect("reversing a known payment");
                assert!(record.reversed <= record.amount, "reversals exceed payment {payment_id}");
                if benefit.is_periodic() && record.reversed == record.amount {
                    self.payments.unmark_periodic(&record.beneficiary, *benefit, *paid_period);
                }
                if let Some(plan_id) = self.open_plans.get(&(*region, *paid_period)) {
                    let plan = self.plans.get_mut(plan_id).expect("open plan exists");
                    sub_from(plan.paid.entry(*category).or_default(), *amount);
                }
                if *category == ExpenditureCategory::Prevention {
                    sub_from(self.prevention_paid_by_year.entry(paid_period.year()).or_default(), *amount);
                }
                add_to(&mut self.regions.entry(*region).or_default().expenditure_balance, *amount);
                add_to(&mut self.totals.reversed, *amount);
            }
            Event::PeriodClosed { region, period } => {
                let r = self.regions.entry(*region).or_default();
                assert!(r.untransferred(*period).is_zero(), "closing {region} {period} with untransferred income");
                r.untransferred.remove(period);
                assert!(r.closed.insert(*period), "{region} {period} closed twice");
            }
            Event::RatesAdjusted { effective, class, benchmark_rate_pct, allowed_floats_pct } => {
                self.rates.entry(*class).or_default().push(RateVersion {
                    effective: *effective,
                    benchmark_rate_pct: *benchmark_rate_pct,
                    allowed_floats_pct: allowed_floats_pct.clone(),
                });
            }
            Event::GapSharesAssessed { year, .. } => {
                assert!(self.gap_assessed.insert(*year), "gap of {year} assessed twice");
            }
        }
        debug_assert_eq!(self.check_identities(), Ok(()));
    }

    fn set_status(&mut self, plan_id: PlanId, from: PlanStatus, to: PlanStatus) {
        let plan = self.plans.get_mut(&plan_id).expect("deciding on a known plan");
        assert_eq!(plan.status, from, "plan {plan_id} moved to {to:?} out of order");
        plan.status = to;
    }
}

#[track_caller]
fn add_to(slot: &mut Money, amount: Money) {
    *slot = slot.add(amount);
}

/// Subtracts from a balance that must never go negative.
#[track_caller]
fn sub_from(slot: &mut Money, amount: Money) {
    *slot = slot.checked_sub_nonneg(amount).expect("balance never negative");
}
