//! Fault injection through the protocol test server: a connection dropped mid-append, an append
//! that lands but whose acknowledgement is lost (cut connection, or a reply slower than the
//! deadline), a leader change, a node that never becomes leader, and a second writer. In every case
//! the stream ends with every acknowledged record exactly once, chained, and nothing else.

#![allow(non_upper_case_globals)] // constants named like the values they are, as in the workspace

use std::collections::HashMap;
use std::time::Duration;

use fundledger_esdb_testserver::{AppendFault, StoredEvent, TestServer};
use fundledger_store::chain::{genesis, verify_log};
use fundledger_store::contract::sample_batch;
use fundledger_store::{Appended, EventLog, Head, Position, RecordBatch, StoreError, block_on};
use fundledger_store_esdb::codec::{ChainFields, event_id, event_type, stream_name, stream_prefix_default};
use fundledger_store_esdb::{EsdbLog, EsdbOptions};

const fund: &str = "CN-620000-work-injury";

fn connect(server: &TestServer, options: EsdbOptions) -> EsdbLog {
    EsdbLog::connect(&server.url(), fund, options).expect("connect to the test server")
}

/// Appends `batches` batches of `records` records each, returning every acknowledgement.
fn append_batches(log: &EsdbLog, seeds: std::ops::Range<u64>, records: usize) -> Vec<Appended> {
    let mut acknowledged = Vec::new();
    for seed in seeds {
        let head = block_on(log.head()).expect("head").position;
        acknowledged.push(block_on(log.append(head, &sample_batch(seed, records))).expect("append acknowledged"));
    }
    acknowledged
}

/// The stream as the server holds it must be exactly the acknowledged records: each position
/// once, in order, with its derived id, chained from genesis; and `verify_log` must agree.
fn assert_exactly_once(server: &TestServer, log: &EsdbLog, acknowledged: &[Appended]) {
    let events: Vec<StoredEvent> = server.events(&stream_name(stream_prefix_default, fund));
    let last = acknowledged.last().expect("something was acknowledged");
    assert_eq!(events.len() as Position, last.head.position, "stream length differs from the acknowledged head");
    let mut seen = HashMap::new();
    let mut prev = genesis(fund);
    for (index, event) in events.iter().enumerate() {
        let position = index as Position + 1;
        assert_eq!(event.metadata.get("type").map(String::as_str), Some(event_type));
        assert!(seen.insert(event.id, position).is_none(), "event id {} stored twice", event.id);
        assert_eq!(event.id, event_id(fund, position), "event at position {position} has a foreign id");
        let fields = ChainFields::decode(&event.custom_metadata).expect("ledger metadata");
        assert_eq!(fields.position, position);
        assert_eq!(fields.prev_hash, prev, "chain broken at {position}");
        assert!(fields.links(&event.data), "hash of {position} is not the link over its record");
        prev = fields.hash;
    }
    for appended in acknowledged {
        let fields = ChainFields::decode(&events[appended.head.position as usize - 1].custom_metadata).expect("meta");
        assert_eq!(fields.hash, appended.head.hash, "acknowledged head {} not in the stream", appended.head.position);
    }
    let verified = verify_log(log, 2).expect("the chain verifies through the backend");
    assert_eq!(verified.head, last.head);
}

#[test]
fn a_connection_dropped_mid_append_is_retried_and_lands_once() {
    let server = TestServer::start();
    let log = connect(&server, EsdbOptions::for_tests());
    let mut acknowledged = append_batches(&log, 0..2, 10);
    let connections = server.connections_accepted();
    server.inject(AppendFault::DropBeforeStore);
    acknowledged.extend(append_batches(&log, 2..3, 10));
    assert_eq!(server.pending_faults(), 0, "the fault was not exercised");
    assert_eq!(server.appends_received(), 4, "the dropped append must be sent exactly once more");
    assert!(server.connections_accepted() > connections, "the client did not reconnect");
    acknowledged.extend(append_batches(&log, 3..4, 10));
    assert_exactly_once(&server, &log, &acknowledged);
}

#[test]
fn a_lost_acknowledgement_is_resolved_by_reading_back_not_by_writing_twice() {
    let server = TestServer::start();
    let log = connect(&server, EsdbOptions::for_tests());
    let mut acknowledged = append_batches(&log, 0..2, 10);
    server.inject(AppendFault::StoreThenDrop);
    acknowledged.extend(append_batches(&log, 2..3, 10));
    assert_eq!(server.appends_received(), 3, "an append that landed was sent again");
    acknowledged.extend(append_batches(&log, 3..5, 10));
    assert_exactly_once(&server, &log, &acknowledged);
}

#[test]
fn an_acknowledgement_slower_than_the_deadline_is_resolved_by_reading_back() {
    let server = TestServer::start();
    let options = EsdbOptions { append_deadline_ms: 200, ..EsdbOptions::for_tests() };
    let log = connect(&server, options);
    let mut acknowledged = append_batches(&log, 0..1, 5);
    // Far beyond the deadline: the client gives up waiting while the events are already stored.
    server.inject(AppendFault::StoreThenDelay(Duration::from_secs(30)));
    acknowledged.extend(append_batches(&log, 1..2, 5));
    assert_eq!(server.appends_received(), 2, "an append that landed was sent again");
    acknowledged.extend(append_batches(&log, 2..3, 5));
    assert_exactly_once(&server, &log, &acknowledged);
}

#[test]
fn a_leader_change_during_an_append_loses_nothing_and_duplicates_nothing() {
    let old_leader = TestServer::start();
    let new_leader = TestServer::start_replica_of(&old_leader);
    let log = connect(&old_leader, EsdbOptions::for_tests());
    let mut acknowledged = append_batches(&log, 0..2, 10);

    // The old leader writes the next append, then steps down and drops every connection before
    // acknowledging it; the replica is the leader from then on.
    new_leader.lead();
    old_leader.inject(AppendFault::StoreThenDrop);
    acknowledged.extend(append_batches(&log, 2..3, 10));
    old_leader.follow(new_leader.addr());
    // Further appends reach the old leader, are told "not leader, ask <new leader>", and follow.
    acknowledged.extend(append_batches(&log, 3..6, 10));

    assert_eq!(old_leader.appends_received(), 4, "old leader: 2 before, 1 that landed unacknowledged, 1 redirected");
    assert_eq!(new_leader.appends_received(), 3, "the appends after the change go to the new leader once each");
    assert_exactly_once(&new_leader, &log, &acknowledged);
}

#[test]
fn retries_are_bounded_when_no_leader_is_found() {
    let server = TestServer::start();
    let options = EsdbOptions { retry_attempts_max: 4, ..EsdbOptions::for_tests() };
    let log = connect(&server, options);
    // A node that names itself as leader yet refuses writes: an election that never settles.
    server.follow(server.addr());
    match block_on(log.append(0, &sample_batch(1, 3))) {
        Err(StoreError::Backend(message)) => assert!(message.contains("after 4 attempts"), "{message}"),
        other => panic!("expected a bounded failure, got {other:?}"),
    }
    assert_eq!(server.appends_received(), 4);
    assert!(server.events(&stream_name(stream_prefix_default, fund)).is_empty());
}

#[test]
fn a_second_writer_is_fenced_and_its_watch_sees_the_first_writers_appends() {
    let server = TestServer::start();
    let first = connect(&server, EsdbOptions::for_tests());
    let second = connect(&server, EsdbOptions::for_tests());
    let appended = block_on(first.append(0, &sample_batch(1, 4))).expect("first writer appends");
    match block_on(second.append(0, &sample_batch(2, 1))) {
        Err(StoreError::Conflict { expected, actual }) => assert_eq!((expected, actual), (0, 4)),
        other => panic!("the second writer must be fenced, got {other:?}"),
    }
    // The second log's catch-up subscription publishes the first writer's head. Another
    // process's batch may show up record by record (the subscription cannot see where it ends),
    // but the head only moves forward, each step is a real chained head, and it gets there.
    let watch = second.watch();
    let mut seen = Head { position: 0, hash: [0; 32] };
    while seen.position < appended.head.position {
        let next =
            watch.wait_past_timeout(seen.position, Duration::from_secs(30)).expect("subscription delivered the head");
        assert!(next.position > seen.position, "the head moved backwards: {seen:?} then {next:?}");
        seen = next;
    }
    assert_eq!(seen, appended.head);
}

#[test]
fn a_foreign_event_in_the_stream_is_a_typed_error_on_read() {
    let server = TestServer::start();
    let log = connect(&server, EsdbOptions::for_tests());
    append_batches(&log, 0..1, 3);
    let foreign = StoredEvent {
        id: event_id(fund, 4),
        metadata: HashMap::from([("type".to_string(), "something.else".to_string())]),
        custom_metadata: Vec::new(),
        data: b"not a ledger record".to_vec(),
        commit_position: 0,
    };
    server.put(&stream_name(stream_prefix_default, fund), vec![foreign]);
    match block_on(log.read(1, RecordBatch::new())) {
        Err(StoreError::Corrupt { position: 4, .. }) => {}
        other => panic!("a foreign event must be reported as damage at position 4, got {other:?}"),
    }
}
