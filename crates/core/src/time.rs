//! Event time: timestamps as microseconds since the Unix epoch (UTC), and durations.
//!
//! Every timestamp inside riskstream is an `i64` count of microseconds since
//! 1970-01-01T00:00:00Z. That is what Arrow's `Timestamp(Microsecond, "UTC")` stores, it
//! orders and subtracts without allocation, and it covers ±292,000 years.
//!
//! Parsing is on the ingest hot path (one call per row), so the common ISO-8601 shapes
//! (`2018-04-01 00:00:31`, `2018-04-01T00:00:31.250Z`, with an optional `+hh:mm` offset)
//! are parsed by hand without allocating; other shapes are declared in the schema.

use std::fmt;

/// Microseconds per second.
pub const MICROS_PER_SEC: i64 = 1_000_000;
/// Microseconds per day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

/// How a timestamp field is written in the source data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH:MM]`; no offset means UTC.
    #[default]
    Iso8601,
    /// An integer count of seconds since the epoch.
    UnixSeconds,
    /// An integer count of milliseconds since the epoch.
    UnixMillis,
    /// An integer count of microseconds since the epoch.
    UnixMicros,
}

impl TimestampFormat {
    /// The names accepted in a schema file.
    pub const NAMES: [&'static str; 4] = ["iso8601", "unix_s", "unix_ms", "unix_us"];

    /// Parses a format name from a schema file.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "iso8601" => Self::Iso8601,
            "unix_s" => Self::UnixSeconds,
            "unix_ms" => Self::UnixMillis,
            "unix_us" => Self::UnixMicros,
            _ => return None,
        })
    }

    /// The name used in schema files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Iso8601 => "iso8601",
            Self::UnixSeconds => "unix_s",
            Self::UnixMillis => "unix_ms",
            Self::UnixMicros => "unix_us",
        }
    }

    /// Parses `text` into microseconds since the epoch.
    pub fn parse(self, text: &str) -> Result<i64, TimeError> {
        let int = |scale: i64| -> Result<i64, TimeError> {
            let v: i64 = trim(text).parse().map_err(|_| TimeError::NotAnInteger)?;
            v.checked_mul(scale).ok_or(TimeError::OutOfRange)
        };
        match self {
            Self::Iso8601 => parse_iso8601(text),
            Self::UnixSeconds => int(MICROS_PER_SEC),
            Self::UnixMillis => int(1_000),
            Self::UnixMicros => int(1),
        }
    }
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// The text is not of the shape `YYYY-MM-DD HH:MM:SS`.
    Shape,
    /// A month, day, hour, minute or second is out of its range.
    FieldRange,
    /// An epoch-based timestamp is not an integer.
    NotAnInteger,
    /// The value does not fit in 64-bit microseconds.
    OutOfRange,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeError::Shape => {
                "not a timestamp of the form YYYY-MM-DD HH:MM:SS[.ffffff][Z|+HH:MM]"
            }
            TimeError::FieldRange => "month, day, hour, minute or second out of range",
            TimeError::NotAnInteger => "not an integer epoch timestamp",
            TimeError::OutOfRange => "timestamp out of range",
        })
    }
}

impl std::error::Error for TimeError {}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// `text.trim()`, with the common case (no space at either end) answered from two bytes:
/// `str::trim` decodes characters to look for Unicode spaces, and readers call it on every
/// numeric and time cell.
#[inline]
pub fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(&a), Some(&b))
            if a.is_ascii()
                && b.is_ascii()
                && !a.is_ascii_whitespace()
                && !b.is_ascii_whitespace() =>
        {
            text
        }
        _ => text.trim(),
    }
}

/// Parses `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z|±HH:MM]` (or a bare `YYYY-MM-DD`) into
/// microseconds since the epoch. Fractions beyond microseconds are truncated.
pub fn parse_iso8601(text: &str) -> Result<i64, TimeError> {
    let b = trim(text).as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(TimeError::Shape);
    }
    let y = i64::from(digits(&b[0..4]).ok_or(TimeError::Shape)?);
    let mo = digits(&b[5..7]).ok_or(TimeError::Shape)?;
    let d = digits(&b[8..10]).ok_or(TimeError::Shape)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return Err(TimeError::FieldRange);
    }
    let mut micros = days_from_civil(y, mo, d) * MICROS_PER_DAY;
    let rest = &b[10..];
    if rest.is_empty() {
        return Ok(micros);
    }
    if rest.len() < 9 || !(rest[0] == b' ' || rest[0] == b'T') || rest[3] != b':' || rest[6] != b':'
    {
        return Err(TimeError::Shape);
    }
    let h = digits(&rest[1..3]).ok_or(TimeError::Shape)?;
    let mi = digits(&rest[4..6]).ok_or(TimeError::Shape)?;
    let s = digits(&rest[7..9]).ok_or(TimeError::Shape)?;
    if h > 23 || mi > 59 || s > 59 {
        return Err(TimeError::FieldRange);
    }
    micros += (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)) * MICROS_PER_SEC;
    let mut rest = &rest[9..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(TimeError::Shape);
        }
        let mut us = 0i64;
        for (i, &c) in frac[..n].iter().enumerate().take(6) {
            us += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
        micros += us;
        rest = &frac[n..];
    }
    match rest {
        [] | [b'Z'] => Ok(micros),
        [sign @ (b'+' | b'-'), hh @ ..] if hh.len() == 5 && hh[2] == b':' => {
            let oh = digits(&hh[0..2]).ok_or(TimeError::Shape)?;
            let om = digits(&hh[3..5]).ok_or(TimeError::Shape)?;
            if oh > 23 || om > 59 {
                return Err(TimeError::FieldRange);
            }
            let off = (i64::from(oh) * 3600 + i64::from(om) * 60) * MICROS_PER_SEC;
            Ok(if *sign == b'+' {
                micros - off
            } else {
                micros + off
            })
        }
        _ => Err(TimeError::Shape),
    }
}

/// The wall clock, µs since the Unix epoch (0 before it, `i64::MAX` past year 294,247).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Formats microseconds since the epoch as `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC).
pub fn format_micros(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rem = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / MICROS_PER_SEC;
    let frac = rem % MICROS_PER_SEC;
    let (h, mi, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if frac == 0 {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{frac:06}")
    }
}

/// A duration as config files write it, in its largest whole unit: `1d`, `6h`, `15m`, `30s`
/// (what [`parse_duration`] reads back).
pub fn format_span(micros: i64) -> String {
    let s = micros / MICROS_PER_SEC;
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= n && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

/// Parses a duration such as `30s`, `15m`, `1h`, `7d`, `2w` or `1h30m` into microseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let scale = match unit.as_str() {
            "ms" => 1_000,
            "s" => MICROS_PER_SEC,
            "m" => 60 * MICROS_PER_SEC,
            "h" => 3_600 * MICROS_PER_SEC,
            "d" => MICROS_PER_DAY,
            "w" => 7 * MICROS_PER_DAY,
            _ => {
                return Err(format!(
                    "unknown unit `{unit}` in `{t}` (use ms, s, m, h, d or w)"
                ))
            }
        };
        let n: i64 = num
            .parse()
            .map_err(|_| format!("missing number before `{unit}` in `{t}`"))?;
        num.clear();
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration `{t}` is too long"))?;
    }
    if !num.is_empty() {
        return Err(format!(
            "`{t}` has a number without a unit (write e.g. `{num}s` or `{num}d`)"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_handbook_timestamps() {
        // 2018-04-01 00:00:31 is TX_TIME_SECONDS = 31 after the handbook's origin.
        let origin = parse_iso8601("2018-04-01 00:00:00").unwrap();
        assert_eq!(origin, 1_522_540_800 * MICROS_PER_SEC);
        assert_eq!(
            parse_iso8601("2018-04-01 00:00:31").unwrap() - origin,
            31 * MICROS_PER_SEC
        );
        assert_eq!(
            parse_iso8601("2018-04-01T00:00:31.5Z").unwrap() - origin,
            31_500_000
        );
        assert_eq!(parse_iso8601("2018-04-01T02:00:00+02:00").unwrap(), origin);
        assert_eq!(parse_iso8601("2018-04-01").unwrap(), origin);
    }

    #[test]
    fn rejects_bad_timestamps() {
        assert_eq!(
            parse_iso8601("2018-02-30 00:00:00"),
            Err(TimeError::FieldRange)
        );
        assert_eq!(
            parse_iso8601("2018-04-01 24:00:00"),
            Err(TimeError::FieldRange)
        );
        assert_eq!(parse_iso8601("yesterday"), Err(TimeError::Shape));
        assert_eq!(
            parse_iso8601("2018-04-01 00:00:00junk"),
            Err(TimeError::Shape)
        );
        assert_eq!(parse_iso8601("2018-04-01 00:00:0"), Err(TimeError::Shape));
        assert_eq!(
            TimestampFormat::UnixSeconds.parse("1.5"),
            Err(TimeError::NotAnInteger)
        );
        assert_eq!(
            TimestampFormat::UnixSeconds.parse(&i64::MAX.to_string()),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), 7 * MICROS_PER_DAY);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400 * MICROS_PER_SEC);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000);
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("7y").is_err());
        assert!(parse_duration("").is_err());
        for text in ["1d", "6h", "90m", "45s", "0s"] {
            assert_eq!(format_span(parse_duration(text).unwrap()), text);
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(us in -2_000_000_000_000_000i64..4_000_000_000_000_000i64) {
            let (y, _, _) = civil_from_days(us.div_euclid(MICROS_PER_DAY));
            prop_assume!((0..=9999).contains(&y));
            prop_assert_eq!(parse_iso8601(&format_micros(us)).unwrap(), us);
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = parse_iso8601(&s);
            let _ = parse_duration(&s);
        }
    }
}
