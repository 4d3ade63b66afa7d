//! Appends write whole pages, and new segments are zero-filled around the page cache: the two
//! halves of keeping the device from being read inside a commit.

#![allow(non_upper_case_globals)] // limits named with their unit, as in the crate

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use fundledger_store::contract::{fund_id, read_all, sample_batch};
use fundledger_store::file::FileOptions;
use fundledger_store::storage::{DirStorage, Storage, ZeroFill};
use fundledger_store::testing::{Fault, FaultyStorage, MemStorage};
use fundledger_store::{EventLog, FileLog, Position, block_on};

const segment_bytes: u64 = 64 << 10;

fn options() -> FileOptions {
    FileOptions::default()
        .with_segment_bytes(segment_bytes)
        .with_prepare_ahead(false)
        .with_writeback_chunk_bytes(8 << 10)
}

/// Appends batches of 1 to 400 records (some larger than a write chunk, some crossing a segment
/// boundary) and returns every write the log made.
fn append_varied(log: &FileLog, faulty: &FaultyStorage, batches: u64) -> Vec<(u64, usize)> {
    faulty.arm(Fault::None);
    for seed in 0..batches {
        let head: Position = block_on(log.head()).expect("head").position;
        let count = [1, 3, 17, 400, 2, 90][seed as usize % 6];
        block_on(log.append(head, &sample_batch(seed, count))).expect("append");
    }
    faulty.writes()
}

fn assert_whole_pages(writes: &[(u64, usize)]) {
    let page = FileOptions::default().page_bytes;
    // Offset 0 is a file's beginning: a segment header (a whole page), or a small summary file.
    let record_writes: Vec<_> = writes.iter().filter(|(offset, _)| *offset > 0).collect();
    assert!(record_writes.len() > 40, "the workload makes record writes ({})", record_writes.len());
    for &&(offset, len) in &record_writes {
        assert!(offset.is_multiple_of(page), "a write at {offset} starts inside a page");
        let end = offset + len as u64;
        assert!(end.is_multiple_of(page) || end == segment_bytes, "a write ending at {end} ends inside a page");
    }
}

#[test]
fn appends_write_whole_pages_and_read_back_the_same() {
    let storage = MemStorage::new();
    let faulty = FaultyStorage::new(Arc::new(storage.clone()));
    let (log, _) = FileLog::open_with(Arc::new(faulty.clone()), fund_id, options()).expect("open");
    let writes = append_varied(&log, &faulty, 60);
    assert!(log.segment_count() > 2, "the workload crosses segment boundaries");
    assert_whole_pages(&writes);
    let records = block_on(read_all(&log));
    drop(log);

    // Reopened mid-page, the log carries that page's bytes into its next write, unchanged.
    let faulty = FaultyStorage::new(Arc::new(storage.clone()));
    let (log, report) = FileLog::open_with(Arc::new(faulty.clone()), fund_id, options()).expect("reopen");
    assert_eq!(report, Default::default());
    assert_eq!(block_on(read_all(&log)), records);
    let more = append_varied(&log, &faulty, 30);
    assert_whole_pages(&more);
    let all = block_on(read_all(&log));
    assert_eq!(all[..records.len()], records[..], "earlier records are unchanged");
    fundledger_store::chain::verify_log(&log, 1).expect("the chain verifies");
}

#[test]
fn page_sizes_that_do_not_divide_the_header_are_refused() {
    for page_bytes in [0, 3, 8192] {
        let err = FileLog::open_with(Arc::new(MemStorage::new()), fund_id, options().with_page_bytes(page_bytes))
            .expect_err("refused");
        assert!(err.to_string().contains("page_bytes"), "{err}");
    }
}

/// Whether a file in `dir` takes direct IO the way `write_zeros` asks for it: `O_DIRECT` turned
/// on with `fcntl`, then an aligned write from an aligned buffer (tmpfs and some other file
/// systems refuse).
fn direct_io_allowed(dir: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    let probe = std::fs::File::create(dir.join("direct-probe")).expect("probe");
    let fd = probe.as_raw_fd();
    // SAFETY: plain fcntl calls on a file descriptor this function owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) } != 0 {
        return false;
    }
    let buffer = vec![0u8; 2 * 4096];
    let start = buffer.as_ptr().align_offset(4096);
    probe.write_all_at(&buffer[start..start + 4096], 0).is_ok()
}

#[test]
fn write_zeros_fills_and_extends_a_real_file_and_leaves_it_usable() {
    // Under the target directory, which is on a disk file system where /tmp may be tmpfs.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let storage = DirStorage::new(dir.path()).expect("storage");
    // Not a multiple of the direct-IO alignment: the tail goes through the page cache.
    let len = (1 << 20) + 3 * 4096 + 100;
    let file = storage.create("zeros").expect("create");
    std::fs::write(dir.path().join("zeros"), [7u8; 10]).expect("write");
    let how = file.write_zeros(len).expect("write zeros");
    let expected = if direct_io_allowed(dir.path()) { ZeroFill::Direct } else { ZeroFill::ThroughCache };
    assert_eq!(how, expected, "direct IO is used wherever the file system allows it");
    let bytes = std::fs::read(dir.path().join("zeros")).expect("read");
    assert_eq!(bytes.len() as u64, len);
    assert!(bytes.iter().all(|&b| b == 0), "every byte is zero, the old ones too");
    // Ordinary unaligned writes work afterwards (direct IO was switched off again).
    file.write_all_at(b"abc", 5).expect("unaligned write");
    let reopened = std::fs::File::open(dir.path().join("zeros")).expect("open");
    let mut three = [0u8; 3];
    reopened.read_exact_at(&mut three, 5).expect("read");
    assert_eq!(&three, b"abc");
}
