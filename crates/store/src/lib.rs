//! The append-only, hash-chained log. Knows bytes, positions and hashes; knows nothing of the fund.
//!
//! Map of the crate:
//! - [`log`]: the [`EventLog`] contract every backend implements (and why it is shaped as it is);
//! - [`chain`]: the SHA-256 hash chain, computed here once for every backend, and its verifier;
//! - [`record`]: batches going in ([`AppendBatch`]) and coming out ([`RecordBatch`]);
//! - [`frame`]: the byte layout of one record, shared by every backend (see `docs/format.md`);
//! - [`watch`]: head-moved notification for blocking and async waiters;
//! - [`memory`]: the log in RAM ([`MemoryLog`]);
//! - [`file`]: the default embedded log, a directory of preallocated segment files ([`FileLog`]);
//! - [`segment`]: segment headers, summaries and the recovery scan of the file log;
//! - [`storage`]: the IO seam under the file log (real directory, in-memory, fault-injecting);
//! - [`testing`]: fault injection and helpers for tests of this and later crates;
//! - [`contract`]: the behaviour suite every backend must pass, public so other backends reuse it.
//!
//! ```
//! use fundledger_store::{AppendBatch, EventLog, FileLog, FileOptions, RecordBatch, block_on, chain};
//!
//! let dir = fundledger_store::testing::TempDir::new("doc").unwrap();
//! let (log, report) = FileLog::open(dir.path(), "CN-620000-work-injury", FileOptions::default()).unwrap();
//! assert!(report.created);
//! let mut batch = AppendBatch::new();
//! batch.push(1_767_225_600_000_000, b"event-1").push(1_767_225_600_000_001, b"event-2");
//! // The writer thread calls this; it returns once the batch is durable (one write, one sync).
//! let appended = block_on(log.append(0, &batch)).unwrap();
//! assert_eq!(appended.positions(), 1..=2);
//! let records = block_on(log.read(1, RecordBatch::new())).unwrap();
//! assert_eq!(records.get(1).payload(), b"event-2");
//! assert_eq!(chain::verify_log(&log, 2).unwrap().head, appended.head);
//! ```
//!
//! `testing` and `contract` are always compiled: they have no dependencies of their own, and later
//! crates' tests (engine crash tests, the EventStoreDB backend) use them without feature juggling.

// Limits are named in lower snake case with their unit (`segment_bytes_default`), as in the
// project's style guide (after TigerBeetle), so they read like the quantities they are.
#![allow(non_upper_case_globals)]

pub mod chain;
pub mod contract;
pub mod error;
pub mod file;
pub mod frame;
pub mod log;
pub mod memory;
pub mod record;
pub mod segment;
pub mod storage;
pub mod testing;
pub mod watch;

pub use chain::{Hash, genesis};
pub use error::{Corruption, StoreError};
pub use file::{FileLog, FileOptions, Preallocation, RecoveryReport};
pub use log::{EventLog, block_on, for_each_batch};
pub use memory::MemoryLog;
pub use record::{AppendBatch, Appended, Head, Position, Record, RecordBatch, RecordView};
pub use watch::{HeadNotifier, HeadWatch};

/// Largest payload of one record, in bytes. Events are small; a megabyte means a bug upstream.
pub const payload_bytes_max: usize = 1 << 20;
/// Most records one append may carry. Bounds the writer's buffer and the time a batch holds the log.
pub const batch_records_max: usize = 100_000;
/// Most framed bytes one append may carry. A batch never spans segments, so it must also fit in the
/// record area of one segment (checked against the segment size in use).
pub const batch_bytes_max: usize = 32 << 20;
/// Most records one read returns.
pub const read_batch_records_max: usize = 32_768;
/// Most bytes one read fetches (a single record larger than this is still returned whole).
pub const read_batch_bytes_max: usize = 8 << 20;
/// Most records one read of a mapped (sealed) segment returns. Such a read copies nothing, so
/// it is kept small enough that its frames stay in the second-level cache between the read's
/// CRC pass and the reader's own pass (~0.5 MiB of typical records), and a multiple of the
/// segment index stride, so that consecutive reads start on an index slot and check each frame
/// once.
pub const mapped_read_records_max: usize = 2048;
const _: () = assert!(mapped_read_records_max <= read_batch_records_max);
const _: () = assert!((mapped_read_records_max as u64).is_multiple_of(segment::index_stride_records));
/// Longest fund id, in bytes of UTF-8.
pub const fund_id_bytes_max: usize = 200;
