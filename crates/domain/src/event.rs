//! Events: the facts the ledger records. Each carries what the views need to fold it without
//! looking anything up (a plan decision names its region and period, a reversal its category).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::category::{
    BenefitType, Department, ExpenditureCategory, IncomeCategory, LegacyFundKind, ProvincialIncomeKind, ReversalReason,
};
use crate::command::BudgetLines;
use crate::ids::{BeneficiaryRef, PaymentId, PlanId, RegionCode, TaxBatchRef};
use crate::money::Money;
use crate::period::Period;
use crate::standards::Basis;

/// Every fact the ledger records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    CollectionRecorded {
        region: RegionCode,
        period: Period,
        category: IncomeCategory,
        amount: Money,
        tax_batch: TaxBatchRef,
    },
    CollectionRefunded {
        region: RegionCode,
        period: Period,
        category: IncomeCategory,
        tax_batch: TaxBatchRef,
        amount: Money,
    },
    TransferRecorded {
        region: RegionCode,
        period: Period,
        amount: Money,
    },
    ProvincialIncomeRecorded {
        kind: ProvincialIncomeKind,
        period: Period,
        amount: Money,
    },
    LegacyReserveConsolidated {
        region: RegionCode,
        kind: LegacyFundKind,
        period: Period,
        amount: Money,
    },
    BudgetAdopted {
        region: RegionCode,
        year: u16,
        lines: BudgetLines,
    },
    BudgetAdjusted {
        region: RegionCode,
        year: u16,
        lines: BudgetLines,
    },
    PlanSubmitted {
        plan_id: PlanId,
        region: RegionCode,
        period: Period,
        lines: Vec<(ExpenditureCategory, Money)>,
    },
    PlanApproved {
        plan_id: PlanId,
        region: RegionCode,
        period: Period,
    },
    PlanRejected {
        plan_id: PlanId,
        region: RegionCode,
        period: Period,
        by: Department,
        reason: String,
    },
    PlanReviewed {
        plan_id: PlanId,
        region: RegionCode,
        period: Period,
    },
    FundsAllocated {
        plan_id: PlanId,
        region: RegionCode,
        period: Period,
        /// 1 for the first tranche of the plan, 2 for the second, ...
        tranche: u32,
        amount: Money,
    },
    BenefitPaid {
        payment_id: PaymentId,
        region: RegionCode,
        period: Period,
        benefit: BenefitType,
        category: ExpenditureCategory,
        beneficiary: BeneficiaryRef,
        amount: Money,
        basis: Option<Basis>,
    },
    PaymentReversed {
        payment_id: PaymentId,
        region: RegionCode,
        /// The period the reversal is booked in.
        period: Period,
        /// The period of the original payment (whose plan line it frees).
        paid_period: Period,
        benefit: BenefitType,
        category: ExpenditureCategory,
        amount: Money,
        reason: ReversalReason,
    },
    PeriodClosed {
        region: RegionCode,
        period: Period,
    },
    RatesAdjusted {
        effective: Period,
        class: u8,
        benchmark_rate_pct: Decimal,
        allowed_floats_pct: Vec<Decimal>,
    },
    GapSharesAssessed {
        year: u16,
        gap: Money,
        shares: Vec<GapShare>,
        province_share: Money,
    },
}

/// One region's part of an assessed gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapShare {
    pub region: RegionCode,
    /// Budgeted income (less the tolerance) minus actual net income, never below zero.
    pub shortfall: Money,
    /// The part of the gap the region bears: at most its shortfall.
    pub share: Money,
}

impl Event {
    /// The event's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::CollectionRecorded { .. } => "collection_recorded",
            Event::CollectionRefunded { .. } => "collection_refunded",
            Event::TransferRecorded { .. } => "transfer_recorded",
            Event::ProvincialIncomeRecorded { .. } => "provincial_income_recorded",
            Event::LegacyReserveConsolidated { .. } => "legacy_reserve_consolidated",
            Event::BudgetAdopted { .. } => "budget_adopted",
            Event::BudgetAdjusted { .. } => "budget_adjusted",
            Event::PlanSubmitted { .. } => "plan_submitted",
            Event::PlanApproved { .. } => "plan_approved",
            Event::PlanRejected { .. } => "plan_rejected",
            Event::PlanReviewed { .. } => "plan_reviewed",
            Event::FundsAllocated { .. } => "funds_allocated",
            Event::BenefitPaid { .. } => "benefit_paid",
            Event::PaymentReversed { .. } => "payment_reversed",
            Event::PeriodClosed { .. } => "period_closed",
            Event::RatesAdjusted { .. } => "rates_adjusted",
            Event::GapSharesAssessed { .. } => "gap_shares_assessed",
        }
    }

    /// The region the event concerns, if any (provincial income and rates concern none).
    pub fn region(&self) -> Option<RegionCode> {
        match self {
            Event::CollectionRecorded { region, .. }
            | Event::CollectionRefunded { region, .. }
            | Event::TransferRecorded { region, .. }
            | Event::LegacyReserveConsolidated { region, .. }
            | Event::BudgetAdopted { region, .. }
            | Event::BudgetAdjusted { region, .. }
            | Event::PlanSubmitted { region, .. }
            | Event::PlanApproved { region, .. }
            | Event::PlanRejected { region, .. }
            | Event::PlanReviewed { region, .. }
            | Event::FundsAllocated { region, .. }
            | Event::BenefitPaid { region, .. }
            | Event::PaymentReversed { region, .. }
            | Event::PeriodClosed { region, .. } => Some(*region),
            Event::ProvincialIncomeRecorded { .. } | Event::RatesAdjusted { .. } | Event::GapSharesAssessed { .. } => {
                None
            }
        }
    }

    /// The period the event takes effect in; for yearly events, the year's first month.
    pub fn effective_period(&self) -> Period {
        match self {
            Event::CollectionRecorded { period, .. }
            | Event::CollectionRefunded { period, .. }
            | Event::TransferRecorded { period, .. }
            | Event::ProvincialIncomeRecorded { period, .. }
            | Event::LegacyReserveConsolidated { period, .. }
            | Event::PlanSubmitted { period, .. }
            | Event::PlanApproved { period, .. }
            | Event::PlanRejected { period, .. }
            | Event::PlanReviewed { period, .. }
            | Event::FundsAllocated { period, .. }
            | Event::BenefitPaid { period, .. }
            | Event::PaymentReversed { period, .. }
            | Event::PeriodClosed { period, .. } => *period,
            Event::RatesAdjusted { effective, .. } => *effective,
            Event::BudgetAdopted { year, .. }
            | Event::BudgetAdjusted { year, .. }
            | Event::GapSharesAssessed { year, .. } => Period::new(*year, 1).expect("validated year"),
        }
    }
}
