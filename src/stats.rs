//! Proxy statistics for `/proxy_stat/`: per-handler request and byte counts
//! by status, and the last errors.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// How many errors `/proxy_stat/` keeps.
pub const ERROR_HISTORY: usize = 128;

/// One failed request, as `/proxy_stat/` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRecord {
    /// Seconds since the epoch.
    #[serde(rename = "Tsec")]
    pub tsec: u64,
    /// Nanoseconds within that second.
    #[serde(rename = "Tnsec")]
    pub tnsec: u32,
    /// Human readable time.
    #[serde(rename = "Time")]
    pub time: String,
    /// HTTP method.
    #[serde(rename = "Method")]
    pub method: String,
    /// Client address.
    #[serde(rename = "RemoteAddr")]
    pub remote_addr: String,
    /// Request URL.
    #[serde(rename = "URL")]
    pub url: String,
    /// The error line sent to the client.
    #[serde(rename = "Error")]
    pub error: String,
    /// HTTP status.
    #[serde(rename = "Status")]
    pub status: u16,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    requests: u64,
    bytes: u64,
}

/// Request rates of one status code.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    /// Bytes per second since start.
    #[serde(rename = "BPS")]
    pub bps: f64,
    /// Requests per second since start.
    #[serde(rename = "RPS")]
    pub rps: f64,
    /// Requests counted.
    #[serde(rename = "Requests")]
    pub requests: u64,
    /// Bytes counted.
    #[serde(rename = "Bytes")]
    pub bytes: u64,
}

/// Counters shared by every worker.
pub struct ProxyStats {
    /// When the proxy started.
    pub start_time: SystemTime,
    started: Instant,
    handlers: Mutex<BTreeMap<String, BTreeMap<u16, Counter>>>,
    errors: Mutex<VecDeque<ErrorRecord>>,
}

impl Default for ProxyStats {
    fn default() -> Self {
        ProxyStats {
            start_time: SystemTime::now(),
            started: Instant::now(),
            handlers: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(VecDeque::with_capacity(ERROR_HISTORY)),
        }
    }
}

/// Formats a time as RFC 3339 in UTC with nanoseconds.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
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

impl ProxyStats {
    /// Counts one finished request.
    pub fn record(&self, handler: &str, status: u16, bytes: u64) {
        if let Ok(mut h) = self.handlers.lock() {
            let c = h
                .entry(handler.to_string())
                .or_default()
                .entry(status)
                .or_default();
            c.requests += 1;
            c.bytes += bytes;
        }
    }

    /// Remembers a failed request, keeping the last [`ERROR_HISTORY`].
    pub fn record_error(&self, method: &str, remote: &str, url: &str, status: u16, error: &str) {
        let now = SystemTime::now();
        let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let rec = ErrorRecord {
            tsec: d.as_secs(),
            tnsec: d.subsec_nanos(),
            time: format_time(now),
            method: method.to_string(),
            remote_addr: remote.to_string(),
            url: url.to_string(),
            error: error.to_string(),
            status,
        };
        if let Ok(mut e) = self.errors.lock() {
            if e.len() == ERROR_HISTORY {
                e.pop_front();
            }
            e.push_back(rec);
        }
    }

    /// The last errors, oldest first.
    pub fn errors(&self) -> Vec<ErrorRecord> {
        self.errors
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Per handler, per status: rates since start.
    pub fn handlers(&self) -> BTreeMap<String, BTreeMap<String, Rate>> {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let h = match self.handlers.lock() {
            Ok(h) => h.clone(),
            Err(_) => return BTreeMap::new(),
        };
        h.into_iter()
            .map(|(name, by_status)| {
                let rates = by_status
                    .into_iter()
                    .map(|(status, c)| {
                        (
                            status.to_string(),
                            Rate {
                                bps: c.bytes as f64 / secs,
                                rps: c.requests as f64 / secs,
                                requests: c.requests,
                                bytes: c.bytes,
                            },
                        )
                    })
                    .collect();
                (name, rates)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_format_as_rfc3339() {
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_732_500_000, 5);
        assert_eq!(format_time(t), "2024-11-25T02:00:00.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&format_time(leap)[..10], "2000-02-29");
    }

    #[test]
    fn error_history_is_bounded() {
        let s = ProxyStats::default();
        for i in 0..(ERROR_HISTORY + 5) {
            s.record_error("GET", "c", &format!("/u{i}"), 404, "x");
        }
        let e = s.errors();
        assert_eq!(e.len(), ERROR_HISTORY);
        assert_eq!(e[0].url, "/u5");
        s.record("get", 200, 10);
        s.record("get", 200, 5);
        assert_eq!(s.handlers()["get"]["200"].bytes, 15);
    }
}
