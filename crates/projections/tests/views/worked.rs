//! Worked examples asserted to the fen: three regions over two months (and a third month's
//! collection), decided by the real rules, folded into every view. Each expected figure is
//! worked by hand from the commands, with the arithmetic in a comment.

use fundledger_domain::testkit::*;
use fundledger_domain::{
    BenefitType, Command, Department, Event, ExpenditureCategory, IncomeCategory, LegacyFundKind, PlanStatus,
    ProvincialIncomeKind,
};
use fundledger_projections::{CapBase, RateSignal, Views, WarningLevel};
use rust_decimal::Decimal;

use crate::support::{Log, beijing};

use ExpenditureCategory::{Disability, Medical};

/// The shared history (see each block's comment).
pub fn two_months() -> Log {
    let (lz, jy, jc) = (lanzhou(), jiayuguan(), jinchang());
    let (jan, feb, mar) = (p("2024-01"), p("2024-02"), p("2024-03"));
    let mut log = Log::gansu();
    // January. Lanzhou collects 120,000 in two batches, refunds 5,000 of the second and remits
    // the 115,000 left; Jiayuguan collects and remits 30,000; Jinchang consolidates a 50,000
    // reserve and collects and remits 10,000; the fiscal account earns 1,000 interest.
    log.at(beijing(2024, 1, 5)).run(&[
        Command::AdoptBudget {
            region: lz,
            year: 2024,
            lines: budget_lines(yuan(1_200_000), &[(Medical, yuan(600_000)), (Disability, yuan(300_000))]),
        },
        adopt_budget(jy, 2024, yuan(400_000), yuan(100_000)),
        collect(lz, jan, yuan(100_000), "T1"),
        collect(lz, jan, yuan(20_000), "T2"),
        refund(lz, jan, "T2", yuan(5_000)),
        transfer(lz, jan, yuan(115_000)),
        collect(jy, jan, yuan(30_000), "T3"),
        transfer(jy, jan, yuan(30_000)),
        consolidate(jc, LegacyFundKind::Reserve, jan, yuan(50_000)),
        collect(jc, jan, yuan(10_000), "T4"),
        transfer(jc, jan, yuan(10_000)),
        provincial_income(ProvincialIncomeKind::Interest, jan, yuan(1_000)),
    ]);
    // January plans: Lanzhou's 100,000 (medical 80,000 + disability 20,000) in two tranches;
    // Jiayuguan's first plan (25,000) is rejected by Finance after approval, the second (20,000)
    // goes through. Payments: Lanzhou 50,000 + 10,000 medical and 15,000 disability; Jiayuguan
    // 18,000 medical to B-2, whom Lanzhou also paid this month.
    log.run(&[
        submit("PL-LZ-01", lz, jan, &[(Medical, yuan(80_000)), (Disability, yuan(20_000))]),
        approve("PL-LZ-01"),
        review("PL-LZ-01"),
        allocate("PL-LZ-01", yuan(60_000)),
        allocate("PL-LZ-01", yuan(40_000)),
        submit("PL-JY-01", jy, jan, &[(Medical, yuan(25_000))]),
        approve("PL-JY-01"),
        reject_plan("PL-JY-01", Department::Finance, "over estimate"),
        submit("PL-JY-01b", jy, jan, &[(Medical, yuan(20_000))]),
        approve("PL-JY-01b"),
        review("PL-JY-01b"),
        allocate("PL-JY-01b", yuan(20_000)),
        pay("P1", lz, jan, BenefitType::MedicalTreatment, "B-1", yuan(50_000)),
        pay("P2", lz, jan, BenefitType::MedicalTreatment, "B-2", yuan(10_000)),
        pay("P3", lz, jan, BenefitType::OneTimeMedicalSubsidy, "B-3", yuan(15_000)),
        pay("P4", jy, jan, BenefitType::MedicalTreatment, "B-2", yuan(18_000)),
    ]);
    // All three close January on 3 February, on time.
    log.at(beijing(2024, 2, 3)).run(&[close(lz, jan), close(jy, jan), close(jc, jan)]);
    // February. Lanzhou collects and remits 110,000, plans and receives 70,000 of medical, pays
    // 65,000 and takes back 4,000 of January's P2; Jiayuguan collects 25,000 but remits only
    // 20,000; the province receives a 10,000 fiscal advance.
    log.at(beijing(2024, 2, 4)).run(&[
        collect(lz, feb, yuan(110_000), "T5"),
        transfer(lz, feb, yuan(110_000)),
        submit("PL-LZ-02", lz, feb, &[(Medical, yuan(70_000))]),
        approve("PL-LZ-02"),
        review("PL-LZ-02"),
        allocate("PL-LZ-02", yuan(70_000)),
        pay("P5", lz, feb, BenefitType::MedicalTreatment, "B-1", yuan(65_000)),
        reverse("P2", feb, yuan(4_000)),
        collect(jy, feb, yuan(25_000), "T6"),
        transfer(jy, feb, yuan(20_000)),
        fiscal_advance(feb, yuan(10_000)),
    ]);
    // March: Jiayuguan collects 1,000 (so its February balance was left past month end);
    // Lanzhou closes February on 21 March, 20 days after the period's end.
    log.at(beijing(2024, 3, 5)).run(&[collect(jy, mar, yuan(1_000), "T7")]);
    log.at(beijing(2024, 3, 21)).run(&[close(lz, feb)]);
    log
}

fn views() -> (Log, Views) {
    let log = two_months();
    let views = log.views();
    (log, views)
}

#[test]
fn provincial_fund_to_the_fen() {
    let (log, views) = views();
    let f = views.provincial();
    let pooled = f.pooled_by_period();
    assert_eq!(pooled.len(), 2);
    // January: transfers 115,000 + 30,000 + 10,000 = 155,000; interest 1,000; consolidated
    // 50,000; allocated 100,000 + 20,000 = 120,000; net 155,000 + 1,000 + 50,000 − 120,000 = 86,000.
    assert_eq!(pooled[0].period, p("2024-01"));
    assert_eq!(pooled[0].transfers_in, yuan(155_000));
    assert_eq!(pooled[0].provincial_income, yuan(1_000));
    assert_eq!(pooled[0].consolidated, yuan(50_000));
    assert_eq!(pooled[0].allocated, yuan(120_000));
    assert_eq!(pooled[0].closing_balance, yuan(86_000));
    // February: 110,000 + 20,000 in, 10,000 advance, 70,000 out: 86,000 + 70,000 = 156,000.
    assert_eq!(pooled[1].net_change, yuan(70_000));
    assert_eq!(pooled[1].closing_balance, yuan(156_000));
    assert_eq!(f.pooled_balance(), yuan(156_000));
    assert_eq!(f.pooled_balance(), log.ledger.state.pooled_balance());
    // Income by category: all premium; 120,000 + 110,000 + 30,000 + 25,000 + 1,000 + 10,000.
    let premium = f.income_by_category().into_iter().find(|c| c.category == IncomeCategory::Premium).unwrap();
    assert_eq!((premium.collected, premium.refunded, premium.net), (yuan(296_000), yuan(5_000), yuan(291_000)));
    assert_eq!(
        f.provincial_income_by_kind(),
        vec![
            (ProvincialIncomeKind::Interest, yuan(1_000)),
            (ProvincialIncomeKind::FiscalSubsidy, yuan(0)),
            (ProvincialIncomeKind::FiscalAdvance, yuan(10_000)),
            (ProvincialIncomeKind::UpperGrant, yuan(0)),
        ]
    );
    // Lanzhou 115,000 + 110,000; Jiayuguan 30,000 + 20,000; Jinchang 10,000.
    assert_eq!(
        f.transfers_by_region(),
        vec![(lanzhou(), yuan(225_000)), (jiayuguan(), yuan(50_000)), (jinchang(), yuan(10_000))]
    );
    assert_eq!(f.allocations_by_region(), vec![(lanzhou(), yuan(170_000)), (jiayuguan(), yuan(20_000))]);
    let legacy = f.legacy_consolidations();
    assert_eq!(legacy.len(), 1);
    assert_eq!(
        (legacy[0].region, legacy[0].kind, legacy[0].amount),
        (jinchang(), LegacyFundKind::Reserve, yuan(50_000))
    );
    assert_eq!(legacy[0].position, log.position_of(|e| matches!(e, Event::LegacyReserveConsolidated { .. })));
    assert_eq!(f.fiscal_advances_by_period(), vec![(p("2024-02"), yuan(10_000))]);
    assert_eq!(f.fiscal_advances_total(), yuan(10_000));
}

#[test]
fn region_expenditure_to_the_fen() {
    let (_, views) = views();
    let v = views.region_expenditure();
    let lz_jan = v.row_for(lanzhou(), p("2024-01")).unwrap();
    assert_eq!(lz_jan.allocated, yuan(100_000));
    assert_eq!(lz_jan.current_plan, Some((plan_id("PL-LZ-01"), PlanStatus::Reviewed)));
    let medical = lz_jan.categories[0];
    assert_eq!(medical.category, Medical);
    assert_eq!((medical.planned, medical.approved, medical.reviewed), (yuan(80_000), yuan(80_000), yuan(80_000)));
    // P1 50,000 + P2 10,000; P2's reversal is booked in February.
    assert_eq!((medical.paid, medical.reversed, medical.net_paid), (yuan(60_000), yuan(0), yuan(60_000)));
    let disability = lz_jan.categories[1];
    assert_eq!((disability.category, disability.reviewed, disability.paid), (Disability, yuan(20_000), yuan(15_000)));

    let lz_feb = v.row_for(lanzhou(), p("2024-02")).unwrap();
    // 65,000 paid − 4,000 reversed = 61,000.
    assert_eq!(lz_feb.categories.len(), 1);
    assert_eq!((lz_feb.categories[0].paid, lz_feb.categories[0].reversed), (yuan(65_000), yuan(4_000)));
    assert_eq!(lz_feb.categories[0].net_paid, yuan(61_000));

    // Jiayuguan: the rejected 25,000 plan drops out of planned and approved; the second counts.
    let jy_jan = v.row_for(jiayuguan(), p("2024-01")).unwrap();
    let m = jy_jan.categories[0];
    assert_eq!((m.planned, m.approved, m.reviewed, m.paid), (yuan(20_000), yuan(20_000), yuan(20_000), yuan(18_000)));
    assert_eq!(jy_jan.current_plan, Some((plan_id("PL-JY-01b"), PlanStatus::Reviewed)));
    assert_eq!(v.plan_status(plan_id("PL-JY-01")), Some(PlanStatus::Rejected));
    let plans = v.plans();
    assert_eq!(plans.len(), 4);
    let lz01 = plans.iter().find(|p| p.plan_id == plan_id("PL-LZ-01")).unwrap();
    assert_eq!((lz01.total, lz01.allocated, lz01.tranches), (yuan(100_000), yuan(100_000), 2));

    // Execution, Lanzhou 2024: net paid 75,000 + 65,000 − 4,000 = 136,000 of 900,000; medical
    // 50,000 + 10,000 + 65,000 − 4,000 = 121,000 of 600,000; disability 15,000 of 300,000.
    let exec = v.execution();
    let lz: Vec<_> = exec.iter().filter(|e| e.region == lanzhou() && e.year == 2024).collect();
    assert_eq!(lz[0].category, None);
    assert_eq!((lz[0].budget, lz[0].net_paid_ytd), (yuan(900_000), yuan(136_000)));
    assert_eq!(lz[0].rate, Some(Decimal::from(136_000) / Decimal::from(900_000)));
    assert_eq!((lz[1].category, lz[1].net_paid_ytd), (Some(Medical), yuan(121_000)));
    assert_eq!(lz[1].rate, Some(Decimal::from(121_000) / Decimal::from(600_000)));
    assert_eq!(lz[2].rate, Some(Decimal::new(5, 2)), "15,000 / 300,000 = 0.05");
    let jy = exec.iter().find(|e| e.region == jiayuguan() && e.category.is_none()).unwrap();
    assert_eq!(jy.rate, Some(Decimal::new(18, 2)), "18,000 / 100,000 = 0.18");
}

#[test]
fn two_lines_to_the_fen() {
    let (log, views) = views();
    let v = views.two_lines();
    let rows = v.rows();
    let row = |r, period: &str| *rows.iter().find(|x| x.region == r && x.period == p(period)).unwrap();
    // Lanzhou January: 120,000 − 5,000 − 115,000 = 0 untransferred; 100,000 − 75,000 = 25,000
    // left in the expenditure account, so allocated funds were not paid in full: 25,000.
    let lz1 = row(lanzhou(), "2024-01");
    assert_eq!(
        (lz1.income.collected, lz1.income.refunded, lz1.income.transferred, lz1.income.untransferred),
        (yuan(120_000), yuan(5_000), yuan(115_000), yuan(0))
    );
    assert_eq!(
        (lz1.expenditure.allocated, lz1.expenditure.paid, lz1.expenditure.balance),
        (yuan(100_000), yuan(75_000), yuan(25_000))
    );
    assert_eq!(lz1.flags.allocated_unpaid_at_close, Some(yuan(25_000)));
    assert_eq!((lz1.flags.untransferred_at_close, lz1.flags.income_left_at_month_end), (None, None));
    // Lanzhou February: balance 25,000 + 70,000 − 65,000 + 4,000 = 34,000; closed (late), with
    // 70,000 − (65,000 − 4,000) = 9,000 allocated and unpaid.
    let lz2 = row(lanzhou(), "2024-02");
    assert_eq!((lz2.expenditure.reversed, lz2.expenditure.balance), (yuan(4_000), yuan(34_000)));
    assert_eq!(lz2.flags.allocated_unpaid_at_close, Some(yuan(9_000)));
    assert_eq!(lz2.expenditure.balance, log.ledger.state.expenditure_balance(lanzhou()));
    // Jiayuguan January: 20,000 − 18,000 = 2,000 unpaid at close.
    let jy1 = row(jiayuguan(), "2024-01");
    assert_eq!((jy1.expenditure.balance, jy1.flags.allocated_unpaid_at_close), (yuan(2_000), Some(yuan(2_000))));
    // Jiayuguan February: 25,000 − 20,000 = 5,000 left, and March has activity: flagged. Not
    // closed, so no unpaid flag; the balance carries 2,000.
    let jy2 = row(jiayuguan(), "2024-02");
    assert_eq!(jy2.income.untransferred, yuan(5_000));
    assert_eq!(jy2.flags.income_left_at_month_end, Some(yuan(5_000)));
    assert_eq!(
        (jy2.flags.allocated_unpaid_at_close, jy2.closed_at, jy2.expenditure.balance),
        (None, None, yuan(2_000))
    );
    // Jiayuguan March: 1,000 untransferred but no later period: no flag.
    let jy3 = row(jiayuguan(), "2024-03");
    assert_eq!((jy3.income.untransferred, jy3.flags.any()), (yuan(1_000), false));
    // Jinchang: everything remitted, nothing allocated: no flags.
    assert!(!row(jinchang(), "2024-01").flags.any());
    assert_eq!(v.flagged().len(), 4, "LZ Jan, LZ Feb, JY Jan, JY Feb");

    // Provincial totals: collected 296,000, refunded 5,000, transferred 285,000, untransferred
    // 6,000; allocated 190,000, paid 158,000, reversed 4,000, balance 36,000 (34,000 + 2,000).
    let t = v.totals();
    assert_eq!(
        (t.income.collected, t.income.refunded, t.income.transferred, t.income.untransferred),
        (yuan(296_000), yuan(5_000), yuan(285_000), yuan(6_000))
    );
    assert_eq!(
        (t.expenditure.allocated, t.expenditure.paid, t.expenditure.reversed, t.expenditure.balance),
        (yuan(190_000), yuan(158_000), yuan(4_000), yuan(36_000))
    );
    let by_period = v.totals_by_period();
    // January's province-wide closing balance: 120,000 − 93,000 = 27,000 (25,000 + 2,000).
    assert_eq!(by_period[0].expenditure.balance, yuan(27_000));
    assert_eq!(by_period[2].expenditure.balance, yuan(36_000), "March carries February's balances");

    let recs = v.reconciliations();
    assert_eq!(recs.len(), 2 + 3, "two global identities and one per region");
    assert!(recs.iter().all(|r| r.reconciled && r.difference.is_zero()), "{recs:#?}");
    assert_eq!(recs[0].lhs, yuan(156_000));
    assert_eq!(recs[1].lhs, yuan(36_000));
    assert_eq!(v.untransferred(jiayuguan()), yuan(6_000));
}

#[test]
fn fund_health_to_the_fen() {
    let (_, views) = views();
    let h = views.health();
    let series = h.series();
    assert_eq!(series.len(), 2, "periods that move the fund balance");
    // January: 206,000 in (155,000 + 1,000 + 50,000) − 93,000 paid = 113,000 (pooled 86,000 +
    // accounts 27,000); average 93,000; 113,000 / 93,000 = 1.2150... → 1.22 months, red.
    assert_eq!(series[0].fund_balance, yuan(113_000));
    assert_eq!(series[0].average_monthly_expenditure, Some(Decimal::from(93_000)));
    assert_eq!(series[0].payable_months, Some(Decimal::from(113_000) / Decimal::from(93_000)));
    assert_eq!(series[0].payable_months_rounded, Some(Decimal::new(122, 2)));
    assert_eq!(series[0].warning, Some(WarningLevel::Red));
    assert_eq!(series[0].rate_signal, Some(RateSignal::NoCut));
    // February: 113,000 + 140,000 − 65,000 + 4,000 = 192,000; average (93,000 + 61,000) / 2 =
    // 77,000; 192,000 / 77,000 = 2.4935... → 2.49.
    let latest = h.latest().unwrap();
    assert_eq!(latest.fund_balance, yuan(192_000));
    assert_eq!(latest.average_monthly_expenditure, Some(Decimal::from(77_000)));
    assert_eq!(latest.payable_months_rounded, Some(Decimal::new(249, 2)));
    // No region is ahead of its budget: Lanzhou 136,000 / 900,000 = 15.1% after 2 months
    // (16.7%); Jiayuguan 18% after 3 months (25%).
    assert_eq!(h.budget_alerts(), vec![]);
    // 2024's prevention cap rests on the policy's 2023 baseline: 1,450,000,000 × 0.03.
    let prevention = h.prevention_usage_in(2024);
    assert_eq!((prevention.base_source, prevention.cap), (CapBase::PolicyBaseline, yuan(43_500_000)));
    assert_eq!((prevention.net_paid, prevention.usage, prevention.over_cap), (yuan(0), Some(Decimal::ZERO), false));
    // 2025's would rest on 2024's premium from the ledger: 296,000 − 5,000 = 291,000 × 0.03.
    let next = h.prevention_usage_in(2025);
    assert_eq!((next.base_source, next.base, next.cap), (CapBase::Ledger, yuan(291_000), yuan(8_730)));
    assert!(h.gap_shares().is_empty());
}

#[test]
fn supervision_to_the_fen() {
    let (log, views) = views();
    let s = views.supervision();
    let p2 =
        log.position_of(|e| matches!(e, Event::BenefitPaid { payment_id, .. } if *payment_id == payment_id_of("P2")));
    let p4 =
        log.position_of(|e| matches!(e, Event::BenefitPaid { payment_id, .. } if *payment_id == payment_id_of("P4")));
    let rev = log.position_of(|e| matches!(e, Event::PaymentReversed { .. }));
    assert_eq!(s.reversals().len(), 1);
    let r = s.reversals()[0];
    assert_eq!(
        (r.payment_id, r.amount, r.payment_position, r.reversal_position),
        (payment_id_of("P2"), yuan(4_000), Some(p2), rev)
    );
    assert_eq!((r.period, r.paid_period), (p("2024-02"), p("2024-01")));
    let multi = s.multi_region_beneficiaries();
    assert_eq!(multi.len(), 1);
    assert_eq!((multi[0].beneficiary, multi[0].period), (beneficiary("B-2"), p("2024-01")));
    assert_eq!(multi[0].payments, vec![(lanzhou(), p2), (jiayuguan(), p4)]);
    // Only Lanzhou's February close is late: 20 days after 1 March (00:00 Beijing time).
    assert_eq!(s.late_closes().len(), 1);
    let late = s.late_closes()[0];
    assert_eq!((late.region, late.period, late.days_after_end), (lanzhou(), p("2024-02"), 20));
    assert!(s.outliers().is_empty(), "fewer than 20 payments per region and benefit");
}

fn payment_id_of(text: &str) -> fundledger_domain::PaymentId {
    payment_id(text)
}

#[test]
fn gap_shares_as_assessed() {
    let (lz, jy) = (lanzhou(), jiayuguan());
    let mut log = Log::gansu();
    // Lanzhou budgets 1,000,000 of income and collects 600,000: shortfall 400,000; Jiayuguan
    // budgets 300,000 and collects 200,000: shortfall 100,000 (Gansu: no tolerance, share 1).
    // The year's gap is the 10,000 fiscal advance. Caps 400,000 + 100,000 > 10,000, so the gap
    // is split 4 : 1 → 8,000 and 2,000, and the province bears nothing.
    log.run(&[
        adopt_budget(lz, 2024, yuan(1_000_000), yuan(1_000)),
        adopt_budget(jy, 2024, yuan(300_000), yuan(1_000)),
        collect(lz, p("2024-03"), yuan(600_000), "G1"),
        transfer(lz, p("2024-03"), yuan(600_000)),
        collect(jy, p("2024-04"), yuan(200_000), "G2"),
        transfer(jy, p("2024-04"), yuan(200_000)),
        fiscal_advance(p("2024-06"), yuan(10_000)),
    ]);
    let closes = close_year(&log.ledger.policy.clone(), 2024);
    log.at(beijing(2025, 1, 10)).run(&closes).run(&[assess_gap(2024)]);
    let views = log.views();
    let gaps = views.health().gap_shares();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].year, gaps[0].gap, gaps[0].province_share), (2024, yuan(10_000), yuan(0)));
    let share = |r| gaps[0].shares.iter().find(|s| s.region == r).unwrap().share;
    assert_eq!((share(lz), share(jy)), (yuan(8_000), yuan(2_000)));
    assert_eq!(gaps[0].position, log.records.len() as u64);
    // Every unit closed every 2024 month: the supervision view forgot 2024's beneficiaries.
    assert_eq!(views.supervision().open_periods_tracked(), 0);
}
