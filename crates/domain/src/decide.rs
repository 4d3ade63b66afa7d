//! `decide`: the fund's rules. Given the state, a command and the policy, it returns the events
//! that record the command, or one rejection naming the rule it breaks. It is pure: no IO, no
//! clock, no randomness, and it never changes the state (the caller applies the events).
//!
//! Checks run in a fixed order (shape, reference data, period, workflow, limits), so the same
//! command against the same state always yields the same reason.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::category::{BenefitType, Department, ExpenditureCategory, ProvincialIncomeKind};
use crate::command::{BudgetLines, Command, Context, LINES_MAX, RATE_FLOATS_MAX, REASON_TEXT_BYTES_MAX};
use crate::event::{Event, GapShare};
use crate::ids::{PlanId, RegionCode};
use crate::money::Money;
use crate::period::{PERIOD_YEAR_MAX, Period};
use crate::rejection::{Reason, Rejection};
use crate::standards::{self, StandardError};
use crate::state::{FundState, Plan, PlanStatus};

type Decision = Result<Vec<Event>, Rejection>;

fn reject<T>(reason: Reason, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(reason, message))
}

/// Decides a command against the state. See the module docs.
pub fn decide(state: &FundState, command: &Command, ctx: &Context<'_>) -> Decision {
    let rules = Rules { state, ctx };
    match command {
        Command::RecordCollection { region, period, category, amount, tax_batch } => {
            rules.positive(*amount, "collection amount")?;
            rules.open_region_period(*region, *period)?;
            rules.within_ceiling(state.totals().collected, *amount, "collected income")?;
            if state.tax_batches.contains_key(tax_batch) {
                return reject(Reason::DuplicateTaxBatch, format!("tax batch {tax_batch} is already recorded"));
            }
            Ok(vec![Event::CollectionRecorded {
                region: *region,
                period: *period,
                category: *category,
                amount: *amount,
                tax_batch: *tax_batch,
            }])
        }
        Command::RefundCollection { region, period, tax_batch, amount } => {
            rules.positive(*amount, "refund amount")?;
            rules.open_region_period(*region, *period)?;
            let Some(batch) = state.tax_batches.get(tax_batch) else {
                return reject(Reason::UnknownTaxBatch, format!("tax batch {tax_batch} is not recorded"));
            };
            if batch.region != *region || batch.period != *period {
                return reject(
                    Reason::RefundBatchMismatch,
                    format!(
                        "tax batch {tax_batch} belongs to {} {}, not {region} {period}",
                        batch.region, batch.period
                    ),
                );
            }
            let left = batch.collected.sub(batch.refunded);
            if *amount > left {
                return reject(
                    Reason::RefundExceedsCollection,
                    format!("refund {amount} exceeds the {left} left of tax batch {tax_batch}"),
                );
            }
            let untransferred = state.untransferred(*region, *period);
            if *amount > untransferred {
                return reject(
                    Reason::RefundExceedsUntransferred,
                    format!(
                        "refund {amount} exceeds {region}'s untransferred income of {untransferred} for {period}; \
                         transferred income is refunded only by the province"
                    ),
                );
            }
            Ok(vec![Event::CollectionRefunded {
                region: *region,
                period: *period,
                category: batch.category,
                tax_batch: *tax_batch,
                amount: *amount,
            }])
        }
        Command::RecordTransfer { region, period, amount } => {
            rules.positive(*amount, "transfer amount")?;
            rules.open_region_period(*region, *period)?;
            let untransferred = state.untransferred(*region, *period);
            if *amount > untransferred {
                return reject(
                    Reason::TransferExceedsUntransferred,
                    format!(
                        "transfer {amount} exceeds {region}'s untransferred income of {untransferred} for {period}"
                    ),
                );
            }
            rules.within_ceiling(state.pooled_balance(), *amount, "the pooled balance")?;
            Ok(vec![Event::TransferRecorded { region: *region, period: *period, amount: *amount }])
        }
        Command::RecordProvincialIncome { kind, period, amount } => {
            rules.positive(*amount, "provincial income")?;
            rules.after_reform(*period)?;
            if *kind == ProvincialIncomeKind::FiscalAdvance && state.gap_assessed(period.year()) {
                return reject(
                    Reason::GapAlreadyAssessed,
                    format!("the gap of {} was already assessed; a fiscal advance may not change it", period.year()),
                );
            }
            rules.within_ceiling(state.totals().provincial_income, *amount, "provincial income")?;
            rules.within_ceiling(state.pooled_balance(), *amount, "the pooled balance")?;
            Ok(vec![Event::ProvincialIncomeRecorded { kind: *kind, period: *period, amount: *amount }])
        }
        Command::ConsolidateLegacyReserve { region, kind, period, amount } => {
            if amount.is_negative() {
                return reject(Reason::AmountNotPositive, format!("legacy balance {amount} is negative"));
            }
            rules.open_region_period(*region, *period)?;
            if let Some(done) = state.region(*region).and_then(|r| r.legacy_consolidated) {
                return reject(
                    Reason::LegacyReserveAlreadyConsolidated,
                    format!("{region}'s legacy {done} was already consolidated; no unit holds a reserve after that"),
                );
            }
            rules.within_ceiling(state.totals().consolidated, *amount, "consolidated reserves")?;
            rules.within_ceiling(state.pooled_balance(), *amount, "the pooled balance")?;
            Ok(vec![Event::LegacyReserveConsolidated {
                region: *region,
                kind: *kind,
                period: *period,
                amount: *amount,
            }])
        }
        Command::AdoptBudget { region, year, lines } => {
            rules.known_region(*region)?;
            rules.year_after_reform(*year)?;
            check_budget_lines(lines)?;
            if state.budget(*region, *year).is_some() {
                return reject(
                    Reason::BudgetAlreadyAdopted,
                    format!("{region} already has a budget for {year}; adjust it instead"),
                );
            }
            Ok(vec![Event::BudgetAdopted { region: *region, year: *year, lines: lines.clone() }])
        }
        Command::AdjustBudget { region, year, lines } => {
            rules.known_region(*region)?;
            rules.year_after_reform(*year)?;
            check_budget_lines(lines)?;
            let Some(budget) = state.budget(*region, *year) else {
                return reject(Reason::BudgetNotAdopted, format!("{region} has no budget for {year} to adjust"));
            };
            if lines.expenditure_total() < budget.allocated {
                return reject(
                    Reason::BudgetBelowAllocated,
                    format!(
                        "adjusted expenditure budget {} is below the {} already allocated to {region} in {year}",
                        lines.expenditure_total(),
                        budget.allocated
                    ),
                );
            }
            Ok(vec![Event::BudgetAdjusted { region: *region, year: *year, lines: lines.clone() }])
        }
        Command::SubmitPlan { plan_id, region, period, lines } => {
            rules.open_region_period(*region, *period)?;
            check_plan_lines(lines)?;
            if state.plans.contains_key(plan_id) {
                return reject(Reason::DuplicatePlanId, format!("plan id {plan_id} is already used"));
            }
            if let Some(open) = state.open_plan(*region, *period) {
                return reject(
                    Reason::PlanAlreadyOpen,
                    format!(
                        "{region} already has plan {open} open for {period}; a new one may follow only its rejection"
                    ),
                );
            }
            Ok(vec![Event::PlanSubmitted { plan_id: *plan_id, region: *region, period: *period, lines: lines.clone() }])
        }
        Command::ApprovePlan { plan_id } => {
            let plan = rules.live_plan(*plan_id)?;
            match plan.status {
                PlanStatus::Submitted => {
                    Ok(vec![Event::PlanApproved { plan_id: *plan_id, region: plan.region, period: plan.period }])
                }
                _ => reject(Reason::PlanAlreadyApproved, format!("plan {plan_id} is already approved by HRSS")),
            }
        }
        Command::ReviewPlan { plan_id } => {
            let plan = rules.live_plan(*plan_id)?;
            match plan.status {
                PlanStatus::Approved => {
                    Ok(vec![Event::PlanReviewed { plan_id: *plan_id, region: plan.region, period: plan.period }])
                }
                PlanStatus::Submitted => reject(
                    Reason::PlanNotApproved,
                    format!("plan {plan_id} must be approved by HRSS before Finance reviews it"),
                ),
                _ => reject(Reason::PlanAlreadyReviewed, format!("plan {plan_id} is already reviewed by Finance")),
            }
        }
        Command::RejectPlan { plan_id, by, reason } => {
            if reason.trim().is_empty() || reason.len() > REASON_TEXT_BYTES_MAX {
                return reject(
                    Reason::TextInvalid,
                    format!("a rejection needs a reason of 1 to {REASON_TEXT_BYTES_MAX} bytes"),
                );
            }
            let plan = rules.live_plan(*plan_id)?;
            let in_turn = matches!(
                (by, plan.status),
                (Department::Hrss, PlanStatus::Submitted) | (Department::Finance, PlanStatus::Approved)
            );
            if !in_turn {
                return reject(
                    Reason::RejectionOutOfOrder,
                    format!("plan {plan_id} is {}; it is not {by}'s turn to decide on it", plan.status.as_str()),
                );
            }
            Ok(vec![Event::PlanRejected {
                plan_id: *plan_id,
                region: plan.region,
                period: plan.period,
                by: *by,
                reason: reason.clone(),
            }])
        }
        Command::AllocateFunds { plan_id, amount } => decide_allocation(&rules, *plan_id, *amount),
        Command::RecordPayment { payment_id, region, period, benefit, beneficiary, amount, basis } => {
            rules.positive(*amount, "payment amount")?;
            rules.open_region_period(*region, *period)?;
            if state.payments.contains(payment_id) {
                return reject(Reason::DuplicatePaymentId, format!("payment id {payment_id} is already used"));
            }
            let Some(category) = benefit.category() else {
                return reject(
                    Reason::EmployerPaidBenefit,
                    format!("{benefit} is paid by the employer, never by the fund"),
                );
            };
            rules.check_standard(*benefit, basis.as_ref(), *period, *amount)?;
            if benefit.is_periodic() && state.payments.periodic_paid(beneficiary, *benefit, *period) {
                return reject(
                    Reason::DuplicatePeriodicPayment,
                    format!("{benefit} for {period} was already paid to beneficiary {beneficiary}"),
                );
            }
            let plan = rules.reviewed_plan_for(*region, *period)?;
            let paid = plan.paid(category);
            let line = plan.line(category);
            if paid.add(*amount) > line {
                return reject(
                    Reason::PaymentExceedsPlanLine,
                    format!(
                        "{category} payments for {region} {period} would reach {} against a plan line of {line}",
                        paid.add(*amount)
                    ),
                );
            }
            if category == ExpenditureCategory::Prevention {
                rules.check_prevention_cap(period.year(), *amount)?;
            }
            rules.within_ceiling(state.totals().paid, *amount, "benefits paid")?;
            let balance = state.expenditure_balance(*region);
            if *amount > balance {
                return reject(
                    Reason::PaymentExceedsExpenditureBalance,
                    format!(
                        "payment {amount} exceeds {region}'s expenditure account balance of {balance}; \
                         benefits are paid only from allocated funds, never from income"
                    ),
                );
            }
            Ok(vec![Event::BenefitPaid {
                payment_id: *payment_id,
                region: *region,
                period: *period,
                benefit: *benefit,
                category,
                beneficiary: *beneficiary,
                amount: *amount,
                basis: *basis,
            }])
        }
        Command::ReversePayment { payment_id, period, amount, reason } => {
            rules.positive(*amount, "reversal amount")?;
            let Some(payment) = state.payment(*payment_id) else {
                return reject(Reason::UnknownPayment, format!("payment {payment_id} is not recorded"));
            };
            rules.open_region_period(payment.region, *period)?;
            if *period < payment.period {
                return reject(
                    Reason::ReversalBeforePayment,
                    format!("payment {payment_id} was made in {}; it cannot be reversed in {period}", payment.period),
                );
            }
            let left = payment.amount.sub(payment.reversed);
            if *amount > left {
                return reject(
                    Reason::ReversalExceedsPayment,
                    format!("reversal {amount} exceeds the {left} not yet reversed of payment {payment_id}"),
                );
            }
            rules.within_ceiling(state.totals().reversed, *amount, "reversals")?;
            Ok(vec![Event::PaymentReversed {
                payment_id: *payment_id,
                region: payment.region,
                period: *period,
                paid_period: payment.period,
                benefit: payment.benefit,
                category: payment.benefit.category().expect("recorded payments are fund-paid"),
                amount: *amount,
                reason: *reason,
            }])
        }
        Command::ClosePeriod { region, period } => {
            rules.known_region(*region)?;
            rules.after_reform(*period)?;
            if state.is_closed(*region, *period) {
                return reject(Reason::PeriodAlreadyClosed, format!("{region} {period} is already closed"));
            }
            let untransferred = state.untransferred(*region, *period);
            if !untransferred.is_zero() {
                return reject(
                    Reason::UntransferredIncomeAtClose,
                    format!(
                        "{region} cannot close {period}: {untransferred} of its income is not yet transferred in full"
                    ),
                );
            }
            Ok(vec![Event::PeriodClosed { region: *region, period: *period }])
        }
        Command::AdjustRates { effective, class, benchmark_rate_pct, allowed_floats_pct } => {
            rules.after_reform(*effective)?;
            let classes = ctx.policy.risk_classes.len();
            if ctx.policy.risk_class(*class).is_none() {
                return reject(
                    Reason::RateClassUnknown,
                    format!("rate class {class} does not exist (classes are 1-{classes})"),
                );
            }
            let hundred = Decimal::from(100);
            let floats_ok = !allowed_floats_pct.is_empty()
                && allowed_floats_pct.len() <= RATE_FLOATS_MAX
                && allowed_floats_pct.iter().all(|f| *f > Decimal::ZERO && *f <= Decimal::from(1000))
                && allowed_floats_pct.iter().collect::<BTreeSet<_>>().len() == allowed_floats_pct.len();
            if *benchmark_rate_pct <= Decimal::ZERO || *benchmark_rate_pct >= hundred || !floats_ok {
                return reject(
                    Reason::RateInvalid,
                    format!(
                        "rate {benchmark_rate_pct}% must be above 0 and below 100, with 1-{RATE_FLOATS_MAX} distinct positive floats"
                    ),
                );
            }
            if let Some(last) = state.rate_history(*class).last()
                && *effective <= last.effective
            {
                return reject(
                    Reason::RateNotDatedForward,
                    format!(
                        "class {class} last changed effective {}; a new change must take effect later",
                        last.effective
                    ),
                );
            }
            Ok(vec![Event::RatesAdjusted {
                effective: *effective,
                class: *class,
                benchmark_rate_pct: *benchmark_rate_pct,
                allowed_floats_pct: allowed_floats_pct.clone(),
            }])
        }
        Command::AssessGapShares { year } => decide_gap_shares(&rules, *year),
    }
}

fn decide_allocation(rules: &Rules<'_>, plan_id: PlanId, amount: Money) -> Decision {
    let state = rules.state;
    rules.positive(amount, "allocation")?;
    let plan = rules.live_plan(plan_id)?;
    if plan.status != PlanStatus::Reviewed {
        return reject(
            Reason::PlanNotReviewed,
            format!(
                "plan {plan_id} is {}; funds go only to plans approved by HRSS and reviewed by Finance",
                plan.status.as_str()
            ),
        );
    }
    let after = plan.allocated.add(amount);
    if after > plan.total() {
        return reject(
            Reason::AllocationExceedsPlan,
            format!("allocations to plan {plan_id} would reach {after}, above the reviewed {}", plan.total()),
        );
    }
    let pooled = state.pooled_balance();
    if amount > pooled {
        return reject(
            Reason::AllocationExceedsPooledBalance,
            format!(
                "the pooled fund holds {pooled}, short of the {amount} allocation by a gap of {}",
                amount.sub(pooled)
            ),
        );
    }
    rules.within_ceiling(state.totals().allocated, amount, "allocations")?;
    let year = plan.period.year();
    let Some(budget) = state.budget(plan.region, year) else {
        return reject(Reason::BudgetNotAdopted, format!("{} has no expenditure budget for {year}", plan.region));
    };
    let budget_total = budget.lines.expenditure_total();
    if budget.allocated.add(amount) > budget_total {
        return reject(
            Reason::AllocationExceedsBudget,
            format!(
                "{}'s allocations for {year} would reach {} against an expenditure budget of {budget_total}",
                plan.region,
                budget.allocated.add(amount)
            ),
        );
    }
    Ok(vec![Event::FundsAllocated {
        plan_id,
        region: plan.region,
        period: plan.period,
        tranche: plan.tranches + 1,
        amount,
    }])
}

/// The gap-sharing rule (see `docs/domain.md`): the year's gap is what fiscal advances covered;
/// each region's shortfall is its budgeted income, less the tolerance, minus its actual net
/// income; a region bears at most `region_share_of_shortfall` of its shortfall, the gap being
/// split in proportion to those caps when they exceed it; the province bears the rest.
fn decide_gap_shares(rules: &Rules<'_>, year: u16) -> Decision {
    let (state, policy) = (rules.state, rules.ctx.policy);
    rules.year_after_reform(year)?;
    if state.gap_assessed(year) {
        return reject(Reason::GapAlreadyAssessed, format!("gap shares for {year} were already assessed"));
    }
    let reform = policy.reform_period();
    for unit in &policy.units {
        // A reform that starts mid-year leaves the months before it outside the ledger.
        if let Some(open) = Period::months_of(year).find(|p| *p >= reform && !state.is_closed(unit.code, *p)) {
            return reject(
                Reason::YearNotClosed,
                format!("{year} is not closed: {} {} has not closed {open}", unit.code, unit.name_en),
            );
        }
    }
    let gap = state.fiscal_advances(year);
    let g = &policy.gap_sharing;
    let mut caps = Vec::with_capacity(policy.units.len());
    for unit in &policy.units {
        let budgeted = state.budget(unit.code, year).map_or(Money::ZERO, |b| b.lines.income_total());
        let tolerated =
            budgeted.checked_mul_ratio(Decimal::ONE - g.shortfall_tolerance_ratio).expect("bounded by the budget");
        let actual =
            state.region(unit.code).and_then(|r| r.net_income_by_year.get(&year).copied()).unwrap_or(Money::ZERO);
        let shortfall = tolerated.checked_sub_nonneg(actual).unwrap_or(Money::ZERO);
        let cap = shortfall.checked_mul_ratio(g.region_share_of_shortfall).expect("bounded by the shortfall");
        caps.push((unit.code, shortfall, cap));
    }
    let cap_total: Money = caps.iter().map(|(_, _, c)| *c).sum();
    let shares_fen = if cap_total <= gap {
        caps.iter().map(|(_, _, c)| c.to_fen()).collect()
    } else {
        split_proportionally(gap.to_fen(), &caps.iter().map(|(_, _, c)| c.to_fen()).collect::<Vec<_>>())
    };
    let shares: Vec<GapShare> = caps
        .iter()
        .zip(shares_fen)
        .map(|((region, shortfall, _), fen)| GapShare {
            region: *region,
            shortfall: *shortfall,
            share: Money::from_fen(fen).expect("share bounded by the gap"),
        })
        .collect();
    let region_total: Money = shares.iter().map(|s| s.share).sum();
    let province_share = gap.checked_sub_nonneg(region_total).expect("shares never exceed the gap");
    Ok(vec![Event::GapSharesAssessed { year, gap, shares, province_share }])
}

/// Splits `total` fen in proportion to `weights` (largest remainder method), so the parts sum
/// exactly to `total` and none exceeds its weight when the weights sum to at least `total`.
fn split_proportionally(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from(*w);
        parts.push((exact / sum) as i64);
        remainders.push((exact % sum, i));
    }
    let mut left = total - parts.iter().sum::<i64>();
    // Largest remainder first; ties go to the earlier unit (policy order), deterministically.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

fn check_budget_lines(lines: &BudgetLines) -> Result<(), Rejection> {
    let bad = |why: String| reject(Reason::BudgetLinesInvalid, why);
    if lines.income.len() > LINES_MAX || lines.expenditure.len() > LINES_MAX {
        return bad(format!("a budget has at most {LINES_MAX} lines per side"));
    }
    let income: BTreeSet<_> = lines.income.iter().map(|(c, _)| *c).collect();
    let spend: BTreeSet<_> = lines.expenditure.iter().map(|(c, _)| *c).collect();
    if income.len() != lines.income.len() || spend.len() != lines.expenditure.len() {
        return bad("a budget names each category at most once per side".into());
    }
    let all = lines.income.iter().map(|(_, m)| m).chain(lines.expenditure.iter().map(|(_, m)| m));
    if let Some(m) = all.into_iter().find(|m| m.is_negative()) {
        return bad(format!("budget line {m} is negative"));
    }
    for side in
        [lines.income.iter().map(|(_, m)| *m).collect::<Vec<_>>(), lines.expenditure.iter().map(|(_, m)| *m).collect()]
    {
        if side.iter().try_fold(Money::ZERO, |t, m| t.checked_add(*m)).is_none() {
            return bad("budget lines sum above the money ceiling".into());
        }
    }
    Ok(())
}

fn check_plan_lines(lines: &[(ExpenditureCategory, Money)]) -> Result<(), Rejection> {
    let bad = |why: String| reject(Reason::PlanLinesInvalid, why);
    if lines.is_empty() || lines.len() > LINES_MAX {
        return bad(format!("a plan has 1 to {LINES_MAX} lines"));
    }
    let categories: BTreeSet<_> = lines.iter().map(|(c, _)| *c).collect();
    if categories.len() != lines.len() {
        return bad("a plan names each expenditure category at most once".into());
    }
    if let Some((c, m)) = lines.iter().find(|(_, m)| !m.is_positive()) {
        return bad(format!("plan line {c} of {m} is not positive"));
    }
    let mut total = Money::ZERO;
    for (_, m) in lines {
        total = match total.checked_add(*m) {
            Some(t) => t,
            None => return bad("plan lines sum above the money ceiling".into()),
        };
    }
    Ok(())
}

/// The shared checks, with the state and context at hand.
struct Rules<'a> {
    state: &'a FundState,
    ctx: &'a Context<'a>,
}

impl Rules<'_> {
    fn positive(&self, amount: Money, what: &str) -> Result<(), Rejection> {
        if amount.is_positive() {
            Ok(())
        } else {
            reject(Reason::AmountNotPositive, format!("{what} must be positive, not {amount}"))
        }
    }

    fn known_region(&self, region: RegionCode) -> Result<(), Rejection> {
        if self.ctx.policy.unit(region).is_some() {
            Ok(())
        } else {
            reject(
                Reason::UnknownRegion,
                format!("{region} is not a paying unit of {}", self.ctx.policy.province.name_en),
            )
        }
    }

    fn after_reform(&self, period: Period) -> Result<(), Rejection> {
        let first = self.ctx.policy.reform_period();
        if period >= first {
            Ok(())
        } else {
            reject(Reason::BeforeReform, format!("{period} is before provincial pooling began in {first}"))
        }
    }

    fn year_after_reform(&self, year: u16) -> Result<(), Rejection> {
        let first = self.ctx.policy.reform_period().year();
        if year < first {
            return reject(Reason::BeforeReform, format!("{year} is before provincial pooling began in {first}"));
        }
        if year > PERIOD_YEAR_MAX {
            return reject(
                Reason::YearOutOfRange,
                format!("{year} is after {PERIOD_YEAR_MAX}, the last year the ledger can name"),
            );
        }
        Ok(())
    }

    /// Refuses an amount that would push a ledger total past the money ceiling.
    fn within_ceiling(&self, total: Money, amount: Money, what: &str) -> Result<(), Rejection> {
        match total.checked_add(amount) {
            Some(_) => Ok(()),
            None => reject(
                Reason::TotalAboveCeiling,
                format!("{amount} would push {what} ({total}) past the ceiling of {}", Money::ceiling()),
            ),
        }
    }

    /// A known region, a period after the reform, and not closed by that region.
    fn open_region_period(&self, region: RegionCode, period: Period) -> Result<(), Rejection> {
        self.known_region(region)?;
        self.after_reform(period)?;
        if self.state.is_closed(region, period) {
            return reject(Reason::PeriodClosed, format!("{region} has closed {period}"));
        }
        Ok(())
    }

    /// A known plan, not rejected, in a period its region has not closed.
    fn live_plan(&self, plan_id: PlanId) -> Result<&Plan, Rejection> {
        let Some(plan) = self.state.plan(plan_id) else {
            return reject(Reason::UnknownPlan, format!("plan {plan_id} is not known"));
        };
        if plan.status == PlanStatus::Rejected {
            return reject(Reason::PlanRejected, format!("plan {plan_id} was rejected; rejection is final"));
        }
        if self.state.is_closed(plan.region, plan.period) {
            return reject(Reason::PeriodClosed, format!("{} has closed {}", plan.region, plan.period));
        }
        Ok(plan)
    }

    fn reviewed_plan_for(&self, region: RegionCode, period: Period) -> Result<&Plan, Rejection> {
        let plan = self.state.open_plan(region, period).and_then(|id| self.state.plan(id));
        match plan {
            Some(plan) if plan.status == PlanStatus::Reviewed => Ok(plan),
            Some(plan) => reject(
                Reason::NoReviewedPlan,
                format!("{region}'s plan for {period} is {}, not yet reviewed by Finance", plan.status.as_str()),
            ),
            None => reject(Reason::NoReviewedPlan, format!("{region} has no reviewed spending plan for {period}")),
        }
    }

    fn check_standard(
        &self,
        benefit: BenefitType,
        basis: Option<&standards::Basis>,
        period: Period,
        amount: Money,
    ) -> Result<(), Rejection> {
        let basis = match (benefit.is_standard_bound(), basis) {
            (false, None) => return Ok(()),
            (false, Some(_)) => {
                return reject(
                    Reason::BasisInvalid,
                    format!("{benefit} is not standard-bound and takes no calculation basis"),
                );
            }
            (true, None) => {
                return reject(Reason::BasisRequired, format!("a {benefit} payment needs its calculation basis"));
            }
            (true, Some(basis)) => basis,
        };
        match standards::standard_amount(benefit, basis, period, self.ctx.policy) {
            Ok(standard) if standard == amount => Ok(()),
            Ok(standard) => reject(
                Reason::AmountNotStandard,
                format!("{benefit} of {amount} differs from the unified standard of {standard} for this basis"),
            ),
            Err(e @ StandardError::NoParameters { .. }) => reject(Reason::NoBenefitParameters, e.to_string()),
            Err(e) => reject(Reason::BasisInvalid, e.to_string()),
        }
    }

    /// Prevention spending in `year` may not exceed the cap ratio of the prior year's premium
    /// income (from the ledger, or the policy's baseline for years before the reform).
    fn check_prevention_cap(&self, year: u16, amount: Money) -> Result<(), Rejection> {
        let policy = self.ctx.policy;
        let prior = year - 1;
        let (base, _) = crate::policy::prevention_cap_base(
            year,
            policy.reform_period(),
            &policy.prevention.baseline_premium_income,
            self.state.premium_income(prior),
        );
        let cap = base.checked_mul_ratio(policy.prevention.cap_ratio).expect("bounded");
        let after = self.state.prevention_paid(year).add(amount);
        if after > cap {
            return reject(
                Reason::PreventionCapExceeded,
                format!(
                    "prevention spending in {year} would reach {after}, above the cap of {cap} ({} of {prior} premium income {base})",
                    policy.prevention.cap_ratio
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_proportionally;

    #[test]
    fn proportional_split_sums_exactly() {
        assert_eq!(split_proportionally(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(split_proportionally(10, &[0, 5, 15]), vec![0, 3, 7]);
        assert_eq!(split_proportionally(0, &[3, 4]), vec![0, 0]);
        assert_eq!(split_proportionally(7, &[0, 0]), vec![0, 0]);
    }
}
