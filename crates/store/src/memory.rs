//! The log in RAM: the same contract as the file log, for tests and for rebuilds run as an
//! experiment. Stores the same frames as the file log, so readers see identical bytes.

use std::future::{Future, ready};
use std::sync::Mutex;

use crate::chain::{Hash, genesis};
use crate::error::StoreError;
use crate::frame::{self, flag_batch_end};
use crate::log::EventLog;
use crate::record::{AppendBatch, Appended, Head, Position, RecordBatch};
use crate::watch::{HeadNotifier, HeadWatch};

#[derive(Debug)]
struct State {
    frames: Vec<u8>,
    /// Start of the frame of position `i + 1`.
    offsets: Vec<usize>,
    head: Head,
}

/// An in-memory [`EventLog`].
#[derive(Debug)]
pub struct MemoryLog {
    fund_id: String,
    genesis: Hash,
    state: Mutex<State>,
    notifier: HeadNotifier,
}

/// Checks a fund id against the limits (non-empty UTF-8, at most `fund_id_bytes_max` bytes).
pub fn validate_fund_id(fund_id: &str) -> Result<(), StoreError> {
    if fund_id.is_empty() || fund_id.len() > crate::fund_id_bytes_max {
        return Err(StoreError::Invalid(format!(
            "fund id must be 1..={} bytes, got {}",
            crate::fund_id_bytes_max,
            fund_id.len()
        )));
    }
    Ok(())
}

impl MemoryLog {
    pub fn new(fund_id: &str) -> Result<Self, StoreError> {
        validate_fund_id(fund_id)?;
        let genesis = genesis(fund_id);
        let head = Head { position: 0, hash: genesis };
        Ok(MemoryLog {
            fund_id: fund_id.to_owned(),
            genesis,
            state: Mutex::new(State { frames: Vec::new(), offsets: Vec::new(), head }),
            notifier: HeadNotifier::new(head),
        })
    }

    fn append_now(&self, expected_head: Position, batch: &AppendBatch) -> Result<Appended, StoreError> {
        let appended = {
            let mut state = self.state.lock().expect("memory log poisoned");
            if state.head.position != expected_head {
                return Err(StoreError::Conflict { expected: expected_head, actual: state.head.position });
            }
            batch.validate()?;
            let first = state.head.position + 1;
            let mut prev = state.head.hash;
            let count = batch.len();
            for (index, (time, payload)) in batch.iter().enumerate() {
                let flags = if index + 1 == count { flag_batch_end } else { 0 };
                let start = state.frames.len();
                state.offsets.push(start);
                let position = first + index as Position;
                prev = frame::encode(&mut state.frames, &prev, position, time, flags, payload);
            }
            state.head = Head { position: first + count as Position - 1, hash: prev };
            // Published under the lock, so watchers see heads in order.
            self.notifier.publish(state.head);
            Appended { head: state.head, first }
        };
        Ok(appended)
    }

    fn read_now(&self, from: Position, mut batch: RecordBatch) -> Result<RecordBatch, StoreError> {
        batch.clear();
        let state = self.state.lock().expect("memory log poisoned");
        check_read_from(from, state.head.position)?;
        let mut bytes = 0;
        let mut position = from;
        while position <= state.head.position
            && batch.len() < crate::read_batch_records_max
            && (batch.is_empty() || bytes < crate::read_batch_bytes_max)
        {
            let start = state.offsets[(position - 1) as usize];
            let length = frame::u32_at(&state.frames, start) as usize;
            let frame = &state.frames[start..start + length];
            // Memory does not rot, but the contract promises checked records: keep it honest.
            frame::check(frame, position).expect("memory log frame damaged");
            batch.push_frame(frame);
            bytes += length;
            position += 1;
        }
        Ok(batch)
    }
}

/// The read contract's rule for the starting position.
pub(crate) fn check_read_from(from: Position, head: Position) -> Result<(), StoreError> {
    if from == 0 {
        return Err(StoreError::Invalid("reads start at position 1 or later".into()));
    }
    if from > head + 1 {
        return Err(StoreError::BeyondHead { from, head });
    }
    Ok(())
}

impl EventLog for MemoryLog {
    fn fund_id(&self) -> &str {
        &self.fund_id
    }

    fn genesis(&self) -> Hash {
        self.genesis
    }

    fn append(
        &self,
        expected_head: Position,
        batch: &AppendBatch,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send {
        ready(self.append_now(expected_head, batch))
    }

    fn read(&self, from: Position, reuse: RecordBatch) -> impl Future<Output = Result<RecordBatch, StoreError>> + Send {
        ready(self.read_now(from, reuse))
    }

    fn head(&self) -> impl Future<Output = Result<Head, StoreError>> + Send {
        ready(Ok(self.state.lock().expect("memory log poisoned").head))
    }

    fn watch(&self) -> HeadWatch {
        self.notifier.watch()
    }
}
