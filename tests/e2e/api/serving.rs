//! Serving: health checking and reflection answer; TLS works with a generated certificate; the
//! server refuses unsafe configurations and says why; read-your-writes with `min_position`.

use std::collections::HashMap;

use fundledger_api::auth::Auth;
use fundledger_api::pb;
use fundledger_engine::EngineConfig;
use tokio_stream::StreamExt;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer() {
    let server = TestServer::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel());
    for service in ["", "fundledger.v1.LedgerCommands", "fundledger.v1.LedgerQueries", "fundledger.v1.LedgerAudit"] {
        let reply = health
            .check(tonic_health::pb::HealthCheckRequest { service: service.into() })
            .await
            .unwrap_or_else(|s| panic!("health of {service:?}: {s:?}"))
            .into_inner();
        assert_eq!(reply.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service:?}");
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel());
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("fundledger.v1.LedgerAudit".into())),
        },
    ];
    let mut replies = reflection.server_reflection_info(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let listed = match replies.next().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
        }
        other => panic!("expected a service list, got {other:?}"),
    };
    for service in [
        "fundledger.v1.LedgerCommands",
        "fundledger.v1.LedgerQueries",
        "fundledger.v1.LedgerAudit",
        "grpc.health.v1.Health",
    ] {
        assert!(listed.iter().any(|s| s == service), "{service} in {listed:?}");
    }
    match replies.next().await.unwrap().unwrap().message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => assert!(!files.file_descriptor_proto.is_empty()),
        other => panic!("expected descriptors, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_with_min_position() {
    let server = TestServer::start().await;
    let mut queries = server.queries(agency(LANZHOU));
    // A query waiting for a position not yet written returns once it is, and sees it.
    let (head, _) = server.digest().await;
    let waiting = tokio::spawn(async move {
        queries
            .get_two_lines(pb::GetTwoLinesRequest {
                read: Some(pb::ReadOptions { min_position: head + 1, as_of: None }),
                ..Default::default()
            })
            .await
    });
    let written = server
        .commands(tax(LANZHOU))
        .record_collection(collection("RYW-1", LANZHOU, "2024-03", "42.00", "TB-RYW"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(written.positions, vec![head + 1]);
    let reply = waiting.await.unwrap().expect("caught up").into_inner();
    assert!(reply.view.unwrap().position > head);
    assert_eq!(reply.rows[0].income.as_ref().unwrap().collected, "42.00");

    // A position nobody writes: the bounded wait ends with NOT_CAUGHT_UP.
    let status = server
        .queries(AUDITOR)
        .get_two_lines(pb::GetTwoLinesRequest {
            read: Some(pb::ReadOptions { min_position: head + 100, as_of: None }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let meta = expect_error(&status, tonic::Code::DeadlineExceeded, "NOT_CAUGHT_UP");
    assert_eq!(meta["applied_position"], (head + 1).to_string());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let (principals, tokens) = principals();
    let server_tls = fundledger_api::TlsConfig { cert_pem_path: cert, key_pem_path: key, client_ca_pem_path: None };
    let client_tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(generated.cert.pem()))
        .domain_name("localhost");
    let server = TestServer::start_with(
        new_engine(EngineConfig::default()),
        Auth::Tokens(principals),
        tokens,
        Some((server_tls, client_tls)),
    )
    .await;
    let reply = server
        .commands(tax(LANZHOU))
        .record_collection(collection("TLS-1", LANZHOU, "2024-03", "1.00", "TB-TLS"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.positions, vec![1]);
    assert_eq!(server.digest().await.0, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_configurations_are_refused_with_a_reason() {
    let engine = new_engine(EngineConfig::default());
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = fundledger_api::ServeConfig { listen: addr, auth: Auth::InsecureNoAuth, tls: None };
    let error = fundledger_api::serve_on(engine.clone(), config, listener, async {}).await.unwrap_err();
    assert!(error.to_string().contains("loopback"), "{error}");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let config = fundledger_api::ServeConfig { listen: addr, auth: Auth::Tokens(principals().0), tls: None };
    let error = fundledger_api::serve_on(engine, config, listener, async {}).await.unwrap_err();
    assert!(error.to_string().contains("TLS"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_on_loopback_takes_the_claimed_role() {
    let server =
        TestServer::start_with(new_engine(EngineConfig::default()), Auth::InsecureNoAuth, HashMap::new(), None).await;
    let mut claimed = pb::ledger_commands_client::LedgerCommandsClient::new(server.channel());
    let mut request = tonic::Request::new(collection("IN-1", LANZHOU, "2024-03", "1.00", "TB-IN"));
    request.metadata_mut().insert("x-fundledger-role", "region_tax_bureau".parse().unwrap());
    request.metadata_mut().insert("x-fundledger-region", LANZHOU.parse().unwrap());
    assert_eq!(claimed.record_collection(request).await.unwrap().into_inner().positions, vec![1]);
    // Without a claim the caller is an auditor: it reads, and changes nothing.
    let status = claimed.record_collection(collection("IN-2", LANZHOU, "2024-03", "1.00", "TB-IN2")).await.unwrap_err();
    expect_error(&status, tonic::Code::PermissionDenied, "PERMISSION_DENIED");
    server.stop().await;
}
