//! Per-object S3 metadata in a sidecar object, so the object's own bytes
//! stay exactly what Backrunner's `/get/` serves.
//!
//! The sidecar of key K in bucket B is the object K in namespace `B/s3`
//! (no Backrunner bucket can be named so: its routes split the bucket name
//! at `/`), in the bucket's groups. It holds JSON: the object's size and
//! per-replica mtimes as the PUT stored them, the MD5 ETag, Content-Type,
//! the other stored headers and the `x-amz-meta-*` pairs. A reader uses it
//! only when the replica it opened has that size and one of those mtimes:
//! an object rewritten through `/upload/` (or whose sidecar write was lost)
//! falls back to what `/get/` answers, never to stale metadata.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::core::{Download, Objects, Piece, ReadOptions};
use crate::http::conditional::Validators;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::coverage::Coverage;
use crate::storage::{Context, GroupResult, ReplicaInfo};

/// The validators of an object: the ETag its sidecar keeps (the MD5 S3
/// clients expect), else [`ReplicaInfo::s3_etag`]; its stored time.
pub fn validators(info: &ReplicaInfo, sidecar: Option<&ObjectMeta>) -> Validators {
    Validators {
        etag: sidecar
            .map(|m| m.etag.clone())
            .unwrap_or_else(|| info.s3_etag()),
        last_modified: info.mtime,
    }
}

/// Largest total size of `x-amz-meta-*` names and values, as S3 (2 KiB).
pub const MAX_USER_META: usize = 2048;

/// Largest sidecar read; a larger one is ignored (it was not written here).
const MAX_SIDECAR: u64 = 64 * 1024;

/// Headers a PUT may set that GET and HEAD answer back.
pub const STORED_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// The sidecar's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Object size the metadata belongs to.
    pub size: u64,
    /// Mtimes (ns since the epoch) of the replicas the PUT wrote.
    pub mtimes: Vec<u128>,
    /// Quoted hex MD5 of the body.
    pub etag: String,
    /// Content-Type given at PUT, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// [`STORED_HEADERS`] given at PUT.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `x-amz-meta-*` (names lower case, with the prefix).
    #[serde(default)]
    pub user: BTreeMap<String, String>,
    /// The `x-amz-checksum-*` verified (or computed) at PUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<crate::s3::sign::checksum::ObjectChecksum>,
    /// The object's tags ([`crate::s3::object::tagging`]), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: crate::s3::object::tagging::Tags,
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

impl ObjectMeta {
    /// The metadata a PUT request carries (`x-amz-tagging` too); `x-amz-meta-*`
    /// over [`MAX_USER_META`] is `MetadataTooLarge`. Content-Type and the
    /// [`STORED_HEADERS`] are taken only when the signature covers them
    /// (`coverage`): one added on the way is ignored, as if not sent.
    pub fn from_request(
        headers: &actix_web::http::header::HeaderMap,
        coverage: &Coverage,
    ) -> Result<ObjectMeta, S3Error> {
        let text = |v: &actix_web::http::header::HeaderValue| {
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        };
        let signed = |name: &str| headers.get(name).filter(|_| coverage.covers(name));
        let mut m = ObjectMeta {
            content_type: signed("content-type").map(text),
            tags: crate::s3::object::tagging::from_header(headers)?,
            ..Default::default()
        };
        for h in STORED_HEADERS {
            if let Some(v) = signed(h) {
                let mut v = text(v);
                let framed = || {
                    v.split(',')
                        .any(|e| e.trim().eq_ignore_ascii_case("aws-chunked"))
                };
                if *h == "content-encoding" && framed() {
                    // The transfer framing of the request, not the object's
                    // encoding; the rest is kept as listed, `, ` apart.
                    v = v
                        .split(',')
                        .map(str::trim)
                        .filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ");
                    if v.is_empty() {
                        continue;
                    }
                }
                m.headers.insert(h.to_string(), v);
            }
        }
        let mut total = 0;
        for (k, v) in headers {
            if let Some(name) = k.as_str().strip_prefix("x-amz-meta-") {
                let v = text(v);
                total += name.len() + v.len();
                m.user.insert(k.as_str().to_string(), v);
            }
        }
        if total > MAX_USER_META {
            return Err(S3Error::new(
                S3ErrorCode::MetadataTooLarge,
                format!("x-amz-meta-* headers have {total} bytes, more than {MAX_USER_META}"),
            ));
        }
        Ok(m)
    }

    /// Records what the write stored: size, replica mtimes, ETag.
    pub fn stored(mut self, size: u64, etag: String, results: &[GroupResult<ReplicaInfo>]) -> Self {
        self.size = size;
        self.etag = etag;
        self.mtimes = results
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .map(|i| nanos(i.mtime))
            .collect();
        self
    }

    /// Whether this metadata describes `replica`.
    pub fn describes(&self, replica: &ReplicaInfo) -> bool {
        self.size == replica.size && self.mtimes.contains(&nanos(replica.mtime))
    }
}

/// The sidecar session of a bucket's session.
pub fn sidecar_ctx(ctx: &Context) -> Context {
    let mut c = ctx.clone();
    c.namespace = format!("{}/s3", ctx.namespace);
    c
}

/// Writes the sidecar of `key`.
pub async fn write(
    objects: &Objects,
    ctx: &Context,
    key: &str,
    meta: &ObjectMeta,
) -> Result<(), S3Error> {
    let body = serde_json::to_vec(meta).map_err(|e| S3Error::internal(format!("metadata: {e}")))?;
    let size = body.len() as u64;
    let stream = futures_util::stream::iter([Ok::<_, S3Error>(Bytes::from(body))]);
    objects
        .put(sidecar_ctx(ctx), key, None, size, stream, None)
        .await?;
    Ok(())
}

/// Reads the sidecar of `key`; `None` when there is none or it cannot be
/// read (the object is then served as `/get/` serves it).
pub async fn read(objects: &Objects, ctx: &Context, key: &str) -> Option<ObjectMeta> {
    let opts = ReadOptions {
        prefetch_from: Some(0),
        recover_rate: None,
    };
    let open = match objects.open(sidecar_ctx(ctx), key, opts).await {
        Ok(o) => o,
        Err(crate::core::ObjectError::Storage(e)) if e.is_not_found() => return None,
        Err(e) => {
            log::warn!("s3 metadata of {}/{key}: {e}", ctx.namespace);
            return None;
        }
    };
    let size = open.info().size;
    if size > MAX_SIDECAR {
        log::warn!(
            "s3 metadata of {}/{key}: {size} bytes, ignored",
            ctx.namespace
        );
        return None;
    }
    let bytes = match open.body(vec![Piece::Object {
        start: 0,
        end: size,
    }]) {
        Download::Ready(b) => b,
        Download::Stream(_) => return None,
    };
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            log::warn!("s3 metadata of {}/{key}: {e}", ctx.namespace);
            None
        }
    }
}

/// Reads the sidecar of `key` straight from `storage` (for tools, off the
/// request path); `Ok(None)` when there is none.
pub fn read_stored(
    storage: &dyn crate::storage::Storage,
    ctx: &Context,
    key: &str,
) -> Result<Option<ObjectMeta>, crate::storage::StorageError> {
    match crate::storage::read_small(storage, &sidecar_ctx(ctx), key, MAX_SIDECAR) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        // Ignored, as `read` ignores it.
        Err(e) if e.is_not_found() || e.errno == -libc::EFBIG => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the sidecar of `key`; a missing one is fine.
pub async fn remove(objects: &Objects, ctx: &Context, key: &str) -> Result<(), S3Error> {
    match objects.remove(sidecar_ctx(ctx), key).await {
        Ok(()) => Ok(()),
        Err(crate::core::ObjectError::Storage(e)) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;
    use std::time::Duration;

    #[test]
    fn from_put_headers() {
        let h = headers(&[
            ("content-type", "text/plain"),
            ("cache-control", "no-cache"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-date", "ignored"),
            ("content-encoding", "aws-chunked"),
        ]);
        let all = Coverage::Anonymous;
        let m = ObjectMeta::from_request(&h, &all).unwrap();
        assert_eq!(m.content_type.as_deref(), Some("text/plain"));
        assert_eq!(m.headers["cache-control"], "no-cache");
        assert_eq!(m.user["x-amz-meta-color"], "blue");
        assert_eq!(m.user.len(), 1);
        assert!(
            !m.headers.contains_key("content-encoding"),
            "aws-chunked is framing"
        );
        let m =
            ObjectMeta::from_request(&headers(&[("content-encoding", "aws-chunked,gzip")]), &all)
                .unwrap();
        assert_eq!(m.headers["content-encoding"], "gzip");
        let m = ObjectMeta::from_request(
            &headers(&[("content-encoding", "deflate, aws-chunked,gzip")]),
            &all,
        )
        .unwrap();
        assert_eq!(m.headers["content-encoding"], "deflate, gzip");
        let m = ObjectMeta::from_request(&headers(&[("content-encoding", "deflate,gzip")]), &all)
            .unwrap();
        assert_eq!(
            m.headers["content-encoding"], "deflate,gzip",
            "kept as sent"
        );
        // Under a signature, only the headers it covers set metadata.
        let v4 = Coverage::V4(vec!["cache-control".into(), "x-amz-meta-color".into()]);
        let m = ObjectMeta::from_request(&h, &v4).unwrap();
        assert_eq!(m.content_type, None, "unsigned Content-Type");
        assert_eq!(m.headers["cache-control"], "no-cache");
        assert_eq!(m.user["x-amz-meta-color"], "blue");
        let big = "v".repeat(MAX_USER_META);
        let e =
            ObjectMeta::from_request(&headers(&[("x-amz-meta-big", &big)]), &Coverage::Anonymous)
                .unwrap_err();
        assert_eq!(e.code, S3ErrorCode::MetadataTooLarge);
    }

    #[test]
    fn applies_only_to_the_replica_it_was_written_with() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let info = ReplicaInfo {
            group: 1,
            backend: 0,
            address: String::new(),
            id: String::new(),
            filename: String::new(),
            offset: 0,
            size: 10,
            mtime: t,
            csum: vec![],
        };
        let results = vec![GroupResult {
            group: 1,
            result: Ok(info.clone()),
        }];
        let m = ObjectMeta::default().stored(10, "\"e\"".into(), &results);
        assert!(m.describes(&info));
        let mut rewritten = info.clone();
        rewritten.mtime += Duration::from_nanos(1);
        assert!(!m.describes(&rewritten));
        let mut resized = info;
        resized.size = 11;
        assert!(!m.describes(&resized));
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<ObjectMeta>(&json).unwrap(), m);
    }
}
