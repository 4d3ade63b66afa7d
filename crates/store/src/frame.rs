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

/// [`frame_crc`] of three frames at once. The processor's CRC32C instruction takes three cycles
/// to give its result but can start one every cycle, so one frame's CRC (a chain of dependent
/// steps) leaves it two thirds idle; three frames' chains interleaved keep it busy. Reading a
/// sealed segment checks its frames three at a time this way. Where the processor has no such
/// instruction, each frame is checked alone.
pub fn frame_crc3(frames: [&[u8]; 3]) -> [u32; 3] {
    for frame in frames {
        assert!(frame.len() >= frame_overhead_bytes, "a frame is at least {frame_overhead_bytes} bytes");
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the processor has SSE4.2, checked just above; the frames' lengths were
        // checked against the layout.
        return unsafe { frame_crc3_sse42(frames) };
    }
    frames.map(frame_crc)
}

/// [`frame_crc3`] with the `crc32` instruction: the three CRCs over their common length in
/// lockstep, eight bytes a step, then each frame's rest alone.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn frame_crc3_sse42(frames: [&[u8]; 3]) -> [u32; 3] {
    use std::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u32, _mm_crc32_u64};
    let word = |bytes: &[u8], at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    // CRC32C starts from all ones and ends complemented; the length field, then from byte 8.
    let mut crc = frames.map(|frame| u64::from(_mm_crc32_u32(!0, u32_at(frame, 0))));
    let bodies = frames.map(|frame| &frame[offset_position..]);
    let common = bodies.iter().map(|body| body.len()).min().expect("three") / 8 * 8;
    let mut at = 0;
    while at < common {
        crc[0] = _mm_crc32_u64(crc[0], word(bodies[0], at));
        crc[1] = _mm_crc32_u64(crc[1], word(bodies[1], at));
        crc[2] = _mm_crc32_u64(crc[2], word(bodies[2], at));
        at += 8;
    }
    let mut out = [0u32; 3];
    for (i, body) in bodies.iter().enumerate() {
        let mut c = crc[i];
        let mut j = common;
        while j + 8 <= body.len() {
            c = _mm_crc32_u64(c, word(body, j));
            j += 8;
        }
        let mut c = c as u32;
        for &byte in &body[j..] {
            c = _mm_crc32_u8(c, byte);
        }
        out[i] = !c;
    }
    out
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

/// The three frames at `at` if all three lie whole within `bytes` with plausible lengths (what
/// [`parse_at`] would then go on to check); `None` otherwise.
pub fn three_frames_at(bytes: &[u8], at: usize) -> Option<[&[u8]; 3]> {
    let mut frames: [&[u8]; 3] = [&[]; 3];
    let mut rest = bytes.get(at..)?;
    for frame in &mut frames {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().expect("4 bytes")) as usize;
        if len < frame_overhead_bytes || rest.len() < len {
            return None;
        }
        (*frame, rest) = rest.split_at(len);
    }
    Some(frames)
}

/// Checks one frame of exactly its length: CRC first, then position and flags.
pub fn check(frame: &[u8], expected_position: Position) -> Result<(), Corruption> {
    check_with_crc(frame, expected_position, frame_crc(frame))
}

/// [`check`] with the frame's CRC already computed (by [`frame_crc3`]).
pub fn check_with_crc(frame: &[u8], expected_position: Position, computed: u32) -> Result<(), Corruption> {
    let stored = u32_at(frame, offset_crc);
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
