//! Given-when-then tests of the fund's rules: one test per rule (per `Reason`), showing the refusal
//! and the boundary that is still allowed, and one happy-path test per command with its exact events.
//!
//! Each rule test names its reason code in its doc comment; the meta-test at the end checks that
//! every code in `Reason::ALL` is both named here and expected by some `then_rejected`.

use fundledger_domain::category::{
    BenefitType, Department, ExpenditureCategory as Cat, IncomeCategory, LegacyFundKind, NursingLevel,
    ProvincialIncomeKind, ReversalReason,
};
use fundledger_domain::policy::BenefitYear;
use fundledger_domain::testkit::*;
use fundledger_domain::{Basis, BudgetLines, Command, Event, GapShare, Money, Period, Policy, Reason, RegionCode};

// ---------------------------------------------------------------------------------------------
// Local helpers.
// ---------------------------------------------------------------------------------------------

/// A ledger where Lanzhou can pay up to `lines` in `period` under plan "P1".
fn paying(period: Period, lines: &[(Cat, Money)]) -> Ledger {
    let mut t = Ledger::gansu();
    t.ready_to_pay("P1", lanzhou(), period, lines);
    t
}

/// Medical treatment in Lanzhou: the simplest payment, with no calculation basis.
fn pay_medical(id: &str, period: Period, amount: Money) -> Command {
    pay(id, lanzhou(), period, BenefitType::MedicalTreatment, "B-1", amount)
}

/// `n / d` rounded to the nearest integer, halves away from zero (n >= 0, d > 0): the rounding
/// the Regulation's standards use, written out independently of `Money`.
fn div_round(n: i128, d: i128) -> i128 {
    (2 * n + d) / (2 * d)
}

/// `pct` percent of an amount, rounded to the fen.
fn pct_of(amount: Money, pct: i64) -> Money {
    fen(div_round(i128::from(amount.to_fen()) * i128::from(pct), 100) as i64)
}

/// `k` times an amount.
fn times(amount: Money, k: i64) -> Money {
    fen(amount.to_fen() * k)
}

fn benefit_year(t: &Ledger, year: u16) -> BenefitYear {
    t.policy.benefit_year(year).unwrap_or_else(|| panic!("Gansu policy has figures for {year}")).clone()
}

/// The own-wage base: the wage floored at 60% and capped at 300% of the prior-year average wage.
fn wage_base(wage: Money, average: Money) -> Money {
    wage.max(pct_of(average, 60)).min(pct_of(average, 300))
}

/// Asserts the rules refuse one fen either side of `standard` (naming the standard) and accept it.
fn assert_only_standard_accepted(
    t: &mut Ledger,
    id: &str,
    period: Period,
    benefit: BenefitType,
    who: &str,
    basis: Basis,
    standard: Money,
) {
    for wrong in [standard.sub(fen(1)), standard.add(fen(1))] {
        let message = t
            .when(pay_with_basis(id, lanzhou(), period, benefit, who, wrong, Some(basis)))
            .then_rejected(Reason::AmountNotStandard);
        assert!(message.contains(&standard.to_string()), "message should name the standard {standard}: {message}");
    }
    let events = t.then_ok(pay_with_basis(id, lanzhou(), period, benefit, who, standard, Some(basis)));
    assert!(matches!(&events[..], [Event::BenefitPaid { amount, .. }] if *amount == standard));
}

/// A ledger ready to pay standard-bound benefits in Lanzhou, 2024-06 (figures of 2023).
fn standards_ledger() -> (Ledger, Period, BenefitYear) {
    let period = p("2024-06");
    let t = paying(period, &[(Cat::Disability, yuan(50_000_000)), (Cat::Death, yuan(50_000_000))]);
    let prior = benefit_year(&t, 2023);
    (t, period, prior)
}

// ---------------------------------------------------------------------------------------------
// Happy paths: one per command, with the exact events.
// ---------------------------------------------------------------------------------------------

#[test]
fn record_collection_records_one_event_and_raises_untransferred_income() {
    let mut t = Ledger::gansu();
    t.when(collect(lanzhou(), p("2024-03"), m("1234.56"), "T1")).then_expect(&[Event::CollectionRecorded {
        region: lanzhou(),
        period: p("2024-03"),
        category: IncomeCategory::Premium,
        amount: m("1234.56"),
        tax_batch: batch("T1"),
    }]);
    assert_eq!(t.state.untransferred(lanzhou(), p("2024-03")), m("1234.56"));
    assert_eq!(t.state.pooled_balance(), Money::ZERO, "collected income is not pooled until transferred");
}

#[test]
fn refund_collection_takes_its_category_from_the_batch() {
    let mut t = Ledger::gansu();
    t.given(&[collect_as(lanzhou(), p("2024-03"), IncomeCategory::Interest, m("100.00"), "T1")]);
    t.when(refund(lanzhou(), p("2024-03"), "T1", m("30.00"))).then_expect(&[Event::CollectionRefunded {
        region: lanzhou(),
        period: p("2024-03"),
        category: IncomeCategory::Interest,
        tax_batch: batch("T1"),
        amount: m("30.00"),
    }]);
    // 100.00 collected - 30.00 refunded = 70.00 left in the income line.
    assert_eq!(t.state.untransferred(lanzhou(), p("2024-03")), m("70.00"));
}

#[test]
fn record_transfer_moves_income_into_the_pooled_fund() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), m("100.00"), "T1")]);
    t.when(transfer(lanzhou(), p("2024-03"), m("60.00"))).then_expect(&[Event::TransferRecorded {
        region: lanzhou(),
        period: p("2024-03"),
        amount: m("60.00"),
    }]);
    // 100.00 - 60.00 stays in the income line; the 60.00 is pooled.
    assert_eq!(t.state.untransferred(lanzhou(), p("2024-03")), m("40.00"));
    assert_eq!(t.state.pooled_balance(), m("60.00"));
}

#[test]
fn record_provincial_income_raises_the_pooled_fund() {
    let mut t = Ledger::gansu();
    t.when(provincial_income(ProvincialIncomeKind::FiscalSubsidy, p("2024-05"), m("500.00"))).then_expect(&[
        Event::ProvincialIncomeRecorded {
            kind: ProvincialIncomeKind::FiscalSubsidy,
            period: p("2024-05"),
            amount: m("500.00"),
        },
    ]);
    t.then_ok(fiscal_advance(p("2024-06"), m("20.00")));
    assert_eq!(t.state.pooled_balance(), m("520.00"));
    assert_eq!(t.state.fiscal_advances(2024), m("20.00"), "only the advance counts as a gap");
}

#[test]
fn consolidate_legacy_reserve_moves_the_balance_into_the_pooled_fund() {
    let mut t = Ledger::gansu();
    t.when(consolidate(jiayuguan(), LegacyFundKind::Reserve, p("2024-01"), m("8000.00"))).then_expect(&[
        Event::LegacyReserveConsolidated {
            region: jiayuguan(),
            kind: LegacyFundKind::Reserve,
            period: p("2024-01"),
            amount: m("8000.00"),
        },
    ]);
    assert_eq!(t.state.pooled_balance(), m("8000.00"));
    assert_eq!(t.state.totals().consolidated, m("8000.00"));
}

#[test]
fn adopt_and_adjust_budget_record_the_lines() {
    let mut t = Ledger::gansu();
    let lines = budget_lines(m("900.00"), &[(Cat::Medical, m("500.00")), (Cat::Death, m("100.00"))]);
    t.when(Command::AdoptBudget { region: lanzhou(), year: 2024, lines: lines.clone() })
        .then_expect(&[Event::BudgetAdopted { region: lanzhou(), year: 2024, lines: lines.clone() }]);
    let adjusted = budget_lines(m("950.00"), &[(Cat::Medical, m("700.00"))]);
    t.when(Command::AdjustBudget { region: lanzhou(), year: 2024, lines: adjusted.clone() })
        .then_expect(&[Event::BudgetAdjusted { region: lanzhou(), year: 2024, lines: adjusted.clone() }]);
    assert_eq!(t.state.budget(lanzhou(), 2024).map(|b| b.lines.clone()), Some(adjusted));
}

#[test]
fn plan_workflow_records_submit_approve_review_and_reject() {
    let mut t = Ledger::gansu();
    let lines = vec![(Cat::Medical, m("100.00")), (Cat::Death, m("50.00"))];
    t.when(submit("P1", lanzhou(), p("2024-03"), &lines)).then_expect(&[Event::PlanSubmitted {
        plan_id: plan_id("P1"),
        region: lanzhou(),
        period: p("2024-03"),
        lines: lines.clone(),
    }]);
    t.when(approve("P1")).then_expect(&[Event::PlanApproved {
        plan_id: plan_id("P1"),
        region: lanzhou(),
        period: p("2024-03"),
    }]);
    t.when(review("P1")).then_expect(&[Event::PlanReviewed {
        plan_id: plan_id("P1"),
        region: lanzhou(),
        period: p("2024-03"),
    }]);
    t.given(&[submit("P2", jiayuguan(), p("2024-03"), &lines)]);
    t.when(reject_plan("P2", Department::Hrss, "lines exceed last year's spending")).then_expect(&[
        Event::PlanRejected {
            plan_id: plan_id("P2"),
            region: jiayuguan(),
            period: p("2024-03"),
            by: Department::Hrss,
            reason: "lines exceed last year's spending".into(),
        },
    ]);
    assert_eq!(t.state.open_plan(jiayuguan(), p("2024-03")), None, "a rejected plan is no longer open");
    assert_eq!(t.state.open_plan(lanzhou(), p("2024-03")), Some(plan_id("P1")));
}

#[test]
fn allocate_funds_numbers_tranches_and_moves_money_to_the_expenditure_account() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("1000.00"));
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("5000.00"))]);
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("800.00"))]));
    for (tranche, amount) in [(1, m("300.00")), (2, m("500.00"))] {
        t.when(allocate("P1", amount)).then_expect(&[Event::FundsAllocated {
            plan_id: plan_id("P1"),
            region: lanzhou(),
            period: p("2024-03"),
            tranche,
            amount,
        }]);
    }
    // 1000.00 pooled - 300.00 - 500.00 = 200.00 left; Lanzhou's expenditure account holds 800.00.
    assert_eq!(t.state.pooled_balance(), m("200.00"));
    assert_eq!(t.state.expenditure_balance(lanzhou()), m("800.00"));
    assert_eq!(t.state.budget(lanzhou(), 2024).map(|b| b.allocated), Some(m("800.00")));
}

#[test]
fn record_payment_derives_the_category_and_debits_the_expenditure_account() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("1000.00"))]);
    t.when(pay("PAY-1", lanzhou(), p("2024-03"), BenefitType::Rehabilitation, "B-7", m("250.50"))).then_expect(&[
        Event::BenefitPaid {
            payment_id: payment_id("PAY-1"),
            region: lanzhou(),
            period: p("2024-03"),
            benefit: BenefitType::Rehabilitation,
            category: Cat::Medical,
            beneficiary: beneficiary("B-7"),
            amount: m("250.50"),
            basis: None,
        },
    ]);
    // 1000.00 allocated - 250.50 paid.
    assert_eq!(t.state.expenditure_balance(lanzhou()), m("749.50"));
}

#[test]
fn reverse_payment_names_the_paid_period_and_credits_the_expenditure_account() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("1000.00"))]);
    t.given(&[pay_medical("PAY-1", p("2024-03"), m("400.00"))]);
    t.when(Command::ReversePayment {
        payment_id: payment_id("PAY-1"),
        period: p("2024-05"),
        amount: m("150.00"),
        reason: ReversalReason::Recovered,
    })
    .then_expect(&[Event::PaymentReversed {
        payment_id: payment_id("PAY-1"),
        region: lanzhou(),
        period: p("2024-05"),
        paid_period: p("2024-03"),
        benefit: BenefitType::MedicalTreatment,
        category: Cat::Medical,
        amount: m("150.00"),
        reason: ReversalReason::Recovered,
    }]);
    // 1000.00 - 400.00 paid + 150.00 reversed.
    assert_eq!(t.state.expenditure_balance(lanzhou()), m("750.00"));
    assert_eq!(t.state.totals().reversed, m("150.00"));
}

#[test]
fn close_period_records_the_close() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("10.00"));
    t.when(close(lanzhou(), p("2024-03")))
        .then_expect(&[Event::PeriodClosed { region: lanzhou(), period: p("2024-03") }]);
    assert!(t.state.is_closed(lanzhou(), p("2024-03")));
    assert!(!t.state.is_closed(jiayuguan(), p("2024-03")), "closing is per region");
}

#[test]
fn adjust_rates_records_a_dated_rate_version() {
    let mut t = Ledger::gansu();
    t.when(adjust_rates(p("2025-01"), 3, "0.6", &["50", "80", "120"])).then_expect(&[Event::RatesAdjusted {
        effective: p("2025-01"),
        class: 3,
        benchmark_rate_pct: dec("0.6"),
        allowed_floats_pct: vec![dec("50"), dec("80"), dec("120")],
    }]);
    assert_eq!(t.state.rate_history(3).len(), 1);
    assert_eq!(t.state.rate_history(3)[0].benchmark_rate_pct, dec("0.6"));
}

// ---------------------------------------------------------------------------------------------
// Shape and reference data.
// ---------------------------------------------------------------------------------------------

/// AMOUNT_NOT_POSITIVE: every amount-carrying command refuses zero and negative amounts; one fen
/// is fine. A legacy consolidation may be zero (a unit with nothing to hand over) but not negative.
#[test]
fn amounts_must_be_positive() {
    let mut t = Ledger::gansu();
    let period = p("2024-03");
    for bad in [Money::ZERO, m("-0.01"), m("-100.00")] {
        let commands = vec![
            collect(lanzhou(), period, bad, "T-BAD"),
            refund(lanzhou(), period, "T-BAD", bad),
            transfer(lanzhou(), period, bad),
            provincial_income(ProvincialIncomeKind::Interest, period, bad),
            allocate("P-BAD", bad),
            pay_medical("PAY-BAD", period, bad),
            reverse("PAY-BAD", period, bad),
        ];
        for command in commands {
            t.when(command).then_rejected(Reason::AmountNotPositive);
        }
    }
    t.when(consolidate(lanzhou(), LegacyFundKind::Reserve, period, m("-0.01")))
        .then_rejected(Reason::AmountNotPositive);
    t.then_ok(consolidate(lanzhou(), LegacyFundKind::Reserve, period, Money::ZERO));
    t.then_ok(collect(lanzhou(), period, m("0.01"), "T-1"));
    t.then_ok(transfer(lanzhou(), period, m("0.01")));
}

/// UNKNOWN_REGION: only the policy's 16 paying units may collect, plan, pay or close; the
/// province's own code and unused codes are refused.
#[test]
fn only_paying_units_are_known_regions() {
    let mut t = Ledger::gansu();
    let codes: Vec<String> = t.policy.units.iter().map(|u| u.code.to_string()).collect();
    assert_eq!(codes.len(), 16);
    for expected in ["620100", "623000", "629901", "620001"] {
        assert!(codes.iter().any(|c| c == expected), "{expected} is a paying unit");
    }
    let period = p("2024-03");
    for (i, unit) in t.policy.units.clone().iter().enumerate() {
        t.then_ok(collect(unit.code, period, m("1.00"), &format!("T-{i}")));
    }
    for stranger in [region("620000"), region("620199"), region("999999")] {
        let commands = vec![
            collect(stranger, period, m("1.00"), "T-X"),
            transfer(stranger, period, m("1.00")),
            consolidate(stranger, LegacyFundKind::Reserve, period, m("1.00")),
            adopt_budget(stranger, 2024, m("1.00"), m("1.00")),
            submit("P-X", stranger, period, &[(Cat::Medical, m("1.00"))]),
            pay("PAY-X", stranger, period, BenefitType::MedicalTreatment, "B-1", m("1.00")),
            close(stranger, period),
        ];
        for command in commands {
            let message = t.when(command).then_rejected(Reason::UnknownRegion);
            assert!(message.contains(&stranger.to_string()), "{message}");
        }
    }
}

/// BEFORE_REFORM: nothing may be recorded before the reform's first period (2024-01); that period
/// itself is fine.
#[test]
fn nothing_is_recorded_before_the_reform() {
    let mut t = Ledger::gansu();
    assert_eq!(t.policy.reform_period(), p("2024-01"));
    let before = p("2023-12");
    let commands = vec![
        collect(lanzhou(), before, m("1.00"), "T-OLD"),
        transfer(lanzhou(), before, m("1.00")),
        provincial_income(ProvincialIncomeKind::Interest, before, m("1.00")),
        consolidate(lanzhou(), LegacyFundKind::Reserve, before, m("1.00")),
        adopt_budget(lanzhou(), 2023, m("1.00"), m("1.00")),
        submit("P-OLD", lanzhou(), before, &[(Cat::Medical, m("1.00"))]),
        pay_medical("PAY-OLD", before, m("1.00")),
        close(lanzhou(), before),
        adjust_rates(before, 2, "0.5", &["80"]),
        assess_gap(2023),
    ];
    for command in commands {
        t.when(command).then_rejected(Reason::BeforeReform);
    }
    t.then_ok(collect(lanzhou(), p("2024-01"), m("1.00"), "T-NEW"));
    t.then_ok(adopt_budget(lanzhou(), 2024, m("1.00"), m("1.00")));
    t.then_ok(provincial_income(ProvincialIncomeKind::Interest, p("2024-01"), m("1.00")));
}

/// PERIOD_CLOSED: once a region closes a month, no command naming that region and month is
/// accepted (collection, refund, transfer, consolidation, plan submission, payment, reversal),
/// nor any decision on a plan of that month (approve, review, reject, allocate). The next month
/// stays open.
#[test]
fn a_closed_period_takes_nothing_more() {
    let mut t = Ledger::gansu();
    let march = p("2024-03");
    let april = p("2024-04");
    // Lanzhou: a paying plan, a payment and a fully transferred batch in March.
    t.ready_to_pay("P1", lanzhou(), march, &[(Cat::Medical, m("1000.00"))]);
    t.given(&[pay_medical("PAY-1", march, m("100.00"))]);
    t.given(&collected_and_transferred(lanzhou(), march, m("50.00"), "T-MAR"));
    // Three more regions with a March plan at each workflow step.
    t.given(&[submit("P-SUB", jiayuguan(), march, &[(Cat::Medical, m("10.00"))])]);
    t.given(&[submit("P-APP", jinchang(), march, &[(Cat::Medical, m("10.00"))]), approve("P-APP")]);
    t.funded(baiyin(), march, m("10.00"));
    t.given(&[adopt_budget(baiyin(), 2024, Money::ZERO, m("10.00"))]);
    t.given(&plan_reviewed("P-REV", baiyin(), march, &[(Cat::Medical, m("10.00"))]));
    t.given(&[allocate("P-REV", m("4.00"))]);
    for r in [lanzhou(), jiayuguan(), jinchang(), baiyin()] {
        t.given(&[close(r, march)]);
    }

    let commands = vec![
        collect(lanzhou(), march, m("1.00"), "T-LATE"),
        refund(lanzhou(), march, "T-MAR", m("1.00")),
        transfer(lanzhou(), march, m("1.00")),
        consolidate(lanzhou(), LegacyFundKind::Reserve, march, m("1.00")),
        submit("P-NEW", lanzhou(), march, &[(Cat::Medical, m("1.00"))]),
        pay_medical("PAY-2", march, m("1.00")),
        reverse("PAY-1", march, m("1.00")),
        approve("P-SUB"),
        reject_plan("P-SUB", Department::Hrss, "late"),
        review("P-APP"),
        allocate("P-REV", m("1.00")),
    ];
    for command in commands {
        let message = t.when(command).then_rejected(Reason::PeriodClosed);
        assert!(message.contains("2024-03"), "{message}");
    }
    // April is open: the reversal may be booked there, and April's income recorded.
    t.then_ok(reverse("PAY-1", april, m("1.00")));
    t.then_ok(collect(lanzhou(), april, m("1.00"), "T-APR"));
    t.then_ok(consolidate(lanzhou(), LegacyFundKind::Reserve, april, m("1.00")));
}

/// TEXT_INVALID: a plan rejection needs a reason of 1 to 500 bytes, not blank.
#[test]
fn rejection_reasons_are_bounded_text() {
    let mut t = Ledger::gansu();
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("10.00"))])]);
    for bad in [String::new(), "   ".to_string(), "x".repeat(501)] {
        t.when(reject_plan("P1", Department::Hrss, &bad)).then_rejected(Reason::TextInvalid);
    }
    t.then_ok(reject_plan("P1", Department::Hrss, &"x".repeat(500)));
}

// ---------------------------------------------------------------------------------------------
// The income line.
// ---------------------------------------------------------------------------------------------

/// DUPLICATE_TAX_BATCH: a tax batch ref is recorded once across the whole ledger.
#[test]
fn a_tax_batch_is_recorded_once() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), m("10.00"), "T1")]);
    t.when(collect(lanzhou(), p("2024-03"), m("10.00"), "T1")).then_rejected(Reason::DuplicateTaxBatch);
    t.when(collect(jiayuguan(), p("2024-04"), m("5.00"), "T1")).then_rejected(Reason::DuplicateTaxBatch);
    t.then_ok(collect(lanzhou(), p("2024-03"), m("10.00"), "T2"));
}

/// UNKNOWN_TAX_BATCH: a refund must name a recorded batch.
#[test]
fn a_refund_names_a_known_batch() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), m("10.00"), "T1")]);
    t.when(refund(lanzhou(), p("2024-03"), "T9", m("1.00"))).then_rejected(Reason::UnknownTaxBatch);
    t.then_ok(refund(lanzhou(), p("2024-03"), "T1", m("1.00")));
}

/// REFUND_BATCH_MISMATCH: a refund goes back through the batch's own region and period.
#[test]
fn a_refund_matches_its_batch_region_and_period() {
    let mut t = Ledger::gansu();
    t.given(&[
        collect(lanzhou(), p("2024-03"), m("10.00"), "T1"),
        collect(jiayuguan(), p("2024-04"), m("10.00"), "T2"),
    ]);
    t.when(refund(jiayuguan(), p("2024-03"), "T1", m("1.00"))).then_rejected(Reason::RefundBatchMismatch);
    t.when(refund(lanzhou(), p("2024-04"), "T1", m("1.00"))).then_rejected(Reason::RefundBatchMismatch);
    t.then_ok(refund(lanzhou(), p("2024-03"), "T1", m("1.00")));
}

/// REFUND_EXCEEDS_COLLECTION: refunds of one batch sum to at most what it collected, even when the
/// period holds other untransferred income.
#[test]
fn refunds_never_exceed_their_batch() {
    let mut t = Ledger::gansu();
    t.given(&[
        collect(lanzhou(), p("2024-03"), m("100.00"), "T1"),
        collect(lanzhou(), p("2024-03"), m("500.00"), "T2"),
    ]);
    t.when(refund(lanzhou(), p("2024-03"), "T1", m("100.01"))).then_rejected(Reason::RefundExceedsCollection);
    t.then_ok(refund(lanzhou(), p("2024-03"), "T1", m("60.00")));
    // 100.00 - 60.00 = 40.00 left of T1.
    let message =
        t.when(refund(lanzhou(), p("2024-03"), "T1", m("40.01"))).then_rejected(Reason::RefundExceedsCollection);
    assert!(message.contains("40.00"), "{message}");
    t.then_ok(refund(lanzhou(), p("2024-03"), "T1", m("40.00")));
}

/// REFUND_EXCEEDS_UNTRANSFERRED: a region refunds only from income still in its income line;
/// transferred income is the province's to refund.
#[test]
fn refunds_never_exceed_untransferred_income() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), m("100.00"), "T1"), transfer(lanzhou(), p("2024-03"), m("70.00"))]);
    // 100.00 collected - 70.00 transferred = 30.00 untransferred.
    t.when(refund(lanzhou(), p("2024-03"), "T1", m("30.01"))).then_rejected(Reason::RefundExceedsUntransferred);
    t.then_ok(refund(lanzhou(), p("2024-03"), "T1", m("30.00")));
    assert_eq!(t.state.untransferred(lanzhou(), p("2024-03")), Money::ZERO);
}

/// TRANSFER_EXCEEDS_UNTRANSFERRED: a region transfers at most its collected-but-untransferred
/// income of that period; exactly all of it is fine, one fen more is refused.
#[test]
fn transfers_never_exceed_untransferred_income() {
    let mut t = Ledger::gansu();
    t.given(&[
        collect(lanzhou(), p("2024-03"), m("100.00"), "T1"),
        collect(lanzhou(), p("2024-04"), m("900.00"), "T2"),
        collect(jiayuguan(), p("2024-03"), m("900.00"), "T3"),
        refund(lanzhou(), p("2024-03"), "T1", m("10.00")),
    ]);
    // March: 100.00 - 10.00 refunded = 90.00; April's and Jiayuguan's income do not count.
    let message =
        t.when(transfer(lanzhou(), p("2024-03"), m("90.01"))).then_rejected(Reason::TransferExceedsUntransferred);
    assert!(message.contains("90.00"), "{message}");
    t.then_ok(transfer(lanzhou(), p("2024-03"), m("40.00")));
    t.when(transfer(lanzhou(), p("2024-03"), m("50.01"))).then_rejected(Reason::TransferExceedsUntransferred);
    t.then_ok(transfer(lanzhou(), p("2024-03"), m("50.00")));
    t.when(transfer(lanzhou(), p("2024-03"), m("0.01"))).then_rejected(Reason::TransferExceedsUntransferred);
    assert_eq!(t.state.pooled_balance(), m("90.00"));
}

/// UNTRANSFERRED_INCOME_AT_CLOSE: a month closes only when all its income is transferred.
#[test]
fn a_period_closes_only_with_all_income_transferred() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), m("100.00"), "T1"), transfer(lanzhou(), p("2024-03"), m("99.99"))]);
    let message = t.when(close(lanzhou(), p("2024-03"))).then_rejected(Reason::UntransferredIncomeAtClose);
    assert!(message.contains("0.01"), "{message}");
    t.given(&[transfer(lanzhou(), p("2024-03"), m("0.01"))]);
    t.then_ok(close(lanzhou(), p("2024-03")));
    // A month without any income closes at once.
    t.then_ok(close(lanzhou(), p("2024-04")));
}

/// PERIOD_ALREADY_CLOSED: a month closes once.
#[test]
fn a_period_closes_once() {
    let mut t = Ledger::gansu();
    t.given(&[close(lanzhou(), p("2024-03"))]);
    t.when(close(lanzhou(), p("2024-03"))).then_rejected(Reason::PeriodAlreadyClosed);
    t.then_ok(close(jiayuguan(), p("2024-03")));
}

// ---------------------------------------------------------------------------------------------
// Legacy reserves and budgets.
// ---------------------------------------------------------------------------------------------

/// LEGACY_RESERVE_ALREADY_CONSOLIDATED: a unit's legacy balance is consolidated once.
#[test]
fn a_legacy_reserve_is_consolidated_once() {
    let mut t = Ledger::gansu();
    t.given(&[consolidate(lanzhou(), LegacyFundKind::Reserve, p("2024-01"), m("1000.00"))]);
    t.when(consolidate(lanzhou(), LegacyFundKind::Reserve, p("2024-02"), m("1.00")))
        .then_rejected(Reason::LegacyReserveAlreadyConsolidated);
    t.when(consolidate(lanzhou(), LegacyFundKind::AdjustmentFund, p("2024-02"), m("1.00")))
        .then_rejected(Reason::LegacyReserveAlreadyConsolidated);
    t.then_ok(consolidate(region("620001"), LegacyFundKind::AdjustmentFund, p("2024-01"), m("500.00")));
    assert_eq!(t.state.pooled_balance(), m("1500.00"));
}

/// BUDGET_ALREADY_ADOPTED: one budget per region and year; later changes are adjustments.
#[test]
fn a_budget_is_adopted_once_per_region_and_year() {
    let mut t = Ledger::gansu();
    t.given(&[adopt_budget(lanzhou(), 2024, m("100.00"), m("100.00"))]);
    t.when(adopt_budget(lanzhou(), 2024, m("200.00"), m("200.00"))).then_rejected(Reason::BudgetAlreadyAdopted);
    t.then_ok(adopt_budget(lanzhou(), 2025, m("200.00"), m("200.00")));
    t.then_ok(adopt_budget(jiayuguan(), 2024, m("200.00"), m("200.00")));
    t.then_ok(adjust_budget(lanzhou(), 2024, m("200.00"), m("200.00")));
}

/// BUDGET_LINES_INVALID: a budget names each category at most once per side and holds no negative
/// line; zero lines are allowed.
#[test]
fn budget_lines_name_each_category_once_and_are_not_negative() {
    let mut t = Ledger::gansu();
    let bad = [
        BudgetLines {
            income: vec![(IncomeCategory::Premium, m("1.00")), (IncomeCategory::Premium, m("2.00"))],
            expenditure: vec![],
        },
        BudgetLines { income: vec![], expenditure: vec![(Cat::Medical, m("1.00")), (Cat::Medical, m("2.00"))] },
        BudgetLines { income: vec![(IncomeCategory::Interest, m("-0.01"))], expenditure: vec![] },
        BudgetLines { income: vec![], expenditure: vec![(Cat::Death, m("-5.00"))] },
    ];
    for lines in bad {
        t.when(Command::AdoptBudget { region: lanzhou(), year: 2024, lines: lines.clone() })
            .then_rejected(Reason::BudgetLinesInvalid);
        t.when(Command::AdjustBudget { region: lanzhou(), year: 2024, lines })
            .then_rejected(Reason::BudgetLinesInvalid);
    }
    let zero = BudgetLines {
        income: vec![(IncomeCategory::Premium, Money::ZERO), (IncomeCategory::Interest, m("1.00"))],
        expenditure: vec![(Cat::Medical, Money::ZERO), (Cat::Death, m("3.00"))],
    };
    t.then_ok(Command::AdoptBudget { region: lanzhou(), year: 2024, lines: zero });
}

/// BUDGET_LINES_INVALID: lines whose total passes the money ceiling are refused when the budget is
/// adopted; accepting them makes every later allocation against the budget panic while summing it.
#[test]
fn budget_lines_whose_total_passes_the_money_ceiling_are_refused() {
    let mut t = Ledger::gansu();
    let huge = BudgetLines {
        income: vec![],
        expenditure: vec![(Cat::Medical, Money::ceiling()), (Cat::Death, Money::ceiling())],
    };
    t.when(Command::AdoptBudget { region: lanzhou(), year: 2024, lines: huge })
        .then_rejected(Reason::BudgetLinesInvalid);
}

/// BUDGET_NOT_ADOPTED: funds are allocated only within an adopted budget for the plan's year, and
/// only an adopted budget can be adjusted.
#[test]
fn allocation_needs_an_adopted_budget_for_the_plans_year() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("100.00"));
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("100.00"))]));
    t.given(&[adopt_budget(lanzhou(), 2025, Money::ZERO, m("1000.00"))]);
    t.given(&[adopt_budget(jiayuguan(), 2024, Money::ZERO, m("1000.00"))]);
    t.when(allocate("P1", m("10.00"))).then_rejected(Reason::BudgetNotAdopted);
    t.when(adjust_budget(lanzhou(), 2024, Money::ZERO, m("1000.00"))).then_rejected(Reason::BudgetNotAdopted);
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("1000.00"))]);
    t.then_ok(allocate("P1", m("10.00")));
}

/// BUDGET_BELOW_ALLOCATED: an adjusted expenditure budget may not fall below what was allocated.
#[test]
fn an_adjusted_budget_never_falls_below_allocations() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("1000.00"));
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("1000.00"))]);
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("600.00"))]));
    t.given(&[allocate("P1", m("600.00"))]);
    let message =
        t.when(adjust_budget(lanzhou(), 2024, Money::ZERO, m("599.99"))).then_rejected(Reason::BudgetBelowAllocated);
    assert!(message.contains("600.00"), "{message}");
    t.then_ok(adjust_budget(lanzhou(), 2024, Money::ZERO, m("600.00")));
}

// ---------------------------------------------------------------------------------------------
// The plan workflow: submit -> HRSS approve -> Finance review -> allocate.
// ---------------------------------------------------------------------------------------------

/// DUPLICATE_PLAN_ID: a plan id is used once across the ledger, even after rejection.
#[test]
fn a_plan_id_is_used_once() {
    let mut t = Ledger::gansu();
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("10.00"))])]);
    t.when(submit("P1", jiayuguan(), p("2024-03"), &[(Cat::Medical, m("10.00"))]))
        .then_rejected(Reason::DuplicatePlanId);
    t.given(&[reject_plan("P1", Department::Hrss, "too high")]);
    t.when(submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("5.00"))])).then_rejected(Reason::DuplicatePlanId);
    t.then_ok(submit("P2", lanzhou(), p("2024-03"), &[(Cat::Medical, m("5.00"))]));
}

/// UNKNOWN_PLAN: every plan decision and allocation names a submitted plan.
#[test]
fn plan_decisions_name_a_known_plan() {
    let mut t = Ledger::gansu();
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("10.00"))])]);
    for command in [approve("P9"), review("P9"), reject_plan("P9", Department::Hrss, "no"), allocate("P9", m("1.00"))] {
        t.when(command).then_rejected(Reason::UnknownPlan);
    }
    t.then_ok(approve("P1"));
}

/// PLAN_ALREADY_OPEN: a region has one open plan per period; other regions and periods are free,
/// and a rejected plan no longer blocks a new one.
#[test]
fn one_open_plan_per_region_and_period() {
    let mut t = Ledger::gansu();
    let lines = [(Cat::Medical, m("10.00"))];
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &lines));
    let message = t.when(submit("P2", lanzhou(), p("2024-03"), &lines)).then_rejected(Reason::PlanAlreadyOpen);
    assert!(message.contains("P1"), "{message}");
    t.then_ok(submit("P3", lanzhou(), p("2024-04"), &lines));
    t.then_ok(submit("P4", jiayuguan(), p("2024-03"), &lines));
    t.when(submit("P5", lanzhou(), p("2024-04"), &lines)).then_rejected(Reason::PlanAlreadyOpen);
    t.given(&[reject_plan("P3", Department::Hrss, "redo")]);
    t.then_ok(submit("P5", lanzhou(), p("2024-04"), &lines));
}

/// PLAN_LINES_INVALID: a plan has 1 to 16 lines, each category once, each amount positive.
#[test]
fn plan_lines_are_nonempty_distinct_and_positive() {
    let mut t = Ledger::gansu();
    let bad: Vec<Vec<(Cat, Money)>> = vec![
        vec![],
        vec![(Cat::Medical, m("1.00")), (Cat::Medical, m("2.00"))],
        vec![(Cat::Medical, Money::ZERO)],
        vec![(Cat::Medical, m("5.00")), (Cat::Death, m("-0.01"))],
    ];
    for lines in bad {
        t.when(submit("P1", lanzhou(), p("2024-03"), &lines)).then_rejected(Reason::PlanLinesInvalid);
    }
    t.then_ok(submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("0.01")), (Cat::Death, m("1.00"))]));
}

/// PLAN_REJECTED: rejection is final; nothing more happens to the plan, but the region may submit
/// a new plan for the same period, which runs the whole workflow again.
#[test]
fn a_rejected_plan_is_final_and_a_new_one_may_follow() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("100.00"));
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("100.00"))]);
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("100.00"))]), approve("P1")]);
    t.given(&[reject_plan("P1", Department::Finance, "no funding basis")]);
    for command in [
        approve("P1"),
        review("P1"),
        reject_plan("P1", Department::Hrss, "again"),
        reject_plan("P1", Department::Finance, "again"),
        allocate("P1", m("1.00")),
    ] {
        t.when(command).then_rejected(Reason::PlanRejected);
    }
    t.given(&plan_reviewed("P2", lanzhou(), p("2024-03"), &[(Cat::Medical, m("80.00"))]));
    t.then_ok(allocate("P2", m("80.00")));
}

/// PLAN_ALREADY_APPROVED: HRSS approves once.
#[test]
fn hrss_approves_once() {
    let mut t = Ledger::gansu();
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("10.00"))]), approve("P1")]);
    t.when(approve("P1")).then_rejected(Reason::PlanAlreadyApproved);
    t.given(&[review("P1")]);
    t.when(approve("P1")).then_rejected(Reason::PlanAlreadyApproved);
}

/// PLAN_NOT_APPROVED: Finance reviews only what HRSS approved.
#[test]
fn finance_reviews_only_after_hrss_approval() {
    let mut t = Ledger::gansu();
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("10.00"))])]);
    t.when(review("P1")).then_rejected(Reason::PlanNotApproved);
    t.given(&[approve("P1")]);
    t.then_ok(review("P1"));
}

/// PLAN_ALREADY_REVIEWED: Finance reviews once.
#[test]
fn finance_reviews_once() {
    let mut t = Ledger::gansu();
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("10.00"))]));
    t.when(review("P1")).then_rejected(Reason::PlanAlreadyReviewed);
}

/// REJECTION_OUT_OF_ORDER: HRSS may reject only a submitted plan, Finance only an approved one;
/// nobody rejects a reviewed plan.
#[test]
fn each_department_rejects_only_in_its_turn() {
    let mut t = Ledger::gansu();
    let lines = [(Cat::Medical, m("10.00"))];
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &lines)]);
    t.when(reject_plan("P1", Department::Finance, "early")).then_rejected(Reason::RejectionOutOfOrder);
    t.given(&[approve("P1")]);
    t.when(reject_plan("P1", Department::Hrss, "late")).then_rejected(Reason::RejectionOutOfOrder);
    t.given(&[review("P1")]);
    t.when(reject_plan("P1", Department::Hrss, "late")).then_rejected(Reason::RejectionOutOfOrder);
    t.when(reject_plan("P1", Department::Finance, "late")).then_rejected(Reason::RejectionOutOfOrder);
    // In turn: HRSS on a submitted plan, Finance on an approved one.
    t.given(&[submit("P2", jiayuguan(), p("2024-03"), &lines)]);
    t.then_ok(reject_plan("P2", Department::Hrss, "in turn"));
    t.given(&[submit("P3", jinchang(), p("2024-03"), &lines), approve("P3")]);
    t.then_ok(reject_plan("P3", Department::Finance, "in turn"));
}

/// PLAN_NOT_REVIEWED: funds go only to plans both approved and reviewed.
#[test]
fn allocation_needs_a_reviewed_plan() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("100.00"));
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("100.00"))]);
    t.given(&[submit("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("100.00"))])]);
    t.when(allocate("P1", m("10.00"))).then_rejected(Reason::PlanNotReviewed);
    t.given(&[approve("P1")]);
    t.when(allocate("P1", m("10.00"))).then_rejected(Reason::PlanNotReviewed);
    t.given(&[review("P1")]);
    t.then_ok(allocate("P1", m("10.00")));
}

// ---------------------------------------------------------------------------------------------
// Allocation limits.
// ---------------------------------------------------------------------------------------------

/// ALLOCATION_EXCEEDS_PLAN: tranches sum to at most the reviewed plan's total.
#[test]
fn tranches_never_exceed_the_plan() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("5000.00"));
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("5000.00"))]);
    // Plan total: 600.00 + 400.00 = 1000.00.
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("600.00")), (Cat::Death, m("400.00"))]));
    t.when(allocate("P1", m("1000.01"))).then_rejected(Reason::AllocationExceedsPlan);
    t.then_ok(allocate("P1", m("600.00")));
    // 600.00 + 400.01 = 1000.01 > 1000.00.
    t.when(allocate("P1", m("400.01"))).then_rejected(Reason::AllocationExceedsPlan);
    t.then_ok(allocate("P1", m("400.00")));
    t.when(allocate("P1", m("0.01"))).then_rejected(Reason::AllocationExceedsPlan);
    assert_eq!(t.state.plan(plan_id("P1")).map(|p| (p.allocated, p.tranches)), Some((m("1000.00"), 2)));
}

/// ALLOCATION_EXCEEDS_POOLED_BALANCE: the pooled fund must hold the allocation; untransferred
/// income does not count. The message names the gap.
#[test]
fn allocations_never_exceed_the_pooled_balance() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), m("1000.00"), "T1"), transfer(lanzhou(), p("2024-03"), m("300.00"))]);
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("5000.00"))]);
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("1000.00"))]));
    // Pooled 300.00; an allocation of 450.25 leaves a gap of 450.25 - 300.00 = 150.25.
    let message = t.when(allocate("P1", m("450.25"))).then_rejected(Reason::AllocationExceedsPooledBalance);
    assert!(message.contains("150.25"), "the message names the gap: {message}");
    t.when(allocate("P1", m("300.01"))).then_rejected(Reason::AllocationExceedsPooledBalance);
    t.then_ok(allocate("P1", m("300.00")));
    assert_eq!(t.state.pooled_balance(), Money::ZERO);
}

/// ALLOCATION_EXCEEDS_BUDGET: a year's allocations to a region, over all its plans, stay within its
/// expenditure budget; raising the budget with an adjustment lets the allocation through.
#[test]
fn allocations_stay_within_the_years_budget() {
    let mut t = Ledger::gansu();
    t.funded(lanzhou(), p("2024-03"), m("5000.00"));
    t.given(&[adopt_budget(lanzhou(), 2024, Money::ZERO, m("500.00"))]);
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("1000.00"))]));
    t.given(&plan_reviewed("P2", lanzhou(), p("2024-04"), &[(Cat::Medical, m("1000.00"))]));
    t.then_ok(allocate("P1", m("400.00")));
    // 400.00 + 100.01 = 500.01 > 500.00, even though it goes to another month's plan.
    let message = t.when(allocate("P2", m("100.01"))).then_rejected(Reason::AllocationExceedsBudget);
    assert!(message.contains("500.01"), "{message}");
    t.given(&[adjust_budget(lanzhou(), 2024, Money::ZERO, m("600.00"))]);
    t.then_ok(allocate("P2", m("100.01")));
    // 400.00 + 100.01 + 99.99 = 600.00 exactly.
    t.then_ok(allocate("P1", m("99.99")));
    t.when(allocate("P1", m("0.01"))).then_rejected(Reason::AllocationExceedsBudget);
}

// ---------------------------------------------------------------------------------------------
// Payment limits.
// ---------------------------------------------------------------------------------------------

/// PAYMENT_EXCEEDS_EXPENDITURE_BALANCE: the two lines are never netted. A region with plenty of
/// collected (even transferred) income and a reviewed plan, but no allocation, cannot pay; it pays
/// exactly its allocated balance and not a fen more. Another region's balance does not help.
#[test]
fn payments_come_only_from_the_expenditure_account() {
    let mut t = Ledger::gansu();
    t.given(&[
        collect(lanzhou(), p("2024-03"), m("1000000.00"), "T1"),
        transfer(lanzhou(), p("2024-03"), m("500000.00")),
        adopt_budget(lanzhou(), 2024, Money::ZERO, m("1000000.00")),
    ]);
    t.given(&plan_reviewed("P1", lanzhou(), p("2024-03"), &[(Cat::Medical, m("100000.00"))]));
    t.ready_to_pay("P-JYG", jiayuguan(), p("2024-03"), &[(Cat::Medical, m("5000.00"))]);
    let message =
        t.when(pay_medical("PAY-1", p("2024-03"), m("100.00"))).then_rejected(Reason::PaymentExceedsExpenditureBalance);
    assert!(message.contains("100.00") && message.contains("620100"), "{message}");
    t.given(&[allocate("P1", m("60000.00"))]);
    t.when(pay_medical("PAY-1", p("2024-03"), m("60000.01"))).then_rejected(Reason::PaymentExceedsExpenditureBalance);
    t.then_ok(pay_medical("PAY-1", p("2024-03"), m("60000.00")));
    t.when(pay_medical("PAY-2", p("2024-03"), m("0.01"))).then_rejected(Reason::PaymentExceedsExpenditureBalance);
    assert_eq!(t.state.expenditure_balance(lanzhou()), Money::ZERO);
    assert_eq!(t.state.expenditure_balance(jiayuguan()), m("5000.00"));
}

/// PAYMENT_EXCEEDS_PLAN_LINE: payments of a category and period stay within that plan line, even
/// when the account could pay more; a reversal frees the line again.
#[test]
fn payments_stay_within_their_plan_line() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("100.00")), (Cat::Appraisal, m("50.00"))]);
    t.ready_to_pay("P2", lanzhou(), p("2024-04"), &[(Cat::Medical, m("1000.00"))]);
    t.then_ok(pay_medical("PAY-1", p("2024-03"), m("70.00")));
    // March medical: 70.00 + 30.01 = 100.01 > 100.00, with 1,080.00 in the account.
    let message = t.when(pay_medical("PAY-2", p("2024-03"), m("30.01"))).then_rejected(Reason::PaymentExceedsPlanLine);
    assert!(message.contains("100.00"), "{message}");
    t.then_ok(pay_medical("PAY-2", p("2024-03"), m("30.00")));
    t.when(pay_medical("PAY-3", p("2024-03"), m("0.01"))).then_rejected(Reason::PaymentExceedsPlanLine);
    // Other categories and other periods have their own lines; a category with no line has none.
    t.then_ok(pay("PAY-4", lanzhou(), p("2024-03"), BenefitType::AppraisalFee, "B-2", m("50.00")));
    t.when(pay("PAY-5", lanzhou(), p("2024-03"), BenefitType::OtherExpenditure, "B-2", m("0.01")))
        .then_rejected(Reason::PaymentExceedsPlanLine);
    t.then_ok(pay_medical("PAY-6", p("2024-04"), m("1000.00")));
    // Reversing 20.00 of a March payment (booked in April) frees 20.00 of March's line.
    t.given(&[reverse("PAY-1", p("2024-04"), m("20.00"))]);
    t.when(pay_medical("PAY-7", p("2024-03"), m("20.01"))).then_rejected(Reason::PaymentExceedsPlanLine);
    t.then_ok(pay_medical("PAY-7", p("2024-03"), m("20.00")));
}

/// DUPLICATE_PAYMENT_ID: a payment id is used once across the ledger.
#[test]
fn a_payment_id_is_used_once() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("100.00"))]);
    t.given(&[pay_medical("PAY-1", p("2024-03"), m("10.00"))]);
    t.when(pay_medical("PAY-1", p("2024-03"), m("10.00"))).then_rejected(Reason::DuplicatePaymentId);
    t.when(pay("PAY-1", lanzhou(), p("2024-03"), BenefitType::Rehabilitation, "B-9", m("1.00")))
        .then_rejected(Reason::DuplicatePaymentId);
    t.then_ok(pay_medical("PAY-2", p("2024-03"), m("10.00")));
}

/// DUPLICATE_PERIODIC_PAYMENT: a periodic benefit is paid once per beneficiary and period; only a
/// fully reversed payment frees the slot.
#[test]
fn periodic_benefits_are_paid_once_per_beneficiary_and_period() {
    let (mut t, period, prior) = standards_ledger();
    let basis = Basis::Nursing { level: NursingLevel::Full };
    // Full nursing: 50% of the prior year's monthly average wage.
    let amount = pct_of(prior.monthly_average_wage, 50);
    let nursing = |id: &str, who: &str| {
        pay_with_basis(id, lanzhou(), period, BenefitType::NursingAllowance, who, amount, Some(basis))
    };
    t.given(&[nursing("PAY-1", "B-1")]);
    let message = t.when(nursing("PAY-2", "B-1")).then_rejected(Reason::DuplicatePeriodicPayment);
    assert!(message.contains("B-1"), "{message}");
    t.then_ok(nursing("PAY-3", "B-2"));
    // A one-time benefit is not periodic: two funeral subsidies to one household are not refused
    // by this rule (the standard and the plan still apply).
    let funeral = times(prior.monthly_average_wage, 6);
    t.then_ok(pay_with_basis(
        "PAY-F1",
        lanzhou(),
        period,
        BenefitType::FuneralSubsidy,
        "B-1",
        funeral,
        Some(Basis::Funeral),
    ));
    t.then_ok(pay_with_basis(
        "PAY-F2",
        lanzhou(),
        period,
        BenefitType::FuneralSubsidy,
        "B-1",
        funeral,
        Some(Basis::Funeral),
    ));
    // Partly reversed: the slot stays taken.
    t.given(&[reverse("PAY-1", period, m("1.00"))]);
    t.when(nursing("PAY-4", "B-1")).then_rejected(Reason::DuplicatePeriodicPayment);
    // Fully reversed: the slot is free.
    t.given(&[reverse("PAY-1", period, amount.sub(m("1.00")))]);
    t.then_ok(nursing("PAY-4", "B-1"));
}

/// EMPLOYER_PAID_BENEFIT: the grade 5-6 allowance, recovery-period wages and the one-time
/// employment subsidy are the employer's, never the fund's, whatever the plan and balance.
#[test]
fn employer_paid_benefits_are_never_paid_by_the_fund() {
    let mut t = paying(p("2024-03"), &Cat::ALL.iter().map(|c| (*c, m("1000.00"))).collect::<Vec<_>>());
    for benefit in
        [BenefitType::Grade5To6Allowance, BenefitType::RecoveryPeriodWages, BenefitType::OneTimeEmploymentSubsidy]
    {
        let message = t
            .when(pay("PAY-1", lanzhou(), p("2024-03"), benefit, "B-1", m("10.00")))
            .then_rejected(Reason::EmployerPaidBenefit);
        assert!(message.contains(benefit.as_str()), "{message}");
    }
    let employer_paid = BenefitType::ALL.iter().filter(|b| b.category().is_none()).count();
    assert_eq!(employer_paid, 3);
    t.then_ok(pay("PAY-1", lanzhou(), p("2024-03"), BenefitType::OneTimeMedicalSubsidy, "B-1", m("10.00")));
}

/// NO_REVIEWED_PLAN: a region pays in a period only under that period's reviewed plan, even with
/// money in its account (here left over from March).
#[test]
fn payments_need_a_reviewed_plan_for_their_period() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("1000.00"))]);
    let april = p("2024-04");
    t.when(pay_medical("PAY-1", april, m("10.00"))).then_rejected(Reason::NoReviewedPlan);
    t.given(&[submit("P-APR", lanzhou(), april, &[(Cat::Medical, m("10.00"))])]);
    t.when(pay_medical("PAY-1", april, m("10.00"))).then_rejected(Reason::NoReviewedPlan);
    t.given(&[approve("P-APR")]);
    t.when(pay_medical("PAY-1", april, m("10.00"))).then_rejected(Reason::NoReviewedPlan);
    t.given(&[reject_plan("P-APR", Department::Finance, "resubmit")]);
    t.when(pay_medical("PAY-1", april, m("10.00"))).then_rejected(Reason::NoReviewedPlan);
    t.given(&plan_reviewed("P-APR2", lanzhou(), april, &[(Cat::Medical, m("10.00"))]));
    t.then_ok(pay_medical("PAY-1", april, m("10.00")));
}

/// BASIS_REQUIRED: each of the six standard-bound benefits needs its calculation basis.
#[test]
fn standard_bound_benefits_need_a_basis() {
    let (mut t, period, _) = standards_ledger();
    let bound: Vec<BenefitType> = BenefitType::ALL.iter().copied().filter(|b| b.is_standard_bound()).collect();
    assert_eq!(bound.len(), 6);
    for benefit in bound {
        t.when(pay("PAY-1", lanzhou(), period, benefit, "B-1", m("100.00"))).then_rejected(Reason::BasisRequired);
    }
}

/// BASIS_INVALID: a basis on a benefit that takes none, a basis of the wrong kind, and bases the
/// Regulation does not allow (grade outside its table, grade 5 allowance, no wage, no dependant).
#[test]
fn a_basis_must_fit_its_benefit() {
    let (mut t, period, _) = standards_ledger();
    let cases = [
        (BenefitType::MedicalTreatment, Basis::Funeral),
        (BenefitType::OneTimeWorkDeathSubsidy, Basis::Funeral),
        (BenefitType::FuneralSubsidy, Basis::Nursing { level: NursingLevel::Full }),
        (BenefitType::MonthlyDisabilityAllowance, Basis::DisabilityAllowance { grade: 5, own_wage: m("5000.00") }),
        (BenefitType::OneTimeDisabilitySubsidy, Basis::DisabilitySubsidy { grade: 0, own_wage: m("5000.00") }),
        (BenefitType::OneTimeDisabilitySubsidy, Basis::DisabilitySubsidy { grade: 11, own_wage: m("5000.00") }),
        (BenefitType::OneTimeDisabilitySubsidy, Basis::DisabilitySubsidy { grade: 3, own_wage: Money::ZERO }),
        (
            BenefitType::DependantsPension,
            Basis::DependantsPension {
                deceased_wage: m("5000.00"),
                spouse: false,
                other_dependants: 0,
                orphans_or_lone_elders: 0,
            },
        ),
        (
            BenefitType::DependantsPension,
            Basis::DependantsPension {
                deceased_wage: m("5000.00"),
                spouse: true,
                other_dependants: 1,
                orphans_or_lone_elders: 2,
            },
        ),
    ];
    for (benefit, basis) in cases {
        t.when(pay_with_basis("PAY-1", lanzhou(), period, benefit, "B-1", m("100.00"), Some(basis)))
            .then_rejected(Reason::BasisInvalid);
    }
}

/// AMOUNT_NOT_STANDARD, one-time disability subsidy: grade g pays 27/25/23/21/18/16/13/11/9/7
/// months of the own wage, the wage floored at 60% and capped at 300% of the prior-year average.
#[test]
fn one_time_disability_subsidy_is_the_standard() {
    let (mut t, period, prior) = standards_ledger();
    let avg = prior.monthly_average_wage;
    let months = [27, 25, 23, 21, 18, 16, 13, 11, 9, 7];
    // Below the floor, in range, above the cap.
    let wages = [m("1.00"), m("6000.00"), m("999999.00")];
    for (g, months) in months.iter().enumerate() {
        for (w, wage) in wages.iter().enumerate() {
            let grade = g as u8 + 1;
            let standard = times(wage_base(*wage, avg), *months);
            let basis = Basis::DisabilitySubsidy { grade, own_wage: *wage };
            let id = format!("PAY-{grade}-{w}");
            assert_only_standard_accepted(
                &mut t,
                &id,
                period,
                BenefitType::OneTimeDisabilitySubsidy,
                "B-1",
                basis,
                standard,
            );
        }
    }
    // The bounds themselves, worked: floor = 60% of avg, cap = 300% of avg (grade 1, 27 months).
    assert_eq!(wage_base(m("1.00"), avg), pct_of(avg, 60));
    assert_eq!(wage_base(m("999999.00"), avg), times(avg, 3));
    assert_eq!(wage_base(m("6000.00"), avg), m("6000.00"), "6000.00 lies inside [60%, 300%] of {avg}");
}

/// AMOUNT_NOT_STANDARD, monthly disability allowance (grades 1-4): 90/85/80/75% of the own wage,
/// never below the payment year's minimum wage. Gansu's figures never reach that floor (75% of the
/// 60% wage floor of 7,216.00 is 3,247.20, above 2,020.00), so a second policy with a minimum wage
/// of 4,000.00 exercises it.
#[test]
fn monthly_disability_allowance_is_the_standard() {
    let mut high_minimum = Policy::gansu();
    high_minimum.benefit_years.get_mut(&2024).expect("2024 figures").minimum_wage_monthly = m("4000.00");
    let mut floor_hits = Vec::new();
    for policy in [Policy::gansu(), high_minimum] {
        let period = p("2024-06");
        let mut t = Ledger::with_policy(policy);
        t.ready_to_pay("P1", lanzhou(), period, &[(Cat::Disability, yuan(1_000_000))]);
        let avg = benefit_year(&t, 2023).monthly_average_wage;
        let minimum = benefit_year(&t, 2024).minimum_wage_monthly;
        let mut hits = 0;
        for (g, pct) in [90, 85, 80, 75].into_iter().enumerate() {
            for (w, wage) in [m("1.00"), m("6000.00"), m("999999.00")].into_iter().enumerate() {
                let grade = g as u8 + 1;
                let computed = pct_of(wage_base(wage, avg), pct);
                if computed < minimum {
                    hits += 1;
                }
                let standard = computed.max(minimum);
                let basis = Basis::DisabilityAllowance { grade, own_wage: wage };
                // One beneficiary per payment: the allowance is periodic.
                let (id, who) = (format!("PAY-{grade}-{w}"), format!("B-{grade}-{w}"));
                let benefit = BenefitType::MonthlyDisabilityAllowance;
                assert_only_standard_accepted(&mut t, &id, period, benefit, &who, basis, standard);
            }
        }
        floor_hits.push(hits);
    }
    assert!(floor_hits[1] > 0, "the high-minimum policy should exercise the floor: {floor_hits:?}");
}

/// AMOUNT_NOT_STANDARD, nursing allowance: 50/40/30% of the prior-year monthly average wage.
#[test]
fn nursing_allowance_is_the_standard() {
    let (mut t, period, prior) = standards_ledger();
    for (i, (level, pct)) in
        [(NursingLevel::Full, 50), (NursingLevel::Major, 40), (NursingLevel::Partial, 30)].into_iter().enumerate()
    {
        let standard = pct_of(prior.monthly_average_wage, pct);
        let basis = Basis::Nursing { level };
        let who = format!("B-{i}");
        assert_only_standard_accepted(
            &mut t,
            &format!("PAY-{i}"),
            period,
            BenefitType::NursingAllowance,
            &who,
            basis,
            standard,
        );
    }
}

/// AMOUNT_NOT_STANDARD, funeral subsidy: six months of the prior-year monthly average wage.
#[test]
fn funeral_subsidy_is_the_standard() {
    let (mut t, period, prior) = standards_ledger();
    let standard = times(prior.monthly_average_wage, 6);
    assert_only_standard_accepted(
        &mut t,
        "PAY-1",
        period,
        BenefitType::FuneralSubsidy,
        "B-1",
        Basis::Funeral,
        standard,
    );
}

/// AMOUNT_NOT_STANDARD, one-time work-death subsidy: 20 times the prior year's national urban
/// per-capita disposable income; for 2025 that is 20 × 54,188 = 1,083,760 yuan.
#[test]
fn one_time_work_death_subsidy_is_the_standard() {
    let (mut t, period, prior) = standards_ledger();
    let standard = times(prior.national_disposable_income, 20);
    assert_only_standard_accepted(
        &mut t,
        "PAY-1",
        period,
        BenefitType::OneTimeWorkDeathSubsidy,
        "B-1",
        Basis::WorkDeath,
        standard,
    );

    let mut t = paying(p("2025-04"), &[(Cat::Death, yuan(2_000_000))]);
    let income_2024 = benefit_year(&t, 2024).national_disposable_income;
    assert_eq!(times(income_2024, 20), m("1083760.00"));
    assert_only_standard_accepted(
        &mut t,
        "PAY-2",
        p("2025-04"),
        BenefitType::OneTimeWorkDeathSubsidy,
        "B-2",
        Basis::WorkDeath,
        m("1083760.00"),
    );
}

/// AMOUNT_NOT_STANDARD, dependants' pension: spouse 40%, each other dependant 30%, +10% each for
/// orphans or lone elders, of the (floored and capped) wage of the deceased, the household's total
/// capped at that wage.
#[test]
fn dependants_pension_is_the_standard() {
    let (mut t, period, prior) = standards_ledger();
    let avg = prior.monthly_average_wage;
    let cases = [
        (m("8000.00"), true, 0, 0),    // 40%
        (m("8000.00"), false, 1, 1),   // 30% + 10% = 40%
        (m("8000.00"), true, 1, 1),    // 40% + 30% + 10% = 80%
        (m("8000.00"), true, 2, 0),    // 40% + 60% = 100%: exactly the wage
        (m("8000.00"), true, 3, 2),    // 40% + 90% + 20% = 150%: capped at the wage
        (m("1.00"), true, 0, 0),       // wage floored at 60% of the average, then 40%
        (m("999999.00"), false, 2, 0), // wage capped at 300% of the average, then 60%
    ];
    for (i, (wage, spouse, others, orphans)) in cases.into_iter().enumerate() {
        let base = wage_base(wage, avg);
        let pct = if spouse { 40 } else { 0 } + 30 * i64::from(others) + 10 * i64::from(orphans);
        let standard = pct_of(base, pct).min(base);
        let basis = Basis::DependantsPension {
            deceased_wage: wage,
            spouse,
            other_dependants: others,
            orphans_or_lone_elders: orphans,
        };
        let who = format!("B-{i}");
        assert_only_standard_accepted(
            &mut t,
            &format!("PAY-{i}"),
            period,
            BenefitType::DependantsPension,
            &who,
            basis,
            standard,
        );
    }
    assert_eq!(pct_of(m("8000.00"), 150).min(m("8000.00")), m("8000.00"));
}

/// NO_BENEFIT_PARAMETERS: a standard needs the prior year's figures (and, for the allowance, the
/// payment year's minimum wage); beyond the policy's last year there are none.
#[test]
fn standards_need_the_policys_dated_parameters() {
    let mut t = Ledger::gansu();
    let last = *t.policy.benefit_years.keys().last().expect("some benefit years");
    let after = Period::new(last + 1, 1).expect("valid period");
    let two_after = Period::new(last + 2, 1).expect("valid period");
    let nursing = Some(Basis::Nursing { level: NursingLevel::Partial });
    let allowance = Some(Basis::DisabilityAllowance { grade: 2, own_wage: m("6000.00") });
    // Two years on: no prior-year figures for any standard.
    t.when(pay_with_basis("PAY-1", lanzhou(), two_after, BenefitType::NursingAllowance, "B-1", m("1.00"), nursing))
        .then_rejected(Reason::NoBenefitParameters);
    t.when(pay_with_basis(
        "PAY-1",
        lanzhou(),
        two_after,
        BenefitType::FuneralSubsidy,
        "B-1",
        m("1.00"),
        Some(Basis::Funeral),
    ))
    .then_rejected(Reason::NoBenefitParameters);
    // One year on: the prior year is known, but not that year's minimum wage.
    t.when(pay_with_basis(
        "PAY-1",
        lanzhou(),
        after,
        BenefitType::MonthlyDisabilityAllowance,
        "B-1",
        m("1.00"),
        allowance,
    ))
    .then_rejected(Reason::NoBenefitParameters);
    // One year on, nursing needs only the prior year: the standard is computed (and differs).
    t.when(pay_with_basis("PAY-1", lanzhou(), after, BenefitType::NursingAllowance, "B-1", m("1.00"), nursing))
        .then_rejected(Reason::AmountNotStandard);
}

/// PREVENTION_CAP_EXCEEDED, first pooled year: 2024's prevention spending is capped at 3% of the
/// policy's 2023 baseline premium income; a reversal frees the cap again.
#[test]
fn prevention_spending_in_the_first_year_is_capped_by_the_baseline() {
    let policy = Policy::gansu();
    assert_eq!(policy.prevention.cap_ratio, dec("0.03"));
    let baseline = policy.prevention.baseline_premium_income[&2023];
    let cap = pct_of(baseline, 3);
    let line = cap.add(yuan(1_000_000));
    let mut t = paying(p("2024-05"), &[(Cat::Prevention, line)]);
    let project =
        |id: &str, amount: Money| pay(id, lanzhou(), p("2024-05"), BenefitType::PreventionProject, "ORG-1", amount);
    t.then_ok(project("PAY-1", cap.sub(m("100.00"))));
    let message = t.when(project("PAY-2", m("100.01"))).then_rejected(Reason::PreventionCapExceeded);
    assert!(message.contains(&cap.to_string()), "the message names the cap {cap}: {message}");
    t.then_ok(project("PAY-2", m("100.00")));
    t.when(project("PAY-3", m("0.01"))).then_rejected(Reason::PreventionCapExceeded);
    t.given(&[reverse("PAY-2", p("2024-06"), m("5.00"))]);
    t.then_ok(project("PAY-3", m("5.00")));
    assert_eq!(t.state.prevention_paid(2024), cap);
}

/// PREVENTION_CAP_EXCEEDED, later years: the cap is 3% of the prior year's province-wide premium
/// income in the ledger, net of refunds; interest and other income do not count.
#[test]
fn prevention_spending_is_capped_by_last_years_premium_income() {
    let mut t = Ledger::gansu();
    t.given(&[
        collect(lanzhou(), p("2024-04"), m("10000.00"), "T1"),
        refund(lanzhou(), p("2024-04"), "T1", m("1000.00")),
        collect(jiayuguan(), p("2024-07"), m("1000.00"), "T2"),
        collect_as(lanzhou(), p("2024-04"), IncomeCategory::Interest, m("5000.00"), "T3"),
        collect_as(lanzhou(), p("2024-04"), IncomeCategory::Other, m("5000.00"), "T4"),
    ]);
    // 2024 premium: 10,000.00 - 1,000.00 + 1,000.00 = 10,000.00; cap for 2025: 3% = 300.00.
    t.ready_to_pay("P1", lanzhou(), p("2025-02"), &[(Cat::Prevention, m("1000.00"))]);
    let project =
        |id: &str, amount: Money| pay(id, lanzhou(), p("2025-02"), BenefitType::PreventionProject, "ORG-1", amount);
    t.when(project("PAY-1", m("300.01"))).then_rejected(Reason::PreventionCapExceeded);
    t.then_ok(project("PAY-1", m("300.00")));
    t.when(project("PAY-2", m("0.01"))).then_rejected(Reason::PreventionCapExceeded);
}

/// A reform that began after January: the year after it is capped on the policy's baseline for
/// the part-year (when the policy gives one), not on the few months of premium in the ledger; with
/// no baseline for that year, the ledger's part-year figure is the cap's base.
#[test]
fn prevention_after_a_mid_year_reform_uses_the_baseline_for_the_part_year() {
    let mut policy = Policy::gansu();
    policy.reform_date = "2024-09-01".parse().unwrap();
    let mut with_baseline = policy.clone();
    with_baseline.prevention.baseline_premium_income.insert(2024, m("100000.00"));
    // Ledger premium in 2024 (Sept-Dec only): 2,000.00. Baseline for 2024: 100,000.00.
    let setup = |policy: Policy| {
        let mut t = Ledger::with_policy(policy);
        t.given(&[collect(lanzhou(), p("2024-10"), m("2000.00"), "T1")]);
        t.ready_to_pay("P1", lanzhou(), p("2025-02"), &[(Cat::Prevention, m("5000.00"))]);
        t
    };
    let project =
        |id: &str, amount: Money| pay(id, lanzhou(), p("2025-02"), BenefitType::PreventionProject, "ORG-1", amount);
    // With the baseline: 3% of 100,000.00 = 3,000.00.
    let mut t = setup(with_baseline);
    t.when(project("PAY-1", m("3000.01"))).then_rejected(Reason::PreventionCapExceeded);
    t.then_ok(project("PAY-1", m("3000.00")));
    // Without one: 3% of the ledger's 2,000.00 = 60.00.
    let mut t = setup(policy);
    t.when(project("PAY-1", m("60.01"))).then_rejected(Reason::PreventionCapExceeded);
    t.then_ok(project("PAY-1", m("60.00")));
}

/// YEAR_NOT_CLOSED after a mid-year reform: the months before the reform are outside the ledger,
/// so closing September-December of every unit is a closed year.
#[test]
fn a_mid_year_reform_year_is_closed_by_its_pooled_months() {
    let mut policy = Policy::gansu();
    policy.reform_date = "2024-09-01".parse().unwrap();
    let mut t = Ledger::with_policy(policy.clone());
    let units: Vec<_> = policy.units.iter().map(|u| u.code).collect();
    let pooled = ["2024-09", "2024-10", "2024-11", "2024-12"];
    for (i, code) in units.iter().enumerate() {
        for month in pooled {
            if i == 0 && month == "2024-12" {
                continue;
            }
            t.given(&[close(*code, p(month))]);
        }
    }
    let message = t.when(assess_gap(2024)).then_rejected(Reason::YearNotClosed);
    assert!(message.contains("2024-12"), "names the open pooled month: {message}");
    t.given(&[close(units[0], p("2024-12"))]);
    t.then_ok(assess_gap(2024));
}

// ---------------------------------------------------------------------------------------------
// Reversals.
// ---------------------------------------------------------------------------------------------

/// UNKNOWN_PAYMENT: a reversal names a recorded payment.
#[test]
fn a_reversal_names_a_known_payment() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("100.00"))]);
    t.given(&[pay_medical("PAY-1", p("2024-03"), m("10.00"))]);
    t.when(reverse("PAY-9", p("2024-03"), m("1.00"))).then_rejected(Reason::UnknownPayment);
    t.then_ok(reverse("PAY-1", p("2024-03"), m("1.00")));
}

/// REVERSAL_EXCEEDS_PAYMENT: partial reversals sum to at most the payment.
#[test]
fn reversals_never_exceed_the_payment() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("100.00"))]);
    t.given(&[pay_medical("PAY-1", p("2024-03"), m("10.00"))]);
    t.when(reverse("PAY-1", p("2024-03"), m("10.01"))).then_rejected(Reason::ReversalExceedsPayment);
    t.then_ok(reverse("PAY-1", p("2024-03"), m("4.00")));
    t.then_ok(reverse("PAY-1", p("2024-04"), m("3.00")));
    // 10.00 - 4.00 - 3.00 = 3.00 left.
    let message = t.when(reverse("PAY-1", p("2024-04"), m("3.01"))).then_rejected(Reason::ReversalExceedsPayment);
    assert!(message.contains("3.00"), "{message}");
    t.then_ok(reverse("PAY-1", p("2024-04"), m("3.00")));
    t.when(reverse("PAY-1", p("2024-04"), m("0.01"))).then_rejected(Reason::ReversalExceedsPayment);
}

/// REVERSAL_BEFORE_PAYMENT: a reversal is booked in the payment's period or later.
#[test]
fn a_reversal_is_not_booked_before_its_payment() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("100.00"))]);
    t.given(&[pay_medical("PAY-1", p("2024-03"), m("10.00"))]);
    t.when(reverse("PAY-1", p("2024-02"), m("1.00"))).then_rejected(Reason::ReversalBeforePayment);
    t.then_ok(reverse("PAY-1", p("2024-03"), m("1.00")));
}

/// A reversal credits the paying region's expenditure account, never the pooled fund or income.
#[test]
fn a_reversal_credits_the_expenditure_account() {
    let mut t = paying(p("2024-03"), &[(Cat::Medical, m("100.00"))]);
    t.given(&[pay_medical("PAY-1", p("2024-03"), m("60.00"))]);
    let pooled = t.state.pooled_balance();
    // 100.00 - 60.00 = 40.00, then + 25.00 reversed = 65.00.
    assert_eq!(t.state.expenditure_balance(lanzhou()), m("40.00"));
    t.then_ok(reverse("PAY-1", p("2024-04"), m("25.00")));
    assert_eq!(t.state.expenditure_balance(lanzhou()), m("65.00"));
    assert_eq!(t.state.pooled_balance(), pooled);
    assert_eq!(t.state.untransferred(lanzhou(), p("2024-04")), Money::ZERO);
}

// ---------------------------------------------------------------------------------------------
// Rates.
// ---------------------------------------------------------------------------------------------

/// RATE_CLASS_UNKNOWN: the policy has classes 1-8; class 9 (and 0) do not exist.
#[test]
fn rates_change_only_for_existing_classes() {
    let mut t = Ledger::gansu();
    assert_eq!(t.policy.risk_classes.len(), 8);
    for class in [0, 9, 200] {
        t.when(adjust_rates(p("2025-01"), class, "0.5", &["80"])).then_rejected(Reason::RateClassUnknown);
    }
    t.then_ok(adjust_rates(p("2025-01"), 8, "1.8", &["50", "150"]));
    t.then_ok(adjust_rates(p("2025-01"), 1, "0.2", &["120"]));
}

/// RATE_INVALID: a rate is above 0 and below 100 percent, with 1-8 distinct floats in (0, 1000].
#[test]
fn rates_and_floats_are_in_range() {
    let mut t = Ledger::gansu();
    let nine: Vec<String> = (1..=9).map(|i| (i * 10).to_string()).collect();
    let nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let bad: Vec<(&str, Vec<&str>)> = vec![
        ("0", vec!["80"]),
        ("-0.1", vec!["80"]),
        ("100", vec!["80"]),
        ("0.5", vec![]),
        ("0.5", vec!["80", "80"]),
        ("0.5", vec!["0"]),
        ("0.5", vec!["-50"]),
        ("0.5", vec!["1000.01"]),
        ("0.5", nine.clone()),
    ];
    for (rate, floats) in bad {
        t.when(adjust_rates(p("2025-01"), 2, rate, &floats)).then_rejected(Reason::RateInvalid);
    }
    t.then_ok(adjust_rates(p("2025-01"), 2, "99.99", &nine[..8]));
    t.then_ok(adjust_rates(p("2025-02"), 2, "0.01", &["1000"]));
}

/// RATE_NOT_DATED_FORWARD: each class's changes take effect strictly later than its previous one.
#[test]
fn rate_changes_are_dated_forward_per_class() {
    let mut t = Ledger::gansu();
    t.given(&[adjust_rates(p("2025-01"), 3, "0.6", &["80"])]);
    t.when(adjust_rates(p("2025-01"), 3, "0.5", &["80"])).then_rejected(Reason::RateNotDatedForward);
    t.when(adjust_rates(p("2024-12"), 3, "0.5", &["80"])).then_rejected(Reason::RateNotDatedForward);
    t.then_ok(adjust_rates(p("2024-06"), 4, "0.8", &["80"]));
    t.then_ok(adjust_rates(p("2025-02"), 3, "0.5", &["80"]));
}

// ---------------------------------------------------------------------------------------------
// Gap shares.
// ---------------------------------------------------------------------------------------------

/// A 2024 with shortfalls, worked by hand (Gansu's gap rule: a region bears up to all of its
/// shortfall, no tolerance):
/// - Lanzhou: income budget 1,000.00; collected 700.00, refunded 100.00: net 600.00, shortfall 400.00;
/// - Jiayuguan: budget 500.00; net 400.00: shortfall 100.00;
/// - Jinchang: budget 300.00; net 350.00: no shortfall (a surplus never offsets another's gap);
/// - Baiyin: budget 200.00; premium 150.00 + interest 50.00 = 200.00: no shortfall;
/// - every other unit: no budget, no shortfall.
///
/// The gap is 2024's fiscal advances: `gap` in 2024-12; 999.00 of interest and an advance in
/// 2025-01 do not count. All 16 units close all of 2024 (192 closes).
fn year_with_shortfalls(gap: Money) -> Ledger {
    let mut t = Ledger::gansu();
    assert_eq!(t.policy.gap_sharing.region_share_of_shortfall, dec("1"));
    assert_eq!(t.policy.gap_sharing.shortfall_tolerance_ratio, dec("0"));
    t.given(&[
        adopt_budget(lanzhou(), 2024, m("1000.00"), Money::ZERO),
        adopt_budget(jiayuguan(), 2024, m("500.00"), Money::ZERO),
        adopt_budget(jinchang(), 2024, m("300.00"), Money::ZERO),
        adopt_budget(baiyin(), 2024, m("200.00"), Money::ZERO),
        collect(lanzhou(), p("2024-02"), m("700.00"), "T-L"),
        refund(lanzhou(), p("2024-02"), "T-L", m("100.00")),
        transfer(lanzhou(), p("2024-02"), m("600.00")),
        collect_as(baiyin(), p("2024-05"), IncomeCategory::Interest, m("50.00"), "T-B2"),
        transfer(baiyin(), p("2024-05"), m("50.00")),
    ]);
    t.given(&collected_and_transferred(jiayuguan(), p("2024-03"), m("400.00"), "T-J"));
    t.given(&collected_and_transferred(jinchang(), p("2024-11"), m("350.00"), "T-C"));
    t.given(&collected_and_transferred(baiyin(), p("2024-05"), m("150.00"), "T-B1"));
    t.given(&[
        provincial_income(ProvincialIncomeKind::Interest, p("2024-06"), m("999.00")),
        fiscal_advance(p("2024-12"), gap),
        fiscal_advance(p("2025-01"), m("777.00")),
    ]);
    let closes = close_year(&t.policy, 2024);
    assert_eq!(closes.len(), 192);
    t.given(&closes);
    t
}

/// The expected event: the listed regions' shortfalls and shares, zero for every other unit.
fn expected_gap(
    policy: &Policy,
    year: u16,
    gap: Money,
    parts: &[(RegionCode, Money, Money)],
    province: Money,
) -> Event {
    let shares = policy
        .units
        .iter()
        .map(|u| {
            let (shortfall, share) =
                parts.iter().find(|(r, _, _)| *r == u.code).map_or((Money::ZERO, Money::ZERO), |(_, s, sh)| (*s, *sh));
            GapShare { region: u.code, shortfall, share }
        })
        .collect();
    Event::GapSharesAssessed { year, gap, shares, province_share: province }
}

/// The gap rule, caps above the gap: the gap is split in proportion to the shortfalls.
/// Gap 250.00; shortfalls 400.00 + 100.00 = 500.00 > 250.00:
/// Lanzhou 250.00 × 400/500 = 200.00, Jiayuguan 250.00 × 100/500 = 50.00, province 0.00.
#[test]
fn gap_shares_split_the_gap_in_proportion_when_shortfalls_exceed_it() {
    let mut t = year_with_shortfalls(m("250.00"));
    let expected = expected_gap(
        &t.policy,
        2024,
        m("250.00"),
        &[(lanzhou(), m("400.00"), m("200.00")), (jiayuguan(), m("100.00"), m("50.00"))],
        Money::ZERO,
    );
    t.when(assess_gap(2024)).then_expect(&[expected]);
    assert!(t.state.gap_assessed(2024));
}

/// The gap rule, caps below the gap: each short region bears its whole shortfall and the province
/// the rest. Gap 800.00: Lanzhou 400.00, Jiayuguan 100.00, province 800.00 - 500.00 = 300.00.
#[test]
fn gap_shares_leave_the_remainder_to_the_province() {
    let mut t = year_with_shortfalls(m("800.00"));
    let expected = expected_gap(
        &t.policy,
        2024,
        m("800.00"),
        &[(lanzhou(), m("400.00"), m("400.00")), (jiayuguan(), m("100.00"), m("100.00"))],
        m("300.00"),
    );
    t.when(assess_gap(2024)).then_expect(&[expected]);
}

/// The gap rule in general: shares never exceed shortfalls and, with the province's part, sum
/// exactly to the gap, even when the proportional split leaves odd fen. Three regions short by
/// 1.00 each share a gap of 0.10: 0.0333… each, so the parts are 0.04, 0.03, 0.03.
#[test]
fn gap_shares_sum_exactly_to_the_gap() {
    let mut t = Ledger::gansu();
    for r in [lanzhou(), jiayuguan(), jinchang()] {
        t.given(&[adopt_budget(r, 2024, m("1.00"), Money::ZERO)]);
    }
    t.given(&[fiscal_advance(p("2024-08"), m("0.10"))]);
    t.given(&close_year(&t.policy, 2024));
    let events = t.then_ok(assess_gap(2024));
    let Some(Event::GapSharesAssessed { gap, shares, province_share, .. }) = events.first() else {
        panic!("expected gap shares, got {events:?}");
    };
    assert_eq!(*gap, m("0.10"));
    let regional: i64 = shares.iter().map(|s| s.share.to_fen()).sum();
    assert_eq!(regional + province_share.to_fen(), gap.to_fen());
    assert_eq!(*province_share, Money::ZERO, "caps of 3.00 exceed the gap");
    for s in shares {
        assert!(s.share <= s.shortfall, "{s:?}");
    }
    let mut parts: Vec<i64> = shares.iter().filter(|s| s.shortfall.is_positive()).map(|s| s.share.to_fen()).collect();
    parts.sort_unstable();
    assert_eq!(parts, vec![3, 3, 4]);
}

/// The gap rule with other parameters (a policy where a region bears half its shortfall beyond a
/// 10% tolerance), worked by hand: Lanzhou budget 1,000.00, net 600.00: tolerated budget 900.00,
/// shortfall 300.00, cap 150.00. Jiayuguan budget 500.00, net 460.00: tolerated 450.00, no
/// shortfall. Gap 1,000.00: Lanzhou 150.00, province 850.00.
#[test]
fn gap_shares_follow_the_policys_share_and_tolerance() {
    let mut policy = Policy::gansu();
    policy.gap_sharing.region_share_of_shortfall = dec("0.5");
    policy.gap_sharing.shortfall_tolerance_ratio = dec("0.1");
    let mut t = Ledger::with_policy(policy);
    t.given(&[
        adopt_budget(lanzhou(), 2024, m("1000.00"), Money::ZERO),
        adopt_budget(jiayuguan(), 2024, m("500.00"), Money::ZERO),
    ]);
    t.given(&collected_and_transferred(lanzhou(), p("2024-01"), m("600.00"), "T1"));
    t.given(&collected_and_transferred(jiayuguan(), p("2024-01"), m("460.00"), "T2"));
    t.given(&[fiscal_advance(p("2024-12"), m("1000.00"))]);
    t.given(&close_year(&t.policy, 2024));
    let expected = expected_gap(&t.policy, 2024, m("1000.00"), &[(lanzhou(), m("300.00"), m("150.00"))], m("850.00"));
    t.when(assess_gap(2024)).then_expect(&[expected]);
}

/// YEAR_NOT_CLOSED: gap shares wait until every unit has closed all twelve months of the year.
#[test]
fn gap_shares_wait_for_the_whole_year_to_close() {
    let mut t = Ledger::gansu();
    let closes = close_year(&t.policy, 2024);
    let last = closes.last().cloned().expect("192 closes");
    assert_eq!(last, close(region("620001"), p("2024-12")));
    t.given(&closes[..closes.len() - 1]);
    let message = t.when(assess_gap(2024)).then_rejected(Reason::YearNotClosed);
    assert!(message.contains("620001") && message.contains("2024-12"), "{message}");
    t.given(&[last]);
    t.then_ok(assess_gap(2024));
}

/// YEAR_NOT_CLOSED: a year no period can name (after 2199) can never be closed, so its gap can
/// never be assessed. Accepting it records a yearly event whose effective period does not exist.
#[test]
fn gap_shares_of_a_year_that_cannot_close_are_refused() {
    let mut t = Ledger::gansu();
    // YEAR_OUT_OF_RANGE: 2200 has no periods, so "every month closed" must not pass vacuously.
    t.when(assess_gap(2200)).then_rejected(Reason::YearOutOfRange);
    t.when(assess_gap(2199)).then_rejected(Reason::YearNotClosed);
}

/// GAP_ALREADY_ASSESSED: a year's gap is assessed once.
#[test]
fn a_years_gap_is_assessed_once() {
    let mut t = Ledger::gansu();
    t.given(&close_year(&t.policy, 2024));
    t.given(&[assess_gap(2024)]);
    t.when(assess_gap(2024)).then_rejected(Reason::GapAlreadyAssessed);
    // Nor may a fiscal advance change the assessed year's gap afterwards; the next year is open.
    t.when(provincial_income(ProvincialIncomeKind::FiscalAdvance, p("2024-12"), m("1.00")))
        .then_rejected(Reason::GapAlreadyAssessed);
    t.then_ok(provincial_income(ProvincialIncomeKind::FiscalAdvance, p("2025-01"), m("1.00")));
}

// ---------------------------------------------------------------------------------------------
// Robustness: nothing `decide` accepts may make `apply` panic.
// ---------------------------------------------------------------------------------------------

/// TOTAL_ABOVE_CEILING: a collection that would push a running total past the money ceiling is
/// refused by `decide`: accepting it would make `apply` panic ("money sum within ceiling").
#[test]
fn a_collection_that_would_pass_the_money_ceiling_is_refused() {
    let mut t = Ledger::gansu();
    t.given(&[collect(lanzhou(), p("2024-03"), Money::ceiling().sub(m("0.01")), "T1")]);
    t.then_ok(collect(lanzhou(), p("2024-03"), m("0.01"), "T2"));
    t.when(collect(lanzhou(), p("2024-03"), m("0.01"), "T3")).then_rejected(Reason::TotalAboveCeiling);
    // The same bound guards the pooled balance: a transfer of the whole collected amount fits,
    // provincial income on top of it does not.
    t.then_ok(transfer(lanzhou(), p("2024-03"), Money::ceiling()));
    t.when(Command::RecordProvincialIncome {
        kind: ProvincialIncomeKind::Interest,
        period: p("2024-03"),
        amount: m("0.01"),
    })
    .then_rejected(Reason::TotalAboveCeiling);
}

/// Money's scale is always two decimals (fen), zero included: `Money::ZERO` (the balance of an
/// account never touched) prints "0.00" like every other amount (rejection messages quote it, e.g.
/// "expenditure account balance of 0.00") and converts to 0 fen.
#[test]
fn a_zero_amount_keeps_the_fen_scale() {
    assert_eq!(Money::ZERO.to_string(), "0.00");
    assert_eq!(Money::default().to_string(), "0.00");
    let t = Ledger::gansu();
    let untouched = t.state.expenditure_balance(lanzhou());
    assert_eq!(untouched.to_string(), "0.00");
    assert_eq!(std::panic::catch_unwind(|| untouched.to_fen()).ok(), Some(0), "to_fen of a zero balance");
}

/// A budget for a year no period can name must be refused: the event's effective period (the
/// year's first month) does not exist, so `Event::effective_period` panics on it.
#[test]
fn a_budget_for_a_year_no_period_can_name_is_refused() {
    let mut t = Ledger::gansu();
    t.when(adopt_budget(lanzhou(), 2200, m("1.00"), m("1.00"))).then_rejected(Reason::YearOutOfRange);
    t.then_ok(adopt_budget(lanzhou(), 2199, m("1.00"), m("1.00")));
}

// ---------------------------------------------------------------------------------------------
// Meta.
// ---------------------------------------------------------------------------------------------

/// Every reason code is named in this file and expected by at least one `then_rejected`, so a new
/// rule without a test fails CI.
#[test]
fn every_reason_has_a_test() {
    let source = include_str!("rules.rs");
    let mut missing = Vec::new();
    for reason in Reason::ALL {
        let named = source.contains(reason.code());
        let expected = source.contains(&format!("then_rejected(Reason::{reason:?})"));
        if !(named && expected) {
            missing.push(reason.code());
        }
    }
    assert!(missing.is_empty(), "reasons without a rule test in rules.rs: {missing:?}");
}
