//! Time helpers: the database stores microseconds since the Unix epoch; the API speaks RFC 3339.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Formats stored microseconds as RFC 3339 (UTC, microsecond precision).
pub fn micros_to_rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The UTC day (`YYYY-MM-DD`) of stored microseconds.
pub fn micros_to_day(micros: i64) -> String {
    micros_to_rfc3339(micros).chars().take(10).collect()
}

/// Parses an RFC 3339 timestamp or a plain `YYYY-MM-DD` day (midnight UTC) into microseconds.
pub fn parse_to_micros(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1000) as i64);
    }
    let day =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some((day.midnight().assume_utc().unix_timestamp_nanos() / 1000) as i64)
}
