//! The audit service: the log read back and re-verified client-side from the stream alone; a
//! subscription across live appends with no gap and no duplicate; range verification; digests;
//! rebuilds and as-of queries.

use fundledger_api::pb;
use prost::Message;
use sha2::{Digest, Sha256};

use super::*;

/// The chain as docs/format.md specifies it, written independently of the store crate.
fn genesis(fund_id: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"fundledger genesis v1\0");
    hasher.update(fund_id.as_bytes());
    hasher.finalize().to_vec()
}

fn link(prev: &[u8], record: &pb::LogRecord) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(record.position.to_le_bytes());
    hasher.update(record.recorded_time_us.to_le_bytes());
    hasher.update((record.payload.len() as u32).to_le_bytes());
    hasher.update(&record.payload);
    hasher.finalize().to_vec()
}

/// Re-verifies a run of records: positions consecutive from `first`, each hash the link from the
/// previous one, each decoded record the decoding of its raw payload.
fn verify(records: &[pb::LogRecord], first: u64, mut prev: Vec<u8>) -> Vec<u8> {
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record.position, first + i as u64, "no gap, no duplicate");
        assert_eq!(record.prev_hash, prev, "prev hash at {}", record.position);
        let hash = link(&prev, record);
        assert_eq!(record.hash, hash, "hash at {}", record.position);
        let decoded = fundledger_wire::pb::StoredRecord::decode(record.payload.as_slice()).expect("payload decodes");
        assert_eq!(record.record.as_ref(), Some(&decoded));
        prev = hash;
    }
    prev
}

async fn some_history(server: &TestServer) {
    ready_to_pay(server, LANZHOU, "2024-03", "50000.00", "10000.00").await;
    let mut agency = server.commands(agency(LANZHOU));
    for i in 0..10 {
        agency
            .record_payment(payment(
                &format!("H-{i}"),
                &format!("PAY-H{i}"),
                LANZHOU,
                "2024-03",
                pb::BenefitType::MedicalTreatment,
                "10.00",
            ))
            .await
            .unwrap();
    }
    // A refusal is part of the chain too.
    let _ = server
        .commands(finance(LANZHOU))
        .record_transfer(transfer("H-refused", LANZHOU, "2024-03", "1.00"))
        .await
        .unwrap_err();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_events_reverifies_client_side() {
    let server = TestServer::start().await;
    some_history(&server).await;
    let (head, head_hash) = server.digest().await;
    let mut stream = server.audit(AUDITOR).read_events(pb::ReadEventsRequest::default()).await.unwrap().into_inner();
    let mut records = Vec::new();
    while let Some(record) = stream.message().await.unwrap() {
        records.push(record);
    }
    assert_eq!(records.len() as u64, head);
    let last = verify(&records, 1, genesis(FUND));
    assert_eq!(last, head_hash, "the stream ends at the digest");
    assert!(records.iter().any(|r| matches!(
        r.record.as_ref().and_then(|s| s.body.as_ref()),
        Some(fundledger_wire::pb::stored_record::Body::Rejected(_))
    )));

    // A middle range, checked from its own prev hash.
    let mut stream = server
        .audit(AUDITOR)
        .read_events(pb::ReadEventsRequest { from_position: 4, to_position: 9 })
        .await
        .unwrap()
        .into_inner();
    let mut middle = Vec::new();
    while let Some(record) = stream.message().await.unwrap() {
        middle.push(record);
    }
    assert_eq!(middle.len(), 6);
    verify(&middle, 4, records[2].hash.clone());

    // The chain verifies server-side too, over the whole log and a range.
    let reply = server.audit(AUDITOR).verify_chain(pb::VerifyChainRequest::default()).await.unwrap().into_inner();
    assert!(reply.ok, "{reply:?}");
    assert_eq!((reply.records, reply.last_position, reply.last_hash.clone()), (head, head, head_hash.clone()));
    let reply = server
        .audit(AUDITOR)
        .verify_chain(pb::VerifyChainRequest { from_position: 5, to_position: 7 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.ok, reply.records, reply.last_position), (true, 3, 7));
    let status = server
        .audit(AUDITOR)
        .verify_chain(pb::VerifyChainRequest { from_position: 1, to_position: head + 1 })
        .await
        .unwrap_err();
    expect_error(&status, tonic::Code::OutOfRange, "BEYOND_HEAD");

    // A saved digest is extended by today's history; a forged one is not.
    let saved = pb::Digest { position: 5, hash: records[4].hash.clone(), extends_earlier: false };
    let digest = server
        .audit(FINANCE)
        .get_digest(pb::GetDigestRequest { earlier: Some(saved.clone()) })
        .await
        .unwrap()
        .into_inner();
    assert!(digest.extends_earlier);
    let forged = pb::Digest { hash: vec![0; 32], ..saved };
    let digest =
        server.audit(FINANCE).get_digest(pb::GetDigestRequest { earlier: Some(forged) }).await.unwrap().into_inner();
    assert!(!digest.extends_earlier);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_catches_up_then_follows_live_appends() {
    let server = TestServer::start().await;
    some_history(&server).await;
    let (history, _) = server.digest().await;
    let mut stream =
        server.audit(AUDITOR).subscribe(pb::SubscribeRequest { from_position: 1 }).await.unwrap().into_inner();
    let mut records = Vec::new();
    for _ in 0..history {
        records.push(stream.message().await.unwrap().expect("catch-up record"));
    }
    // Live: appends from concurrent writers, while the subscriber reads.
    let live = 40u64;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut tax_bureau = server.commands(tax(LANZHOU));
            tokio::spawn(async move {
                for i in 0..live / 4 {
                    tax_bureau
                        .record_collection(collection(
                            &format!("L-{w}-{i}"),
                            LANZHOU,
                            "2024-04",
                            "1.00",
                            &format!("TB-L-{w}-{i}"),
                        ))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for _ in 0..live {
        records.push(stream.message().await.unwrap().expect("live record"));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(records.len() as u64, history + live);
    let last = verify(&records, 1, genesis(FUND));
    assert_eq!((history + live, last), server.digest().await);
    // A server shutting down ends open subscriptions rather than waiting for them.
    server.stop().await;
    let end = stream.message().await;
    assert!(matches!(&end, Err(s) if info(s).0 == "SHUTTING_DOWN") || matches!(end, Ok(None)), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_and_as_of_queries_answer_from_history() {
    let server = TestServer::start().await;
    let mut tax_bureau = server.commands(tax(LANZHOU));
    let first = tax_bureau
        .record_collection(collection("A-1", LANZHOU, "2024-03", "100.00", "TB-A1"))
        .await
        .unwrap()
        .into_inner();
    let as_of = first.positions[0];
    tax_bureau.record_collection(collection("A-2", LANZHOU, "2024-03", "23.45", "TB-A2")).await.unwrap();

    let collected = |reply: pb::TwoLinesReply| reply.rows[0].income.as_ref().unwrap().collected.clone();
    let now = server.queries(AUDITOR).get_two_lines(pb::GetTwoLinesRequest::default()).await.unwrap().into_inner();
    assert_eq!(collected(now), "123.45");
    let then = server
        .queries(AUDITOR)
        .get_two_lines(pb::GetTwoLinesRequest {
            read: Some(pb::ReadOptions { min_position: 0, as_of: Some(pb::read_options::AsOf::AsOfPosition(as_of)) }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(then.view.as_ref().map(|v| (v.position, v.rebuilt)), Some((as_of, true)));
    assert_eq!(collected(then), "100.00");
    // As of a time before anything was recorded: nothing.
    let before = server
        .queries(AUDITOR)
        .get_two_lines(pb::GetTwoLinesRequest {
            read: Some(pb::ReadOptions {
                min_position: 0,
                as_of: Some(pb::read_options::AsOf::AsOfTime("2020-01-01T00:00:00+08:00".into())),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(before.rows.is_empty());

    let mut stream = server
        .audit(AUDITOR)
        .rebuild(pb::RebuildRequest { as_of: Some(pb::rebuild_request::AsOf::AsOfPosition(as_of)) })
        .await
        .unwrap()
        .into_inner();
    let mut progress = 0;
    let mut done = None;
    while let Some(update) = stream.message().await.unwrap() {
        match update.update {
            Some(pb::rebuild_update::Update::Progress(_)) => progress += 1,
            Some(pb::rebuild_update::Update::Done(d)) => done = Some(d),
            None => panic!("empty update"),
        }
    }
    let done = done.expect("rebuild finished");
    assert!(progress >= 1);
    assert_eq!(done.through_position, as_of);
    assert_eq!(done.two_lines.unwrap().rows[0].income.as_ref().unwrap().collected, "100.00");
    server.stop().await;
}
