//! `/upload/BUCKET/KEY` and `/nobucket_upload/KEY`: the body streams into the
//! store chunk by chunk; it never sits in memory whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{CONTENT_LENGTH, RANGE};
use actix_web::{web, HttpResponse};
use bytes::BytesMut;
use futures_util::StreamExt;

use super::error::ApiError;
use super::reply::{first_errors, LookupJson, UploadJson};
use super::{blocking, Req};
use crate::bucket::BucketMeta;
use crate::storage::{pick_error, GroupResult, ObjectWriter, ReplicaInfo};

/// Bytes gathered from the socket before one blocking write.
const WRITE_CHUNK: usize = 1 << 20;

/// A write in progress; dropped unfinished, it is aborted on the blocking
/// pool (aborting removes temp files), so nothing half-written stays.
struct PendingWrite(Option<Box<dyn ObjectWriter>>);

impl PendingWrite {
    fn take(&mut self) -> Result<Box<dyn ObjectWriter>, ApiError> {
        self.0
            .take()
            .ok_or_else(|| ApiError::Internal("write already finished".into()))
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if let Some(w) = self.0.take() {
            actix_web::rt::task::spawn_blocking(move || drop(w));
        }
    }
}

/// Parses an upload's `Range: bytes=N-` into the offset N.
pub fn upload_offset(range: Option<&str>) -> Result<u64, ApiError> {
    let Some(r) = range else { return Ok(0) };
    let bad = || ApiError::BadRequest(format!("upload Range {r:?} must be \"bytes=N-\""));
    let spec = r.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let start = spec.strip_suffix('-').ok_or_else(bad)?;
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    start.parse().map_err(|_| bad())
}

fn content_length(req: &Req) -> Result<u64, ApiError> {
    let Some(v) = req.http.headers().get(CONTENT_LENGTH) else {
        return Err(ApiError::LengthRequired(
            "upload needs a Content-Length header (chunked uploads are not accepted)".into(),
        ));
    };
    let n: u64 = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Content-Length is not a number".into()))?;
    if n == 0 {
        return Err(ApiError::BadRequest(
            "upload body is empty (Content-Length: 0)".into(),
        ));
    }
    Ok(n)
}

/// Picks the bucket of a `/nobucket_upload/` by the placement model
/// (src/placement), from the cached cluster statistics.
async fn choose_bucket(req: &Req, size: u64) -> Result<Arc<BucketMeta>, ApiError> {
    if req.state.cluster.stats().time.is_none() {
        let s = req.state.clone();
        blocking(move || s.cluster.refresh(s.storage.as_ref())).await?;
    }
    req.state
        .cluster
        .choose_bucket(&req.snap.buckets.listed(), size, &req.snap.config.proxy)
        .map_err(ApiError::Unavailable)
}

/// Handles an upload; `bucket` is `None` for `/nobucket_upload/`.
pub async fn upload(
    req: &Req,
    bucket: Option<&str>,
    key: &str,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let size = content_length(req)?;
    let offset = upload_offset(req.header(RANGE.as_str()))?;
    let meta = match bucket {
        Some(b) => req.bucket(b).await?,
        None => choose_bucket(req, size).await?,
    };
    req.authorize(&meta, true)?;
    let stats = req.state.cluster.stats();
    crate::limits::check_upload(
        &meta,
        offset,
        size,
        req.snap.config.proxy.max_object_size(),
        |g| crate::limits::group_capacity(&stats, g),
    )?;
    let ctx = req.storage_ctx(&meta, true)?;
    let storage = req.state.storage.clone();
    let k = key.to_string();
    let started = Instant::now();
    let opened = blocking(move || storage.write(&ctx, &k, offset, size)).await?;
    let mut writer = match opened {
        Ok(w) => PendingWrite(Some(w)),
        Err(e) => {
            let failed: Vec<GroupResult<ReplicaInfo>> = meta
                .groups
                .iter()
                .map(|&group| GroupResult {
                    group,
                    result: Err(e.clone()),
                })
                .collect();
            req.state
                .cluster
                .record_upload(&failed, size, started.elapsed());
            return Err(e.into());
        }
    };
    let mut buf = BytesMut::with_capacity(WRITE_CHUNK.min(size as usize));
    let mut received: u64 = 0;
    // A trickling client may not hold the write open forever.
    let idle = Duration::from_secs(req.snap.config.proxy.idle_timeout.max(1));
    loop {
        let next = actix_web::rt::time::timeout(idle, payload.next())
            .await
            .map_err(|_| {
                ApiError::RequestTimeout(format!(
                    "no upload data for {}s (proxy.idle-timeout) after {received} of {size} bytes",
                    idle.as_secs()
                ))
            })?;
        let done = next.is_none();
        if let Some(chunk) = next {
            // Returning early drops `writer`, which aborts the write.
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            received += chunk.len() as u64;
            buf.extend_from_slice(&chunk);
        }
        if buf.len() >= WRITE_CHUNK || (done && !buf.is_empty()) {
            let data = buf.split().freeze();
            let mut w = writer.take()?;
            writer.0 = Some(blocking(move || w.write(&data).map(|_| w)).await??);
        }
        if done {
            break;
        }
    }
    if received != size {
        return Err(ApiError::BadRequest(format!(
            "body has {received} bytes, Content-Length said {size}"
        )));
    }
    let w = writer.take()?;
    let results = blocking(move || w.commit()).await?;
    req.state
        .cluster
        .record_upload(&results, size, started.elapsed());
    if results.iter().all(|r| r.result.is_err()) {
        return Err(pick_error(first_errors(&results)).into());
    }
    Ok(HttpResponse::Ok().json(UploadJson {
        bucket: meta.name.clone(),
        key: key.to_string(),
        reply: LookupJson::new(&results),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        assert_eq!(upload_offset(None).unwrap(), 0);
        assert_eq!(upload_offset(Some("bytes=100-")).unwrap(), 100);
        for bad in ["bytes=1-2", "bytes=-5", "items=1-", "bytes=x-", "bytes=-"] {
            assert!(upload_offset(Some(bad)).is_err(), "{bad}");
        }
    }
}
