//! `/status/`: the operator's page on the REST listener. One server-rendered
//! HTML page, no scripts, fonts or other external resources: the proxy
//! ([`charts`]: request and error rates and latency per route class over
//! the last hour, from [`crate::history`]), the cluster ([`cluster`]:
//! buckets, groups, backends, replicas), the name index, the TLS
//! certificate and the config in effect (secrets hidden). Every number
//! also carries a `data-check="NAME=VALUE"` attribute with its exact value,
//! which tests compare with `/stat/` and `/metrics`. [`gauges`] adds the
//! figures the page shows and `/metrics` lacked to `/metrics`, so the alert
//! rules (packaging/prometheus/alerts.yml) read the same numbers.

pub mod charts;
pub mod cluster;
pub mod gauges;
pub mod html;

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpResponse};

use crate::state::{AppState, Snapshot};
use html::{bytes, cell, esc, span};

/// Shortest auto-refresh period `?refresh=N` accepts (seconds).
pub const MIN_REFRESH: u64 = 5;

/// The page loads nothing (no scripts, fonts, images or styles from
/// anywhere) but its own inline style; browsers enforce it.
pub const CSP: &str =
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}\
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .4em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.3em 0}td,th{padding:.2em .6em;border:1px solid #ddd;text-align:right;vertical-align:middle}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.meta span{margin-right:1.5em}\
.bar{display:inline-block;width:160px;height:12px;background:#eee;border:1px solid #bbb;vertical-align:middle}\
.bar i{display:block;height:100%}.ok{background:#3a3}.soft{background:#e90}.hard{background:#d22}\
.bad{color:#c00;font-weight:bold}.warn{color:#b60}pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em}\
svg{background:#fafafa;border:1px solid #ddd}";

/// Handles `/status/` (`?refresh=N` reloads the page every N seconds).
pub async fn page(state: &web::Data<AppState>, snap: &Snapshot, query: &str) -> HttpResponse {
    let stale = {
        let cached = state.cluster.stats();
        let known = |g| cached.backends.iter().any(|s| s.group == g);
        cached.time.is_none()
            || snap
                .buckets
                .listed()
                .iter()
                .flat_map(|b| b.groups.clone())
                .any(|g| !known(g))
    };
    let mut note = String::new();
    if stale {
        let s = state.clone();
        if let Err(e) = web::block(move || s.cluster.refresh(s.storage.as_ref())).await {
            note = format!("cluster statistics could not be refreshed: {e}");
        }
    }
    let refresh = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("refresh="))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| n.max(MIN_REFRESH));
    let html = render(state, snap, refresh, &note);
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("content-security-policy", CSP))
        .body(html)
}

fn render(state: &AppState, snap: &Snapshot, refresh: Option<u64>, note: &str) -> String {
    let now = SystemTime::now();
    let host = crate::sys::hostname();
    let mut h = String::with_capacity(64 << 10);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">"
    );
    if let Some(n) = refresh {
        let _ = write!(h, "<meta http-equiv=\"refresh\" content=\"{n}\">");
    }
    let _ = write!(
        h,
        "<title>backrunner status: {}</title><style>{STYLE}</style></head><body>\
         <h1>backrunner on {}</h1><p class=\"meta\">",
        esc(&host),
        esc(&host)
    );
    let stats = state.cluster.stats();
    let age = stats
        .time
        .map(|t| span(now.duration_since(t).unwrap_or_default()))
        .unwrap_or_else(|| "never".into());
    let config_age = span(now.duration_since(snap.loaded).unwrap_or_default());
    for (k, v) in [
        (
            "version",
            format!(
                "{} ({})",
                crate::build_info::VERSION,
                crate::build_info::COMMIT
            ),
        ),
        ("up", span(Duration::from_secs_f64(state.stats.uptime()))),
        ("cluster statistics", format!("{age} old")),
        ("config loaded", format!("{config_age} ago")),
        (
            "connections",
            format!(
                "{} of {}",
                state.connections.open(),
                state.connections.cap()
            ),
        ),
        (
            "reload errors",
            state.reload.status.error_count().to_string(),
        ),
    ] {
        let _ = write!(h, "<span><b>{}</b>: {}</span>", esc(k), esc(&v));
    }
    h.push_str("</p>");
    if !note.is_empty() {
        let _ = write!(h, "<p class=\"bad\">{}</p>", esc(note));
    }
    charts::proxy_section(&mut h, &state.stats.history.last_hour(now));
    cluster::section(&mut h, state, snap, &stats);
    index_section(&mut h, state);
    tls_section(&mut h, snap, now);
    let config = serde_json::to_string_pretty(&snap.config.without_secrets()).unwrap_or_default();
    let _ = write!(
        h,
        "<h2 id=\"config\">Config in effect</h2><pre>{}</pre></body></html>",
        esc(&config)
    );
    h
}

fn index_section(h: &mut String, state: &AppState) {
    h.push_str("<h2 id=\"index\">Name index</h2>");
    let Some(index) = state.objects.index() else {
        h.push_str("<p>off (<code>proxy.name-index</code> is false)</p>");
        return;
    };
    let s = index.stats();
    h.push_str("<table><tr><th>updates</th><th>conflicts retried</th><th>store calls</th><th>bytes written</th><th>shard splits</th><th>waiting</th><th>failures</th></tr><tr>");
    let conflicts = s.attempts.saturating_sub(s.updates);
    for (name, v) in [
        ("index_updates", s.updates),
        ("index_conflicts", conflicts),
        ("index_calls", s.calls),
    ] {
        h.push_str(&cell(name, v, &v.to_string()));
    }
    h.push_str(&cell(
        "index_bytes_written",
        s.bytes_written,
        &bytes(s.bytes_written),
    ));
    h.push_str(&cell("index_splits", s.splits, &s.splits.to_string()));
    h.push_str(&cell("index_pending", s.pending, &s.pending.to_string()));
    let failures = cell("index_failures", s.failures, &s.failures.to_string());
    if s.failures > 0 {
        h.push_str(&failures.replace("<td ", "<td class=\"bad\" "));
    } else {
        h.push_str(&failures);
    }
    h.push_str("</tr></table>");
    if s.failures > 0 {
        h.push_str("<p class=\"warn\">Index updates failed after their object operation: run <code>bindex -check BUCKET -drop-dangling</code> and <code>bindex -add</code> (docs/index.md).</p>");
    }
}

fn tls_section(h: &mut String, snap: &Snapshot, now: SystemTime) {
    let p = &snap.config.proxy;
    h.push_str("<h2 id=\"tls\">TLS certificate</h2>");
    if p.https_address.is_empty() && p.s3_https_address.is_empty() {
        h.push_str("<p>no HTTPS listener</p>");
        return;
    }
    match crate::tls::certificate_expiry(&p.cert_file) {
        Ok(t) => {
            let secs = crate::time::since_epoch(t).as_secs();
            let (left, class) = match t.duration_since(now) {
                Ok(d) if d > Duration::from_secs(14 * 86_400) => (format!("in {}", span(d)), ""),
                Ok(d) => (format!("in {}", span(d)), " class=\"bad\""),
                Err(e) => (
                    format!("{} ago: EXPIRED", span(e.duration())),
                    " class=\"bad\"",
                ),
            };
            let _ = write!(
                h,
                "<p{class}>{} expires <span data-check=\"cert_expiry={secs}\">{}</span> ({})</p>",
                esc(&p.cert_file),
                esc(&crate::time::format_time(t)),
                esc(&left)
            );
        }
        Err(e) => {
            let _ = write!(h, "<p class=\"bad\">{}</p>", esc(&e.to_string()));
        }
    }
}
