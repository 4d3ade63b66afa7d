//! One test per error code of the API, and a malformed-input corpus: each input gets the right
//! code and reason, names its field, and leaves the ledger unchanged.

use fundledger_api::pb;
use fundledger_engine::EngineConfig;
use tonic::Code;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_with_its_reason() {
    let server = TestServer::start().await;
    let mut tax_bureau = server.commands(tax(LANZHOU));

    // INVALID_ARGUMENT, naming the field.
    let status =
        tax_bureau.record_collection(collection("E-1", LANZHOU, "2024-03", "12.345", "TB-E")).await.unwrap_err();
    let meta = expect_error(&status, Code::InvalidArgument, "INVALID_AMOUNT");
    assert_eq!(meta["field"], "amount");

    // FAILED_PRECONDITION with the domain reason and the position of the recorded refusal.
    let status = server
        .commands(finance(LANZHOU))
        .record_transfer(transfer("E-2", LANZHOU, "2024-03", "1.00"))
        .await
        .unwrap_err();
    let meta = expect_error(&status, Code::FailedPrecondition, "TRANSFER_EXCEEDS_UNTRANSFERRED");
    let (head, _) = server.digest().await;
    assert_eq!(meta["position"], head.to_string(), "the refusal is recorded");

    // NOT_FOUND for an unknown plan or payment.
    let status = server.commands(HRSS).approve_plan(approve("E-3", "NO-SUCH-PLAN")).await.unwrap_err();
    expect_error(&status, Code::NotFound, "UNKNOWN_PLAN");
    let status = server
        .commands(agency(LANZHOU))
        .reverse_payment(reversal("E-4", "NO-SUCH-PAY", "2024-03", "1.00"))
        .await
        .unwrap_err();
    expect_error(&status, Code::NotFound, "UNKNOWN_PAYMENT");

    // A retry is answered from the record; the same id with another payload is ALREADY_EXISTS.
    let first = tax_bureau
        .record_collection(collection("E-5", LANZHOU, "2024-03", "100.00", "TB-E5"))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.replayed);
    let again = tax_bureau
        .record_collection(collection("E-5", LANZHOU, "2024-03", "100.00", "TB-E5"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.positions, first.positions);
    let status =
        tax_bureau.record_collection(collection("E-5", LANZHOU, "2024-03", "999.00", "TB-E5")).await.unwrap_err();
    expect_error(&status, Code::AlreadyExists, "COMMAND_ID_REUSED");

    // PERMISSION_DENIED: another region's collection.
    let before = server.digest().await;
    let status =
        tax_bureau.record_collection(collection("E-6", JIAYUGUAN, "2024-03", "1.00", "TB-E6")).await.unwrap_err();
    expect_error(&status, Code::PermissionDenied, "PERMISSION_DENIED");

    // UNAUTHENTICATED: no token, an unknown token.
    let status = server
        .anonymous_commands()
        .record_collection(collection("E-7", LANZHOU, "2024-03", "1.00", "TB-E7"))
        .await
        .unwrap_err();
    expect_error(&status, Code::Unauthenticated, "UNAUTHENTICATED");
    let status = server
        .commands_with_token("flt_0000000000000000000000000000000000000000000000000000000000000000")
        .record_collection(collection("E-8", LANZHOU, "2024-03", "1.00", "TB-E8"))
        .await
        .unwrap_err();
    expect_error(&status, Code::Unauthenticated, "UNAUTHENTICATED");

    // RESOURCE_EXHAUSTED: a message above the size limit, a batch above its length limit.
    let huge = "x".repeat(fundledger_api::limits::message_bytes_max + 1);
    let status = tax_bureau.record_collection(collection("E-9", LANZHOU, "2024-03", "1.00", &huge)).await.unwrap_err();
    expect_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    let too_many = (0..=fundledger_api::limits::batch_commands_max)
        .map(|i| pb::BatchCommand {
            command: Some(pb::batch_command::Command::RecordCollection(collection(
                &format!("EB-{i}"),
                LANZHOU,
                "2024-03",
                "1.00",
                &format!("TB-EB-{i}"),
            ))),
        })
        .collect();
    let status = tax_bureau.execute_batch(pb::ExecuteBatchRequest { commands: too_many }).await.unwrap_err();
    expect_error(&status, Code::ResourceExhausted, "BATCH_TOO_LARGE");
    assert_eq!(server.digest().await, before, "refused calls changed nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_resource_exhausted() {
    let server = TestServer::start_on(new_engine(EngineConfig { queue_commands_max: 4, batch_commands_max: 4 })).await;
    let before = server.digest().await;
    // Admission is all or nothing: eight commands never fit a queue of four.
    let commands = (0..8)
        .map(|i| pb::BatchCommand {
            command: Some(pb::batch_command::Command::RecordCollection(collection(
                &format!("Q-{i}"),
                LANZHOU,
                "2024-03",
                "1.00",
                &format!("TB-Q-{i}"),
            ))),
        })
        .collect();
    let status = server.commands(tax(LANZHOU)).execute_batch(pb::ExecuteBatchRequest { commands }).await.unwrap_err();
    expect_error(&status, Code::ResourceExhausted, "OVERLOADED");
    assert_eq!(server.digest().await, before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_writer_answers_aborted() {
    let log = Arc::new(fundledger_store::MemoryLog::new(FUND).unwrap());
    let other_writer = engine_on(log.clone(), EngineConfig::default());
    let server = TestServer::start_on(engine_on(log, EngineConfig::default())).await;
    // Another writer appends to the same log behind the server's engine's back.
    let actor = fundledger_domain::Actor {
        principal: "other".into(),
        role: fundledger_domain::Role::RegionTaxBureau,
        region: RegionCode::parse(LANZHOU).ok(),
    };
    let command =
        fundledger_api::convert::CommandRequest::convert(&collection("X-1", LANZHOU, "2024-03", "1.00", "TB-X1"))
            .unwrap();
    other_writer
        .submit(fundledger_engine::Submission::new(command.command_id, actor, command.command))
        .await
        .expect("the other writer appends");
    let status = server
        .commands(tax(LANZHOU))
        .record_collection(collection("X-2", LANZHOU, "2024-03", "1.00", "TB-X2"))
        .await
        .unwrap_err();
    expect_error(&status, Code::Aborted, "FENCED");
    server.stop().await;
}

/// (what, request, field, reason): every entry is malformed in exactly one field.
fn corpus() -> Vec<(&'static str, pb::BatchCommand, &'static str, &'static str)> {
    use pb::batch_command::Command as C;
    let ok = || collection("M-ok", LANZHOU, "2024-03", "10.00", "TB-M");
    let mut corpus: Vec<(&'static str, C, &'static str, &'static str)> = vec![
        (
            "empty command id",
            C::RecordCollection(pb::RecordCollectionRequest { command_id: String::new(), ..ok() }),
            "command_id",
            "MISSING_FIELD",
        ),
        (
            "command id too long",
            C::RecordCollection(pb::RecordCollectionRequest { command_id: "c".repeat(41), ..ok() }),
            "command_id",
            "INVALID_COMMAND_ID",
        ),
        (
            "command id with a space",
            C::RecordCollection(pb::RecordCollectionRequest { command_id: "a b".into(), ..ok() }),
            "command_id",
            "INVALID_COMMAND_ID",
        ),
        (
            "five-digit region",
            C::RecordCollection(pb::RecordCollectionRequest { region: "62010".into(), ..ok() }),
            "region",
            "INVALID_REGION",
        ),
        (
            "letters in region",
            C::RecordCollection(pb::RecordCollectionRequest { region: "62O100".into(), ..ok() }),
            "region",
            "INVALID_REGION",
        ),
        (
            "month 13",
            C::RecordCollection(pb::RecordCollectionRequest { period: "2024-13".into(), ..ok() }),
            "period",
            "INVALID_PERIOD",
        ),
        (
            "period without dash",
            C::RecordCollection(pb::RecordCollectionRequest { period: "202403".into(), ..ok() }),
            "period",
            "INVALID_PERIOD",
        ),
        (
            "three decimals",
            C::RecordCollection(pb::RecordCollectionRequest { amount: "1.001".into(), ..ok() }),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            "exponent",
            C::RecordCollection(pb::RecordCollectionRequest { amount: "1e5".into(), ..ok() }),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            "float text",
            C::RecordCollection(pb::RecordCollectionRequest { amount: "NaN".into(), ..ok() }),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            "above the ceiling",
            C::RecordCollection(pb::RecordCollectionRequest { amount: "99999999999999.00".into(), ..ok() }),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            "empty amount",
            C::RecordCollection(pb::RecordCollectionRequest { amount: String::new(), ..ok() }),
            "amount",
            "MISSING_FIELD",
        ),
        (
            "unspecified category",
            C::RecordCollection(pb::RecordCollectionRequest { category: 0, ..ok() }),
            "category",
            "INVALID_ENUM",
        ),
        (
            "unknown category",
            C::RecordCollection(pb::RecordCollectionRequest { category: 77, ..ok() }),
            "category",
            "INVALID_ENUM",
        ),
        (
            "tax batch with a slash",
            C::RecordCollection(pb::RecordCollectionRequest { tax_batch: "TB/1".into(), ..ok() }),
            "tax_batch",
            "INVALID_ID",
        ),
        (
            "correlation id too long",
            C::RecordCollection(pb::RecordCollectionRequest {
                trace: Some(pb::Trace { correlation_id: "c".repeat(129), causation_id: String::new() }),
                ..ok()
            }),
            "trace.correlation_id",
            "TEXT_TOO_LONG",
        ),
    ];
    let pay = || payment("M-pay", "PAY-M", LANZHOU, "2024-03", pb::BenefitType::MedicalTreatment, "1.00");
    corpus.extend([
        (
            "resident id as beneficiary",
            C::RecordPayment(pb::RecordPaymentRequest { beneficiary: "62010219800101123X".into(), ..pay() }),
            "beneficiary",
            "INVALID_BENEFICIARY",
        ),
        (
            "unspecified benefit",
            C::RecordPayment(pb::RecordPaymentRequest { benefit: 0, ..pay() }),
            "benefit",
            "INVALID_ENUM",
        ),
        (
            "basis without a kind",
            C::RecordPayment(pb::RecordPaymentRequest { basis: Some(pb::PaymentBasis { kind: None }), ..pay() }),
            "basis.kind",
            "MISSING_FIELD",
        ),
        (
            "grade above 255",
            C::RecordPayment(pb::RecordPaymentRequest {
                basis: Some(pb::PaymentBasis {
                    kind: Some(pb::payment_basis::Kind::DisabilitySubsidy(pb::payment_basis::Disability {
                        grade: 300,
                        own_wage: "1.00".into(),
                    })),
                }),
                ..pay()
            }),
            "basis.disability_subsidy.grade",
            "OUT_OF_RANGE",
        ),
        (
            "year beyond periods",
            C::AssessGapShares(pb::AssessGapSharesRequest { command_id: "M-y".into(), year: 70_000, trace: None }),
            "year",
            "INVALID_YEAR",
        ),
        (
            "plan line without category",
            C::SubmitPlan(pb::SubmitPlanRequest {
                lines: vec![pb::ExpenditureAmount { category: 0, amount: "1.00".into() }],
                ..plan("M-p", "P-M", LANZHOU, "2024-03", "1.00", "1.00")
            }),
            "lines[0].category",
            "INVALID_ENUM",
        ),
        (
            "rejection reason too long",
            C::RejectPlan(pb::RejectPlanRequest {
                command_id: "M-r".into(),
                plan_id: "P-M".into(),
                by: pb::Department::Hrss as i32,
                reason: "r".repeat(501),
                trace: None,
            }),
            "reason",
            "TEXT_TOO_LONG",
        ),
        (
            "rate not a decimal",
            C::AdjustRates(pb::AdjustRatesRequest {
                command_id: "M-a".into(),
                effective: "2025-01".into(),
                class: 1,
                benchmark_rate_pct: "0,2".into(),
                allowed_floats_pct: vec![],
                trace: None,
            }),
            "benchmark_rate_pct",
            "INVALID_DECIMAL",
        ),
    ]);
    corpus
        .into_iter()
        .map(|(what, c, field, reason)| (what, pb::BatchCommand { command: Some(c) }, field, reason))
        .collect()
}

/// The principal whose role may send a corpus entry, so the only thing wrong is its shape.
fn sender(entry: &pb::BatchCommand) -> Who {
    use pb::batch_command::Command as C;
    match entry.command.as_ref().unwrap() {
        C::RecordCollection(_) => tax(LANZHOU),
        C::RecordPayment(_) | C::SubmitPlan(_) => agency(LANZHOU),
        C::AssessGapShares(_) => PROVINCIAL_AGENCY,
        _ => HRSS,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_inputs_are_refused_by_field_and_change_nothing() {
    let server = TestServer::start().await;
    let before = server.digest().await;
    for (what, entry, field, reason) in corpus() {
        // Unary: the RPC's own error.
        use pb::batch_command::Command as C;
        let who = sender(&entry);
        let mut commands = server.commands(who);
        let result = match entry.command.clone().unwrap() {
            C::RecordCollection(r) => commands.record_collection(r).await,
            C::RecordPayment(r) => commands.record_payment(r).await,
            C::SubmitPlan(r) => commands.submit_plan(r).await,
            C::AssessGapShares(r) => commands.assess_gap_shares(r).await,
            C::RejectPlan(r) => commands.reject_plan(r).await,
            C::AdjustRates(r) => commands.adjust_rates(r).await,
            other => panic!("corpus entry without a unary call: {other:?}"),
        };
        let status = result.expect_err(what);
        let meta = expect_error(&status, Code::InvalidArgument, reason);
        assert_eq!(meta["field"], field, "{what}");

        // The same entry in a batch: its own error, naming its field in the batch.
        let reply =
            commands.execute_batch(pb::ExecuteBatchRequest { commands: vec![entry] }).await.expect(what).into_inner();
        match &reply.outcomes[0].result {
            Some(pb::batch_outcome::Result::Error(error)) => {
                assert_eq!((error.code_name.as_str(), error.reason.as_str()), ("INVALID_ARGUMENT", reason), "{what}");
                assert_eq!(error.metadata["field"], format!("commands[0].{field}"), "{what}");
            }
            other => panic!("{what}: expected an error, got {other:?}"),
        }
    }
    assert_eq!(server.digest().await, before, "no malformed input reached the log");

    // A batch mixing good and bad entries: the bad ones do not stop the good ones.
    let good = |i: usize| pb::BatchCommand {
        command: Some(pb::batch_command::Command::RecordCollection(collection(
            &format!("G-{i}"),
            LANZHOU,
            "2024-03",
            "5.00",
            &format!("TB-G-{i}"),
        ))),
    };
    let bad = pb::BatchCommand {
        command: Some(pb::batch_command::Command::RecordCollection(collection(
            "G-bad", LANZHOU, "2024-03", "five", "TB-G-bad",
        ))),
    };
    let reply = server
        .commands(tax(LANZHOU))
        .execute_batch(pb::ExecuteBatchRequest {
            commands: vec![good(0), bad, good(1), pb::BatchCommand { command: None }],
        })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<_> = reply
        .outcomes
        .iter()
        .map(|o| match &o.result {
            Some(pb::batch_outcome::Result::Accepted(_)) => "ok".to_string(),
            Some(pb::batch_outcome::Result::Error(e)) => e.reason.clone(),
            None => "none".to_string(),
        })
        .collect();
    assert_eq!(kinds, ["ok", "INVALID_AMOUNT", "ok", "MISSING_FIELD"]);
    assert_eq!(server.digest().await.0, before.0 + 2);
    server.stop().await;
}

/// Bytes no client library would send: `ExecuteBatch` (whose payment entries the server reads
/// in place) refuses them as tonic refuses an undecodable request to any other method, and
/// records nothing; the same bytes whole are read as the client library wrote them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_batches_are_refused_like_any_undecodable_request() {
    use prost::Message;
    const EXECUTE_BATCH: &str = "/fundledger.v1.LedgerCommands/ExecuteBatch";
    const RECORD_PAYMENT: &str = "/fundledger.v1.LedgerCommands/RecordPayment";
    let server = TestServer::start().await;
    let before = server.digest().await;
    let request = payment("RAW-1", "PAY-RAW-1", LANZHOU, "2024-03", pb::BenefitType::MedicalTreatment, "12.34");
    let entry = pb::BatchCommand { command: Some(pb::batch_command::Command::RecordPayment(request.clone())) };
    let whole = pb::ExecuteBatchRequest { commands: vec![entry] }.encode_to_vec();
    let not_utf8 = |bytes: &[u8]| {
        let at = bytes.windows(5).position(|w| w == b"RAW-1").expect("the command id is in the bytes");
        let mut bytes = bytes.to_vec();
        bytes[at + 3] = 0xff;
        bytes
    };
    let unary = server
        .raw_call(agency(LANZHOU), RECORD_PAYMENT, not_utf8(&request.encode_to_vec()))
        .await
        .expect_err("a unary request that is not UTF-8");
    assert_eq!(unary.code(), Code::Internal, "{unary:?}");
    assert!(unary.message().contains("invalid string value"), "{unary:?}");
    for (what, bytes) in [("cut short", whole[..whole.len() - 3].to_vec()), ("not UTF-8", not_utf8(&whole))] {
        let status = server.raw_call(agency(LANZHOU), EXECUTE_BATCH, bytes).await.expect_err(what);
        assert_eq!(status.code(), unary.code(), "{what}: {status:?}");
        assert!(status.message().contains("failed to decode Protobuf message"), "{what}: {status:?}");
    }
    assert_eq!(server.digest().await, before, "nothing was recorded");
    let reply = server.raw_call(agency(LANZHOU), EXECUTE_BATCH, whole).await.expect("the whole request");
    let reply = pb::ExecuteBatchReply::decode(reply.as_slice()).expect("a reply");
    assert_eq!(reply.outcomes.len(), 1);
    assert_eq!(reply.outcomes[0].command_id, "RAW-1");
    server.stop().await;
}

/// The server routes `ExecuteBatch` to a reader of the request's bytes with a directly encoded
/// reply; the generated service's `execute_batch` (prost-decoded request, reply message) stays
/// for whoever serves `Commands` without that router. Both answer alike: accepted, refused,
/// malformed, missing and repeated entries, payments among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_and_the_routed_execute_batch_answer_alike() {
    use fundledger_api::pb::ledger_commands_server::LedgerCommands;
    use pb::batch_command::Command as C;
    let entry = |command| pb::BatchCommand { command: Some(command) };
    let request = pb::ExecuteBatchRequest {
        commands: vec![
            entry(C::RecordCollection(collection("S-1", LANZHOU, "2024-03", "5.00", "TB-S-1"))),
            entry(C::RecordCollection(collection("S-2", LANZHOU, "2024-03", "five", "TB-S-2"))),
            pb::BatchCommand { command: None },
            entry(C::RecordCollection(collection("S-1", LANZHOU, "2024-03", "5.00", "TB-S-1"))),
            entry(C::RecordCollection(collection("S-3", JIAYUGUAN, "2024-03", "1.00", "TB-S-3"))),
            entry(C::RecordPayment(payment(
                "S-4",
                "PAY-S-4",
                LANZHOU,
                "2024-03",
                pb::BenefitType::MedicalTreatment,
                "1.00",
            ))),
            entry(C::RecordPayment(payment(
                "S-5",
                "PAY-S-5",
                "6201",
                "2024-03",
                pb::BenefitType::MedicalTreatment,
                "1.00",
            ))),
        ],
    };
    let server = TestServer::start().await;
    let routed = server.commands(tax(LANZHOU)).execute_batch(request.clone()).await.expect("routed").into_inner();
    server.stop().await;

    let generated = fundledger_api::commands::Commands::new(new_engine(EngineConfig::default()));
    let mut direct = tonic::Request::new(request);
    direct.extensions_mut().insert(Arc::new(fundledger_api::Principal {
        name: "tax".into(),
        role: fundledger_domain::Role::RegionTaxBureau,
        region: Some(fundledger_domain::RegionCode::parse(LANZHOU).unwrap()),
    }));
    let direct = generated.execute_batch(direct).await.expect("generated").into_inner();
    assert_eq!(routed, direct);
    // The batch holds what it claims to: accepted entries and refusals of each kind.
    let kinds: Vec<_> = routed
        .outcomes
        .iter()
        .map(|o| match &o.result {
            Some(pb::batch_outcome::Result::Accepted(reply)) => {
                format!("ok{}", if reply.replayed { " again" } else { "" })
            }
            Some(pb::batch_outcome::Result::Error(e)) => e.reason.clone(),
            None => "none".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ok",
            "INVALID_AMOUNT",
            "MISSING_FIELD",
            "ok again",
            "PERMISSION_DENIED",
            "PERMISSION_DENIED",
            "INVALID_REGION"
        ]
    );
}
