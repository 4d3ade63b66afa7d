//! Realistic fixed records, one of every event kind plus a refusal, shared by the round-trip
//! tests and the decode micro-benchmark (which includes this file by path).

use fundledger_domain::{
    Actor, Basis, BeneficiaryRef, BenefitType, BudgetLines, CommandId, Department, Event, ExpenditureCategory,
    GapShare, IncomeCategory, LegacyFundKind, Money, NursingLevel, PaymentId, Period, PlanId, ProvincialIncomeKind,
    Reason, RecordBody, RecordMeta, Recorded, RegionCode, ReversalReason, Role, TaxBatchRef,
};
use rust_decimal::Decimal;

pub fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

pub fn p(text: &str) -> Period {
    Period::parse(text).unwrap()
}

pub fn r(code: u32) -> RegionCode {
    RegionCode::new(code).unwrap()
}

/// One event of every kind, with the sizes and shapes real traffic has.
pub fn one_of_each_kind() -> Vec<Event> {
    let lanzhou = r(620100);
    let plan = PlanId::parse("PLAN-620100-2024-03").unwrap();
    vec![
        Event::CollectionRecorded {
            region: lanzhou,
            period: p("2024-03"),
            category: IncomeCategory::Premium,
            amount: m("1234567.89"),
            tax_batch: TaxBatchRef::parse("TAX-620100-202403-0001").unwrap(),
        },
        Event::CollectionRefunded {
            region: lanzhou,
            period: p("2024-03"),
            category: IncomeCategory::Premium,
            tax_batch: TaxBatchRef::parse("TAX-620100-202403-0001").unwrap(),
            amount: m("1200.00"),
        },
        Event::TransferRecorded { region: lanzhou, period: p("2024-03"), amount: m("1233367.89") },
        Event::ProvincialIncomeRecorded {
            kind: ProvincialIncomeKind::Interest,
            period: p("2024-03"),
            amount: m("88.12"),
        },
        Event::LegacyReserveConsolidated {
            region: r(620200),
            kind: LegacyFundKind::Reserve,
            period: p("2024-01"),
            amount: m("35000000.00"),
        },
        Event::BudgetAdopted {
            region: lanzhou,
            year: 2024,
            lines: BudgetLines {
                income: vec![(IncomeCategory::Premium, m("150000000.00")), (IncomeCategory::Interest, m("300000.00"))],
                expenditure: vec![
                    (ExpenditureCategory::Medical, m("60000000.00")),
                    (ExpenditureCategory::Disability, m("40000000.00")),
                    (ExpenditureCategory::Death, m("20000000.00")),
                    (ExpenditureCategory::Prevention, m("3000000.00")),
                ],
            },
        },
        Event::BudgetAdjusted {
            region: lanzhou,
            year: 2024,
            lines: BudgetLines {
                income: vec![(IncomeCategory::Premium, m("155000000.00"))],
                expenditure: vec![(ExpenditureCategory::Medical, m("65000000.00"))],
            },
        },
        Event::PlanSubmitted {
            plan_id: plan,
            region: lanzhou,
            period: p("2024-03"),
            lines: vec![
                (ExpenditureCategory::Medical, m("5000000.00")),
                (ExpenditureCategory::Disability, m("3000000.00")),
                (ExpenditureCategory::Death, m("1500000.00")),
            ],
        },
        Event::PlanApproved { plan_id: plan, region: lanzhou, period: p("2024-03") },
        Event::PlanRejected {
            plan_id: PlanId::parse("PLAN-620200-2024-03").unwrap(),
            region: r(620200),
            period: p("2024-03"),
            by: Department::Finance,
            reason: "medical line exceeds the quarterly average by 40%".into(),
        },
        Event::PlanReviewed { plan_id: plan, region: lanzhou, period: p("2024-03") },
        Event::FundsAllocated {
            plan_id: plan,
            region: lanzhou,
            period: p("2024-03"),
            tranche: 1,
            amount: m("4750000.00"),
        },
        Event::BenefitPaid {
            payment_id: PaymentId::parse("PAY-620100-2024-03-000417").unwrap(),
            region: lanzhou,
            period: p("2024-03"),
            benefit: BenefitType::OneTimeDisabilitySubsidy,
            category: ExpenditureCategory::Disability,
            beneficiary: BeneficiaryRef::parse("B-620100-00042").unwrap(),
            amount: m("142101.00"),
            basis: Some(Basis::DisabilitySubsidy { grade: 5, own_wage: m("7895.00") }),
        },
        Event::PaymentReversed {
            payment_id: PaymentId::parse("PAY-620100-2024-02-000101").unwrap(),
            region: lanzhou,
            period: p("2024-03"),
            paid_period: p("2024-02"),
            benefit: BenefitType::MedicalTreatment,
            category: ExpenditureCategory::Medical,
            amount: m("3120.50"),
            reason: ReversalReason::Returned,
        },
        Event::PeriodClosed { region: lanzhou, period: p("2024-03") },
        Event::RatesAdjusted {
            effective: p("2025-01"),
            class: 3,
            benchmark_rate_pct: Decimal::new(7, 1),
            allowed_floats_pct: vec![Decimal::from(50), Decimal::from(80), Decimal::from(120), Decimal::from(150)],
        },
        Event::GapSharesAssessed {
            year: 2024,
            gap: m("5000000.00"),
            shares: vec![
                GapShare { region: lanzhou, shortfall: m("3000000.00"), share: m("1500000.00") },
                GapShare { region: r(620200), shortfall: m("1000000.00"), share: m("500000.00") },
            ],
            province_share: m("3000000.00"),
        },
    ]
}

/// A realistic envelope around `event`; `n` varies the ids.
pub fn meta(n: u32, effective_period: Period) -> RecordMeta {
    let mut event_id = [0u8; 16];
    event_id[..4].copy_from_slice(&n.to_be_bytes());
    event_id[15] = 0xa5;
    RecordMeta {
        event_id,
        command_id: CommandId::parse(&format!("cmd-620100-{n:08}")).unwrap(),
        command_digest: [0x5c; 32],
        actor: Actor { principal: "agency-lanzhou-01".into(), role: Role::RegionAgency, region: Some(r(620100)) },
        recorded_at_micros: 1_711_900_800_000_000 + i64::from(n),
        correlation_id: "upload-2024-03-620100".into(),
        causation_id: String::new(),
        effective_period,
        index_in_command: 0,
        records_in_command: 1,
    }
}

/// `event` recorded with the realistic envelope of [`meta`].
pub fn recorded(n: u32, event: Event) -> Recorded {
    Recorded { meta: meta(n, event.effective_period()), body: RecordBody::Event(event) }
}

/// A refused command's audit record.
pub fn rejected(n: u32) -> Recorded {
    Recorded {
        meta: meta(n, p("2024-03")),
        body: RecordBody::Rejected {
            command_name: "record_payment".into(),
            reason: Reason::PaymentExceedsExpenditureBalance,
            message: "the expenditure account of 620100 holds 1200.00, the payment needs 3120.50".into(),
        },
    }
}

/// A nursing-allowance payment: the commonest standard-bound event of a mature fund.
pub fn nursing_payment(n: u32) -> Event {
    Event::BenefitPaid {
        payment_id: PaymentId::parse(&format!("PAY-620100-2024-03-{n:06}")).unwrap(),
        region: r(620100),
        period: p("2024-03"),
        benefit: BenefitType::NursingAllowance,
        category: ExpenditureCategory::Disability,
        beneficiary: BeneficiaryRef::parse(&format!("B-620100-{n:05}")).unwrap(),
        amount: m("3300.00"),
        basis: Some(Basis::Nursing { level: NursingLevel::Full }),
    }
}
