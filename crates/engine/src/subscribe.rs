//! Reading the log as a stream: a reader from one position to another (audit reads), and a
//! catch-up subscription that reads stored history and then follows live appends.
//!
//! A subscription reads the log itself and waits on the log's head watch, so it can neither miss
//! nor repeat a record (it always asks for `last + 1`) and it never holds the writer back. Once it
//! has caught up, a subscriber that falls more than `lag_records_max` behind the head is cut off
//! with a reason, so a stalled client cannot pin resources forever.

use std::collections::VecDeque;
use std::sync::Arc;

use fundledger_domain::Recorded;
use fundledger_store::{EventLog, Hash, HeadWatch, RecordBatch, StoreError, block_on};

/// One stored record with everything an auditor needs to re-verify the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub position: u64,
    pub recorded_time_us: i64,
    pub prev_hash: Hash,
    pub hash: Hash,
    /// The payload exactly as stored (a protobuf `StoredRecord`).
    pub payload: Vec<u8>,
    pub recorded: Recorded,
}

/// Why a read or subscription ended.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("log record at position {position} cannot be decoded: {message}")]
    Decode { position: u64, message: String },
    #[error("subscription cut off: {behind} records behind the head, more than the limit of {limit}")]
    TooSlow { behind: u64, limit: u64 },
}

/// Reads records forward from a position, with their previous hashes.
pub struct LogReader<L: EventLog + ?Sized> {
    log: Arc<L>,
    next: u64,
    prev_hash: Hash,
    batch: RecordBatch,
    buffered: VecDeque<StoredRecord>,
}

impl<L: EventLog + ?Sized> LogReader<L> {
    /// A reader whose first record is `from` (>= 1).
    pub fn new(log: Arc<L>, from: u64) -> Result<LogReader<L>, StreamError> {
        let from = from.max(1);
        let prev_hash = if from == 1 {
            log.genesis()
        } else {
            let batch = block_on(log.read(from - 1, RecordBatch::new()))?;
            if batch.is_empty() {
                return Err(StoreError::BeyondHead { from, head: from - 2 }.into());
            }
            *batch.get(0).hash()
        };
        Ok(LogReader { log, next: from, prev_hash, batch: RecordBatch::new(), buffered: VecDeque::new() })
    }

    /// The position of the next record this reader returns.
    pub fn next_position(&self) -> u64 {
        self.next - self.buffered.len() as u64
    }

    /// The next record at or before `head`, or `None` when the reader has reached it.
    pub fn next_up_to(&mut self, head: u64) -> Result<Option<StoredRecord>, StreamError> {
        if self.buffered.is_empty() && self.next <= head {
            self.fill()?;
        }
        match self.buffered.front() {
            Some(r) if r.position <= head => Ok(self.buffered.pop_front()),
            _ => Ok(None),
        }
    }

    fn fill(&mut self) -> Result<(), StreamError> {
        let batch = std::mem::take(&mut self.batch);
        self.batch = block_on(self.log.read(self.next, batch))?;
        for view in self.batch.iter() {
            let position = view.position();
            let recorded = fundledger_wire::decode_record(view.payload())
                .map_err(|e| StreamError::Decode { position, message: e.to_string() })?;
            let hash = *view.hash();
            self.buffered.push_back(StoredRecord {
                position,
                recorded_time_us: view.recorded_time_us(),
                prev_hash: self.prev_hash,
                hash,
                payload: view.payload().to_vec(),
                recorded,
            });
            self.prev_hash = hash;
            self.next = position + 1;
        }
        Ok(())
    }
}

/// Catch-up, then live.
pub struct Subscription<L: EventLog + ?Sized> {
    reader: LogReader<L>,
    watch: HeadWatch,
    caught_up: bool,
    lag_records_max: u64,
}

/// Default bound on how far a live subscriber may fall behind before it is cut off.
pub const SUBSCRIBER_LAG_RECORDS_MAX: u64 = 1_000_000;

impl<L: EventLog + ?Sized> Subscription<L> {
    pub fn new(log: Arc<L>, from: u64, lag_records_max: u64) -> Result<Subscription<L>, StreamError> {
        let watch = log.watch();
        Ok(Subscription { reader: LogReader::new(log, from)?, watch, caught_up: false, lag_records_max })
    }

    /// Whether the subscription has read all history and now follows live appends.
    pub fn is_live(&self) -> bool {
        self.caught_up
    }

    /// The next record, waiting (asynchronously) for it if the subscription is at the head.
    pub async fn next(&mut self) -> Result<StoredRecord, StreamError> {
        loop {
            let head = self.watch.current().position;
            self.check_lag(head)?;
            if let Some(record) = self.reader.next_up_to(head)? {
                return Ok(record);
            }
            self.caught_up = true;
            self.watch.changed(head).await;
        }
    }

    /// The next record, blocking this thread while the subscription is at the head.
    pub fn next_blocking(&mut self) -> Result<StoredRecord, StreamError> {
        block_on(self.next())
    }

    /// The next record if one is already durable, without waiting.
    pub fn try_next(&mut self) -> Result<Option<StoredRecord>, StreamError> {
        let head = self.watch.current().position;
        self.check_lag(head)?;
        let record = self.reader.next_up_to(head)?;
        if record.is_none() {
            self.caught_up = true;
        }
        Ok(record)
    }

    fn check_lag(&self, head: u64) -> Result<(), StreamError> {
        let behind = head.saturating_sub(self.reader.next_position().saturating_sub(1));
        if self.caught_up && behind > self.lag_records_max {
            return Err(StreamError::TooSlow { behind, limit: self.lag_records_max });
        }
        Ok(())
    }
}
