//! Runs the public contract suite against every embedded backend: memory, file on a real
//! directory, and file on the in-memory storage seam.

#![allow(non_upper_case_globals)] // limits named with their unit, as in the crate

use std::sync::Arc;

use fundledger_store::contract::{self, Harness};
use fundledger_store::file::FileOptions;
use fundledger_store::testing::{MemStorage, TempDir};
use fundledger_store::{FileLog, MemoryLog, block_on};

/// Small segments, so the suite crosses many segment boundaries.
const segment_bytes_test: u64 = 256 << 10;

struct MemoryHarness;

impl Harness for MemoryHarness {
    type Log = MemoryLog;

    async fn fresh(&mut self, fund_id: &str) -> MemoryLog {
        MemoryLog::new(fund_id).expect("memory log")
    }

    async fn reopen(&mut self, log: MemoryLog) -> MemoryLog {
        // Memory has no restart; the same log must still satisfy everything.
        log
    }
}

struct DirHarness {
    dirs: Vec<TempDir>,
}

impl Harness for DirHarness {
    type Log = FileLog;

    async fn fresh(&mut self, fund_id: &str) -> FileLog {
        let dir = TempDir::new("contract").expect("temp dir");
        let (log, report) =
            FileLog::open(dir.path(), fund_id, FileOptions::default().with_segment_bytes(segment_bytes_test))
                .expect("open");
        assert!(report.created && report.truncated.is_none());
        self.dirs.push(dir);
        log
    }

    async fn reopen(&mut self, log: FileLog) -> FileLog {
        let dir = log.dir().to_path_buf();
        let fund_id = log.fund_id_owned();
        drop(log);
        let (log, report) =
            FileLog::open(&dir, &fund_id, FileOptions::default().with_segment_bytes(segment_bytes_test))
                .expect("reopen");
        assert_eq!(report, Default::default(), "a clean reopen must report nothing");
        log
    }
}

struct MemStorageHarness {
    storages: Vec<MemStorage>,
}

impl Harness for MemStorageHarness {
    type Log = FileLog;

    async fn fresh(&mut self, fund_id: &str) -> FileLog {
        let storage = MemStorage::new();
        let (log, _) = FileLog::open_with(
            Arc::new(storage.clone()),
            fund_id,
            FileOptions::default().with_segment_bytes(segment_bytes_test),
        )
        .expect("open");
        self.storages.push(storage);
        log
    }

    async fn reopen(&mut self, log: FileLog) -> FileLog {
        let fund_id = log.fund_id_owned();
        // Find the storage this log lives on: the most recent one (the suite reopens the log it
        // just made). A power loss after clean appends must lose nothing: everything was synced.
        let storage = self.storages.last().expect("a storage").clone();
        drop(log);
        storage.crash_power();
        let (log, report) = FileLog::open_with(
            Arc::new(storage),
            &fund_id,
            FileOptions::default().with_segment_bytes(segment_bytes_test),
        )
        .expect("reopen");
        assert_eq!(report, Default::default(), "a clean reopen must report nothing");
        log
    }
}

#[test]
fn memory_log_meets_the_contract() {
    block_on(contract::run_all(&mut MemoryHarness));
}

#[test]
fn file_log_on_a_directory_meets_the_contract() {
    block_on(contract::run_all(&mut DirHarness { dirs: Vec::new() }));
}

#[test]
fn file_log_on_memory_storage_meets_the_contract_across_power_loss() {
    block_on(contract::run_all(&mut MemStorageHarness { storages: Vec::new() }));
}
