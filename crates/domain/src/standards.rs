//! The unified benefit standards of the Regulation on Work-Related Injury Insurance (2010
//! revision), computed from a payment's calculation basis and the policy's dated parameters.
//!
//! These are national rules, the same in every province, so they are constants here; the figures
//! they multiply (average wage, disposable income, minimum wage) are dated policy parameters.
//! Every result is rounded to the fen, halves away from zero.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::category::{BenefitType, NursingLevel};
use crate::money::Money;
use crate::period::Period;
use crate::policy::Policy;

/// Floor of the own-wage base: 60% of the average wage (art. 64).
pub const WAGE_FLOOR_PCT: u32 = 60;
/// Cap of the own-wage base: 300% of the average wage (art. 64).
pub const WAGE_CAP_PCT: u32 = 300;
/// Months of the average wage paid as funeral subsidy (art. 39).
pub const FUNERAL_SUBSIDY_MONTHS: u32 = 6;
/// Multiple of the national urban per-capita disposable income paid as one-time work-death
/// subsidy (art. 39).
pub const WORK_DEATH_SUBSIDY_MULTIPLE: u32 = 20;

/// One-time disability subsidy in months of own wage, grades 1-10 (arts. 35-37).
const DISABILITY_SUBSIDY_MONTHS: [u32; 10] = [27, 25, 23, 21, 18, 16, 13, 11, 9, 7];
/// Monthly disability allowance, percent of own wage, grades 1-4, paid by the fund (art. 35).
const DISABILITY_ALLOWANCE_PCT: [u32; 4] = [90, 85, 80, 75];

/// The facts a standard-bound payment is computed from. No personal identity data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Basis {
    /// One-time disability subsidy: disability grade 1-10 and the 12-month average own wage.
    DisabilitySubsidy { grade: u8, own_wage: Money },
    /// Monthly disability allowance, grades 1-4 only (grades 5-6 are the employer's).
    DisabilityAllowance { grade: u8, own_wage: Money },
    /// Nursing allowance by appraised nursing level.
    Nursing { level: NursingLevel },
    /// Funeral subsidy: needs no personal figure.
    Funeral,
    /// One-time work-death subsidy: needs no personal figure.
    WorkDeath,
    /// Dependants' pension for one deceased worker's household.
    DependantsPension {
        deceased_wage: Money,
        spouse: bool,
        other_dependants: u8,
        /// How many of the other dependants are orphans or lone elders (+10% each).
        orphans_or_lone_elders: u8,
    },
}

/// Why no standard can be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandardError {
    #[error("{benefit} is not standard-bound, so it takes no calculation basis")]
    NotStandardBound { benefit: BenefitType },
    #[error("a {benefit} payment needs a calculation basis")]
    BasisRequired { benefit: BenefitType },
    #[error("the calculation basis given does not describe a {benefit} payment")]
    BasisMismatch { benefit: BenefitType },
    #[error("{0}")]
    BadBasis(String),
    #[error("the policy has no benefit parameters for {year}, needed for a payment in {period}")]
    NoParameters { year: u16, period: Period },
}

/// Computes the unified standard amount of a standard-bound payment made in `period`.
///
/// The average wage, its 60%/300% bounds and the disposable income are the previous year's
/// (the standards are set on "上年度" figures); the minimum wage is that of the payment's year.
pub fn standard_amount(
    benefit: BenefitType,
    basis: &Basis,
    period: Period,
    policy: &Policy,
) -> Result<Money, StandardError> {
    if !benefit.is_standard_bound() {
        return Err(StandardError::NotStandardBound { benefit });
    }
    let prior_year = period.year() - 1;
    let prior = policy.benefit_year(prior_year).ok_or(StandardError::NoParameters { year: prior_year, period })?;
    let avg = prior.monthly_average_wage;
    let pct = |p: u32| Decimal::new(i64::from(p), 2);
    let clamp_wage = |wage: Money| -> Result<Money, StandardError> {
        if !wage.is_positive() {
            return Err(StandardError::BadBasis(format!("wage {wage} must be positive")));
        }
        let floor = avg.checked_mul_ratio(pct(WAGE_FLOOR_PCT)).expect("bounded");
        let cap = avg.checked_mul_ratio(pct(WAGE_CAP_PCT)).expect("bounded");
        Ok(wage.max(floor).min(cap))
    };
    let mismatch = || StandardError::BasisMismatch { benefit };
    let amount = match (benefit, basis) {
        (BenefitType::OneTimeDisabilitySubsidy, Basis::DisabilitySubsidy { grade, own_wage }) => {
            let months = grade_entry(&DISABILITY_SUBSIDY_MONTHS, *grade, "1-10")?;
            clamp_wage(*own_wage)?.checked_mul_ratio(Decimal::from(months))
        }
        (BenefitType::MonthlyDisabilityAllowance, Basis::DisabilityAllowance { grade, own_wage }) => {
            let p = grade_entry(&DISABILITY_ALLOWANCE_PCT, *grade, "1-4 (grades 5-6 are paid by the employer)")?;
            let minimum = policy
                .benefit_year(period.year())
                .ok_or(StandardError::NoParameters { year: period.year(), period })?
                .minimum_wage_monthly;
            clamp_wage(*own_wage)?.checked_mul_ratio(pct(p)).map(|a| a.max(minimum))
        }
        (BenefitType::NursingAllowance, Basis::Nursing { level }) => {
            let p = match level {
                NursingLevel::Full => 50,
                NursingLevel::Major => 40,
                NursingLevel::Partial => 30,
            };
            avg.checked_mul_ratio(pct(p))
        }
        (BenefitType::FuneralSubsidy, Basis::Funeral) => avg.checked_mul_ratio(Decimal::from(FUNERAL_SUBSIDY_MONTHS)),
        (BenefitType::OneTimeWorkDeathSubsidy, Basis::WorkDeath) => {
            prior.national_disposable_income.checked_mul_ratio(Decimal::from(WORK_DEATH_SUBSIDY_MULTIPLE))
        }
        (
            BenefitType::DependantsPension,
            Basis::DependantsPension { deceased_wage, spouse, other_dependants, orphans_or_lone_elders },
        ) => {
            if !*spouse && *other_dependants == 0 {
                return Err(StandardError::BadBasis("a dependants' pension needs at least one dependant".into()));
            }
            if orphans_or_lone_elders > other_dependants {
                return Err(StandardError::BadBasis(format!(
                    "{orphans_or_lone_elders} orphans or lone elders among only {other_dependants} other dependants"
                )));
            }
            let wage = clamp_wage(*deceased_wage)?;
            let total_pct = if *spouse { 40 } else { 0 }
                + 30 * u32::from(*other_dependants)
                + 10 * u32::from(*orphans_or_lone_elders);
            // The household's total may not exceed the deceased's wage (art. 39).
            wage.checked_mul_ratio(pct(total_pct)).map(|a| a.min(wage))
        }
        _ => return Err(mismatch()),
    };
    amount.ok_or_else(|| StandardError::BadBasis("the standard amount exceeds the money ceiling".into()))
}

fn grade_entry(table: &[u32], grade: u8, allowed: &str) -> Result<u32, StandardError> {
    usize::from(grade)
        .checked_sub(1)
        .and_then(|i| table.get(i))
        .copied()
        .ok_or_else(|| StandardError::BadBasis(format!("disability grade {grade} is not one of {allowed}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Period {
        Period::parse(s).unwrap()
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn work_death_subsidy_is_twenty_times_prior_year_disposable_income() {
        let policy = Policy::gansu();
        let income = policy.benefit_year(2024).unwrap().national_disposable_income;
        let got =
            standard_amount(BenefitType::OneTimeWorkDeathSubsidy, &Basis::WorkDeath, p("2025-04"), &policy).unwrap();
        assert_eq!(got, income.checked_mul_ratio(Decimal::from(20)).unwrap());
        assert_eq!(got, m("1083760.00"), "the 2025 figure quoted by the domain guide");
    }

    #[test]
    fn own_wage_is_floored_and_capped() {
        let policy = Policy::gansu();
        let avg = policy.benefit_year(2023).unwrap().monthly_average_wage;
        let period = p("2024-06");
        let low = Basis::DisabilitySubsidy { grade: 1, own_wage: m("1.00") };
        let high = Basis::DisabilitySubsidy { grade: 1, own_wage: m("999999.00") };
        let floor = avg.checked_mul_ratio(Decimal::new(60, 2)).unwrap();
        let cap = avg.checked_mul_ratio(Decimal::new(300, 2)).unwrap();
        let b = BenefitType::OneTimeDisabilitySubsidy;
        assert_eq!(
            standard_amount(b, &low, period, &policy).unwrap(),
            floor.checked_mul_ratio(Decimal::from(27)).unwrap()
        );
        assert_eq!(
            standard_amount(b, &high, period, &policy).unwrap(),
            cap.checked_mul_ratio(Decimal::from(27)).unwrap()
        );
    }

    #[test]
    fn allowance_only_for_grades_one_to_four_and_at_least_minimum_wage() {
        let policy = Policy::gansu();
        let b = BenefitType::MonthlyDisabilityAllowance;
        let period = p("2024-06");
        let five = Basis::DisabilityAllowance { grade: 5, own_wage: m("5000.00") };
        assert!(matches!(standard_amount(b, &five, period, &policy), Err(StandardError::BadBasis(_))));
        let four = Basis::DisabilityAllowance { grade: 4, own_wage: m("1.00") };
        let min = policy.benefit_year(2024).unwrap().minimum_wage_monthly;
        assert!(standard_amount(b, &four, period, &policy).unwrap() >= min);
    }

    #[test]
    fn dependants_pension_is_capped_at_the_deceased_wage() {
        let policy = Policy::gansu();
        let basis = Basis::DependantsPension {
            deceased_wage: m("8000.00"),
            spouse: true,
            other_dependants: 3,
            orphans_or_lone_elders: 2,
        };
        let got = standard_amount(BenefitType::DependantsPension, &basis, p("2024-06"), &policy).unwrap();
        assert_eq!(got, m("8000.00"));
        let one = Basis::DependantsPension {
            deceased_wage: m("8000.00"),
            spouse: true,
            other_dependants: 0,
            orphans_or_lone_elders: 0,
        };
        assert_eq!(standard_amount(BenefitType::DependantsPension, &one, p("2024-06"), &policy).unwrap(), m("3200.00"));
    }

    #[test]
    fn mismatched_basis_and_missing_parameters_are_refused() {
        let policy = Policy::gansu();
        assert!(matches!(
            standard_amount(BenefitType::FuneralSubsidy, &Basis::WorkDeath, p("2024-06"), &policy),
            Err(StandardError::BasisMismatch { .. })
        ));
        assert!(matches!(
            standard_amount(BenefitType::FuneralSubsidy, &Basis::Funeral, p("2099-06"), &policy),
            Err(StandardError::NoParameters { year: 2098, .. })
        ));
    }
}
