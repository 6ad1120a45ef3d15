//! ISO 8601 dates and date-times ↔ milliseconds since the Unix epoch (UTC). Hand-written
//! because the formats needed are few and a calendar crate would be the largest dependency.

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
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such day"));
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
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
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    if milli == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

/// The UTC year and month (1–12) of a time in ms since the epoch.
pub(crate) fn year_month(ms: i64) -> (i64, u32) {
    let (y, m, _) = civil_from_days(ms.div_euclid(86_400_000));
    (y, m as u32)
}

/// Days since the epoch of a calendar date, `None` if the date does not exist.
pub(crate) fn day_number(year: i64, month: u32, day: u32) -> Option<i64> {
    let (m, d) = (i64::from(month), i64::from(day));
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(year, m))
        .then(|| days_from_civil(year, m, d))
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
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
