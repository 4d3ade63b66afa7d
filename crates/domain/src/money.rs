//! `Money`: an exact amount of yuan with at most two decimal places (fen), built on `rust_decimal`.
//!
//! Every amount in the ledger is a `Money`. There is no floating point anywhere near an amount:
//! parsing accepts only plain decimal text, arithmetic is checked, and every value is kept within
//! a named ceiling so that no sum of a realistic history can overflow.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of decimal places of a yuan amount: one fen is 0.01 yuan.
pub const MONEY_SCALE: u32 = 2;

/// The largest magnitude a single `Money` may hold: one trillion yuan, in fen.
///
/// Gansu's fund moves 1-2 billion yuan a year; a trillion leaves room for any province's whole
/// history while keeping every amount far inside `i64` fen and `Decimal`'s 96-bit mantissa.
pub const MONEY_FEN_MAX: i64 = 100_000_000_000_000;

/// Longest accepted amount text, in bytes; longer input is refused before any parsing.
pub const MONEY_TEXT_BYTES_MAX: usize = 24;

/// An exact amount in yuan, scale fixed at 2 (fen). May be negative only as the result of a
/// checked subtraction used for differences; amounts in commands are validated as positive.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money(Decimal);

/// Amounts order as their fen do: every `Money` has scale 2, so the fen are the value, and
/// comparing two integers is much cheaper than a general decimal comparison (the writer compares
/// amounts for every payment). Consistent with the derived equality, which is numeric.
impl Ord for Money {
    fn cmp(&self, other: &Money) -> std::cmp::Ordering {
        self.to_fen().cmp(&other.to_fen())
    }
}

impl PartialOrd for Money {
    fn partial_cmp(&self, other: &Money) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a text or number is not a valid `Money`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount text is longer than {MONEY_TEXT_BYTES_MAX} bytes")]
    TooLong,
    #[error("amount {0:?} is not a plain decimal number such as \"1234.56\"")]
    Malformed(String),
    #[error("amount {0:?} has more than two decimal places (the smallest unit is one fen, 0.01)")]
    TooPrecise(String),
    #[error("amount {0:?} exceeds the ceiling of 1000000000000.00 yuan")]
    AboveCeiling(String),
    #[error("amount arithmetic overflowed the ceiling of 1000000000000.00 yuan")]
    Overflow,
}

impl Money {
    /// Zero yuan, at the fen scale like every other amount (prints "0.00").
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, MONEY_SCALE));

    /// The ceiling as a `Money`.
    pub fn ceiling() -> Money {
        Money(Decimal::new(MONEY_FEN_MAX, MONEY_SCALE))
    }

    /// Builds an amount from a whole number of fen.
    pub fn from_fen(fen: i64) -> Result<Money, MoneyError> {
        Money::within_ceiling(fen).ok_or_else(|| MoneyError::AboveCeiling(fen.to_string()))
    }

    /// Whether `fen` is an amount [`Money::from_fen`] accepts (at most the ceiling either way).
    #[inline]
    pub fn fen_within_ceiling(fen: i64) -> bool {
        fen.unsigned_abs() <= MONEY_FEN_MAX as u64
    }

    /// Builds an amount from whole yuan (handy in tests and fixtures).
    pub fn yuan(yuan: i64) -> Money {
        Money::from_fen(yuan.checked_mul(100).expect("yuan fits in fen")).expect("within ceiling")
    }

    /// The amount in whole fen; exact, since the scale is always 2.
    #[inline]
    pub fn to_fen(self) -> i64 {
        let mantissa = self.0.mantissa();
        debug_assert_eq!(self.0.scale(), MONEY_SCALE);
        i64::try_from(mantissa).expect("Money is bounded by MONEY_FEN_MAX")
    }

    /// The underlying decimal (scale 2).
    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// Converts an exact decimal; refuses more than two decimal places or a value above the ceiling.
    pub fn from_decimal(value: Decimal) -> Result<Money, MoneyError> {
        let normal = value.normalize();
        if normal.scale() > MONEY_SCALE {
            return Err(MoneyError::TooPrecise(value.to_string()));
        }
        let mut fixed = normal;
        fixed.rescale(MONEY_SCALE);
        if fixed.abs() > Money::ceiling().0 {
            return Err(MoneyError::AboveCeiling(value.to_string()));
        }
        Ok(Money(fixed))
    }

    /// Rounds an exact decimal to the nearest fen, halves away from zero (the usual rule for
    /// benefit standards), then checks the ceiling.
    pub fn round_from_decimal(value: Decimal) -> Result<Money, MoneyError> {
        let rounded = value.round_dp_with_strategy(MONEY_SCALE, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        Money::from_decimal(rounded)
    }

    /// Parses plain decimal text: optional leading '-', digits, optionally '.' and one or two
    /// digits. No exponents, no '+', no spaces, no separators, no "NaN" or "inf".
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if text.len() > MONEY_TEXT_BYTES_MAX {
            return Err(MoneyError::TooLong);
        }
        if !is_plain_decimal(text) {
            return Err(MoneyError::Malformed(text.to_string()));
        }
        if text.split_once('.').is_some_and(|(_, f)| f.len() > MONEY_SCALE as usize) {
            return Err(MoneyError::TooPrecise(text.to_string()));
        }
        // Plain text of at most two decimals is whole fen: read it as an integer (every command
        // carries an amount, and the decimal parser costs several times this). Text beyond the
        // ceiling falls through to the decimal reading, which refuses it in its own words.
        if let Some(money) = plain_fen(text).and_then(|fen| Money::from_fen(fen).ok()) {
            return Ok(money);
        }
        let value = Decimal::from_str(text).map_err(|_| MoneyError::AboveCeiling(text.to_string()))?;
        Money::from_decimal(value)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn is_positive(self) -> bool {
        self.0.is_sign_positive() && !self.0.is_zero()
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    /// Checked addition: `None` when the result would pass the ceiling.
    /// In fen: both amounts are within the ceiling (10^14 fen), so their sum fits an `i64`.
    #[inline]
    pub fn checked_add(self, other: Money) -> Option<Money> {
        Money::within_ceiling(self.to_fen() + other.to_fen())
    }

    /// Checked subtraction: `None` when the result would pass the ceiling (negative results are
    /// allowed; use [`Money::checked_sub_nonneg`] for balances).
    #[inline]
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        Money::within_ceiling(self.to_fen() - other.to_fen())
    }

    /// `fen` as money if it is within the ceiling (as [`Money::from_fen`], without an error to
    /// build). Zero is always positive zero.
    #[inline]
    pub fn within_ceiling(fen: i64) -> Option<Money> {
        Money::fen_within_ceiling(fen).then(|| Money(Decimal::new(fen, MONEY_SCALE)))
    }

    /// Checked subtraction for balances: `None` when the result would be negative.
    pub fn checked_sub_nonneg(self, other: Money) -> Option<Money> {
        self.checked_sub(other).filter(|m| !m.is_negative())
    }

    /// Multiplies by an exact ratio and rounds to the fen (half away from zero).
    pub fn checked_mul_ratio(self, ratio: Decimal) -> Option<Money> {
        let product = self.0.checked_mul(ratio)?;
        Money::round_from_decimal(product).ok()
    }

    /// The smaller of two amounts.
    pub fn min(self, other: Money) -> Money {
        if self <= other { self } else { other }
    }

    /// The larger of two amounts.
    pub fn max(self, other: Money) -> Money {
        if self >= other { self } else { other }
    }

    /// Adds, panicking on overflow. Only for sums the caller has already bounded (a programmer
    /// error otherwise), such as totals inside state whose inputs were checked by `decide`.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // named methods keep the panic visible at call sites
    pub fn add(self, other: Money) -> Money {
        self.checked_add(other).expect("money sum within ceiling")
    }

    /// Subtracts, panicking on overflow; the result may be negative.
    #[track_caller]
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, other: Money) -> Money {
        self.checked_sub(other).expect("money difference within ceiling")
    }
}

/// The fen of plain decimal text with at most two decimals (as [`Money::parse`] has checked),
/// or `None` when the digits do not fit an `i64` (the caller then reads it as a decimal).
fn plain_fen(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let mut fen: i64 = 0;
    for b in whole.bytes() {
        fen = fen.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let mut cents = 0;
    for i in 0..MONEY_SCALE as usize {
        cents = cents * 10 + fraction.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    let fen = fen.checked_mul(100)?.checked_add(cents)?;
    Some(if negative { -fen } else { fen })
}

/// Whether `text` is plain decimal notation: an optional '-', digits, then optionally '.' and
/// digits. No exponent, '+', '_', spaces, "NaN" or "inf": one value has few spellings, in files,
/// on the wire and on disk alike.
pub fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

impl Default for Money {
    fn default() -> Money {
        Money::ZERO
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The scale is always 2, so Display prints exactly two decimals ("1234.50").
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({})", self.0)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

/// Text ("1234.56") in human-readable formats (JSON, TOML); whole fen in binary ones (snapshots),
/// which is smaller and much faster, and just as exact.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.to_fen())
        }
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Money::parse(&text).map_err(serde::de::Error::custom)
        } else {
            Money::from_fen(i64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
        }
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_two_decimals() {
        assert_eq!(Money::parse("1234.56").unwrap().to_string(), "1234.56");
        assert_eq!(Money::parse("1234.5").unwrap().to_string(), "1234.50");
        assert_eq!(Money::parse("7").unwrap().to_string(), "7.00");
        assert_eq!(Money::parse("0.01").unwrap().to_fen(), 1);
        assert_eq!(Money::parse("-3.10").unwrap().to_fen(), -310);
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "", "1.234", "1e5", "1E5", "NaN", "nan", "inf", "-inf", "+1", " 1", "1 ", "1,000", "1.", ".5", "--1",
            "0x10", "１２", "1.2.3", "12a",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Money::parse("1.234"), Err(MoneyError::TooPrecise("1.234".into())));
        assert!(matches!(Money::parse("1e5"), Err(MoneyError::Malformed(_))));
        assert_eq!(Money::parse(""), Err(MoneyError::Empty));
        assert_eq!(Money::parse(&"9".repeat(30)), Err(MoneyError::TooLong));
    }

    #[test]
    fn refuses_amounts_above_the_ceiling() {
        assert!(Money::parse("1000000000000.00").is_ok());
        assert!(matches!(Money::parse("1000000000000.01"), Err(MoneyError::AboveCeiling(_))));
        assert!(matches!(Money::parse("99999999999999999999"), Err(MoneyError::AboveCeiling(_))));
        assert!(Money::from_fen(MONEY_FEN_MAX + 1).is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let top = Money::ceiling();
        assert_eq!(top.checked_add(Money::from_fen(1).unwrap()), None);
        assert_eq!(Money::yuan(5).checked_sub_nonneg(Money::yuan(6)), None);
        assert_eq!(Money::yuan(5).checked_sub(Money::yuan(6)), Some(Money::yuan(-1)));
        assert_eq!(Money::parse("100.00").unwrap().checked_mul_ratio(Decimal::new(5, 1)), Some(Money::yuan(50)));
        // Half a fen rounds away from zero.
        assert_eq!(
            Money::parse("0.01").unwrap().checked_mul_ratio(Decimal::new(5, 1)),
            Some(Money::parse("0.01").unwrap())
        );
    }

    #[test]
    fn serde_round_trips_as_text() {
        let m = Money::parse("42.10").unwrap();
        let v: Money = serde_plain_roundtrip(&m);
        assert_eq!(v, m);
    }

    fn serde_plain_roundtrip(m: &Money) -> Money {
        #[derive(Serialize, Deserialize)]
        struct W {
            m: Money,
        }
        let text = toml::to_string(&W { m: *m }).unwrap();
        assert!(text.contains("\"42.10\""), "{text}");
        toml::from_str::<W>(&text).unwrap().m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn text_round_trips(fen in -MONEY_FEN_MAX..=MONEY_FEN_MAX) {
            let m = Money::from_fen(fen).unwrap();
            let back = Money::parse(&m.to_string()).unwrap();
            prop_assert_eq!(back, m);
            prop_assert_eq!(back.to_fen(), fen);
        }

        #[test]
        fn addition_matches_integer_fen(a in 0..MONEY_FEN_MAX, b in 0..MONEY_FEN_MAX) {
            let sum = Money::from_fen(a).unwrap().checked_add(Money::from_fen(b).unwrap());
            match a.checked_add(b).filter(|s| *s <= MONEY_FEN_MAX) {
                Some(s) => prop_assert_eq!(sum.map(Money::to_fen), Some(s)),
                None => prop_assert_eq!(sum, None),
            }
        }

        /// Reading text as whole fen agrees with reading it as a decimal: the same value, the
        /// same text back, the same refusal.
        #[test]
        fn text_reads_as_its_decimal_reading(
            negative in any::<bool>(),
            zeros in 0usize..3,
            whole in "[0-9]{1,16}",
            fraction in prop::option::of("[0-9]{0,3}"),
        ) {
            let text = format!(
                "{}{}{whole}{}",
                if negative { "-" } else { "" },
                "0".repeat(zeros),
                fraction.map(|f| format!(".{f}")).unwrap_or_default()
            );
            let by_decimal = (|| {
                if !is_plain_decimal(&text) {
                    return Err(MoneyError::Malformed(text.clone()));
                }
                if text.split_once('.').is_some_and(|(_, f)| f.len() > 2) {
                    return Err(MoneyError::TooPrecise(text.clone()));
                }
                let value = Decimal::from_str(&text).map_err(|_| MoneyError::AboveCeiling(text.clone()))?;
                Money::from_decimal(value)
            })();
            let parsed = Money::parse(&text);
            match (&parsed, &by_decimal) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(a.to_fen(), b.to_fen());
                    if !a.is_zero() {
                        prop_assert_eq!(a.to_string(), b.to_string());
                    }
                }
                _ => prop_assert_eq!(&parsed, &by_decimal),
            }
        }

        /// The integer fast paths agree with decimal arithmetic, the reference: order, sums and
        /// differences (printed, so that a zero is "0.00" whatever the operands' signs).
        #[test]
        fn fen_arithmetic_matches_decimal(a in -MONEY_FEN_MAX..=MONEY_FEN_MAX, b in -MONEY_FEN_MAX..=MONEY_FEN_MAX) {
            let (ma, mb) = (Money::from_fen(a).unwrap(), Money::from_fen(b).unwrap());
            let (da, db) = (ma.as_decimal(), mb.as_decimal());
            prop_assert_eq!(ma.cmp(&mb), da.cmp(&db));
            prop_assert_eq!(ma.cmp(&ma), std::cmp::Ordering::Equal);
            let ceiling = Money::ceiling().as_decimal();
            for (fast, exact) in [(ma.checked_add(mb), da + db), (ma.checked_sub(mb), da - db)] {
                match fast {
                    Some(m) => {
                        prop_assert_eq!(m.as_decimal(), exact);
                        prop_assert_eq!(m.to_string(), Money::from_decimal(exact).unwrap().to_string());
                    }
                    None => prop_assert!(exact.abs() > ceiling),
                }
            }
            prop_assert_eq!(Money::from_fen(5).unwrap().checked_sub(Money::from_fen(5).unwrap()).unwrap().to_string(), "0.00");
        }
    }
}
