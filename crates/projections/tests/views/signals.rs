//! Each flag, alert and supervision signal fires exactly when it should: raw events (some of
//! them impossible under the rules, which is the point of a detector) folded into the views.

use fundledger_domain::testkit::*;
use fundledger_domain::{BenefitType, Event, Period, Policy, ProvincialIncomeKind};
use fundledger_projections::supervision::{CLOSE_GRACE_DAYS, period_end_micros};
use fundledger_projections::{BudgetAlertKind, EventMeta, RateSignal, Views, WarningLevel};
use rust_decimal::Decimal;

use crate::support::*;

const MED: BenefitType = BenefitType::MedicalTreatment;

#[test]
fn untransferred_income_at_close_is_flagged_only_when_left() {
    let jan = p("2024-01");
    let flagged = fold_raw(&[collected(lanzhou(), jan, yuan(100), "T1"), closed(lanzhou(), jan)], 0);
    let row = flagged.two_lines().row_for(lanzhou(), jan).unwrap();
    assert_eq!(row.flags.untransferred_at_close, Some(yuan(100)));
    let clean = fold_raw(
        &[collected(lanzhou(), jan, yuan(100), "T1"), transferred(lanzhou(), jan, yuan(100)), closed(lanzhou(), jan)],
        0,
    );
    assert!(!clean.two_lines().row_for(lanzhou(), jan).unwrap().flags.any());
}

#[test]
fn income_left_at_month_end_needs_a_later_period_with_activity() {
    let (jan, feb) = (p("2024-01"), p("2024-02"));
    let alone = fold_raw(&[collected(lanzhou(), jan, yuan(100), "T1")], 0);
    assert_eq!(alone.two_lines().row_for(lanzhou(), jan).unwrap().flags.income_left_at_month_end, None);
    // Another region's later activity does not count.
    let other = fold_raw(&[collected(lanzhou(), jan, yuan(100), "T1"), collected(jiayuguan(), feb, yuan(1), "T2")], 0);
    assert_eq!(other.two_lines().row_for(lanzhou(), jan).unwrap().flags.income_left_at_month_end, None);
    let later = fold_raw(
        &[
            collected(lanzhou(), jan, yuan(100), "T1"),
            transferred(lanzhou(), jan, yuan(30)),
            collected(lanzhou(), feb, yuan(1), "T2"),
        ],
        0,
    );
    // 100 − 30 = 70 left in January's income.
    assert_eq!(later.two_lines().row_for(lanzhou(), jan).unwrap().flags.income_left_at_month_end, Some(yuan(70)));
}

#[test]
fn allocated_unpaid_at_close_only_for_closed_periods_with_money_left() {
    let jan = p("2024-01");
    let base = vec![allocated("PL", lanzhou(), jan, 1, yuan(100)), paid("P1", lanzhou(), jan, MED, "B", yuan(60))];
    let open = fold_raw(&base, 0);
    assert_eq!(open.two_lines().row_for(lanzhou(), jan).unwrap().flags.allocated_unpaid_at_close, None);
    let mut closing = base.clone();
    closing.push(closed(lanzhou(), jan));
    // 100 − 60 = 40 not paid out.
    let v = fold_raw(&closing, 0);
    assert_eq!(v.two_lines().row_for(lanzhou(), jan).unwrap().flags.allocated_unpaid_at_close, Some(yuan(40)));
    let full = fold_raw(
        &[
            allocated("PL", lanzhou(), jan, 1, yuan(100)),
            paid("P1", lanzhou(), jan, MED, "B", yuan(100)),
            closed(lanzhou(), jan),
        ],
        0,
    );
    assert!(!full.two_lines().row_for(lanzhou(), jan).unwrap().flags.any());
    // A reversal booked in the period counts against its payments: 100 − (100 − 10) = 10.
    let back = fold_raw(
        &[
            allocated("PL", lanzhou(), jan, 1, yuan(100)),
            paid("P1", lanzhou(), jan, MED, "B", yuan(100)),
            reversed("P1", lanzhou(), jan, jan, MED, yuan(10)),
            closed(lanzhou(), jan),
        ],
        0,
    );
    assert_eq!(back.two_lines().row_for(lanzhou(), jan).unwrap().flags.allocated_unpaid_at_close, Some(yuan(10)));
}

#[test]
fn reconciliation_reports_a_difference_when_the_books_disagree() {
    // A view restored from a corrupted snapshot is the only way to break an identity; simulate
    // it by editing the serialised pooled balance.
    let v = fold_raw(
        &[collected(lanzhou(), p("2024-01"), yuan(100), "T1"), transferred(lanzhou(), p("2024-01"), yuan(100))],
        0,
    );
    let mut json: serde_json::Value = serde_json::to_value(v.two_lines()).unwrap();
    json["pooled"] = serde_json::json!(10_001);
    let broken: fundledger_projections::TwoLines = serde_json::from_value(json).unwrap();
    let recs = broken.reconciliations();
    assert!(!recs[0].reconciled);
    assert_eq!(recs[0].difference, fen(1), "10,001 fen kept against 10,000 from the rows");
    assert!(recs[1..].iter().all(|r| r.reconciled));
}

#[test]
fn late_close_after_the_grace_days_only() {
    let jan = p("2024-01");
    let deadline = period_end_micros(jan) + CLOSE_GRACE_DAYS * MICROS_PER_DAY;
    let fold_at = |at: i64| {
        let mut v = Views::new(&Policy::gansu());
        v.apply(&EventMeta { position: 1, recorded_at_micros: at }, &closed(lanzhou(), jan));
        v
    };
    assert!(fold_at(deadline).supervision().late_closes().is_empty(), "exactly 15 days is on time");
    let late = fold_at(deadline + 1);
    assert_eq!(late.supervision().late_closes().len(), 1);
    assert_eq!(late.supervision().late_closes()[0].days_after_end, CLOSE_GRACE_DAYS);
    // 15 days after 1 February 00:00 Beijing time is 16 February 00:00.
    assert_eq!(deadline, beijing(2024, 2, 16));
}

#[test]
fn outlier_above_three_times_the_median_bucket_after_twenty_samples() {
    let jan = p("2024-01");
    let mut events: Vec<Event> = (0..19).map(|i| paid(&format!("P{i}"), lanzhou(), jan, MED, "B", yuan(100))).collect();
    // The 20th payment has only 19 earlier ones: not tested, however large.
    events.push(paid("P19", lanzhou(), jan, MED, "B", yuan(1_000)));
    // 100.00 = 10,000 fen lies in bucket [9,216, 10,240) (8,192 · (1 + k/8)); 3 × 10,240 =
    // 30,720 fen, so 307.20 is not an outlier and 307.21 is.
    events.push(paid("P20", lanzhou(), jan, MED, "B", m("307.20")));
    events.push(paid("P21", lanzhou(), jan, MED, "B", m("307.21")));
    // Same amount, other region or other benefit: no history there, no signal.
    events.push(paid("P22", jiayuguan(), jan, MED, "B", m("307.21")));
    events.push(paid("P23", lanzhou(), jan, BenefitType::Rehabilitation, "B", m("307.21")));
    let v = fold_raw(&events, 0);
    let outliers = v.supervision().outliers();
    assert_eq!(outliers.len(), 1, "{outliers:#?}");
    assert_eq!((outliers[0].payment_id, outliers[0].position), (payment_id("P21"), 22));
    assert_eq!((outliers[0].median_upper, outliers[0].samples), (m("102.40"), 21));
}

#[test]
fn multi_region_beneficiary_in_one_period_only() {
    let (jan, feb) = (p("2024-01"), p("2024-02"));
    let v = fold_raw(
        &[
            paid("P1", lanzhou(), jan, MED, "B-9", yuan(1)),
            paid("P2", lanzhou(), jan, MED, "B-8", yuan(1)),
            paid("P3", lanzhou(), jan, MED, "B-8", yuan(1)),
            paid("P4", jiayuguan(), feb, MED, "B-9", yuan(1)),
            paid("P5", jiayuguan(), jan, MED, "B-9", yuan(1)),
            paid("P6", jiayuguan(), jan, MED, "B-9", yuan(1)),
            paid("P7", jinchang(), jan, MED, "B-9", yuan(1)),
        ],
        0,
    );
    let multi = v.supervision().multi_region_beneficiaries();
    assert_eq!(multi.len(), 1, "{multi:#?}");
    assert_eq!((multi[0].beneficiary, multi[0].period), (beneficiary("B-9"), jan));
    assert_eq!(multi[0].payments, vec![(lanzhou(), 1), (jiayuguan(), 5), (jinchang(), 7)]);
}

#[test]
fn beneficiary_memory_is_dropped_once_every_unit_closed_the_period() {
    let jan = p("2024-01");
    let policy = Policy::gansu();
    let mut events = vec![paid("P1", lanzhou(), jan, MED, "B-1", yuan(1))];
    let units: Vec<_> = policy.units.iter().map(|u| u.code).collect();
    events.extend(units[..units.len() - 1].iter().map(|u| closed(*u, jan)));
    let v = fold_raw(&events, 0);
    assert_eq!(v.supervision().open_periods_tracked(), 1, "one unit still has January open");
    events.push(closed(*units.last().unwrap(), jan));
    assert_eq!(fold_raw(&events, 0).supervision().open_periods_tracked(), 0);
}

#[test]
fn reversals_point_at_both_positions() {
    let jan = p("2024-01");
    let v = fold_raw(
        &[
            paid("P1", lanzhou(), jan, MED, "B", yuan(10)),
            paid("P2", lanzhou(), jan, MED, "B", yuan(20)),
            reversed("P2", lanzhou(), jan, jan, MED, yuan(5)),
            reversed("P-unknown", lanzhou(), jan, jan, MED, yuan(1)),
        ],
        0,
    );
    let r = v.supervision().reversals();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].payment_id, r[0].payment_position, r[0].reversal_position, r[0].amount),
        (payment_id("P2"), Some(2), 3, yuan(5))
    );
    assert_eq!((r[1].payment_position, r[1].reversal_position), (None, 4), "a payment outside the history");
}

#[test]
fn budget_alerts_at_their_thresholds() {
    let jan = p("2024-01");
    let with_paid = |amount| {
        fold_raw(&[budget(lanzhou(), 2024, yuan(1_200)), paid("P1", lanzhou(), jan, MED, "B", amount)], 0)
            .health()
            .budget_alerts()
    };
    // 340.00 / 1,200.00 = 28.33% after 1 of 12 months (8.33%): exactly 20 points ahead, no alert.
    assert_eq!(with_paid(m("340.00")), vec![]);
    let ahead = with_paid(m("340.01"));
    assert_eq!(ahead.len(), 1);
    assert_eq!(ahead[0].kind, BudgetAlertKind::AheadOfSchedule);
    assert_eq!(ahead[0].elapsed_share, Decimal::ONE / Decimal::from(12));
    // Beyond the budget: both alerts.
    let over = with_paid(m("1200.01"));
    assert_eq!(
        over.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![BudgetAlertKind::OverBudget, BudgetAlertKind::AheadOfSchedule]
    );
    assert_eq!(over[0].execution, Some(Decimal::from(120_001) / Decimal::from(120_000)));
    // Later in the year the same spending is on schedule: 340.01 by December (100% elapsed).
    let december = fold_raw(
        &[budget(lanzhou(), 2024, yuan(1_200)), paid("P1", lanzhou(), p("2024-12"), MED, "B", m("340.01"))],
        0,
    );
    assert_eq!(december.health().budget_alerts(), vec![]);
}

#[test]
fn warning_bands_and_rate_signals_follow_the_policy() {
    let jan = p("2024-01");
    // Fund balance = transfers − payments; average = 100.00 of January payments.
    let months = |transfer_yuan: i64| {
        let v = fold_raw(
            &[transferred(lanzhou(), jan, yuan(transfer_yuan)), paid("P1", lanzhou(), jan, MED, "B", yuan(100))],
            0,
        );
        v.health().latest().unwrap()
    };
    // (transfer − 100) / 100 months: 2.99 → red; 3 → amber; 6 → green; 18 → small cut; 24 → large.
    let red = months(399);
    assert_eq!((red.payable_months, red.warning), (Some(Decimal::new(299, 2)), Some(WarningLevel::Red)));
    assert_eq!(months(400).warning, Some(WarningLevel::Amber));
    assert_eq!(months(699).warning, Some(WarningLevel::Amber));
    assert_eq!(months(700).warning, Some(WarningLevel::Green));
    assert_eq!(months(1_899).rate_signal, Some(RateSignal::NoCut));
    assert_eq!(months(1_900).rate_signal, Some(RateSignal::SmallCut { pct: Decimal::from(20) }));
    assert_eq!(months(2_499).rate_signal, Some(RateSignal::SmallCut { pct: Decimal::from(20) }));
    assert_eq!(months(2_500).rate_signal, Some(RateSignal::LargeCut { pct: Decimal::from(50) }));
    // No expenditure: no months, no band.
    let idle = fold_raw(&[transferred(lanzhou(), jan, yuan(10))], 0);
    let point = idle.health().latest().unwrap();
    assert_eq!((point.payable_months, point.warning), (None, None));
}

#[test]
fn payable_months_average_the_twelve_latest_periods_with_expenditure() {
    // 13 months of payments 100, 200, ..., 1,300 yuan in 2024-01 .. 2025-01, and a big transfer
    // first. The average at 2025-01 covers 2024-02 .. 2025-01: (200 + ... + 1,300) / 12 = 750.
    let mut events = vec![Event::ProvincialIncomeRecorded {
        kind: ProvincialIncomeKind::FiscalSubsidy,
        period: p("2024-01"),
        amount: yuan(1_000_000),
    }];
    let mut period = p("2024-01");
    for i in 1..=13i64 {
        events.push(paid(&format!("P{i}"), lanzhou(), period, MED, "B", yuan(100 * i)));
        period = period.next();
    }
    let v = fold_raw(&events, 0);
    let latest = v.health().latest().unwrap();
    assert_eq!(latest.period, p("2025-01"));
    assert_eq!(latest.average_monthly_expenditure, Some(Decimal::from(750)));
    // 1,000,000 − (100 + ... + 1,300 = 9,100) = 990,900; / 750 = 1,321.2 months.
    assert_eq!(latest.fund_balance, yuan(990_900));
    assert_eq!(latest.payable_months, Some(Decimal::new(13_212, 1)));
}

#[test]
fn prevention_cap_usage_from_the_prior_years_premium() {
    let (y24, y25) = (p("2024-05"), p("2025-03"));
    let v = fold_raw(
        &[
            collected(lanzhou(), y24, yuan(100_000), "T1"),
            refunded(lanzhou(), y24, yuan(10_000), "T1"),
            paid("P1", lanzhou(), y25, BenefitType::PreventionProject, "B", yuan(2_000)),
            paid("P2", lanzhou(), y25, BenefitType::PreventionProject, "B", yuan(1_000)),
            // Booked in 2026, but counted in the payment's year like the rule does.
            reversed("P2", lanzhou(), p("2026-01"), y25, BenefitType::PreventionProject, yuan(500)),
        ],
        0,
    );
    // 2025 cap: (100,000 − 10,000) × 0.03 = 2,700; net paid 2,000 + 1,000 − 500 = 2,500.
    let u = v.health().prevention_usage_in(2025);
    assert_eq!((u.base, u.cap, u.net_paid, u.over_cap), (yuan(90_000), yuan(2_700), yuan(2_500), false));
    assert_eq!(u.usage, Some(Decimal::from(2_500) / Decimal::from(2_700)));
    let over = fold_raw(
        &[
            collected(lanzhou(), y24, yuan(100), "T1"),
            paid("P1", lanzhou(), y25, BenefitType::PreventionProject, "B", m("3.01")),
        ],
        0,
    );
    // 100 × 0.03 = 3.00 < 3.01.
    assert!(over.health().prevention_usage_in(2025).over_cap);
}

#[test]
fn gap_assessments_are_kept_as_recorded() {
    let event = Event::GapSharesAssessed {
        year: 2024,
        gap: yuan(10),
        shares: vec![fundledger_domain::GapShare { region: lanzhou(), shortfall: yuan(40), share: yuan(7) }],
        province_share: yuan(3),
    };
    let v = fold_raw(&[event], 0);
    let gaps = v.health().gap_shares();
    assert_eq!(
        (gaps.len(), gaps[0].shares[0].share, gaps[0].province_share, gaps[0].position),
        (1, yuan(7), yuan(3), 1)
    );
}

/// A period far from the others keeps its own row (no Period arithmetic assumptions).
#[test]
fn rows_are_sorted_by_region_then_period() {
    let v = fold_raw(
        &[
            collected(jiayuguan(), p("2024-03"), yuan(1), "T1"),
            collected(lanzhou(), p("2025-01"), yuan(1), "T2"),
            collected(lanzhou(), p("2024-02"), yuan(1), "T3"),
        ],
        0,
    );
    let keys: Vec<(_, Period)> = v.two_lines().rows().iter().map(|r| (r.region, r.period)).collect();
    assert_eq!(keys, vec![(lanzhou(), p("2024-02")), (lanzhou(), p("2025-01")), (jiayuguan(), p("2024-03"))]);
}
