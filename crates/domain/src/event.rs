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
    /// A payment from its fields, or `None` if an id or the amount is one its parser refuses
    /// ([`PaymentId::parse_bytes`], [`BeneficiaryRef::parse_bytes`], [`Money::from_fen`]). A
    /// decoder that gets `None` asks its reference decoder, which names the fault.
    #[inline]
    pub fn checked(
        payment_id: &'a [u8],
        region: RegionCode,
        period: Period,
        benefit: BenefitType,
        category: ExpenditureCategory,
        beneficiary: &'a [u8],
        amount_fen: i64,
    ) -> Option<Payment<'a>> {
        Some(Payment {
            payment_id: PaymentId::check_bytes(payment_id).ok()?,
            region,
            period,
            benefit,
            category,
            beneficiary: BeneficiaryRef::check_bytes(beneficiary).ok()?,
            amount_fen: Money::fen_within_ceiling(amount_fen).then_some(amount_fen)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MONEY_FEN_MAX;

    fn paid(payment_id: &str, beneficiary: &str, amount: Money) -> Event {
        Event::BenefitPaid {
            payment_id: PaymentId::parse(payment_id).unwrap(),
            region: RegionCode::parse("620100").unwrap(),
            period: Period::new(2024, 3).unwrap(),
            benefit: BenefitType::MedicalTreatment,
            category: ExpenditureCategory::Medical,
            beneficiary: BeneficiaryRef::parse(beneficiary).unwrap(),
            amount,
            basis: None,
        }
    }

    fn checked<'a>(payment_id: &'a str, beneficiary: &'a str, fen: i64) -> Option<Payment<'a>> {
        Payment::checked(
            payment_id.as_bytes(),
            RegionCode::parse("620100").unwrap(),
            Period::new(2024, 3).unwrap(),
            BenefitType::MedicalTreatment,
            ExpenditureCategory::Medical,
            beneficiary.as_bytes(),
            fen,
        )
    }

    #[test]
    fn a_checked_payment_is_the_payment_of_its_event() {
        for fen in [1, 123_456, MONEY_FEN_MAX] {
            let event = paid("P-1", "B-620100-0004200", Money::from_fen(fen).unwrap());
            let of = Payment::of(&event).expect("a payment");
            assert_eq!(checked("P-1", "B-620100-0004200", fen), Some(of));
            assert_eq!((of.amount(), of.amount_fen()), (Money::from_fen(fen).unwrap(), fen));
            assert_eq!(of.payment_id_owned(), PaymentId::parse("P-1").unwrap());
            assert_eq!(of.beneficiary_owned(), BeneficiaryRef::parse("B-620100-0004200").unwrap());
        }
        assert_eq!(
            Payment::of(&Event::PeriodClosed { region: RegionCode::MIN, period: Period::new(2024, 3).unwrap() }),
            None
        );
    }

    #[test]
    fn what_the_parsers_refuse_is_refused() {
        assert!(checked("", "B-1", 100).is_none(), "empty id");
        assert!(checked("P 1", "B-1", 100).is_none(), "space in an id");
        assert!(checked("P-1", "B-é", 100).is_none(), "non-ASCII ref");
        assert!(checked("P-1", "62010019900101123X", 100).is_none(), "a resident id number");
        assert!(checked("P-1", "B-1", MONEY_FEN_MAX + 1).is_none(), "above the ceiling");
        assert!(checked("P-1", "B-1", -MONEY_FEN_MAX - 1).is_none(), "below the floor");
        assert!(checked("P-1", "B-1", -5).is_some(), "Money::from_fen admits it, so does this");
    }
}
