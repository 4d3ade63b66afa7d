//! Commands: what agency systems ask the ledger to record. A command is a request; only the
//! events `decide` derives from it are facts.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::category::{
    BenefitType, Department, ExpenditureCategory, IncomeCategory, LegacyFundKind, ProvincialIncomeKind, ReversalReason,
};
use crate::ids::{BeneficiaryRef, PaymentId, PlanId, RegionCode, TaxBatchRef};
use crate::money::Money;
use crate::period::Period;
use crate::policy::Policy;
use crate::standards::Basis;

/// Longest free text (a rejection reason) a command may carry, in bytes.
pub const REASON_TEXT_BYTES_MAX: usize = 500;
/// Most lines a plan or a budget may have: one per category.
pub const LINES_MAX: usize = 16;
/// Most allowed floats a rate adjustment may list.
pub const RATE_FLOATS_MAX: usize = 8;

/// Every command the ledger accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// The tax bureau collected income for a region and period, in one tax batch.
    RecordCollection {
        region: RegionCode,
        period: Period,
        category: IncomeCategory,
        amount: Money,
        tax_batch: TaxBatchRef,
    },
    /// Part or all of a collection is refunded through its original channel (the same batch).
    RefundCollection { region: RegionCode, period: Period, tax_batch: TaxBatchRef, amount: Money },
    /// A region's collected income is transferred to the provincial fiscal special account.
    RecordTransfer { region: RegionCode, period: Period, amount: Money },
    /// Income received directly by the provincial fiscal special account.
    RecordProvincialIncome { kind: ProvincialIncomeKind, period: Period, amount: Money },
    /// A pre-reform reserve or adjustment-fund balance moves into the pooled fund, once per unit.
    ConsolidateLegacyReserve { region: RegionCode, kind: LegacyFundKind, period: Period, amount: Money },
    /// A region's annual budget, income and expenditure by category.
    AdoptBudget { region: RegionCode, year: u16, lines: BudgetLines },
    /// Replaces an adopted budget's lines.
    AdjustBudget { region: RegionCode, year: u16, lines: BudgetLines },
    /// A region's monthly spending plan, by expenditure category.
    SubmitPlan { plan_id: PlanId, region: RegionCode, period: Period, lines: Vec<(ExpenditureCategory, Money)> },
    /// HRSS approves a submitted plan.
    ApprovePlan { plan_id: PlanId },
    /// HRSS (before approval) or Finance (after approval, before review) rejects a plan; final.
    RejectPlan { plan_id: PlanId, by: Department, reason: String },
    /// Finance reviews an approved plan; it may then be allocated.
    ReviewPlan { plan_id: PlanId },
    /// The provincial agency allocates a tranche of a reviewed plan to the region's expenditure
    /// account.
    AllocateFunds { plan_id: PlanId, amount: Money },
    /// A benefit paid from a region's expenditure account.
    RecordPayment {
        payment_id: PaymentId,
        region: RegionCode,
        period: Period,
        benefit: BenefitType,
        beneficiary: BeneficiaryRef,
        amount: Money,
        basis: Option<Basis>,
    },
    /// Funds of a payment returned by the bank or recovered, back into the expenditure account.
    ReversePayment { payment_id: PaymentId, period: Period, amount: Money, reason: ReversalReason },
    /// A region closes a month; none of its income may remain untransferred.
    ClosePeriod { region: RegionCode, period: Period },
    /// A dated change to a risk class's benchmark rate and allowed floats.
    AdjustRates { effective: Period, class: u8, benchmark_rate_pct: Decimal, allowed_floats_pct: Vec<Decimal> },
    /// Attributes a closed year's fund gap between the regions and the province.
    AssessGapShares { year: u16 },
}

/// A budget's lines: income and expenditure by category, each category at most once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BudgetLines {
    pub income: Vec<(IncomeCategory, Money)>,
    pub expenditure: Vec<(ExpenditureCategory, Money)>,
}

impl BudgetLines {
    pub fn income_total(&self) -> Money {
        self.income.iter().map(|(_, m)| *m).sum()
    }

    pub fn expenditure_total(&self) -> Money {
        self.expenditure.iter().map(|(_, m)| *m).sum()
    }
}

impl Command {
    /// The command's stable name, as used in docs, logs and authorisation tables.
    pub fn name(&self) -> &'static str {
        match self {
            Command::RecordCollection { .. } => "record_collection",
            Command::RefundCollection { .. } => "refund_collection",
            Command::RecordTransfer { .. } => "record_transfer",
            Command::RecordProvincialIncome { .. } => "record_provincial_income",
            Command::ConsolidateLegacyReserve { .. } => "consolidate_legacy_reserve",
            Command::AdoptBudget { .. } => "adopt_budget",
            Command::AdjustBudget { .. } => "adjust_budget",
            Command::SubmitPlan { .. } => "submit_plan",
            Command::ApprovePlan { .. } => "approve_plan",
            Command::RejectPlan { .. } => "reject_plan",
            Command::ReviewPlan { .. } => "review_plan",
            Command::AllocateFunds { .. } => "allocate_funds",
            Command::RecordPayment { .. } => "record_payment",
            Command::ReversePayment { .. } => "reverse_payment",
            Command::ClosePeriod { .. } => "close_period",
            Command::AdjustRates { .. } => "adjust_rates",
            Command::AssessGapShares { .. } => "assess_gap_shares",
        }
    }
}

/// What `decide` needs besides the state: the policy in force. Time and ids are not needed to
/// decide; the engine stamps them on the events' envelopes.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub policy: &'a Policy,
}
