//! Times and durations as the CLI and API read and print them.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `1h` (that long ago), an RFC 3339 time, or microseconds since the epoch.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(us) = text.parse::<i64>() {
        return Ok(us);
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok((at.unix_timestamp_nanos() / 1000) as i64);
    }
    match humantime::parse_duration(text) {
        Ok(ago) => i64::try_from(ago.as_micros())
            .ok()
            .and_then(|ago| crate::clock::now_us().checked_sub(ago))
            .ok_or_else(|| format!("'{text}' is too long ago to be a time")),
        Err(_) => Err(format!(
            "'{text}' is neither a duration such as 1h nor an RFC 3339 time"
        )),
    }
}

/// What a user typed for `--last` or `--since`: a duration such as `1h` (that long ago) or an
/// RFC 3339 time. A bare number is refused: `--last 1` means an hour or a day to a person, not
/// a microsecond after 1970.
pub fn parse_ago(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    if trimmed.parse::<f64>().is_ok() {
        return Err(format!(
            "'{trimmed}' has no unit: write a duration such as {trimmed}h, {trimmed}m or {trimmed}s, or an RFC 3339 time"
        ));
    }
    parse_since(trimmed)
}

/// What a user typed for a delay: a duration with its unit (`10m`, `1h 30m`). A bare number is
/// refused for the same reason as in [`parse_ago`].
pub fn parse_delay(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.parse::<f64>().is_ok() {
        return Err(format!(
            "'{trimmed}' has no unit: write a duration such as {trimmed}s or {trimmed}m"
        ));
    }
    humantime::parse_duration(trimmed)
        .map_err(|e| format!("'{trimmed}' is not a duration such as 10m or 1h 30m ({e})"))
}

/// `12ms`, `1.2s`, `340µs`: short and stable for aligned columns.
pub fn short_duration(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=9_999 => format!("{:.1}ms", us as f64 / 1000.0),
        10_000..=999_999 => format!("{}ms", us / 1000),
        1_000_000..=59_999_999 => format!("{:.1}s", us as f64 / 1e6),
        _ => humantime::format_duration(Duration::from_secs(us / 1_000_000)).to_string(),
    }
}

/// An RFC 3339 UTC time with exactly three digits of milliseconds, so that times line up in
/// columns (`07:11:22.790Z`, never `.79Z`).
pub fn rfc3339(us: i64) -> String {
    const MILLIS: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000)
        .ok()
        .and_then(|t| t.format(MILLIS).ok())
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_a_fixed_width() {
        assert_eq!(rfc3339(1_764_486_682_790_000), "2025-11-30T07:11:22.790Z");
        assert_eq!(rfc3339(1_764_486_682_000_999), "2025-11-30T07:11:22.000Z");
        assert_eq!(rfc3339(1_764_486_682_999_999), "2025-11-30T07:11:22.999Z");
    }

    #[test]
    fn a_bare_number_is_not_a_time_or_a_delay() {
        assert!(parse_ago("1").unwrap_err().contains("has no unit"));
        assert!(parse_ago(" 2.5 ").unwrap_err().contains("2.5h"));
        assert!(parse_ago("1h").is_ok());
        assert!(parse_ago("2026-11-30T07:11:22Z").is_ok());
        assert!(parse_delay("2").unwrap_err().contains("2s"));
        assert_eq!(parse_delay("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_delay("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(340), "340µs");
        assert_eq!(short_duration(1_234), "1.2ms");
        assert_eq!(short_duration(12_400), "12ms");
        assert_eq!(short_duration(1_500_000), "1.5s");
    }

    #[test]
    fn since_accepts_durations_and_times() {
        assert_eq!(
            parse_since("2026-11-28T12:00:00Z"),
            Ok(1_795_867_200_000_000)
        );
        let hour_ago = parse_since("1h").expect("duration");
        assert!((crate::clock::now_us() - hour_ago - 3_600_000_000).abs() < 1_000_000);
        assert!(parse_since("yesterday-ish").is_err());
        assert!(parse_since("500000000000y").is_err());
    }
}
