//! The last hour of requests for the status page (`/status/`): a bounded
//! ring of one-minute points per route class, each with its request count,
//! 4xx and 5xx counts and a coarse latency histogram (p50 and p99 are read
//! from it). Fed by every finished request on both listeners; memory is
//! fixed: [`MINUTES`] points of [`CLASSES`] classes of [`LATENCY_BUCKETS`]
//! counters.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

/// Points kept: one an hour's minute.
pub const MINUTES: usize = 60;

/// The route classes charted, in page order.
pub const CLASSES: [&str; 6] = ["read", "write", "delete", "list", "admin", "monitor"];

/// Latency histogram buckets: upper bounds 0.25 ms doubling (the last
/// bucket takes everything slower than ~65 s).
pub const LATENCY_BUCKETS: usize = 19;
const FIRST_BOUND_SECS: f64 = 0.000_25;

/// The class of a handler name (as `/proxy_stat/` and `/metrics` count
/// requests): REST names and the S3 API's `s3_*` names.
pub fn class_of(handler: &str) -> &'static str {
    let op = handler.strip_prefix("s3_").unwrap_or(handler);
    match op {
        "get"
        | "lookup"
        | "redirect"
        | "/"
        | "get_object"
        | "head_object"
        | "head_bucket"
        | "get_bucket_location" => "read",
        "upload"
        | "nobucket_upload"
        | "put_object"
        | "copy_object"
        | "upload_part"
        | "upload_part_copy"
        | "create_multipart_upload"
        | "complete_multipart_upload" => "write",
        "delete"
        | "bulk_delete"
        | "delete_object"
        | "delete_objects"
        | "abort_multipart_upload" => "delete",
        "ping" | "stat" | "proxy_stat" | "metrics" | "status" => "monitor",
        op if op.starts_with("list") => "list",
        _ => "admin",
    }
}

/// Upper bound of latency bucket `i` in seconds (`f64::INFINITY` for the last).
pub fn bucket_bound(i: usize) -> f64 {
    if i + 1 >= LATENCY_BUCKETS {
        f64::INFINITY
    } else {
        FIRST_BOUND_SECS * f64::from(1u32 << i)
    }
}

fn bucket_of(secs: f64) -> usize {
    (0..LATENCY_BUCKETS)
        .find(|&i| secs <= bucket_bound(i))
        .unwrap_or(LATENCY_BUCKETS - 1)
}

/// One class during one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassMinute {
    /// Requests finished.
    pub requests: u64,
    /// Of which answered 4xx.
    pub client_errors: u64,
    /// Of which answered 5xx.
    pub server_errors: u64,
    /// Latency histogram (see [`bucket_bound`]).
    pub latency: [u32; LATENCY_BUCKETS],
}

impl ClassMinute {
    /// The latency below which a share `q` (0..=1) of the requests finished:
    /// the upper bound of the bucket holding that rank, in seconds. `None`
    /// without requests.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n: u64 = self.latency.iter().map(|&c| u64::from(c)).sum();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for (i, &c) in self.latency.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                // The open last bucket reads as its lower bound.
                return Some(if i + 1 == LATENCY_BUCKETS {
                    bucket_bound(i - 1)
                } else {
                    bucket_bound(i)
                });
            }
        }
        None
    }
}

/// Every class during one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minute {
    /// Minutes since the epoch.
    pub minute: u64,
    /// Per class, in [`CLASSES`] order.
    pub classes: [ClassMinute; CLASSES.len()],
}

/// The ring of the last [`MINUTES`] minutes.
#[derive(Debug, Default)]
pub struct History {
    ring: Mutex<VecDeque<Minute>>,
}

fn minute_of(t: SystemTime) -> u64 {
    crate::time::since_epoch(t).as_secs() / 60
}

impl History {
    /// Counts one finished request now.
    pub fn record(&self, handler: &str, status: u16, elapsed: Duration) {
        self.record_at(SystemTime::now(), handler, status, elapsed);
    }

    /// Counts one request finished at `at`.
    pub fn record_at(&self, at: SystemTime, handler: &str, status: u16, elapsed: Duration) {
        let minute = minute_of(at);
        let class = CLASSES
            .iter()
            .position(|c| *c == class_of(handler))
            .unwrap_or(0);
        let mut ring = self.ring.lock();
        if ring.back().map_or(true, |m| m.minute < minute) {
            ring.push_back(Minute {
                minute,
                classes: Default::default(),
            });
            while ring.len() > MINUTES {
                ring.pop_front();
            }
        }
        // A clock stepped back: count into the newest minute.
        let Some(point) = ring.back_mut() else { return };
        let c = &mut point.classes[class];
        c.requests += 1;
        match status {
            400..=499 => c.client_errors += 1,
            500..=599 => c.server_errors += 1,
            _ => {}
        }
        let b = &mut c.latency[bucket_of(elapsed.as_secs_f64())];
        *b = b.saturating_add(1);
    }

    /// The last [`MINUTES`] minutes up to the one holding `now`, oldest
    /// first; minutes without requests are zero.
    pub fn last_hour(&self, now: SystemTime) -> Vec<Minute> {
        let end = minute_of(now);
        let ring = self.ring.lock();
        (0..MINUTES as u64)
            .rev()
            .map(|back| {
                let minute = end.saturating_sub(back);
                ring.iter()
                    .find(|m| m.minute == minute)
                    .copied()
                    .unwrap_or(Minute {
                        minute,
                        classes: Default::default(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_both_listeners() {
        assert_eq!(class_of("get"), "read");
        assert_eq!(class_of("s3_get_object"), "read");
        assert_eq!(class_of("upload"), "write");
        assert_eq!(class_of("s3_upload_part"), "write");
        assert_eq!(class_of("bulk_delete"), "delete");
        assert_eq!(class_of("s3_list_objects_v2"), "list");
        assert_eq!(class_of("s3_list_buckets"), "list");
        assert_eq!(class_of("metrics"), "monitor");
        assert_eq!(class_of("status"), "monitor");
        assert_eq!(class_of("update_local_config"), "admin");
        assert_eq!(class_of("s3_create_bucket"), "admin");
        for c in CLASSES {
            assert!(CLASSES.contains(&class_of(c)) || c == "list" || c == "admin");
        }
    }

    #[test]
    fn ring_keeps_an_hour_and_fills_gaps() {
        let h = History::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 * 60);
        for m in 0..90u64 {
            let at = t0 + Duration::from_secs(m * 60);
            if m % 2 == 0 {
                h.record_at(at, "get", 200, Duration::from_millis(1));
                h.record_at(at, "upload", 503, Duration::from_millis(3));
            }
        }
        assert!(h.ring.lock().len() <= MINUTES);
        let now = t0 + Duration::from_secs(89 * 60 + 30);
        let hour = h.last_hour(now);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(hour.last().unwrap().minute, 1_000_000 + 89);
        let reads: u64 = hour.iter().map(|m| m.classes[0].requests).sum();
        // Minutes 30..=89, even ones.
        assert_eq!(reads, 30);
        let write = CLASSES.iter().position(|c| *c == "write").unwrap();
        let five: u64 = hour.iter().map(|m| m.classes[write].server_errors).sum();
        assert_eq!(five, 30);
        assert_eq!(hour[1].classes[0].requests, 0, "odd minutes are empty");
    }

    #[test]
    fn quantiles_read_bucket_bounds() {
        let mut c = ClassMinute::default();
        assert_eq!(c.quantile(0.5), None);
        for _ in 0..98 {
            c.latency[bucket_of(0.0002)] += 1;
        }
        for _ in 0..2 {
            c.latency[bucket_of(0.9)] += 1;
        }
        assert_eq!(c.quantile(0.5), Some(0.000_25));
        // 0.9 s falls in the bucket up to 0.25 ms * 2^12 = 1.024 s.
        assert_eq!(c.quantile(0.99), Some(1.024));
        let mut slow = ClassMinute::default();
        slow.latency[bucket_of(1e6)] += 1;
        assert_eq!(slow.quantile(0.5), Some(bucket_bound(LATENCY_BUCKETS - 2)));
    }
}
