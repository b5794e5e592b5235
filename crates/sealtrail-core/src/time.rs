//! Times as people and the API write them: RFC 3339 (and bare dates, and
//! integer microseconds) in, RFC 3339 out; durations such as `30s` or `1.5s`.
//! Plain functions of strings and integers (no clock), at the bottom of the
//! layers so the entry filter, the server, the OTLP mapping, the client, the
//! CLI and the bench tools share one copy.

use core::time::Duration;

/// One UTC day in microseconds (entry counts are kept per day).
pub const DAY_MICROS: u64 = 86_400_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a time given as microseconds since the epoch (`1795000000000000`),
/// an RFC 3339 timestamp (`2026-11-22T10:00:00Z`, `…+01:00`, fractions to
/// the microsecond) or a date (`2026-11-22`, its UTC midnight).
pub fn parse_time(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map_err(|_| format!("{s:?} is too large for microseconds since the epoch"));
    }
    let err = || {
        format!(
            "{s:?} is not a time: use RFC 3339 (2026-11-22T10:00:00Z), a date (2026-11-22) or microseconds since the epoch"
        )
    };
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let part = s.get(r).ok_or_else(err)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| err())
        } else {
            Err(err())
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(err());
    }
    let (y, mo, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return Err(format!("{s:?} is not a valid date"));
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut micros = 0i64;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || sec > 60 {
            return Err(format!("{s:?} is not a valid time of day"));
        }
        secs += i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec.min(59));
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return Err(err());
            }
            // Microseconds: the first six digits, padded.
            let digits = &s[start..i.min(start + 6)];
            micros = format!("{digits:0<6}").parse::<i64>().map_err(|_| err())?;
        }
        match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(err());
                }
                let offset = i64::from(oh) * 3600 + i64::from(om) * 60;
                secs -= if *sign == b'+' { offset } else { -offset };
            }
            _ => {
                return Err(format!(
                    "{s:?} needs a time zone: Z or an offset like +01:00"
                ))
            }
        }
    }
    let us = secs
        .checked_mul(1_000_000)
        .and_then(|v| v.checked_add(micros))
        .ok_or_else(err)?;
    u64::try_from(us).map_err(|_| format!("{s:?} is before 1970"))
}

/// RFC 3339 in UTC with microseconds: `2026-11-22T10:00:00.000123Z`.
pub fn format_time(us: u64) -> String {
    let secs = (us / 1_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        us % 1_000_000
    )
}

/// A day number (days since the epoch) as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `30s`, `500ms`, `2m`, `1h`, `7d`, `1.5s`, or a bare number of
/// seconds: the one duration syntax of every flag (bench durations, key
/// overlaps).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; use ms, s, m, h or d (e.g. 30s, 24h)"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 500ms, 2m, 7d)"))?;
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("{s:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_accepted_form() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(
            parse_time("1795000000123456").unwrap(),
            1_795_000_000_123_456
        );
        assert_eq!(parse_time("1970-01-01").unwrap(), 0);
        assert_eq!(parse_time("1970-01-02").unwrap(), DAY_MICROS);
        assert_eq!(
            parse_time("2000-03-01T00:00:00Z").unwrap(),
            951_868_800_000_000
        );
        assert_eq!(
            parse_time("2000-03-01T01:00:00.5+01:00").unwrap(),
            951_868_800_500_000
        );
        assert_eq!(
            parse_time("2000-02-29t23:00:00.123456789-01:00").unwrap(),
            951_868_800_123_456
        );
        for bad in [
            "",
            "yesterday",
            "2000-02-30",
            "2001-02-29",
            "2000-13-01",
            "2000-01-01T10:00:00",
            "2000-01-01T25:00:00Z",
            "2000-01-01T10:00Z",
            "2000-01-01T10:00:00.Z",
            "1969-12-31T23:59:59Z",
            "99999999999999999999",
            "2000-01-01T10:00:00+0100",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn times_format_and_round_trip() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_time(951_868_800_123_456),
            "2000-03-01T00:00:00.123456Z"
        );
        assert_eq!(format_day(0), "1970-01-01");
        for us in [
            0u64,
            1,
            86_399_999_999,
            951_868_800_123_456,
            1_795_000_000_000_007,
        ] {
            assert_eq!(parse_time(&format_time(us)).unwrap(), us);
        }
        for day in [0i64, 59, 60, 365, 11_016, 20_775, 50_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert_eq!(
                parse_time(&format_day(day)).unwrap(),
                day as u64 * DAY_MICROS
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in ["", "s", "10x", "-1s", "1.2.3s", "fast", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
