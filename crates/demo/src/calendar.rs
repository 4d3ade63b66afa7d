//! Office time in Gansu (UTC+8) as microseconds since the Unix epoch, UTC: the recorded times of a
//! generated history fall on working days (Monday to Friday; public holidays are ignored) in
//! office hours, like the agencies' own systems would stamp them.

/// Beijing time is UTC+8 all year (no daylight saving).
const UTC_OFFSET_SECONDS: i64 = 8 * 3600;
const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_SECOND: i64 = 1_000_000;
/// Office hours, minutes after local midnight: 09:00 to 17:30.
pub const OFFICE_OPENS_MINUTE: i64 = 9 * 60;
pub const OFFICE_CLOSES_MINUTE: i64 = 17 * 60 + 30;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn days_in_month(year: u16, month: u8) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        _ => 28,
    }
}

/// The UTC microsecond of a local (UTC+8) date and minute of the day.
pub fn local_micros(year: u16, month: u8, day: u32, minute: i64) -> i64 {
    let days = days_from_civil(i64::from(year), u32::from(month), day);
    (days * SECONDS_PER_DAY + minute * 60 - UTC_OFFSET_SECONDS) * MICROS_PER_SECOND
}

/// The working days of one calendar month, for placing events on them.
#[derive(Debug, Clone)]
pub struct Month {
    pub year: u16,
    pub month: u8,
    /// Day-of-month numbers of Monday-Friday, in order.
    workdays: Vec<u32>,
}

impl Month {
    pub fn new(year: u16, month: u8) -> Month {
        let first = days_from_civil(i64::from(year), u32::from(month), 1);
        let workdays = (1..=days_in_month(year, month))
            .filter(|d| {
                // 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays.
                let weekday = (first + i64::from(*d) - 1 + 3).rem_euclid(7);
                weekday < 5
            })
            .collect();
        Month { year, month, workdays }
    }

    /// Number of working days.
    pub fn workdays(&self) -> u32 {
        self.workdays.len() as u32
    }

    /// Day of month of the `n`-th working day (1-based), clamped to the month's working days.
    pub fn workday(&self, n: u32) -> u32 {
        let i = (n.max(1) as usize - 1).min(self.workdays.len() - 1);
        self.workdays[i]
    }

    /// The first working day on or after a calendar day.
    pub fn workday_on_or_after(&self, day: u32) -> u32 {
        self.workdays
            .iter()
            .copied()
            .find(|d| *d >= day)
            .unwrap_or(*self.workdays.last().expect("a month has workdays"))
    }

    /// The time of minute `minute` (after local midnight) on the `n`-th working day.
    pub fn at(&self, n: u32, minute: i64) -> i64 {
        local_micros(self.year, self.month, self.workday(n), minute)
    }

    /// The time of minute `minute` on calendar day `day`.
    pub fn at_day(&self, day: u32, minute: i64) -> i64 {
        local_micros(self.year, self.month, day, minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        // 2024-01-01 09:00 in Beijing is 2024-01-01 01:00 UTC.
        assert_eq!(local_micros(2024, 1, 1, 9 * 60), (19_723 * 86_400 + 3_600) * 1_000_000);
    }

    #[test]
    fn workdays_skip_weekends() {
        // January 2024 starts on a Monday and has 23 working days; February 2024 has 29 days.
        let jan = Month::new(2024, 1);
        assert_eq!(jan.workdays(), 23);
        assert_eq!((jan.workday(1), jan.workday(6)), (1, 8));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }
}
