//! The SHA-256 hash chain: genesis, canonical record bytes, links, and the parallel verifier.
//!
//! Computed here, independent of any backend, so every backend holds the same chain and one
//! verifier checks them all. `docs/format.md` specifies the same bytes for independent auditors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::log::{EventLog, block_on};
use crate::record::{Head, Position, RecordBatch, RecordView};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Domain-separation prefix of the genesis value. Changing it forks every chain: never do.
pub const genesis_prefix: &[u8] = b"fundledger genesis v1\0";

/// The value record 1 links to: SHA-256(genesis_prefix || fund_id as UTF-8).
pub fn genesis(fund_id: &str) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(genesis_prefix);
    hasher.update(fund_id.as_bytes());
    hasher.finalize().into()
}

/// The canonical bytes of a record, which the chain hashes after the previous hash:
/// position u64 LE || recorded_time_us i64 LE || payload_len u32 LE || payload.
pub fn canonical_bytes(position: Position, recorded_time_us: i64, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= u32::MAX as usize, "payload length must fit u32");
    let mut out = Vec::with_capacity(20 + payload.len());
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&recorded_time_us.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// hash = SHA-256(prev_hash || canonical_bytes(record)).
pub fn link(prev: &Hash, position: Position, recorded_time_us: i64, payload: &[u8]) -> Hash {
    assert!(payload.len() <= u32::MAX as usize, "payload length must fit u32");
    // One contiguous update for the fixed-size part keeps sha2's block buffering simple.
    let mut head = [0u8; 52];
    head[..32].copy_from_slice(prev);
    head[32..40].copy_from_slice(&position.to_le_bytes());
    head[40..48].copy_from_slice(&recorded_time_us.to_le_bytes());
    head[48..52].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut hasher = Sha256::new();
    hasher.update(head);
    hasher.update(payload);
    hasher.finalize().into()
}

/// Whether `record`'s stored hash is the link from `prev`.
pub fn links_from(prev: &Hash, record: &RecordView<'_>) -> bool {
    link(prev, record.position(), record.recorded_time_us(), record.payload()) == *record.hash()
}

/// Checks every link in `batch`, the first one against `prev`. Returns the first broken position.
pub fn verify_batch(prev: &Hash, batch: &RecordBatch) -> Result<(), Position> {
    let mut prev = *prev;
    for record in batch.iter() {
        if !links_from(&prev, &record) {
            return Err(record.position());
        }
        prev = *record.hash();
    }
    Ok(())
}

/// What a full chain verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    pub head: Head,
}

/// Reads the whole log and checks every link, from genesis to the head, on `threads` threads.
///
/// Every record stores its own hash, so each link is checkable alone: a batch of records only
/// needs the stored hash of the record before it. The calling thread reads (which also checks
/// CRCs and gapless positions) and hands whole batches to `threads - 1` workers; when they are
/// all busy it verifies the batch itself, so `threads` cores stay busy. Blocking: call it from a
/// thread that may block (it drives the log's futures with [`block_on`]).
pub fn verify_log<L: EventLog + ?Sized>(log: &L, threads: usize) -> Result<Verified, StoreError> {
    verify_log_with_progress(log, threads, &mut |_, _| {})
}

/// [`verify_log`], calling `progress(records read, head)` after each batch is read (for
/// progress bars; verification of the batches read may lag a little behind).
pub fn verify_log_with_progress<L: EventLog + ?Sized>(
    log: &L,
    threads: usize,
    progress: &mut dyn FnMut(Position, Position),
) -> Result<Verified, StoreError> {
    assert!(threads >= 1, "verify_log needs at least one thread");
    let head = block_on(log.head())?;
    let genesis = log.genesis();
    if threads == 1 {
        let mut prev = genesis;
        let mut next: Position = 1;
        let mut batch = RecordBatch::new();
        while next <= head.position {
            batch = block_on(log.read(next, batch))?;
            assert!(!batch.is_empty(), "read below the head returned nothing");
            verify_batch(&prev, &batch).map_err(|position| StoreError::ChainBroken { position })?;
            prev = batch.last_hash();
            next = batch.last_position() + 1;
            progress(next - 1, head.position);
        }
        return finish(prev, next, head);
    }

    let stop = AtomicBool::new(false);
    let workers = threads - 1;
    let batches_in_flight_max = workers;
    let (work_tx, work_rx) = mpsc::sync_channel::<(Hash, RecordBatch)>(batches_in_flight_max);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (free_tx, free_rx) = mpsc::channel::<RecordBatch>();
    let (broken_tx, broken_rx) = mpsc::channel::<Position>();
    let (read_result, prev, next) = std::thread::scope(|scope| {
        for _ in 0..workers {
            let work_rx = &work_rx;
            let free_tx = free_tx.clone();
            let broken_tx = broken_tx.clone();
            let stop = &stop;
            scope.spawn(move || {
                loop {
                    // The lock is held only while waiting for the next batch, not while hashing.
                    let Ok((prev, batch)) = work_rx.lock().expect("verifier queue poisoned").recv() else {
                        return;
                    };
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    if let Err(position) = verify_batch(&prev, &batch) {
                        stop.store(true, Ordering::Relaxed);
                        let _ = broken_tx.send(position);
                    }
                    let _ = free_tx.send(batch);
                }
            });
        }
        let mut prev = genesis;
        let mut next: Position = 1;
        let mut result = Ok(());
        while next <= head.position && !stop.load(Ordering::Relaxed) {
            let batch = free_rx.try_recv().unwrap_or_default();
            match block_on(log.read(next, batch)) {
                Ok(batch) => {
                    assert!(!batch.is_empty(), "read below the head returned nothing");
                    let batch_prev = prev;
                    prev = batch.last_hash();
                    next = batch.last_position() + 1;
                    progress(next - 1, head.position);
                    match work_tx.try_send((batch_prev, batch)) {
                        Ok(()) => {}
                        // Every worker is busy: verify this batch here rather than wait.
                        Err(mpsc::TrySendError::Full((batch_prev, batch))) => {
                            if let Err(position) = verify_batch(&batch_prev, &batch) {
                                stop.store(true, Ordering::Relaxed);
                                let _ = broken_tx.send(position);
                            }
                            let _ = free_tx.send(batch);
                        }
                        Err(mpsc::TrySendError::Disconnected(_)) => unreachable!("workers outlive the reader"),
                    }
                }
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        drop(work_tx);
        (result, prev, next)
    });
    read_result?;
    drop(broken_tx);
    if let Some(position) = broken_rx.iter().min() {
        return Err(StoreError::ChainBroken { position });
    }
    finish(prev, next, head)
}

fn finish(prev: Hash, next: Position, head: Head) -> Result<Verified, StoreError> {
    assert_eq!(next, head.position + 1, "verification stopped short of the head");
    if prev != head.hash {
        return Err(StoreError::ChainBroken { position: head.position });
    }
    Ok(Verified { records: head.position, head })
}

/// Lower-case hex of a hash, for reports and docs.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
