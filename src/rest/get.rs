//! `/get/BUCKET/KEY` (GET and HEAD): conditional requests, Range (one span
//! or `multipart/byteranges`), and the body streamed from the store one
//! chunk at a time.

use actix_web::body::SizedStream;
use actix_web::http::header::{CONTENT_RANGE, CONTENT_TYPE, IF_RANGE, RANGE};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::error::ApiError;
use super::Req;
use crate::core::{Download, OpenObject, Piece, ReadOptions};
use crate::http::conditional::{self, Validators};
use crate::http::content_type::content_type;
use crate::http::multipart::Multipart;
use crate::http::range::{self, Ranges, Span};
use crate::storage::ReplicaInfo;

/// The strong ETag of a replica (docs/http-caching.md): the first 128 bits
/// of its stored checksum; when the backend keeps none (all zeros, as plain
/// Elliptics 3.0 lookups answer), the object id, size and mtime in ns.
pub fn etag(info: &ReplicaInfo) -> String {
    info.etag()
}

/// What the reply carries.
enum Body {
    /// `[start, end)` with 200 (whole object, or nothing at `offset` = size).
    Whole(u64, u64),
    /// One range, 206 with Content-Range.
    One(Span),
    /// Several ranges, 206 `multipart/byteranges`.
    Many(Multipart),
}

/// Handles `/get/`.
pub async fn get(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let (_, ctx) = req.bucket_session(bucket, false).await?;
    let head = req.http.method() == Method::HEAD;
    let offset = req.num_param("offset")?;
    let size_param = req.num_param("size")?;
    let proxy = &req.snap.config.proxy;
    let opts = ReadOptions {
        // Where the body most likely starts: its first chunk is read with the open.
        prefetch_from: match (head, offset, req.header(RANGE.as_str())) {
            (true, ..) => None,
            (false, Some(o), _) => Some(o),
            (false, None, None) => Some(0),
            (false, None, Some(r)) => match range::parse(r).as_deref() {
                Some([range::RangeSpec::Int { first, .. }, ..]) => Some(*first),
                _ => None,
            },
        },
        recover_rate: proxy
            .recover_on_read
            .then_some(proxy.recover_bytes_per_second),
    };
    let object = req.state.objects.open(ctx, key, opts).await?;
    let info = object.info().clone();
    let size = info.size;
    let validators = Validators {
        etag: etag(&info),
        last_modified: info.mtime,
    };
    let ctype = content_type(&req.snap.config.proxy.content_types, key);
    let mut resp = validators.reply();

    if let Some(not_modified) = validators
        .precheck(req.http.headers())
        .map_err(ApiError::PreconditionFailed)?
    {
        return Ok(not_modified);
    }

    let body = if offset.is_some_and(|o| o > 0) || size_param.is_some_and(|s| s > 0) {
        // The query parameters win over a Range header (SPEC.md). Backrunner
        // turns them into a Range header for Go's ServeContent, so the part
        // is a 206 with its Content-Range.
        let offset = offset.unwrap_or(0);
        if offset > size {
            return Err(ApiError::BadRequest(format!(
                "offset {offset} is past the object's end ({size} bytes)"
            )));
        }
        let len = match size_param {
            Some(s) if s > 0 => s.min(size - offset),
            _ => size - offset,
        };
        match len {
            0 => Body::Whole(offset, offset),
            _ => Body::One(Span {
                start: offset,
                end: offset + len,
            }),
        }
    } else {
        // RFC 9110 §14.2: Range only on GET; If-Range may void it (§13.1.5).
        let range = req.header(RANGE.as_str()).filter(|_| !head).filter(|_| {
            req.header(IF_RANGE.as_str())
                .map_or(true, |v| conditional::if_range(v, &validators))
        });
        match range.map(|r| range::resolve(r, size)) {
            None | Some(Ranges::Full) => Body::Whole(0, size),
            Some(Ranges::Unsatisfiable) => return Err(ApiError::RangeNotSatisfiable { size }),
            Some(Ranges::Partial(spans)) if spans.len() == 1 => Body::One(spans[0]),
            Some(Ranges::Partial(spans)) => Body::Many(Multipart::new(&spans, &ctype, size)),
        }
    };

    let (len, segments) = match body {
        Body::Whole(start, end) => {
            resp.insert_header((CONTENT_TYPE, ctype));
            (end - start, vec![Piece::Object { start, end }])
        }
        Body::One(span) => {
            resp.status(StatusCode::PARTIAL_CONTENT)
                .insert_header((CONTENT_TYPE, ctype))
                .insert_header((CONTENT_RANGE, span.content_range(size)));
            (span.len(), vec![Piece::from(span)])
        }
        Body::Many(m) => {
            resp.status(StatusCode::PARTIAL_CONTENT)
                .insert_header((CONTENT_TYPE, m.content_type()));
            (m.len(), m.segments)
        }
    };
    Ok(send(resp, len, object, segments, head))
}

fn send(
    mut resp: HttpResponseBuilder,
    len: u64,
    object: OpenObject,
    pieces: Vec<Piece>,
    head: bool,
) -> HttpResponse {
    if head {
        // A sized body that is never read: HEAD gets the real Content-Length
        // (actix writes the body's size, not a header set by hand).
        drop(object);
        let empty = futures_util::stream::empty::<Result<Bytes, ApiError>>();
        return resp.body(SizedStream::new(len, empty));
    }
    match object.body(pieces) {
        // Headers and body leave in one write.
        Download::Ready(bytes) => resp.body(bytes),
        Download::Stream(s) => resp.body(SizedStream::new(len, s.map_err(ApiError::from))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn etags_from_checksum_or_identity() {
        let mut info = ReplicaInfo {
            group: 1,
            backend: 1,
            address: String::new(),
            id: "ab".repeat(64),
            filename: String::new(),
            offset: 0,
            size: 10,
            mtime: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            csum: vec![0x11; 64],
        };
        assert_eq!(etag(&info), format!("\"{}\"", "11".repeat(16)));
        // What S3 answers without an MD5: never 32 hex digits.
        assert_eq!(info.s3_etag(), format!("\"{}\"", "11".repeat(32)));
        info.csum = vec![0; 64];
        let zero = etag(&info);
        assert_eq!(info.s3_etag(), zero);
        assert!(
            zero.starts_with(&format!("\"{}-a-", "ab".repeat(16))),
            "{zero}"
        );
        info.mtime += Duration::from_nanos(1);
        assert_ne!(etag(&info), zero, "a new write changes the tag");
    }
}
