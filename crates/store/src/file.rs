//! The default embedded log: a directory of preallocated segment files, one writer at a time.
//!
//! Write path: a batch is framed into one buffer, written with one positional write into the
//! zero-filled active segment and made durable with one `sync_data`; a batch never spans
//! segments. Read path: a sealed segment is mapped and its frames returned in place, at most
//! `mapped_read_records_max` a read; the active one is read by positional reads of up to
//! `read_batch_bytes_max` into a reusable buffer; CRC-checked per record either way. Open:
//! summaries of sealed segments are trusted (with a scan fallback), the last segment is scanned
//! and a torn tail truncated. Layout: `docs/format.md`.

use std::any::Any;
use std::future::{Future, ready};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::chain::{Hash, genesis};
use crate::error::{Corruption, StoreError};
use crate::frame::{self, Parsed, flag_batch_end};
use crate::log::EventLog;
use crate::memory::{check_read_from, validate_fund_id};
use crate::record::{AppendBatch, Appended, Head, Position, RecordBatch};
use crate::segment::{
    self, Header, Stop, Summary, index_stride_records, segment_header_bytes, segment_name, summary_name, temp_suffix,
};
use crate::storage::{DirStorage, LockFailure, Mapping, Storage, StorageFile};
use crate::watch::{HeadNotifier, HeadWatch};

/// Size of each segment file, preallocated when the segment is created.
pub const segment_bytes_default: u64 = 64 << 20;
/// Smallest allowed segment (tests use small ones to get many segments).
pub const segment_bytes_min: u64 = 2 * segment_header_bytes;
/// By default appends write whole pages of this size (see `FileLog::append_now`).
pub const page_bytes_default: u64 = 4096;

/// By default a large batch is written in chunks of this many bytes, each handed to the device at
/// once (`start_writeback`), so the device writes while the CPU frames the rest of the batch.
pub const writeback_chunk_bytes_default: usize = 1 << 20;

/// How new segments get their disk space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preallocation {
    /// Write zeros over the whole segment (then sync). Later commits overwrite allocated, written
    /// blocks, so an `fdatasync` never has to commit metadata: the fastest commits, at the price of
    /// writing every segment twice.
    ZeroFill,
    /// Reserve blocks with `fallocate` (falls back to zeros where unsupported). Cheap to create,
    /// but the first write into each reserved extent is a metadata change for the next sync.
    Fallocate,
}

/// How a file log is laid out and run. Only affects new segments; existing ones keep their size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOptions {
    pub segment_bytes: u64,
    pub preallocation: Preallocation,
    /// Prepare the next segment on a background thread while the active one fills, so a roll
    /// does not stall a commit behind a 64 MiB zero-fill. Off in tests that count IO calls.
    pub prepare_ahead: bool,
    /// Batches larger than this are written in chunks of this size, each started towards the
    /// device before the next is framed (0: one write per batch).
    pub writeback_chunk_bytes: usize,
    /// Every append writes whole pages of this size: a power of two that divides the segment
    /// header's size (1 writes exactly the batch's bytes). A write that covered part of a page
    /// the page cache does not hold would make the kernel read that page from the device first,
    /// inside the commit, and new segments are zero-filled around the cache (`write_zeros`).
    /// Tests use small pages so that a torn write can be tried at every byte.
    pub page_bytes: u64,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            segment_bytes: segment_bytes_default,
            preallocation: Preallocation::ZeroFill,
            prepare_ahead: true,
            writeback_chunk_bytes: writeback_chunk_bytes_default,
            page_bytes: page_bytes_default,
        }
    }
}

impl FileOptions {
    /// Default options with another segment size.
    pub fn with_segment_bytes(self, segment_bytes: u64) -> Self {
        FileOptions { segment_bytes, ..self }
    }

    pub fn with_preallocation(self, preallocation: Preallocation) -> Self {
        FileOptions { preallocation, ..self }
    }

    pub fn with_prepare_ahead(self, prepare_ahead: bool) -> Self {
        FileOptions { prepare_ahead, ..self }
    }

    pub fn with_writeback_chunk_bytes(self, writeback_chunk_bytes: usize) -> Self {
        FileOptions { writeback_chunk_bytes, ..self }
    }

    pub fn with_page_bytes(self, page_bytes: u64) -> Self {
        FileOptions { page_bytes, ..self }
    }

    /// The start of the page `offset` is in (`page_bytes` is a power of two, checked at open).
    fn page_start(&self, offset: u64) -> u64 {
        offset & !(self.page_bytes - 1)
    }
}

/// A segment file prepared ahead: its index and the temporary file (full size, synced).
type PreparedSegment = Result<(u64, Arc<dyn StorageFile>), StoreError>;

/// What open found and repaired. Nothing is repaired silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The torn tail that was zeroed, if any.
    pub truncated: Option<TornTail>,
    /// Sealed segments whose summary was missing or damaged, so they were scanned instead
    /// (and the summary rewritten): (segment index, why).
    pub scanned_segments: Vec<(u64, String)>,
    /// Leftover files of an interrupted segment creation or summary write, deleted.
    pub removed_temp_files: Vec<String>,
    /// Whether open created the log (an empty directory).
    pub created: bool,
}

/// A partial last batch found at the end of the log and zeroed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: u64,
    /// Offset in the segment where the zeroed range starts (just after the last whole batch).
    pub offset: u64,
    pub bytes_zeroed: u64,
    /// Complete records of the unfinished batch that were dropped with it.
    pub whole_records_dropped: u64,
    /// The first position that was dropped (head + 1 after recovery).
    pub first_dropped_position: Position,
    /// What was wrong where the valid data stopped.
    pub reason: String,
}

#[derive(Debug)]
struct SegmentMeta {
    index: u64,
    file: Arc<dyn StorageFile>,
    first_position: Position,
    /// `first_position - 1` while empty.
    last_position: Position,
    data_end: u64,
    /// Hash of `last_position` (the header's previous hash while empty).
    last_hash: Hash,
    /// Offset of record `first_position + i * index_stride_records`.
    sparse: Vec<u32>,
    /// The segment's file mapped for reading, made on the first read after it is sealed
    /// (`None` inside if the storage does not map files or mapping failed: reads then copy).
    map: OnceLock<Option<Arc<Mapping>>>,
}

impl SegmentMeta {
    /// The map of this segment, which must be sealed (its bytes never change again).
    fn sealed_map(&self) -> Option<Arc<Mapping>> {
        self.map
            .get_or_init(|| {
                // A file that cannot be mapped (no memory for the map, say) is read by copy.
                self.file.map().ok().flatten()
            })
            .clone()
    }
}

#[derive(Debug)]
struct View {
    head: Head,
    segments: Vec<SegmentMeta>,
}

#[derive(Debug)]
struct Writer {
    head: Head,
    active_index: u64,
    active: Arc<dyn StorageFile>,
    active_bytes: u64,
    active_first: Position,
    write_offset: u64,
    /// Reused frame buffer, so a steady stream of batches allocates nothing. Between appends it
    /// holds the active segment's bytes from the start of the page `write_offset` is in up to
    /// `write_offset`: each append writes whole pages, starting with these.
    buf: Vec<u8>,
    /// Set after a failed write or sync: the on-disk state is unknown until reopen.
    poisoned: Option<String>,
    /// The next segment, being prepared on a background thread.
    next: Option<std::thread::JoinHandle<PreparedSegment>>,
}

impl Writer {
    /// Starts preparing the next segment once the active one is half full: late enough that a
    /// short-lived log never pays for a segment it will not use, early enough that the zero-fill
    /// is done before the roll needs it.
    fn maybe_prepare_next(&mut self, storage: &Arc<dyn Storage>, dir: &Path, options: &FileOptions) {
        if options.prepare_ahead && self.next.is_none() && self.write_offset >= self.active_bytes / 2 {
            self.next = spawn_prepare(storage, dir, self.active_index + 1, options);
        }
    }
}

/// The file-backed [`EventLog`]. Holds the directory's writer lock while it lives.
#[derive(Debug)]
pub struct FileLog {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    fund_id: String,
    genesis: Hash,
    options: FileOptions,
    writer: Mutex<Writer>,
    view: RwLock<View>,
    notifier: HeadNotifier,
    _lock: Box<dyn Any + Send + Sync>,
}

impl FileLog {
    /// Opens (or creates, if the directory holds no log) the log of `fund_id` in `dir`.
    pub fn open(
        dir: impl AsRef<Path>,
        fund_id: &str,
        options: FileOptions,
    ) -> Result<(FileLog, RecoveryReport), StoreError> {
        let dir = dir.as_ref();
        let storage = DirStorage::new(dir).map_err(|err| StoreError::io("create directory", dir, err))?;
        FileLog::open_with(Arc::new(storage), fund_id, options)
    }

    /// Opens the log on any [`Storage`] (in-memory and fault-injecting ones in tests).
    pub fn open_with(
        storage: Arc<dyn Storage>,
        fund_id: &str,
        options: FileOptions,
    ) -> Result<(FileLog, RecoveryReport), StoreError> {
        validate_fund_id(fund_id)?;
        // Offsets inside a segment are stored as u32 (sparse index), hence the upper bound.
        if options.segment_bytes < segment_bytes_min
            || options.segment_bytes > u64::from(u32::MAX)
            || !options.segment_bytes.is_multiple_of(512)
        {
            return Err(StoreError::Invalid(format!(
                "segment_bytes must be a multiple of 512 in {segment_bytes_min}..4 GiB, got {}",
                options.segment_bytes
            )));
        }
        if !options.page_bytes.is_power_of_two() || !segment_header_bytes.is_multiple_of(options.page_bytes) {
            return Err(StoreError::Invalid(format!(
                "page_bytes must be a power of two that divides {segment_header_bytes}, got {}",
                options.page_bytes
            )));
        }
        let dir = storage.path().to_path_buf();
        let lock = storage.lock().map_err(|failure| match failure {
            LockFailure::Held { holder_pid } => StoreError::Locked { dir: dir.clone(), holder_pid },
            LockFailure::Io(err) => StoreError::io("lock", dir.join(crate::storage::lock_file_name), err),
        })?;
        let opener = Opener { storage: &*storage, dir: &dir, fund_id, options: &options };
        let (segments, mut writer, report) = opener.recover()?;
        let head = writer.head;
        writer.maybe_prepare_next(&storage, &dir, &options);
        Ok((
            FileLog {
                dir,
                fund_id: fund_id.to_owned(),
                genesis: genesis(fund_id),
                options,
                writer: Mutex::new(writer),
                view: RwLock::new(View { head, segments }),
                notifier: HeadNotifier::new(head),
                storage,
                _lock: lock,
            },
            report,
        ))
    }

    /// How many segments are mapped for reading in place (sealed segments that have been read,
    /// on storage that maps files).
    pub fn mapped_segments(&self) -> usize {
        let view = self.view.read().expect("view poisoned");
        view.segments.iter().filter(|segment| matches!(segment.map.get(), Some(Some(_)))).count()
    }

    /// The directory (or storage description) of this log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fund id, owned (handy when closing and reopening).
    pub fn fund_id_owned(&self) -> String {
        self.fund_id.clone()
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.view.read().expect("view poisoned").segments.len()
    }

    /// Whether an earlier IO failure has made the log refuse writes.
    pub fn is_poisoned(&self) -> bool {
        self.writer.lock().expect("writer poisoned").poisoned.is_some()
    }

    fn io_err(&self, op: &'static str, name: &str, err: std::io::Error) -> StoreError {
        StoreError::io(op, self.dir.join(name), err)
    }

    fn append_now(&self, expected_head: Position, batch: &AppendBatch) -> Result<Appended, StoreError> {
        let mut writer = self.writer.lock().expect("writer poisoned");
        if let Some(cause) = &writer.poisoned {
            return Err(StoreError::Poisoned { dir: self.dir.clone(), cause: cause.clone() });
        }
        if writer.head.position != expected_head {
            return Err(StoreError::Conflict { expected: expected_head, actual: writer.head.position });
        }
        batch.validate()?;
        let batch_bytes = batch.frame_bytes() as u64;
        let capacity = self.options.segment_bytes - segment_header_bytes;
        if batch_bytes > capacity {
            return Err(StoreError::Invalid(format!(
                "batch of {batch_bytes} bytes does not fit in a segment's {capacity} record bytes"
            )));
        }
        if writer.write_offset + batch_bytes > writer.active_bytes {
            let result = self.roll(&mut writer);
            if let Err(err) = result {
                writer.poisoned = Some(err.to_string());
                return Err(err);
            }
        }

        // Frame the batch into one buffer. A large batch goes to the device in chunks while the
        // rest is framed; a small one is one write. Then one sync. Any IO failure poisons: the
        // bytes on disk are unknown from then on.
        //
        //
        // Every write covers whole pages (`FileOptions::page_bytes`): it starts at the start of
        // the page the batch starts in (the bytes before the batch are carried in `buf`, and
        // written again unchanged), and the last one is padded with the zeros that are there
        // anyway.
        let first = writer.head.position + 1;
        let mut buf = std::mem::take(&mut writer.buf);
        let base = self.options.page_start(writer.write_offset);
        let carried = buf.len();
        assert_eq!(base + carried as u64, writer.write_offset, "the carried bytes end where the batch starts");
        let mut prev = writer.head.hash;
        let mut sparse_new = Vec::new();
        let count = batch.len();
        let name = segment_name(writer.active_index);
        let mut written = 0usize;
        let mut result = Ok(());
        for (index, (time, payload)) in batch.iter().enumerate() {
            let position = first + index as Position;
            if (position - writer.active_first).is_multiple_of(index_stride_records) {
                sparse_new.push((base + buf.len() as u64) as u32);
            }
            let flags = if index + 1 == count { flag_batch_end } else { 0 };
            prev = frame::encode(&mut buf, &prev, position, time, flags, payload);
            // Only whole pages go out early: the chunk is the framed bytes up to the last page
            // boundary (at most the unwritten bytes, which are checked first: that is cheaper
            // than finding the boundary for every record).
            let chunk = self.options.writeback_chunk_bytes;
            if chunk == 0 || buf.len() - written < chunk || index + 1 == count {
                continue;
            }
            let whole = (self.options.page_start(base + buf.len() as u64) - base) as usize;
            if whole > written && whole - written >= chunk {
                let offset = base + written as u64;
                result = writer
                    .active
                    .write_all_at(&buf[written..whole], offset)
                    .and_then(|()| writer.active.start_writeback(offset, (whole - written) as u64))
                    .map_err(|err| self.io_err("write", &name, err));
                if result.is_err() {
                    break;
                }
                written = whole;
            }
        }
        let result = result.and_then(|()| {
            // Checks before the last write: the frames are exactly the batch, inside the segment.
            assert_eq!((buf.len() - carried) as u64, batch_bytes, "framed size differs from the batch's");
            assert!(writer.write_offset + batch_bytes <= writer.active_bytes, "batch overruns its segment");
            let end = base + buf.len() as u64;
            let padded = self.options.page_start(end + self.options.page_bytes - 1).min(writer.active_bytes);
            buf.resize((padded - base) as usize, 0);
            let wrote = writer
                .active
                .write_all_at(&buf[written..], base + written as u64)
                .map_err(|err| self.io_err("write", &name, err));
            buf.truncate((end - base) as usize);
            wrote.and_then(|()| writer.active.sync_data().map_err(|err| self.io_err("sync", &name, err)))
        });
        if let Err(err) = result {
            writer.buf = buf;
            writer.poisoned = Some(err.to_string());
            return Err(err);
        }
        // Carry the last page's bytes into the next append.
        buf.drain(..(self.options.page_start(writer.write_offset + batch_bytes) - base) as usize);
        writer.buf = buf;

        let head = Head { position: first + count as Position - 1, hash: prev };
        writer.head = head;
        writer.write_offset += batch_bytes;
        writer.maybe_prepare_next(&self.storage, &self.dir, &self.options);
        {
            let mut view = self.view.write().expect("view poisoned");
            let active = view.segments.last_mut().expect("an active segment");
            assert_eq!(active.index, writer.active_index, "view and writer disagree");
            active.last_position = head.position;
            active.data_end = writer.write_offset;
            active.last_hash = head.hash;
            active.sparse.extend(sparse_new);
            view.head = head;
        }
        // Published under the writer lock, so watchers see heads in order.
        self.notifier.publish(head);
        drop(writer);
        Ok(Appended { head, first })
    }

    /// Seals the active segment (writes its summary) and starts the next one.
    fn roll(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let summary = {
            let view = self.view.read().expect("view poisoned");
            let active = view.segments.last().expect("an active segment");
            Summary {
                segment_index: active.index,
                first_position: active.first_position,
                last_position: active.last_position,
                data_end: active.data_end,
                last_hash: active.last_hash,
                index: active.sparse.clone(),
            }
        };
        // The summary is an optimisation (open falls back to a scan), so it needs no dir sync
        // of its own: the new segment's dir sync below covers its rename.
        write_summary(&*self.storage, &self.dir, &summary)?;
        let index = writer.active_index + 1;
        let header = Header {
            segment_index: index,
            segment_bytes: self.options.segment_bytes,
            first_position: writer.head.position + 1,
            prev_hash: writer.head.hash,
            fund_id: self.fund_id.clone(),
        };
        let prepared = match writer.next.take().map(|handle| handle.join()) {
            Some(Ok(Ok((prepared_index, file))))
                if prepared_index == index
                    && file.size_bytes().map_err(|err| self.io_err("stat", &segment_name(index), err))?
                        == header.segment_bytes =>
            {
                file
            }
            // Not prepared (or the preparation failed): do it now; a failure here poisons.
            _ => {
                let temp = format!("{}{temp_suffix}", segment_name(index));
                if self.storage.list().map_err(|err| self.io_err("list", "", err))?.contains(&temp) {
                    self.storage.remove(&temp).map_err(|err| self.io_err("remove", &temp, err))?;
                }
                prepare_segment_file(&*self.storage, &self.dir, index, &self.options)?.1
            }
        };
        let file = install_segment(&*self.storage, &self.dir, prepared, &header)?;
        writer.active_index = index;
        writer.active = Arc::clone(&file);
        writer.active_bytes = header.segment_bytes;
        writer.active_first = header.first_position;
        writer.write_offset = segment_header_bytes;
        writer.buf.clear(); // the records start on a page (checked at open)
        self.view.write().expect("view poisoned").segments.push(SegmentMeta {
            index,
            file,
            first_position: header.first_position,
            last_position: header.first_position - 1,
            data_end: segment_header_bytes,
            last_hash: header.prev_hash,
            sparse: Vec::new(),
            map: OnceLock::new(),
        });
        Ok(())
    }

    fn read_now(&self, from: Position, mut batch: RecordBatch) -> Result<RecordBatch, StoreError> {
        batch.clear();
        // Find where to start under the lock; do the IO without it.
        let (file, map, segment_index, data_end, mut position, start, last) = {
            let view = self.view.read().expect("view poisoned");
            check_read_from(from, view.head.position)?;
            if from > view.head.position {
                return Ok(batch);
            }
            let at = view.segments.partition_point(|segment| segment.first_position <= from) - 1;
            let segment = &view.segments[at];
            assert!(from <= segment.last_position, "position beyond its segment");
            let slot = (from - segment.first_position) / index_stride_records;
            // Every segment but the last is sealed: read in place. The active one is read by copy.
            let sealed = at + 1 < view.segments.len();
            (
                Arc::clone(&segment.file),
                if sealed { segment.sealed_map() } else { None },
                segment.index,
                segment.data_end,
                segment.first_position + slot * index_stride_records,
                segment.sparse[slot as usize] as u64,
                segment.last_position,
            )
        };
        let name = segment_name(segment_index);
        let corrupt = |offset: u64, position: Position, reason: Corruption| StoreError::Corrupt {
            path: self.dir.join(&name),
            segment: segment_index,
            offset,
            position,
            reason,
        };
        if let Some(map) = map {
            // The whole rest of the sealed segment is in place: frames are checked where they
            // lie, up to the mapped read's limits, and a frame cut short is damage.
            batch.map_region(map, start as usize..data_end as usize);
            let mut offset = 0usize;
            while position <= last
                && batch.len() < crate::mapped_read_records_max
                && (batch.is_empty() || offset < crate::read_batch_bytes_max)
            {
                // Three whole frames ahead, all wanted: their CRCs are computed together, then
                // each is checked in turn, so the first damaged one is still the one reported.
                if position + 2 <= last
                    && batch.len() + 3 <= crate::mapped_read_records_max
                    && let Some(frames) = frame::three_frames_at(batch.raw(), offset)
                {
                    let crcs = frame::frame_crc3(frames);
                    let checks = [0, 1, 2].map(|i| frame::check_with_crc(frames[i], position + i as u64, crcs[i]));
                    let lens = frames.map(<[u8]>::len);
                    for (len, check) in lens.into_iter().zip(checks) {
                        check.map_err(|reason| corrupt(start + offset as u64, position, reason))?;
                        take_frame(&mut batch, from, len, &mut offset, &mut position);
                    }
                    continue;
                }
                match frame::parse_at(batch.raw(), offset, position) {
                    Parsed::Frame(len) => take_frame(&mut batch, from, len, &mut offset, &mut position),
                    Parsed::End => return Err(corrupt(start + offset as u64, position, Corruption::EarlyEnd)),
                    Parsed::Bad(reason) => return Err(corrupt(start + offset as u64, position, reason)),
                }
            }
            assert_eq!(batch.first_position(), from, "read returned the wrong first position");
            return Ok(batch);
        }
        let mut want = (data_end - start).min(crate::read_batch_bytes_max as u64) as usize;
        let first_slot_position = position;
        loop {
            position = first_slot_position;
            let region = batch.raw_region(want);
            file.read_exact_at(region, start).map_err(|err| self.io_err("read", &name, err))?;
            let mut offset = 0usize;
            let mut grow_to = None;
            while position <= last && batch.len() < crate::read_batch_records_max {
                match frame::parse_at(batch.raw(), offset, position) {
                    Parsed::Frame(len) => take_frame(&mut batch, from, len, &mut offset, &mut position),
                    Parsed::End | Parsed::Bad(Corruption::Length { .. })
                        if start + (offset as u64) + 4 <= data_end
                            && want < (data_end - start) as usize
                            && offset + 4 <= want =>
                    {
                        // The frame runs past the region we read: stop here, or read more if
                        // nothing has been returned yet.
                        let length = frame::u32_at(batch.raw(), offset) as usize;
                        if length >= frame::frame_overhead_bytes && start + (offset + length) as u64 <= data_end {
                            if batch.is_empty() {
                                grow_to = Some(offset + length);
                            }
                            break;
                        }
                        let reason = match frame::parse_at(batch.raw(), offset, position) {
                            Parsed::Bad(reason) => reason,
                            _ => Corruption::EarlyEnd,
                        };
                        return Err(corrupt(start + offset as u64, position, reason));
                    }
                    Parsed::End if offset + 4 > want && want < (data_end - start) as usize => {
                        // Fewer than 4 bytes of the next frame were read.
                        if batch.is_empty() {
                            grow_to = Some(offset + frame::frame_overhead_bytes);
                        }
                        break;
                    }
                    Parsed::End => {
                        return Err(corrupt(start + offset as u64, position, Corruption::EarlyEnd));
                    }
                    Parsed::Bad(reason) => {
                        return Err(corrupt(start + offset as u64, position, reason));
                    }
                }
            }
            match grow_to {
                Some(bytes) => want = bytes.max(want).min((data_end - start) as usize),
                None => break,
            }
        }
        if batch.is_empty() {
            // `from` is committed, so at least one record must have been returned.
            return Err(corrupt(start, from, Corruption::EarlyEnd));
        }
        assert_eq!(batch.first_position(), from, "read returned the wrong first position");
        Ok(batch)
    }
}

impl EventLog for FileLog {
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
        ready(Ok(self.view.read().expect("view poisoned").head))
    }

    fn watch(&self) -> HeadWatch {
        self.notifier.watch()
    }
}

/// Moves past the checked frame of `len` bytes at `offset` (record `position`), returning it in
/// `batch` if the read wants it (a read starts at its index slot, before `from`).
#[inline]
fn take_frame(batch: &mut RecordBatch, from: Position, len: usize, offset: &mut usize, position: &mut Position) {
    if *position >= from {
        batch.push_raw_offset(*offset);
    }
    *offset += len;
    *position += 1;
}

/// Writes a summary via a temporary file and a rename, so a reader never sees half of one.
fn write_summary(storage: &dyn Storage, dir: &Path, summary: &Summary) -> Result<(), StoreError> {
    let name = summary_name(summary.segment_index);
    let temp = format!("{name}{temp_suffix}");
    let io = |op, err| StoreError::io(op, dir.join(&temp), err);
    if storage.list().map_err(|err| io("list", err))?.contains(&temp) {
        storage.remove(&temp).map_err(|err| io("remove", err))?;
    }
    let file = storage.create(&temp).map_err(|err| io("create", err))?;
    file.write_all_at(&summary.encode(), 0).map_err(|err| io("write", err))?;
    file.sync_data().map_err(|err| io("sync", err))?;
    storage.rename(&temp, &name).map_err(|err| io("rename", err))
}

/// Prepares segment `index` as a temporary file: created, given its full size (zero-filled or
/// fallocated, so commits never change the file size), synced. Not yet part of the log.
fn prepare_segment_file(storage: &dyn Storage, dir: &Path, index: u64, options: &FileOptions) -> PreparedSegment {
    let temp = format!("{}{temp_suffix}", segment_name(index));
    let io = |op, err| StoreError::io(op, dir.join(&temp), err);
    let file = storage.create(&temp).map_err(|err| io("create", err))?;
    let allocated = options.preallocation == Preallocation::Fallocate
        && file.allocate(options.segment_bytes).map_err(|err| io("fallocate", err))?;
    if !allocated {
        // Straight to the device or through the page cache: the segment is zeros either way.
        file.write_zeros(options.segment_bytes).map_err(|err| io("zero-fill", err))?;
    }
    file.sync_all().map_err(|err| io("sync", err))?;
    Ok((index, file))
}

/// Makes a prepared segment part of the log: header written and synced, renamed into place, and
/// the directory synced. A crash before the rename leaves only a temporary file, which open deletes.
fn install_segment(
    storage: &dyn Storage,
    dir: &Path,
    file: Arc<dyn StorageFile>,
    header: &Header,
) -> Result<Arc<dyn StorageFile>, StoreError> {
    let name = segment_name(header.segment_index);
    let temp = format!("{name}{temp_suffix}");
    let io = |op, err| StoreError::io(op, dir.join(&temp), err);
    file.write_all_at(&header.encode(), 0).map_err(|err| io("write header", err))?;
    file.sync_data().map_err(|err| io("sync", err))?;
    storage.rename(&temp, &name).map_err(|err| io("rename", err))?;
    storage.sync_dir().map_err(|err| StoreError::io("sync directory", dir, err))?;
    Ok(file)
}

/// Creates a segment in one go (the first one, or when none was prepared ahead).
fn create_segment(
    storage: &dyn Storage,
    dir: &Path,
    header: &Header,
    options: &FileOptions,
) -> Result<Arc<dyn StorageFile>, StoreError> {
    assert_eq!(header.segment_bytes, options.segment_bytes, "segment size from the options");
    let (_, file) = prepare_segment_file(storage, dir, header.segment_index, options)?;
    install_segment(storage, dir, file, header)
}

/// Starts preparing segment `index` on a background thread (`None` if no thread could start:
/// the roll then prepares it itself).
fn spawn_prepare(
    storage: &Arc<dyn Storage>,
    dir: &Path,
    index: u64,
    options: &FileOptions,
) -> Option<std::thread::JoinHandle<PreparedSegment>> {
    let (storage, dir, options) = (Arc::clone(storage), dir.to_path_buf(), options.clone());
    std::thread::Builder::new()
        .name(format!("fundledger-prepare-segment-{index}"))
        .spawn(move || prepare_segment_file(&*storage, &dir, index, &options))
        .ok()
}

impl Drop for FileLog {
    fn drop(&mut self) {
        // Never leave a thread writing into the directory after the lock is released.
        let writer = self.writer.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(handle) = writer.next.take()
            && let Ok(Ok((index, _))) = handle.join()
        {
            // Unused preparation: tidy it away (open would delete it anyway, and report it).
            let _ = self.storage.remove(&format!("{}{temp_suffix}", segment_name(index)));
        }
    }
}

struct Opener<'a> {
    storage: &'a dyn Storage,
    dir: &'a Path,
    fund_id: &'a str,
    options: &'a FileOptions,
}

impl Opener<'_> {
    fn corrupt(&self, segment: u64, offset: u64, position: Position, reason: Corruption) -> StoreError {
        StoreError::Corrupt { path: self.dir.join(segment_name(segment)), segment, offset, position, reason }
    }

    fn read_all(&self, name: &str, file: &dyn StorageFile) -> Result<Vec<u8>, StoreError> {
        let len = file.size_bytes().map_err(|err| StoreError::io("stat", self.dir.join(name), err))?;
        let mut bytes = vec![0u8; len as usize];
        file.read_exact_at(&mut bytes, 0).map_err(|err| StoreError::io("read", self.dir.join(name), err))?;
        Ok(bytes)
    }

    fn recover(&self) -> Result<(Vec<SegmentMeta>, Writer, RecoveryReport), StoreError> {
        let mut report = RecoveryReport::default();
        let list_err = |err| StoreError::io("list", self.dir, err);
        let names = self.storage.list().map_err(list_err)?;
        for name in names.iter().filter(|name| name.ends_with(temp_suffix)) {
            self.storage.remove(name).map_err(|err| StoreError::io("remove", self.dir.join(name), err))?;
            report.removed_temp_files.push(name.clone());
        }
        if !report.removed_temp_files.is_empty() {
            self.storage.sync_dir().map_err(|err| StoreError::io("sync directory", self.dir, err))?;
        }
        let mut indices: Vec<u64> = names.iter().filter_map(|name| segment::parse_segment_name(name)).collect();
        indices.sort_unstable();
        for (slot, &index) in indices.iter().enumerate() {
            let expected = slot as u64 + 1;
            if index != expected {
                return Err(self.corrupt(expected, 0, 0, Corruption::SegmentSequence { expected, found: index }));
            }
        }
        if indices.is_empty() {
            let header = Header {
                segment_index: 1,
                segment_bytes: self.options.segment_bytes,
                first_position: 1,
                prev_hash: genesis(self.fund_id),
                fund_id: self.fund_id.to_owned(),
            };
            create_segment(self.storage, self.dir, &header, self.options)?;
            report.created = true;
            indices.push(1);
        }

        let mut segments = Vec::with_capacity(indices.len());
        let mut next_position: Position = 1;
        let mut prev_hash = genesis(self.fund_id);
        let last_index = *indices.last().expect("at least one segment");
        for &index in &indices {
            let name = segment_name(index);
            let file = self.storage.open(&name).map_err(|err| StoreError::io("open", self.dir.join(&name), err))?;
            let is_last = index == last_index;
            let header = self.read_header(index, &name, &*file)?;
            if header.first_position != next_position || header.prev_hash != prev_hash {
                return Err(self.corrupt(
                    index,
                    0,
                    next_position,
                    Corruption::Boundary(format!(
                        "segment starts at position {} but the previous one ended at {}, or its \
                         previous-hash field does not match the previous segment's last hash",
                        header.first_position,
                        next_position - 1
                    )),
                ));
            }
            let meta = if is_last {
                let (meta, writer_offset) = self.recover_last(index, &name, file, &header, &mut report)?;
                debug_assert_eq!(writer_offset, meta.data_end);
                meta
            } else {
                self.recover_sealed(index, &name, file, &header, &mut report)?
            };
            next_position = meta.last_position + 1;
            prev_hash = meta.last_hash;
            segments.push(meta);
        }
        let active = segments.last().expect("at least one segment");
        // The bytes of the page the next append starts in, which it writes again (see `append_now`).
        let page_start = self.options.page_start(active.data_end);
        let mut carried = vec![0u8; (active.data_end - page_start) as usize];
        active
            .file
            .read_exact_at(&mut carried, page_start)
            .map_err(|err| StoreError::io("read", self.dir.join(segment_name(active.index)), err))?;
        let writer = Writer {
            head: Head { position: next_position - 1, hash: prev_hash },
            active_index: active.index,
            active: Arc::clone(&active.file),
            active_bytes: active.file.size_bytes().map_err(|err| StoreError::io("stat", self.dir, err))?,
            active_first: active.first_position,
            write_offset: active.data_end,
            buf: carried,
            poisoned: None,
            next: None,
        };
        Ok((segments, writer, report))
    }

    fn read_header(&self, index: u64, name: &str, file: &dyn StorageFile) -> Result<Header, StoreError> {
        let len = file.size_bytes().map_err(|err| StoreError::io("stat", self.dir.join(name), err))?;
        let mut bytes = vec![0u8; segment_header_bytes.min(len) as usize];
        file.read_exact_at(&mut bytes, 0).map_err(|err| StoreError::io("read", self.dir.join(name), err))?;
        let header = Header::decode(&bytes).map_err(|reason| self.corrupt(index, 0, 0, reason))?;
        if header.fund_id != self.fund_id {
            return Err(StoreError::FundMismatch {
                path: self.dir.join(name),
                expected: self.fund_id.to_owned(),
                found: header.fund_id,
            });
        }
        if header.segment_index != index {
            return Err(self.corrupt(
                index,
                0,
                0,
                Corruption::Header(format!("header says segment {}", header.segment_index)),
            ));
        }
        if header.segment_bytes != len || header.first_position == 0 {
            return Err(self.corrupt(
                index,
                0,
                0,
                Corruption::Header(format!("header says {} bytes, file has {len}", header.segment_bytes)),
            ));
        }
        Ok(header)
    }

    fn recover_sealed(
        &self,
        index: u64,
        name: &str,
        file: Arc<dyn StorageFile>,
        header: &Header,
        report: &mut RecoveryReport,
    ) -> Result<SegmentMeta, StoreError> {
        let summary_problem = match self.read_summary(index) {
            Ok(summary)
                if summary.segment_index == index
                    && summary.first_position == header.first_position
                    && summary.data_end <= header.segment_bytes
                    && summary.data_end >= segment_header_bytes =>
            {
                return Ok(SegmentMeta {
                    index,
                    file,
                    first_position: summary.first_position,
                    last_position: summary.last_position,
                    data_end: summary.data_end,
                    last_hash: summary.last_hash,
                    sparse: summary.index,
                    map: OnceLock::new(),
                });
            }
            Ok(_) => "summary does not match the segment header".to_owned(),
            Err(problem) => problem,
        };
        // Fall back to reading the whole segment: it must be entirely valid, ending on a batch end.
        let bytes = self.read_all(name, &*file)?;
        let scan = segment::scan(&bytes, header);
        let position = scan.committed_last + scan.uncommitted_records + 1;
        if let Stop::Bad(reason) = scan.stop {
            return Err(self.corrupt(index, scan.stop_offset, position, reason));
        }
        if scan.uncommitted_records > 0 {
            return Err(self.corrupt(index, scan.committed_end, position, Corruption::UnfinishedBatch));
        }
        if segment::nonzero_end(&bytes, scan.stop_offset as usize) > scan.stop_offset as usize {
            return Err(self.corrupt(index, scan.stop_offset, position, Corruption::DataAfterEnd));
        }
        let summary = Summary {
            segment_index: index,
            first_position: header.first_position,
            last_position: scan.committed_last,
            data_end: scan.committed_end,
            last_hash: scan.committed_hash,
            index: scan.committed_index,
        };
        write_summary(self.storage, self.dir, &summary)?;
        report.scanned_segments.push((index, summary_problem));
        Ok(SegmentMeta {
            index,
            file,
            first_position: summary.first_position,
            last_position: summary.last_position,
            data_end: summary.data_end,
            last_hash: summary.last_hash,
            sparse: summary.index,
            map: OnceLock::new(),
        })
    }

    fn read_summary(&self, index: u64) -> Result<Summary, String> {
        let name = summary_name(index);
        let file = self.storage.open(&name).map_err(|err| format!("summary unreadable: {err}"))?;
        let bytes = self.read_all(&name, &*file).map_err(|err| err.to_string())?;
        Summary::decode(&bytes).ok_or_else(|| "summary damaged".to_owned())
    }

    fn recover_last(
        &self,
        index: u64,
        name: &str,
        file: Arc<dyn StorageFile>,
        header: &Header,
        report: &mut RecoveryReport,
    ) -> Result<(SegmentMeta, u64), StoreError> {
        let bytes = self.read_all(name, &*file)?;
        let scan = segment::scan(&bytes, header);
        let stop = scan.stop_offset as usize;
        let nonzero_end = segment::nonzero_end(&bytes, scan.committed_end as usize);
        let stop_position = scan.committed_last + scan.uncommitted_records + 1;
        let reason = match &scan.stop {
            Stop::Clean => {
                if nonzero_end > stop && segment::find_valid_frame(&bytes, stop + 1, nonzero_end).is_some() {
                    return Err(self.corrupt(index, stop as u64, stop_position, Corruption::EarlyEnd));
                }
                "unfinished batch at the end of the log".to_owned()
            }
            Stop::Bad(reason) => {
                if segment::find_valid_frame(&bytes, stop + 1, nonzero_end).is_some() {
                    return Err(self.corrupt(index, stop as u64, stop_position, reason.clone()));
                }
                if segment::looks_fully_written(&bytes, stop, nonzero_end) {
                    return Err(self.corrupt(
                        index,
                        stop as u64,
                        stop_position,
                        Corruption::DamagedTail(Box::new(reason.clone())),
                    ));
                }
                format!("partial record at offset {stop}: {reason}")
            }
        };
        if nonzero_end > scan.committed_end as usize {
            // A torn tail: everything after the last whole batch goes, and we say so.
            let zeros = vec![0u8; nonzero_end - scan.committed_end as usize];
            let io = |op, err| StoreError::io(op, self.dir.join(name), err);
            file.write_all_at(&zeros, scan.committed_end).map_err(|err| io("truncate tail", err))?;
            file.sync_data().map_err(|err| io("sync", err))?;
            report.truncated = Some(TornTail {
                segment: index,
                offset: scan.committed_end,
                bytes_zeroed: zeros.len() as u64,
                whole_records_dropped: scan.uncommitted_records,
                first_dropped_position: scan.committed_last + 1,
                reason,
            });
        }
        Ok((
            SegmentMeta {
                index,
                file,
                first_position: header.first_position,
                last_position: scan.committed_last,
                data_end: scan.committed_end,
                last_hash: scan.committed_hash,
                sparse: scan.committed_index,
                map: OnceLock::new(),
            },
            scan.committed_end,
        ))
    }
}
