//! A full month for three regions through the API, every step by the role whose step it is, and
//! the two-lines view asserted to the fen against sums the test keeps itself.

// Amounts in fen are written yuan_fen (123_45 = 123.45 yuan) so a reader sees the yuan.
#![allow(clippy::inconsistent_digit_grouping)]

use fundledger_api::pb;
use fundledger_domain::Money;

use super::*;

const PERIOD: &str = "2024-03";

fn fen(text: &str) -> i64 {
    Money::parse(text).unwrap().to_fen()
}

fn yuan(fen: i64) -> String {
    Money::from_fen(fen).unwrap().to_string()
}

struct Expected {
    collected: i64,
    refunded: i64,
    transferred: i64,
    allocated: i64,
    paid: i64,
    reversed: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_for_three_regions_reconciles_to_the_fen() {
    let server = TestServer::start().await;
    let regions: [(&'static str, &str); 3] =
        [(LANZHOU, "1234567.89"), (JIAYUGUAN, "345678.01"), (JINCHANG, "98765.43")];
    let mut expected = Vec::new();
    let mut hrss = server.commands(HRSS);

    // Income line: collections in two tax batches, a refund, the month's income transferred.
    for (region, income) in regions {
        hrss.adopt_budget(budget(&format!("B-{region}"), region, 2024, "20000000.00", "5000000.00", "5000000.00"))
            .await
            .expect("budget");
        let mut tax_bureau = server.commands(tax(region));
        let first = fen(income);
        let second = 123_45;
        let refunded = 10_01;
        tax_bureau
            .record_collection(collection(&format!("C1-{region}"), region, PERIOD, income, &format!("TB1-{region}")))
            .await
            .expect("collect");
        tax_bureau
            .record_collection(collection(
                &format!("C2-{region}"),
                region,
                PERIOD,
                &yuan(second),
                &format!("TB2-{region}"),
            ))
            .await
            .expect("collect 2");
        tax_bureau
            .refund_collection(refund(
                &format!("R-{region}"),
                region,
                PERIOD,
                &format!("TB2-{region}"),
                &yuan(refunded),
            ))
            .await
            .expect("refund");
        let transferred = first + second - refunded;
        server
            .commands(finance(region))
            .record_transfer(transfer(&format!("T-{region}"), region, PERIOD, &yuan(transferred)))
            .await
            .expect("transfer");
        expected.push(Expected {
            collected: first + second,
            refunded,
            transferred,
            allocated: 0,
            paid: 0,
            reversed: 0,
        });
    }

    // Expenditure line: plan, approval, review, allocation, payments, a reversal, the close.
    for (i, (region, _)) in regions.iter().enumerate() {
        let region = *region;
        let plan_id = format!("PLAN-{region}-2024-03");
        let (medical, disability) = (50_000_00 + i as i64 * 1_11, 20_000_00 + i as i64 * 2_22);
        let mut regional_agency = server.commands(agency(region));
        regional_agency
            .submit_plan(plan(&format!("S-{region}"), &plan_id, region, PERIOD, &yuan(medical), &yuan(disability)))
            .await
            .expect("submit");
        hrss.approve_plan(approve(&format!("A-{region}"), &plan_id)).await.expect("approve");
        server.commands(FINANCE).review_plan(review(&format!("V-{region}"), &plan_id)).await.expect("review");
        // Two tranches, never above the plan.
        let first_tranche = medical;
        let mut provincial = server.commands(PROVINCIAL_AGENCY);
        provincial
            .allocate_funds(allocate(&format!("F1-{region}"), &plan_id, &yuan(first_tranche)))
            .await
            .expect("allocate 1");
        provincial
            .allocate_funds(allocate(&format!("F2-{region}"), &plan_id, &yuan(disability)))
            .await
            .expect("allocate 2");
        expected[i].allocated = medical + disability;

        let mut paid = 0;
        for k in 0..5i64 {
            let amount = 1_000_00 + k * 37 + i as i64;
            let id = format!("PAY-{region}-{k}");
            regional_agency
                .record_payment(payment(
                    &format!("CP-{region}-{k}"),
                    &id,
                    region,
                    PERIOD,
                    pb::BenefitType::MedicalTreatment,
                    &yuan(amount),
                ))
                .await
                .expect("medical payment");
            paid += amount;
        }
        let subsidy = 8_765_43;
        regional_agency
            .record_payment(payment(
                &format!("CP-{region}-d"),
                &format!("PAY-{region}-d"),
                region,
                PERIOD,
                pb::BenefitType::OneTimeMedicalSubsidy,
                &yuan(subsidy),
            ))
            .await
            .expect("disability payment");
        paid += subsidy;
        let returned = 500_05;
        regional_agency
            .reverse_payment(reversal(&format!("RV-{region}"), &format!("PAY-{region}-0"), PERIOD, &yuan(returned)))
            .await
            .expect("reverse");
        expected[i].paid = paid;
        expected[i].reversed = returned;
        let reply = regional_agency
            .close_period(close(&format!("CL-{region}"), region, PERIOD))
            .await
            .expect("close")
            .into_inner();
        assert_eq!(reply.positions.len(), 1);
    }

    let (head, _) = server.digest().await;
    let reply = server
        .queries(AUDITOR)
        .get_two_lines(pb::GetTwoLinesRequest {
            read: Some(pb::ReadOptions { min_position: head, as_of: None }),
            filter: Some(pb::Filter { region: String::new(), period_from: PERIOD.into(), period_to: PERIOD.into() }),
            flagged_only: false,
        })
        .await
        .expect("two lines")
        .into_inner();
    assert!(reply.view.as_ref().unwrap().position >= head);
    assert_eq!(reply.rows.len(), 3, "{reply:#?}");
    for ((region, _), want) in regions.iter().zip(&expected) {
        let row = reply.rows.iter().find(|r| r.region == *region).expect("row for region");
        let income = row.income.as_ref().unwrap();
        let spend = row.expenditure.as_ref().unwrap();
        assert_eq!(income.collected, yuan(want.collected), "{region} collected");
        assert_eq!(income.refunded, yuan(want.refunded), "{region} refunded");
        assert_eq!(income.transferred, yuan(want.transferred), "{region} transferred");
        assert_eq!(income.untransferred, "0.00", "{region} untransferred");
        assert_eq!(spend.allocated, yuan(want.allocated), "{region} allocated");
        assert_eq!(spend.paid, yuan(want.paid), "{region} paid");
        assert_eq!(spend.reversed, yuan(want.reversed), "{region} reversed");
        assert_eq!(spend.balance, yuan(want.allocated - want.paid + want.reversed), "{region} balance");
        assert!(row.closed_at > 0, "{region} closed");
        assert_eq!(row.untransferred_at_close, "");
    }
    assert!(reply.reconciliations.iter().all(|r| r.reconciled), "{:#?}", reply.reconciliations);

    // The pooled fund: everything transferred in, less everything allocated.
    let fund = server
        .queries(FINANCE)
        .get_provincial_fund(pb::GetProvincialFundRequest::default())
        .await
        .expect("provincial fund")
        .into_inner();
    let pooled: i64 = expected.iter().map(|e| e.transferred - e.allocated).sum();
    assert_eq!(fund.pooled_balance, yuan(pooled));

    // A region's agency sees its own row only, with its region filled in for it.
    let own = server
        .queries(agency(JIAYUGUAN))
        .get_two_lines(pb::GetTwoLinesRequest::default())
        .await
        .expect("own region")
        .into_inner();
    assert_eq!(own.rows.iter().map(|r| r.region.as_str()).collect::<Vec<_>>(), vec![JIAYUGUAN]);
    assert!(own.reconciliations.is_empty());

    // Plans and region expenditure agree with what was sent.
    let plans = server
        .queries(AUDITOR)
        .list_plans(pb::ListPlansRequest { status: "reviewed".into(), ..Default::default() })
        .await
        .expect("plans")
        .into_inner();
    assert_eq!(plans.plans.len(), 3);
    let lanzhou_plan = server
        .queries(agency(LANZHOU))
        .get_plan(pb::GetPlanRequest { read: None, plan_id: "PLAN-620100-2024-03".into() })
        .await
        .expect("plan")
        .into_inner()
        .plan
        .unwrap();
    assert_eq!((lanzhou_plan.total.as_str(), lanzhou_plan.tranches), ("70000.00", 2));
    server.stop().await;
}
