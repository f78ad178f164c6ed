//! `/get/BUCKET/KEY`: streams the object from the store, one chunk at a time.

use actix_web::body::SizedStream;
use actix_web::http::header::{ACCEPT_RANGES, CONTENT_TYPE, LAST_MODIFIED};
use actix_web::http::Method;
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::Stream;

use super::error::ApiError;
use super::{blocking, Req};
use crate::storage::{ObjectReader, StorageError};
use std::collections::BTreeMap;

/// Bytes read from the store per step of a download; the next step starts
/// only when the client has taken this one.
pub const READ_CHUNK: usize = 256 * 1024;

/// The Content-Type of a key: the longest matching suffix of the
/// `content-types` map, else the type of its extension, else octet-stream.
pub fn content_type(map: &BTreeMap<String, String>, key: &str) -> String {
    map.iter()
        .filter(|(suffix, _)| key.ends_with(suffix.as_str()))
        .max_by_key(|(suffix, _)| suffix.len())
        .map(|(_, ct)| ct.clone())
        .or_else(|| mime_guess::from_path(key).first_raw().map(str::to_string))
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// Streams `[start, end)` of an open object.
pub fn object_stream(
    reader: Box<dyn ObjectReader>,
    start: u64,
    end: u64,
) -> impl Stream<Item = Result<Bytes, ApiError>> {
    futures_util::stream::try_unfold((reader, start), move |(mut reader, pos)| async move {
        if pos >= end {
            return Ok(None);
        }
        let n = READ_CHUNK.min((end - pos) as usize);
        let (reader, chunk) = blocking(move || {
            let chunk = reader.read_at(pos, n);
            (reader, chunk)
        })
        .await?;
        let chunk = chunk?;
        if chunk.is_empty() {
            return Err(StorageError::new(libc::EIO, "object ended early").into());
        }
        let next = pos + chunk.len() as u64;
        Ok(Some((chunk, (reader, next))))
    })
}

/// Handles `/get/`.
pub async fn get(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let meta = req.bucket(bucket).await?;
    req.authorize(&meta, false)?;
    let ctx = req.storage_ctx(&meta, false)?;
    let storage = req.state.storage.clone();
    let k = key.to_string();
    let reader = blocking(move || storage.open(&ctx, &k)).await??;
    let info = reader.info().clone();
    let offset = req.num_param("offset")?.unwrap_or(0);
    if offset > info.size {
        return Err(ApiError::BadRequest(format!(
            "offset {offset} is past the object's end ({} bytes)",
            info.size
        )));
    }
    let size = match req.num_param("size")? {
        Some(s) if s > 0 => s.min(info.size - offset),
        _ => info.size - offset,
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header((
        CONTENT_TYPE,
        content_type(&req.snap.config.proxy.content_types, key),
    ))
    .insert_header((LAST_MODIFIED, httpdate::fmt_http_date(info.mtime)))
    .insert_header((ACCEPT_RANGES, "bytes"));
    if req.http.method() == Method::HEAD {
        return Ok(resp.no_chunking(size).finish());
    }
    Ok(resp.body(SizedStream::new(
        size,
        object_stream(reader, offset, offset + size),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let mut m = BTreeMap::new();
        m.insert(".mp4".to_string(), "video/custom".to_string());
        m.insert("x.mp4".to_string(), "video/x".to_string());
        assert_eq!(content_type(&m, "a/b.mp4"), "video/custom");
        assert_eq!(content_type(&m, "ax.mp4"), "video/x");
        assert_eq!(content_type(&m, "a.png"), "image/png");
        assert_eq!(
            content_type(&m, "a.unknown-ext"),
            "application/octet-stream"
        );
        assert_eq!(content_type(&m, "noext"), "application/octet-stream");
    }
}
