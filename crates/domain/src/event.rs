//! Events: the facts the ledger records. Each carries what the views need to fold it without
//! looking anything up (a plan decision names its region and period, a reversal its category).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::category::{
    BenefitType, Department, ExpenditureCategory, IncomeCategory, LegacyFundKind, ProvincialIncomeKind, ReversalReason,
};
use crate::command::BudgetLines;
use crate::ids::{BeneficiaryRef, IdError, PaymentId, PlanId, RegionCode, TaxBatchRef};
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

/// A benefit payment as the views fold it: every field of [`Event::BenefitPaid`] but the basis
/// (which only the rules read), with the ids borrowed rather than copied. Made from an event by
/// [`Payment::of`], or by a decoder straight from a record's bytes ([`Payment::checked`]), so
/// that a rebuild folds payments, nearly all of a ledger's events, without building events.
/// The ids are always valid: both ways in check them as their parsers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment<'a> {
    payment_id: &'a str,
    pub region: RegionCode,
    pub period: Period,
    pub benefit: BenefitType,
    pub category: ExpenditureCategory,
    beneficiary: &'a str,
    /// The amount in fen, within the money ceiling: the views sum fen, so no decimal is built.
    amount_fen: i64,
}

impl<'a> Payment<'a> {
    /// A payment from its fields, the ids checked as [`PaymentId::parse_bytes`] and
    /// [`BeneficiaryRef::parse_bytes`] check them.
    #[inline]
    pub fn checked(
        payment_id: &'a [u8],
        region: RegionCode,
        period: Period,
        benefit: BenefitType,
        category: ExpenditureCategory,
        beneficiary: &'a [u8],
        amount: Money,
    ) -> Result<Payment<'a>, IdError> {
        Payment::checked_fen(payment_id, region, period, benefit, category, beneficiary, amount.to_fen())
    }

    /// As [`Payment::checked`], with the amount in fen: the caller has checked it against the
    /// money ceiling (as [`Money::from_fen`] does), which is what [`Payment::amount`] relies on.
    #[inline]
    pub fn checked_fen(
        payment_id: &'a [u8],
        region: RegionCode,
        period: Period,
        benefit: BenefitType,
        category: ExpenditureCategory,
        beneficiary: &'a [u8],
        amount_fen: i64,
    ) -> Result<Payment<'a>, IdError> {
        debug_assert!(Money::fen_within_ceiling(amount_fen), "amount {amount_fen} fen above the ceiling");
        Ok(Payment {
            payment_id: PaymentId::check_bytes(payment_id)?,
            region,
            period,
            benefit,
            category,
            beneficiary: BeneficiaryRef::check_bytes(beneficiary)?,
            amount_fen,
        })
    }

    /// The payment `event` records, if it is a [`Event::BenefitPaid`].
    #[inline]
    pub fn of(event: &'a Event) -> Option<Payment<'a>> {
        match event {
            Event::BenefitPaid { payment_id, region, period, benefit, category, beneficiary, amount, .. } => {
                Some(Payment {
                    payment_id: payment_id.as_str(),
                    region: *region,
                    period: *period,
                    benefit: *benefit,
                    category: *category,
                    beneficiary: beneficiary.as_str(),
                    amount_fen: amount.to_fen(),
                })
            }
            _ => None,
        }
    }

    /// The amount.
    #[inline]
    pub fn amount(&self) -> Money {
        Money::from_fen(self.amount_fen).expect("within the ceiling when the payment was made")
    }

    /// The amount in fen.
    #[inline]
    pub fn amount_fen(&self) -> i64 {
        self.amount_fen
    }

    /// The payment id's text.
    #[inline]
    pub fn payment_id(&self) -> &'a str {
        self.payment_id
    }

    /// The payment id, copied.
    #[inline]
    pub fn payment_id_owned(&self) -> PaymentId {
        PaymentId::from_checked(self.payment_id)
    }

    /// The beneficiary ref's text.
    #[inline]
    pub fn beneficiary(&self) -> &'a str {
        self.beneficiary
    }

    /// The beneficiary ref, copied.
    #[inline]
    pub fn beneficiary_owned(&self) -> BeneficiaryRef {
        BeneficiaryRef::from_checked(self.beneficiary)
    }
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
