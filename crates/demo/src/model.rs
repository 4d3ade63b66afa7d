//! The figures a generated history is built from: how big each paying unit is, how many people
//! draw benefits, how often each benefit is paid and how large it is. Counts are for the whole
//! province at scale 1 (realistic size for Gansu, see the domain guide's "Scale, for realistic
//! data"); `DemoConfig::scale` multiplies populations, cases and tax batches.
//!
//! These are modelling choices, not policy: the policy file holds every binding figure (standards'
//! parameters, the prevention cap), and standard-bound amounts always come from
//! `fundledger_domain::standards::standard_amount`.

use fundledger_domain::ExpenditureCategory;
use fundledger_domain::policy::{Policy, UnitKind};

/// Relative size of each Gansu paying unit, in permille of the province (sums to 1000). An
/// estimate from population, insured employment and heavy industry (mining in Jinchang and Baiyin,
/// steel in Jiayuguan, oil in Qingyang): Lanzhou about a third, the provincial-level agency (the
/// provincial employers) the next largest, Gannan the smallest.
pub const GANSU_UNIT_WEIGHTS_PERMILLE: [(u32, u32); 16] = [
    (620100, 330), // Lanzhou
    (620200, 35),  // Jiayuguan
    (620300, 40),  // Jinchang
    (620400, 55),  // Baiyin
    (620500, 55),  // Tianshui
    (620600, 35),  // Wuwei
    (620700, 30),  // Zhangye
    (620800, 35),  // Pingliang
    (620900, 50),  // Jiuquan
    (621000, 60),  // Qingyang
    (621100, 25),  // Dingxi
    (621200, 25),  // Longnan
    (622900, 20),  // Linxia
    (623000, 12),  // Gannan
    (629901, 40),  // Lanzhou New Area
    (620001, 153), // provincial-level agency
];

/// For a policy whose units are not Gansu's: the first region (the capital, by convention listed
/// first) and the provincial-level unit get these weights, every other unit `OTHER_UNIT_WEIGHT`.
pub const FALLBACK_CAPITAL_WEIGHT: u32 = 300;
pub const FALLBACK_PROVINCIAL_LEVEL_WEIGHT: u32 = 150;
pub const FALLBACK_OTHER_UNIT_WEIGHT: u32 = 40;

/// Relative weight of each unit of `policy`, in policy order.
pub fn unit_weights(policy: &Policy) -> Vec<u32> {
    let table: Vec<Option<u32>> = policy
        .units
        .iter()
        .map(|u| GANSU_UNIT_WEIGHTS_PERMILLE.iter().find(|(code, _)| *code == u.code.get()).map(|(_, w)| *w))
        .collect();
    if table.iter().all(Option::is_some) {
        return table.into_iter().map(|w| w.expect("checked")).collect();
    }
    let capital = policy.units.iter().position(|u| u.kind == UnitKind::Region);
    policy
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| match u.kind {
            UnitKind::ProvincialLevel => FALLBACK_PROVINCIAL_LEVEL_WEIGHT,
            _ if Some(i) == capital => FALLBACK_CAPITAL_WEIGHT,
            _ => FALLBACK_OTHER_UNIT_WEIGHT,
        })
        .collect()
}

// ---- populations at the reform (whole province, scale 1) ----

/// People drawing the monthly disability allowance (grades 1-4) when pooling starts.
pub const ALLOWANCE_POPULATION_SCALE1: u64 = 8_000;
/// Share of allowance recipients who also draw a nursing allowance, permille.
pub const NURSING_SHARE_PERMILLE: u32 = 250;
/// Households drawing a dependants' pension when pooling starts.
pub const DEPENDANT_HOUSEHOLDS_SCALE1: u64 = 3_000;
/// Monthly chance, per ten thousand, that a periodic benefit ends (death, dependants grown up).
pub const ALLOWANCE_EXITS_PER_10K_MONTHLY: u64 = 30;
pub const DEPENDANTS_EXITS_PER_10K_MONTHLY: u64 = 60;
/// Grade 1-4 distribution of the allowance population (grades 1, 2, 3, 4), relative.
pub const ALLOWANCE_GRADE_WEIGHTS: [u32; 4] = [10, 20, 30, 40];

// ---- new cases (whole province, scale 1, per year) ----

/// Recognised work injuries a year; each becomes a cohort that draws one-time benefits over the
/// following months (see `CASE_BANDS`).
pub const NEW_CASES_PER_YEAR_SCALE1: u64 = 16_000;
/// Work deaths a year: funeral subsidy, work-death subsidy and, for most, a dependants' pension.
pub const DEATHS_PER_YEAR_SCALE1: u64 = 200;
/// Share of deaths that leave dependants entitled to a pension, permille.
pub const DEATHS_WITH_DEPENDANTS_PERMILLE: u32 = 850;
/// Prevention projects a year (the 3% cap bounds their total).
pub const PREVENTION_PROJECTS_PER_YEAR_SCALE1: u64 = 36;
/// Prevention spending aimed for, as a share of the cap, permille: comfortably below it.
pub const PREVENTION_TARGET_OF_CAP_PERMILLE: i64 = 650;
/// Disability grades 1-10 of cases that get a one-time disability subsidy, relative.
pub const DISABILITY_GRADE_WEIGHTS: [u32; 10] = [3, 5, 9, 13, 25, 45, 80, 120, 300, 400];
/// Share of grade 1-4 cases who also need nursing, by grade 1-4, permille.
pub const NURSING_BY_GRADE_PERMILLE: [u32; 4] = [700, 500, 300, 100];
/// One-time medical subsidy (grades 5-10, when employment ends), months of the average wage.
/// A provincial standard, not a national one, so it is not standard-bound in the ledger.
pub const MEDICAL_SUBSIDY_MONTHS_BY_GRADE_5_TO_10: [i64; 6] = [14, 12, 10, 8, 6, 4];
/// Share of grade 5-10 subsidy cases whose employment ends, so they draw it, permille.
pub const MEDICAL_SUBSIDY_TAKE_UP_PERMILLE: u64 = 200;

/// Which cases of a month's cohort draw a one-time benefit, and how many months after injury.
/// `from..to` is a slice of the cohort in permille: overlapping slices model cases that draw
/// several benefits (treatment, then appraisal, then a disability subsidy), while the disjoint
/// slices of one benefit across lags pay each case at most once.
pub struct Band {
    pub benefit: fundledger_domain::BenefitType,
    pub lag_months: u8,
    pub from_permille: u64,
    pub to_permille: u64,
}

use fundledger_domain::BenefitType as B;

pub const CASE_BANDS: [Band; 12] = [
    Band { benefit: B::MedicalTreatment, lag_months: 0, from_permille: 0, to_permille: 1000 },
    Band { benefit: B::MedicalTreatment, lag_months: 1, from_permille: 0, to_permille: 500 },
    Band { benefit: B::MedicalTreatment, lag_months: 2, from_permille: 0, to_permille: 250 },
    Band { benefit: B::HospitalMealAllowance, lag_months: 1, from_permille: 0, to_permille: 300 },
    Band { benefit: B::OutOfRegionTravel, lag_months: 1, from_permille: 900, to_permille: 950 },
    Band { benefit: B::Rehabilitation, lag_months: 2, from_permille: 0, to_permille: 60 },
    Band { benefit: B::AssistiveDevice, lag_months: 3, from_permille: 60, to_permille: 85 },
    Band { benefit: B::AppraisalFee, lag_months: 2, from_permille: 0, to_permille: 350 },
    Band { benefit: B::AppraisalFee, lag_months: 3, from_permille: 350, to_permille: 650 },
    Band { benefit: B::OneTimeDisabilitySubsidy, lag_months: 3, from_permille: 0, to_permille: 250 },
    Band { benefit: B::OneTimeDisabilitySubsidy, lag_months: 4, from_permille: 250, to_permille: 450 },
    // Only the grade 5-10 cases whose employment ends (MEDICAL_SUBSIDY_TAKE_UP_PERMILLE).
    Band { benefit: B::OneTimeMedicalSubsidy, lag_months: 6, from_permille: 0, to_permille: 450 },
];

/// Months of cohorts kept: the largest lag plus the current month.
pub const COHORT_MONTHS: usize = 7;
/// Each unit books one "other" expenditure a year (e.g. bank charges of the expenditure account),
/// in a month that depends on its position in the policy, so every year has some.
pub const OTHER_PAYMENT_AMOUNT_YUAN: (i64, i64) = (2_000, 30_000);

// ---- income line ----

/// Premium income aimed for, as a share of the year's estimated spending, permille: slightly
/// above spending, so the pooled fund grows slowly.
pub const INCOME_TO_SPENDING_PERMILLE: i64 = 1_060;
/// The income budget is set this far below the expected income, permille, so a unit collecting
/// normally never shows a shortfall.
pub const INCOME_BUDGET_OF_EXPECTED_PERMILLE: i64 = 950;
/// In the short year, the short units collect only this share of their expected income, permille.
pub const SHORT_UNIT_COLLECTION_PERMILLE: i64 = 800;
/// The fiscal advance covering the short units, as a share of their shortfall, permille: above
/// 1000, so the regions bear their shortfall and the province the rest.
pub const FISCAL_ADVANCE_OF_SHORTFALL_PERMILLE: i64 = 1_250;
/// Month-to-month variation of collections, plus or minus, permille.
pub const COLLECTION_NOISE_PERMILLE: i64 = 50;
/// Tax batches a month for the whole province at scale 1 (spread by weight), and the fewest any
/// unit has.
pub const TAX_BATCHES_PER_MONTH_SCALE1: u64 = 100;
pub const TAX_BATCHES_PER_UNIT_MONTH_MIN: u64 = 3;
/// Chance that a batch is partly refunded before the monthly transfer, permille.
pub const REFUND_PERMILLE: u32 = 20;
/// Chance that a unit transfers its income in two parts (one mid-month), permille.
pub const TWO_TRANSFERS_PERMILLE: u32 = 300;
/// Chance that a unit books other income (late fees) in a month, permille.
pub const OTHER_INCOME_PERMILLE: u32 = 150;
/// Quarterly interest on the fiscal special account, per ten thousand of its balance.
pub const FISCAL_INTEREST_PER_10K_QUARTERLY: i64 = 35;
/// Quarterly interest on a unit's income account, per ten thousand of its monthly income.
pub const INCOME_ACCOUNT_INTEREST_PER_10K: i64 = 5;
/// The yearly fiscal subsidy, per ten thousand of the year's expected income.
pub const FISCAL_SUBSIDY_PER_10K: i64 = 120;
/// Legacy reserves consolidated in the first month, in months of the unit's spending (Lanzhou, as
/// the largest and oldest fund, the most): a healthy start.
pub const LEGACY_RESERVE_MONTHS_MIN: i64 = 6;
pub const LEGACY_RESERVE_MONTHS_MAX: i64 = 9;
pub const LEGACY_RESERVE_MONTHS_CAPITAL: i64 = 10;

// ---- spending line ----

/// Plan lines: the month's intended payments plus this margin (permille) and a fixed sum.
pub const PLAN_MARGIN_PERMILLE: i64 = 80;
pub const PLAN_MARGIN_FEN: i64 = 200_000;
/// A plan resubmitted after a rejection trims its margin to this.
pub const RESUBMITTED_PLAN_MARGIN_PERMILLE: i64 = 30;
pub const RESUBMITTED_PLAN_MARGIN_FEN: i64 = 100_000;
/// Chances that HRSS or Finance rejects a month's plan, permille.
pub const HRSS_REJECTS_PERMILLE: u32 = 25;
pub const FINANCE_REJECTS_PERMILLE: u32 = 20;
/// The annual expenditure budget is the estimate plus this margin, permille.
pub const EXPENDITURE_BUDGET_MARGIN_PERMILLE: i64 = 120;
/// A mid-year adjustment (July, a few units) raises the expenditure budget by this, permille.
pub const BUDGET_ADJUSTMENT_PERMILLE: i64 = 60;
pub const BUDGET_ADJUSTMENTS_PER_YEAR: usize = 2;
/// Allocations and advances are rounded up to these sums.
pub const ALLOCATION_ROUNDING_FEN: i64 = 10_000;
pub const ADVANCE_ROUNDING_FEN: i64 = 1_000_000;
/// Chance that the bank returns a periodic payment (closed account), per ten thousand.
pub const RETURNED_PER_10K: u64 = 5;
/// Chance that a one-time payment is partly recovered the next month, per ten thousand.
pub const RECOVERED_PER_10K: u64 = 10;
/// Chance that a unit closes its month late (more than 15 days after month end), permille.
pub const LATE_CLOSE_PERMILLE: u32 = 50;
/// Gap between two payments of one periodic batch run, microseconds.
pub const BATCH_PAYMENT_SPACING_MICROS: i64 = 200_000;
/// A rate cut of this share of the benchmark is adopted each October (the fund's payable months
/// allow it, 国办发〔2019〕13号), effective the next January, one risk class at a time.
pub const RATE_CUT_PERMILLE: i64 = 200;

/// The six expenditure categories in a fixed order, for per-category arrays.
pub const CATEGORIES: [ExpenditureCategory; 6] = [
    ExpenditureCategory::Medical,
    ExpenditureCategory::Disability,
    ExpenditureCategory::Death,
    ExpenditureCategory::Appraisal,
    ExpenditureCategory::Prevention,
    ExpenditureCategory::Other,
];

pub fn category_index(c: ExpenditureCategory) -> usize {
    match c {
        ExpenditureCategory::Medical => 0,
        ExpenditureCategory::Disability => 1,
        ExpenditureCategory::Death => 2,
        ExpenditureCategory::Appraisal => 3,
        ExpenditureCategory::Prevention => 4,
        ExpenditureCategory::Other => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gansu_weights_sum_to_a_thousand_and_lanzhou_is_a_third() {
        assert_eq!(GANSU_UNIT_WEIGHTS_PERMILLE.iter().map(|(_, w)| w).sum::<u32>(), 1000);
        let policy = Policy::gansu();
        let w = unit_weights(&policy);
        assert_eq!(w.len(), policy.units.len());
        assert_eq!(w.iter().sum::<u32>(), 1000);
        assert_eq!(w[0], 330);
    }

    #[test]
    fn category_indexes_follow_the_table() {
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert_eq!(category_index(*c), i);
        }
    }
}
