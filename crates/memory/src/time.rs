//! ISO 8601 dates and date-times ↔ milliseconds since the Unix epoch (UTC). The calendar
//! (which days exist, days since the epoch) is `chrono`'s; the accepted text forms are
//! spelled out here, so the errors can say which part is wrong.

use chrono::{DateTime, Datelike as _, NaiveDate, Timelike as _, Utc};

/// Parses `2024-03-01`, `2024-03-01T09:30`, `2024-03-01T09:30:15`, `2024-03-01 09:30:15.250`
/// with an optional `Z` or `±HH:MM` offset (none means UTC). Returns ms since the epoch.
pub fn parse_iso8601(text: &str) -> Result<i64, String> {
    let s = text.trim();
    let bad = |why: &str| {
        format!(
            "`{text}` is not an ISO 8601 date or date-time ({why}); write e.g. `2024-03-01` or \
             `2024-03-01T09:30:00Z`"
        )
    };
    // ASCII only: every slice below is then on a character boundary.
    if !s.is_ascii() {
        return Err(bad("unexpected characters"));
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad("expected YYYY-MM-DD"));
    }
    let year = digits(&s[0..4]).ok_or_else(|| bad("bad year"))?;
    let month = digits(&s[5..7]).ok_or_else(|| bad("bad month"))?;
    let day = digits(&s[8..10]).ok_or_else(|| bad("bad day"))?;
    let days = u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(m, d)| day_number(year, m, d))
        .ok_or_else(|| bad("no such day"))?;
    let mut ms = days * 86_400_000;
    let rest = &s[10..];
    if rest.is_empty() {
        return Ok(ms);
    }
    let Some(time) = rest.strip_prefix(['T', 't', ' ']) else {
        return Err(bad("expected `T` between date and time"));
    };
    // Split off the offset: `Z`, or the last `+`/`-`.
    let (clock, offset_ms) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let off = &off[1..];
        let (h, m) = match off.len() {
            5 if off.as_bytes()[2] == b':' => (digits(&off[0..2]), digits(&off[3..5])),
            4 => (digits(&off[0..2]), digits(&off[2..4])),
            2 => (digits(off), Some(0)),
            _ => (None, None),
        };
        let (Some(h), Some(m)) = (h, m) else {
            return Err(bad("bad UTC offset"));
        };
        if h > 23 || m > 59 {
            return Err(bad("bad UTC offset"));
        }
        (c, sign * (h * 3_600_000 + m * 60_000))
    } else {
        (time, 0)
    };
    let (hms, fraction) = match clock.split_once(['.', ',']) {
        Some((hms, f)) => (hms, Some(f)),
        None => (clock, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad("expected HH:MM or HH:MM:SS"));
    }
    let h = digits(parts[0]).ok_or_else(|| bad("bad hour"))?;
    let m = digits(parts[1]).ok_or_else(|| bad("bad minute"))?;
    let sec = match parts.get(2) {
        Some(p) => digits(p).ok_or_else(|| bad("bad second"))?,
        None => 0,
    };
    if h > 23 || m > 59 || sec > 60 {
        return Err(bad("time out of range"));
    }
    let frac_ms = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
            let f3: String = f.chars().chain("000".chars()).take(3).collect();
            digits(&f3).ok_or_else(|| bad("bad fraction"))?
        }
        Some(_) => return Err(bad("bad fraction of a second")),
        None => 0,
    };
    ms += h * 3_600_000 + m * 60_000 + sec * 1000 + frac_ms - offset_ms;
    Ok(ms)
}

/// `2024-03-01T09:30:15Z` (with `.250` when there are milliseconds).
pub fn format_iso8601(ms: i64) -> String {
    let t = utc(ms);
    let (y, mo, d) = (t.year(), t.month(), t.day());
    let (h, mi, s, milli) = (t.hour(), t.minute(), t.second(), ms.rem_euclid(1000));
    if milli == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

/// The UTC year and month (1–12) of a time in ms since the epoch.
pub(crate) fn year_month(ms: i64) -> (i64, u32) {
    let t = utc(ms);
    (i64::from(t.year()), t.month())
}

/// Days since the epoch of a calendar date, `None` if the date does not exist.
pub(crate) fn day_number(year: i64, month: u32, day: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(
        date.signed_duration_since(DateTime::UNIX_EPOCH.date_naive())
            .num_days(),
    )
}

/// The UTC time of `ms`, clamped to what `chrono` represents (±262,000 years: never reached
/// by a timestamp islet stores).
fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Serde adapter: ms ↔ ISO 8601 string.
pub(crate) mod iso {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_iso8601(*ms))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_iso8601(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let day = 1_709_251_200_000; // 2024-03-01T00:00:00Z
        let cases: &[(&str, i64)] = &[
            ("2024-03-01", day),
            ("2024-03-01T09:30", day + 34_200_000),
            ("2024-03-01t09:30:15", day + 34_215_000),
            ("2024-03-01 09:30:15.250", day + 34_215_250),
            ("2024-03-01T09:30:15,5Z", day + 34_215_500),
            ("2024-03-01T09:30:00+01:00", day + 30_600_000),
            ("2024-03-01T09:30:00-0130", day + 39_600_000),
            ("2024-03-01T09:30:00+05", day + 16_200_000),
            ("2024-03-01T23:59:60Z", day + 86_400_000),
            ("  2024-02-29  ", day - 86_400_000),
            ("1969-12-31T23:59:59.999Z", -1),
            ("0001-01-01", -62_135_596_800_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_iso8601(text), Ok(*ms), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_date() {
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-04-31",
            "2024-00-10",
            "24-03-01",
            "2024/03/01",
            "2024-03-01X09:30",
            "2024-03-01T9:30",
            "2024-03-01T24:00",
            "2024-03-01T09:60",
            "2024-03-01T09:30:61",
            "2024-03-01T09:30+25:00",
            "2024-03-01T09:30.",
            "2024-03-01T09:30:00.x",
            "２０２４-03-01",
            "",
        ] {
            assert!(parse_iso8601(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_iso8601(1_709_285_415_250),
            "2024-03-01T09:30:15.250Z"
        );
        for ms in [0, 1, -86_400_001, 951_782_400_000, 4_102_444_800_123] {
            assert_eq!(parse_iso8601(&format_iso8601(ms)), Ok(ms));
        }
        assert_eq!(year_month(1_709_285_415_250), (2024, 3));
        assert_eq!(day_number(2024, 2, 29), Some(19_782));
        assert_eq!(day_number(2023, 2, 29), None);
        assert_eq!(day_number(2024, 13, 1), None);
    }
}
