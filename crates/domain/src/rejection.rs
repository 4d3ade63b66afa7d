//! Rejections: a command the rules refuse becomes one `Rejection`, with a stable reason code
//! (for machines, logs and the API's `ErrorInfo`) and a sentence for people.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident = $code:literal),+ $(,)?) => {
        /// Stable reason codes; never renamed or reused. `docs/domain.md` explains each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Reason {
            $($(#[$doc])* #[serde(rename = $code)] $variant),+
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The stable, upper-snake-case code.
            pub fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code),+ }
            }

            pub fn parse(code: &str) -> Option<Reason> {
                match code { $($code => Some(Reason::$variant),)+ _ => None }
            }
        }
    };
}

reasons! {
    // --- shape and reference data ---
    /// An amount is zero or negative where a positive amount is required.
    AmountNotPositive = "AMOUNT_NOT_POSITIVE",
    /// The region code is not one of the policy's paying units.
    UnknownRegion = "UNKNOWN_REGION",
    /// The period or year lies before the reform date.
    BeforeReform = "BEFORE_REFORM",
    /// The region has closed this period; nothing more may be booked in it.
    PeriodClosed = "PERIOD_CLOSED",
    /// A free-text field is empty or too long.
    TextInvalid = "TEXT_INVALID",
    /// A year lies beyond the last year a period may name.
    YearOutOfRange = "YEAR_OUT_OF_RANGE",
    /// The amount would push a ledger total past the money ceiling.
    TotalAboveCeiling = "TOTAL_ABOVE_CEILING",
    // --- the income line ---
    /// A tax batch reference was already recorded.
    DuplicateTaxBatch = "DUPLICATE_TAX_BATCH",
    /// A refund names a tax batch the ledger does not know.
    UnknownTaxBatch = "UNKNOWN_TAX_BATCH",
    /// A refund's region or period differs from its batch's.
    RefundBatchMismatch = "REFUND_BATCH_MISMATCH",
    /// A refund exceeds what is left of its batch.
    RefundExceedsCollection = "REFUND_EXCEEDS_COLLECTION",
    /// A refund exceeds the period's untransferred income (it must leave from the income account).
    RefundExceedsUntransferred = "REFUND_EXCEEDS_UNTRANSFERRED",
    /// A transfer exceeds the region's collected but untransferred income for the period.
    TransferExceedsUntransferred = "TRANSFER_EXCEEDS_UNTRANSFERRED",
    /// A period cannot close while any of its income is untransferred.
    UntransferredIncomeAtClose = "UNTRANSFERRED_INCOME_AT_CLOSE",
    /// The period is already closed.
    PeriodAlreadyClosed = "PERIOD_ALREADY_CLOSED",
    // --- legacy reserves, budgets ---
    /// The unit's legacy reserve was already consolidated.
    LegacyReserveAlreadyConsolidated = "LEGACY_RESERVE_ALREADY_CONSOLIDATED",
    /// A budget for this region and year already exists (adjust it instead).
    BudgetAlreadyAdopted = "BUDGET_ALREADY_ADOPTED",
    /// No budget exists for this region and year.
    BudgetNotAdopted = "BUDGET_NOT_ADOPTED",
    /// Budget lines repeat a category or hold a negative amount.
    BudgetLinesInvalid = "BUDGET_LINES_INVALID",
    /// An adjusted expenditure budget would be below what was already allocated.
    BudgetBelowAllocated = "BUDGET_BELOW_ALLOCATED",
    // --- the plan workflow ---
    /// The plan id is already used.
    DuplicatePlanId = "DUPLICATE_PLAN_ID",
    /// The plan id is not known.
    UnknownPlan = "UNKNOWN_PLAN",
    /// The region already has an open (not rejected) plan for the period.
    PlanAlreadyOpen = "PLAN_ALREADY_OPEN",
    /// Plan lines are empty, repeat a category, or hold a non-positive amount.
    PlanLinesInvalid = "PLAN_LINES_INVALID",
    /// The plan was rejected; rejection is final.
    PlanRejected = "PLAN_REJECTED",
    /// HRSS has already approved the plan.
    PlanAlreadyApproved = "PLAN_ALREADY_APPROVED",
    /// Finance review requires prior HRSS approval.
    PlanNotApproved = "PLAN_NOT_APPROVED",
    /// Finance has already reviewed the plan.
    PlanAlreadyReviewed = "PLAN_ALREADY_REVIEWED",
    /// A rejection came from the department whose step it is not.
    RejectionOutOfOrder = "REJECTION_OUT_OF_ORDER",
    /// Funds may be allocated only to a reviewed plan.
    PlanNotReviewed = "PLAN_NOT_REVIEWED",
    // --- allocation limits ---
    /// Cumulative allocations would exceed the reviewed plan.
    AllocationExceedsPlan = "ALLOCATION_EXCEEDS_PLAN",
    /// The pooled fund's balance cannot cover the allocation; the message names the gap.
    AllocationExceedsPooledBalance = "ALLOCATION_EXCEEDS_POOLED_BALANCE",
    /// The year's allocations would exceed the region's expenditure budget.
    AllocationExceedsBudget = "ALLOCATION_EXCEEDS_BUDGET",
    // --- payment limits ---
    /// The payment id is already used.
    DuplicatePaymentId = "DUPLICATE_PAYMENT_ID",
    /// A periodic benefit was already paid to this beneficiary for this period.
    DuplicatePeriodicPayment = "DUPLICATE_PERIODIC_PAYMENT",
    /// The benefit is the employer's to pay, never the fund's.
    EmployerPaidBenefit = "EMPLOYER_PAID_BENEFIT",
    /// The region has no reviewed plan for the payment's period.
    NoReviewedPlan = "NO_REVIEWED_PLAN",
    /// Payments in the category would exceed the plan's line.
    PaymentExceedsPlanLine = "PAYMENT_EXCEEDS_PLAN_LINE",
    /// The expenditure account's balance cannot cover the payment (no paying from income).
    PaymentExceedsExpenditureBalance = "PAYMENT_EXCEEDS_EXPENDITURE_BALANCE",
    /// A standard-bound benefit was given no calculation basis.
    BasisRequired = "BASIS_REQUIRED",
    /// The calculation basis does not fit the benefit, or is given for a benefit that takes none.
    BasisInvalid = "BASIS_INVALID",
    /// The amount differs from the unified standard computed from the basis.
    AmountNotStandard = "AMOUNT_NOT_STANDARD",
    /// The policy lacks the dated parameters the standard needs.
    NoBenefitParameters = "NO_BENEFIT_PARAMETERS",
    /// The year's prevention spending would exceed its cap.
    PreventionCapExceeded = "PREVENTION_CAP_EXCEEDED",
    /// The payment id is not known.
    UnknownPayment = "UNKNOWN_PAYMENT",
    /// Reversals would exceed the original payment.
    ReversalExceedsPayment = "REVERSAL_EXCEEDS_PAYMENT",
    /// A reversal is booked before the payment's own period.
    ReversalBeforePayment = "REVERSAL_BEFORE_PAYMENT",
    // --- rates and gap shares ---
    /// The risk class does not exist in the policy.
    RateClassUnknown = "RATE_CLASS_UNKNOWN",
    /// The rate or its floats are out of range.
    RateInvalid = "RATE_INVALID",
    /// A rate change must take effect after the class's previous change.
    RateNotDatedForward = "RATE_NOT_DATED_FORWARD",
    /// Gap shares need every unit's twelve months of the year closed.
    YearNotClosed = "YEAR_NOT_CLOSED",
    /// The year's gap shares were already assessed.
    GapAlreadyAssessed = "GAP_ALREADY_ASSESSED",
}

/// A refused command: one reason code and one human sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Rejection {
        Rejection { reason, message: message.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.message)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert_eq!(Reason::parse(r.code()), Some(*r));
        }
    }
}
