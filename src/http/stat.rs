//! `/ping/`, `/stat/[b1,b2]` and `/proxy_stat/` in Backrunner's JSON shapes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::endpoint::Endpoint;
use super::error::ApiError;
use super::{blocking, Req};
use crate::bucket::BucketMeta;
use crate::build_info;
use crate::stats::format_time;
use crate::storage::BackendStat;

fn backend_json(s: &BackendStat) -> Value {
    json!({
        "Address": s.address,
        "Backend": s.backend,
        "Stat": {
            "error": {"code": s.error},
            "DefragState": s.defrag_state,
            "DefragStateStr": if s.defrag_state == 0 { "not-started" } else { "in-progress" },
            "RO": s.read_only,
            "Delay": s.delay_ms,
            "VFS": {
                "Total": s.total,
                "Avail": s.avail,
                "TotalSizeLimit": s.size_limit,
                "BackendRemovedSize": s.removed_size,
                "BackendUsedSize": s.used,
                "RecordsTotal": s.records_total,
                "RecordsRemoved": s.records_removed,
                "RecordsCorrupted": 0,
            },
            "PID": {"Error": 0.0, "IntegralError": 0.0, "ErrorTime": 0, "Pain": 0.0},
            "Commands": {},
        }
    })
}

/// Bucket metadata as `/stat/` shows it: no tokens.
pub fn meta_json(b: &BucketMeta) -> Value {
    let acl: Vec<Value> = b
        .acl
        .values()
        .map(|a| json!({"user": a.user, "flags": a.flags}))
        .collect();
    json!({
        "groups": b.groups,
        "flags": b.flags,
        "max-size": b.max_size,
        "max-key-num": b.max_key_num,
        "acl": acl,
    })
}

/// Handles `/ping/` and `/stat/`.
pub async fn stat(req: &Req, ep: &Endpoint) -> Result<HttpResponse, ApiError> {
    let names = match ep {
        Endpoint::Stat { buckets } => buckets.clone(),
        _ => Vec::new(),
    };
    let buckets: Vec<Arc<BucketMeta>> = if names.is_empty() {
        req.snap.buckets.listed()
    } else {
        let mut v = Vec::new();
        for n in &names {
            v.push(req.bucket(n).await?);
        }
        v
    };
    let storage = req.state.storage.clone();
    let stats = blocking(move || storage.backend_stats()).await?;
    let mut out = serde_json::Map::new();
    for b in &buckets {
        let groups: BTreeMap<String, Value> = b
            .groups
            .iter()
            .map(|g| {
                let backends: Vec<Value> = stats
                    .iter()
                    .filter(|s| s.group == *g)
                    .map(backend_json)
                    .collect();
                (g.to_string(), json!({"Backends": backends}))
            })
            .collect();
        out.insert(
            b.name.clone(),
            json!({"Group": groups, "Meta": meta_json(b)}),
        );
    }
    Ok(HttpResponse::Ok().json(json!({
        "Buckets": out,
        "StatTime": format_time(SystemTime::now()),
    })))
}

/// The machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Handles `/proxy_stat/`.
pub async fn proxy_stat(req: &Req) -> Result<HttpResponse, ApiError> {
    let stats = &req.state.stats;
    let now = SystemTime::now();
    let cfg = &req.snap.config;
    let reload = &req.state.reload;
    let (last_error_time, last_error) = match reload.last_error() {
        Some((t, e)) => (format_time(t), e),
        None => (String::new(), String::new()),
    };
    let handlers: BTreeMap<String, Value> = stats
        .handlers()
        .into_iter()
        .map(|(name, rates)| (name, json!({ "RS": rates })))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "BucketCtlStat": {
            "StartTime": unix(stats.start_time),
            "StartTimeString": format_time(stats.start_time),
            "StatTime": unix(now),
            "StatTimeString": format_time(now),
            "ConfigTime": unix(req.snap.loaded),
            "ConfigTimeString": format_time(req.snap.loaded),
            "CurrentTime": unix(now),
            "CurrentTimeString": format_time(now),
            "BucketNum": req.snap.buckets.listed().len(),
            "Hostname": hostname(),
            "ConfigUpdateInterval": cfg.proxy.bucket_update_interval,
            "StatUpdateInterval": cfg.proxy.bucket_stat_update_interval,
            "BuildDate": build_info::DATE,
            "LastCommit": build_info::COMMIT,
            "Version": build_info::VERSION,
            "ProxyConfig": cfg.without_secrets(),
            "ReloadErrors": reload.error_count(),
            "LastReloadError": last_error,
            "LastReloadErrorTime": last_error_time,
            "ConfigUpdateDisabledFor": reload.config_frozen_for().map(|d| d.as_secs()).unwrap_or(0),
        },
        "handlers": handlers,
        "errors": stats.errors(),
    })))
}
