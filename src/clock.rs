//! The clocks: wall-clock time for records and jobs, a monotonic one for deadlines.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Nanoseconds on a monotonic clock, for deadlines shared through atomics.
pub fn monotonic_ns() -> u64 {
    origin().elapsed().as_nanos() as u64
}

/// Wall-clock time in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
