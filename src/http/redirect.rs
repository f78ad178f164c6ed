//! `/redirect/BUCKET/KEY`: 302 to the storage node holding the bytes, with a
//! URL its streaming module can verify (SPEC.md, Redirect; docs/redirect.md).

use std::time::{SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use actix_web::http::header::{HeaderValue, AUTHORIZATION, LOCATION, RANGE};
use actix_web::HttpResponse;

use super::error::ApiError;
use super::range;
use super::reply::first_errors;
use super::{blocking, Req};
use crate::redirect_sign::{address_host, SignedRedirect};
use crate::storage::{pick_error, BackendStat, ReplicaInfo};

/// Handles `/redirect/`.
pub async fn redirect(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let proxy = &req.snap.config.proxy;
    let port = u16::try_from(proxy.redirect_port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "redirect is not configured: proxy.redirect-port is {} (must be 1..65535)",
                proxy.redirect_port
            ))
        })?;
    let (_, ctx) = req.bucket_session(bucket, false).await?;
    let storage = req.state.storage.clone();
    let k = key.to_string();
    let results = blocking(move || storage.lookup(&ctx, &k)).await?;
    let replicas: Vec<ReplicaInfo> = results
        .iter()
        .filter_map(|r| r.result.as_ref().ok().cloned())
        .collect();
    let cluster = &req.state.cluster;
    let stats = cluster.stats();
    let Some(replica) = choose_replica(&replicas, &stats.backends, |s| cluster.cost(s)) else {
        return Err(pick_error(first_errors(&results)).into());
    };
    if replica.filename.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "lookup of group {} gave no data file name",
            replica.group
        )));
    }
    let host = address_host(&replica.address).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "storage node address {:?} of group {} has no host",
            replica.address, replica.group
        ))
    })?;
    let (offset, size) = requested_span(req, replica.size)?;
    let file = match replica.filename.strip_prefix(proxy.redirect_root.as_str()) {
        Some(rest) if !proxy.redirect_root.is_empty() => rest.to_string(),
        _ => replica.filename.clone(),
    };
    let target = SignedRedirect {
        scheme: "http".into(),
        host: host.to_string(),
        port,
        file,
        object_offset: replica.offset,
        offset,
        size,
        total_size: replica.size,
        mtime: unix_secs(replica.mtime),
        signtime: unix_secs(SystemTime::now()),
        timeout: proxy.redirect_signature_timeout,
    };
    let mut resp = HttpResponse::Found();
    for (name, value) in target.headers() {
        let value = HeaderValue::from_str(&value).map_err(|_| {
            ApiError::Unavailable(format!("{name} value {value:?} cannot be sent in a header"))
        })?;
        resp.insert_header((name, value));
    }
    resp.insert_header((AUTHORIZATION, target.signature(&proxy.redirect_token)))
        .insert_header((LOCATION, target.url()));
    Ok(resp.finish())
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Picks the replica to send the client to, from the cached statistics:
/// healthy backends first (no error reported), then those not being
/// defragmented, then the cheapest by measured placement cost, then the
/// lowest configured delay, then the bucket's group order.
pub fn choose_replica<'a>(
    replicas: &'a [ReplicaInfo],
    stats: &[Arc<BackendStat>],
    cost: impl Fn(&BackendStat) -> f64,
) -> Option<&'a ReplicaInfo> {
    let rank = |r: &ReplicaInfo| {
        let stat = stats
            .iter()
            .find(|s| s.group == r.group && s.backend == r.backend && s.address == r.address);
        match stat {
            Some(s) => (s.error != 0, s.defrag_state != 0, cost(s), s.delay_ms),
            None => (true, true, f64::MAX, u64::MAX),
        }
    };
    let ranked: Vec<_> = replicas.iter().map(|r| (rank(r), r)).collect();
    ranked
        .into_iter()
        .reduce(|best, next| {
            let (a, b) = (&best.0, &next.0);
            let order = (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then(a.2.total_cmp(&b.2))
                .then(a.3.cmp(&b.3));
            // Ties keep the earlier replica: the bucket's group order.
            if order == std::cmp::Ordering::Greater {
                next
            } else {
                best
            }
        })
        .map(|(_, r)| r)
}

/// The requested `(offset, size)` within an object of `total` bytes: one
/// `Range` (a redirect carries one span; several are a 400), else the
/// `offset`/`size` parameters (size 0 or past the end: up to the end).
fn requested_span(req: &Req, total: u64) -> Result<(u64, u64), ApiError> {
    if let Some(raw) = req.header(RANGE.as_str()) {
        let specs = range::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!("redirect: Range {raw:?} is not a byte range"))
        })?;
        let [spec] = specs.as_slice() else {
            return Err(ApiError::BadRequest(format!(
                "redirect: {} ranges requested, a redirect carries one; use /get/ for several",
                specs.len()
            )));
        };
        let span =
            range::span(*spec, total).ok_or(ApiError::RangeNotSatisfiable { size: total })?;
        return Ok((span.start, span.len()));
    }
    let offset = req.num_param("offset")?.unwrap_or(0);
    if offset >= total && !(offset == 0 && total == 0) {
        return Err(ApiError::BadRequest(format!(
            "redirect: offset {offset} is beyond the object's end ({total} bytes)"
        )));
    }
    let size = match req.num_param("size")? {
        Some(s) if s > 0 => s.min(total - offset),
        _ => total - offset,
    };
    Ok((offset, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(group: u32, delay: u64, error: i32) -> (ReplicaInfo, BackendStat) {
        let r = ReplicaInfo {
            group,
            backend: 0,
            address: "localhost:0:2".into(),
            id: String::new(),
            filename: format!("/data/{group}"),
            offset: 0,
            size: 1,
            mtime: UNIX_EPOCH,
            csum: vec![],
        };
        let s = BackendStat {
            group,
            address: r.address.clone(),
            delay_ms: delay,
            error,
            ..Default::default()
        };
        (r, s)
    }

    #[test]
    fn prefers_healthy_then_fast_then_order() {
        let (a, sa) = replica(1, 50, 0);
        let (b, sb) = replica(2, 0, -5);
        let (c, sc) = replica(3, 0, 0);
        let (d, sd) = replica(4, 0, 0);
        let rs = vec![a.clone(), b.clone(), c.clone(), d.clone()];
        let stats: Vec<Arc<BackendStat>> = [sa, sb, sc, sd].into_iter().map(Arc::new).collect();
        let no_cost = |_: &BackendStat| 0.0;
        assert_eq!(choose_replica(&rs, &stats, no_cost).unwrap().group, 3);
        assert_eq!(choose_replica(&rs[..2], &stats, no_cost).unwrap().group, 1);
        assert_eq!(choose_replica(&rs[1..2], &stats, no_cost).unwrap().group, 2);
        // Measured cost beats configured delay and group order.
        let group_3_slow = |s: &BackendStat| if s.group == 3 { 5.0 } else { 1.0 };
        assert_eq!(choose_replica(&rs, &stats, group_3_slow).unwrap().group, 4);
        // Without statistics, the first replica in group order.
        assert_eq!(choose_replica(&rs, &[], no_cost).unwrap().group, 1);
        assert!(choose_replica(&[], &stats, no_cost).is_none());
    }
}
