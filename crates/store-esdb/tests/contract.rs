//! The store's generic contract suite against this backend: always against the in-process protocol
//! test server, and against a real EventStoreDB/KurrentDB whenever `FUNDLEDGER_ESDB_URL` is set.

use std::sync::atomic::{AtomicU64, Ordering};

use fundledger_esdb_testserver::TestServer;
use fundledger_store::contract::{self, Harness};
use fundledger_store::{EventLog, block_on};
use fundledger_store_esdb::{EsdbLog, EsdbOptions, esdb_url_env};

/// Makes each "fresh" log a new, empty stream on one server, by giving it a stream prefix of its
/// own; "reopen" connects again to the same stream.
struct ServerHarness {
    url: String,
    base_options: EsdbOptions,
    run_id: String,
    streams: AtomicU64,
}

impl ServerHarness {
    fn new(url: String, base_options: EsdbOptions) -> Self {
        // Unique per run, so repeated runs against one real server never meet old streams.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        ServerHarness {
            url,
            base_options,
            run_id: format!("{}-{nanos}", std::process::id()),
            streams: AtomicU64::new(0),
        }
    }
}

impl Harness for ServerHarness {
    type Log = EsdbLog;

    async fn fresh(&mut self, fund_id: &str) -> EsdbLog {
        let number = self.streams.fetch_add(1, Ordering::SeqCst);
        let options = EsdbOptions {
            stream_prefix: format!("fundledger-test-{}-{number}-", self.run_id),
            ..self.base_options.clone()
        };
        let log = EsdbLog::connect_async(&self.url, fund_id, options).await.expect("connect");
        assert_eq!(block_on(log.head()).expect("head").position, 0, "a fresh stream must be empty");
        log
    }

    async fn reopen(&mut self, log: EsdbLog) -> EsdbLog {
        let fund_id = log.fund_id().to_string();
        let prefix = log.stream().strip_suffix(fund_id.as_str()).expect("stream is prefix + fund id").to_string();
        drop(log);
        let options = EsdbOptions { stream_prefix: prefix, ..self.base_options.clone() };
        EsdbLog::connect_async(&self.url, &fund_id, options).await.expect("reconnect")
    }
}

#[test]
fn contract_suite_against_the_protocol_test_server() {
    let server = TestServer::start();
    block_on(contract::run_all(&mut ServerHarness::new(server.url(), EsdbOptions::for_tests())));
}

#[test]
fn contract_suite_against_a_real_server_when_configured() {
    let Ok(url) = std::env::var(esdb_url_env) else {
        println!(
            "skipped: {esdb_url_env} is not set; the contract suite ran against the in-process protocol test \
             server only"
        );
        return;
    };
    block_on(contract::run_all(&mut ServerHarness::new(url, EsdbOptions::default())));
}
