//! The figures `/status/` shows that `/metrics` did not have, added to
//! every scrape so the shipped alert rules and dashboard
//! (packaging/prometheus/alerts.yml, packaging/grafana/backrunner.json)
//! read the same numbers as the page: each backend's free-space ratio (the
//! one placement compares with the limits), the limits themselves, the
//! name index counters and the time left on the TLS certificate.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::cluster::pain;
use crate::state::{AppState, Snapshot};
use crate::stats::{escape_label, Labels};

type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;

fn emit(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> fmt::Result {
    let m = enc.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(m)
}

fn label(k: &str, v: &str) -> (String, String) {
    (k.to_string(), escape_label(v))
}

/// Writes the status gauges into a scrape.
pub fn encode(enc: &mut DescriptorEncoder, state: &AppState, snap: &Snapshot) -> fmt::Result {
    let proxy = &snap.config.proxy;
    let ratio = GaugeFamily::default();
    for s in &state.cluster.stats().backends {
        let l = vec![
            label("group", &s.group.to_string()),
            label("address", &s.address),
            label("backend", &s.backend.to_string()),
        ];
        ratio.get_or_create(&l).set(pain::free_space_ratio(s, 0));
    }
    emit(
        enc,
        "backend_free_space_ratio",
        "Share of the backend's capacity free, as placement compares it with the free-space limits",
        &ratio,
    )?;
    let limits = GaugeFamily::default();
    for (name, v) in [
        ("soft", proxy.free_space_ratio_soft),
        ("hard", proxy.free_space_ratio_hard),
    ] {
        limits.get_or_create(&vec![label("limit", name)]).set(v);
    }
    emit(
        enc,
        "free_space_limit_ratio",
        "proxy.free-space-ratio-soft and -hard: below hard a group takes no writes",
        &limits,
    )?;
    if let Some(index) = state.objects.index() {
        let s = index.stats();
        for (name, help, v) in [
            ("index_updates", "Name index updates done", s.updates),
            (
                "index_failures",
                "Object writes or removals whose name index update failed",
                s.failures,
            ),
            (
                "index_conflicts",
                "Name index shard updates retried after a concurrent change",
                s.attempts.saturating_sub(s.updates),
            ),
            (
                "index_journaled",
                "Name index changes journaled in the cluster while their primary was away",
                s.journaled,
            ),
            (
                "index_journal_replayed",
                "Journaled name index changes this proxy wrote to the index",
                s.journal_replayed,
            ),
        ] {
            let c: Counter = Counter::default();
            c.inc_by(v);
            emit(enc, name, help, &c)?;
        }
        let g: Gauge = Gauge::default();
        g.set(i64::try_from(s.pending).unwrap_or(i64::MAX));
        emit(
            enc,
            "index_pending_updates",
            "Name index changes waiting for their shard's update or in it now",
            &g,
        )?;
    }
    if !proxy.https_address.is_empty() || !proxy.s3_https_address.is_empty() {
        if let Ok(t) = crate::tls::certificate_expiry(&proxy.cert_file) {
            let g: Gauge<f64, AtomicU64> = Gauge::default();
            g.set(match t.duration_since(SystemTime::now()) {
                Ok(left) => left.as_secs_f64(),
                Err(past) => -past.duration().as_secs_f64(),
            });
            emit(
                enc,
                "tls_certificate_expiry_seconds",
                "Seconds until the certificate of proxy.cert_file expires (negative once it has)",
                &g,
            )?;
        }
    }
    Ok(())
}
