//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload (ListParts and
//! ListMultipartUploads in [`super::upload_lists`]).
//!
//! Everything lives in the cluster, in the bucket's groups, so any proxy
//! can take any request of an upload. Namespace `B/s3-mpu` (no Backrunner
//! bucket can be named so) holds, for upload ID:
//! - `ID`: the upload's state (key, initiation time, initiator, the
//!   metadata given at creation), JSON;
//! - `ID/NNNNN`: part NNNNN's bytes, with its sidecar (size, replica
//!   mtimes, MD5 ETag, `x-amz-checksum-*` headers as sent) in `B/s3-mpu/s3`
//!   as [`super::meta`] keeps it for objects.
//!
//! CompleteMultipartUpload assembles: it streams the parts in order into
//! the object K of bucket B, a plain object that `/get/` (Range included),
//! every Elliptics client and the S3 GET read as it is, then removes the
//! parts. That costs one more write and one read of every byte (docs/s3.md
//! says why it is chosen over a manifest); the reply is sent as S3 sends
//! it (200 at once, whitespace while assembling, [`super::long_reply`]).

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::ETAG;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use openssl::hash::{hash, MessageDigest};
use serde::{Deserialize, Serialize};

use super::copy;
use super::digest::BodyDigest;
use super::error::{S3Error, S3ErrorCode};
use super::long_reply::long_reply;
use super::meta::{self, ObjectMeta};
use super::object;
use super::upload_lists;
use super::{access::Caller, cluster_doc, write_conditions, xml, S3Req};
use super::{body, checksum};
use crate::bucket::BucketMeta;
use crate::core::{Download, Piece, ReadOptions};
use crate::encoding::hex;
use crate::http::range::{self, RangeSpec};
use crate::state::AppState;
use crate::storage::Context;

/// Smallest part but the last, as S3: 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Most parts of one upload, as S3.
pub const MAX_PARTS: u32 = 10_000;
/// Largest part, as S3: 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Largest CompleteMultipartUpload body (10,000 parts with checksums fit).
const MAX_COMPLETE_BODY: usize = 4 << 20;
/// Largest upload state document.
const MAX_STATE: u64 = 64 << 10;
/// Part sidecars read at once when completing.
const PARALLEL_READS: usize = 16;

/// The session of a bucket's uploads: namespace `B/s3-mpu`.
pub fn uploads_ctx(ctx: &Context) -> Context {
    let mut c = ctx.clone();
    c.namespace = format!("{}/s3-mpu", ctx.namespace);
    c
}

/// The key of part `n` of upload `id`.
pub fn part_key(id: &str, n: u32) -> String {
    format!("{id}/{n:05}")
}

/// A multipart upload's state, kept under its ID.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadState {
    /// The object key it completes into.
    pub key: String,
    /// When it was created (seconds since the epoch).
    pub initiated: u64,
    /// The access key that created it (`anonymous` without one).
    pub initiator: String,
    /// Content-Type, stored headers and `x-amz-meta-*` given at creation.
    pub meta: ObjectMeta,
    /// `x-amz-checksum-algorithm` given at creation, for the checksum layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn no_such_upload(id: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::NoSuchUpload,
        format!("upload {id:?} does not exist (never created, completed or aborted)"),
    )
}

/// The `uploadId` parameter: 32 hex digits as CreateMultipartUpload makes
/// them; anything else names no upload.
pub fn upload_id(req: &S3Req) -> Result<String, S3Error> {
    let id = req.param("uploadId").unwrap_or_default();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(no_such_upload(id));
    }
    Ok(id.to_ascii_lowercase())
}

/// The `partNumber` parameter, 1..=10,000.
fn part_number(req: &S3Req) -> Result<u32, S3Error> {
    let v = req.param("partNumber").unwrap_or_default();
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                format!("partNumber {v:?} must be an integer from 1 to {MAX_PARTS}"),
            )
        })
}

/// Reads the state of upload `id` and checks it belongs to `key`.
pub async fn read_state(
    app: &AppState,
    uctx: &Context,
    id: &str,
    key: &str,
) -> Result<UploadState, S3Error> {
    let state: UploadState = cluster_doc::read_json(&app.objects, uctx, id, MAX_STATE)
        .await?
        .ok_or_else(|| no_such_upload(id))?;
    if state.key != key {
        return Err(no_such_upload(id));
    }
    Ok(state)
}

/// CreateMultipartUpload: `POST /B/K?uploads`.
pub async fn create(req: &S3Req, bucket: &BucketMeta, key: &str) -> Result<HttpResponse, S3Error> {
    let meta = ObjectMeta::from_request(req.http.headers())?;
    let id = hex(&rand::random::<[u8; 16]>());
    let state = UploadState {
        key: key.to_string(),
        initiated: now_secs(),
        initiator: match &req.caller {
            Caller::User(u) => u.clone(),
            Caller::Anonymous => "anonymous".into(),
        },
        meta,
        checksum_algorithm: req.header("x-amz-checksum-algorithm").map(str::to_string),
    };
    let uctx = uploads_ctx(&req.storage_ctx(bucket, true));
    cluster_doc::write_json(&req.state.objects, &uctx, &id, &state).await?;
    upload_lists::add_upload(&req.state, &uctx, &id, &state).await?;
    let doc = format!(
        "{}<InitiateMultipartUploadResult xmlns=\"{}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
        xml::DECL,
        xml::NS,
        xml::escape(&bucket.name),
        xml::escape(key)
    );
    Ok(HttpResponse::Ok().content_type("application/xml").body(doc))
}

/// The `x-amz-checksum-*` headers of a part, kept in its sidecar for the
/// checksum layer (full-object and composite checksums of the upload).
fn checksum_headers(req: &S3Req) -> std::collections::BTreeMap<String, String> {
    req.http
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-amz-checksum-"))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// UploadPart: `PUT /B/K?partNumber=N&uploadId=ID`, the body streamed into
/// the part object as PutObject streams (SHA-256, Content-MD5, aws-chunked
/// signatures and `x-amz-checksum-*` checked; the checksum kept with the part).
pub async fn upload_part(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let id = upload_id(req)?;
    let n = part_number(req)?;
    let uctx = uploads_ctx(&req.storage_ctx(bucket, true));
    read_state(&req.state, &uctx, &id, key).await?;
    let chunked = object::decoder(req)?;
    let size = match &chunked {
        None => object::content_length(req)?,
        Some(_) => object::decoded_length(req)?,
    };
    let declared = checksum::expected(req.http.headers())?;
    let digest = BodyDigest::new(&req.payload_hash, req.header("content-md5"))?
        .with_checksum(declared.clone());
    let idle = std::time::Duration::from_secs(req.snap.config.proxy.idle_timeout.max(1));
    let md5 = std::rc::Rc::new(std::cell::Cell::new(None));
    let sum = std::rc::Rc::new(std::cell::RefCell::new(None));
    let body = object::checked_body(payload, digest, chunked, idle, (md5.clone(), sum.clone()));
    let pkey = part_key(&id, n);
    let results = req
        .state
        .objects
        .put(uctx.clone(), &pkey, None, size, body)
        .await?;
    let md5 = md5
        .get()
        .ok_or_else(|| S3Error::internal("the body ended without its digest"))?;
    let etag = format!("\"{}\"", hex(&md5));
    let checksum = sum.borrow_mut().take();
    let answered = checksum.clone().filter(|_| declared.is_some());
    let info = ObjectMeta {
        headers: checksum_headers(req),
        checksum,
        ..Default::default()
    }
    .stored(size, etag.clone(), &results);
    meta::write(&req.state.objects, &uctx, &pkey, &info).await?;
    upload_lists::add_part(&req.state, &uctx, &id, n, &info).await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((ETAG, etag));
    if let Some(c) = &answered {
        resp.insert_header((c.algorithm.header(), c.value.as_str()));
    }
    Ok(resp.finish())
}

/// `x-amz-copy-source-range: bytes=FIRST-LAST` within a source of `size`
/// bytes, as `[start, end)`; the whole source without it.
fn copy_range(req: &S3Req, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(v) = req.header("x-amz-copy-source-range") else {
        return Ok((0, size));
    };
    match range::parse(v).as_deref() {
        Some(
            [RangeSpec::Int {
                first,
                last: Some(last),
            }],
        ) if first <= last && *last < size => Ok((*first, last + 1)),
        _ => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-copy-source-range {v:?} must be bytes=FIRST-LAST within the source's {size} bytes"),
        )),
    }
}

/// UploadPartCopy: a part copied from (a range of) an existing object.
pub async fn upload_part_copy(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    let id = upload_id(req)?;
    let n = part_number(req)?;
    let uctx = uploads_ctx(&req.storage_ctx(bucket, true));
    read_state(&req.state, &uctx, &id, key).await?;
    let source = copy::open_source(req).await?;
    let (start, end) = copy_range(req, source.size())?;
    if end - start > MAX_PART_SIZE {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "a part takes at most {MAX_PART_SIZE} bytes; the range has {}",
                end - start
            ),
        ));
    }
    let app = req.state.clone();
    let checksums = checksum_headers(req);
    let work = async move {
        let pkey = part_key(&id, n);
        let (results, md5) =
            copy::stream_copy(&app, source.current.object, start, end, uctx.clone(), &pkey).await?;
        let etag = format!("\"{}\"", hex(&md5));
        let info = ObjectMeta {
            headers: checksums,
            ..Default::default()
        }
        .stored(end - start, etag.clone(), &results);
        meta::write(&app.objects, &uctx, &pkey, &info).await?;
        upload_lists::add_part(&app, &uctx, &id, n, &info).await?;
        Ok(copy::result_doc(
            "CopyPartResult",
            &etag,
            copy::written_mtime(&results),
        ))
    };
    Ok(long_reply(
        work,
        req.http.uri().path().to_string(),
        req.request_id.clone(),
    ))
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// Its number.
    pub number: u32,
    /// The ETag the client got for it (quotes removed).
    pub etag: String,
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        S3ErrorCode::MalformedXML,
        format!("the CompleteMultipartUpload document is not valid: {why}"),
    )
}

/// Parses `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>...`
/// (other elements in a part, such as checksums, are skipped).
pub fn parse_complete(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut parts = Vec::new();
    let mut number: Option<u32> = None;
    let mut etag: Option<String> = None;
    let mut buf = Vec::new();
    let mut saw_root = false;
    loop {
        match reader.read_event_into(&mut buf).map_err(malformed)? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if path.is_empty() {
                    if name != b"CompleteMultipartUpload" {
                        return Err(malformed("the root element is not CompleteMultipartUpload"));
                    }
                    saw_root = true;
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.len() == 2 && path[1] == b"Part" {
                    let n = number
                        .take()
                        .ok_or_else(|| malformed("a Part without PartNumber"))?;
                    let e = etag
                        .take()
                        .ok_or_else(|| malformed("a Part without ETag"))?;
                    parts.push(CompletedPart { number: n, etag: e });
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(malformed)?;
                if path.len() == 3 && path[1] == b"Part" {
                    match path[2].as_slice() {
                        b"PartNumber" => {
                            number = Some(text.trim().parse().map_err(|_| {
                                malformed(format!("PartNumber {text:?} is not a number"))
                            })?)
                        }
                        b"ETag" => etag = Some(text.trim().trim_matches('"').to_string()),
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root || !path.is_empty() {
        return Err(malformed("no complete CompleteMultipartUpload element"));
    }
    if parts.is_empty() {
        return Err(malformed("it names no part"));
    }
    Ok(parts)
}

/// The multipart ETag: hex MD5 of the parts' binary MD5s, `-` and the count.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> Result<String, S3Error> {
    let cat: Vec<u8> = md5s.concat();
    let d = hash(MessageDigest::md5(), &cat).map_err(|e| S3Error::internal(format!("md5: {e}")))?;
    Ok(format!("\"{}-{}\"", hex(&d), md5s.len()))
}

/// Hex MD5 text as bytes.
fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
    let t = etag.trim_matches('"');
    if t.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Checks the parts named against the parts stored: ascending numbers
/// (`InvalidPartOrder`), each uploaded with that ETag (`InvalidPart`), each
/// but the last at least [`MIN_PART_SIZE`] (`EntityTooSmall`).
pub fn check_parts(named: &[CompletedPart], stored: &[Option<ObjectMeta>]) -> Result<(), S3Error> {
    if named.len() > MAX_PARTS as usize {
        return Err(malformed(format!("more than {MAX_PARTS} parts")));
    }
    for w in named.windows(2) {
        if w[1].number <= w[0].number {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPartOrder,
                format!(
                    "part {} follows part {}: the list must be in ascending order",
                    w[1].number, w[0].number
                ),
            ));
        }
    }
    for (i, (p, s)) in named.iter().zip(stored).enumerate() {
        let Some(s) = s.as_ref().filter(|s| s.etag.trim_matches('"') == p.etag) else {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPart,
                format!(
                    "part {} with ETag {:?} was not uploaded (or was uploaded again since)",
                    p.number, p.etag
                ),
            ));
        };
        if i + 1 < named.len() && s.size < MIN_PART_SIZE {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooSmall,
                format!(
                    "part {} has {} bytes; every part but the last needs at least {MIN_PART_SIZE}",
                    p.number, s.size
                ),
            ));
        }
    }
    Ok(())
}

/// CompleteMultipartUpload: `POST /B/K?uploadId=ID`. Everything a client
/// can get wrong is checked before the 200 goes out; then the parts are
/// assembled into the object.
pub async fn complete(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let id = upload_id(req)?;
    let body = body::read(req, payload, MAX_COMPLETE_BODY, "CompleteMultipartUpload").await?;
    let named = parse_complete(&body)?;
    let ctx = req.storage_ctx(bucket, true);
    let uctx = uploads_ctx(&ctx);
    let state = read_state(&req.state, &uctx, &id, key).await?;
    write_conditions::check(req, &ctx, key).await?;
    let objects = &req.state.objects;
    let stored: Vec<Option<ObjectMeta>> = futures_util::stream::iter(named.iter())
        .map(|p| {
            let (uctx, key) = (&uctx, part_key(&id, p.number));
            async move { meta::read(objects, uctx, &key).await }
        })
        .buffered(PARALLEL_READS)
        .collect()
        .await;
    check_parts(&named, &stored)?;
    let parts: Vec<(u32, ObjectMeta)> = named
        .iter()
        .zip(stored)
        .filter_map(|(p, s)| Some((p.number, s?)))
        .collect();
    let md5s = parts
        .iter()
        .map(|(n, m)| {
            md5_of_etag(&m.etag).ok_or_else(|| {
                S3Error::internal(format!("part {n}: stored ETag {} is no MD5", m.etag))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let etag = multipart_etag(&md5s)?;
    let total: u64 = parts.iter().map(|(_, m)| m.size).sum();
    let max = req.snap.config.proxy.max_object_size();
    if total > max {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            format!("the parts have {total} bytes, more than proxy.max-object-size {max}"),
        ));
    }
    let app = req.state.clone();
    let (key, bucket_name) = (key.to_string(), bucket.name.clone());
    let work = async move {
        let body = parts_body(app.clone(), uctx.clone(), id.clone(), parts.clone());
        let results = app
            .objects
            .put(ctx.clone(), &key, None, total, body)
            .await?;
        let stored = state.meta.stored(total, etag.clone(), &results);
        meta::write(&app.objects, &ctx, &key, &stored).await?;
        let numbers = parts.iter().map(|(n, _)| *n).collect();
        actix_web::rt::spawn(remove_upload(app.clone(), uctx, id, Some(numbers)));
        Ok(format!(
            "{}<CompleteMultipartUploadResult xmlns=\"{}\"><Location>/{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            xml::DECL,
            xml::NS,
            xml::escape(&crate::encoding::query_escape(&bucket_name)),
            xml::escape(&crate::encoding::query_escape(&key)),
            xml::escape(&bucket_name),
            xml::escape(&key),
            xml::escape(&etag)
        ))
    };
    Ok(long_reply(
        work,
        req.http.uri().path().to_string(),
        req.request_id.clone(),
    ))
}

/// The parts' bytes in order, one part open at a time; a part whose
/// replica is not the one its sidecar describes (re-uploaded meanwhile)
/// fails the assembly.
fn parts_body(
    app: web::Data<AppState>,
    uctx: Context,
    id: String,
    parts: Vec<(u32, ObjectMeta)>,
) -> impl Stream<Item = Result<Bytes, S3Error>> + Unpin {
    type Part = Box<dyn Stream<Item = Result<Bytes, S3Error>> + Unpin>;
    let open = move |(n, info): (u32, ObjectMeta)| {
        let (app, uctx, key) = (app.clone(), uctx.clone(), part_key(&id, n));
        async move {
            let opts = ReadOptions {
                prefetch_from: Some(0),
                recover_rate: None,
            };
            let object = app.objects.open(uctx, &key, opts).await?;
            if !info.describes(object.info()) {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidPart,
                    format!("part {n} changed while the upload was being completed"),
                ));
            }
            let body: Part = match object.body(vec![Piece::Object {
                start: 0,
                end: info.size,
            }]) {
                Download::Ready(b) => Box::new(futures_util::stream::iter([Ok(b)])),
                Download::Stream(s) => Box::new(s.map_err(S3Error::from)),
            };
            Ok::<Part, S3Error>(body)
        }
    };
    Box::pin(futures_util::stream::iter(parts).then(open).try_flatten())
}

/// Removes an upload: its state first (so no part or completion is taken
/// any more), then the parts (those named, or those its part list holds),
/// their sidecars, the part list and the bucket's upload-list entry.
/// Failures are logged; the entry stays listed so the cleanup retries.
pub async fn remove_upload(
    app: web::Data<AppState>,
    uctx: Context,
    id: String,
    numbers: Option<Vec<u32>>,
) {
    let objects = &app.objects;
    let result = async {
        cluster_doc::remove(objects, &uctx, &id).await?;
        let listed = upload_lists::part_numbers(&app, &uctx, &id).await?;
        let mut all = numbers.unwrap_or_default();
        all.extend(listed);
        all.sort_unstable();
        all.dedup();
        let sidecars = meta::sidecar_ctx(&uctx);
        let removals = futures_util::stream::iter(all.iter())
            .map(|n| {
                let key = part_key(&id, *n);
                let (uctx, sidecars) = (&uctx, &sidecars);
                async move {
                    cluster_doc::remove(objects, uctx, &key).await?;
                    cluster_doc::remove(objects, sidecars, &key).await
                }
            })
            .buffer_unordered(PARALLEL_READS)
            .collect::<Vec<_>>()
            .await;
        removals.into_iter().collect::<Result<(), S3Error>>()?;
        upload_lists::remove_upload(&app, &uctx, &id).await
    }
    .await;
    if let Err(e) = result {
        log::warn!("s3 upload {}/{id}: removing it: {e}", uctx.namespace);
    }
}

/// AbortMultipartUpload: `DELETE /B/K?uploadId=ID`, 204.
pub async fn abort(req: &S3Req, bucket: &BucketMeta, key: &str) -> Result<HttpResponse, S3Error> {
    let id = upload_id(req)?;
    let uctx = uploads_ctx(&req.storage_ctx(bucket, true));
    read_state(&req.state, &uctx, &id, key).await?;
    remove_upload(req.state.clone(), uctx, id, None).await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_documents() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part>
  <Part><PartNumber>2</PartNumber><ChecksumCRC32>x</ChecksumCRC32><ETag>&quot;bb&quot;</ETag></Part>
</CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(doc).unwrap(),
            vec![
                CompletedPart {
                    number: 1,
                    etag: "aa".into()
                },
                CompletedPart {
                    number: 2,
                    etag: "bb".into()
                }
            ]
        );
        for bad in [
            &b"<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>"[..],
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part>",
            b"not xml at all",
        ] {
            assert_eq!(
                parse_complete(bad).unwrap_err().code,
                S3ErrorCode::MalformedXML,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn etag_of_parts() {
        // Two parts with the MD5s of "a" and "b": md5(md5("a") ++ md5("b")).
        let a = md5_of_etag("\"0cc175b9c0f1b6a831c399e269772661\"").unwrap();
        let b = md5_of_etag("92eb5ffee6ae2fec3ad71c777531578f").unwrap();
        let mut cat = a.to_vec();
        cat.extend_from_slice(&b);
        let want = hex(&hash(MessageDigest::md5(), &cat).unwrap());
        assert_eq!(multipart_etag(&[a, b]).unwrap(), format!("\"{want}-2\""));
        assert!(md5_of_etag("\"abc\"").is_none());
        assert!(md5_of_etag(&"zz".repeat(16)).is_none());
    }

    #[test]
    fn part_checks() {
        let named = |ns: &[u32]| -> Vec<CompletedPart> {
            ns.iter()
                .map(|&number| CompletedPart {
                    number,
                    etag: format!("e{number}"),
                })
                .collect()
        };
        let part = |n: u32, size: u64| {
            Some(ObjectMeta {
                size,
                etag: format!("\"e{n}\""),
                ..Default::default()
            })
        };
        let big = MIN_PART_SIZE;
        assert!(check_parts(&named(&[1, 3]), &[part(1, big), part(3, 1)]).is_ok());
        let code =
            |n: &[u32], s: &[Option<ObjectMeta>]| check_parts(&named(n), s).unwrap_err().code;
        assert_eq!(
            code(&[2, 1], &[part(2, big), part(1, 1)]),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(&[1, 1], &[part(1, big), part(1, 1)]),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(&[1, 2], &[part(1, big - 1), part(2, 1)]),
            S3ErrorCode::EntityTooSmall
        );
        assert_eq!(
            code(&[1, 2], &[part(1, big), None]),
            S3ErrorCode::InvalidPart
        );
        assert_eq!(
            code(&[1, 2], &[part(1, big), part(3, 1)]),
            S3ErrorCode::InvalidPart
        );
    }
}
