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

/// Whether `key` (a one-byte key) comes next in `buf`; if so, `buf` moves past it.
#[inline(always)]
fn take_key(buf: &mut &[u8], key: u8) -> bool {
    match buf.split_first() {
        Some((&first, rest)) if first == key => {
            *buf = rest;
            true
        }
        _ => false,
    }
}

/// A varint field `tag` (below 16) next in `buf`, or `None`.
#[inline(always)]
pub fn keyed_varint(buf: &mut &[u8], tag: u8) -> Option<u64> {
    if take_key(buf, one_byte_key(tag, 0)) { varint(buf) } else { None }
}

/// A varint field `tag` (below 16) if it is next in `buf`, else 0 with nothing read: proto3
/// leaves a field at its default out, so a reader of fields in order takes 0 for a missing one.
/// `None` for a malformed varint.
#[inline(always)]
pub fn keyed_varint_or_zero(buf: &mut &[u8], tag: u8) -> Option<u64> {
    if take_key(buf, one_byte_key(tag, 0)) { varint(buf) } else { Some(0) }
}

/// A length-delimited field `tag` (below 16) next in `buf`, or `None`.
#[inline(always)]
pub fn keyed_delimited<'a>(buf: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    if take_key(buf, one_byte_key(tag, 2)) { delimited(buf) } else { None }
}

/// A length-delimited field `tag` (below 16) if it is next in `buf`, else empty with nothing
/// read (as [`keyed_varint_or_zero`]). `None` for a malformed length.
#[inline(always)]
pub fn keyed_delimited_or_empty<'a>(buf: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    if take_key(buf, one_byte_key(tag, 2)) { delimited(buf) } else { Some(&[]) }
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
    fn keyed_fields_are_read_when_next_and_defaulted_or_refused_when_not() {
        // Field 2 as a varint (0x10) and as bytes (0x12), then field 3 (0x18).
        let (mut a, mut b) = (&[0x10, 0x96, 0x01, 0x18, 0x05][..], &[0x12, 0x02, b'o', b'k', 0x18][..]);
        assert_eq!(keyed_varint(&mut { a }, 3), None, "another field comes first");
        assert_eq!(keyed_varint_or_zero(&mut a, 1), Some(0));
        assert_eq!(a.len(), 5, "nothing read for a missing field");
        assert_eq!(keyed_varint_or_zero(&mut a, 2), Some(150));
        assert_eq!(keyed_varint(&mut a, 3), Some(5));
        assert!(a.is_empty());
        assert_eq!(keyed_delimited(&mut { b }, 3), None);
        assert_eq!(keyed_delimited_or_empty(&mut b, 1), Some(&[][..]));
        assert_eq!(keyed_delimited_or_empty(&mut b, 2), Some(&b"ok"[..]));
        assert_eq!(b, &[0x18]);
        // A malformed value under the right key is refused, not defaulted.
        assert_eq!(keyed_varint_or_zero(&mut &[0x10, 0x80][..], 2), None);
        assert_eq!(keyed_delimited_or_empty(&mut &[0x12, 0x05, 0x00][..], 2), None);
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
