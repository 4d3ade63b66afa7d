//! The storage contract: [`EventLog`], implemented by every backend (memory, file, and later the
//! remote EventStoreDB one).
//!
//! Why one async trait and not a sync core plus an async wrapper: the remote backend is
//! naturally async (a gRPC client), and a sync core would force it to block a thread on a runtime
//! for every call; the embedded backends, conversely, lose nothing by being async, because they
//! finish their (blocking) work inside the call and hand back an already-completed future
//! (`std::future::ready`). So there is exactly one contract and one contract suite. The methods
//! return `impl Future + Send` (no boxing, no runtime dependency in this crate).
//!
//! Blocking: the file and memory backends do their IO *inside* `append`/`read`/`head`, before the
//! future is returned. The engine therefore calls them from its dedicated writer thread (or
//! `spawn_blocking`), never from an async executor's worker thread. [`block_on`] drives any of
//! these futures on the current thread without a runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::chain::{Hash, genesis};
use crate::error::StoreError;
use crate::record::{AppendBatch, Appended, Head, Position, RecordBatch};
use crate::watch::HeadWatch;

/// An append-only, hash-chained log of opaque records.
///
/// Invariants every backend keeps (the [`crate::contract`] suite checks them):
/// - positions are gapless from 1; an append gets consecutive positions after the head;
/// - each record's hash is `chain::link(previous hash, record)`, record 1 linking to `genesis()`;
/// - an append either makes the whole batch durable and returns, or returns an error, in which
///   case none of it is visible to readers until a reopen decides (and then all or none of it is);
/// - the head only moves forward, and every move is published to [`EventLog::watch`] watchers.
pub trait EventLog: Send + Sync {
    /// The fund this log belongs to (it determines the genesis value).
    fn fund_id(&self) -> &str;

    /// The value the first record links to.
    fn genesis(&self) -> Hash {
        genesis(self.fund_id())
    }

    /// Appends `batch` if the head is at `expected_head`, else fails with
    /// [`StoreError::Conflict`] (the fence against a second writer). Durable before it resolves.
    fn append(
        &self,
        expected_head: Position,
        batch: &AppendBatch,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send;

    /// Reads forward from position `from` (>= 1) into `reuse` (its memory is reused): at least
    /// one record if `from <= head`, at most [`crate::read_batch_records_max`] records and about
    /// [`crate::read_batch_bytes_max`] bytes; empty if `from == head + 1`; an error beyond that.
    /// Every record's CRC has been checked; positions are gapless from `from`.
    fn read(&self, from: Position, reuse: RecordBatch) -> impl Future<Output = Result<RecordBatch, StoreError>> + Send;

    /// The durable head.
    fn head(&self) -> impl Future<Output = Result<Head, StoreError>> + Send;

    /// A handle that wakes (blocking or async) waiters when the head moves.
    fn watch(&self) -> HeadWatch;
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the current thread, parking while it is pending.
/// Enough for the embedded backends' ready futures and for [`HeadWatch::changed`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // A wake between poll and park leaves the unpark token set, so park returns at once.
        std::thread::park();
    }
}

/// Reads `log` from `from` to its head, one read at a time, handing each batch of records to
/// `each`; returns how many records were read. For whole-log scans by tools, benchmarks and
/// tests (the engine's replay and rebuild, which stop at an as-of point, have their own loops).
/// Runs the reads with [`block_on`], so not from inside an async runtime's task.
pub fn for_each_batch<L: EventLog + ?Sized>(
    log: &L,
    from: Position,
    mut each: impl FnMut(&RecordBatch),
) -> Result<u64, StoreError> {
    let (mut batch, mut next, mut records) = (RecordBatch::new(), from, 0u64);
    loop {
        batch = block_on(log.read(next, batch))?;
        if batch.is_empty() {
            return Ok(records);
        }
        each(&batch);
        records += batch.len() as u64;
        next = batch.last_position() + 1;
    }
}
