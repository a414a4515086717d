//! Time helpers: the database stores microseconds since the Unix epoch; the API speaks RFC 3339.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Formats stored microseconds as RFC 3339 (UTC, microsecond precision).
pub fn micros_to_rfc3339(micros: i64) -> String {
    let mut buf = [0u8; RFC3339_MAX_LEN];
    format_rfc3339(micros, &mut buf).to_string()
}

/// The longest text [`format_rfc3339`] writes (`-YYYYYY-MM-DDTHH:MM:SS.fffffffffZ` and spare).
pub const RFC3339_MAX_LEN: usize = 48;

/// Formats stored microseconds as RFC 3339 into `buf`, without allocating; empty for a time
/// RFC 3339 cannot express (a year outside 0–9999).
pub fn format_rfc3339(micros: i64, buf: &mut [u8; RFC3339_MAX_LEN]) -> &str {
    let mut out = &mut buf[..];
    let formatted = time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.format_into(&mut out, &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .is_some();
    // What was written is what the writer advanced over (`format_into`'s count leaves out the
    // fraction's digits).
    let written = if formatted {
        RFC3339_MAX_LEN - out.len()
    } else {
        0
    };
    std::str::from_utf8(&buf[..written]).unwrap_or_default()
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

/// Pacing: how long something that could start `now` waits so that starts are at least
/// `interval` apart (`None`: start at once). The first start, and one after a pause of
/// `interval` or more, never waits; an interval of zero never waits. Used by the document
/// actors' commits (`actors/document/pacing.rs`).
pub fn pace(last_start: Option<Instant>, now: Instant, interval: Duration) -> Option<Duration> {
    let due = last_start? + interval;
    (due > now).then(|| due - now)
}

#[cfg(test)]
mod pace_tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_start_goes_at_once() {
        assert_eq!(pace(None, Instant::now(), 5 * MS), None);
    }

    #[test]
    fn after_a_pause_of_the_interval_a_start_goes_at_once() {
        let now = Instant::now();
        assert_eq!(pace(Some(now - 5 * MS), now, 5 * MS), None);
        assert_eq!(pace(Some(now - 900 * MS), now, 5 * MS), None);
    }

    #[test]
    fn a_start_within_the_interval_waits_for_the_rest_of_it() {
        let now = Instant::now();
        assert_eq!(pace(Some(now - 2 * MS), now, 5 * MS), Some(3 * MS));
        assert_eq!(pace(Some(now), now, 5 * MS), Some(5 * MS));
    }

    #[test]
    fn an_interval_of_zero_never_waits() {
        let now = Instant::now();
        assert_eq!(pace(Some(now), now, Duration::ZERO), None);
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn microseconds_format_as_rfc3339_with_trailing_zeros_trimmed() {
        assert_eq!(micros_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            micros_to_rfc3339(1_764_180_000_123_400),
            "2025-11-26T18:00:00.1234Z"
        );
        assert_eq!(
            micros_to_rfc3339(253_402_300_799_999_999),
            "9999-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            parse_to_micros("2025-11-26T18:00:00.1234Z"),
            Some(1_764_180_000_123_400)
        );
    }

    #[test]
    fn a_time_rfc3339_cannot_express_formats_as_empty() {
        assert_eq!(micros_to_rfc3339(253_402_300_800_000_000), "");
        assert_eq!(micros_to_rfc3339(-62_167_219_200_000_001), "");
        assert_eq!(micros_to_rfc3339(i64::MAX), "");
        assert_eq!(micros_to_rfc3339(i64::MIN), "");
    }
}
