//! `/ping/`, `/stat/[b1,b2]` and `/proxy_stat/` in Backrunner's JSON shapes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::endpoint::Endpoint;
use super::error::ApiError;
use super::{blocking, Req};
use crate::bucket::BucketMeta;
use crate::build_info;
use crate::cluster::pain::{self, Limits};
use crate::cluster::Cluster;
use crate::storage::BackendStat;
use crate::time::{format_time, from_unix_secs, go_time_string, unix_secs};

/// A time in seconds since the epoch as Go's JSON writes `time.Unix(secs, 0)`.
fn unix_time_json(secs: u64) -> String {
    format_time(from_unix_secs(secs.min(crate::storage::MAX_MTIME_SECS)))
}

fn backend_json(s: &BackendStat, cluster: &Cluster, limits: Limits, started: SystemTime) -> Value {
    let cost = cluster.cost(s);
    let pid = cluster.write_cost(s);
    let commands: BTreeMap<&String, Value> = s
        .commands
        .iter()
        .map(|(name, c)| {
            (
                name,
                json!({
                    "RequestsSuccess": c.successes,
                    "RequestsFailures": c.failures,
                    "Bytes": c.bytes,
                    "RPSSuccess": c.rps_success,
                    "RPSFailures": c.rps_failures,
                    "BPS": c.bps,
                }),
            )
        })
        .collect();
    json!({
        "Address": s.address,
        "Backend": s.backend,
        "Pain": pain::backend_pain(s, 0, cost, limits).pain,
        "FreeSpaceRatio": pain::free_space_ratio(s, 0),
        "Stat": {
            "error": {"code": s.error},
            "Percentage": s.percentage,
            "DefragState": s.defrag_state.code(),
            "DefragStateStr": s.defrag_state.as_str(),
            "DefragStartTime": unix_time_json(s.defrag_start_time),
            "DefragCompletionTime": unix_time_json(s.defrag_completion_time),
            "DefragCompletionStatus": s.defrag_completion_status,
            "DefragRuns": s.defrag_runs,
            "RO": s.read_only,
            "Delay": s.delay_ms,
            "VFS": {
                "Total": s.total,
                "Avail": s.avail,
                // elliptics-go: the size limit, else the whole space.
                "TotalSizeLimit": if s.size_limit > 0 { s.size_limit } else { s.total },
                "BackendRemovedSize": s.removed_size,
                "BackendUsedSize": s.used,
                "RecordsTotal": s.records_total,
                "RecordsRemoved": s.records_removed,
                "RecordsCorrupted": s.checksum_errors,
            },
            "PID": {
                "Error": pid.error,
                "IntegralError": pid.integral,
                // Controllers start with the proxy, as elliptics-go's do
                // with its first statistics.
                "ErrorTime": format_time(pid.error_time.unwrap_or(started)),
                "Pain": cost,
                "Updates": pid.updates,
            },
            "Commands": commands,
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
    let cluster = &req.state.cluster;
    // A group the cache does not know yet (first request, or added by a
    // reload since the last update) gets fresh statistics now.
    let cached = cluster.stats();
    let unknown = buckets
        .iter()
        .flat_map(|b| b.groups.iter())
        .any(|g| !cached.backends.iter().any(|s| s.group == *g));
    if cached.time.is_none() || unknown {
        let s = req.state.clone();
        blocking(move || s.cluster.refresh(s.storage.as_ref())).await?;
    }
    let stats = cluster.stats();
    let proxy = &req.snap.config.proxy;
    let limits = Limits {
        soft: proxy.free_space_ratio_soft,
        hard: proxy.free_space_ratio_hard,
    };
    let out_of_sync = cluster.out_of_sync();
    let mut out = serde_json::Map::new();
    for b in &buckets {
        let oos = out_of_sync.get(&b.name);
        let groups: BTreeMap<String, Value> = b
            .groups
            .iter()
            .map(|g| {
                let backends: Vec<Value> = stats
                    .backends
                    .iter()
                    .filter(|s| s.group == *g)
                    .map(|s| backend_json(s, cluster, limits, req.state.stats.start_time))
                    .collect();
                let n = oos.and_then(|m| m.get(g)).copied().unwrap_or(0);
                (
                    g.to_string(),
                    json!({"Backends": backends, "OutOfSyncReplicas": n}),
                )
            })
            .collect();
        let bp = cluster.bucket_pain(&b.groups, 0, proxy);
        out.insert(
            b.name.clone(),
            json!({
                "Group": groups,
                "Meta": meta_json(b),
                "Pain": bp.pain,
                "RecordsDiscrepancy": bp.discrepancy,
            }),
        );
    }
    let stat_time = stats.time.unwrap_or_else(SystemTime::now);
    Ok(HttpResponse::Ok().json(json!({
        "Buckets": out,
        "StatTime": go_time_string(stat_time, None),
        "Recovery": cluster.recovery.summary(),
        "Defrag": cluster.defrag.summary(),
    })))
}

/// Handles `/proxy_stat/`.
pub async fn proxy_stat(req: &Req) -> Result<HttpResponse, ApiError> {
    let stats = &req.state.stats;
    let now = SystemTime::now();
    let cfg = &req.snap.config;
    let reload = &req.state.reload.status;
    let (last_error_time, last_error) = match reload.last_error() {
        Some((t, e)) => (go_time_string(t, None), e),
        None => (String::new(), String::new()),
    };
    let mut handlers: BTreeMap<String, Value> = Endpoint::HANDLER_NAMES
        .iter()
        .map(|n| (n.to_string(), json!({"RS": {}})))
        .collect();
    for (name, rates) in stats.handlers() {
        handlers.insert(name, json!({ "RS": rates }));
    }
    let stat_time = req.state.cluster.stats().time.unwrap_or(now);
    Ok(HttpResponse::Ok().json(json!({
        "BucketCtlStat": {
            "StartTime": unix_secs(stats.start_time),
            "StartTimeString": stats.go_time(stats.start_time),
            "StatTime": unix_secs(stat_time),
            "StatTimeString": go_time_string(stat_time, None),
            "ConfigTime": unix_secs(req.snap.loaded),
            "ConfigTimeString": stats.go_time(req.snap.loaded),
            "CurrentTime": unix_secs(now),
            "CurrentTimeString": stats.go_time(now),
            "BucketNum": req.snap.buckets.listed().len(),
            "Hostname": crate::sys::hostname(),
            "ConfigUpdateInterval": cfg.proxy.bucket_update_interval,
            "StatUpdateInterval": cfg.proxy.bucket_stat_update_interval,
            "BuildDate": build_info::DATE,
            "LastCommit": build_info::COMMIT,
            "EllipticsGoLastCommit": build_info::ELLIPTICS_BINDING_COMMIT,
            "Version": build_info::VERSION,
            "ProxyConfig": cfg.without_secrets(),
            "ReloadErrors": reload.error_count(),
            "LastReloadError": last_error,
            "LastReloadErrorTime": last_error_time,
            "ConfigUpdateDisabledFor": reload.config_frozen_for().map(|d| d.as_secs()).unwrap_or(0),
            "Connections": req.state.connections.open(),
            "MaxConnections": req.state.connections.cap(),
            "BadMetadataCopies": crate::bucket::bad_meta_copies(),
        },
        "handlers": handlers,
        "errors": stats.errors(),
        "index": req.state.objects.index().map(|i| i.stats()),
        "VOD": req.state.stats.vod.summary(req.state.vod_index.usage()),
    })))
}
