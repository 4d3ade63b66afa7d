//! Open-time recovery beyond torn tails: summaries trusted when valid, scanned (and rewritten,
//! and reported) when missing or damaged; leftover temporary files deleted and reported.

use std::sync::Arc;

use fundledger_store::contract::{fund_id, read_all, sample_batch};
use fundledger_store::file::FileOptions;
use fundledger_store::segment::{segment_header_bytes, summary_name};
use fundledger_store::testing::MemStorage;
use fundledger_store::{EventLog, FileLog, Record, block_on};

fn options() -> FileOptions {
    FileOptions::default().with_segment_bytes(2 * segment_header_bytes)
}

fn many_segments() -> (MemStorage, Vec<Record>, usize) {
    let storage = MemStorage::new();
    let (log, _) = FileLog::open_with(Arc::new(storage.clone()), fund_id, options()).expect("open");
    for seed in 0..60 {
        let head = block_on(log.head()).expect("head").position;
        block_on(log.append(head, &sample_batch(seed, 7))).expect("append");
    }
    let segments = log.segment_count();
    assert!(segments >= 5, "want several sealed segments, got {segments}");
    (storage, block_on(read_all(&log)), segments)
}

#[test]
fn a_clean_open_scans_no_sealed_segment() {
    let (storage, records, segments) = many_segments();
    let (log, report) = FileLog::open_with(Arc::new(storage), fund_id, options()).expect("open");
    assert_eq!(report, Default::default());
    assert_eq!(log.segment_count(), segments);
    assert_eq!(block_on(read_all(&log)), records);
}

#[test]
fn missing_or_damaged_summaries_fall_back_to_a_scan_and_are_rewritten() {
    let (storage, records, _) = many_segments();
    storage.delete(&summary_name(2));
    let mut damaged = storage.contents(&summary_name(3)).expect("summary 3");
    damaged[20] ^= 0x10;
    storage.set_contents(&summary_name(3), &damaged);
    let original_4 = storage.contents(&summary_name(4)).expect("summary 4");
    storage.set_contents(&summary_name(4), &original_4[..original_4.len() - 1]);

    let (log, report) = FileLog::open_with(Arc::new(storage.clone()), fund_id, options()).expect("open");
    let scanned: Vec<u64> = report.scanned_segments.iter().map(|(segment, _)| *segment).collect();
    assert_eq!(scanned, vec![2, 3, 4], "report: {report:?}");
    assert_eq!(block_on(read_all(&log)), records);
    assert_eq!(storage.contents(&summary_name(4)).expect("rewritten"), original_4, "rewritten summary differs");
    drop(log);
    let (_, report) = FileLog::open_with(Arc::new(storage), fund_id, options()).expect("reopen");
    assert!(report.scanned_segments.is_empty(), "summaries were not rewritten: {report:?}");
}

#[test]
fn leftover_temporary_files_are_deleted_and_reported() {
    let (storage, records, segments) = many_segments();
    let next = format!("seg-{:010}.log.tmp", segments + 1);
    storage.set_contents(&next, &[1, 2, 3]);
    // Without background preparation, which would create that file again at once.
    let (log, report) =
        FileLog::open_with(Arc::new(storage.clone()), fund_id, options().with_prepare_ahead(false)).expect("open");
    assert_eq!(report.removed_temp_files, vec![next.clone()]);
    assert!(storage.contents(&next).is_none());
    assert_eq!(log.segment_count(), segments);
    assert_eq!(block_on(read_all(&log)), records);
}
