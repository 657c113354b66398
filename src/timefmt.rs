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

/// An RFC 3339 UTC time with milliseconds.
pub fn rfc3339(us: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond((t.nanosecond() / 1_000_000) * 1_000_000)
                .ok()?
                .format(&Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
