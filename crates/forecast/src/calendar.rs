//! Civil dates from day numbers, Easter, and the bank holidays of England and Wales —
//! what a holiday-aware model needs, without a date crate.
//!
//! Day numbers count days since 1970-01-01 (negative before). The conversions are Howard
//! Hinnant's `days_from_civil` / `civil_from_days`; Easter Sunday is the anonymous
//! Gregorian computus (Meeus/Jones/Butcher).

/// (year, month 1–12, day 1–31) of a day number.
pub fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The day number of a civil date.
pub fn day_number(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Day of the week, 0 = Monday … 6 = Sunday.
pub fn weekday(day: i64) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (day + 3).rem_euclid(7) as u32
}

/// Easter Sunday of `year` (Gregorian) as a day number.
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
    let day = (h + l - 7 * m + 114) % 31 + 1;
    day_number(year, month as u32, day as u32)
}

/// The first `weekday` (0 = Monday) on or after a day.
fn on_or_after(day: i64, wd: u32) -> i64 {
    day + i64::from((wd + 7 - weekday(day)) % 7)
}

/// A named holiday on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    /// Which holiday (stable index into [`UK_NAMES`]).
    pub kind: usize,
    /// Its day number.
    pub day: i64,
}

/// Names of the England and Wales holidays, in `kind` order.
pub const UK_NAMES: [&str; 8] = [
    "New Year's Day",
    "Good Friday",
    "Easter Monday",
    "Early May bank holiday",
    "Spring bank holiday",
    "Summer bank holiday",
    "Christmas Day",
    "Boxing Day",
];

/// The England and Wales bank holidays of `year` (on their calendar dates; substitute
/// days for weekends are left out, the windows around them cover the effect).
pub fn uk_holidays(year: i64) -> Vec<Holiday> {
    let e = easter(year);
    let last_monday = |month: u32, days: u32| {
        let end = day_number(year, month, days);
        end - i64::from(weekday(end))
    };
    let days = [
        day_number(year, 1, 1),
        e - 2,
        e + 1,
        on_or_after(day_number(year, 5, 1), 0),
        last_monday(5, 31),
        last_monday(8, 31),
        day_number(year, 12, 25),
        day_number(year, 12, 26),
    ];
    days.iter()
        .enumerate()
        .map(|(kind, &day)| Holiday { kind, day })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(day_number(1998, 3, 23), civil_inv(1998, 3, 23));
        assert_eq!(
            weekday(day_number(1998, 3, 23)),
            0,
            "1998-03-23 was a Monday"
        );
        assert_eq!(civil(easter(1998)), (1998, 4, 12));
        assert_eq!(civil(easter(1997)), (1997, 3, 30));
        assert_eq!(civil(easter(2024)), (2024, 3, 31));
        let h = uk_holidays(1997);
        assert_eq!(civil(h[3].day), (1997, 5, 5));
        assert_eq!(civil(h[4].day), (1997, 5, 26));
    }

    fn civil_inv(y: i64, m: u32, d: u32) -> i64 {
        (0..20_000).find(|&k| civil(k) == (y, m, d)).unwrap()
    }
}
