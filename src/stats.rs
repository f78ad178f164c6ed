//! Proxy statistics: for `/proxy_stat/`, per-handler request and byte rates
//! by status code and status class (moving averages) and the last errors;
//! for `/metrics`, Prometheus counters and latency histograms; for
//! `/status/`, the last hour by minute ([`crate::history`]); the counters
//! of the video-on-demand API ([`VodCounters`]), for both.

use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use crate::time::go_time_string;

use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use serde::Serialize;

/// How many errors `/proxy_stat/` keeps.
pub const ERROR_HISTORY: usize = 128;

/// Longest URL kept per error record (longer ones are cut, marked `...`):
/// `/proxy_stat/` stays small whatever clients send.
pub const ERROR_URL_MAX: usize = 256;
/// Longest error text kept per error record.
pub const ERROR_TEXT_MAX: usize = 512;

/// `s` cut to at most `max` bytes on a character boundary, `...` marking a cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

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

/// Time constant of the moving averages: an event's weight falls to 1/e
/// after this long (Backrunner's estimator used 5-second windows).
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// An exponentially weighted moving average of a rate (amount per second):
/// each event adds `amount / window`, and the sum decays by `e^(-dt/window)`.
/// A steady stream of `r` per second reads `r`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ewma {
    rate: f64,
    at: Option<Instant>,
}

impl Ewma {
    /// Adds `amount` happening at `now`.
    pub fn add(&mut self, amount: f64, now: Instant, window: Duration) {
        self.rate = self.rate_at(now, window) + amount / window.as_secs_f64();
        self.at = Some(now);
    }

    /// The rate at `now`.
    pub fn rate_at(&self, now: Instant, window: Duration) -> f64 {
        match self.at {
            Some(t) => {
                let dt = now.saturating_duration_since(t).as_secs_f64();
                self.rate * (-dt / window.as_secs_f64()).exp()
            }
            None => 0.0,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    requests: u64,
    bytes: u64,
    rps: Ewma,
    bps: Ewma,
}

impl Counter {
    fn add(&mut self, bytes: u64, now: Instant) {
        self.requests += 1;
        self.bytes += bytes;
        self.rps.add(1.0, now, RATE_WINDOW);
        self.bps.add(bytes as f64, now, RATE_WINDOW);
    }
}

/// Request rates of one status code or class.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    /// Bytes per second, moving average over [`RATE_WINDOW`].
    #[serde(rename = "BPS")]
    pub bps: f64,
    /// Requests per second, moving average over [`RATE_WINDOW`].
    #[serde(rename = "RPS")]
    pub rps: f64,
    /// Requests counted since start.
    #[serde(rename = "Requests")]
    pub requests: u64,
    /// Bytes counted since start.
    #[serde(rename = "Bytes")]
    pub bytes: u64,
}

/// The status class of a status code: `2xx`, `4xx`...
pub fn status_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

/// Labels of the request metrics.
pub type Labels = Vec<(String, String)>;

/// Escapes a label value as the text format wants (`\\`, `\"`, `\n`);
/// prometheus-client 0.22 writes label values verbatim, and bucket names
/// are chosen by users.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Upper bounds of the latency histogram: 0.5 ms doubling up to ~16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Prometheus request metrics, kept for the life of the process.
#[derive(Clone)]
pub struct RequestMetrics {
    /// Requests by handler and status class.
    pub requests: Family<Labels, PromCounter>,
    /// Latency by handler and status class, in seconds.
    pub latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// Request body bytes by handler.
    pub bytes_in: Family<Labels, PromCounter>,
    /// Reply body bytes by handler.
    pub bytes_out: Family<Labels, PromCounter>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
        }
    }
}

/// What the VOD API served and how long its `moov` parses took: in
/// `/proxy_stat/` as `VOD` ([`VodCounters::summary`]), in `/metrics` as
/// `backrunner_vod_*`. Kept here, below the APIs, so the REST API's
/// status routes read what the VOD API counts.
#[derive(Debug)]
pub struct VodCounters {
    /// Playlists and manifests answered (HLS master, media and I-frame
    /// playlists, DASH MPDs; 200 and 304).
    pub playlists: PromCounter,
    /// Init and media segments answered (200, 206 and 304).
    pub segments: PromCounter,
    /// Seconds each `moov` parse took (one per title load that found no
    /// index in memory or in the cluster).
    pub parse_seconds: Histogram,
    /// Title loads whose index was in the proxy's memory.
    pub index_memory_hits: PromCounter,
    /// Title loads whose index was read from the cluster.
    pub index_cluster_hits: PromCounter,
    /// Of those, segments read from the index's head and the segment's
    /// block alone, without reading the whole index.
    pub index_range_reads: PromCounter,
    parses: std::sync::atomic::AtomicU64,
    parse_nanos: std::sync::atomic::AtomicU64,
}

impl Default for VodCounters {
    fn default() -> Self {
        VodCounters {
            playlists: PromCounter::default(),
            segments: PromCounter::default(),
            // 50 µs doubling up to ~1.6 s (a two-hour moov parses in ~0.1 s)
            parse_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 16)),
            index_memory_hits: PromCounter::default(),
            index_cluster_hits: PromCounter::default(),
            index_range_reads: PromCounter::default(),
            parses: Default::default(),
            parse_nanos: Default::default(),
        }
    }
}

/// The VOD counters as `/proxy_stat/` shows them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VodSummary {
    /// Playlists and manifests answered.
    #[serde(rename = "Playlists")]
    pub playlists: u64,
    /// Segments answered.
    #[serde(rename = "Segments")]
    pub segments: u64,
    /// `moov` parses.
    #[serde(rename = "Parses")]
    pub parses: u64,
    /// Seconds all parses took together.
    #[serde(rename = "ParseSeconds")]
    pub parse_seconds: f64,
    /// Title loads served from the in-memory index cache.
    #[serde(rename = "IndexMemoryHits")]
    pub index_memory_hits: u64,
    /// Title loads whose index came from the cluster.
    #[serde(rename = "IndexClusterHits")]
    pub index_cluster_hits: u64,
    /// Of those, segments read by range (the index's head and one block).
    #[serde(rename = "IndexRangeReads")]
    pub index_range_reads: u64,
    /// Indexes in the in-memory cache, and the bytes they take.
    #[serde(rename = "IndexCacheEntries")]
    pub index_cache_entries: u64,
    /// Bytes of the indexes in the in-memory cache.
    #[serde(rename = "IndexCacheBytes")]
    pub index_cache_bytes: u64,
}

impl VodCounters {
    /// Records one `moov` parse.
    pub fn parsed(&self, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.parse_seconds.observe(took.as_secs_f64());
        self.parses.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.parse_nanos.fetch_add(nanos, Relaxed);
    }

    /// The counters now, with the index cache's `(entries, bytes)`.
    pub fn summary(&self, cache: (usize, usize)) -> VodSummary {
        use std::sync::atomic::Ordering::Relaxed;
        VodSummary {
            playlists: self.playlists.get(),
            segments: self.segments.get(),
            parses: self.parses.load(Relaxed),
            parse_seconds: self.parse_nanos.load(Relaxed) as f64 / 1e9,
            index_memory_hits: self.index_memory_hits.get(),
            index_cluster_hits: self.index_cluster_hits.get(),
            index_range_reads: self.index_range_reads.get(),
            index_cache_entries: cache.0 as u64,
            index_cache_bytes: cache.1 as u64,
        }
    }
}

/// Counters shared by every worker.
pub struct ProxyStats {
    /// When the proxy started.
    pub start_time: SystemTime,
    started: Instant,
    handlers: Mutex<BTreeMap<String, BTreeMap<String, Counter>>>,
    errors: Mutex<VecDeque<ErrorRecord>>,
    /// Prometheus request metrics.
    pub metrics: RequestMetrics,
    /// Reload signals handled and their outcome.
    pub reloads: ReloadCounters,
    /// The last hour by minute, for `/status/`.
    pub history: crate::history::History,
    /// What the VOD API served.
    pub vod: VodCounters,
}

/// SIGHUPs whose reload hooks ran (reload failures are counted by
/// `crate::reload::ReloadStatus`).
#[derive(Debug, Default)]
pub struct ReloadCounters {
    /// SIGHUPs whose hooks ran.
    pub signals: std::sync::atomic::AtomicU64,
}

impl Default for ProxyStats {
    fn default() -> Self {
        ProxyStats {
            start_time: SystemTime::now(),
            started: Instant::now(),
            handlers: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(VecDeque::with_capacity(ERROR_HISTORY)),
            metrics: RequestMetrics::default(),
            reloads: ReloadCounters::default(),
            history: Default::default(),
            vod: VodCounters::default(),
        }
    }
}

impl ProxyStats {
    /// Counts one finished request under its status class twice, as
    /// Backrunner's `"200"`, `"400"`... (its estimator keys classes by their
    /// round code) and as `"2xx"`, `"4xx"`..., and under its own code when
    /// that is not the round one (`"206"`, `"404"`...).
    pub fn record(&self, handler: &str, status: u16, bytes: u64) {
        let now = Instant::now();
        {
            let mut h = self.handlers.lock();
            let by_status = h.entry(handler.to_string()).or_default();
            let mut keys = vec![format!("{}00", status / 100), status_class(status)];
            if status % 100 != 0 {
                keys.push(status.to_string());
            }
            for key in keys {
                by_status.entry(key).or_default().add(bytes, now);
            }
        }
    }

    /// Counts one finished request for `/proxy_stat/` and `/metrics`:
    /// `bytes_out` of reply body, `bytes_in` of request body, `elapsed` time.
    pub fn record_request(
        &self,
        handler: &str,
        status: u16,
        bytes_out: u64,
        bytes_in: u64,
        elapsed: Duration,
    ) {
        self.record(handler, status, bytes_out);
        self.history.record(handler, status, elapsed);
        let by_class: Labels = vec![
            ("handler".into(), handler.into()),
            ("class".into(), status_class(status)),
        ];
        let by_handler: Labels = vec![("handler".into(), handler.into())];
        let m = &self.metrics;
        m.requests.get_or_create(&by_class).inc();
        m.latency
            .get_or_create(&by_class)
            .observe(elapsed.as_secs_f64());
        m.bytes_in.get_or_create(&by_handler).inc_by(bytes_in);
        m.bytes_out.get_or_create(&by_handler).inc_by(bytes_out);
    }

    /// Remembers a failed request, keeping the last [`ERROR_HISTORY`].
    pub fn record_error(&self, method: &str, remote: &str, url: &str, status: u16, error: &str) {
        let now = SystemTime::now();
        let d = crate::time::since_epoch(now);
        let rec = ErrorRecord {
            tsec: d.as_secs(),
            tnsec: d.subsec_nanos(),
            time: self.go_time(now),
            method: clip(method, 16),
            remote_addr: clip(remote, 64),
            url: clip(url, ERROR_URL_MAX),
            error: clip(error, ERROR_TEXT_MAX),
            status,
        };
        {
            let mut e = self.errors.lock();
            if e.len() == ERROR_HISTORY {
                e.pop_front();
            }
            e.push_back(rec);
        }
    }

    /// The last errors, oldest first.
    pub fn errors(&self) -> Vec<ErrorRecord> {
        self.errors.lock().iter().cloned().collect()
    }

    /// Per handler, per status code and class: moving-average rates and totals.
    pub fn handlers(&self) -> BTreeMap<String, BTreeMap<String, Rate>> {
        let now = Instant::now();
        let h = self.handlers.lock().clone();
        h.into_iter()
            .map(|(name, by_status)| {
                let rates = by_status
                    .into_iter()
                    .map(|(status, c)| {
                        (
                            status,
                            Rate {
                                bps: c.bps.rate_at(now, RATE_WINDOW),
                                rps: c.rps.rate_at(now, RATE_WINDOW),
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

    /// `t` as Go's `time.Now().String()` shows it: with the monotonic
    /// reading, here the time since the proxy started.
    pub fn go_time(&self, t: SystemTime) -> String {
        let since = t.duration_since(self.start_time).unwrap_or_default();
        go_time_string(t, Some(since))
    }

    /// Seconds since start.
    pub fn uptime(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn error_records_are_clipped() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("0123456789abc", 10), "0123456...");
        let cut = clip(&"я".repeat(100), 11);
        assert!(cut.len() <= 11 && cut.ends_with("..."), "{cut}");
        let stats = ProxyStats::default();
        for _ in 0..ERROR_HISTORY + 5 {
            stats.record_error(
                "GET",
                "1.2.3.4:5",
                &"/x".repeat(10_000),
                400,
                &"e".repeat(10_000),
            );
        }
        let errors = stats.errors();
        assert_eq!(errors.len(), ERROR_HISTORY);
        let size = serde_json::to_vec(&errors).unwrap().len();
        assert!(
            size < ERROR_HISTORY * (ERROR_URL_MAX + ERROR_TEXT_MAX + 200),
            "{size}"
        );
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
        s.record("get", 204, 1);
        s.record("get", 404, 7);
        let h = s.handlers();
        // Backrunner's class keys and ours hold every request of the class.
        for class in ["200", "2xx"] {
            assert_eq!((h["get"][class].requests, h["get"][class].bytes), (3, 16));
        }
        assert_eq!((h["get"]["204"].requests, h["get"]["204"].bytes), (1, 1));
        assert_eq!(h["get"]["400"].requests, 1);
        assert_eq!(h["get"]["404"].bytes, 7);
        assert_eq!(h["get"].len(), 6, "{:?}", h["get"].keys());
    }

    #[test]
    fn vod_counters_sum_parses() {
        let v = VodCounters::default();
        v.playlists.inc();
        v.segments.inc_by(3);
        v.parsed(Duration::from_millis(20));
        v.parsed(Duration::from_millis(5));
        v.index_memory_hits.inc_by(4);
        v.index_cluster_hits.inc();
        let s = v.summary((2, 300));
        assert_eq!((s.playlists, s.segments, s.parses), (1, 3, 2));
        assert_eq!((s.index_memory_hits, s.index_cluster_hits), (4, 1));
        assert_eq!((s.index_cache_entries, s.index_cache_bytes), (2, 300));
        assert!((s.parse_seconds - 0.025).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn moving_average_follows_fixed_inputs() {
        let w = Duration::from_secs(10);
        let t = Instant::now();
        let mut e = Ewma::default();
        assert_eq!(e.rate_at(t, w), 0.0);
        e.add(10.0, t, w);
        assert!((e.rate_at(t, w) - 1.0).abs() < 1e-12);
        // One window later the weight is 1/e.
        assert!((e.rate_at(t + w, w) - (-1.0f64).exp()).abs() < 1e-12);
        e.add(10.0, t + w, w);
        assert!((e.rate_at(t + w, w) - (1.0 + (-1.0f64).exp())).abs() < 1e-12);
        // A steady 20 events/s reads 20/s (within the discreteness of the steps).
        let mut e = Ewma::default();
        let step = Duration::from_millis(50);
        for i in 0..4000 {
            e.add(1.0, t + step * i, w);
        }
        let r = e.rate_at(t + step * 3999, w);
        assert!((r - 20.0).abs() < 0.1, "{r}");
    }
}
