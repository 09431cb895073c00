//! RFC 3339 timestamps for campaign flight dates, parsed by hand.
//!
//! Flight dates are the only timestamps in the data files, and the subset we need (a
//! `date-time` with a `Z` or numeric offset) is a few dozen lines of arithmetic, so this
//! avoids a date crate in the engine. Times become Unix seconds (UTC), as the model stores
//! them. Fractions of a second are accepted and truncated: a flight boundary is never that
//! precise, and truncating keeps the result an integer without rounding rules.

/// Years are four digits in RFC 3339, so 0000..=9999 is the whole range; within it the
/// Unix seconds fit an `i64` with a wide margin.
const YEAR_MAX: i64 = 9999;

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`, exact for every date in range).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = if days >= 0 { days } else { days - 146_096 } / 146_097;
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads `count` ASCII digits at `at` as a number.
fn digits(bytes: &[u8], at: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(at..at.checked_add(count)?)?;
    slice.iter().try_fold(0i64, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

fn byte_is(bytes: &[u8], at: usize, allowed: &[u8]) -> bool {
    bytes.get(at).is_some_and(|byte| allowed.contains(byte))
}

/// Parses an RFC 3339 `date-time` (`2026-01-01T00:00:00Z`, `2026-01-01T09:00:00+09:00`,
/// optionally with fractional seconds) into Unix seconds. The error says what was expected.
pub fn parse_unix_s(text: &str) -> Result<i64, String> {
    const EXPECTED: &str =
        "must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z (UTC) or 2026-01-01T09:00:00+09:00";
    let bytes = text.as_bytes();
    let shape_ok = byte_is(bytes, 4, b"-")
        && byte_is(bytes, 7, b"-")
        && byte_is(bytes, 10, b"Tt ")
        && byte_is(bytes, 13, b":")
        && byte_is(bytes, 16, b":");
    let fields = (
        digits(bytes, 0, 4),
        digits(bytes, 5, 2),
        digits(bytes, 8, 2),
        digits(bytes, 11, 2),
        digits(bytes, 14, 2),
        digits(bytes, 17, 2),
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = fields
    else {
        return Err(format!("{EXPECTED}, not {text:?}"));
    };
    if !shape_ok {
        return Err(format!("{EXPECTED}, not {text:?}"));
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("{text:?} is not a calendar date"));
    }
    // Leap seconds (second 60) are refused: Unix time has no representation for them.
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "{text:?} is not a time of day (hh:mm:ss, 00:00:00 to 23:59:59)"
        ));
    }
    let mut at = 19;
    if byte_is(bytes, at, b".") {
        at += 1;
        let fraction_start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == fraction_start {
            return Err(format!("{EXPECTED}, not {text:?}"));
        }
    }
    let offset_s = match bytes.get(at..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..]) if rest.len() == 5 && rest[2] == b':' => {
            let (Some(offset_hour), Some(offset_minute)) = (digits(rest, 0, 2), digits(rest, 3, 2))
            else {
                return Err(format!("{EXPECTED}, not {text:?}"));
            };
            if offset_hour > 23 || offset_minute > 59 {
                return Err(format!("{text:?} has an offset beyond +-23:59"));
            }
            let offset_s = offset_hour * 3600 + offset_minute * 60;
            if *sign == b'-' {
                -offset_s
            } else {
                offset_s
            }
        }
        _ => {
            return Err(format!(
                "{EXPECTED}, not {text:?} (a time zone, Z or +hh:mm, is required)"
            ))
        }
    };
    debug_assert!((0..=YEAR_MAX).contains(&year));
    let local_s = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Ok(local_s - offset_s)
}

/// Formats Unix seconds as `YYYY-MM-DDThh:mm:ssZ`, the form the data files use. `None` for
/// times outside years 0000..=9999, which RFC 3339 cannot write.
pub fn format_unix_s(unix_s: i64) -> Option<String> {
    let days = unix_s.div_euclid(86_400);
    let second_of_day = unix_s.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=YEAR_MAX).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_and_offsets() {
        let cases: &[(&str, i64)] = &[
            ("1970-01-01T00:00:00Z", 0),
            ("2026-01-01T00:00:00Z", 1_767_225_600),
            ("2026-01-01t00:00:00z", 1_767_225_600),
            ("2026-01-01 00:00:00Z", 1_767_225_600),
            ("2026-01-01T09:00:00+09:00", 1_767_225_600),
            ("2025-12-31T19:00:00-05:00", 1_767_225_600),
            ("2026-01-01T00:00:00.999Z", 1_767_225_600),
            ("2024-02-29T12:00:00Z", 1_709_208_000),
            ("1969-12-31T23:59:59Z", -1),
        ];
        for &(text, unix_s) in cases {
            assert_eq!(parse_unix_s(text), Ok(unix_s), "{text}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0900",
            "2026-01-01T00:00:00Zjunk",
            "２０２６-01-01T00:00:00Z",
            "+2026-01-01T00:00:00Z",
        ] {
            assert!(parse_unix_s(text).is_err(), "{text}");
        }
    }

    #[test]
    fn format_round_trips() {
        for unix_s in [
            0,
            1_767_225_600,
            1_709_208_000,
            253_402_300_799,
            -62_167_219_200,
        ] {
            let text = format_unix_s(unix_s).unwrap_or_default();
            assert_eq!(parse_unix_s(&text), Ok(unix_s), "{text}");
        }
        assert_eq!(format_unix_s(253_402_300_800), None);
    }
}
