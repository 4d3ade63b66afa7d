//! Corruption tests: a flipped bit in every field of a record (length, CRC, position, time,
//! flags, payload, hash) is found, at the right position, wherever the record lies: mid-segment,
//! at the very tail, or in a sealed segment (by the read path, and by open once the summary is
//! gone). A forger who fixes the CRC is caught by the chain.

#![allow(non_upper_case_globals)] // limits named with their unit, as in the crate

use std::ops::Range;
use std::sync::Arc;

use fundledger_store::chain::{self, link};
use fundledger_store::contract::{fund_id, read_all};
use fundledger_store::error::Corruption;
use fundledger_store::file::FileOptions;
use fundledger_store::frame::{self, frame_bytes};
use fundledger_store::segment::{segment_header_bytes, segment_name, summary_name};
use fundledger_store::testing::{MemStorage, TempDir, flip_bit_in_file};
use fundledger_store::{AppendBatch, EventLog, FileLog, Position, RecordBatch, StoreError, block_on, for_each_batch};

const payload_len: usize = 6;

fn options() -> FileOptions {
    FileOptions::default().with_segment_bytes(2 * segment_header_bytes)
}

/// Writes `count` records (one batch each) of `payload_len` bytes; returns the storage.
fn log_with(count: u64) -> MemStorage {
    let storage = MemStorage::new();
    let (log, _) = FileLog::open_with(Arc::new(storage.clone()), fund_id, options()).expect("open");
    for position in 1..=count {
        let mut batch = AppendBatch::new();
        batch.push(position as i64 * 10, &[position as u8; payload_len]);
        block_on(log.append(position - 1, &batch)).expect("append");
    }
    storage
}

/// Where record `position` sits, given one-record batches of equal size from segment 1.
fn place(position: Position) -> (u64, u64) {
    let frame = frame_bytes(payload_len) as u64;
    let per_segment = (options().segment_bytes - segment_header_bytes) / frame;
    let index = (position - 1) / per_segment + 1;
    let offset = segment_header_bytes + (position - 1) % per_segment * frame;
    (index, offset)
}

/// The fields of a frame, as byte ranges.
fn fields() -> Vec<(&'static str, Range<usize>)> {
    let payload_end = 28 + payload_len;
    vec![
        ("length", 0..4),
        ("crc", 4..8),
        ("position", 8..16),
        ("recorded_time", 16..24),
        ("flags", 24..28),
        ("payload", 28..payload_end),
        ("hash", payload_end..payload_end + 32),
    ]
}

fn open(storage: &MemStorage) -> Result<(FileLog, fundledger_store::RecoveryReport), StoreError> {
    FileLog::open_with(Arc::new(storage.clone()), fund_id, options())
}

fn assert_corrupt_at(
    result: Result<impl std::fmt::Debug, StoreError>,
    segment: u64,
    offset: u64,
    position: Position,
    what: &str,
) {
    match result {
        Err(StoreError::Corrupt { segment: s, offset: o, position: p, .. }) => {
            assert_eq!((s, o, p), (segment, offset, position), "{what}: wrong place reported");
        }
        other => panic!("{what}: expected a corruption error, got {other:?}"),
    }
}

#[test]
fn every_bit_of_every_field_of_a_mid_segment_record_is_detected_on_open() {
    let storage = log_with(40);
    let target = 37; // in the last segment, with records after it
    let (segment, offset) = place(target);
    assert_eq!(segment, place(40).0, "target must be in the last segment");
    for (field, range) in fields() {
        for byte in range {
            for bit in 0..8 {
                let name = segment_name(segment);
                storage.flip_bit(&name, offset + byte as u64, bit);
                let what = format!("{field} byte {byte} bit {bit}");
                assert_corrupt_at(open(&storage), segment, offset, target, &what);
                storage.flip_bit(&name, offset + byte as u64, bit);
            }
        }
    }
    open(&storage).expect("undamaged again");
}

#[test]
fn a_damaged_final_record_is_never_silently_dropped() {
    let storage = log_with(40);
    let (segment, offset) = place(40);
    for (field, range) in fields() {
        for byte in range {
            for bit in 0..8 {
                let name = segment_name(segment);
                let copy = storage.contents(&name).expect("segment");
                storage.flip_bit(&name, offset + byte as u64, bit);
                let what = format!("{field} byte {byte} bit {bit}");
                match open(&storage) {
                    // Detected as damage, at the right place.
                    Err(StoreError::Corrupt { segment: s, offset: o, position: p, .. }) => {
                        assert_eq!((s, o, p), (segment, offset, 40), "{what}");
                    }
                    // A length flipped upwards makes the record look like a torn write; it may
                    // be dropped, but only loudly, in the recovery report.
                    Ok((log, report)) => {
                        assert_eq!(field, "length", "{what}: only a length flip may look torn");
                        let torn = report.truncated.expect("dropping the record must be reported");
                        assert_eq!(torn.first_dropped_position, 40, "{what}");
                        assert_eq!(block_on(log.head()).expect("head").position, 39);
                    }
                    Err(other) => panic!("{what}: unexpected {other}"),
                }
                storage.set_contents(&name, &copy);
            }
        }
    }
}

#[test]
fn damage_in_a_sealed_segment_is_found_by_reads_and_by_open_without_summary() {
    let storage = log_with(150);
    let target = 20;
    let (segment, offset) = place(target);
    assert!(segment < place(150).0, "target must be in a sealed segment");
    for (field, range) in fields() {
        let byte = range.start + range.len() / 2;
        let name = segment_name(segment);
        storage.flip_bit(&name, offset + byte as u64, 3);
        // With its summary, open trusts the sealed segment; every read checks CRCs.
        let (log, report) = open(&storage).expect("open trusts the summary");
        assert!(report.scanned_segments.is_empty());
        assert_corrupt_at(block_on(log.read(target, RecordBatch::new())), segment, offset, target, field);
        assert_corrupt_at(block_on(log.read(1, RecordBatch::new())), segment, offset, target, field);
        assert!(chain::verify_log(&log, 2).is_err(), "{field}: verification must fail");
        // A read that starts after the damage is unaffected.
        let later_position = 100;
        assert!(place(later_position).0 > segment);
        let later = block_on(log.read(later_position, RecordBatch::new())).expect("later read");
        assert!(!later.is_empty());
        drop(log);
        // Without its summary, open scans the segment and refuses.
        let summary = storage.contents(&summary_name(segment)).expect("summary");
        storage.delete(&summary_name(segment));
        assert_corrupt_at(open(&storage), segment, offset, target, field);
        storage.set_contents(&summary_name(segment), &summary);
        storage.flip_bit(&name, offset + byte as u64, 3);
    }
    let (log, _) = open(&storage).expect("undamaged again");
    chain::verify_log(&log, 2).expect("verifies");
}

/// Rewrites record `position`'s frame with `edit` applied and the CRC recomputed.
fn forge(storage: &MemStorage, position: Position, edit: impl Fn(&mut [u8])) {
    let (segment, offset) = place(position);
    let name = segment_name(segment);
    let mut bytes = storage.contents(&name).expect("segment");
    let frame = &mut bytes[offset as usize..offset as usize + frame_bytes(payload_len)];
    edit(frame);
    let crc = frame::frame_crc(frame);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    storage.set_contents(&name, &bytes);
}

#[test]
fn a_forged_record_with_a_valid_crc_breaks_the_chain() {
    // Payload changed, CRC fixed: open's scan of the last segment sees the broken link.
    let storage = log_with(40);
    forge(&storage, 38, |frame| frame[28] ^= 1);
    let (segment, offset) = place(38);
    match open(&storage) {
        Err(StoreError::Corrupt { segment: s, offset: o, position: 38, reason: Corruption::ChainLink, .. }) => {
            assert_eq!((s, o), (segment, offset));
        }
        other => panic!("expected a chain break at 38, got {other:?}"),
    }

    // The same in a sealed segment: open trusts the summary, the verifier finds the position.
    let storage = log_with(150);
    forge(&storage, 20, |frame| frame[28] ^= 1);
    let (log, _) = open(&storage).expect("open");
    assert!(matches!(chain::verify_log(&log, 1), Err(StoreError::ChainBroken { position: 20 })));
    assert!(matches!(chain::verify_log(&log, 2), Err(StoreError::ChainBroken { position: 20 })));

    // A position rewritten (a gap), CRC fixed: refused with the expected position.
    let storage = log_with(40);
    forge(&storage, 38, |frame| frame[8] ^= 4);
    match open(&storage) {
        Err(StoreError::Corrupt { position: 38, reason: Corruption::PositionGap { expected: 38, .. }, .. }) => {}
        other => panic!("expected a position gap at 38, got {other:?}"),
    }
}

#[test]
fn damage_in_a_real_file_is_detected() {
    let dir = TempDir::new("corruption").expect("temp dir");
    {
        let (log, _) = FileLog::open(dir.path(), fund_id, options()).expect("open");
        for position in 1..=10u64 {
            let mut batch = AppendBatch::new();
            batch.push(position as i64, &[7; payload_len]);
            block_on(log.append(position - 1, &batch)).expect("append");
        }
        assert_eq!(block_on(read_all(&log)).len(), 10);
    }
    let (segment, offset) = place(5);
    flip_bit_in_file(&dir.path().join(segment_name(segment)), offset + 40, 0).expect("flip");
    assert_corrupt_at(FileLog::open(dir.path(), fund_id, options()), segment, offset, 5, "payload in a real file");
}

#[test]
fn damage_in_a_mapped_sealed_segment_is_found_by_reads() {
    // On real files, sealed segments are read in place (mapped), not copied: the same checks,
    // the same errors, the same place reported.
    let dir = TempDir::new("corruption-mapped").expect("temp dir");
    let records = 150;
    {
        let (log, _) = FileLog::open(dir.path(), fund_id, options()).expect("open");
        for position in 1..=records {
            let mut batch = AppendBatch::new();
            batch.push(position as i64 * 10, &[position as u8; payload_len]);
            block_on(log.append(position - 1, &batch)).expect("append");
        }
    }
    let (log, _) = FileLog::open(dir.path(), fund_id, options()).expect("reopen");
    let before = block_on(read_all(&log));
    assert_eq!(before.len() as u64, records);
    assert!(before.iter().enumerate().all(|(i, r)| r.position == i as u64 + 1 && r.payload[0] == (i + 1) as u8));
    let sealed = place(records).0 - 1;
    assert_eq!(log.mapped_segments() as u64, sealed, "every sealed segment read is mapped");
    drop(log);
    let target = 20;
    let (segment, offset) = place(target);
    assert!(segment <= sealed);
    for (field, range) in fields() {
        let byte = offset + (range.start + range.len() / 2) as u64;
        let path = dir.path().join(segment_name(segment));
        flip_bit_in_file(&path, byte, 5).expect("flip");
        let (log, _) = FileLog::open(dir.path(), fund_id, options()).expect("open trusts the summary");
        assert_corrupt_at(block_on(log.read(target, RecordBatch::new())), segment, offset, target, field);
        assert_corrupt_at(block_on(log.read(1, RecordBatch::new())), segment, offset, target, field);
        assert!(log.mapped_segments() > 0, "{field}: the damaged segment was read in place");
        let later = block_on(log.read(100, RecordBatch::new())).expect("a later read is unaffected");
        assert_eq!(later.first_position(), 100);
        drop(log);
        flip_bit_in_file(&path, byte, 5).expect("flip back");
    }
    let (log, _) = FileLog::open(dir.path(), fund_id, options()).expect("undamaged again");
    assert_eq!(block_on(read_all(&log)), before);
}

#[test]
fn mapped_reads_are_bounded_and_read_every_record_once() {
    let dir = TempDir::new("mapped-reads").expect("temp dir");
    let options = FileOptions::default().with_segment_bytes(512 << 10);
    let (log, _) = FileLog::open(dir.path(), fund_id, options).expect("open");
    let records = 20_000u64;
    for start in (1..=records).step_by(1000) {
        let mut batch = AppendBatch::new();
        for position in start..start + 1000 {
            batch.push(position as i64, &position.to_le_bytes());
        }
        block_on(log.append(start - 1, &batch)).expect("append");
    }
    let (mut next, mut sizes) = (1, Vec::new());
    let read = for_each_batch(&log, 1, |batch| {
        for (i, view) in batch.iter().enumerate() {
            assert_eq!(view.position(), next + i as u64);
            assert_eq!(view.payload(), &view.position().to_le_bytes());
        }
        sizes.push(batch.len());
        next = batch.last_position() + 1;
    })
    .expect("read");
    assert_eq!(read, records);
    assert!(log.mapped_segments() >= 2, "the sealed segments were read in place");
    // Every read but the last is of a sealed segment; the last reads the active one by copy.
    let (active, sealed) = sizes.split_last().expect("reads");
    assert!(sealed.iter().all(|&n| n <= fundledger_store::mapped_read_records_max), "{sizes:?}");
    assert!(*active > fundledger_store::mapped_read_records_max, "{sizes:?}");
    assert!(sizes.contains(&fundledger_store::mapped_read_records_max), "{sizes:?}");
}

#[test]
fn a_log_of_another_fund_is_refused() {
    let storage = log_with(3);
    match FileLog::open_with(Arc::new(storage.clone()), "CN-510000-work-injury", options()) {
        Err(StoreError::FundMismatch { expected, found, .. }) => {
            assert_eq!((expected.as_str(), found.as_str()), ("CN-510000-work-injury", fund_id));
        }
        other => panic!("expected a fund mismatch, got {other:?}"),
    }
    // The right fund still opens it, and the chain starts at that fund's genesis.
    let (log, _) = open(&storage).expect("open");
    let first = block_on(log.read(1, RecordBatch::new())).expect("read");
    let view = first.get(0);
    assert_eq!(*view.hash(), link(&fundledger_store::genesis(fund_id), 1, view.recorded_time_us(), view.payload()));
}
