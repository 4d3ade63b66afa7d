//! The authorisation matrix: every role against every command and query. Exactly the allowed
//! ones get past authorisation; every other one is PERMISSION_DENIED and changes nothing.

use fundledger_api::pb;
use fundledger_domain::Role;
use tonic::Code;

use super::*;

/// The command table of the domain guide, written out here independently of the code under
/// test: which role may send which command (region roles for their own region only).
fn allowed_role(command: &str) -> Role {
    match command {
        "record_collection" | "refund_collection" => Role::RegionTaxBureau,
        "record_transfer" => Role::RegionFinance,
        "submit_plan" | "record_payment" | "reverse_payment" | "close_period" => Role::RegionAgency,
        "approve_plan" | "reject_plan_by_hrss" | "adopt_budget" | "adjust_budget" | "adjust_rates" => {
            Role::ProvincialHrss
        }
        "review_plan" | "reject_plan_by_finance" | "record_provincial_income" => Role::ProvincialFinance,
        "allocate_funds" | "consolidate_legacy_reserve" | "assess_gap_shares" => Role::ProvincialAgency,
        other => panic!("unknown command {other}"),
    }
}

/// One valid-shaped request per command (and per department for rejections), for `region`.
fn every_command(tag: &str, region: &str) -> Vec<(&'static str, pb::batch_command::Command)> {
    use pb::batch_command::Command as C;
    let id = |name: &str| format!("{tag}-{name}");
    vec![
        ("record_collection", C::RecordCollection(collection(&id("col"), region, "2024-03", "10.00", &id("tb")))),
        ("refund_collection", C::RefundCollection(refund(&id("ref"), region, "2024-03", "TB-NONE", "1.00"))),
        ("record_transfer", C::RecordTransfer(transfer(&id("tr"), region, "2024-03", "1.00"))),
        (
            "record_provincial_income",
            C::RecordProvincialIncome(pb::RecordProvincialIncomeRequest {
                command_id: id("pi"),
                kind: pb::ProvincialIncomeKind::Interest as i32,
                period: "2024-03".into(),
                amount: "1.00".into(),
                trace: None,
            }),
        ),
        (
            "consolidate_legacy_reserve",
            C::ConsolidateLegacyReserve(pb::ConsolidateLegacyReserveRequest {
                command_id: id("cl"),
                region: region.into(),
                kind: pb::LegacyFundKind::Reserve as i32,
                period: "2024-01".into(),
                amount: "1.00".into(),
                trace: None,
            }),
        ),
        ("adopt_budget", C::AdoptBudget(budget(&id("ab"), region, 2024, "1.00", "1.00", "1.00"))),
        (
            "adjust_budget",
            C::AdjustBudget(pb::AdjustBudgetRequest {
                command_id: id("adj"),
                region: region.into(),
                year: 2025,
                income: vec![],
                expenditure: vec![],
                trace: None,
            }),
        ),
        ("submit_plan", C::SubmitPlan(plan(&id("sp"), &id("P"), region, "2024-03", "1.00", "1.00"))),
        ("approve_plan", C::ApprovePlan(approve(&id("ap"), "P-NONE"))),
        (
            "reject_plan_by_hrss",
            C::RejectPlan(pb::RejectPlanRequest {
                command_id: id("rh"),
                plan_id: "P-NONE".into(),
                by: pb::Department::Hrss as i32,
                reason: "no".into(),
                trace: None,
            }),
        ),
        (
            "reject_plan_by_finance",
            C::RejectPlan(pb::RejectPlanRequest {
                command_id: id("rf"),
                plan_id: "P-NONE".into(),
                by: pb::Department::Finance as i32,
                reason: "no".into(),
                trace: None,
            }),
        ),
        ("review_plan", C::ReviewPlan(review(&id("rv"), "P-NONE"))),
        ("allocate_funds", C::AllocateFunds(allocate(&id("al"), "P-NONE", "1.00"))),
        (
            "record_payment",
            C::RecordPayment(payment(
                &id("pay"),
                &id("PAY"),
                region,
                "2024-03",
                pb::BenefitType::MedicalTreatment,
                "1.00",
            )),
        ),
        ("reverse_payment", C::ReversePayment(reversal(&id("rp"), "PAY-NONE", "2024-03", "1.00"))),
        ("close_period", C::ClosePeriod(close(&id("cp"), region, "2024-03"))),
        (
            "adjust_rates",
            C::AdjustRates(pb::AdjustRatesRequest {
                command_id: id("ar"),
                effective: "2025-01".into(),
                class: 1,
                benchmark_rate_pct: "0.2".into(),
                allowed_floats_pct: vec!["120".into(), "150".into()],
                trace: None,
            }),
        ),
        (
            "assess_gap_shares",
            C::AssessGapShares(pb::AssessGapSharesRequest { command_id: id("gs"), year: 2024, trace: None }),
        ),
    ]
}

/// Sends one command through its own unary RPC.
async fn send(client: &mut Commands, command: pb::batch_command::Command) -> Result<pb::CommandReply, tonic::Status> {
    use pb::batch_command::Command as C;
    let reply = match command {
        C::RecordCollection(r) => client.record_collection(r).await,
        C::RefundCollection(r) => client.refund_collection(r).await,
        C::RecordTransfer(r) => client.record_transfer(r).await,
        C::RecordProvincialIncome(r) => client.record_provincial_income(r).await,
        C::ConsolidateLegacyReserve(r) => client.consolidate_legacy_reserve(r).await,
        C::AdoptBudget(r) => client.adopt_budget(r).await,
        C::AdjustBudget(r) => client.adjust_budget(r).await,
        C::SubmitPlan(r) => client.submit_plan(r).await,
        C::ApprovePlan(r) => client.approve_plan(r).await,
        C::RejectPlan(r) => client.reject_plan(r).await,
        C::ReviewPlan(r) => client.review_plan(r).await,
        C::AllocateFunds(r) => client.allocate_funds(r).await,
        C::RecordPayment(r) => client.record_payment(r).await,
        C::ReversePayment(r) => client.reverse_payment(r).await,
        C::ClosePeriod(r) => client.close_period(r).await,
        C::AdjustRates(r) => client.adjust_rates(r).await,
        C::AssessGapShares(r) => client.assess_gap_shares(r).await,
    };
    reply.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_command() {
    let server = TestServer::start().await;
    // Lanzhou's region roles act for Lanzhou (allowed if the role fits) and for Jiayuguan (never).
    for who in everyone_in_lanzhou() {
        for (target, own_region) in [(LANZHOU, true), (JIAYUGUAN, false)] {
            let tag = format!("{}-{}", who.0.as_str(), target);
            for (name, command) in every_command(&tag, target) {
                let names_a_region = !matches!(
                    name,
                    "record_provincial_income"
                        | "approve_plan"
                        | "reject_plan_by_hrss"
                        | "reject_plan_by_finance"
                        | "review_plan"
                        | "allocate_funds"
                        | "reverse_payment"
                        | "adjust_rates"
                        | "assess_gap_shares"
                );
                let allowed = allowed_role(name) == who.0 && (!who.0.is_regional() || own_region || !names_a_region);
                let before = server.digest().await;
                let result = send(&mut server.commands(who), command).await;
                let after = server.digest().await;
                if allowed {
                    // Past authorisation: accepted, or refused by a rule and recorded as such.
                    match &result {
                        Ok(reply) => assert!(!reply.positions.is_empty()),
                        Err(status) => {
                            assert!(
                                matches!(status.code(), Code::FailedPrecondition | Code::NotFound),
                                "{who:?} {name} for {target}: {status:?}"
                            );
                        }
                    }
                    assert!(after.0 > before.0, "{who:?} {name} for {target} was recorded");
                } else {
                    let status = result.expect_err(&format!("{who:?} may not {name} for {target}"));
                    expect_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");
                    assert_eq!(after, before, "{who:?} {name} for {target} changed the ledger");
                }
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_reverses_only_its_own_payments() {
    let server = TestServer::start().await;
    ready_to_pay(&server, JIAYUGUAN, "2024-03", "10000.00", "1000.00").await;
    server
        .commands(agency(JIAYUGUAN))
        .record_payment(payment("JP-1", "PAY-J1", JIAYUGUAN, "2024-03", pb::BenefitType::MedicalTreatment, "100.00"))
        .await
        .unwrap();
    let before = server.digest().await;
    let status = server
        .commands(agency(LANZHOU))
        .reverse_payment(reversal("LR-1", "PAY-J1", "2024-03", "10.00"))
        .await
        .unwrap_err();
    expect_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");
    assert_eq!(server.digest().await, before);
    server
        .commands(agency(JIAYUGUAN))
        .reverse_payment(reversal("JR-1", "PAY-J1", "2024-03", "10.00"))
        .await
        .expect("own region");
    server.stop().await;
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Provincial roles and auditors; region roles for their own region.
    RegionScoped,
    /// Provincial roles and auditors only.
    ProvinceWide,
    /// Every authenticated principal.
    Everyone,
}

fn may(access: Access, who: Who, asks_other_region: bool) -> bool {
    let sees_all =
        matches!(who.0, Role::ProvincialHrss | Role::ProvincialFinance | Role::ProvincialAgency | Role::Auditor);
    match access {
        Access::Everyone => true,
        Access::ProvinceWide => sees_all,
        Access::RegionScoped => sees_all || (who.0.is_regional() && !asks_other_region),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_against_every_query_and_audit_call() {
    let server = TestServer::start().await;
    ready_to_pay(&server, LANZHOU, "2024-03", "10000.00", "1000.00").await;
    let before = server.digest().await;
    let filter = |region: &str| Some(pb::Filter { region: region.into(), ..Default::default() });
    for who in everyone_in_lanzhou() {
        for (region, other) in [("", false), (LANZHOU, false), (JIAYUGUAN, true)] {
            let mut q = server.queries(who);
            let mut a = server.audit(who);
            let results: Vec<(&str, Access, Result<(), tonic::Status>)> = vec![
                (
                    "region_expenditure",
                    Access::RegionScoped,
                    q.get_region_expenditure(pb::GetRegionExpenditureRequest {
                        filter: filter(region),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
                ),
                (
                    "two_lines",
                    Access::RegionScoped,
                    q.get_two_lines(pb::GetTwoLinesRequest { filter: filter(region), ..Default::default() })
                        .await
                        .map(drop),
                ),
                (
                    "supervision",
                    Access::RegionScoped,
                    q.get_supervision_signals(pb::GetSupervisionSignalsRequest {
                        filter: filter(region),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
                ),
                (
                    "list_plans",
                    Access::RegionScoped,
                    q.list_plans(pb::ListPlansRequest { filter: filter(region), ..Default::default() }).await.map(drop),
                ),
                (
                    "provincial_fund",
                    Access::ProvinceWide,
                    q.get_provincial_fund(pb::GetProvincialFundRequest {
                        filter: filter(region),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
                ),
                (
                    "fund_health",
                    Access::ProvinceWide,
                    q.get_fund_health(pb::GetFundHealthRequest { filter: filter(region), ..Default::default() })
                        .await
                        .map(drop),
                ),
                (
                    "verify_chain",
                    Access::ProvinceWide,
                    a.verify_chain(pb::VerifyChainRequest::default()).await.map(drop),
                ),
                ("read_events", Access::ProvinceWide, a.read_events(pb::ReadEventsRequest::default()).await.map(drop)),
                (
                    "subscribe",
                    Access::ProvinceWide,
                    a.subscribe(pb::SubscribeRequest { from_position: 1 }).await.map(drop),
                ),
                (
                    "rebuild",
                    Access::ProvinceWide,
                    a.rebuild(pb::RebuildRequest { as_of: Some(pb::rebuild_request::AsOf::AsOfPosition(3)) })
                        .await
                        .map(drop),
                ),
                ("digest", Access::Everyone, a.get_digest(pb::GetDigestRequest::default()).await.map(drop)),
            ];
            for (name, access, result) in results {
                let asks_other = other && access == Access::RegionScoped;
                if may(access, who, asks_other) {
                    result.unwrap_or_else(|s| panic!("{who:?} may call {name} (region {region:?}): {s:?}"));
                } else {
                    let status = result.expect_err(&format!("{who:?} may not call {name} (region {region:?})"));
                    expect_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");
                }
            }
            // Plans: a Lanzhou plan is readable by Lanzhou's region roles and province-wide roles.
            let plan = q.get_plan(pb::GetPlanRequest { read: None, plan_id: "P-620100-2024-03".into() }).await;
            if may(Access::RegionScoped, who, false) {
                assert_eq!(plan.expect("plan").into_inner().plan.unwrap().region, LANZHOU);
            } else {
                expect_error(&plan.unwrap_err(), Code::PermissionDenied, "PERMISSION_DENIED");
            }
        }
    }
    // Jiayuguan's agency may not read Lanzhou's plan.
    let status = server
        .queries(agency(JIAYUGUAN))
        .get_plan(pb::GetPlanRequest { read: None, plan_id: "P-620100-2024-03".into() })
        .await
        .unwrap_err();
    expect_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");
    assert_eq!(server.digest().await, before, "reads change nothing");
    server.stop().await;
}
