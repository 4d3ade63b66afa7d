//! Segment files of the file log: header and summary encodings, names, and the record scan that
//! recovery uses (with the torn-tail versus corruption rule). Layouts are in `docs/format.md`.

use crate::chain::{Hash, link};
use crate::error::Corruption;
use crate::frame::{self, Parsed, frame_crc, frame_overhead_bytes, u32_at, u64_at};
use crate::record::{Position, RecordView};

/// Bytes reserved for the header at the start of every segment; records start right after.
pub const segment_header_bytes: u64 = 4096;
/// Magic at the start of every segment file.
pub const segment_magic: &[u8; 8] = b"FLSEGv01";
/// Magic at the start of every segment summary file.
pub const summary_magic: &[u8; 8] = b"FLSUMv01";
/// Version of the layout in `docs/format.md`.
pub const format_version: u32 = 1;
/// The sparse position index has one entry every this many records of a segment.
pub const index_stride_records: u64 = 256;

/// File name of segment `index` (from 1).
pub fn segment_name(index: u64) -> String {
    format!("seg-{index:010}.log")
}

/// File name of the summary of sealed segment `index`.
pub fn summary_name(index: u64) -> String {
    format!("seg-{index:010}.sum")
}

/// Suffix of files being prepared; recovery deletes leftovers.
pub const temp_suffix: &str = ".tmp";

/// Parses a segment file name back to its index.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    if digits.len() != 10 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The fixed facts at the start of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub segment_index: u64,
    pub segment_bytes: u64,
    /// Position of the segment's first record (head + 1 when it was created).
    pub first_position: Position,
    /// Hash of the record before `first_position` (the genesis value for segment 1).
    pub prev_hash: Hash,
    pub fund_id: String,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.fund_id.len() <= crate::fund_id_bytes_max, "fund id too long");
        let mut out = Vec::with_capacity(segment_header_bytes as usize);
        out.extend_from_slice(segment_magic);
        out.extend_from_slice(&format_version.to_le_bytes());
        out.extend_from_slice(&(segment_header_bytes as u32).to_le_bytes());
        out.extend_from_slice(&self.segment_index.to_le_bytes());
        out.extend_from_slice(&self.segment_bytes.to_le_bytes());
        out.extend_from_slice(&self.first_position.to_le_bytes());
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&(self.fund_id.len() as u16).to_le_bytes());
        out.extend_from_slice(self.fund_id.as_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out.resize(segment_header_bytes as usize, 0);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Header, Corruption> {
        let bad = |what: &str| Corruption::Header(what.to_owned());
        if bytes.len() < segment_header_bytes as usize {
            return Err(bad("file shorter than the header"));
        }
        if &bytes[..8] != segment_magic {
            return Err(bad("bad magic"));
        }
        if u32_at(bytes, 8) != format_version {
            return Err(bad(&format!("unknown format version {}", u32_at(bytes, 8))));
        }
        if u32_at(bytes, 12) as u64 != segment_header_bytes {
            return Err(bad("unexpected header size"));
        }
        let fund_id_len = u16::from_le_bytes([bytes[72], bytes[73]]) as usize;
        if fund_id_len > crate::fund_id_bytes_max {
            return Err(bad("fund id length out of range"));
        }
        let crc_at = 74 + fund_id_len;
        let stored = u32_at(bytes, crc_at);
        if stored != crc32c::crc32c(&bytes[..crc_at]) {
            return Err(bad("header CRC mismatch"));
        }
        let fund_id = std::str::from_utf8(&bytes[74..crc_at]).map_err(|_| bad("fund id not UTF-8"))?;
        Ok(Header {
            segment_index: u64_at(bytes, 16),
            segment_bytes: u64_at(bytes, 24),
            first_position: u64_at(bytes, 32),
            prev_hash: bytes[40..72].try_into().expect("32 bytes"),
            fund_id: fund_id.to_owned(),
        })
    }
}

/// What open needs to know about a sealed segment without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub segment_index: u64,
    pub first_position: Position,
    /// `first_position - 1` for a segment without records.
    pub last_position: Position,
    /// Offset just past the last record.
    pub data_end: u64,
    pub last_hash: Hash,
    /// Offset of record `first_position + i * index_stride_records`, for each i.
    pub index: Vec<u32>,
}

impl Summary {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(84 + self.index.len() * 4);
        out.extend_from_slice(summary_magic);
        out.extend_from_slice(&self.segment_index.to_le_bytes());
        out.extend_from_slice(&self.first_position.to_le_bytes());
        out.extend_from_slice(&self.last_position.to_le_bytes());
        out.extend_from_slice(&self.data_end.to_le_bytes());
        out.extend_from_slice(&self.last_hash);
        out.extend_from_slice(&(index_stride_records as u32).to_le_bytes());
        out.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
        for offset in &self.index {
            out.extend_from_slice(&offset.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a summary; `None` if it is damaged in any way (open then scans).
    pub fn decode(bytes: &[u8]) -> Option<Summary> {
        if bytes.len() < 84 || &bytes[..8] != summary_magic {
            return None;
        }
        if u32_at(bytes, 72) as u64 != index_stride_records {
            return None;
        }
        let count = u32_at(bytes, 76) as usize;
        if bytes.len() != 84 + count * 4 {
            return None;
        }
        let crc_at = 80 + count * 4;
        if u32_at(bytes, crc_at) != crc32c::crc32c(&bytes[..crc_at]) {
            return None;
        }
        let summary = Summary {
            segment_index: u64_at(bytes, 8),
            first_position: u64_at(bytes, 16),
            last_position: u64_at(bytes, 24),
            data_end: u64_at(bytes, 32),
            last_hash: bytes[40..72].try_into().expect("32 bytes"),
            index: (0..count).map(|i| u32_at(bytes, 80 + i * 4)).collect(),
        };
        let records = (summary.last_position + 1).checked_sub(summary.first_position)?;
        (summary.index.len() as u64 == records.div_ceil(index_stride_records)).then_some(summary)
    }
}

/// Why a scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A zero length field or the end of the file.
    Clean,
    /// The frame at `stop_offset` failed a check.
    Bad(Corruption),
}

/// The result of walking a segment's records from the header to where they end.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Offset just past the last record that closed a batch.
    pub committed_end: u64,
    /// Position and hash of that record (or the header's predecessor if none).
    pub committed_last: Position,
    pub committed_hash: Hash,
    /// Sparse index of the committed records.
    pub committed_index: Vec<u32>,
    /// Valid records after `committed_end` (an unfinished batch).
    pub uncommitted_records: u64,
    /// Where the walk stopped, and why.
    pub stop_offset: u64,
    pub stop: Stop,
}

/// Walks `bytes` (a whole segment file), checking length, CRC, positions, flags and hash links.
pub fn scan(bytes: &[u8], header: &Header) -> Scan {
    let mut offset = segment_header_bytes as usize;
    let mut position = header.first_position;
    let mut prev = header.prev_hash;
    let mut index = Vec::new();
    let mut scan = Scan {
        committed_end: segment_header_bytes,
        committed_last: header.first_position - 1,
        committed_hash: header.prev_hash,
        committed_index: Vec::new(),
        uncommitted_records: 0,
        stop_offset: 0,
        stop: Stop::Clean,
    };
    loop {
        let stop = match frame::parse_at(bytes, offset, position) {
            Parsed::End => Stop::Clean,
            Parsed::Bad(reason) => Stop::Bad(reason),
            Parsed::Frame(len) => {
                let view = RecordView::new(&bytes[offset..offset + len]);
                if link(&prev, position, view.recorded_time_us(), view.payload()) != *view.hash() {
                    Stop::Bad(Corruption::ChainLink)
                } else {
                    if (position - header.first_position).is_multiple_of(index_stride_records) {
                        index.push(offset as u32);
                    }
                    prev = *view.hash();
                    offset += len;
                    scan.uncommitted_records += 1;
                    if view.is_batch_end() {
                        scan.committed_end = offset as u64;
                        scan.committed_last = position;
                        scan.committed_hash = prev;
                        scan.committed_index.clone_from(&index);
                        scan.uncommitted_records = 0;
                    }
                    position += 1;
                    continue;
                }
            }
        };
        scan.stop_offset = offset as u64;
        scan.stop = stop;
        return scan;
    }
}

/// The offset of the first frame at or after `from` (and before `until`) whose length and CRC
/// are valid: evidence that real data follows a damaged spot.
pub fn find_valid_frame(bytes: &[u8], from: usize, until: usize) -> Option<usize> {
    let until = until.min(bytes.len());
    let length_max = frame::frame_bytes(crate::payload_bytes_max);
    (from..until.saturating_sub(frame_overhead_bytes - 1)).find(|&at| {
        let length = u32_at(bytes, at) as usize;
        length >= frame_overhead_bytes
            && length <= length_max
            && at + length <= bytes.len()
            && u32_at(bytes, at + 4) == frame_crc(&bytes[at..at + length])
    })
}

/// Offset just past the last non-zero byte of `bytes` at or after `from` (`from` if none).
/// Open runs this over a whole (mostly zero) segment, so it tests 64-byte blocks at a time.
pub fn nonzero_end(bytes: &[u8], from: usize) -> usize {
    const block_bytes: usize = 64;
    let tail = &bytes[from..];
    let mut end = tail.len();
    while end >= block_bytes && tail[end - block_bytes..end].iter().fold(0u8, |acc, &byte| acc | byte) == 0 {
        end -= block_bytes;
    }
    tail[..end].iter().rposition(|&byte| byte != 0).map_or(from, |at| from + at + 1)
}

/// Whether the frame at `offset` was completely written. A torn write is a prefix: past the
/// tear every byte is zero, so a torn frame ends beyond the last non-zero byte of the segment
/// (`nonzero_end`). A written frame reaches it, because its last byte (of the hash) is non-zero;
/// the exception, a damaged final record whose hash ends in a zero byte, is treated as torn.
pub fn looks_fully_written(bytes: &[u8], offset: usize, nonzero_end: usize) -> bool {
    if bytes.len() < offset + 4 {
        return false;
    }
    let length = u32_at(bytes, offset) as usize;
    length >= frame_overhead_bytes && offset + length <= bytes.len() && offset + length <= nonzero_end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::genesis;

    fn header() -> Header {
        Header {
            segment_index: 7,
            segment_bytes: 1 << 20,
            first_position: 1_000,
            prev_hash: genesis("x"),
            fund_id: "CN-620000-work-injury".into(),
        }
    }

    #[test]
    fn names_round_trip_and_reject_strangers() {
        assert_eq!(segment_name(42), "seg-0000000042.log");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        for stranger in ["seg-42.log", "seg-0000000042.sum", "seg-000000004x.log", "LOCK", "seg-0000000042.log.tmp"] {
            assert_eq!(parse_segment_name(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn header_round_trips_and_every_damaged_byte_is_caught() {
        let bytes = header().encode();
        assert_eq!(bytes.len(), segment_header_bytes as usize);
        assert_eq!(Header::decode(&bytes), Ok(header()));
        let used = 74 + header().fund_id.len() + 4;
        for at in 0..used {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            assert!(Header::decode(&damaged).is_err(), "flip at byte {at} went unnoticed");
        }
    }

    #[test]
    fn summary_round_trips_and_damage_is_refused() {
        let summary = Summary {
            segment_index: 3,
            first_position: 10,
            last_position: 600,
            data_end: 90_000,
            last_hash: genesis("y"),
            index: vec![4096, 20_000, 40_000],
        };
        let bytes = summary.encode();
        assert_eq!(Summary::decode(&bytes), Some(summary.clone()));
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x80;
            assert_eq!(Summary::decode(&damaged), None, "flip at byte {at} went unnoticed");
        }
        assert_eq!(Summary::decode(&bytes[..bytes.len() - 1]), None);
        // An index that does not match the record count is refused even with a valid CRC.
        let inconsistent = Summary { index: vec![4096], ..summary };
        assert_eq!(Summary::decode(&inconsistent.encode()), None);
    }

    #[test]
    fn nonzero_end_finds_the_last_nonzero_byte() {
        let mut bytes = vec![0u8; 1000];
        assert_eq!(nonzero_end(&bytes, 0), 0);
        assert_eq!(nonzero_end(&bytes, 300), 300);
        for at in [0, 1, 63, 64, 65, 500, 999] {
            bytes.fill(0);
            bytes[at] = 9;
            assert_eq!(nonzero_end(&bytes, 0), at + 1, "byte at {at}");
            assert_eq!(nonzero_end(&bytes, at + 1), at + 1, "search after it");
        }
    }

    #[test]
    fn a_valid_frame_is_found_behind_garbage() {
        let mut bytes = vec![0u8; 300];
        bytes[..40].fill(0xab);
        let mut frame = Vec::new();
        crate::frame::encode(&mut frame, &genesis("z"), 5, 0, 1, b"payload");
        bytes[100..100 + frame.len()].copy_from_slice(&frame);
        assert_eq!(find_valid_frame(&bytes, 0, 300), Some(100));
        assert_eq!(find_valid_frame(&bytes, 101, 300), None);
        bytes[120] ^= 1;
        assert_eq!(find_valid_frame(&bytes, 0, 300), None, "a damaged frame is no evidence");
    }
}
