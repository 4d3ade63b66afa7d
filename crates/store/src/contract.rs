//! The behaviour every [`EventLog`] backend must show, as one reusable suite. Backends' tests call
//! [`run_all`] with a [`Harness`] that makes fresh logs and reopens them; the suite is async so a
//! remote backend can drive it on its own runtime (the embedded ones use [`crate::block_on`]).
//! Failures panic with a message naming the broken rule.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use crate::chain::{self, genesis, link};
use crate::error::StoreError;
use crate::log::EventLog;
use crate::record::{AppendBatch, Head, Position, Record, RecordBatch};

/// Makes logs for the suite.
pub trait Harness {
    type Log: EventLog + 'static;
    /// A new, empty log of `fund_id`.
    fn fresh(&mut self, fund_id: &str) -> impl Future<Output = Self::Log>;
    /// Closes `log` and opens the same log again (a restart).
    fn reopen(&mut self, log: Self::Log) -> impl Future<Output = Self::Log>;
}

/// The fund id the suite uses.
pub const fund_id: &str = "CN-620000-work-injury";

/// Runs every contract check, each on a fresh log.
pub async fn run_all<H: Harness>(harness: &mut H) {
    empty_log(harness).await;
    append_assigns_positions_and_chain(harness).await;
    stale_expected_head_is_a_conflict(harness).await;
    invalid_batches_are_refused(harness).await;
    reads_are_bounded_and_start_anywhere(harness).await;
    reopen_keeps_everything(harness).await;
    watchers_wake_when_the_head_moves(harness).await;
    readers_keep_up_with_a_writer(harness).await;
    genesis_depends_on_the_fund(harness).await;
}

/// A model record: what the suite appended and the hash it expects.
fn model_append(model: &mut Vec<Record>, genesis: &chain::Hash, batch: &AppendBatch) {
    for (time, payload) in batch.iter() {
        let position = model.len() as Position + 1;
        let prev = model.last().map_or(*genesis, |record| record.hash);
        let hash = link(&prev, position, time, payload);
        model.push(Record { position, recorded_time_us: time, payload: payload.to_vec(), hash });
    }
}

/// A batch of `count` small records whose content depends on `seed`.
pub fn sample_batch(seed: u64, count: usize) -> AppendBatch {
    let mut batch = AppendBatch::new();
    for index in 0..count as u64 {
        let value = seed.wrapping_mul(1_000_003).wrapping_add(index);
        let len = (value % 23) as usize;
        let payload: Vec<u8> = (0..len).map(|byte| (value as u8).wrapping_add(byte as u8)).collect();
        batch.push(1_700_000_000_000_000 + value as i64, &payload);
    }
    batch
}

/// Reads every record of `log` with the read contract checked along the way.
pub async fn read_all<L: EventLog>(log: &L) -> Vec<Record> {
    let head = log.head().await.expect("head");
    let mut out = Vec::new();
    let mut batch = RecordBatch::new();
    let mut next = 1;
    while next <= head.position {
        batch = log.read(next, batch).await.expect("read below the head");
        assert!(!batch.is_empty(), "read from {next} (head {}) returned nothing", head.position);
        assert!(batch.len() <= crate::read_batch_records_max, "read returned too many records");
        for (offset, view) in batch.iter().enumerate() {
            assert_eq!(view.position(), next + offset as Position, "read positions not gapless");
        }
        out.extend(batch.to_records());
        next = batch.last_position() + 1;
    }
    out
}

async fn assert_log_equals<L: EventLog>(log: &L, model: &[Record]) {
    let head = log.head().await.expect("head");
    let expected_head = model.last().map_or(Head { position: 0, hash: log.genesis() }, |record| Head {
        position: record.position,
        hash: record.hash,
    });
    assert_eq!(head, expected_head, "head differs from the model");
    let records = read_all(log).await;
    assert_eq!(records.len(), model.len(), "record count differs from the model");
    for (got, want) in records.iter().zip(model) {
        assert_eq!(got, want, "record {} differs from the model", want.position);
    }
}

async fn empty_log<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    assert_eq!(log.fund_id(), fund_id);
    assert_eq!(log.genesis(), genesis(fund_id));
    let head = log.head().await.expect("head");
    assert_eq!(head, Head { position: 0, hash: genesis(fund_id) }, "empty head must be genesis");
    let batch = log.read(1, RecordBatch::new()).await.expect("read at head + 1");
    assert!(batch.is_empty(), "empty log returned records");
    assert!(matches!(log.read(2, RecordBatch::new()).await, Err(StoreError::BeyondHead { from: 2, head: 0 })));
    assert!(matches!(log.read(0, RecordBatch::new()).await, Err(StoreError::Invalid(_))));
}

async fn append_assigns_positions_and_chain<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    let mut model = Vec::new();
    let mut expected_head = 0;
    for (seed, count) in [(1, 1), (2, 5), (3, 100)] {
        let batch = sample_batch(seed, count);
        let appended = log.append(expected_head, &batch).await.expect("append");
        assert_eq!(appended.first, expected_head + 1, "first position of the batch");
        assert_eq!(appended.positions().count(), count, "positions assigned");
        model_append(&mut model, &log.genesis(), &batch);
        assert_eq!(appended.head.position, model.len() as Position);
        assert_eq!(appended.head.hash, model.last().expect("records").hash, "head hash is the chain");
        expected_head = appended.head.position;
    }
    assert_log_equals(&log, &model).await;
    let verified = chain::verify_log(&log, 1).expect("chain verifies");
    assert_eq!(verified.records, model.len() as u64);
    let verified = chain::verify_log(&log, 3).expect("chain verifies on 3 threads");
    assert_eq!(verified.head.hash, model.last().expect("records").hash);
}

async fn stale_expected_head_is_a_conflict<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    let head = log.append(0, &sample_batch(7, 3)).await.expect("append").head;
    for stale in [0, 1, 2, 4, 100] {
        match log.append(stale, &sample_batch(8, 1)).await {
            Err(StoreError::Conflict { expected, actual }) => {
                assert_eq!((expected, actual), (stale, 3), "conflict must name both positions");
            }
            other => panic!("append with stale head {stale} must conflict, got {other:?}"),
        }
    }
    assert_eq!(log.head().await.expect("head"), head, "a refused append changed the head");
    log.append(3, &sample_batch(9, 1)).await.expect("append at the right head");
}

async fn invalid_batches_are_refused<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    assert!(matches!(log.append(0, &AppendBatch::new()).await, Err(StoreError::Invalid(_))));
    let mut huge = AppendBatch::new();
    huge.push(0, &vec![0u8; crate::payload_bytes_max + 1]);
    assert!(matches!(log.append(0, &huge).await, Err(StoreError::Invalid(_))));
    assert_eq!(log.head().await.expect("head").position, 0, "a refused batch was appended");
    // Edge values of the recorded time and an empty payload are fine.
    let mut edge = AppendBatch::new();
    edge.push(i64::MIN, b"").push(i64::MAX, b"x").push(0, &[0xff; 300]);
    log.append(0, &edge).await.expect("edge values");
    let mut model = Vec::new();
    model_append(&mut model, &log.genesis(), &edge);
    assert_log_equals(&log, &model).await;
}

async fn reads_are_bounded_and_start_anywhere<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    let mut model = Vec::new();
    let batch_records = 2_000;
    let batches = crate::read_batch_records_max / batch_records + 2;
    for seed in 0..batches as u64 {
        let batch = sample_batch(seed + 100, batch_records);
        log.append(model.len() as Position, &batch).await.expect("append");
        model_append(&mut model, &log.genesis(), &batch);
    }
    let first = log.read(1, RecordBatch::new()).await.expect("read");
    assert!(first.len() <= crate::read_batch_records_max, "read not bounded");
    assert!(first.len() < model.len(), "one read returned more than read_batch_records_max");
    assert_log_equals(&log, &model).await;
    let head = model.len() as Position;
    for from in [2, 255, 256, 257, 1_000, 12_345, head - 1, head] {
        let batch = log.read(from, RecordBatch::new()).await.expect("read");
        assert_eq!(batch.first_position(), from, "read must start at `from`");
        assert_eq!(batch.get(0).to_record(), model[from as usize - 1]);
        assert_eq!(batch.last_hash(), model[batch.last_position() as usize - 1].hash);
    }
    assert!(log.read(head + 1, RecordBatch::new()).await.expect("read at head + 1").is_empty());
}

async fn reopen_keeps_everything<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    let mut model = Vec::new();
    for seed in 0..5 {
        let batch = sample_batch(seed + 500, 40);
        log.append(model.len() as Position, &batch).await.expect("append");
        model_append(&mut model, &log.genesis(), &batch);
    }
    let log = harness.reopen(log).await;
    assert_log_equals(&log, &model).await;
    let batch = sample_batch(600, 3);
    assert!(matches!(log.append(0, &batch).await, Err(StoreError::Conflict { .. })));
    log.append(model.len() as Position, &batch).await.expect("append after reopen");
    model_append(&mut model, &log.genesis(), &batch);
    let log = harness.reopen(log).await;
    assert_log_equals(&log, &model).await;
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn watchers_wake_when_the_head_moves<H: Harness>(harness: &mut H) {
    let log = Arc::new(harness.fresh(fund_id).await);
    let watch = log.watch();
    assert_eq!(watch.current().position, 0);

    // A blocking waiter on another thread; the append is what releases it.
    let waiter = {
        let watch = log.watch();
        std::thread::spawn(move || watch.wait_past(0))
    };
    // An async waiter: pending before the append, woken by it, ready after it.
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&counter));
    let mut changed = pin!(watch.changed(0));
    assert!(changed.as_mut().poll(&mut Context::from_waker(&waker)).is_pending(), "nothing appended yet");

    let appended = log.append(0, &sample_batch(900, 2)).await.expect("append");
    assert_eq!(waiter.join().expect("waiter thread").position, appended.head.position);
    assert!(counter.0.load(Ordering::SeqCst) >= 1, "async waiter was not woken");
    match changed.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(head) => assert_eq!(head, appended.head),
        Poll::Pending => panic!("async waiter still pending after the head moved"),
    }
    assert_eq!(watch.current(), appended.head);
    assert_eq!(watch.wait_past(1), appended.head, "head already past 1: returns at once");
}

/// A reader thread follows the head (wait, read, check) while appends go on: it must see a
/// gapless, correctly chained prefix at every moment, and finally everything.
async fn readers_keep_up_with_a_writer<H: Harness>(harness: &mut H) {
    let log = harness.fresh(fund_id).await;
    let batches: u64 = 200;
    let batch_records: u64 = 7;
    let total = batches * batch_records;
    let watch = log.watch();
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut prev = log.genesis();
            let mut seen: Position = 0;
            let mut batch = RecordBatch::new();
            while seen < total {
                let head = watch.wait_past(seen);
                while seen < head.position {
                    batch = crate::block_on(log.read(seen + 1, batch)).expect("read while appending");
                    assert!(!batch.is_empty(), "read below a published head returned nothing");
                    assert_eq!(batch.first_position(), seen + 1, "reader saw a gap");
                    chain::verify_batch(&prev, &batch).expect("reader saw a broken link");
                    prev = batch.last_hash();
                    seen = batch.last_position();
                }
            }
            (seen, prev)
        });
        for index in 0..batches {
            let batch = sample_batch(7_000 + index, batch_records as usize);
            crate::block_on(log.append(index * batch_records, &batch)).expect("append");
        }
        let (seen, last_hash) = reader.join().expect("reader thread");
        assert_eq!(seen, total);
        let head = crate::block_on(log.head()).expect("head");
        assert_eq!(head, Head { position: total, hash: last_hash });
    });
}

async fn genesis_depends_on_the_fund<H: Harness>(harness: &mut H) {
    let other = harness.fresh("CN-510000-work-injury").await;
    assert_ne!(other.genesis(), genesis(fund_id), "two funds share a genesis");
    let appended = other.append(0, &sample_batch(1, 1)).await.expect("append");
    let (time, payload) = sample_batch(1, 1).iter().next().map(|(t, p)| (t, p.to_vec())).expect("one");
    assert_eq!(appended.head.hash, link(&genesis("CN-510000-work-injury"), 1, time, &payload));
}
