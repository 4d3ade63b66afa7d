//! Records going in ([`AppendBatch`]) and coming out ([`RecordBatch`], [`RecordView`]).
//!
//! A read returns one contiguous buffer of frames plus their offsets, so reading a million records
//! allocates nothing per record; views borrow from the batch.

use std::ops::Range;
use std::sync::Arc;

use crate::chain::Hash;
use crate::frame::{self, offset_flags, offset_payload, offset_position, offset_time};
use crate::storage::Mapping;

/// A record's place in the log: gapless, from 1. Position 0 means "before the first record".
pub type Position = u64;

/// The newest record's position and hash (position 0 and the genesis value for an empty log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: Position,
    pub hash: Hash,
}

/// What an append made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The head after the batch.
    pub head: Head,
    /// Position given to the batch's first record; the rest follow gaplessly to `head.position`.
    pub first: Position,
}

impl Appended {
    /// The positions assigned to the batch, in order.
    pub fn positions(&self) -> std::ops::RangeInclusive<Position> {
        self.first..=self.head.position
    }
}

/// Records to append, payloads packed in one buffer (no allocation per record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendBatch {
    payloads: Vec<u8>,
    /// (recorded_time_us, end offset of the payload in `payloads`).
    entries: Vec<(i64, usize)>,
}

impl AppendBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record: its recorded time (microseconds since the Unix epoch, UTC) and payload.
    pub fn push(&mut self, recorded_time_us: i64, payload: &[u8]) -> &mut Self {
        self.payloads.extend_from_slice(payload);
        self.entries.push((recorded_time_us, self.payloads.len()));
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.payloads.clear();
        self.entries.clear();
    }

    /// Framed size of the batch, in bytes.
    pub fn frame_bytes(&self) -> usize {
        self.payloads.len() + self.entries.len() * frame::frame_overhead_bytes
    }

    /// (recorded_time_us, payload) of each record, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (i64, &[u8])> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |&(time, end)| {
            let payload = &self.payloads[start..end];
            start = end;
            (time, payload)
        })
    }

    /// Checks the batch against the crate's limits.
    pub fn validate(&self) -> Result<(), crate::StoreError> {
        if self.is_empty() {
            return Err(crate::StoreError::Invalid("empty append batch".into()));
        }
        if self.len() > crate::batch_records_max {
            return Err(crate::StoreError::Invalid(format!(
                "batch of {} records exceeds batch_records_max {}",
                self.len(),
                crate::batch_records_max
            )));
        }
        if self.frame_bytes() > crate::batch_bytes_max {
            return Err(crate::StoreError::Invalid(format!(
                "batch of {} bytes exceeds batch_bytes_max {}",
                self.frame_bytes(),
                crate::batch_bytes_max
            )));
        }
        if let Some((index, (_, payload))) =
            self.iter().enumerate().find(|(_, (_, p))| p.len() > crate::payload_bytes_max)
        {
            return Err(crate::StoreError::Invalid(format!(
                "record {index} of the batch has a {} byte payload, over payload_bytes_max {}",
                payload.len(),
                crate::payload_bytes_max
            )));
        }
        Ok(())
    }
}

/// An owned record, for tests and models. Hot paths use [`RecordView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub position: Position,
    pub recorded_time_us: i64,
    pub payload: Vec<u8>,
    pub hash: Hash,
}

/// A borrowed view of one stored record (one frame, already CRC-checked by the backend).
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    frame: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// `frame` must be exactly one whole frame.
    pub fn new(frame: &'a [u8]) -> Self {
        assert!(frame.len() >= frame::frame_overhead_bytes, "frame too short");
        debug_assert_eq!(frame::u32_at(frame, 0) as usize, frame.len());
        RecordView { frame }
    }

    pub fn position(&self) -> Position {
        frame::u64_at(self.frame, offset_position)
    }

    pub fn recorded_time_us(&self) -> i64 {
        frame::u64_at(self.frame, offset_time) as i64
    }

    pub fn flags(&self) -> u32 {
        frame::u32_at(self.frame, offset_flags)
    }

    /// Whether this record closed its append batch.
    pub fn is_batch_end(&self) -> bool {
        self.flags() & frame::flag_batch_end != 0
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.frame[offset_payload..self.frame.len() - frame::frame_hash_bytes]
    }

    pub fn hash(&self) -> &'a Hash {
        self.frame[self.frame.len() - frame::frame_hash_bytes..].try_into().expect("32 bytes")
    }

    /// The whole frame, as stored.
    pub fn frame(&self) -> &'a [u8] {
        self.frame
    }

    pub fn to_record(&self) -> Record {
        Record {
            position: self.position(),
            recorded_time_us: self.recorded_time_us(),
            payload: self.payload().to_vec(),
            hash: *self.hash(),
        }
    }
}

/// Records read in one go: one buffer of frames and their offsets. Reuse it across reads.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch {
    /// Frames (and, for file reads, possibly skipped bytes around them).
    buf: Vec<u8>,
    /// Bytes of `buf` in use.
    used: usize,
    /// Start of each returned frame in the batch's bytes, in position order.
    offsets: Vec<u32>,
    /// For a read of a mapped (sealed) segment: the map and the range of it that holds the
    /// frames. The batch's bytes are then that range, not `buf`.
    mapped: Option<(Arc<Mapping>, Range<usize>)>,
}

impl RecordBatch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Forgets the records, keeping the memory for the next read.
    pub fn clear(&mut self) {
        self.used = 0;
        self.offsets.clear();
        self.mapped = None;
    }

    /// The bytes the offsets index into: the mapped range, or the buffer.
    #[inline]
    fn bytes(&self) -> &[u8] {
        match &self.mapped {
            Some((map, range)) => &map[range.clone()],
            None => &self.buf[..self.used],
        }
    }

    pub fn get(&self, index: usize) -> RecordView<'_> {
        let bytes = self.bytes();
        let start = self.offsets[index] as usize;
        let length = frame::u32_at(bytes, start) as usize;
        RecordView::new(&bytes[start..start + length])
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordView<'_>> + '_ {
        (0..self.len()).map(|index| self.get(index))
    }

    /// Panics on an empty batch (a programmer error: check `is_empty` first).
    pub fn first_position(&self) -> Position {
        self.get(0).position()
    }

    pub fn last_position(&self) -> Position {
        self.get(self.len() - 1).position()
    }

    pub fn last_hash(&self) -> Hash {
        *self.get(self.len() - 1).hash()
    }

    /// Adds a frame that the caller has checked. For backends.
    pub fn push_frame(&mut self, frame: &[u8]) {
        assert!(self.mapped.is_none(), "a frame pushed onto a mapped read (clear the batch first)");
        assert!(self.used + frame.len() <= u32::MAX as usize, "record batch over 4 GiB");
        if self.buf.len() < self.used + frame.len() {
            self.buf.resize(self.used + frame.len(), 0);
        }
        self.buf[self.used..self.used + frame.len()].copy_from_slice(frame);
        self.offsets.push(self.used as u32);
        self.used += frame.len();
    }

    /// Adds a record given by its fields (backends that do not store frames, such as a remote
    /// store). The frame's batch-end flag is left clear.
    pub fn push_record(&mut self, position: Position, recorded_time_us: i64, payload: &[u8], hash: &Hash) {
        let mut frame = Vec::with_capacity(frame::frame_bytes(payload.len()));
        frame::encode_with_hash(&mut frame, position, recorded_time_us, 0, payload, hash);
        self.push_frame(&frame);
    }

    /// A `len`-byte region to read raw segment bytes into; replaces the batch's contents.
    pub(crate) fn raw_region(&mut self, len: usize) -> &mut [u8] {
        self.clear();
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        self.used = len;
        &mut self.buf[..len]
    }

    /// Makes `range` of `map` the raw region (no copy); replaces the batch's contents.
    pub(crate) fn map_region(&mut self, map: Arc<Mapping>, range: Range<usize>) {
        self.clear();
        assert!(range.len() <= u32::MAX as usize, "mapped region over 4 GiB");
        assert!(range.end <= map.len(), "mapped region beyond its file");
        self.mapped = Some((map, range));
    }

    pub(crate) fn raw(&self) -> &[u8] {
        self.bytes()
    }

    /// Marks the frame at `offset` of the raw region as returned.
    pub(crate) fn push_raw_offset(&mut self, offset: usize) {
        debug_assert!(offset < self.raw().len());
        self.offsets.push(offset as u32);
    }

    /// Owned copies of the records (tests and models).
    pub fn to_records(&self) -> Vec<Record> {
        self.iter().map(|view| view.to_record()).collect()
    }
}
