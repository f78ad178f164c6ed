//! `/upload/BUCKET/KEY` and `/nobucket_upload/KEY`: the body streams into the
//! store chunk by chunk; it never sits in memory whole.

use std::time::Duration;

use actix_web::http::header::{CONTENT_LENGTH, RANGE};
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use super::error::ApiError;
use super::reply::{LookupJson, UploadJson};
use super::Req;

/// Parses an upload's `Range: bytes=N-` into the offset N; `None` without
/// a Range header (the body replaces the object).
pub fn upload_offset(range: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(r) = range else { return Ok(None) };
    let bad = || ApiError::BadRequest(format!("upload Range {r:?} must be \"bytes=N-\""));
    let spec = r.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let start = spec.strip_suffix('-').ok_or_else(bad)?;
    if start.is_empty() || !start.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    start.parse().map(Some).map_err(|_| bad())
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

/// Handles an upload; `bucket` is `None` for `/nobucket_upload/`.
pub async fn upload(
    req: &Req,
    bucket: Option<&str>,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let size = content_length(req)?;
    let offset = upload_offset(req.header(RANGE.as_str()))?;
    let objects = &req.state.objects;
    let meta = match bucket {
        Some(b) => req.bucket(b).await?,
        None => {
            let listed = req.snap.buckets.listed();
            objects
                .choose_bucket(&listed, size, &req.snap.config.proxy)
                .await?
        }
    };
    req.authorize(&meta, true)?;
    let ctx = req.storage_ctx(&meta, true)?;
    // A trickling client may not hold the write open forever.
    let idle = Duration::from_secs(req.snap.config.proxy.idle_timeout.max(1));
    let body = idle_limited(payload, idle, size);
    let results = objects.put(ctx, key, offset, size, body).await?;
    Ok(HttpResponse::Ok().json(UploadJson {
        bucket: meta.name.clone(),
        key: key.to_string(),
        reply: LookupJson::new(&results),
    }))
}

/// The upload body as a stream that fails with 408 when the client sends
/// nothing for `idle`.
fn idle_limited(
    payload: web::Payload,
    idle: Duration,
    size: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin {
    let state = (payload, 0u64, false);
    Box::pin(futures_util::stream::unfold(
        state,
        move |(mut payload, received, done)| async move {
            if done {
                return None;
            }
            match actix_web::rt::time::timeout(idle, payload.next()).await {
                Err(_) => Some((
                    Err(ApiError::RequestTimeout(format!(
                        "no upload data for {}s (proxy.idle-timeout) after {received} of {size} bytes",
                        idle.as_secs()
                    ))),
                    (payload, received, true),
                )),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((
                    Err(ApiError::BadRequest(format!("reading the body: {e}"))),
                    (payload, received, true),
                )),
                Ok(Some(Ok(chunk))) => {
                    let n = received + chunk.len() as u64;
                    Some((Ok(chunk), (payload, n, false)))
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        assert_eq!(upload_offset(None).unwrap(), None);
        assert_eq!(upload_offset(Some("bytes=0-")).unwrap(), Some(0));
        assert_eq!(upload_offset(Some("bytes=100-")).unwrap(), Some(100));
        for bad in ["bytes=1-2", "bytes=-5", "items=1-", "bytes=x-", "bytes=-"] {
            assert!(upload_offset(Some(bad)).is_err(), "{bad}");
        }
    }
}
