//! The fences against a second writer: the expected-head check on every append, and the lock
//! file that a second open of the same directory cannot take (flock locks belong to the open
//! file, so a second open in the same process is refused exactly like another process).

use fundledger_store::contract::{fund_id, sample_batch};
use fundledger_store::file::FileOptions;
use fundledger_store::storage::lock_file_name;
use fundledger_store::testing::TempDir;
use fundledger_store::{EventLog, FileLog, StoreError, block_on};

/// 1 MiB segments keep the zero-fill of each new segment quick.
fn small() -> FileOptions {
    FileOptions::default().with_segment_bytes(1 << 20)
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_with_dir_and_pid() {
    let dir = TempDir::new("fence").expect("temp dir");
    let (first, _) = FileLog::open(dir.path(), fund_id, small()).expect("first open");
    let pid = std::process::id().to_string();
    assert_eq!(std::fs::read_to_string(dir.path().join(lock_file_name)).expect("lock file").trim(), pid);
    match FileLog::open(dir.path(), fund_id, small()) {
        Err(err @ StoreError::Locked { .. }) => {
            let message = err.to_string();
            let StoreError::Locked { dir: locked_dir, holder_pid } = err else { unreachable!() };
            assert_eq!(locked_dir, dir.path());
            assert_eq!(holder_pid, pid);
            assert!(message.contains(&dir.path().display().to_string()) && message.contains(&pid), "{message}");
        }
        Err(other) => panic!("second open must be refused as locked, got {other}"),
        Ok(_) => panic!("second open of a locked directory succeeded"),
    }
    // The first writer is unaffected; once it is gone the directory opens again.
    block_on(first.append(0, &sample_batch(1, 2))).expect("first writer appends");
    drop(first);
    let (again, _) = FileLog::open(dir.path(), fund_id, small()).expect("reopen after release");
    assert_eq!(block_on(again.head()).expect("head").position, 2);
}

#[test]
fn a_writer_with_a_stale_head_is_refused_and_changes_nothing() {
    let dir = TempDir::new("fence").expect("temp dir");
    let (log, _) = FileLog::open(dir.path(), fund_id, small()).expect("open");
    // Two writers that both believe the head is 0: the first wins, the second is fenced off.
    let winner = block_on(log.append(0, &sample_batch(1, 3))).expect("first writer");
    match block_on(log.append(0, &sample_batch(2, 3))) {
        Err(StoreError::Conflict { expected: 0, actual: 3 }) => {}
        other => panic!("second writer must conflict, got {other:?}"),
    }
    assert_eq!(block_on(log.head()).expect("head"), winner.head);
    drop(log);
    let (log, report) = FileLog::open(dir.path(), fund_id, small()).expect("reopen");
    assert!(report.truncated.is_none());
    assert_eq!(block_on(log.head()).expect("head"), winner.head, "the refused batch left no trace");
}
