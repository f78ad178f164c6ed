//! Unix time and Go's time formats, as Backrunner's replies carry them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch; zero for a time before it.
pub fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Whole seconds since the Unix epoch; 0 for a time before it.
pub fn unix_secs(t: SystemTime) -> u64 {
    since_epoch(t).as_secs()
}

/// Seconds since the Unix epoch with the fraction (Prometheus timestamps).
pub fn unix_secs_f64(t: SystemTime) -> f64 {
    since_epoch(t).as_secs_f64()
}

/// The time `secs` seconds after the Unix epoch.
pub fn from_unix_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Formats a time as Go's `encoding/json` writes a `time.Time` (RFC 3339 in
/// UTC, nanoseconds with trailing zeros dropped): `2026-12-01T10:52:53.1528Z`,
/// `1970-01-01T00:00:00Z`.
pub fn format_time(t: SystemTime) -> String {
    let (date, clock, frac) = civil_parts(t);
    format!("{date}T{clock}{frac}Z")
}

/// Formats a time as Go's `time.Time.String()` does in UTC, the form
/// Backrunner's `StatTime`, `*TimeString`, error `Time` and reply `mtime`
/// carry: `2026-12-01 10:52:53.152506 +0000 UTC`. With `monotonic`, Go's
/// monotonic clock reading follows (seconds since the process started, nine
/// decimals): `... +0000 UTC m=+3.227690317`.
pub fn go_time_string(t: SystemTime, monotonic: Option<Duration>) -> String {
    let (date, clock, frac) = civil_parts(t);
    let mut out = format!("{date} {clock}{frac} +0000 UTC");
    if let Some(m) = monotonic {
        out.push_str(&format!(" m=+{}.{:09}", m.as_secs(), m.subsec_nanos()));
    }
    out
}

/// Date, time of day and fraction (`.` and up to nine digits, trailing
/// zeros dropped; empty for a whole second) of `t` in UTC.
fn civil_parts(t: SystemTime) -> (String, String, String) {
    let d = since_epoch(t);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil_from_days(days as i64);
    let clock = format!("{:02}:{:02}:{:02}", rem / 3600, (rem / 60) % 60, rem % 60);
    let frac = match d.subsec_nanos() {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_string(),
    };
    (format!("{y:04}-{m:02}-{dd:02}"), clock, frac)
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_go_does() {
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_732_500_000, 5);
        assert_eq!(format_time(t), "2024-11-25T02:00:00.000000005Z");
        let t = UNIX_EPOCH + Duration::new(1_796_122_373, 152_812_500);
        assert_eq!(format_time(t), "2026-12-01T10:52:53.1528125Z");
        // The captured Backrunner replies' forms.
        let t = UNIX_EPOCH + Duration::new(1_796_122_373, 152_506_000);
        assert_eq!(
            go_time_string(t, None),
            "2026-12-01 10:52:53.152506 +0000 UTC"
        );
        let t = UNIX_EPOCH + Duration::new(1_796_122_373, 159_737_556);
        assert_eq!(
            go_time_string(t, Some(Duration::new(3, 227_690_317))),
            "2026-12-01 10:52:53.159737556 +0000 UTC m=+3.227690317"
        );
        assert_eq!(
            go_time_string(UNIX_EPOCH + Duration::from_secs(60), Some(Duration::ZERO)),
            "1970-01-01 00:01:00 +0000 UTC m=+0.000000000"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&format_time(leap)[..10], "2000-02-29");
    }

    #[test]
    fn unix_seconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999);
        assert_eq!(unix_secs(t), 1_700_000_000);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            from_unix_secs(unix_secs(t)),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert!((unix_secs_f64(t) - 1_700_000_001.0).abs() < 1e-3);
    }
}
