//! Protobuf wire primitives over a byte slice, for the hand-written readers of hot messages (the
//! rebuild's event decoder, the API's batch reader). They are written to inline into field loops,
//! and accept exactly the varints and keys prost's `decode_varint` and `decode_key` accept, with
//! the same values (checked against them in the tests below). Each returns `None` where prost
//! would return an error, and then leaves `buf` unspecified.

pub use prost::encoding::WireType;

/// A varint, as prost's `decode_varint` reads it: at most ten bytes, the tenth at most 1 (no
/// value beyond 64 bits), over-long encodings of small values accepted.
#[inline(always)]
pub fn varint(buf: &mut &[u8]) -> Option<u64> {
    let bytes = *buf;
    let first = *bytes.first()?;
    if first < 0x80 {
        *buf = &bytes[1..];
        return Some(u64::from(first));
    }
    let mut value = u64::from(first & 0x7f);
    for i in 1..10 {
        let b = *bytes.get(i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            if i == 9 && b > 1 {
                return None;
            }
            *buf = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

/// A field key, as prost's `decode_key` reads it: a varint within 32 bits, a wire type 0-5 and
/// a field number of at least 1.
#[inline(always)]
pub fn key(buf: &mut &[u8]) -> Option<(u32, WireType)> {
    let key = varint(buf)?;
    let key = u32::try_from(key).ok()?;
    let wire_type = match key & 0x07 {
        0 => WireType::Varint,
        1 => WireType::SixtyFourBit,
        2 => WireType::LengthDelimited,
        3 => WireType::StartGroup,
        4 => WireType::EndGroup,
        5 => WireType::ThirtyTwoBit,
        _ => return None,
    };
    let tag = key >> 3;
    (tag >= 1).then_some((tag, wire_type))
}

/// A length-delimited value's bytes (the length checked against what is left).
#[inline(always)]
pub fn delimited<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = varint(buf)?;
    let len = usize::try_from(len).ok().filter(|len| *len <= buf.len())?;
    let (value, rest) = buf.split_at(len);
    *buf = rest;
    Some(value)
}

/// Skips one unknown field's value, as protobuf does. Groups (deprecated, never written by this
/// contract) are left to the reference decoder, which also bounds their nesting.
#[inline(always)]
pub fn skip(buf: &mut &[u8], wire_type: WireType) -> Option<()> {
    let len = match wire_type {
        WireType::Varint => {
            varint(buf)?;
            0
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => usize::try_from(varint(buf)?).ok()?,
        WireType::StartGroup | WireType::EndGroup => return None,
    };
    *buf = buf.get(len..)?;
    Some(())
}

/// The one-byte key of field `tag` (below 16) with wire type `wire_type`.
pub const fn one_byte_key(tag: u8, wire_type: u8) -> u8 {
    tag << 3 | wire_type
}

/// A varint field `tag` (below 16) next in `buf`, or `None`.
#[inline(always)]
pub fn keyed_varint(buf: &mut &[u8], tag: u8) -> Option<u64> {
    let (&first, rest) = buf.split_first()?;
    if first != one_byte_key(tag, 0) {
        return None;
    }
    *buf = rest;
    varint(buf)
}

/// A varint field `tag` (below 16) if it is next in `buf`: `Some(value)`, or `Some(None)` for a
/// malformed varint; `None`, and nothing read, if another field or nothing comes next (a reader
/// of fields in order then takes the field's default).
#[inline(always)]
pub fn keyed_varint_or_default(buf: &mut &[u8], tag: u8) -> Option<Option<u64>> {
    match buf.split_first() {
        Some((&first, rest)) if first == one_byte_key(tag, 0) => {
            *buf = rest;
            Some(varint(buf))
        }
        _ => None,
    }
}

/// A length-delimited field `tag` (below 16) if it is next in `buf`: `Some(value)`, or
/// `Some(None)` for a malformed length; `None`, and nothing read, if another field or nothing
/// comes next.
#[inline(always)]
pub fn keyed_delimited_or_absent<'a>(buf: &mut &'a [u8], tag: u8) -> Option<Option<&'a [u8]>> {
    match buf.split_first() {
        Some((&first, rest)) if first == one_byte_key(tag, 2) => {
            *buf = rest;
            Some(delimited(buf))
        }
        _ => None,
    }
}

/// A length-delimited field `tag` (below 16) next in `buf`, or `None`.
#[inline(always)]
pub fn keyed_delimited<'a>(buf: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    let (&first, rest) = buf.split_first()?;
    if first != one_byte_key(tag, 2) {
        return None;
    }
    *buf = rest;
    delimited(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our varint and key readers against prost's on `bytes`: same value, same bytes consumed,
    /// or both refusing.
    fn same_as_prost(bytes: &[u8]) {
        let (mut ours, mut theirs) = (bytes, bytes);
        let expected = prost::encoding::decode_varint(&mut theirs).ok();
        assert_eq!(varint(&mut ours), expected, "varint {bytes:02x?}");
        if expected.is_some() {
            assert_eq!(ours.len(), theirs.len(), "varint length {bytes:02x?}");
        }
        let (mut ours, mut theirs) = (bytes, bytes);
        let expected = prost::encoding::decode_key(&mut theirs).ok();
        assert_eq!(key(&mut ours), expected, "key {bytes:02x?}");
        if expected.is_some() {
            assert_eq!(ours.len(), theirs.len(), "key length {bytes:02x?}");
        }
    }

    #[test]
    fn varints_and_keys_read_as_prost_reads_them() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0x80], vec![0x80, 0], vec![0xff; 11], vec![0xff; 9]];
        for last in [0u8, 1, 2, 0x7f, 0x80] {
            let mut ten = vec![0xffu8; 9];
            ten.push(last);
            cases.push(ten.clone());
            ten.push(0);
            cases.push(ten);
        }
        for value in [0u64, 1, 7, 8, 127, 128, 300, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX] {
            let mut buf = Vec::new();
            prost::encoding::encode_varint(value, &mut buf);
            for cut in 0..=buf.len() {
                cases.push(buf[..cut].to_vec());
            }
            buf.push(0x42);
            cases.push(buf);
        }
        // Every key byte pattern of one and two bytes: wire types 6 and 7, tag 0.
        for a in 0..=255u8 {
            cases.push(vec![a]);
            for b in [0u8, 1, 0x7f, 0x80] {
                cases.push(vec![a, b]);
            }
        }
        // A pseudo-random sweep over longer inputs.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 12) as usize;
            cases.push(x.to_le_bytes().iter().chain(&[0x81, 0x01, 0x00, 0xff]).take(len).copied().collect());
        }
        for case in cases {
            same_as_prost(&case);
        }
    }
}
