//! Object operations: GetObject/HeadObject (Range, conditional headers,
//! `response-*` overrides), PutObject (the body streamed into the store,
//! its SHA-256 and MD5 computed on the way) and DeleteObject. Objects are
//! Backrunner's: the same namespace (bucket) and key as `/get/`, `/upload/`.
//!
//! The folder: this file's operations, [`copy`] (CopyObject), [`meta`]
//! (metadata sidecars), [`write_conditions`], [`delete_objects`], small
//! request bodies ([`body`], [`xml_body`]) and [`long_reply`].

pub mod attributes;
pub mod body;
pub mod copy;
pub mod delete_objects;
pub mod long_reply;
pub mod meta;
pub mod tagging;
pub mod write_conditions;
pub mod xml_body;

use std::cell::Cell;
use std::rc::Rc;

use actix_web::body::SizedStream;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures_util::TryStreamExt;

use crate::bucket::BucketMeta;
use crate::config::ProxyConfig;
use crate::core::{Download, Piece, ReadOptions};
use crate::encoding::hex;
use crate::http::body::{BodyError, BodyReader};
use crate::http::content_type::content_type;
use crate::http::range::{self, Ranges};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::checksum::{self, ObjectChecksum};
use crate::s3::sign::chunked::{self, Decoder};
use crate::s3::sign::chunksig::{ChunkSigner, SIGNED_PAYLOAD, SIGNED_PAYLOAD_TRAILER};
use crate::s3::sign::digest::BodyDigest;
use crate::s3::S3Req;
use crate::storage::{GroupResult, ReplicaInfo};
use meta::ObjectMeta;

/// Largest single PUT, as S3 (5 GiB).
pub const MAX_PUT_SIZE: u64 = 5 << 30;

/// Query parameters of GetObject that set a reply header.
const RESPONSE_OVERRIDES: &[(&str, &str)] = &[
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
    ("response-content-language", "content-language"),
    ("response-content-type", "content-type"),
    ("response-expires", "expires"),
];

/// GetObject and HeadObject.
pub async fn get(req: &S3Req, bucket: &BucketMeta, key: &str) -> Result<HttpResponse, S3Error> {
    let head = req.http.method() == Method::HEAD;
    let range_header = req.header(RANGE.as_str()).filter(|_| !head);
    let proxy = &req.snap.config.proxy;
    let opts = ReadOptions {
        prefetch_from: match (head, range_header) {
            (true, _) => None,
            (false, None) => Some(0),
            (false, Some(r)) => match range::parse(r).as_deref() {
                Some([range::RangeSpec::Int { first, .. }]) => Some(*first),
                _ => None,
            },
        },
        recover_rate: proxy
            .recover_on_read
            .then_some(proxy.recover_bytes_per_second),
    };
    let ctx = req.storage_ctx(bucket, false);
    let objects = &req.state.objects;
    // The sidecar is read beside the object, not after it.
    let (object, sidecar) = futures_util::future::join(
        objects.open(ctx.clone(), key, opts),
        meta::read(objects, &ctx, key),
    )
    .await;
    let object = object.map_err(|e| {
        let e = S3Error::from(e);
        if e.code == S3ErrorCode::NoSuchKey {
            S3Error::new(
                S3ErrorCode::NoSuchKey,
                format!("key {key:?} does not exist in bucket {}", bucket.name),
            )
        } else {
            e
        }
    })?;
    let info = object.info().clone();
    let size = info.size;
    let sidecar = sidecar.filter(|m| m.describes(&info));
    let validators = meta::validators(&info, sidecar.as_ref());
    let mut resp = validators.reply();
    if let Some(not_modified) = validators
        .precheck(req.http.headers())
        .map_err(|m| S3Error::new(S3ErrorCode::PreconditionFailed, m))?
    {
        return Ok(not_modified);
    }
    let ctype = sidecar.as_ref().and_then(|m| m.content_type.clone());
    resp.insert_header((
        CONTENT_TYPE,
        ctype.unwrap_or_else(|| content_type(&proxy.content_types, key)),
    ));
    if let Some(m) = &sidecar {
        for (k, v) in m.headers.iter().chain(&m.user) {
            resp.insert_header((k.as_str(), v.as_str()));
        }
        if !m.tags.is_empty() {
            resp.insert_header(("x-amz-tagging-count", m.tags.len()));
        }
    }
    // Checksums are of the whole object: never on a ranged GET (as S3).
    let wants_checksum = req
        .header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"));
    if let Some(c) = sidecar.as_ref().and_then(|m| m.checksum.as_ref()) {
        if wants_checksum && range_header.is_none() {
            checksum_headers(&mut resp, c);
        }
    }
    for (param, header) in RESPONSE_OVERRIDES {
        if let Some(v) = req.param(param) {
            resp.insert_header((*header, v));
        }
    }
    // `partNumber`: one part of a multipart object, as a range.
    if let Some(n) = crate::s3::object::attributes::requested_part(req)? {
        if req.header(RANGE.as_str()).is_some() {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                "a request cannot name both a Range and a partNumber",
            ));
        }
        let (start, end, parts) =
            crate::s3::object::attributes::part_span(req, &ctx, key, &info, n).await?;
        if let Some(count) = parts {
            resp.status(StatusCode::PARTIAL_CONTENT)
                .insert_header(("x-amz-mp-parts-count", count))
                .insert_header((
                    CONTENT_RANGE,
                    format!("bytes {start}-{}/{size}", end.max(1) - 1),
                ));
        }
        return Ok(body_reply(resp, object, head, start, end));
    }
    // S3 serves one range; several ranges are ignored (the whole object, as
    // RFC 9110 lets a server do) rather than sent as multipart.
    let (start, end) = match range_header.map(|r| range::resolve(r, size)) {
        None | Some(Ranges::Full) => (0, size),
        Some(Ranges::Partial(spans)) if spans.len() == 1 => {
            let span = spans[0];
            resp.status(StatusCode::PARTIAL_CONTENT)
                .insert_header((CONTENT_RANGE, span.content_range(size)));
            (span.start, span.end)
        }
        Some(Ranges::Partial(_)) => (0, size),
        Some(Ranges::Unsatisfiable) => {
            let mut e = S3Error::new(
                S3ErrorCode::InvalidRange,
                format!("the requested range is not satisfiable: the object has {size} bytes"),
            );
            e.size = Some(size);
            return Err(e);
        }
    };
    Ok(body_reply(resp, object, head, start, end))
}

/// The reply with bytes `[start, end)` of `object` (their length only on HEAD).
fn body_reply(
    mut resp: actix_web::HttpResponseBuilder,
    object: crate::core::OpenObject,
    head: bool,
    start: u64,
    end: u64,
) -> HttpResponse {
    let len = end - start;
    if head {
        drop(object);
        let empty = futures_util::stream::empty::<Result<Bytes, S3Error>>();
        return resp.body(SizedStream::new(len, empty));
    }
    match object.body(vec![Piece::Object { start, end }]) {
        Download::Ready(bytes) => resp.body(bytes),
        Download::Stream(s) => resp.body(SizedStream::new(len, s.map_err(S3Error::from))),
    }
}

/// `x-amz-checksum-ALG` and `x-amz-checksum-type` of a stored checksum.
fn checksum_headers(resp: &mut actix_web::HttpResponseBuilder, c: &ObjectChecksum) {
    resp.insert_header((c.algorithm.header(), c.value.as_str()))
        .insert_header(("x-amz-checksum-type", c.kind.name()));
}

pub(in crate::s3) fn content_length(req: &S3Req) -> Result<u64, S3Error> {
    let Some(v) = req.http.headers().get(CONTENT_LENGTH) else {
        // A plain body sent with Transfer-Encoding: chunked names its size here.
        if req.header("x-amz-decoded-content-length").is_some() {
            return decoded_length(req);
        }
        return Err(S3Error::new(
            S3ErrorCode::MissingContentLength,
            "PutObject needs a Content-Length header",
        ));
    };
    let n: u64 = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                "Content-Length is not a number",
            )
        })?;
    too_large(req, n)
}

/// A PUT takes at most 5 GiB (S3) and `proxy.max-object-size`.
fn too_large(req: &S3Req, n: u64) -> Result<u64, S3Error> {
    let max = MAX_PUT_SIZE.min(req.snap.config.proxy.max_object_size());
    if n > max {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            format!("a single PUT takes at most {max} bytes (5 GiB and proxy.max-object-size), this one has {n}"),
        ));
    }
    Ok(n)
}

/// The object size of an aws-chunked body: `x-amz-decoded-content-length`.
pub(in crate::s3) fn decoded_length(req: &S3Req) -> Result<u64, S3Error> {
    let v = req.header("x-amz-decoded-content-length").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::MissingContentLength,
            "an aws-chunked PutObject needs x-amz-decoded-content-length",
        )
    })?;
    let n: u64 = v.trim().parse().map_err(|_| {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-decoded-content-length {v:?} is not a number"),
        )
    })?;
    too_large(req, n)
}

/// PutObject: the body streams into every group of the bucket; its
/// SHA-256 (when signed) and Content-MD5 (when sent) are checked at its
/// end, before the write commits, so a mismatch stores nothing.
pub async fn put(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    // aws-chunked bodies often come with Transfer-Encoding: chunked (no
    // Content-Length); their object size is x-amz-decoded-content-length.
    let chunked = decoder(req)?;
    let size = match &chunked {
        None => content_length(req)
            .map(Some)
            .or_else(|e| crate::s3::spool::unknown_length(req, e))?,
        Some(_) => Some(decoded_length(req)?),
    };
    let mut stored = ObjectMeta::from_request(req.http.headers(), &req.coverage)?;
    let declared = checksum::expected(req.http.headers())?;
    let digest = BodyDigest::new(&req.payload_hash, req.header("content-md5"))?
        .with_checksum(declared.clone());
    let ctx = req.storage_ctx(bucket, true);
    crate::s3::object::write_conditions::check(req, &ctx, key).await?;
    let md5 = Rc::new(Cell::new(None));
    let sum = Rc::new(std::cell::RefCell::new(None));
    let proxy = &req.snap.config.proxy;
    let body = checked_body(payload, digest, chunked, proxy, (md5.clone(), sum.clone()));
    let max = MAX_PUT_SIZE.min(req.snap.config.proxy.max_object_size());
    let (size, body) = crate::s3::spool::sized(size, body, max).await?;
    let objects = &req.state.objects;
    let owner = req.owner();
    let digest_seen = md5.clone();
    let content_type = stored.content_type.clone();
    let describe: crate::core::Describe = Box::new(move |e: &mut crate::index::shard::Entry| {
        if let Some(m) = digest_seen.get() {
            e.etag = format!("\"{}\"", hex(&m));
        }
        e.owner = owner;
        e.content_type = content_type;
    });
    // The sidecar is stored while the index entry is recorded.
    let sidecar = |results: Vec<GroupResult<ReplicaInfo>>| {
        let ctx = ctx.clone();
        async move {
            let md5 = md5
                .get()
                .ok_or_else(|| S3Error::internal("the body ended without its digest"))?;
            let etag = format!("\"{}\"", hex(&md5));
            stored.checksum = sum.borrow_mut().take();
            // The reply names the checksum only when the request declared one.
            let answered = stored.checksum.clone().filter(|_| declared.is_some());
            meta::write(
                objects,
                &ctx,
                key,
                &stored.stored(size, etag.clone(), &results),
            )
            .await?;
            Ok::<_, S3Error>((etag, answered))
        }
    };
    let put = objects.put_then(ctx.clone(), key, None, size, body, Some(describe), sidecar);
    let (etag, answered) = match put.await {
        Ok((_written, stored)) => stored?,
        // Elliptics answers a zero-length write with ENOENT.
        Err(e) if size == 0 && e.code == S3ErrorCode::NoSuchKey => {
            return Err(S3Error::new(
                S3ErrorCode::NotImplemented,
                format!(
                    "empty objects are not supported by this store ({})",
                    e.message
                ),
            ))
        }
        Err(e) => return Err(e),
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header((ETAG, etag));
    if let Some(c) = &answered {
        checksum_headers(&mut resp, c);
    }
    Ok(resp.finish())
}

/// The aws-chunked decoder the request's `x-amz-content-sha256` calls for
/// (`None`: a plain body). Signed kinds verify every chunk's signature
/// from the seed the authentication kept.
pub(in crate::s3) fn decoder(req: &S3Req) -> Result<Option<Decoder>, S3Error> {
    let trailer = match req.payload_hash.as_str() {
        chunked::UNSIGNED_TRAILER => return Ok(Some(Decoder::default())),
        SIGNED_PAYLOAD => false,
        SIGNED_PAYLOAD_TRAILER => true,
        _ => return Ok(None),
    };
    let seed = req
        .chunk_seed
        .clone()
        .ok_or_else(|| S3Error::internal("a signed aws-chunked body without its seed"))?;
    Ok(Some(Decoder::signed(ChunkSigner::new(seed), trailer)))
}

/// Where the body stream leaves its results: the MD5 and the checksum to store.
type Results = (
    Rc<Cell<Option<[u8; 16]>>>,
    Rc<std::cell::RefCell<Option<ObjectChecksum>>>,
);

/// The PUT body as a stream: decoded first when aws-chunked; each data
/// chunk goes through `digest`; at the end the encoding and the digest are
/// checked (an error there makes the write abort) and the MD5 and checksum
/// left in `results`. The body is read as REST reads uploads
/// ([`BodyReader`]): RequestTimeout when the client sends nothing for
/// `proxy.idle-timeout`, or less than `proxy.body-min-bytes-per-second`
/// on average over a `proxy.body-min-rate-window`.
pub(in crate::s3) fn checked_body(
    payload: web::Payload,
    digest: BodyDigest,
    chunked: Option<Decoder>,
    proxy: &ProxyConfig,
    results: Results,
) -> impl futures_util::Stream<Item = Result<Bytes, S3Error>> + Unpin {
    struct Body {
        payload: BodyReader,
        digest: BodyDigest,
        chunked: Option<Decoder>,
        results: Results,
    }
    impl Body {
        /// The next data chunk, `None` at a good end.
        async fn next(&mut self) -> Result<Option<Bytes>, S3Error> {
            loop {
                let item = self.payload.next().await.map_err(|e| {
                    let code = match e {
                        BodyError::TooSlow(_) => S3ErrorCode::RequestTimeout,
                        BodyError::Unreadable(_) => S3ErrorCode::IncompleteBody,
                        BodyError::TooLarge(_) => S3ErrorCode::EntityTooLarge,
                    };
                    S3Error::new(code, e.to_string())
                })?;
                let chunk = match item {
                    Some(c) => c,
                    None => {
                        if let Some(d) = &self.chunked {
                            d.finish()?;
                            self.digest.set_trailers(d.trailers().to_vec());
                        }
                        self.results.0.set(Some(self.digest.finish()?));
                        *self.results.1.borrow_mut() = self.digest.checksum().cloned();
                        return Ok(None);
                    }
                };
                let data = match &mut self.chunked {
                    None => chunk,
                    Some(d) => {
                        let mut out = Vec::new();
                        d.feed(chunk, &mut out)?;
                        match out.len() {
                            0 => continue,
                            1 => out.swap_remove(0),
                            _ => Bytes::from(out.concat()),
                        }
                    }
                };
                self.digest.update(&data)?;
                return Ok(Some(data));
            }
        }
    }
    let body = Body {
        payload: BodyReader::new(payload, proxy),
        digest,
        chunked,
        results,
    };
    Box::pin(futures_util::stream::unfold(
        (body, false),
        move |(mut body, done)| async move {
            if done {
                return None;
            }
            match body.next().await {
                Ok(Some(data)) => Some((Ok(data), (body, false))),
                Ok(None) => None,
                Err(e) => Some((Err(e), (body, true))),
            }
        },
    ))
}

/// DeleteObject: removes the key from every group; 204 also when it was
/// not there, as S3 answers.
pub async fn delete(req: &S3Req, bucket: &BucketMeta, key: &str) -> Result<HttpResponse, S3Error> {
    let ctx = req.storage_ctx(bucket, true);
    // A write of the key in between must not lose its sidecar.
    let held = req.state.objects.publishing(&ctx, key).await;
    match req.state.objects.remove_held(ctx.clone(), key, &held).await {
        Ok(()) => {}
        Err(crate::core::ObjectError::Storage(e)) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    meta::remove(&req.state.objects, &ctx, key).await?;
    crate::s3::object::attributes::remove(&req.state.objects, &ctx, key).await;
    drop(held);
    Ok(HttpResponse::NoContent().finish())
}
