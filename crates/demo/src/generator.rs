//! The generator: plans one calendar month at a time as a list of timed jobs, sorts them by time,
//! and turns each job into a command when its turn comes, deciding and applying it against the
//! generator's own `FundState`. Amounts that depend on the ledger (a transfer of "everything
//! untransferred", an allocation of "what the next payments need beyond the balance") are computed
//! at that moment from the state, so every command is accepted by construction.
//!
//! Memory is bounded by one month of jobs (plus the domain's state), so a history of any length
//! streams.

use std::collections::VecDeque;

use fundledger_domain::policy::UnitKind;
use fundledger_domain::standards::standard_amount;
use fundledger_domain::{
    Actor, Basis, BenefitType, BudgetLines, Command, Context, Department, ExpenditureCategory, FundState,
    IncomeCategory, LegacyFundKind, Money, NursingLevel, Period, Policy, ProvincialIncomeKind, RegionCode,
    ReversalReason, Role, TaxBatchRef, decide,
};
use rust_decimal::Decimal;

use crate::calendar::{MICROS_PER_MINUTE, Month, OFFICE_CLOSES_MINUTE, OFFICE_OPENS_MINUTE};
use crate::model::*;
use crate::rng::{Rng, mix};
use crate::{DemoConfig, GeneratedCommand, ids};

/// Synthetic cases drawn to estimate a case's mean spending per category (for budgets).
const ESTIMATE_SAMPLE_CASES: u64 = 2_000;
/// Stream tags, so that independent draws never share numbers.
const TAG_CASE: u64 = 1;
const TAG_ESTIMATE: u64 = 2;
const TAG_POPULATION: u64 = 3;
const TAG_MONTH: u64 = 4;
const TAG_UNIT_MONTH: u64 = 5;
const TAG_HOUSEHOLD: u64 = 6;
const TAG_RESERVE: u64 = 7;
/// Latest minute a workflow step starts, so the allocation that follows stays in office hours.
const WORKFLOW_LAST_MINUTE: i64 = 15 * 60;

/// A benefit paid every month to one beneficiary, and its amount for the year it was computed.
struct Periodic {
    benefit: BenefitType,
    beneficiary: u32,
    basis: Basis,
    /// First period it is paid in.
    from: Period,
    year: u16,
    amount_fen: i64,
}

/// The beneficiary numbers of one month's new cases.
#[derive(Clone, Copy)]
struct Cohort {
    start: u32,
    len: u32,
}

/// A payment to be partly recovered in the next month.
#[derive(Clone, Copy)]
struct Recovery {
    period: Period,
    seq: u32,
    amount_fen: i64,
    permille: i64,
}

/// One paying unit's model: its people, its cases and this year's estimates.
struct UnitModel {
    code: RegionCode,
    weight: u64,
    kind: UnitKind,
    /// Tax bureau, finance department and agency of the unit.
    actors: [Actor; 3],
    periodic: Vec<Periodic>,
    next_beneficiary: u32,
    /// Most recent first.
    cohorts: VecDeque<Cohort>,
    /// This year's estimated spending per category and expected income, fen.
    estimate_fen: [i64; 6],
    expected_income_fen: i64,
    budget: BudgetLines,
    short: bool,
    recover_next: Vec<Recovery>,
}

/// What one unit does in the month being generated.
#[derive(Default, Clone, Copy)]
struct UnitMonth {
    /// Intended payments per category, fen.
    intended_fen: [i64; 6],
    /// Payments falling in each allocation window, fen.
    window_fen: [i64; 3],
    payments: u32,
}

struct Collection {
    unit: u16,
    category: IncomeCategory,
    amount_fen: i64,
    batch: TaxBatchRef,
}

struct Payment {
    unit: u16,
    benefit: BenefitType,
    beneficiary: fundledger_domain::BeneficiaryRef,
    seq: u32,
    amount_fen: i64,
    basis: Option<Basis>,
}

struct Reversal {
    unit: u16,
    paid_period: Period,
    seq: u32,
    amount_fen: i64,
    reason: ReversalReason,
}

#[derive(Clone, Copy, Debug)]
enum Job {
    AdoptBudget { unit: u16 },
    Consolidate { unit: u16 },
    Close { unit: u16, period: Period },
    AssessGap { year: u16 },
    Submit { unit: u16, attempt: u8 },
    Approve { unit: u16, attempt: u8 },
    Reject { unit: u16, attempt: u8, by: Department },
    Review { unit: u16, attempt: u8 },
    Allocate { unit: u16, window: u8 },
    Collect { index: u32 },
    Refund { index: u32, permille: u16 },
    Transfer { unit: u16, last: bool, share_permille: u16 },
    Pay { index: u32 },
    Reverse { index: u32 },
    FiscalInterest,
    FiscalSubsidy,
    FiscalAdvance,
    AdjustBudget { unit: u16 },
    AdjustRates { class: u8 },
}

#[derive(Clone, Copy)]
struct Scheduled {
    at: i64,
    seq: u32,
    job: Job,
}

#[derive(Clone, Copy)]
enum Who {
    Tax(u16),
    Finance(u16),
    Agency(u16),
    Hrss,
    ProvincialFinance,
    ProvincialAgency,
}

/// A deterministic, streaming fund history. Create it with [`crate::generate`]; iterate it for
/// the commands. Every command it yields was accepted by `decide` against its own state.
pub struct Generator {
    policy: Policy,
    config: DemoConfig,
    weight_total: u64,
    units: Vec<UnitModel>,
    provincial: [Actor; 3],
    state: FundState,
    first: Period,
    last: Period,
    /// The next calendar month to plan; history ends after planning `last.next()` (the month in
    /// which the last period closes).
    next_month: Period,
    short_year: u16,
    short_units: Vec<u16>,
    /// This year's prevention cap and what has been planned against it, fen.
    prevention_cap_fen: i64,
    prevention_planned_fen: i64,
    current: Period,
    jobs: Vec<Scheduled>,
    cursor: usize,
    unit_months: Vec<UnitMonth>,
    collections: Vec<Collection>,
    payments: Vec<Payment>,
    reversals: Vec<Reversal>,
    out: VecDeque<GeneratedCommand>,
    emitted: u64,
    rejected: u64,
}

fn money(fen: i64) -> Money {
    Money::from_fen(fen).expect("generated amounts stay far below the ceiling")
}

fn round_up(fen: i64, step: i64) -> i64 {
    (fen + step - 1).div_euclid(step) * step
}

fn permille(fen: i64, p: i64) -> i64 {
    i64::try_from(i128::from(fen) * i128::from(p) / 1000).expect("bounded")
}

impl Generator {
    pub(crate) fn new(policy: &Policy, config: &DemoConfig) -> Generator {
        let weights = unit_weights(policy);
        let weight_total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let province = policy.province.code;
        let actor =
            |name: String, role: Role, region: Option<RegionCode>| Actor { principal: name.into(), role, region };
        let units = policy
            .units
            .iter()
            .zip(&weights)
            .map(|(u, w)| UnitModel {
                code: u.code,
                weight: u64::from(*w),
                kind: u.kind,
                actors: [
                    actor(format!("tax-bureau@{}", u.code), Role::RegionTaxBureau, Some(u.code)),
                    actor(format!("finance@{}", u.code), Role::RegionFinance, Some(u.code)),
                    actor(format!("agency@{}", u.code), Role::RegionAgency, Some(u.code)),
                ],
                periodic: Vec::new(),
                next_beneficiary: 1,
                cohorts: VecDeque::with_capacity(COHORT_MONTHS + 1),
                estimate_fen: [0; 6],
                expected_income_fen: 0,
                budget: BudgetLines::default(),
                short: false,
                recover_next: Vec::new(),
            })
            .collect::<Vec<_>>();
        let first = policy.reform_period();
        let last = Period::new(first.year() + config.years - 1, 12).expect("years validated");
        // The short year: the second if there is one, so the first year shows a normal fund.
        let short_year = if config.years >= 2 { first.year() + 1 } else { first.year() };
        // The short units: the smallest regions (at most two, never the only unit).
        let mut regions: Vec<u16> =
            (0..units.len() as u16).filter(|i| units[usize::from(*i)].kind == UnitKind::Region).collect();
        regions.sort_by_key(|i| (units[usize::from(*i)].weight, *i));
        let short_count = if units.len() >= 4 { 2 } else { 1 };
        let short_units = regions.into_iter().take(short_count).collect();
        let n_units = units.len();
        let mut g = Generator {
            policy: policy.clone(),
            config: *config,
            weight_total,
            units,
            provincial: [
                actor(format!("hrss@{province}"), Role::ProvincialHrss, None),
                actor(format!("finance@{province}"), Role::ProvincialFinance, None),
                actor(format!("agency@{province}"), Role::ProvincialAgency, None),
            ],
            state: FundState::new(),
            first,
            last,
            next_month: first,
            short_year,
            short_units,
            prevention_cap_fen: 0,
            prevention_planned_fen: 0,
            current: first,
            jobs: Vec::new(),
            cursor: 0,
            unit_months: vec![UnitMonth::default(); n_units],
            collections: Vec::new(),
            payments: Vec::new(),
            reversals: Vec::new(),
            out: VecDeque::new(),
            emitted: 0,
            rejected: 0,
        };
        g.seed_population();
        g
    }

    /// The decision state after the commands yielded so far.
    pub fn state(&self) -> &FundState {
        &self.state
    }

    /// Commands yielded so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Commands the generator built but `decide` refused (always 0 unless the generator has a
    /// bug; debug builds panic instead). Refused commands are not yielded.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// An expected count in thousandths for unit `u`: `per_year_scale1` for the whole province,
    /// shared by weight, scaled, for one month.
    fn monthly_milli(&self, u: usize, per_year_scale1: u64) -> u64 {
        per_year_scale1 * u64::from(self.config.scale) * 1000 * self.units[u].weight / (self.weight_total * 12)
    }

    fn new_beneficiary(&mut self, u: usize) -> u32 {
        let b = self.units[u].next_beneficiary;
        self.units[u].next_beneficiary += 1;
        b
    }

    /// The people already drawing periodic benefits when pooling starts, and the cohorts of
    /// injuries from the months before it (whose appraisals and subsidies fall after it).
    fn seed_population(&mut self) {
        let from = self.first;
        let scale = u64::from(self.config.scale);
        let avg_fen = self.avg_wage_fen(from.year());
        for u in 0..self.units.len() {
            let mut rng = Rng::derive(self.config.seed, &[TAG_POPULATION, u64::from(self.units[u].code.get())]);
            let share = |n: u64| n * scale * 1000 * self.units[u].weight / self.weight_total;
            let allowances = rng.round_count(share(ALLOWANCE_POPULATION_SCALE1));
            let households = rng.round_count(share(DEPENDANT_HOUSEHOLDS_SCALE1));
            for _ in 0..allowances {
                let b = self.new_beneficiary(u);
                let grade = rng.pick(&ALLOWANCE_GRADE_WEIGHTS) as u8 + 1;
                let own_wage = money(own_wage_fen(avg_fen, rng.next_u64()));
                self.add_allowance(u, b, grade, own_wage, from, rng.chance(NURSING_SHARE_PERMILLE));
            }
            for _ in 0..households {
                let b = self.new_beneficiary(u);
                let basis = household_basis(avg_fen, rng.next_u64());
                self.push_periodic(u, BenefitType::DependantsPension, b, basis, from);
            }
            for _ in 0..COHORT_MONTHS - 1 {
                let len = rng.round_count(self.monthly_milli(u, NEW_CASES_PER_YEAR_SCALE1)) as u32;
                let start = self.units[u].next_beneficiary;
                self.units[u].next_beneficiary += len;
                self.units[u].cohorts.push_back(Cohort { start, len });
            }
        }
    }

    fn push_periodic(&mut self, u: usize, benefit: BenefitType, beneficiary: u32, basis: Basis, from: Period) {
        self.units[u].periodic.push(Periodic { benefit, beneficiary, basis, from, year: 0, amount_fen: 0 });
    }

    fn add_allowance(&mut self, u: usize, b: u32, grade: u8, own_wage: Money, from: Period, nursing: bool) {
        self.push_periodic(
            u,
            BenefitType::MonthlyDisabilityAllowance,
            b,
            Basis::DisabilityAllowance { grade, own_wage },
            from,
        );
        if nursing {
            let level = match grade {
                1 => NursingLevel::Full,
                2 => NursingLevel::Major,
                _ => NursingLevel::Partial,
            };
            self.push_periodic(u, BenefitType::NursingAllowance, b, Basis::Nursing { level }, from);
        }
    }

    /// The province's monthly average wage of the year before `year`, fen: the base of own wages.
    fn avg_wage_fen(&self, year: u16) -> i64 {
        self.policy.benefit_year(year - 1).expect("parameters validated").monthly_average_wage.to_fen()
    }

    fn standard_fen(&self, benefit: BenefitType, basis: &Basis, period: Period) -> i64 {
        standard_amount(benefit, basis, period, &self.policy)
            .unwrap_or_else(|e| panic!("standard for {benefit} {basis:?} in {period}: {e}"))
            .to_fen()
    }

    /// A one-time benefit for a case: its amount and basis, or `None` when the case does not
    /// qualify (the one-time medical subsidy only goes to grade 5-10 cases leaving employment).
    fn case_payment(
        &self,
        rng: &mut Rng,
        benefit: BenefitType,
        case: u64,
        period: Period,
    ) -> Option<(i64, Option<Basis>)> {
        let yuan = |rng: &mut Rng, lo: i64, hi: i64| rng.range(lo * 100, hi * 100);
        let avg_fen = self.avg_wage_fen(period.year());
        Some(match benefit {
            BenefitType::MedicalTreatment => {
                let fen = match rng.pick(&[750, 220, 30]) {
                    0 => yuan(rng, 800, 6_000),
                    1 => yuan(rng, 6_000, 25_000),
                    _ => yuan(rng, 25_000, 120_000),
                };
                (fen, None)
            }
            BenefitType::HospitalMealAllowance => (rng.range(3, 60) * rng.range(30, 50) * 100, None),
            BenefitType::OutOfRegionTravel => (yuan(rng, 300, 4_000), None),
            BenefitType::Rehabilitation => (yuan(rng, 5_000, 40_000), None),
            BenefitType::AssistiveDevice => (yuan(rng, 2_000, 30_000), None),
            BenefitType::AppraisalFee => (rng.range(200, 600) * 100, None),
            BenefitType::OneTimeDisabilitySubsidy => {
                let basis =
                    Basis::DisabilitySubsidy { grade: case_grade(case), own_wage: money(case_wage(avg_fen, case)) };
                (self.standard_fen(benefit, &basis, period), Some(basis))
            }
            BenefitType::OneTimeMedicalSubsidy => {
                let grade = case_grade(case);
                if grade < 5 || mix(&[case, 11]) % 1000 >= MEDICAL_SUBSIDY_TAKE_UP_PERMILLE {
                    return None;
                }
                (avg_fen * MEDICAL_SUBSIDY_MONTHS_BY_GRADE_5_TO_10[usize::from(grade) - 5], None)
            }
            _ => unreachable!("{benefit} is not a case benefit"),
        })
    }

    /// Mean spending of one new case and of one death, per category, for budget estimates.
    fn mean_case_fen(&self, year: u16) -> ([i64; 6], [i64; 6]) {
        let period = Period::new(year, 6).expect("valid");
        let mut rng = Rng::derive(self.config.seed, &[TAG_ESTIMATE, u64::from(year)]);
        let mut case = [0i64; 6];
        for j in 0..ESTIMATE_SAMPLE_CASES {
            let h = mix(&[self.config.seed, TAG_ESTIMATE, j]);
            for band in &CASE_BANDS {
                if let Some((fen, _)) = self.case_payment(&mut rng, band.benefit, h, period) {
                    let c = category_index(band.benefit.category().expect("fund-paid"));
                    case[c] += fen * (band.to_permille - band.from_permille) as i64 / 1000;
                }
            }
        }
        case.iter_mut().for_each(|c| *c /= ESTIMATE_SAMPLE_CASES as i64);
        let mut death = [0i64; 6];
        death[category_index(ExpenditureCategory::Death)] =
            self.standard_fen(BenefitType::FuneralSubsidy, &Basis::Funeral, period)
                + self.standard_fen(BenefitType::OneTimeWorkDeathSubsidy, &Basis::WorkDeath, period);
        (case, death)
    }

    /// January (or the reform month): estimates, income targets, budgets and the prevention cap.
    fn start_year(&mut self, year: u16, first_month: u8) {
        let months = i64::from(13 - first_month);
        let period = Period::new(year, first_month).expect("valid");
        let (case_fen, death_fen) = self.mean_case_fen(year);
        let prior = year - 1;
        let base = self
            .state
            .premium_income(prior)
            .or_else(|| self.policy.prevention.baseline_premium_income.get(&prior).copied())
            .unwrap_or(Money::ZERO);
        let cap = base.checked_mul_ratio(self.policy.prevention.cap_ratio).expect("bounded").to_fen();
        self.prevention_cap_fen = cap;
        self.prevention_planned_fen = 0;
        let prevention_target = permille(cap, PREVENTION_TARGET_OF_CAP_PERMILLE);
        for u in 0..self.units.len() {
            let mut est = [0i64; 6];
            for i in 0..self.units[u].periodic.len() {
                let fen = self.periodic_amount(u, i, period);
                let c = category_index(self.units[u].periodic[i].benefit.category().expect("fund-paid"));
                est[c] += fen * months;
            }
            let cases_milli = self.monthly_milli(u, NEW_CASES_PER_YEAR_SCALE1) as i64 * months;
            let deaths_milli = self.monthly_milli(u, DEATHS_PER_YEAR_SCALE1) as i64 * months;
            for c in 0..6 {
                est[c] += (case_fen[c] * cases_milli + death_fen[c] * deaths_milli) / 1000;
            }
            let w = self.units[u].weight as i64;
            est[category_index(ExpenditureCategory::Prevention)] +=
                prevention_target * w * months / (self.weight_total as i64 * 12);
            est[category_index(ExpenditureCategory::Other)] += OTHER_PAYMENT_AMOUNT_YUAN.1 * 100;
            let total: i64 = est.iter().sum();
            let unit = &mut self.units[u];
            unit.estimate_fen = est;
            unit.expected_income_fen = permille(total, INCOME_TO_SPENDING_PERMILLE);
            unit.short = year == self.short_year && self.short_units.contains(&(u as u16));
            let income = unit.expected_income_fen;
            unit.budget = BudgetLines {
                income: vec![
                    (
                        IncomeCategory::Premium,
                        money(round_up(permille(income, INCOME_BUDGET_OF_EXPECTED_PERMILLE), 1_000_000)),
                    ),
                    (IncomeCategory::Interest, money(0)),
                    (IncomeCategory::Other, money(0)),
                ],
                expenditure: CATEGORIES
                    .iter()
                    .zip(est)
                    .map(|(c, fen)| {
                        (*c, money(round_up(permille(fen, 1000 + EXPENDITURE_BUDGET_MARGIN_PERMILLE), 1_000_000)))
                    })
                    .collect(),
            };
        }
    }

    /// The amount of periodic entry `i` of unit `u` for `period`, recomputed once a year from the
    /// unified standard.
    fn periodic_amount(&mut self, u: usize, i: usize, period: Period) -> i64 {
        let p = &self.units[u].periodic[i];
        if p.year == period.year() {
            return p.amount_fen;
        }
        let fen = self.standard_fen(p.benefit, &p.basis, period);
        let p = &mut self.units[u].periodic[i];
        p.year = period.year();
        p.amount_fen = fen;
        fen
    }

    fn schedule(&mut self, at: i64, job: Job) {
        let seq = self.jobs.len() as u32;
        self.jobs.push(Scheduled { at, seq, job });
    }

    /// Plans calendar month `cal`: the closes of the month before, then (within the history) the
    /// month's budgets, plans, collections, payments, transfers and provincial business.
    fn plan_month(&mut self, cal: Period) {
        self.jobs.clear();
        self.cursor = 0;
        self.collections.clear();
        self.payments.clear();
        self.reversals.clear();
        self.unit_months.iter_mut().for_each(|m| *m = UnitMonth::default());
        self.current = cal;
        let month = Month::new(cal.year(), cal.month());
        let w = month.workdays();
        let mut rng = Rng::derive(self.config.seed, &[TAG_MONTH, u64::from(cal.index())]);
        let minute = |rng: &mut Rng| rng.range(OFFICE_OPENS_MINUTE, OFFICE_CLOSES_MINUTE - 1);

        // Closes of the previous period: most a few working days after month end, some late.
        let prev = cal.prev();
        if prev >= self.first && prev <= self.last {
            for u in 0..self.units.len() as u16 {
                let at = if rng.chance(LATE_CLOSE_PERMILLE) {
                    month.at_day(month.workday_on_or_after(17 + rng.range(0, 4) as u32), minute(&mut rng))
                } else {
                    month.at(rng.range(2, 4) as u32, minute(&mut rng))
                };
                self.schedule(at, Job::Close { unit: u, period: prev });
            }
        }
        // Gap shares of the year just closed, once every unit has closed all twelve months.
        if cal.month() == 1 && Period::new(cal.year() - 1, 1).is_some_and(|p| p >= self.first) {
            self.schedule(month.at(w, 16 * 60), Job::AssessGap { year: cal.year() - 1 });
        }
        if cal > self.last {
            self.finish_planning();
            return;
        }

        let year_start = cal == self.first || cal.month() == 1;
        if year_start {
            self.start_year(cal.year(), cal.month());
            for u in 0..self.units.len() as u16 {
                self.schedule(month.at(1, 9 * 60 + 2 * i64::from(u)), Job::AdoptBudget { unit: u });
            }
        }
        if cal == self.first {
            for u in 0..self.units.len() as u16 {
                self.schedule(month.at(1, 10 * 60 + 30 + 2 * i64::from(u)), Job::Consolidate { unit: u });
            }
        }

        // Prevention projects, province-wide, within the cap.
        let mut prevention: Vec<(usize, i64)> = Vec::new();
        let projects_year = PREVENTION_PROJECTS_PER_YEAR_SCALE1 * u64::from(self.config.scale);
        let target = permille(self.prevention_cap_fen, PREVENTION_TARGET_OF_CAP_PERMILLE);
        let weights: Vec<u32> = self.units.iter().map(|u| u.weight as u32).collect();
        for _ in 0..rng.round_count(projects_year * 1000 / 12) {
            let unit = rng.pick(&weights);
            let fen = round_up(target / projects_year as i64 * rng.range(500, 1500) / 1000, 100);
            // Keep 2% of the cap free: the cap is a hard rule, the target only a plan.
            if fen > 0 && self.prevention_planned_fen + fen <= permille(self.prevention_cap_fen, 980) {
                self.prevention_planned_fen += fen;
                prevention.push((unit, fen));
            }
        }

        for u in 0..self.units.len() {
            self.plan_unit_month(u, &month, &prevention);
        }

        // Provincial business.
        if cal.month().is_multiple_of(3) {
            self.schedule(month.at(w - 4, 15 * 60 + 30), Job::FiscalInterest);
        }
        if cal.month() == 6 {
            self.schedule(month.at(12, 10 * 60), Job::FiscalSubsidy);
        }
        if cal.month() == 12 && cal.year() == self.short_year {
            self.schedule(month.at(w, 15 * 60), Job::FiscalAdvance);
        }
        if cal.month() == 7 {
            let mut chosen: Vec<u16> = Vec::new();
            while chosen.len() < BUDGET_ADJUSTMENTS_PER_YEAR.min(self.units.len()) {
                let u = rng.below(self.units.len() as u64) as u16;
                if !chosen.contains(&u) {
                    chosen.push(u);
                }
            }
            for (i, u) in chosen.into_iter().enumerate() {
                self.schedule(month.at(6, 11 * 60 + 10 * i as i64), Job::AdjustBudget { unit: u });
            }
        }
        if cal.month() == 10 && !self.policy.risk_classes.is_empty() {
            let n = self.policy.risk_classes.len() as u64;
            let class = self.policy.risk_classes[((u64::from(cal.year() - self.first.year()) * 3) % n) as usize].class;
            self.schedule(month.at(10, 10 * 60), Job::AdjustRates { class });
        }
        self.finish_planning();
    }

    fn finish_planning(&mut self) {
        // Stable order: by time, then by the order planned (which respects every dependency
        // between jobs that share a timestamp).
        self.jobs.sort_unstable_by_key(|j| (j.at, j.seq));
    }

    fn plan_unit_month(&mut self, u: usize, month: &Month, prevention: &[(usize, i64)]) {
        let cal = self.current;
        let code = self.units[u].code;
        let unit = u as u16;
        let w = month.workdays();
        let mut rng = Rng::derive(self.config.seed, &[TAG_UNIT_MONTH, u64::from(cal.index()), u64::from(code.get())]);
        let minute = |rng: &mut Rng| rng.range(OFFICE_OPENS_MINUTE, OFFICE_CLOSES_MINUTE - 1);
        let step_minute = |rng: &mut Rng| rng.range(OFFICE_OPENS_MINUTE, WORKFLOW_LAST_MINUTE);

        // --- the plan's workflow: submit, HRSS approves, Finance reviews (one may reject) ---
        let year_start = cal == self.first || cal.month() == 1;
        let mut day = if year_start { 1 } else { rng.range(1, 2) as u32 };
        let mut at =
            if year_start { month.at(1, 13 * 60 + rng.range(0, 120)) } else { month.at(day, step_minute(&mut rng)) };
        self.schedule(at, Job::Submit { unit, attempt: 0 });
        let next_step = |rng: &mut Rng, day: &mut u32| {
            *day += 1;
            month.at(*day, step_minute(rng))
        };
        let mut attempt = 0;
        if rng.chance(HRSS_REJECTS_PERMILLE) {
            self.schedule(next_step(&mut rng, &mut day), Job::Reject { unit, attempt, by: Department::Hrss });
            attempt = 1;
            self.schedule(next_step(&mut rng, &mut day), Job::Submit { unit, attempt });
        } else if rng.chance(FINANCE_REJECTS_PERMILLE) {
            self.schedule(next_step(&mut rng, &mut day), Job::Approve { unit, attempt });
            self.schedule(next_step(&mut rng, &mut day), Job::Reject { unit, attempt, by: Department::Finance });
            attempt = 1;
            self.schedule(next_step(&mut rng, &mut day), Job::Submit { unit, attempt });
        }
        self.schedule(next_step(&mut rng, &mut day), Job::Approve { unit, attempt });
        at = next_step(&mut rng, &mut day);
        self.schedule(at, Job::Review { unit, attempt });
        let t1 = at + rng.range(30, 120) * MICROS_PER_MINUTE;
        self.schedule(t1, Job::Allocate { unit, window: 0 });

        // --- payment days and allocation windows ---
        let pay_from = day + 1;
        let pay_to = w - 1;
        let batch_day = pay_from.max(8 + (u as u32 % 4));
        let batch_at = month.at(batch_day, 10 * 60);
        let tranches = 1 + rng.pick(&[50, 35, 15]);
        let mut bounds = [i64::MAX; 2];
        if tranches >= 2 {
            bounds[0] = batch_at - 60 * MICROS_PER_MINUTE;
            self.schedule(bounds[0], Job::Allocate { unit, window: 1 });
        }
        if tranches == 3 {
            bounds[1] = month.at(batch_day + (pay_to - batch_day) / 2 + 1, 9 * 60);
            self.schedule(bounds[1], Job::Allocate { unit, window: 2 });
        }
        let window_of = |at: i64| {
            if at < bounds[0] {
                0
            } else if at < bounds[1] {
                1
            } else {
                2
            }
        };
        let pay_at = |rng: &mut Rng| month.at(rng.range(i64::from(pay_from), i64::from(pay_to)) as u32, minute(rng));

        // Recoveries of last month's payments, booked in this month.
        let recoveries = std::mem::take(&mut self.units[u].recover_next);
        for r in recoveries {
            let at = pay_at(&mut rng);
            let index = self.reversals.len() as u32;
            self.reversals.push(Reversal {
                unit,
                paid_period: r.period,
                seq: r.seq,
                amount_fen: permille(r.amount_fen, r.permille).max(1),
                reason: ReversalReason::Recovered,
            });
            self.schedule(at, Job::Reverse { index });
        }

        // --- one-time payments ---
        let one_time = |g: &mut Generator, rng: &mut Rng, benefit: BenefitType, beneficiary, fen: i64, basis| {
            let at = pay_at(rng);
            g.push_payment(u, at, window_of(at), benefit, beneficiary, fen, basis);
            if rng.below(10_000) < RECOVERED_PER_10K {
                let seq = g.unit_months[u].payments - 1;
                let r = Recovery { period: cal, seq, amount_fen: fen, permille: rng.range(100, 600) };
                g.units[u].recover_next.push(r);
            }
        };
        // Deaths: funeral and work-death subsidies, and the dependants' pension from this month.
        for _ in 0..rng.round_count(self.monthly_milli(u, DEATHS_PER_YEAR_SCALE1)) {
            let b = self.new_beneficiary(u);
            let household = ids::beneficiary(code, b);
            for (benefit, basis) in [
                (BenefitType::FuneralSubsidy, Basis::Funeral),
                (BenefitType::OneTimeWorkDeathSubsidy, Basis::WorkDeath),
            ] {
                let fen = self.standard_fen(benefit, &basis, cal);
                one_time(self, &mut rng, benefit, household, fen, Some(basis));
            }
            let h = mix(&[self.config.seed, TAG_HOUSEHOLD, u64::from(code.get()), u64::from(b)]);
            if h % 1000 < u64::from(DEATHS_WITH_DEPENDANTS_PERMILLE) {
                let basis = household_basis(self.avg_wage_fen(cal.year()), h);
                self.push_periodic(u, BenefitType::DependantsPension, b, basis, cal);
            }
        }
        // This month's new cases, then every band of the recent cohorts.
        let len = rng.round_count(self.monthly_milli(u, NEW_CASES_PER_YEAR_SCALE1)) as u32;
        let start = self.units[u].next_beneficiary;
        self.units[u].next_beneficiary += len;
        self.units[u].cohorts.push_front(Cohort { start, len });
        self.units[u].cohorts.truncate(COHORT_MONTHS);
        let next = cal.next();
        for band in &CASE_BANDS {
            let Some(cohort) = self.units[u].cohorts.get(usize::from(band.lag_months)).copied() else { continue };
            let n = u64::from(cohort.len);
            let (lo, hi) = ((band.from_permille * n).div_ceil(1000), (band.to_permille * n).div_ceil(1000));
            for i in lo..hi {
                let b = cohort.start + i as u32;
                let case = mix(&[self.config.seed, TAG_CASE, u64::from(code.get()), u64::from(b)]);
                let Some((fen, basis)) = self.case_payment(&mut rng, band.benefit, case, cal) else { continue };
                one_time(self, &mut rng, band.benefit, ids::beneficiary(code, b), fen, basis);
                // Grades 1-4 draw the monthly allowance (and some nursing) from next month on.
                if let Some(Basis::DisabilitySubsidy { grade, own_wage }) = basis
                    && grade <= 4
                {
                    let nursing =
                        mix(&[case, 12]) % 1000 < u64::from(NURSING_BY_GRADE_PERMILLE[usize::from(grade) - 1]);
                    self.add_allowance(u, b, grade, own_wage, next, nursing);
                }
            }
        }
        for (_, fen) in prevention.iter().filter(|(p, _)| *p == u) {
            let org = ids::organisation(code, rng.range(1, 50) as u32);
            one_time(self, &mut rng, BenefitType::PreventionProject, org, *fen, None);
        }
        if usize::from(cal.month()) == (u * 5) % 12 + 1 {
            let (lo, hi) = OTHER_PAYMENT_AMOUNT_YUAN;
            let fen = rng.range(lo * 100, hi * 100);
            one_time(self, &mut rng, BenefitType::OtherExpenditure, ids::organisation(code, 0), fen, None);
        }

        // --- the periodic batch run: some benefits end, the rest are paid ---
        self.units[u].periodic.retain(|p| {
            let per_10k = match p.benefit {
                BenefitType::DependantsPension => DEPENDANTS_EXITS_PER_10K_MONTHLY,
                _ => ALLOWANCE_EXITS_PER_10K_MONTHLY,
            };
            p.from > cal || rng.below(10_000) >= per_10k
        });
        let mut at = batch_at;
        for i in 0..self.units[u].periodic.len() {
            if self.units[u].periodic[i].from > cal {
                continue;
            }
            let fen = self.periodic_amount(u, i, cal);
            let p = &self.units[u].periodic[i];
            let (benefit, basis, b) = (p.benefit, p.basis, p.beneficiary);
            self.push_payment(u, at, window_of(at), benefit, ids::beneficiary(code, b), fen, Some(basis));
            if rng.below(10_000) < RETURNED_PER_10K {
                // The bank returns it a few working days later, within the month.
                let back_day = batch_day + rng.range(2, 5) as u32;
                if back_day <= pay_to {
                    let index = self.reversals.len() as u32;
                    let seq = self.unit_months[u].payments - 1;
                    self.reversals.push(Reversal {
                        unit,
                        paid_period: cal,
                        seq,
                        amount_fen: fen,
                        reason: ReversalReason::Returned,
                    });
                    self.schedule(month.at(back_day, minute(&mut rng)), Job::Reverse { index });
                }
            }
            at += BATCH_PAYMENT_SPACING_MICROS;
        }

        // --- the income line: tax batches, a few refunds, interest, other income, transfers ---
        let scale = u64::from(self.config.scale);
        let batches = (TAX_BATCHES_PER_MONTH_SCALE1 * self.units[u].weight / self.weight_total)
            .max(TAX_BATCHES_PER_UNIT_MONTH_MIN)
            * scale;
        let mut income = self.units[u].expected_income_fen / 12
            * (1000 + rng.range(-COLLECTION_NOISE_PERMILLE, COLLECTION_NOISE_PERMILLE))
            / 1000;
        if self.units[u].short {
            income = permille(income, SHORT_UNIT_COLLECTION_PERMILLE);
        }
        let shares: Vec<i64> = (0..batches).map(|_| rng.range(1, 1000)).collect();
        let share_total: i64 = shares.iter().sum();
        let mut left = income;
        let last_collection_day = w - 3;
        for (k, share) in shares.iter().enumerate() {
            let fen = if k + 1 == shares.len() { left } else { income * share / share_total };
            left -= fen;
            let day = rng.range(1, i64::from(last_collection_day)) as u32;
            let at = month.at(day, minute(&mut rng));
            let index = self.push_collection(
                unit,
                IncomeCategory::Premium,
                fen.max(1),
                ids::tax_batch("TB", code, cal, k as u32 + 1),
            );
            self.schedule(at, Job::Collect { index });
            if day < last_collection_day && rng.chance(REFUND_PERMILLE) {
                let refund_day = (day + rng.range(1, 2) as u32).min(last_collection_day);
                let refund_at = month.at(refund_day, minute(&mut rng)).max(at + MICROS_PER_MINUTE);
                self.schedule(refund_at, Job::Refund { index, permille: rng.range(50, 300) as u16 });
            }
        }
        if cal.month().is_multiple_of(3) {
            let fen = (income * INCOME_ACCOUNT_INTEREST_PER_10K / 10_000).max(1);
            let index = self.push_collection(unit, IncomeCategory::Interest, fen, ids::tax_batch("IN", code, cal, 1));
            self.schedule(month.at(w - 4, 11 * 60), Job::Collect { index });
        }
        if rng.chance(OTHER_INCOME_PERMILLE) {
            let fen = (income * rng.range(1, 5) / 1000).max(1);
            let index = self.push_collection(unit, IncomeCategory::Other, fen, ids::tax_batch("OT", code, cal, 1));
            let day = rng.range(1, i64::from(last_collection_day)) as u32;
            self.schedule(month.at(day, minute(&mut rng)), Job::Collect { index });
        }
        if rng.chance(TWO_TRANSFERS_PERMILLE) {
            let share_permille = rng.range(500, 700) as u16;
            self.schedule(month.at(w / 2, 15 * 60 + 3 * u as i64), Job::Transfer { unit, last: false, share_permille });
        }
        let final_day = w - 2 + rng.range(0, 1) as u32;
        self.schedule(
            month.at(final_day, 10 * 60 + 7 * u as i64),
            Job::Transfer { unit, last: true, share_permille: 1000 },
        );
    }

    fn push_collection(&mut self, unit: u16, category: IncomeCategory, amount_fen: i64, batch: TaxBatchRef) -> u32 {
        let index = self.collections.len() as u32;
        self.collections.push(Collection { unit, category, amount_fen, batch });
        index
    }

    #[allow(clippy::too_many_arguments)]
    fn push_payment(
        &mut self,
        u: usize,
        at: i64,
        window: usize,
        benefit: BenefitType,
        beneficiary: fundledger_domain::BeneficiaryRef,
        amount_fen: i64,
        basis: Option<Basis>,
    ) {
        let um = &mut self.unit_months[u];
        um.payments += 1;
        um.intended_fen[category_index(benefit.category().expect("fund-paid"))] += amount_fen;
        um.window_fen[window] += amount_fen;
        let index = self.payments.len() as u32;
        self.payments.push(Payment { unit: u as u16, benefit, beneficiary, seq: um.payments - 1, amount_fen, basis });
        self.schedule(at, Job::Pay { index });
    }

    fn code(&self, unit: u16) -> RegionCode {
        self.units[usize::from(unit)].code
    }

    fn actor(&self, who: Who) -> Actor {
        match who {
            Who::Tax(u) => self.units[usize::from(u)].actors[0].clone(),
            Who::Finance(u) => self.units[usize::from(u)].actors[1].clone(),
            Who::Agency(u) => self.units[usize::from(u)].actors[2].clone(),
            Who::Hrss => self.provincial[0].clone(),
            Who::ProvincialFinance => self.provincial[1].clone(),
            Who::ProvincialAgency => self.provincial[2].clone(),
        }
    }

    /// Decides and applies one command; an accepted command is queued for the caller.
    fn emit(&mut self, at: i64, who: Who, command: Command) {
        let ctx = Context { policy: &self.policy };
        match decide(&self.state, &command, &ctx) {
            Ok(events) => {
                for event in &events {
                    self.state.apply(event);
                }
                let command_id = ids::command_id(self.config.seed, self.emitted);
                self.emitted += 1;
                let actor = self.actor(who);
                self.out.push_back(GeneratedCommand { command_id, actor, recorded_at_micros: at, command });
            }
            Err(rejection) => {
                self.rejected += 1;
                debug_assert!(false, "the demo generator built a refused command: {command:?}: {rejection}");
            }
        }
    }

    fn plan_lines(&self, u: usize, attempt: u8) -> Vec<(ExpenditureCategory, Money)> {
        let (margin, extra) = if attempt == 0 {
            (PLAN_MARGIN_PERMILLE, PLAN_MARGIN_FEN)
        } else {
            (RESUBMITTED_PLAN_MARGIN_PERMILLE, RESUBMITTED_PLAN_MARGIN_FEN)
        };
        let intended = &self.unit_months[u].intended_fen;
        let mut lines: Vec<(ExpenditureCategory, Money)> = CATEGORIES
            .iter()
            .zip(intended)
            .filter(|(_, fen)| **fen > 0)
            .map(|(c, fen)| (*c, money(round_up(permille(*fen, 1000 + margin) + extra, 10_000))))
            .collect();
        if lines.is_empty() {
            lines.push((ExpenditureCategory::Other, money(extra)));
        }
        lines
    }

    fn run(&mut self, at: i64, job: Job) {
        let period = self.current;
        match job {
            Job::AdoptBudget { unit } => {
                let command = Command::AdoptBudget {
                    region: self.code(unit),
                    year: period.year(),
                    lines: self.units[usize::from(unit)].budget.clone(),
                };
                self.emit(at, Who::Hrss, command);
            }
            Job::Consolidate { unit } => {
                let u = usize::from(unit);
                let monthly: i64 = self.units[u].estimate_fen.iter().sum::<i64>() / i64::from(13 - period.month());
                let months = if u == 0 {
                    LEGACY_RESERVE_MONTHS_CAPITAL
                } else {
                    let mut rng = Rng::derive(self.config.seed, &[TAG_RESERVE, u64::from(self.code(unit).get())]);
                    rng.range(LEGACY_RESERVE_MONTHS_MIN, LEGACY_RESERVE_MONTHS_MAX)
                };
                // The old provincial adjustment fund sat with the provincial-level agency.
                let kind = if self.units[u].kind == UnitKind::ProvincialLevel {
                    LegacyFundKind::AdjustmentFund
                } else {
                    LegacyFundKind::Reserve
                };
                let amount = money(round_up(monthly * months, 100));
                self.emit(
                    at,
                    Who::ProvincialAgency,
                    Command::ConsolidateLegacyReserve { region: self.code(unit), kind, period, amount },
                );
            }
            Job::Close { unit, period } => {
                self.emit(at, Who::Agency(unit), Command::ClosePeriod { region: self.code(unit), period });
            }
            Job::AssessGap { year } => self.emit(at, Who::ProvincialAgency, Command::AssessGapShares { year }),
            Job::Submit { unit, attempt } => {
                let command = Command::SubmitPlan {
                    plan_id: ids::plan_id(self.code(unit), period, attempt),
                    region: self.code(unit),
                    period,
                    lines: self.plan_lines(usize::from(unit), attempt),
                };
                self.emit(at, Who::Agency(unit), command);
            }
            Job::Approve { unit, attempt } => {
                let plan_id = ids::plan_id(self.code(unit), period, attempt);
                self.emit(at, Who::Hrss, Command::ApprovePlan { plan_id });
            }
            Job::Reject { unit, attempt, by } => {
                let plan_id = ids::plan_id(self.code(unit), period, attempt);
                let (who, reason) = match by {
                    Department::Hrss => {
                        (Who::Hrss, "medical line lacks its case list; resubmit with the documented need")
                    }
                    Department::Finance => {
                        (Who::ProvincialFinance, "margin above the month's quota; resubmit nearer the need")
                    }
                };
                self.emit(at, who, Command::RejectPlan { plan_id, by, reason: reason.to_string() });
            }
            Job::Review { unit, attempt } => {
                let plan_id = ids::plan_id(self.code(unit), period, attempt);
                self.emit(at, Who::ProvincialFinance, Command::ReviewPlan { plan_id });
            }
            Job::Allocate { unit, window } => self.allocate(at, unit, usize::from(window)),
            Job::Collect { index } => {
                let c = &self.collections[index as usize];
                let command = Command::RecordCollection {
                    region: self.code(c.unit),
                    period,
                    category: c.category,
                    amount: money(c.amount_fen),
                    tax_batch: c.batch,
                };
                self.emit(at, Who::Tax(c.unit), command);
            }
            Job::Refund { index, permille: p } => {
                let c = &self.collections[index as usize];
                let (unit, batch) = (c.unit, c.batch);
                let untransferred = self.state.untransferred(self.code(unit), period).to_fen();
                let fen = permille(c.amount_fen, i64::from(p)).min(untransferred);
                if fen > 0 {
                    let command = Command::RefundCollection {
                        region: self.code(unit),
                        period,
                        tax_batch: batch,
                        amount: money(fen),
                    };
                    self.emit(at, Who::Tax(unit), command);
                }
            }
            Job::Transfer { unit, last, share_permille } => {
                let untransferred = self.state.untransferred(self.code(unit), period).to_fen();
                let fen = if last { untransferred } else { permille(untransferred, i64::from(share_permille)) };
                if fen > 0 {
                    self.emit(
                        at,
                        Who::Finance(unit),
                        Command::RecordTransfer { region: self.code(unit), period, amount: money(fen) },
                    );
                }
            }
            Job::Pay { index } => {
                let p = &self.payments[index as usize];
                let command = Command::RecordPayment {
                    payment_id: ids::payment_id(self.code(p.unit), period, p.seq),
                    region: self.code(p.unit),
                    period,
                    benefit: p.benefit,
                    beneficiary: p.beneficiary,
                    amount: money(p.amount_fen),
                    basis: p.basis,
                };
                let unit = p.unit;
                self.emit(at, Who::Agency(unit), command);
            }
            Job::Reverse { index } => {
                let r = &self.reversals[index as usize];
                let payment_id = ids::payment_id(self.code(r.unit), r.paid_period, r.seq);
                let left = self.state.payment(payment_id).map_or(0, |p| p.amount.sub(p.reversed).to_fen());
                let fen = r.amount_fen.min(left);
                if fen > 0 {
                    let (unit, reason) = (r.unit, r.reason);
                    let command = Command::ReversePayment { payment_id, period, amount: money(fen), reason };
                    self.emit(at, Who::Agency(unit), command);
                }
            }
            Job::FiscalInterest => {
                let fen = self.state.pooled_balance().to_fen() * FISCAL_INTEREST_PER_10K_QUARTERLY / 10_000;
                if fen > 0 {
                    let command = Command::RecordProvincialIncome {
                        kind: ProvincialIncomeKind::Interest,
                        period,
                        amount: money(fen),
                    };
                    self.emit(at, Who::ProvincialFinance, command);
                }
            }
            Job::FiscalSubsidy => {
                let income: i64 = self.units.iter().map(|u| u.expected_income_fen).sum();
                let fen = round_up(income * FISCAL_SUBSIDY_PER_10K / 10_000, 1_000_000);
                let command = Command::RecordProvincialIncome {
                    kind: ProvincialIncomeKind::FiscalSubsidy,
                    period,
                    amount: money(fen),
                };
                self.emit(at, Who::ProvincialFinance, command);
            }
            Job::FiscalAdvance => {
                // The province advances what the short units failed to collect, so their spending
                // is not carried by other units' premiums; the gap shares then attribute it.
                let shortfall: i64 = self
                    .short_units
                    .iter()
                    .map(|u| {
                        let region = self.code(*u);
                        let budgeted =
                            self.state.budget(region, period.year()).map_or(0, |b| b.lines.income_total().to_fen());
                        let actual = self
                            .state
                            .region(region)
                            .and_then(|r| r.net_income_by_year.get(&period.year()).copied())
                            .map_or(0, Money::to_fen);
                        (budgeted - actual).max(0)
                    })
                    .sum();
                if shortfall > 0 {
                    let fen = round_up(permille(shortfall, FISCAL_ADVANCE_OF_SHORTFALL_PERMILLE), ADVANCE_ROUNDING_FEN);
                    let command = Command::RecordProvincialIncome {
                        kind: ProvincialIncomeKind::FiscalAdvance,
                        period,
                        amount: money(fen),
                    };
                    self.emit(at, Who::ProvincialFinance, command);
                }
            }
            Job::AdjustBudget { unit } => {
                let region = self.code(unit);
                if let Some(budget) = self.state.budget(region, period.year()) {
                    let lines = raise_expenditure(&budget.lines, BUDGET_ADJUSTMENT_PERMILLE, 0);
                    self.emit(at, Who::Hrss, Command::AdjustBudget { region, year: period.year(), lines });
                }
            }
            Job::AdjustRates { class } => {
                let (benchmark, floats) = match self.state.rate_history(class).last() {
                    Some(v) => (v.benchmark_rate_pct, v.allowed_floats_pct.clone()),
                    None => {
                        let c = self.policy.risk_class(class).expect("class from the policy");
                        (c.benchmark_rate_pct, c.allowed_floats_pct.clone())
                    }
                };
                let cut = benchmark * Decimal::new(1000 - RATE_CUT_PERMILLE, 3);
                let command = Command::AdjustRates {
                    effective: Period::new(period.year() + 1, 1).expect("valid"),
                    class,
                    benchmark_rate_pct: cut.round_dp(3).normalize(),
                    allowed_floats_pct: floats,
                };
                self.emit(at, Who::Hrss, command);
            }
        }
    }

    /// Allocates what window `window`'s payments need beyond the expenditure balance, first
    /// raising the budget or recording a fiscal advance if either would otherwise refuse it.
    fn allocate(&mut self, at: i64, unit: u16, window: usize) {
        let period = self.current;
        let region = self.units[usize::from(unit)].code;
        let Some(plan_id) = self.state.open_plan(region, period) else {
            debug_assert!(false, "allocation without an open plan for {region} {period}");
            return;
        };
        let plan = self.state.plan(plan_id).expect("open plan exists");
        let room = plan.total().sub(plan.allocated).to_fen();
        let needed =
            self.unit_months[usize::from(unit)].window_fen[window] - self.state.expenditure_balance(region).to_fen();
        let fen = round_up(needed, ALLOCATION_ROUNDING_FEN).min(room);
        if fen <= 0 {
            return;
        }
        if let Some(budget) = self.state.budget(region, period.year()) {
            let over = budget.allocated.to_fen() + fen - budget.lines.expenditure_total().to_fen();
            if over > 0 {
                let lines = raise_expenditure(&budget.lines, BUDGET_ADJUSTMENT_PERMILLE, over);
                self.emit(at, Who::Hrss, Command::AdjustBudget { region, year: period.year(), lines });
            }
        }
        let pooled = self.state.pooled_balance().to_fen();
        if fen > pooled {
            let amount = money(round_up(fen - pooled, ADVANCE_ROUNDING_FEN));
            let command = Command::RecordProvincialIncome { kind: ProvincialIncomeKind::FiscalAdvance, period, amount };
            self.emit(at, Who::ProvincialFinance, command);
        }
        self.emit(at, Who::ProvincialAgency, Command::AllocateFunds { plan_id, amount: money(fen) });
    }
}

/// Budget lines with the expenditure side raised by `permille` plus at least `at_least_fen` in
/// total (added to the largest line), income unchanged.
fn raise_expenditure(lines: &BudgetLines, p: i64, at_least_fen: i64) -> BudgetLines {
    let mut expenditure: Vec<(ExpenditureCategory, Money)> =
        lines.expenditure.iter().map(|(c, m)| (*c, money(round_up(permille(m.to_fen(), 1000 + p), 100)))).collect();
    let raised: i64 = expenditure.iter().map(|(_, m)| m.to_fen()).sum::<i64>() - lines.expenditure_total().to_fen();
    if raised < at_least_fen
        && let Some(largest) = expenditure.iter_mut().max_by_key(|(_, m)| *m)
    {
        largest.1 = money(largest.1.to_fen() + round_up(at_least_fen - raised, 1_000_000));
    }
    BudgetLines { income: lines.income.clone(), expenditure }
}

/// A disability grade 1-10 for a case, from its hash.
fn case_grade(case: u64) -> u8 {
    let total: u32 = DISABILITY_GRADE_WEIGHTS.iter().sum();
    let mut x = (mix(&[case, 13]) % u64::from(total)) as u32;
    for (i, w) in DISABILITY_GRADE_WEIGHTS.iter().enumerate() {
        if x < *w {
            return i as u8 + 1;
        }
        x -= w;
    }
    10
}

fn case_wage(avg_fen: i64, case: u64) -> i64 {
    own_wage_fen(avg_fen, mix(&[case, 14]))
}

/// An own wage (12-month average before injury), fen: many below the 60% floor, a few above the
/// 300% cap, so the standards' clamping shows.
fn own_wage_fen(avg_fen: i64, h: u64) -> i64 {
    let (lo, hi): (i64, i64) = match h % 100 {
        0..30 => (350, 600),
        30..75 => (600, 1000),
        75..95 => (1000, 1800),
        _ => (1800, 3500),
    };
    let mult = lo + ((h >> 8) % (hi - lo) as u64) as i64;
    round_up(avg_fen * mult / 1000, 100)
}

/// A deceased worker's household: wage, spouse and other dependants.
fn household_basis(avg_fen: i64, h: u64) -> Basis {
    let spouse = (h >> 16) % 100 < 85;
    let mut other = [0u8, 1, 1, 2, 2, 2, 3, 3, 1, 0][((h >> 24) % 10) as usize];
    if !spouse && other == 0 {
        other = 1;
    }
    let orphans = (0..other).filter(|k| (h >> (32 + 4 * k)).is_multiple_of(4)).count() as u8;
    Basis::DependantsPension {
        deceased_wage: money(own_wage_fen(avg_fen, mix(&[h, 15]))),
        spouse,
        other_dependants: other,
        orphans_or_lone_elders: orphans,
    }
}

impl Iterator for Generator {
    type Item = GeneratedCommand;

    fn next(&mut self) -> Option<GeneratedCommand> {
        loop {
            if let Some(command) = self.out.pop_front() {
                return Some(command);
            }
            if self.cursor < self.jobs.len() {
                let Scheduled { at, job, .. } = self.jobs[self.cursor];
                self.cursor += 1;
                self.run(at, job);
                continue;
            }
            if self.next_month > self.last.next() {
                return None;
            }
            let cal = self.next_month;
            self.next_month = cal.next();
            self.plan_month(cal);
        }
    }
}
