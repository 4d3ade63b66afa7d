//! `Period`: a calendar month ("2024-03"), the unit in which the fund collects, plans, pays and
//! closes. China's fiscal year is the calendar year, so a period's fiscal year is its year.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Earliest year a period may name; anything before is a typo, not history.
pub const PERIOD_YEAR_MIN: u16 = 1990;
/// Latest year a period may name.
pub const PERIOD_YEAR_MAX: u16 = 2199;

/// A year and month. Ordered chronologically.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: u16,
    month: u8,
}

/// Why a text is not a valid period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("period {0:?} is not of the form YYYY-MM, e.g. \"2024-03\"")]
    Malformed(String),
    #[error("period {0:?} names month {1}, months are 01-12")]
    BadMonth(String, u32),
    #[error("period {0:?} names a year outside {PERIOD_YEAR_MIN}-{PERIOD_YEAR_MAX}")]
    BadYear(String),
}

impl Period {
    /// Builds a period; `None` when the month is not 1-12 or the year is out of range.
    pub fn new(year: u16, month: u8) -> Option<Period> {
        ((1..=12).contains(&month) && (PERIOD_YEAR_MIN..=PERIOD_YEAR_MAX).contains(&year))
            .then_some(Period { year, month })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    /// The fiscal year the period belongs to (the calendar year in China).
    pub fn fiscal_year(self) -> u16 {
        self.year
    }

    /// The following month.
    pub fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        }
    }

    /// The preceding month.
    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }

    /// A dense index (months since year 0), handy for arithmetic and compact keys.
    pub fn index(self) -> u32 {
        u32::from(self.year) * 12 + u32::from(self.month) - 1
    }

    /// The inverse of [`Period::index`].
    pub fn from_index(index: u32) -> Option<Period> {
        let year = u16::try_from(index / 12).ok()?;
        Period::new(year, (index % 12) as u8 + 1)
    }

    /// The period that contains a calendar date.
    pub fn of_date(date: chrono::NaiveDate) -> Option<Period> {
        use chrono::Datelike;
        Period::new(u16::try_from(date.year()).ok()?, date.month() as u8)
    }

    /// The first day of the following month: the moment after which the period is over.
    pub fn end_exclusive(self) -> chrono::NaiveDate {
        let n = self.next();
        chrono::NaiveDate::from_ymd_opt(i32::from(n.year), u32::from(n.month), 1)
            .expect("valid period makes a valid date")
    }

    /// The twelve periods of a fiscal year.
    pub fn months_of(year: u16) -> impl Iterator<Item = Period> {
        (1..=12u8).filter_map(move |m| Period::new(year, m))
    }

    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let malformed = || PeriodError::Malformed(text.to_string());
        let bytes = text.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(malformed());
        }
        let number =
            |s: &str| -> Option<u32> { if s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None } };
        let year = text.get(..4).and_then(number).ok_or_else(malformed)?;
        let month = text.get(5..).and_then(number).ok_or_else(malformed)?;
        if !(1..=12).contains(&month) {
            return Err(PeriodError::BadMonth(text.to_string(), month));
        }
        let year = u16::try_from(year).map_err(|_| PeriodError::BadYear(text.to_string()))?;
        Period::new(year, month as u8).ok_or_else(|| PeriodError::BadYear(text.to_string()))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Period({self})")
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::parse(s)
    }
}

/// "2024-03" in human-readable formats; the dense month index in binary ones (snapshots).
impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u32(self.index())
        }
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Period::parse(&text).map_err(serde::de::Error::custom)
        } else {
            let index = u32::deserialize(deserializer)?;
            Period::from_index(index)
                .ok_or_else(|| serde::de::Error::custom(format!("period index {index} out of range")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_orders() {
        let p = Period::parse("2024-03").unwrap();
        assert_eq!((p.year(), p.month(), p.fiscal_year()), (2024, 3, 2024));
        assert_eq!(p.to_string(), "2024-03");
        assert!(Period::parse("2023-12").unwrap() < p);
        assert_eq!(Period::parse("2023-12").unwrap().next(), Period::parse("2024-01").unwrap());
        assert_eq!(Period::parse("2024-01").unwrap().prev(), Period::parse("2023-12").unwrap());
        assert_eq!(Period::from_index(p.index()), Some(p));
        assert_eq!(Period::months_of(2024).count(), 12);
    }

    #[test]
    fn refuses_bad_text() {
        for bad in ["2024-3", "2024-13", "2024-00", "24-03", "2024/03", "2024-03-01", "abcd-ef", ""] {
            assert!(Period::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Period::parse("2024-13"), Err(PeriodError::BadMonth("2024-13".into(), 13)));
        assert!(matches!(Period::parse("1066-10"), Err(PeriodError::BadYear(_))));
    }
}
