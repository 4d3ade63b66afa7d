//! Property tests: random append / read / stale-append / reopen / power-loss sequences against a
//! `Vec` model, on the file log (tiny segments, in-memory storage) and the memory log at once.

#![allow(non_upper_case_globals)] // limits named with their unit, as in the crate

use std::sync::Arc;

use fundledger_store::chain::link;
use fundledger_store::contract::{fund_id, read_all};
use fundledger_store::file::FileOptions;
use fundledger_store::segment::segment_header_bytes;
use fundledger_store::testing::MemStorage;
use fundledger_store::{
    AppendBatch, EventLog, FileLog, MemoryLog, Position, Record, RecordBatch, StoreError, block_on, genesis,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<(i64, Vec<u8>)>),
    StaleAppend(u64),
    Read(u64),
    Reopen,
    PowerLoss,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => prop::collection::vec((any::<i64>(), prop::collection::vec(any::<u8>(), 0..120)), 1..6).prop_map(Op::Append),
        1 => (1u64..5).prop_map(Op::StaleAppend),
        3 => any::<u64>().prop_map(Op::Read),
        1 => Just(Op::Reopen),
        1 => Just(Op::PowerLoss),
    ]
}

fn options() -> FileOptions {
    // 4 KiB of records per segment: a few batches each, so rolls are frequent.
    FileOptions::default().with_segment_bytes(2 * segment_header_bytes)
}

fn check_read<L: EventLog>(log: &L, model: &[Record], from: Position) {
    let head = model.len() as Position;
    let result = block_on(log.read(from, RecordBatch::new()));
    if from == 0 {
        assert!(matches!(result, Err(StoreError::Invalid(_))));
    } else if from > head + 1 {
        assert!(matches!(result, Err(StoreError::BeyondHead { .. })), "{result:?}");
    } else {
        let batch = result.expect("read");
        if from == head + 1 {
            assert!(batch.is_empty());
        } else {
            assert!(!batch.is_empty());
            for (index, view) in batch.iter().enumerate() {
                assert_eq!(view.to_record(), model[from as usize - 1 + index]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn logs_behave_like_a_vec(ops in prop::collection::vec(op(), 1..25)) {
        let storage = MemStorage::new();
        let open = |storage: &MemStorage| {
            FileLog::open_with(Arc::new(storage.clone()), fund_id, options()).expect("open").0
        };
        let mut file = open(&storage);
        let memory = MemoryLog::new(fund_id).expect("memory log");
        let mut model: Vec<Record> = Vec::new();
        for op in ops {
            match op {
                Op::Append(records) => {
                    let mut batch = AppendBatch::new();
                    for (time, payload) in &records {
                        batch.push(*time, payload);
                    }
                    let head = model.len() as Position;
                    let from_file = block_on(file.append(head, &batch)).expect("file append");
                    let from_memory = block_on(memory.append(head, &batch)).expect("memory append");
                    for (time, payload) in records {
                        let position = model.len() as Position + 1;
                        let prev = model.last().map_or(genesis(fund_id), |record| record.hash);
                        let hash = link(&prev, position, time, &payload);
                        model.push(Record { position, recorded_time_us: time, payload, hash });
                    }
                    prop_assert_eq!(from_file, from_memory);
                    prop_assert_eq!(from_file.head.hash, model.last().expect("records").hash);
                    prop_assert_eq!(from_file.first, head + 1);
                }
                Op::StaleAppend(behind) => {
                    let head = model.len() as Position;
                    let stale = head.wrapping_sub(behind).min(head + behind);
                    let mut batch = AppendBatch::new();
                    batch.push(0, b"stale");
                    let is_conflict = |result| matches!(result, Err(StoreError::Conflict { .. }));
                    prop_assert!(is_conflict(block_on(file.append(stale, &batch))));
                    prop_assert!(is_conflict(block_on(memory.append(stale, &batch))));
                }
                Op::Read(seed) => {
                    let from = seed % (model.len() as u64 + 3);
                    check_read(&file, &model, from);
                    check_read(&memory, &model, from);
                }
                Op::Reopen => {
                    drop(file);
                    file = open(&storage);
                }
                Op::PowerLoss => {
                    // Every acknowledged append was synced: a power loss loses nothing.
                    drop(file);
                    storage.crash_power();
                    file = open(&storage);
                }
            }
        }
        prop_assert_eq!(block_on(read_all(&file)), model.clone());
        prop_assert_eq!(block_on(read_all(&memory)), model);
    }
}

proptest! {
    /// Three frames' CRCs computed together are each frame's own CRC, whatever the lengths
    /// (equal or not, multiples of eight or not) and contents.
    #[test]
    fn three_crcs_at_once_are_the_crcs_one_at_a_time(
        frames in prop::array::uniform3(prop::collection::vec(any::<u8>(), fundledger_store::frame::frame_overhead_bytes..700))
    ) {
        let [a, b, c] = &frames;
        let together = fundledger_store::frame::frame_crc3([a, b, c]);
        let alone = [a, b, c].map(|f| fundledger_store::frame::frame_crc(f));
        prop_assert_eq!(together, alone);
    }
}
