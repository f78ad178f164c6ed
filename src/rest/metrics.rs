//! `/metrics`: everything `/stat/` and `/proxy_stat/` show, in the
//! Prometheus (OpenMetrics) text format. See docs/metrics.md.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::{web, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::error::ApiError;
use super::Req;
use crate::cluster::pain::Limits;
use crate::cluster::{Cluster, ClusterStats};
use crate::state::{AppState, Snapshot};
use crate::stats::Labels;
use crate::storage::BackendStat;

/// Content type of the OpenMetrics text format that Prometheus scrapes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;
type CounterFamily = Family<Labels, Counter>;

pub use crate::stats::escape_label;

fn labels(pairs: &[(&str, String)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), escape_label(v)))
        .collect()
}

fn backend_labels(s: &BackendStat) -> Labels {
    labels(&[
        ("group", s.group.to_string()),
        ("address", s.address.clone()),
        ("backend", s.backend.to_string()),
    ])
}

/// The registry of one scrape: the request families kept by
/// [`crate::stats::ProxyStats`] and a [`ProxyCollector`] for the rest.
pub fn registry(state: &web::Data<AppState>, snap: Arc<Snapshot>) -> Registry {
    let mut reg = Registry::with_prefix("backrunner");
    register_requests(&mut reg, &state.stats.metrics);
    register_vod(&mut reg, &state.stats.vod);
    reg.register_collector(Box::new(ProxyCollector {
        state: state.clone(),
        snap,
    }));
    reg
}

/// The metrics read from the proxy's state when scraped: process and
/// reload counters, cluster statistics, replicas and defragmentation.
pub struct ProxyCollector {
    state: web::Data<AppState>,
    snap: Arc<Snapshot>,
}

impl std::fmt::Debug for ProxyCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyCollector")
    }
}

impl Collector for ProxyCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let (state, proxy) = (&self.state, &self.snap.config.proxy);
        encode_process(&mut enc, state, self.snap.loaded)?;
        let cluster = &state.cluster;
        let stats = cluster.stats();
        encode_stat_updates(&mut enc, cluster, &stats)?;
        let limits = Limits {
            soft: proxy.free_space_ratio_soft,
            hard: proxy.free_space_ratio_hard,
        };
        encode_backends(&mut enc, cluster, &stats, limits)?;
        encode_replicas(&mut enc, cluster, &self.snap)?;
        encode_defrag(&mut enc, cluster)?;
        crate::status::gauges::encode(&mut enc, state, &self.snap)
    }
}

/// Writes one metric (a family or a single counter or gauge) as scraped.
fn emit(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(m)
}

fn register_requests(reg: &mut Registry, m: &crate::stats::RequestMetrics) {
    reg.register(
        "http_requests",
        "Requests served, by handler and status class",
        m.requests.clone(),
    );
    reg.register(
        "http_request_duration_seconds",
        "Time from request start to reply headers, by handler and status class",
        m.latency.clone(),
    );
    reg.register(
        "http_request_bytes",
        "Request body bytes announced by Content-Length, by handler",
        m.bytes_in.clone(),
    );
    reg.register(
        "http_response_bytes",
        "Reply body bytes, by handler",
        m.bytes_out.clone(),
    );
}

fn register_vod(reg: &mut Registry, v: &crate::stats::VodCounters) {
    reg.register(
        "vod_playlists",
        "HLS playlists and DASH manifests answered by the VOD API (200 and 304)",
        v.playlists.clone(),
    );
    reg.register(
        "vod_segments",
        "Init and media segments answered by the VOD API (200, 206 and 304)",
        v.segments.clone(),
    );
    reg.register(
        "vod_parse_seconds",
        "Time each moov parse of the VOD API took (title loads whose index was neither in memory nor in the cluster)",
        v.parse_seconds.clone(),
    );
    reg.register(
        "vod_index_memory_hits",
        "VOD title loads whose sample index was in the proxy's memory",
        v.index_memory_hits.clone(),
    );
    reg.register(
        "vod_index_cluster_hits",
        "VOD title loads whose sample index was read from the cluster",
        v.index_cluster_hits.clone(),
    );
    reg.register(
        "vod_index_range_reads",
        "VOD segments read from the cluster's sample index by range (its head and the segment's block), without loading the whole index",
        v.index_range_reads.clone(),
    );
}

/// Uptime, config load time and reload counters.
fn encode_process(
    enc: &mut DescriptorEncoder,
    state: &AppState,
    loaded: SystemTime,
) -> fmt::Result {
    let uptime: Gauge<f64, AtomicU64> = Gauge::default();
    uptime.set(state.stats.uptime());
    emit(
        enc,
        "uptime_seconds",
        "Seconds since the proxy started",
        &uptime,
    )?;
    let config_time: Gauge<f64, AtomicU64> = Gauge::default();
    config_time.set(crate::time::unix_secs_f64(loaded));
    emit(
        enc,
        "config_loaded_timestamp_seconds",
        "When the config in use was loaded",
        &config_time,
    )?;
    let signals: Counter = Counter::default();
    signals.inc_by(state.stats.reloads.signals.load(Ordering::Relaxed));
    emit(
        enc,
        "reload_signals",
        "SIGHUPs whose reload hooks ran",
        &signals,
    )?;
    let reload_errors: Counter = Counter::default();
    reload_errors.inc_by(state.reload.status.error_count());
    emit(
        enc,
        "reload_errors",
        "Failed reload steps (SIGHUP, periodic, update_local_config)",
        &reload_errors,
    )?;
    Ok(())
}

/// How the cluster statistics updates go, and their age.
fn encode_stat_updates(
    enc: &mut DescriptorEncoder,
    cluster: &Cluster,
    stats: &ClusterStats,
) -> fmt::Result {
    let updates: Counter = Counter::default();
    updates.inc_by(cluster.stat_updates());
    emit(enc, "stat_updates", "Cluster statistics updates", &updates)?;
    let update_errors: Counter = Counter::default();
    update_errors.inc_by(cluster.stat_errors());
    emit(
        enc,
        "stat_update_errors",
        "Cluster statistics updates that did not run",
        &update_errors,
    )?;
    let age: Gauge<f64, AtomicU64> = Gauge::default();
    age.set(stats.time.map_or(-1.0, |t| {
        SystemTime::now()
            .duration_since(t)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }));
    emit(
        enc,
        "stat_age_seconds",
        "Age of the cached cluster statistics (-1 before the first update)",
        &age,
    )?;
    Ok(())
}

/// Per-backend space, records, flags, placement pain and write cost,
/// checksum errors and storage commands.
fn encode_backends(
    enc: &mut DescriptorEncoder,
    cluster: &Cluster,
    stats: &ClusterStats,
    limits: Limits,
) -> fmt::Result {
    let space = GaugeFamily::default();
    let records = GaugeFamily::default();
    let flags = GaugeFamily::default();
    let pain = GaugeFamily::default();
    let cost = GaugeFamily::default();
    let commands = CounterFamily::default();
    let failures = CounterFamily::default();
    let cmd_bytes = CounterFamily::default();
    let csum_errors = CounterFamily::default();
    for s in &stats.backends {
        let l = backend_labels(s);
        let with = |k: &str, v: &str| {
            let mut x = l.clone();
            x.push((k.to_string(), v.to_string()));
            x
        };
        for (kind, v) in [
            ("total", s.total),
            ("avail", s.avail),
            ("used", s.used),
            ("size_limit", s.size_limit),
            ("removed", s.removed_size),
        ] {
            space.get_or_create(&with("kind", kind)).set(v as f64);
        }
        records
            .get_or_create(&with("state", "live"))
            .set(s.records_total as f64);
        records
            .get_or_create(&with("state", "removed"))
            .set(s.records_removed as f64);
        for (flag, v) in [
            ("read_only", f64::from(u8::from(s.read_only))),
            ("defrag_state", f64::from(s.defrag_state.code())),
            ("error_code", f64::from(s.error)),
        ] {
            flags.get_or_create(&with("flag", flag)).set(v);
        }
        csum_errors.get_or_create(&l).inc_by(s.checksum_errors);
        let c = cluster.cost(s);
        cost.get_or_create(&l).set(c);
        pain.get_or_create(&l)
            .set(crate::cluster::pain::backend_pain(s, 0, c, limits).pain);
        for (name, st) in &s.commands {
            let cl = with("command", name);
            commands.get_or_create(&cl).inc_by(st.requests());
            failures.get_or_create(&cl).inc_by(st.failures);
            cmd_bytes.get_or_create(&cl).inc_by(st.bytes);
        }
    }
    emit(enc, "backend_space_bytes", "Backend space by kind", &space)?;
    emit(enc, "backend_records", "Backend records by state", &records)?;
    emit(enc,
        "backend_checksum_errors",
        "Reads that found a replica's bytes failing their checksum (served from another replica, or failed)", &csum_errors,)?;
    emit(
        enc,
        "backend_flag",
        "Backend read-only flag, defragmentation state and last error code",
        &flags,
    )?;
    emit(
        enc,
        "backend_pain",
        "Placement pain of the backend for a small write (free space, penalties, write cost)",
        &pain,
    )?;
    emit(
        enc,
        "backend_write_cost",
        "Smoothed write cost of the backend in nanoseconds per byte",
        &cost,
    )?;
    emit(
        enc,
        "backend_commands",
        "Storage commands per backend",
        &commands,
    )?;
    emit(
        enc,
        "backend_command_failures",
        "Failed storage commands per backend",
        &failures,
    )?;
    emit(
        enc,
        "backend_command_bytes",
        "Payload bytes of successful storage commands per backend",
        &cmd_bytes,
    )?;
    Ok(())
}

/// Replicas out of sync, recoveries and bad bucket metadata copies.
/// Every group of every listed bucket has its out-of-sync counter from the
/// start (at 0), so an alert on its increase sees the first one.
fn encode_replicas(enc: &mut DescriptorEncoder, cluster: &Cluster, snap: &Snapshot) -> fmt::Result {
    let oos = CounterFamily::default();
    for b in snap.buckets.listed() {
        for g in &b.groups {
            let _ = oos.get_or_create(&labels(&[
                ("bucket", b.name.clone()),
                ("group", g.to_string()),
            ]));
        }
    }
    for (bucket, groups) in cluster.out_of_sync() {
        for (g, n) in groups {
            oos.get_or_create(&labels(&[
                ("bucket", bucket.clone()),
                ("group", g.to_string()),
            ]))
            .inc_by(n);
        }
    }
    emit(
        enc,
        "replicas_out_of_sync",
        "Replicas found missing or different from the newest one",
        &oos,
    )?;
    let rec = cluster.recovery.summary();
    let recoveries = CounterFamily::default();
    for (result, n) in [
        ("recovered", rec.done),
        ("failed", rec.failed),
        ("skipped", rec.skipped),
    ] {
        recoveries
            .get_or_create(&labels(&[("result", result.into())]))
            .inc_by(n);
    }
    emit(
        enc,
        "replica_recoveries",
        "Replica recoveries by result",
        &recoveries,
    )?;
    let rec_bytes: Counter = Counter::default();
    rec_bytes.inc_by(rec.bytes);
    emit(
        enc,
        "replica_recovered_bytes",
        "Bytes copied by replica recovery",
        &rec_bytes,
    )?;
    let pass = &cluster.repair_pass;
    for (name, help, n) in [
        (
            "repair_passes",
            "Background repair passes finished",
            &pass.runs,
        ),
        (
            "repair_pass_keys",
            "Keys the background repair pass checked",
            &pass.keys,
        ),
        (
            "repair_pass_out_of_sync_keys",
            "Keys the background repair pass found with a replica out of sync",
            &pass.out_of_sync,
        ),
        (
            "repair_pass_listing_errors",
            "Buckets the background repair pass could not list to the end",
            &pass.errors,
        ),
    ] {
        let c: Counter = Counter::default();
        c.inc_by(n.load(std::sync::atomic::Ordering::Relaxed));
        emit(enc, name, help, &c)?;
    }
    let bad_meta: Counter = Counter::default();
    bad_meta.inc_by(crate::bucket::bad_meta_copies());
    emit(
        enc,
        "bucket_metadata_bad_copies",
        "Bucket metadata copies that failed to decode (another group's copy was tried)",
        &bad_meta,
    )?;
    Ok(())
}

/// Automatic defragmentation requests by outcome.
fn encode_defrag(enc: &mut DescriptorEncoder, cluster: &Cluster) -> fmt::Result {
    let d = cluster.defrag.summary();
    let defrag = CounterFamily::default();
    for (outcome, n) in [
        ("started", d.started),
        ("nothing_to_compact", d.nothing),
        ("already_running", d.running),
        ("failed", d.failed),
    ] {
        defrag
            .get_or_create(&labels(&[("outcome", outcome.into())]))
            .inc_by(n);
    }
    emit(
        enc,
        "defrag_requests",
        "Automatic defragmentation requests by outcome",
        &defrag,
    )?;
    Ok(())
}

/// Handles `/metrics`.
pub async fn metrics(req: &Req) -> Result<HttpResponse, ApiError> {
    let reg = registry(&req.state, req.snap.clone());
    let mut out = String::new();
    encode(&mut out, &reg).map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("plain"), "plain");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
