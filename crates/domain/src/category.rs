//! The accounting vocabulary: income and expenditure categories (财社〔2017〕144号), benefit
//! types (Regulation on Work-Related Injury Insurance) and the small enums commands carry.

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name used in files, on the wire and in docs.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stable name.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// What a region's income is, as collected into its income line.
    IncomeCategory {
        /// 工伤保险费收入
        Premium = "premium",
        /// 利息收入 on the region's income account
        Interest = "interest",
        /// 其他收入 (late fees, recoveries from employers)
        Other = "other",
    }
);

named_enum!(
    /// Income received directly by the provincial fiscal special account.
    ProvincialIncomeKind {
        /// 利息收入 on the fiscal special account
        Interest = "interest",
        /// 财政补贴收入
        FiscalSubsidy = "fiscal_subsidy",
        /// A fiscal advance (财政垫付) that covers a gap in the pooled fund.
        FiscalAdvance = "fiscal_advance",
        /// 上级补助收入 (e.g. the central adjustment)
        UpperGrant = "upper_grant",
    }
);

named_enum!(
    /// Expenditure categories of a spending plan and a budget.
    ExpenditureCategory {
        /// 工伤医疗待遇
        Medical = "medical",
        /// 伤残待遇
        Disability = "disability",
        /// 工亡待遇
        Death = "death",
        /// 劳动能力鉴定费
        Appraisal = "appraisal",
        /// 工伤预防费, capped at a share of the prior year's premium income
        Prevention = "prevention",
        /// 其他支出
        Other = "other",
    }
);

named_enum!(
    /// What a single payment out of an expenditure account is for.
    BenefitType {
        MedicalTreatment = "medical_treatment",
        Rehabilitation = "rehabilitation",
        AssistiveDevice = "assistive_device",
        HospitalMealAllowance = "hospital_meal_allowance",
        OutOfRegionTravel = "out_of_region_travel",
        NursingAllowance = "nursing_allowance",
        OneTimeDisabilitySubsidy = "one_time_disability_subsidy",
        MonthlyDisabilityAllowance = "monthly_disability_allowance",
        OneTimeMedicalSubsidy = "one_time_medical_subsidy",
        FuneralSubsidy = "funeral_subsidy",
        DependantsPension = "dependants_pension",
        OneTimeWorkDeathSubsidy = "one_time_work_death_subsidy",
        AppraisalFee = "appraisal_fee",
        PreventionProject = "prevention_project",
        OtherExpenditure = "other_expenditure",
        /// Employer-paid: the grade 5-6 monthly allowance (no job arranged).
        Grade5To6Allowance = "grade_5_6_allowance",
        /// Employer-paid: wages during the paid recovery period (停工留薪期).
        RecoveryPeriodWages = "recovery_period_wages",
        /// Employer-paid: the one-time employment subsidy (一次性伤残就业补助金).
        OneTimeEmploymentSubsidy = "one_time_employment_subsidy",
    }
);

impl BenefitType {
    /// The expenditure category a payment of this type counts against; `None` for the benefits
    /// the employer, not the fund, must pay.
    pub fn category(self) -> Option<ExpenditureCategory> {
        use BenefitType::*;
        match self {
            MedicalTreatment | Rehabilitation | AssistiveDevice | HospitalMealAllowance | OutOfRegionTravel => {
                Some(ExpenditureCategory::Medical)
            }
            NursingAllowance | OneTimeDisabilitySubsidy | MonthlyDisabilityAllowance | OneTimeMedicalSubsidy => {
                Some(ExpenditureCategory::Disability)
            }
            FuneralSubsidy | DependantsPension | OneTimeWorkDeathSubsidy => Some(ExpenditureCategory::Death),
            AppraisalFee => Some(ExpenditureCategory::Appraisal),
            PreventionProject => Some(ExpenditureCategory::Prevention),
            OtherExpenditure => Some(ExpenditureCategory::Other),
            Grade5To6Allowance | RecoveryPeriodWages | OneTimeEmploymentSubsidy => None,
        }
    }

    /// Periodic benefits are paid at most once per beneficiary and period.
    pub fn is_periodic(self) -> bool {
        matches!(
            self,
            BenefitType::NursingAllowance | BenefitType::MonthlyDisabilityAllowance | BenefitType::DependantsPension
        )
    }

    /// Standard-bound benefits must equal the unified standard computed from their basis.
    pub fn is_standard_bound(self) -> bool {
        matches!(
            self,
            BenefitType::OneTimeDisabilitySubsidy
                | BenefitType::MonthlyDisabilityAllowance
                | BenefitType::NursingAllowance
                | BenefitType::FuneralSubsidy
                | BenefitType::OneTimeWorkDeathSubsidy
                | BenefitType::DependantsPension
        )
    }
}

named_enum!(
    /// A pre-reform fund balance consolidated into the pooled fund.
    LegacyFundKind {
        /// A region's reserve fund (储备金).
        Reserve = "reserve",
        /// The adjustment fund (调剂金) of the old model.
        AdjustmentFund = "adjustment_fund",
    }
);

named_enum!(
    /// The two departments that decide on a spending plan, in this order.
    Department {
        /// Provincial Human Resources and Social Security: approves first.
        Hrss = "hrss",
        /// Provincial Finance: reviews after approval.
        Finance = "finance",
    }
);

named_enum!(
    /// Why a payment is reversed.
    ReversalReason {
        /// The bank returned the funds (closed account, wrong details).
        Returned = "returned",
        /// The agency recovered an undue payment (fraud, error, death of the beneficiary).
        Recovered = "recovered",
    }
);

named_enum!(
    /// Nursing levels of the labour-capacity appraisal (生活完全/大部分/部分不能自理).
    NursingLevel {
        Full = "full",
        Major = "major",
        Partial = "partial",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in BenefitType::ALL {
            assert_eq!(BenefitType::parse(b.as_str()), Some(*b));
        }
        for c in ExpenditureCategory::ALL {
            assert_eq!(ExpenditureCategory::parse(c.as_str()), Some(*c));
        }
        assert_eq!(IncomeCategory::parse("bogus"), None);
    }

    #[test]
    fn employer_paid_benefits_have_no_fund_category() {
        let employer: Vec<_> = BenefitType::ALL.iter().filter(|b| b.category().is_none()).collect();
        assert_eq!(employer.len(), 3);
        assert!(BenefitType::DependantsPension.is_periodic());
        assert!(!BenefitType::FuneralSubsidy.is_periodic());
    }
}
