//! CopyObject (`PUT /B/K` with `x-amz-copy-source`) and the copy source
//! that UploadPartCopy shares: the source named, read-authorized, opened,
//! its `x-amz-copy-source-if-*` conditions checked, and its bytes streamed
//! into the destination with their MD5 computed on the way (memory per
//! copy: the read-ahead of one download plus one upload's chunks).
//!
//! A copy onto itself is only legal with `x-amz-metadata-directive:
//! REPLACE` (rclone sets mtimes so): the bytes stay as they are and only
//! the metadata sidecar is rewritten, so the object is never read and
//! written at once.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use openssl::hash::{Hasher, MessageDigest};
use percent_encoding::percent_decode_str;

use crate::bucket::BucketMeta;
use crate::core::{Download, OpenObject, Piece};
use crate::encoding::hex;
use crate::http::conditional::{self, Outcome, Preconditions};
use crate::index::shard::Entry;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::long_reply::long_reply;
use crate::s3::object::meta::{self, ObjectMeta};
use crate::s3::object::write_conditions::{self, Current};
use crate::s3::{sign::access, xml, S3Req};
use crate::state::AppState;
use crate::storage::{Context, GroupResult, ReplicaInfo};

/// Largest copy source (or copied range), as S3: 5 GiB.
pub const MAX_COPY_SIZE: u64 = 5 << 30;

/// The `x-amz-copy-source` value as `(bucket, key)`: `BUCKET/KEY` or
/// `/BUCKET/KEY`, percent-encoded, optionally `?versionId=null` (objects
/// have no other version here).
pub fn parse_source(value: &str) -> Result<(String, String), S3Error> {
    let bad = |why: &str| {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-copy-source {value:?}: {why}"),
        )
    };
    let (path, version) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    if let Some(q) = version {
        match q.strip_prefix("versionId=") {
            Some("null") => {}
            Some(_) => return Err(bad("object versions are not supported")),
            None => return Err(bad("the only query it may carry is versionId")),
        }
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad("not UTF-8 once percent-decoded"))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(bad("must be BUCKET/KEY")),
    }
}

/// An opened copy source.
pub struct Source {
    /// Its bucket.
    pub bucket: Arc<BucketMeta>,
    /// Its key.
    pub key: String,
    /// The object, its sidecar and validators.
    pub current: Current,
}

impl Source {
    /// Object size.
    pub fn size(&self) -> u64 {
        self.current.info().size
    }
}

/// Opens the source `x-amz-copy-source` names (read rights on its bucket
/// needed) and checks `x-amz-copy-source-if-match`, `-if-none-match`,
/// `-if-modified-since`, `-if-unmodified-since` against it (412
/// `PreconditionFailed`), in RFC 9110's order, which is S3's rule: a true
/// `if-match` overrides a false `if-unmodified-since`, a false
/// `if-none-match` wins over a true `if-modified-since`.
pub async fn open_source(req: &S3Req) -> Result<Source, S3Error> {
    let value = req.header("x-amz-copy-source").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            "x-amz-copy-source is not text",
        )
    })?;
    let (bucket_name, key) = parse_source(value)?;
    let bucket = crate::s3::request::load_bucket(&req.snap, &bucket_name).await?;
    access::authorize(&req.caller, &bucket, false)?;
    let ctx = req.storage_ctx(&bucket, false);
    let current = write_conditions::current(req, &ctx, &key, true)
        .await?
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::NoSuchKey,
                format!("copy source {key:?} does not exist in bucket {bucket_name}"),
            )
        })?;
    let pre = Preconditions {
        if_match: req.header("x-amz-copy-source-if-match"),
        if_none_match: req.header("x-amz-copy-source-if-none-match"),
        if_modified_since: req.header("x-amz-copy-source-if-modified-since"),
        if_unmodified_since: req.header("x-amz-copy-source-if-unmodified-since"),
    };
    // As for a GET (so If-Modified-Since applies), but a copy that would
    // be "not modified" fails as S3 fails it: 412.
    if conditional::evaluate(&pre, &current.validators, true) != Outcome::Proceed {
        return Err(S3Error::new(
            S3ErrorCode::PreconditionFailed,
            format!(
                "an x-amz-copy-source-if-* condition does not hold for the source (ETag {}, Last-Modified {})",
                current.validators.etag,
                httpdate::fmt_http_date(current.validators.last_modified)
            ),
        ));
    }
    Ok(Source {
        bucket,
        key,
        current,
    })
}

/// What [`stream_copy`] wrote.
pub struct Copied {
    /// The per-group results of the write, holding the key's publish lock.
    pub results: crate::core::Written,
    /// The MD5 of the bytes copied.
    pub md5: [u8; 16],
    /// Their checksum in the algorithm asked for, raw.
    pub checksum: Option<Vec<u8>>,
}

/// Streams bytes `[start, end)` of `source` into `key` of `ctx`, computing
/// their MD5 and, with `alg`, that checksum too (UploadPartCopy keeps it
/// with the part). A copy into a bucket is listed with that MD5 as its
/// ETag, then `describe`d.
pub async fn stream_copy(
    app: &AppState,
    source: OpenObject,
    (start, end): (u64, u64),
    (ctx, key): (Context, &str),
    alg: Option<crate::s3::sign::checksum::Algorithm>,
    describe: impl FnOnce(&mut Entry) + 'static,
) -> Result<Copied, S3Error> {
    let md5 = Rc::new(RefCell::new(
        Hasher::new(MessageDigest::md5()).map_err(|e| S3Error::internal(format!("md5: {e}")))?,
    ));
    let sum = Rc::new(RefCell::new(
        alg.map(crate::s3::sign::checksum::Hasher::new),
    ));
    let body = hashed(source, start, end, md5.clone(), sum.clone());
    let digest = Rc::new(RefCell::new(None));
    let (seen, h) = (digest.clone(), md5.clone());
    let listed = move |e: &mut Entry| {
        // The body has been read whole: its digest is final.
        let m = finish_md5(&h);
        if let Ok(m) = &m {
            e.etag = format!("\"{}\"", hex(m));
        }
        *seen.borrow_mut() = Some(m);
        describe(e);
    };
    let results = app
        .objects
        .put(ctx, key, None, end - start, body, Some(Box::new(listed)))
        .await?;
    let out = match digest.borrow_mut().take() {
        Some(m) => m?,
        None => finish_md5(&md5)?,
    };
    let checksum = sum.borrow_mut().take().map(|h| h.finish());
    Ok(Copied {
        results,
        md5: out,
        checksum,
    })
}

/// The digest of an MD5 hasher.
fn finish_md5(h: &RefCell<Hasher>) -> Result<[u8; 16], S3Error> {
    let d = h
        .borrow_mut()
        .finish()
        .map_err(|e| S3Error::internal(format!("md5: {e}")))?;
    let mut out = [0u8; 16];
    out.copy_from_slice(&d);
    Ok(out)
}

/// The bytes `[start, end)` of `source`, each chunk fed to `md5` and `sum`.
fn hashed(
    source: OpenObject,
    start: u64,
    end: u64,
    md5: Rc<RefCell<Hasher>>,
    sum: Rc<RefCell<Option<crate::s3::sign::checksum::Hasher>>>,
) -> impl Stream<Item = Result<Bytes, S3Error>> + Unpin {
    let body: Box<dyn Stream<Item = Result<Bytes, S3Error>> + Unpin> =
        match source.body(vec![Piece::Object { start, end }]) {
            Download::Ready(b) => Box::new(futures_util::stream::iter([Ok(b)])),
            Download::Stream(s) => Box::new(s.map_err(S3Error::from)),
        };
    body.map(move |chunk| {
        let chunk = chunk?;
        md5.borrow_mut()
            .update(&chunk)
            .map_err(|e| S3Error::internal(format!("md5: {e}")))?;
        if let Some(h) = sum.borrow_mut().as_mut() {
            h.update(&chunk);
        }
        Ok(chunk)
    })
}

/// `x-amz-metadata-directive`: whether the request replaces the metadata.
fn replaces_metadata(req: &S3Req) -> Result<bool, S3Error> {
    match req.header("x-amz-metadata-directive") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(v) => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-metadata-directive {v:?} is neither COPY nor REPLACE"),
        )),
    }
}

/// The `CopyObjectResult` / `CopyPartResult` document.
pub fn result_doc(root: &str, etag: &str, modified: std::time::SystemTime) -> String {
    format!(
        "{}<{root} xmlns=\"{}\"><LastModified>{}</LastModified><ETag>{}</ETag></{root}>",
        xml::DECL,
        xml::NS,
        xml::iso8601(modified),
        xml::escape(etag)
    )
}

/// The newest mtime among the replicas written.
pub fn written_mtime(results: &[GroupResult<ReplicaInfo>]) -> std::time::SystemTime {
    results
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .map(|i| i.mtime)
        .max()
        .unwrap_or_else(std::time::SystemTime::now)
}

/// CopyObject.
pub async fn copy_object(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    let replace = replaces_metadata(req)?;
    let source = open_source(req).await?;
    let size = source.size();
    if size > MAX_COPY_SIZE {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!("the copy source has {size} bytes; a copy takes at most {MAX_COPY_SIZE} (use UploadPartCopy)"),
        ));
    }
    let ctx = req.storage_ctx(bucket, true);
    write_conditions::check(req, &ctx, key).await?;
    let mut new_meta = if replace {
        ObjectMeta::from_request(req.http.headers(), &req.coverage)?
    } else {
        let mut m = source.current.sidecar.clone().unwrap_or_default();
        m.size = 0;
        m.mtimes.clear();
        m.etag.clear();
        m
    };
    let source_tags = source.current.sidecar.as_ref().map(|m| m.tags.as_slice());
    new_meta.tags =
        crate::s3::object::tagging::for_copy(req.http.headers(), source_tags.unwrap_or_default())?;
    if source.bucket.name == bucket.name && source.key == key {
        if !replace {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata (use x-amz-metadata-directive: REPLACE)",
            ));
        }
        return self_copy(req, &ctx, key, source, new_meta).await;
    }
    let app = req.state.clone();
    let key = key.to_string();
    let Source { current, .. } = source;
    let (owner, content_type) = (req.owner(), new_meta.content_type.clone());
    let work = async move {
        let describe = |e: &mut Entry| {
            e.owner = owner;
            e.content_type = content_type;
        };
        let Copied { results, md5, .. } = stream_copy(
            &app,
            current.object,
            (0, size),
            (ctx.clone(), &key),
            None,
            describe,
        )
        .await?;
        let etag = format!("\"{}\"", hex(&md5));
        let stored = new_meta.stored(size, etag.clone(), &results);
        meta::write(&app.objects, &ctx, &key, &stored).await?;
        Ok(result_doc(
            "CopyObjectResult",
            &etag,
            written_mtime(&results),
        ))
    };
    Ok(long_reply(
        work,
        req.http.uri().path().to_string(),
        req.request_id.clone(),
    ))
}

/// A copy onto itself with REPLACE: the sidecar is rewritten with the new
/// metadata for every replica the object has (the same bytes, ETag and
/// Last-Modified).
async fn self_copy(
    req: &S3Req,
    ctx: &Context,
    key: &str,
    source: Source,
    new_meta: ObjectMeta,
) -> Result<HttpResponse, S3Error> {
    let size = source.size();
    let validators = source.current.validators.clone();
    drop(source);
    let _held = req.state.objects.publishing(ctx, key).await;
    let lookup = req.state.objects.lookup(ctx.clone(), key, None).await?;
    let same: Vec<GroupResult<ReplicaInfo>> = lookup
        .results
        .into_iter()
        .filter(|r| r.result.as_ref().is_ok_and(|i| i.size == size))
        .collect();
    let stored = new_meta.stored(size, validators.etag.clone(), &same);
    meta::write(&req.state.objects, ctx, key, &stored).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(result_doc(
            "CopyObjectResult",
            &validators.etag,
            validators.last_modified,
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources() {
        let ok = |v: &str| parse_source(v).unwrap();
        assert_eq!(ok("b1/dir/k"), ("b1".into(), "dir/k".into()));
        assert_eq!(ok("/b1/a%20b%2Bc"), ("b1".into(), "a b+c".into()));
        assert_eq!(ok("b1/k?versionId=null"), ("b1".into(), "k".into()));
        for bad in ["b1", "/b1/", "b1/k?versionId=3", "b1/k?x=1", "b1/%FF", "/k"] {
            assert_eq!(
                parse_source(bad).unwrap_err().code,
                S3ErrorCode::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn result_documents() {
        let d = result_doc("CopyPartResult", "\"abc\"", std::time::UNIX_EPOCH);
        assert!(d.starts_with(xml::DECL));
        assert!(d.contains("<ETag>&quot;abc&quot;</ETag>"), "{d}");
        assert!(d.contains("<LastModified>1970-01-01T00:00:00.000Z</LastModified>"));
    }
}
