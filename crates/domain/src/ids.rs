//! Identifiers: division codes for regions, and client-chosen ids for plans, payments, commands,
//! tax batches and (pseudonymous) beneficiaries.
//!
//! The ledger never stores a national ID number. A `BeneficiaryRef` is a pseudonym chosen by the
//! agency's own system; text that looks like a resident identity number is refused outright.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest id, in bytes. Ids are stored inline (no allocation) so the ledger's indexes stay small.
pub const ID_BYTES_MAX: usize = 40;

/// A six-digit administrative division code (GB/T 2260), or an internal code of the same shape
/// for agency units that have none (documented in the policy file).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(u32);

/// Why an id or code is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("region code {0:?} is not six digits such as \"620100\"")]
    BadRegionCode(String),
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {ID_BYTES_MAX} bytes")]
    TooLong { kind: &'static str },
    #[error("{kind} {text:?} may contain only ASCII letters, digits and '-', '_', '.', ':'")]
    BadCharacter { kind: &'static str, text: String },
    #[error(
        "beneficiary ref {0:?} looks like a resident identity number; the ledger stores only pseudonymous references"
    )]
    LooksLikeIdNumber(String),
}

impl RegionCode {
    /// The smallest six-digit code (a placeholder where a value is needed but never read).
    pub const MIN: RegionCode = RegionCode(100_000);

    /// Builds a code from its number; `None` unless it has exactly six digits.
    pub fn new(code: u32) -> Option<RegionCode> {
        (100_000..=999_999).contains(&code).then_some(RegionCode(code))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The six ASCII digits, without the formatting machinery: regions are written into every
    /// command digest and record, so this is on the writer's path.
    fn digits(self) -> [u8; 6] {
        let mut out = [b'0'; 6];
        let mut rest = self.0;
        for d in out.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out
    }

    pub fn parse(text: &str) -> Result<RegionCode, IdError> {
        let bad = || IdError::BadRegionCode(text.to_string());
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        RegionCode::new(text.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(std::str::from_utf8(&self.digits()).expect("ASCII digits"))
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({self})")
    }
}

impl FromStr for RegionCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegionCode::parse(s)
    }
}

/// The six digits as a string, in every format (the same bytes `collect_str` of the display
/// would give, so command digests and stored forms do not change).
impl Serialize for RegionCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(std::str::from_utf8(&self.digits()).expect("ASCII digits"))
    }
}

impl<'de> Deserialize<'de> for RegionCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RegionCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An inline, bounded ASCII id. Copy, hashable and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct InlineId {
    len: u8,
    bytes: [u8; ID_BYTES_MAX],
}

/// The bytes an id may contain: ASCII letters and digits, '-', '_', '.', ':'.
const ID_BYTE_OK: [bool; 256] = {
    let mut ok = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        ok[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':');
        b += 1;
    }
    ok
};

impl InlineId {
    fn parse(kind: &'static str, text: &str) -> Result<InlineId, IdError> {
        InlineId::parse_bytes(kind, text.as_bytes())
    }

    /// As [`InlineId::parse`], from bytes: the allowed bytes are ASCII, so bytes that pass are
    /// UTF-8 text (a decoder need not check that first).
    fn parse_bytes(kind: &'static str, text: &[u8]) -> Result<InlineId, IdError> {
        InlineId::check(kind, text).map(InlineId::copy_of)
    }

    /// An id of text that passed [`InlineId::check`].
    #[inline]
    fn copy_of(checked: &str) -> InlineId {
        let mut bytes = [0u8; ID_BYTES_MAX];
        bytes[..checked.len()].copy_from_slice(checked.as_bytes());
        InlineId { len: checked.len() as u8, bytes }
    }

    /// Checks an id's bytes as [`InlineId::parse_bytes`] does, without copying them; the
    /// bytes that pass are ASCII, so they are returned as text.
    #[inline]
    fn check<'a>(kind: &'static str, text: &'a [u8]) -> Result<&'a str, IdError> {
        if text.is_empty() {
            return Err(IdError::Empty { kind });
        }
        if text.len() > ID_BYTES_MAX {
            return Err(IdError::TooLong { kind });
        }
        // Every byte looked up, without a branch per byte: ids are short, and nearly all valid.
        if !text.iter().fold(true, |ok, &b| ok & ID_BYTE_OK[usize::from(b)]) {
            return Err(IdError::BadCharacter { kind, text: String::from_utf8_lossy(text).into_owned() });
        }
        debug_assert!(text.is_ascii());
        // SAFETY: every byte passed `ID_BYTE_OK`, which admits ASCII bytes only; ASCII is UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(text) })
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    #[inline]
    fn as_str(&self) -> &str {
        debug_assert!(self.as_bytes().is_ascii());
        // SAFETY: an `InlineId` is only made by `parse_bytes`, which admits ASCII bytes only
        // (its fields are private to this module), and ASCII is UTF-8. Ids are read as text on
        // every hot path (hashing, encoding, the views), where checking again cost measurably.
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }
}

macro_rules! inline_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(InlineId);

        impl $name {
            /// Parses and validates the id.
            pub fn parse(text: &str) -> Result<$name, IdError> {
                InlineId::parse($kind, text).map($name)
            }

            /// Parses and validates the id from bytes (which must be its ASCII text).
            pub fn parse_bytes(text: &[u8]) -> Result<$name, IdError> {
                InlineId::parse_bytes($kind, text).map($name)
            }

            /// Validates the id's bytes as [`Self::parse_bytes`] does, without copying them:
            /// the text that passes.
            #[inline]
            pub fn check_bytes(text: &[u8]) -> Result<&str, IdError> {
                InlineId::check($kind, text)
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

inline_id!(
    /// A spending plan's id, chosen by the submitting agency's system.
    PlanId, "plan id"
);
inline_id!(
    /// A benefit payment's id, chosen by the paying agency's system; unique across the ledger.
    PaymentId, "payment id"
);
inline_id!(
    /// A client-chosen command id: re-sending it returns the original outcome (idempotency).
    CommandId, "command id"
);
inline_id!(
    /// The tax bureau's reference for a collection batch; unique across the ledger.
    TaxBatchRef, "tax batch ref"
);

impl PaymentId {
    /// The id of text that [`PaymentId::check_bytes`] passed.
    #[inline]
    pub(crate) fn from_checked(checked: &str) -> PaymentId {
        PaymentId(InlineId::copy_of(checked))
    }
}

/// A pseudonymous reference to a beneficiary (an injured worker or a dependant's household).
/// Never a national ID number: eighteen-character text that looks like a resident identity
/// number (17 digits then a digit or 'X') is refused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BeneficiaryRef(InlineId);

impl BeneficiaryRef {
    pub fn parse(text: &str) -> Result<BeneficiaryRef, IdError> {
        BeneficiaryRef::parse_bytes(text.as_bytes())
    }

    /// Parses and validates the ref from bytes (which must be its ASCII text).
    pub fn parse_bytes(text: &[u8]) -> Result<BeneficiaryRef, IdError> {
        BeneficiaryRef::check_bytes(text).map(BeneficiaryRef::from_checked)
    }

    /// The ref of text that [`BeneficiaryRef::check_bytes`] passed.
    #[inline]
    pub(crate) fn from_checked(checked: &str) -> BeneficiaryRef {
        BeneficiaryRef(InlineId::copy_of(checked))
    }

    /// Validates the ref's bytes as [`BeneficiaryRef::parse_bytes`] does, without copying them:
    /// the text that passes.
    #[inline]
    pub fn check_bytes(text: &[u8]) -> Result<&str, IdError> {
        let checked = InlineId::check("beneficiary ref", text)?;
        if looks_like_resident_id(text) {
            return Err(IdError::LooksLikeIdNumber(checked.to_string()));
        }
        Ok(checked)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// True for text shaped like a PRC resident identity number (GB 11643): 17 digits followed by a
/// digit or 'X'. Shape alone suffices: a pseudonym never needs that shape, and refusing it keeps
/// real numbers out even when their check digit was mistyped.
fn looks_like_resident_id(b: &[u8]) -> bool {
    b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
}

impl fmt::Display for BeneficiaryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BeneficiaryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeneficiaryRef({:?})", self.as_str())
    }
}

impl FromStr for BeneficiaryRef {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BeneficiaryRef::parse(s)
    }
}

impl Serialize for BeneficiaryRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BeneficiaryRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        BeneficiaryRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_codes_are_six_digits() {
        assert_eq!(RegionCode::parse("620100").unwrap().get(), 620100);
        assert_eq!(RegionCode::parse("620100").unwrap().to_string(), "620100");
        for bad in ["62010", "6201000", "62O100", "", "-62010", "012345"] {
            assert!(RegionCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_bounded_and_plain() {
        assert_eq!(PlanId::parse("PLAN-620100-2024-03").unwrap().as_str(), "PLAN-620100-2024-03");
        assert_eq!(PaymentId::parse(""), Err(IdError::Empty { kind: "payment id" }));
        assert_eq!(CommandId::parse(&"a".repeat(41)), Err(IdError::TooLong { kind: "command id" }));
        assert!(matches!(TaxBatchRef::parse("a b"), Err(IdError::BadCharacter { .. })));
        assert!(CommandId::parse(&"a".repeat(40)).is_ok());
    }

    #[test]
    fn ids_from_bytes_accept_exactly_what_ids_from_text_accept() {
        for text in ["P-1", "a.b:c_d-9", "", "a b", "é", "620102198001011234", &"x".repeat(40), &"x".repeat(41)] {
            assert_eq!(PaymentId::parse_bytes(text.as_bytes()), PaymentId::parse(text), "{text:?}");
            assert_eq!(BeneficiaryRef::parse_bytes(text.as_bytes()), BeneficiaryRef::parse(text), "{text:?}");
        }
        // Bytes that are not UTF-8 are a bad character, shown lossily.
        let err = PaymentId::parse_bytes(&[b'p', 0xff, b'1']).unwrap_err();
        assert!(matches!(&err, IdError::BadCharacter { text, .. } if text == "p\u{fffd}1"), "{err:?}");
        assert!(BeneficiaryRef::parse_bytes(&[0xc3, 0xa9]).is_err());
        for b in 0..=255u8 {
            let ok = b.is_ascii_alphanumeric() || b"-_.:".contains(&b);
            assert_eq!(PlanId::parse_bytes(&[b]).is_ok(), ok, "byte {b}");
        }
    }

    #[test]
    fn region_codes_print_and_serialize_as_their_six_digits() {
        for code in [100_000, 100_001, 620_100, 620_000, 909_090, 999_999] {
            let region = RegionCode::new(code).unwrap();
            assert_eq!(region.to_string(), format!("{code:06}"));
            assert_eq!(format!("{region:>8}"), format!("{:>8}", format!("{code:06}")), "padding is honoured");
            assert_eq!(serde_json::to_string(&region).unwrap(), format!("\"{code:06}\""));
            // The command digest's encoding: a length-prefixed string, as before.
            let mut expected = vec![6u8];
            expected.extend_from_slice(format!("{code:06}").as_bytes());
            assert_eq!(postcard::to_stdvec(&region).unwrap(), expected);
            assert_eq!(postcard::from_bytes::<RegionCode>(&expected).unwrap(), region);
        }
    }

    #[test]
    fn beneficiary_refs_refuse_id_numbers() {
        assert!(BeneficiaryRef::parse("B-00042").is_ok());
        assert!(BeneficiaryRef::parse("62010219800101123X").is_err());
        assert!(BeneficiaryRef::parse("620102198001011234").is_err());
        assert!(BeneficiaryRef::parse("62010219800101123").is_ok(), "17 digits is not an ID shape");
    }
}
