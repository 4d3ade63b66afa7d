//! `FundHealth`: the fund's indicators — payable months with the warning band and the rate-cut
//! signal, budget execution alerts, prevention-cap usage and assessed gap shares.
//!
//! Definitions:
//! - **fund balance** at a period = the pooled fund's closing balance plus every region's
//!   expenditure account closing balance; allocations move money between the two and cancel,
//!   so it is the running sum of (transfers in + provincial income + consolidations − payments +
//!   reversals) over the periods in order;
//! - **average monthly expenditure** at a period = the mean of net payments (paid − reversed,
//!   province-wide, reversals in the period they are booked) over the up to 12 most recent
//!   periods at or before it that have any payment; `None` when no period has, or when the mean
//!   is not positive;
//! - **payable months** = fund balance / average monthly expenditure, exact `Decimal`
//!   (28 significant digits); `payable_months_rounded` rounds it to 2 decimals for display;
//! - **warning level** from the policy's bands: red below `red_below_months`, amber below
//!   `amber_below_months`, else green; **rate signal**: a large cut from
//!   `rate_cut_large_from_months`, a small cut from `rate_cut_small_from_months`, else none;
//! - **budget execution alerts** per region and year: `OverBudget` when net paid in the year
//!   exceeds the expenditure budget (also when there is no budget but payments); `AheadOfSchedule`
//!   when execution runs more than [`EXECUTION_AHEAD_ALERT_POINTS`] percentage points ahead of
//!   the elapsed share of the year, the elapsed months being the latest month of that year in
//!   which the region booked anything (so the view needs no clock);
//! - **prevention-cap usage** per year: prevention spending net of reversals (reversals count in
//!   the original payment's year, as the domain's cap rule does) against cap = `cap_ratio` ×
//!   the prior year's premium income net of refunds from the events, or the policy's baseline
//!   when the ledger has no premium for that year, rounded to the fen like the rule.

use std::collections::BTreeMap;

use fundledger_domain::{
    Event, ExpenditureCategory, GapShare, IncomeCategory, Money, Payment, Period, Policy, RegionCode,
};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::EventMeta;
use crate::util::{MemoMap, fen, money};

/// Most recent periods with expenditure that the average monthly expenditure covers.
pub const TRAILING_EXPENDITURE_PERIODS_MAX: usize = 12;
/// Decimals payable months are rounded to for display (the exact value is kept alongside).
pub const PAYABLE_MONTHS_DISPLAY_DECIMALS: u32 = 2;
/// An execution alert fires when budget execution runs this many percentage points ahead of the
/// elapsed share of the year (e.g. 70% spent after 6 of 12 months is 20 points ahead: no alert;
/// 71% is: alert).
pub const EXECUTION_AHEAD_ALERT_POINTS: i64 = 20;
const MONTHS_PER_YEAR: i64 = 12;

/// The policy figures the view needs, copied so the view serialises on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthParams {
    pub red_below_months: Decimal,
    pub amber_below_months: Decimal,
    pub rate_cut_small_from_months: Decimal,
    pub rate_cut_small_pct: Decimal,
    pub rate_cut_large_from_months: Decimal,
    pub rate_cut_large_pct: Decimal,
    pub prevention_cap_ratio: Decimal,
    pub baseline_premium_income: BTreeMap<u16, Money>,
    /// The first pooled period (the prevention cap's base depends on it).
    pub reform_period: Period,
}

impl HealthParams {
    pub fn from_policy(policy: &Policy) -> HealthParams {
        let w = &policy.warning;
        HealthParams {
            red_below_months: w.red_below_months,
            amber_below_months: w.amber_below_months,
            rate_cut_small_from_months: w.rate_cut_small_from_months,
            rate_cut_small_pct: w.rate_cut_small_pct,
            rate_cut_large_from_months: w.rate_cut_large_from_months,
            rate_cut_large_pct: w.rate_cut_large_pct,
            prevention_cap_ratio: policy.prevention.cap_ratio,
            baseline_premium_income: policy.prevention.baseline_premium_income.clone(),
            reform_period: policy.reform_period(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    Red,
    Amber,
    Green,
}

/// What the payable months allow for the contribution rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum RateSignal {
    NoCut,
    SmallCut { pct: Decimal },
    LargeCut { pct: Decimal },
}

/// The indicators at one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthPoint {
    pub period: Period,
    /// Pooled fund plus expenditure accounts at the period's close.
    pub fund_balance: Money,
    /// Mean net payments over the trailing periods with expenditure, in yuan (exact).
    pub average_monthly_expenditure: Option<Decimal>,
    pub payable_months: Option<Decimal>,
    pub payable_months_rounded: Option<Decimal>,
    pub warning: Option<WarningLevel>,
    pub rate_signal: Option<RateSignal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetAlertKind {
    OverBudget,
    AheadOfSchedule,
}

/// A region whose spending runs ahead of its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAlert {
    pub region: RegionCode,
    pub year: u16,
    pub kind: BudgetAlertKind,
    pub budget: Money,
    pub net_paid_ytd: Money,
    /// net paid / budget; `None` when the budget is zero.
    pub execution: Option<Decimal>,
    /// Elapsed months / 12.
    pub elapsed_share: Decimal,
}

/// Where a prevention cap's base figure came from (the domain's rule, see
/// [`fundledger_domain::policy::prevention_cap_base`]).
pub use fundledger_domain::policy::CapBaseSource as CapBase;

/// Prevention spending of a year against its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreventionUsage {
    pub year: u16,
    pub base: Money,
    pub base_source: CapBase,
    pub cap: Money,
    pub net_paid: Money,
    /// net paid / cap; `None` when the cap is zero.
    pub usage: Option<Decimal>,
    pub over_cap: bool,
}

/// A gap assessment as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapAssessment {
    pub year: u16,
    pub gap: Money,
    pub shares: Vec<GapShare>,
    pub province_share: Money,
    pub position: u64,
}

/// Province-wide flows of one period that move the fund balance, in fen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PeriodFen {
    /// Transfers in + provincial income + consolidations.
    income: i64,
    paid: i64,
    reversed: i64,
}

/// A region's year, for execution alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RegionYearFen {
    budget: Option<i64>,
    net_paid: i64,
    /// Latest month (1-12) of the year in which the region booked anything.
    latest_month: u8,
}

/// The fund health view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundHealth {
    params: HealthParams,
    periods: MemoMap<Period, PeriodFen>,
    region_years: MemoMap<(RegionCode, u16), RegionYearFen>,
    /// Premium income net of refunds per year; present once the year has any premium event.
    premium_by_year: BTreeMap<u16, i64>,
    /// Prevention net paid per year of the original payment.
    prevention_by_year: BTreeMap<u16, i64>,
    gaps: Vec<GapAssessment>,
}

impl FundHealth {
    pub fn new(policy: &Policy) -> FundHealth {
        FundHealth::with_params(HealthParams::from_policy(policy))
    }

    pub fn with_params(params: HealthParams) -> FundHealth {
        FundHealth {
            params,
            periods: MemoMap::default(),
            region_years: MemoMap::default(),
            premium_by_year: BTreeMap::new(),
            prevention_by_year: BTreeMap::new(),
            gaps: Vec::new(),
        }
    }

    /// Folds one payment (as [`FundHealth::apply`] folds its `BenefitPaid`).
    #[inline]
    pub fn paid(&mut self, p: &Payment<'_>) {
        let a = p.amount_fen();
        self.periods.entry(p.period).or_default().paid += a;
        self.region_year(p.region, p.period).net_paid += a;
        if p.category == ExpenditureCategory::Prevention {
            *self.prevention_by_year.entry(p.period.year()).or_default() += a;
        }
    }

    /// Folds one event.
    pub fn apply(&mut self, meta: &EventMeta, event: &Event) {
        match event {
            Event::BenefitPaid { .. } => self.paid(&Payment::of(event).expect("a payment")),
            Event::PaymentReversed { region, period, paid_period, category, amount, .. } => {
                let a = fen(*amount);
                self.periods.entry(*period).or_default().reversed += a;
                self.region_year(*region, *period).net_paid -= a;
                if *category == ExpenditureCategory::Prevention {
                    *self.prevention_by_year.entry(paid_period.year()).or_default() -= a;
                }
            }
            Event::CollectionRecorded { region, period, category, amount, .. } => {
                self.region_year(*region, *period);
                if *category == IncomeCategory::Premium {
                    *self.premium_by_year.entry(period.year()).or_default() += fen(*amount);
                }
            }
            Event::CollectionRefunded { region, period, category, amount, .. } => {
                self.region_year(*region, *period);
                if *category == IncomeCategory::Premium {
                    *self.premium_by_year.entry(period.year()).or_default() -= fen(*amount);
                }
            }
            Event::TransferRecorded { region, period, amount } => {
                self.periods.entry(*period).or_default().income += fen(*amount);
                self.region_year(*region, *period);
            }
            Event::ProvincialIncomeRecorded { period, amount, .. } => {
                self.periods.entry(*period).or_default().income += fen(*amount);
            }
            Event::LegacyReserveConsolidated { period, amount, .. } => {
                self.periods.entry(*period).or_default().income += fen(*amount);
            }
            Event::BudgetAdopted { region, year, lines } | Event::BudgetAdjusted { region, year, lines } => {
                let total = lines.expenditure.iter().map(|(_, m)| fen(*m)).sum();
                self.region_years.entry((*region, *year)).or_default().budget = Some(total);
            }
            Event::PlanSubmitted { region, period, .. }
            | Event::PlanApproved { region, period, .. }
            | Event::PlanRejected { region, period, .. }
            | Event::PlanReviewed { region, period, .. }
            | Event::FundsAllocated { region, period, .. }
            | Event::PeriodClosed { region, period } => {
                self.region_year(*region, *period);
            }
            Event::GapSharesAssessed { year, gap, shares, province_share } => {
                self.gaps.push(GapAssessment {
                    year: *year,
                    gap: *gap,
                    shares: shares.clone(),
                    province_share: *province_share,
                    position: meta.position,
                });
            }
            Event::RatesAdjusted { .. } => {}
        }
    }

    /// The region's year, noting the period as activity.
    #[inline]
    fn region_year(&mut self, region: RegionCode, period: Period) -> &mut RegionYearFen {
        let y = self.region_years.entry((region, period.year())).or_default();
        y.latest_month = y.latest_month.max(period.month());
        y
    }

    /// The indicators at every period with activity, in period order.
    pub fn series(&self) -> Vec<HealthPoint> {
        let mut periods: Vec<(Period, PeriodFen)> = self.periods.iter().map(|(p, f)| (*p, *f)).collect();
        periods.sort_unstable_by_key(|(p, _)| *p);
        let mut balance = 0i64;
        // Net payments of the periods with expenditure so far, most recent last.
        let mut spending: Vec<i64> = Vec::new();
        periods
            .into_iter()
            .map(|(period, f)| {
                balance += f.income - f.paid + f.reversed;
                if f.paid > 0 {
                    spending.push(f.paid - f.reversed);
                }
                let recent = &spending[spending.len().saturating_sub(TRAILING_EXPENDITURE_PERIODS_MAX)..];
                self.point(period, balance, recent)
            })
            .collect()
    }

    /// The indicators at the latest period with activity.
    pub fn latest(&self) -> Option<HealthPoint> {
        self.series().pop()
    }

    fn point(&self, period: Period, balance: i64, recent: &[i64]) -> HealthPoint {
        let total: i64 = recent.iter().sum();
        let average = (!recent.is_empty() && total > 0)
            .then(|| Decimal::from(total) / Decimal::from(recent.len() as i64) / Decimal::ONE_HUNDRED);
        let months = average.map(|avg| money(balance).as_decimal() / avg);
        HealthPoint {
            period,
            fund_balance: money(balance),
            average_monthly_expenditure: average,
            payable_months: months,
            payable_months_rounded: months.map(|m| {
                m.round_dp_with_strategy(PAYABLE_MONTHS_DISPLAY_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
            }),
            warning: months.map(|m| self.warning_level(m)),
            rate_signal: months.map(|m| self.rate_signal(m)),
        }
    }

    /// The warning band of a number of payable months.
    pub fn warning_level(&self, months: Decimal) -> WarningLevel {
        if months < self.params.red_below_months {
            WarningLevel::Red
        } else if months < self.params.amber_below_months {
            WarningLevel::Amber
        } else {
            WarningLevel::Green
        }
    }

    /// The rate-cut signal of a number of payable months.
    pub fn rate_signal(&self, months: Decimal) -> RateSignal {
        if months >= self.params.rate_cut_large_from_months {
            RateSignal::LargeCut { pct: self.params.rate_cut_large_pct }
        } else if months >= self.params.rate_cut_small_from_months {
            RateSignal::SmallCut { pct: self.params.rate_cut_small_pct }
        } else {
            RateSignal::NoCut
        }
    }

    /// Budget execution alerts, sorted by region, year, kind.
    pub fn budget_alerts(&self) -> Vec<BudgetAlert> {
        let mut out = Vec::new();
        for (&(region, year), y) in &self.region_years {
            let budget = y.budget.unwrap_or(0);
            let execution = crate::region_expenditure::ratio(y.net_paid, budget);
            let elapsed = i64::from(y.latest_month);
            let alert = |kind| BudgetAlert {
                region,
                year,
                kind,
                budget: money(budget),
                net_paid_ytd: money(y.net_paid),
                execution,
                elapsed_share: Decimal::from(elapsed) / Decimal::from(MONTHS_PER_YEAR),
            };
            if y.net_paid > budget {
                out.push(alert(BudgetAlertKind::OverBudget));
            }
            // ahead when net/budget − elapsed/12 > points/100, i.e. in integers:
            // 1200·net − 100·elapsed·budget > 12·points·budget (budget > 0).
            if budget > 0 {
                let lhs = i128::from(y.net_paid) * 1200 - i128::from(elapsed) * 100 * i128::from(budget);
                let rhs = 12 * i128::from(EXECUTION_AHEAD_ALERT_POINTS) * i128::from(budget);
                if lhs > rhs {
                    out.push(alert(BudgetAlertKind::AheadOfSchedule));
                }
            }
        }
        out.sort_unstable_by_key(|a| (a.region, a.year, a.kind as u8));
        out
    }

    /// Prevention-cap usage for every year with prevention spending or premium income.
    pub fn prevention_usage(&self) -> Vec<PreventionUsage> {
        let mut years: Vec<u16> = self.prevention_by_year.keys().chain(self.premium_by_year.keys()).copied().collect();
        years.sort_unstable();
        years.dedup();
        years.into_iter().map(|y| self.prevention_usage_in(y)).collect()
    }

    /// Prevention-cap usage of one year.
    pub fn prevention_usage_in(&self, year: u16) -> PreventionUsage {
        let ledger = self.premium_by_year.get(&(year - 1)).map(|fen| money(*fen));
        let (base, base_source) = fundledger_domain::policy::prevention_cap_base(
            year,
            self.params.reform_period,
            &self.params.baseline_premium_income,
            ledger,
        );
        let cap = base.checked_mul_ratio(self.params.prevention_cap_ratio).expect("cap within the money ceiling");
        let paid = self.prevention_by_year.get(&year).copied().unwrap_or(0);
        PreventionUsage {
            year,
            base,
            base_source,
            cap,
            net_paid: money(paid),
            usage: crate::region_expenditure::ratio(paid, fen(cap)),
            over_cap: paid > fen(cap),
        }
    }

    /// Gap assessments in log order.
    pub fn gap_shares(&self) -> &[GapAssessment] {
        &self.gaps
    }
}
