//! Calendar facts the seasonality needs: weekday, month end, public holidays.
//!
//! Holidays are a pan-European approximation shared by all home countries: 1 January,
//! Good Friday, Easter Monday, 1 May, Ascension Day, Whit Monday, 24–26 December and
//! 31 December.

use riskstream_core::time::{civil_from_days, days_from_civil};

/// Monday = 0 … Sunday = 6, for a day count since 1970-01-01 (a Thursday).
pub fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// Easter Sunday of `year` (anonymous Gregorian algorithm), as days since the epoch.
pub fn easter(year: i64) -> i64 {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let dom = (h + l - 7 * m + 114) % 31 + 1;
    days_from_civil(year, month as u32, dom as u32)
}

/// True on a public holiday.
pub fn is_holiday(day: i64) -> bool {
    let (y, m, d) = civil_from_days(day);
    if matches!(
        (m, d),
        (1, 1) | (5, 1) | (12, 24) | (12, 25) | (12, 26) | (12, 31)
    ) {
        return true;
    }
    let e = easter(y);
    [e - 2, e + 1, e + 39, e + 50].contains(&day)
}

/// Day of the month (1–31) and whether `day` is the month's last day.
pub fn day_of_month(day: i64) -> (u32, bool) {
    let (_, _, d) = civil_from_days(day);
    let (_, _, next) = civil_from_days(day + 1);
    (d, next == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(weekday(days_from_civil(2024, 1, 1)), 0); // a Monday
        assert_eq!(weekday(days_from_civil(2024, 1, 7)), 6);
        assert_eq!(easter(2024), days_from_civil(2024, 3, 31));
        assert_eq!(easter(2025), days_from_civil(2025, 4, 20));
        assert!(is_holiday(days_from_civil(2024, 3, 29))); // Good Friday
        assert!(is_holiday(days_from_civil(2024, 5, 20))); // Whit Monday
        assert!(!is_holiday(days_from_civil(2024, 3, 28)));
        assert_eq!(day_of_month(days_from_civil(2024, 2, 29)), (29, true));
        assert_eq!(day_of_month(days_from_civil(2024, 3, 1)), (1, false));
    }
}
