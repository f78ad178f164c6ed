//! `/upload/BUCKET/KEY` and `/nobucket_upload/KEY`: the body streams into the
//! store chunk by chunk; it never sits in memory whole.

use actix_web::http::header::{CONTENT_LENGTH, RANGE};
use actix_web::{web, HttpResponse};
use futures_util::TryStreamExt;

use super::error::ApiError;
use super::reply::{LookupJson, UploadJson};
use super::Req;
use crate::http::body::BodyReader;

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
    objects.check_upload(&meta, offset, size, req.snap.config.proxy.max_object_size())?;
    let ctx = req.storage_ctx(&meta, true)?;
    // A stalled or trickling client may not hold the write open forever.
    let body = BodyReader::new(payload, &req.snap.config.proxy)
        .into_stream()
        .map_err(ApiError::from);
    let results = objects.put(ctx, key, offset, size, body, None).await?;
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
        assert_eq!(upload_offset(None).unwrap(), None);
        assert_eq!(upload_offset(Some("bytes=0-")).unwrap(), Some(0));
        assert_eq!(upload_offset(Some("bytes=100-")).unwrap(), Some(100));
        for bad in ["bytes=1-2", "bytes=-5", "items=1-", "bytes=x-", "bytes=-"] {
            assert!(upload_offset(Some(bad)).is_err(), "{bad}");
        }
    }
}
