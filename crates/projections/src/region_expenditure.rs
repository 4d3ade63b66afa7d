//! `RegionExpenditure`: each region's spending per period and category, from plan to payment,
//! the plans' workflow, and budget execution year to date.
//!
//! Columns (per region, period and category, in fen internally):
//! - planned: lines of submitted plans that are not rejected (a rejected plan drops out, and the
//!   replacement plan's lines come in when it is submitted);
//! - approved: lines of plans HRSS approved and Finance did not reject;
//! - reviewed: lines of plans Finance reviewed (final: a reviewed plan cannot be rejected);
//! - allocated: tranches allocated to the period's plans (allocations carry no category);
//! - paid, reversed: payments by their period, reversals by the period they are booked in
//!   (cash basis: that is when the money returns to the expenditure account).
//!
//! Execution year to date = (paid − reversed in the year's periods) / the year's expenditure
//! budget as last adopted or adjusted; `None` when the budget is zero.

use std::collections::BTreeMap;

use fundledger_domain::{
    BudgetLines, Event, ExpenditureCategory, Money, Payment, Period, PlanId, PlanStatus, RegionCode,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::EventMeta;
use crate::util::{ByCategory, CATEGORY_COUNT, MemoMap, cat, fen, lines_fen, money, pairs};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RowFen {
    planned: ByCategory,
    approved: ByCategory,
    reviewed: ByCategory,
    allocated: i64,
    paid: ByCategory,
    reversed: ByCategory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct PlanFen {
    region: RegionCode,
    period: Period,
    status: PlanStatus,
    lines: ByCategory,
    allocated: i64,
    tranches: u32,
    /// Log position of the plan's submission.
    submitted_at: u64,
}

/// One category's amounts in a region and period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryExpenditure {
    pub category: ExpenditureCategory,
    pub planned: Money,
    pub approved: Money,
    pub reviewed: Money,
    pub paid: Money,
    pub reversed: Money,
    /// paid − reversed.
    pub net_paid: Money,
}

/// A region's spending in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPeriodExpenditure {
    pub region: RegionCode,
    pub period: Period,
    /// Categories with any amount, in category order.
    pub categories: Vec<CategoryExpenditure>,
    pub allocated: Money,
    /// The region-period's latest submitted plan and its status.
    pub current_plan: Option<(PlanId, PlanStatus)>,
}

/// One plan's workflow and allocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub plan_id: PlanId,
    pub region: RegionCode,
    pub period: Period,
    pub status: PlanStatus,
    pub lines: Vec<(ExpenditureCategory, Money)>,
    pub total: Money,
    pub allocated: Money,
    pub tranches: u32,
}

/// Budget execution of a region in a year, for one category or (category `None`) in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub region: RegionCode,
    pub year: u16,
    pub category: Option<ExpenditureCategory>,
    pub budget: Money,
    pub net_paid_ytd: Money,
    /// net paid / budget, exact; `None` when the budget is zero.
    pub rate: Option<Decimal>,
}

/// The region expenditure view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionExpenditure {
    rows: MemoMap<(RegionCode, Period), RowFen>,
    plans: BTreeMap<PlanId, PlanFen>,
    /// The latest submitted plan of each region and period.
    #[serde(with = "pairs")]
    current_plan: BTreeMap<(RegionCode, Period), PlanId>,
    /// Expenditure budget lines per region and year, as last adopted or adjusted.
    #[serde(with = "pairs")]
    budgets: BTreeMap<(RegionCode, u16), ByCategory>,
}

impl RegionExpenditure {
    pub fn new() -> RegionExpenditure {
        RegionExpenditure::default()
    }

    /// Folds one payment (as [`RegionExpenditure::apply`] folds its `BenefitPaid`).
    #[inline]
    pub fn paid(&mut self, p: &Payment<'_>) {
        self.row(p.region, p.period).paid[cat(p.category)] += p.amount_fen();
    }

    /// Folds one event.
    pub fn apply(&mut self, meta: &EventMeta, event: &Event) {
        match event {
            Event::BenefitPaid { .. } => self.paid(&Payment::of(event).expect("a payment")),
            Event::PaymentReversed { region, period, category, amount, .. } => {
                self.row(*region, *period).reversed[cat(*category)] += fen(*amount);
            }
            Event::PlanSubmitted { plan_id, region, period, lines } => {
                let lines = lines_fen(lines);
                add_lines(&mut self.row(*region, *period).planned, &lines, 1);
                self.plans.insert(
                    *plan_id,
                    PlanFen {
                        region: *region,
                        period: *period,
                        status: PlanStatus::Submitted,
                        lines,
                        allocated: 0,
                        tranches: 0,
                        submitted_at: meta.position,
                    },
                );
                self.current_plan.insert((*region, *period), *plan_id);
            }
            Event::PlanApproved { plan_id, region, period } => {
                if let Some(lines) = self.set_status(*plan_id, PlanStatus::Approved) {
                    add_lines(&mut self.row(*region, *period).approved, &lines, 1);
                }
            }
            Event::PlanReviewed { plan_id, region, period } => {
                if let Some(lines) = self.set_status(*plan_id, PlanStatus::Reviewed) {
                    add_lines(&mut self.row(*region, *period).reviewed, &lines, 1);
                }
            }
            Event::PlanRejected { plan_id, region, period, .. } => {
                let before = self.plans.get(plan_id).map(|p| p.status);
                if let Some(lines) = self.set_status(*plan_id, PlanStatus::Rejected) {
                    let row = self.row(*region, *period);
                    add_lines(&mut row.planned, &lines, -1);
                    if before == Some(PlanStatus::Approved) {
                        add_lines(&mut row.approved, &lines, -1);
                    }
                }
            }
            Event::FundsAllocated { plan_id, region, period, tranche, amount } => {
                let a = fen(*amount);
                self.row(*region, *period).allocated += a;
                if let Some(plan) = self.plans.get_mut(plan_id) {
                    plan.allocated += a;
                    plan.tranches = (*tranche).max(plan.tranches);
                }
            }
            Event::BudgetAdopted { region, year, lines } | Event::BudgetAdjusted { region, year, lines } => {
                self.budgets.insert((*region, *year), budget_fen(lines));
            }
            _ => {}
        }
    }

    #[inline]
    fn row(&mut self, region: RegionCode, period: Period) -> &mut RowFen {
        self.rows.entry((region, period)).or_default()
    }

    /// Sets a plan's status; returns its lines, or `None` for a plan this view never saw
    /// (a log that starts mid-history).
    fn set_status(&mut self, plan_id: PlanId, status: PlanStatus) -> Option<ByCategory> {
        let plan = self.plans.get_mut(&plan_id)?;
        plan.status = status;
        Some(plan.lines)
    }

    /// Every region and period with any plan, allocation or payment, sorted by region then period.
    pub fn rows(&self) -> Vec<RegionPeriodExpenditure> {
        let mut keys: Vec<&(RegionCode, Period)> = self.rows.keys().collect();
        keys.sort_unstable();
        keys.into_iter().map(|k| self.build_row(*k)).collect()
    }

    /// One region's spending in one period, if it has any.
    pub fn row_for(&self, region: RegionCode, period: Period) -> Option<RegionPeriodExpenditure> {
        self.rows.contains_key(&(region, period)).then(|| self.build_row((region, period)))
    }

    fn build_row(&self, key: (RegionCode, Period)) -> RegionPeriodExpenditure {
        let r = &self.rows[&key];
        let categories = ExpenditureCategory::ALL
            .iter()
            .filter_map(|c| {
                let i = cat(*c);
                let any = r.planned[i] | r.approved[i] | r.reviewed[i] | r.paid[i] | r.reversed[i];
                (any != 0).then(|| CategoryExpenditure {
                    category: *c,
                    planned: money(r.planned[i]),
                    approved: money(r.approved[i]),
                    reviewed: money(r.reviewed[i]),
                    paid: money(r.paid[i]),
                    reversed: money(r.reversed[i]),
                    net_paid: money(r.paid[i] - r.reversed[i]),
                })
            })
            .collect();
        let current_plan = self.current_plan.get(&key).map(|id| (*id, self.plans[id].status));
        RegionPeriodExpenditure {
            region: key.0,
            period: key.1,
            categories,
            allocated: money(r.allocated),
            current_plan,
        }
    }

    /// A plan's status, if the plan was submitted.
    pub fn plan_status(&self, plan_id: PlanId) -> Option<PlanStatus> {
        self.plans.get(&plan_id).map(|p| p.status)
    }

    /// The latest submitted plan of a region and period.
    pub fn current_plan(&self, region: RegionCode, period: Period) -> Option<(PlanId, PlanStatus)> {
        self.current_plan.get(&(region, period)).map(|id| (*id, self.plans[id].status))
    }

    /// Every plan, sorted by region, period, then submission order.
    pub fn plans(&self) -> Vec<PlanSummary> {
        let mut plans: Vec<(&PlanId, &PlanFen)> = self.plans.iter().collect();
        plans.sort_unstable_by_key(|(_, p)| (p.region, p.period, p.submitted_at));
        plans
            .into_iter()
            .map(|(id, p)| PlanSummary {
                plan_id: *id,
                region: p.region,
                period: p.period,
                status: p.status,
                lines: ExpenditureCategory::ALL
                    .iter()
                    .filter(|c| p.lines[cat(**c)] != 0)
                    .map(|c| (*c, money(p.lines[cat(*c)])))
                    .collect(),
                total: money(p.lines.iter().sum()),
                allocated: money(p.allocated),
                tranches: p.tranches,
            })
            .collect()
    }

    /// Net paid (paid − reversed) per category by a region in a year's periods.
    pub(crate) fn net_paid_in_year(&self, region: RegionCode, year: u16) -> ByCategory {
        let mut out = [0i64; CATEGORY_COUNT];
        for ((r, p), row) in &self.rows {
            if *r == region && p.year() == year {
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot += row.paid[i] - row.reversed[i];
                }
            }
        }
        out
    }

    /// Budget execution year to date for every region and year that has a budget or spending:
    /// first the total (category `None`), then each category with a budget line or spending.
    /// Sorted by region, year.
    pub fn execution(&self) -> Vec<Execution> {
        let mut keys: Vec<(RegionCode, u16)> = self.budgets.keys().copied().collect();
        keys.extend(self.rows.iter().filter(|(_, r)| r.paid.iter().any(|a| *a != 0)).map(|((r, p), _)| (*r, p.year())));
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::new();
        for (region, year) in keys {
            let budget = self.budgets.get(&(region, year)).copied().unwrap_or_default();
            let paid = self.net_paid_in_year(region, year);
            let entry = |category, budget: i64, paid: i64| Execution {
                region,
                year,
                category,
                budget: money(budget),
                net_paid_ytd: money(paid),
                rate: ratio(paid, budget),
            };
            out.push(entry(None, budget.iter().sum(), paid.iter().sum()));
            for c in ExpenditureCategory::ALL {
                let i = cat(*c);
                if budget[i] != 0 || paid[i] != 0 {
                    out.push(entry(Some(*c), budget[i], paid[i]));
                }
            }
        }
        out
    }
}

fn add_lines(into: &mut ByCategory, lines: &ByCategory, sign: i64) {
    for (slot, amount) in into.iter_mut().zip(lines) {
        *slot += sign * amount;
    }
}

fn budget_fen(lines: &BudgetLines) -> ByCategory {
    lines_fen(&lines.expenditure)
}

/// An exact ratio of two fen sums; `None` when the denominator is zero.
pub(crate) fn ratio(numerator: i64, denominator: i64) -> Option<Decimal> {
    (denominator != 0).then(|| Decimal::from(numerator) / Decimal::from(denominator))
}
