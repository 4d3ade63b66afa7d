//! Crash tests: fail or tear the IO at every step of a commit (including segment rolls), then
//! crash (process or power loss), reopen, and check that every acknowledged record is there with
//! the right hash and that nothing unacknowledged appears, except, where stated, one whole batch
//! that became durable just as the failure hit.

#![allow(non_upper_case_globals)] // limits named with their unit, as in the crate

use std::sync::Arc;

use fundledger_store::chain::{self, link};
use fundledger_store::contract::{fund_id, read_all};
use fundledger_store::file::FileOptions;
use fundledger_store::segment::segment_header_bytes;
use fundledger_store::testing::{Fault, FaultyStorage, MemStorage};
use fundledger_store::{AppendBatch, FileLog, Position, Record, StoreError, block_on, genesis};

/// Tiny segments (4 KiB of records) so the workload crosses a segment boundary; no background
/// preparation, so the Nth write or sync is the same call in every run; pages of 64 bytes, so
/// writes stay small enough to be torn at every byte while still starting and ending on pages.
fn options() -> FileOptions {
    FileOptions::default()
        .with_segment_bytes(2 * segment_header_bytes)
        .with_prepare_ahead(false)
        .with_page_bytes(test_page_bytes)
}

const test_page_bytes: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// The process dies; what it wrote is in the page cache and survives.
    Process,
    /// The machine loses power; only synced data and synced directory entries survive.
    Power,
}

fn batch(seed: usize, count: usize) -> AppendBatch {
    let mut batch = AppendBatch::new();
    for index in 0..count {
        let len = (seed * 7 + index * 3) % 13;
        let payload: Vec<u8> = (0..len).map(|byte| (seed * 31 + index + byte) as u8).collect();
        batch.push((seed * 1_000 + index) as i64, &payload);
    }
    batch
}

fn extend_model(model: &mut Vec<Record>, batch: &AppendBatch) {
    for (time, payload) in batch.iter() {
        let position = model.len() as Position + 1;
        let prev = model.last().map_or(genesis(fund_id), |record| record.hash);
        let hash = link(&prev, position, time, payload);
        model.push(Record { position, recorded_time_us: time, payload: payload.to_vec(), hash });
    }
}

/// Records acknowledged before the fault is armed: 55 records of ~66 bytes fill most of the
/// first segment, so the workload rolls to a new one.
fn prefill(log: &FileLog, model: &mut Vec<Record>) {
    for seed in 0..11 {
        let batch = batch(seed, 5);
        block_on(log_append(log, model.len() as Position, &batch)).expect("prefill append");
        extend_model(model, &batch);
    }
}

async fn log_append(
    log: &FileLog,
    head: Position,
    batch: &AppendBatch,
) -> Result<fundledger_store::Appended, StoreError> {
    use fundledger_store::EventLog;
    log.append(head, batch).await
}

const workload_batches: usize = 10;

fn workload_batch(index: usize) -> AppendBatch {
    batch(100 + index, 1 + index % 4)
}

/// A log with the prefill written (acknowledged records before any fault), to copy per scenario.
struct Base {
    storage: MemStorage,
    acknowledged: Vec<Record>,
    options: FileOptions,
}

fn base(options: FileOptions) -> Base {
    let storage = MemStorage::new();
    let (log, _) = FileLog::open_with(Arc::new(storage.clone()), fund_id, options.clone()).expect("open");
    let mut acknowledged = Vec::new();
    prefill(&log, &mut acknowledged);
    Base { storage, acknowledged, options }
}

/// Runs one scenario with the default test options; returns whether the fault fired.
fn scenario(fault: Fault, crash: Crash) -> bool {
    thread_local! {
        static BASE: Base = base(options());
    }
    BASE.with(|base| scenario_from(base, fault, crash))
}

fn scenario_from(base: &Base, fault: Fault, crash: Crash) -> bool {
    let storage = base.storage.deep_clone();
    let options = base.options.clone();
    let faulty = FaultyStorage::new(Arc::new(storage.clone()));
    let (log, _) = FileLog::open_with(Arc::new(faulty.clone()), fund_id, options.clone()).expect("open");
    let mut acknowledged = base.acknowledged.clone();

    faulty.arm(fault);
    let mut failed_batch = None;
    for index in 0..workload_batches {
        let batch = workload_batch(index);
        match block_on(log_append(&log, acknowledged.len() as Position, &batch)) {
            Ok(appended) => {
                extend_model(&mut acknowledged, &batch);
                assert_eq!(appended.head.hash, acknowledged.last().expect("records").hash);
            }
            Err(StoreError::Io { .. }) => {
                failed_batch = Some(batch);
                break;
            }
            Err(other) => panic!("{fault:?}: unexpected error {other:?}"),
        }
    }
    let fired = faulty.triggered();
    if options.prepare_ahead {
        // A fault in the background preparation only makes the roll prepare the segment itself.
        assert!(fired || failed_batch.is_none(), "{fault:?}: an append failed without a fault");
    } else {
        assert_eq!(fired, failed_batch.is_some(), "{fault:?}: a fired fault must fail the append");
    }
    if failed_batch.is_some() {
        // After a failed write or sync the log refuses to go on.
        assert!(log.is_poisoned());
        let refused = block_on(log_append(&log, acknowledged.len() as Position, &batch(999, 1)));
        assert!(matches!(refused, Err(StoreError::Poisoned { .. })), "{fault:?}: got {refused:?}");
    }
    drop(log);
    match crash {
        Crash::Process => storage.crash_process(),
        Crash::Power => storage.crash_power(),
    }

    let (log, report) = FileLog::open_with(Arc::new(storage.clone()), fund_id, options)
        .unwrap_or_else(|err| panic!("{fault:?} {crash:?}: reopen failed: {err}"));
    let records = block_on(read_all(&log));
    assert!(records.len() >= acknowledged.len(), "{fault:?} {crash:?}: acknowledged records lost");
    assert_eq!(records[..acknowledged.len()], acknowledged[..], "{fault:?} {crash:?}: acknowledged records differ");
    let extra = &records[acknowledged.len()..];
    if !extra.is_empty() {
        // The one allowed exception: the failed batch became durable as a whole just as the
        // failure hit. With a process crash, that is any failure after the batch's write landed
        // in the page cache (e.g. its sync failed); with a power loss, only a sync that reached
        // the disk and then reported an error.
        let mut expected = acknowledged.clone();
        extend_model(&mut expected, failed_batch.as_ref().expect("extra records without a failed append"));
        assert_eq!(extra, &expected[acknowledged.len()..], "{fault:?} {crash:?}: a partial or foreign batch appeared");
        let allowed = crash == Crash::Process || matches!(fault, Fault::FailSync { durable: true, .. });
        assert!(allowed, "{fault:?} {crash:?}: an unsynced batch survived a power loss");
    }
    if let Some(torn) = &report.truncated {
        assert_eq!(torn.first_dropped_position, records.len() as Position + 1, "report names the dropped position");
    }
    // The reopened log verifies end to end and takes new appends.
    chain::verify_log(&log, 1).unwrap_or_else(|err| panic!("{fault:?} {crash:?}: {err}"));
    let next = batch(777, 2);
    block_on(log_append(&log, records.len() as Position, &next)).expect("append after recovery");
    fired
}

/// Tear points for a write of `len` bytes: every byte for small writes (the record writes),
/// a spread for large ones (zero-fill and headers).
fn tear_points(len: usize) -> Vec<usize> {
    if len <= 512 { (0..len).collect() } else { (0..16).map(|step| step * len / 16).chain([len - 1]).collect() }
}

fn write_sizes_of_the_workload(options: FileOptions) -> Vec<usize> {
    let storage = MemStorage::new();
    let faulty = FaultyStorage::new(Arc::new(storage));
    let (log, _) = FileLog::open_with(Arc::new(faulty.clone()), fund_id, options).expect("open");
    let mut model = Vec::new();
    prefill(&log, &mut model);
    faulty.arm(Fault::None);
    let segments_before = log.segment_count();
    for index in 0..workload_batches {
        let batch = workload_batch(index);
        block_on(log_append(&log, model.len() as Position, &batch)).expect("append");
        extend_model(&mut model, &batch);
    }
    assert!(log.segment_count() > segments_before, "the workload must cross a segment boundary");
    faulty.write_sizes()
}

#[test]
fn failed_and_torn_writes_at_every_step_lose_nothing_acknowledged() {
    let mut scenarios = 0;
    // Small pages (every byte of every record write is a tear point), then the default pages
    // (each record write is then the whole 4 KiB page of records, torn at a spread of points).
    for options in [options(), options().with_page_bytes(FileOptions::default().page_bytes)] {
        let sizes = write_sizes_of_the_workload(options.clone());
        assert!(sizes.len() >= workload_batches, "every batch is at least one write");
        let base = base(options);
        for crash in [Crash::Process, Crash::Power] {
            for (nth, &len) in sizes.iter().enumerate() {
                let nth = nth as u64;
                assert!(scenario_from(&base, Fault::FailWrite { nth }, crash), "write {nth} never happened");
                for keep_bytes in tear_points(len) {
                    assert!(scenario_from(&base, Fault::TearWrite { nth, keep_bytes }, crash));
                    scenarios += 1;
                }
            }
            // One past the last write: the fault never fires and everything is acknowledged.
            assert!(!scenario_from(&base, Fault::FailWrite { nth: sizes.len() as u64 }, crash));
        }
    }
    assert!(scenarios > 1_000, "too few tear scenarios ({scenarios})");
}

#[test]
fn failed_syncs_at_every_step_lose_nothing_acknowledged() {
    for crash in [Crash::Process, Crash::Power] {
        for durable in [false, true] {
            let mut nth = 0;
            while scenario(Fault::FailSync { nth, durable }, crash) {
                nth += 1;
            }
            assert!(nth >= workload_batches as u64, "every batch syncs at least once");
        }
    }
}

#[test]
fn a_torn_tail_is_truncated_and_reported() {
    let storage = MemStorage::new();
    let faulty = FaultyStorage::new(Arc::new(storage.clone()));
    let (log, _) = FileLog::open_with(Arc::new(faulty.clone()), fund_id, options()).expect("open");
    let mut model = Vec::new();
    let first = batch(1, 3);
    block_on(log_append(&log, 0, &first)).expect("append");
    extend_model(&mut model, &first);
    // Tear the next batch (3 records) in its second record: record 4 is whole but its batch is not.
    let torn = batch(2, 3);
    let first_frame = fundledger_store::frame::frame_bytes(torn.iter().next().expect("one").1.len());
    // The write starts at the page the batch starts in, with the first batch's bytes on it.
    let carried = first.frame_bytes() % test_page_bytes as usize;
    faulty.arm(Fault::TearWrite { nth: 0, keep_bytes: carried + first_frame + 10 });
    assert!(block_on(log_append(&log, 3, &torn)).is_err());
    drop(log);
    let (log, report) = FileLog::open_with(Arc::new(storage), fund_id, options()).expect("reopen");
    let tail = report.truncated.expect("the torn tail is reported");
    assert_eq!(tail.segment, 1);
    assert_eq!(tail.offset, segment_header_bytes + first.frame_bytes() as u64);
    assert_eq!(tail.whole_records_dropped, 1, "the whole record of the unfinished batch is dropped too");
    assert_eq!(tail.first_dropped_position, 4);
    // Up to the last non-zero byte of the torn write (its last bytes may be zeros).
    assert!(tail.bytes_zeroed > first_frame as u64 && tail.bytes_zeroed <= first_frame as u64 + 10);
    assert_eq!(block_on(read_all(&log)), model);
}

#[test]
fn faults_with_background_segment_preparation_lose_nothing_acknowledged() {
    // The preparing thread's writes and syncs interleave with the writer's, so which call the
    // Nth one is varies from run to run; the guarantees must hold whichever it is.
    let base = base(options().with_prepare_ahead(true));
    for crash in [Crash::Process, Crash::Power] {
        for nth in 0..24 {
            scenario_from(&base, Fault::FailWrite { nth }, crash);
            scenario_from(&base, Fault::TearWrite { nth, keep_bytes: 30 }, crash);
            scenario_from(&base, Fault::FailSync { nth, durable: nth % 2 == 0 }, crash);
        }
    }
}

#[test]
fn batches_written_in_chunks_are_still_all_or_nothing() {
    // Chunks of 100 bytes: a batch of 2 to 4 records becomes 2 or 3 writes, each torn everywhere.
    // A process crash keeps what was written, so it is the one that shows partial batches.
    let options = options().with_writeback_chunk_bytes(100);
    let sizes = write_sizes_of_the_workload(options.clone());
    assert!(sizes.len() > workload_batches + 5, "chunking must split batches into several writes");
    let base = base(options);
    for (nth, &len) in sizes.iter().enumerate().filter(|(_, len)| **len <= 512) {
        for keep_bytes in tear_points(len) {
            assert!(scenario_from(&base, Fault::TearWrite { nth: nth as u64, keep_bytes }, Crash::Process));
        }
    }
}
