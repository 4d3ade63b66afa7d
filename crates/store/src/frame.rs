//! The byte layout of one record (a "frame"), shared by every backend and specified in
//! `docs/format.md`:
//!
//! ```text
//! offset size field
//!      0    4 length          u32 LE, whole frame in bytes (60 + payload); 0 = end of data
//!      4    4 crc32c          u32 LE, CRC32C of bytes 0..4 followed by bytes 8..length
//!      8    8 position        u64 LE, gapless from 1
//!     16    8 recorded_time   i64 LE, microseconds since 1970-01-01T00:00:00Z
//!     24    4 flags           u32 LE, bit 0 = last record of its append batch; others zero
//!     28    n payload         opaque bytes, n = length - 60
//! 28 + n   32 hash            SHA-256(previous hash || canonical bytes), see `chain`
//! ```

use crate::chain::{Hash, link};
use crate::error::Corruption;
use crate::record::Position;

pub const frame_header_bytes: usize = 28;
pub const frame_hash_bytes: usize = 32;
/// Framing bytes around each payload.
pub const frame_overhead_bytes: usize = frame_header_bytes + frame_hash_bytes;
/// Flag bit: this record closes its append batch. Recovery drops a tail batch that lacks it.
pub const flag_batch_end: u32 = 1;
/// Every flag bit this version knows; a set unknown bit is corruption.
pub const flags_known: u32 = flag_batch_end;

pub(crate) const offset_crc: usize = 4;
pub(crate) const offset_position: usize = 8;
pub(crate) const offset_time: usize = 16;
pub(crate) const offset_flags: usize = 24;
pub(crate) const offset_payload: usize = 28;

/// Bytes a frame with `payload_len` bytes of payload occupies.
pub const fn frame_bytes(payload_len: usize) -> usize {
    frame_overhead_bytes + payload_len
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// CRC32C of a whole frame (its length field and everything after its CRC field).
pub fn frame_crc(frame: &[u8]) -> u32 {
    debug_assert!(frame.len() >= frame_overhead_bytes);
    crc32c::crc32c_append(crc32c::crc32c(&frame[..offset_crc]), &frame[offset_position..])
}

/// Appends one frame to `out`, linking it to `prev`; returns its hash.
pub fn encode(
    out: &mut Vec<u8>,
    prev: &Hash,
    position: Position,
    recorded_time_us: i64,
    flags: u32,
    payload: &[u8],
) -> Hash {
    assert!(position >= 1, "positions start at 1");
    assert_eq!(flags & !flags_known, 0, "unknown flag bits");
    let hash = link(prev, position, recorded_time_us, payload);
    encode_with_hash(out, position, recorded_time_us, flags, payload, &hash);
    hash
}

/// Appends one frame whose hash is already known (a backend that stores hashes elsewhere).
pub fn encode_with_hash(
    out: &mut Vec<u8>,
    position: Position,
    recorded_time_us: i64,
    flags: u32,
    payload: &[u8],
    hash: &Hash,
) {
    let length = frame_bytes(payload.len());
    assert!(length <= u32::MAX as usize, "frame length must fit u32");
    let start = out.len();
    out.reserve(length);
    out.extend_from_slice(&(length as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&recorded_time_us.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(hash);
    let crc = frame_crc(&out[start..]);
    out[start + offset_crc..start + offset_crc + 4].copy_from_slice(&crc.to_le_bytes());
}

/// What lies at an offset of a segment's record area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A zero length field, or fewer than 4 bytes left: no more records here.
    End,
    /// A frame of this many bytes passed every check.
    Frame(usize),
    /// Something is wrong with the frame here.
    Bad(Corruption),
}

/// Parses and checks (length, CRC, position, flags) the frame at `at` in `bytes`.
/// Does not check the hash link; that is the chain's business.
pub fn parse_at(bytes: &[u8], at: usize, expected_position: Position) -> Parsed {
    if bytes.len() < at + 4 {
        return Parsed::End;
    }
    let length = u32_at(bytes, at);
    if length == 0 {
        return Parsed::End;
    }
    let len = length as usize;
    if len < frame_overhead_bytes || bytes.len() - at < len {
        return Parsed::Bad(Corruption::Length { length });
    }
    match check(&bytes[at..at + len], expected_position) {
        Ok(()) => Parsed::Frame(len),
        Err(reason) => Parsed::Bad(reason),
    }
}

/// Checks one frame of exactly its length: CRC first, then position and flags.
pub fn check(frame: &[u8], expected_position: Position) -> Result<(), Corruption> {
    let stored = u32_at(frame, offset_crc);
    let computed = frame_crc(frame);
    if stored != computed {
        return Err(Corruption::Crc { stored, computed });
    }
    let found = u64_at(frame, offset_position);
    if found != expected_position {
        return Err(Corruption::PositionGap { expected: expected_position, found });
    }
    let flags = u32_at(frame, offset_flags);
    if flags & !flags_known != 0 {
        return Err(Corruption::Flags { flags });
    }
    Ok(())
}
