//! A deterministic generator of realistic fund history for a policy (Gansu by default), shared by
//! the CLI (`fundledger demo`) and the benchmarks.
//!
//! [`generate`] yields a stream of [`GeneratedCommand`]s: budgets, legacy reserves, tax batches
//! and refunds, monthly transfers, spending plans through HRSS approval and Finance review (some
//! rejected and resubmitted), allocations in tranches, individual benefit payments of every
//! fund-paid type to a stable population of pseudonymous beneficiaries, reversals, provincial
//! income, month closes (some late), gap shares and rate adjustments. The generator keeps its own
//! `FundState` and runs `decide` and `apply` on every command, so every command it yields is
//! accepted, issued by an actor `authorize` allows, at a realistic, non-decreasing time.
//!
//! The same (policy, seed, years, scale) always yields the same sequence: the generator draws
//! from its own documented PRNG ([`rng`]) with integer-only distributions.

mod calendar;
mod generator;
mod ids;
pub mod model;
pub mod rng;

use fundledger_domain::{Actor, Command, CommandId, Policy};

pub use generator::Generator;

/// The largest `scale × years`: keeps every running total of a history (about 2 billion yuan a
/// year per unit of scale) far below the ledger's money ceiling of one trillion yuan.
pub const SCALE_YEARS_MAX: u64 = 400;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConfig {
    /// Seeds every draw; the same seed gives the same history.
    pub seed: u64,
    /// Calendar years from the reform year (the first may be partial if the reform is mid-year).
    pub years: u16,
    /// 1 = the realistic size of the fund; N multiplies beneficiaries, cases and tax batches (and
    /// so money), for benchmarks that need more events.
    pub scale: u32,
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig { seed: 1, years: 3, scale: 1 }
    }
}

/// One command of the history, with who issued it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCommand {
    /// `demo-<seed>-<sequence>`.
    pub command_id: CommandId,
    pub actor: Actor,
    /// Microseconds since the Unix epoch, UTC; never decreasing along the history.
    pub recorded_at_micros: i64,
    pub command: Command,
}

/// Why a history cannot be generated for this policy and configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    #[error("years must be at least 1")]
    NoYears,
    #[error("scale must be at least 1 (1 is the fund's realistic size)")]
    NoScale,
    #[error(
        "scale {scale} x years {years} exceeds {SCALE_YEARS_MAX}: the history's totals would near the money ceiling"
    )]
    TooLarge { scale: u32, years: u16 },
    #[error("the policy has benefit parameters through {through}; --years {years} would need {needed}")]
    BenefitParametersEnd { through: u16, years: u16, needed: u16 },
    #[error("the policy has no benefit parameters for {missing}, which a history of {years} years needs")]
    BenefitParametersMissing { missing: u16, years: u16 },
}

/// Checks the configuration against the policy and returns the history's stream.
///
/// Payments in year Y use the benefit parameters of Y-1 (wages, disposable income) and of Y (the
/// minimum wage), so the policy must have every year from the reform year - 1 to the last year.
pub fn generate(policy: &Policy, config: &DemoConfig) -> Result<Generator, DemoError> {
    let years = config.years;
    if years == 0 {
        return Err(DemoError::NoYears);
    }
    if config.scale == 0 {
        return Err(DemoError::NoScale);
    }
    if u64::from(config.scale) * u64::from(years) > SCALE_YEARS_MAX {
        return Err(DemoError::TooLarge { scale: config.scale, years });
    }
    let first = policy.reform_period().year();
    let last = first + (years - 1);
    let through = policy.benefit_years.keys().next_back().copied().unwrap_or(0);
    if let Some(missing) = (first - 1..=last).find(|y| policy.benefit_year(*y).is_none()) {
        return Err(if missing > through {
            DemoError::BenefitParametersEnd { through, years, needed: last }
        } else {
            DemoError::BenefitParametersMissing { missing, years }
        });
    }
    Ok(Generator::new(policy, config))
}

/// About how many commands [`generate`] yields (within a few percent), for progress bars. Does
/// not generate anything.
pub fn estimate_commands(policy: &Policy, config: &DemoConfig) -> u64 {
    use model::*;
    let scale = u64::from(config.scale);
    let first = policy.reform_period();
    let months = u64::from(config.years) * 12 - u64::from(first.month() - 1);
    let units = policy.units.len() as u64;
    let weights = unit_weights(policy);
    let weight_total: u64 = weights.iter().map(|w| u64::from(*w)).sum::<u64>().max(1);
    let batches: u64 = weights
        .iter()
        .map(|w| {
            (TAX_BATCHES_PER_MONTH_SCALE1 * u64::from(*w) / weight_total).max(TAX_BATCHES_PER_UNIT_MONTH_MIN) * scale
        })
        .sum();
    let periodic_milli = (ALLOWANCE_POPULATION_SCALE1 * (1000 + u64::from(NURSING_SHARE_PERMILLE))
        + DEPENDANT_HOUSEHOLDS_SCALE1 * 1000)
        * scale;
    // One-time payments per case, in thousandths: the width of every band (the medical subsidy
    // only for the ~97% of grade 5-10 cases that take it up).
    let per_case_milli: u64 = CASE_BANDS
        .iter()
        .map(|b| {
            let width = b.to_permille - b.from_permille;
            if b.benefit == fundledger_domain::BenefitType::OneTimeMedicalSubsidy {
                width * MEDICAL_SUBSIDY_TAKE_UP_PERMILLE * 97 / 100_000
            } else {
                width
            }
        })
        .sum();
    let one_time_milli = (NEW_CASES_PER_YEAR_SCALE1 * per_case_milli + DEATHS_PER_YEAR_SCALE1 * 2_000) * scale / 12;
    // Per unit and month: plan workflow and first tranche (4), further tranches (0.65), transfers
    // (1.3), close (1), interest and other income (0.5).
    let overhead_milli = units * 7_450 + batches * 1_000;
    months * (periodic_milli + one_time_milli + overhead_milli) / 1000 + units * 2
}

/// The commands that make every paying unit ready to pay benefits of `category` in `period`, up
/// to `amount` each: a collection of `amount` and its transfer, a budget, and a plan of `amount`
/// submitted, approved by HRSS, reviewed by Finance and allocated in full. For load tests and
/// benchmarks, which then send payments; ids are `<step>-<unit index>`, the actor is the system.
pub fn ready_to_pay(
    policy: &Policy,
    period: fundledger_domain::Period,
    category: fundledger_domain::ExpenditureCategory,
    amount: fundledger_domain::Money,
) -> Vec<(CommandId, Command)> {
    use fundledger_domain::{BudgetLines, IncomeCategory, PlanId, TaxBatchRef};
    let id = |text: String| CommandId::parse(&text).expect("setup ids are valid");
    let mut out = Vec::new();
    for (u, unit) in policy.units.iter().enumerate() {
        let region = unit.code;
        let tax_batch = TaxBatchRef::parse(&format!("TB-{u}")).expect("tax batch refs are valid");
        let plan_id = PlanId::parse(&format!("P-{u}")).expect("plan ids are valid");
        let lines = BudgetLines { income: vec![], expenditure: vec![(category, amount)] };
        out.extend([
            (
                id(format!("col-{u}")),
                Command::RecordCollection { region, period, category: IncomeCategory::Premium, amount, tax_batch },
            ),
            (id(format!("xfer-{u}")), Command::RecordTransfer { region, period, amount }),
            (id(format!("budget-{u}")), Command::AdoptBudget { region, year: period.year(), lines }),
            (
                id(format!("submit-{u}")),
                Command::SubmitPlan { plan_id, region, period, lines: vec![(category, amount)] },
            ),
            (id(format!("approve-{u}")), Command::ApprovePlan { plan_id }),
            (id(format!("review-{u}")), Command::ReviewPlan { plan_id }),
            (id(format!("alloc-{u}")), Command::AllocateFunds { plan_id, amount }),
        ]);
    }
    out
}

/// A medical-treatment payment of 123.45 yuan for load tests and benchmarks, after
/// [`ready_to_pay`] with [`ExpenditureCategory::Medical`](fundledger_domain::ExpenditureCategory):
/// command id `cmd-<name>`, payment id `PAY-<name>`, beneficiary `B-<beneficiary>`.
pub fn medical_payment(
    name: &str,
    beneficiary: &str,
    region: fundledger_domain::RegionCode,
    period: fundledger_domain::Period,
) -> (CommandId, Command) {
    use fundledger_domain::{BeneficiaryRef, BenefitType, Money, PaymentId};
    let command = Command::RecordPayment {
        payment_id: PaymentId::parse(&format!("PAY-{name}")).expect("a valid payment id"),
        region,
        period,
        benefit: BenefitType::MedicalTreatment,
        beneficiary: BeneficiaryRef::parse(&format!("B-{beneficiary}")).expect("a valid beneficiary ref"),
        amount: Money::from_fen(12_345).expect("money"),
        basis: None,
    };
    (CommandId::parse(&format!("cmd-{name}")).expect("a valid command id"), command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_domain::{Context, ExpenditureCategory, FundState, Money, Period, decide};

    #[test]
    fn ready_to_pay_leaves_every_unit_with_an_allocated_reviewed_plan() {
        let policy = Policy::gansu();
        let period = Period::new(2024, 3).unwrap();
        let amount = Money::from_fen(1_000_000).unwrap();
        let commands = ready_to_pay(&policy, period, ExpenditureCategory::Medical, amount);
        assert_eq!(commands.len(), 7 * policy.units.len());
        let mut state = FundState::new();
        let ctx = Context { policy: &policy };
        for (id, command) in &commands {
            let events = decide(&state, command, &ctx).unwrap_or_else(|r| panic!("{id}: {r:?}"));
            for event in &events {
                state.apply(event);
            }
        }
        let ids: std::collections::HashSet<_> = commands.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), commands.len(), "every setup command has its own id");
        for unit in &policy.units {
            let payment = Command::RecordPayment {
                payment_id: fundledger_domain::PaymentId::parse(&format!("PAY-{}", unit.code.get())).unwrap(),
                region: unit.code,
                period,
                benefit: fundledger_domain::BenefitType::MedicalTreatment,
                beneficiary: fundledger_domain::BeneficiaryRef::parse("B-1").unwrap(),
                amount: Money::from_fen(12_345).unwrap(),
                basis: None,
            };
            assert!(decide(&state, &payment, &ctx).is_ok(), "{} can pay", unit.code.get());
        }
    }
}
