//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload (ListParts and
//! ListMultipartUploads in [`crate::s3::multipart::upload_lists`]).
//!
//! Everything lives in the cluster, in the bucket's groups, so any proxy
//! can take any request of an upload. Namespace `B/s3-mpu` (no Backrunner
//! bucket can be named so) holds, for upload ID:
//! - `ID`: the upload's state (key, initiation time, initiator, the
//!   metadata and checksum algorithm and type given at creation), JSON;
//! - `ID/NNNNN`: part NNNNN's bytes, with its sidecar (size, replica
//!   mtimes, MD5 ETag, its checksum) in `B/s3-mpu/s3` as [`crate::s3::object::meta`]
//!   keeps it for objects.
//!
//! The upload's checksum ([`crate::s3::multipart::mpu_checksum`]) is checked or computed
//! part by part; CompleteMultipartUpload derives the object's from the
//! parts' and keeps it with the object.
//!
//! CompleteMultipartUpload assembles: it streams the parts in order into
//! the object K of bucket B, a plain object that `/get/` (Range included),
//! every Elliptics client and the S3 GET read as it is, then removes the
//! parts. That costs one more write and one read of every byte (docs/s3.md
//! says why it is chosen over a manifest); the reply is sent as S3 sends
//! it (200 at once, whitespace while assembling, [`crate::s3::object::long_reply`]).
//!
//! The folder: these operations over [`upload`] (the one owner of an
//! upload's state), [`upload_lists`] (the upload and part lists, ListParts,
//! ListMultipartUploads), [`cleanup`] (removing uploads), [`parts`] (the
//! Complete document, part limits), [`mpu_checksum`] and [`cluster_doc`].

pub mod cleanup;
pub mod complete_retry;
pub mod mpu_checksum;
pub mod parts;
pub mod upload;
pub mod upload_lists;

use actix_web::http::header::ETAG;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use crate::bucket::BucketMeta;
use crate::core::{Download, Piece, ReadOptions};
use crate::encoding::hex;
use crate::http::range::{self, RangeSpec};
use crate::s3::cluster_doc;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object;
use crate::s3::object::attributes;
use crate::s3::object::copy;
use crate::s3::object::long_reply::long_reply;
use crate::s3::object::meta::{self, ObjectMeta};
use crate::s3::sign::digest::BodyDigest;
use crate::s3::{object::body, sign::checksum};
use crate::s3::{object::write_conditions, sign::access::Caller, xml, S3Req};
use crate::state::AppState;
use crate::storage::Context;
use cleanup::remove_upload;
use parts::{check_parts, md5_of_etag, multipart_etag, parse_complete, MAX_PARTS, MAX_PART_SIZE};
use upload::{now_secs, open_upload, part_key, uploads_ctx, OpenUpload, UploadState};

/// Largest CompleteMultipartUpload body (10,000 parts with checksums fit).
pub(crate) const MAX_COMPLETE_BODY: usize = 4 << 20;
/// Part sidecars read at once when completing.
const PARALLEL_READS: usize = 16;

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

/// CreateMultipartUpload: `POST /B/K?uploads`.
pub async fn create(req: &S3Req, bucket: &BucketMeta, key: &str) -> Result<HttpResponse, S3Error> {
    let meta = ObjectMeta::from_request(req.http.headers(), &req.coverage)?;
    let checksum = mpu_checksum::declared(req.http.headers())?;
    let id = hex(&rand::random::<[u8; 16]>());
    let state = UploadState {
        key: key.to_string(),
        initiated: now_secs(),
        initiator: match &req.caller {
            Caller::User(u) => u.clone(),
            Caller::Anonymous => "anonymous".into(),
        },
        meta,
        checksum,
    };
    let uctx = uploads_ctx(&req.storage_ctx(bucket, true));
    let max = req.snap.config.proxy.s3_max_uploads_per_bucket;
    // Listed first, so an upload past the limit leaves nothing behind; a
    // state that cannot be written takes its entry back.
    upload_lists::add_upload(&req.state, &uctx, &id, &state, max).await?;
    if let Err(e) = cluster_doc::write_json(&req.state.objects, &uctx, &id, &state).await {
        if let Err(e) = upload_lists::remove_upload(&req.state, &uctx, &id).await {
            log::warn!("s3 upload {}/{id}: unlisting it: {e}", uctx.namespace);
        }
        return Err(e);
    }
    let doc = format!(
        "{}<InitiateMultipartUploadResult xmlns=\"{}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
        xml::DECL,
        xml::NS,
        xml::escape(&bucket.name),
        xml::escape(key)
    );
    let mut resp = HttpResponse::Ok();
    if let Some(c) = checksum {
        resp.insert_header(("x-amz-checksum-algorithm", c.algorithm.name()))
            .insert_header(("x-amz-checksum-type", c.kind.name()));
    }
    Ok(resp.content_type("application/xml").body(doc))
}

/// UploadPart: `PUT /B/K?partNumber=N&uploadId=ID`, the body streamed into
/// the part object as PutObject streams (SHA-256, Content-MD5, aws-chunked
/// signatures and `x-amz-checksum-*` checked, as the upload's checksum
/// requires; the checksum kept with the part).
pub async fn upload_part(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let n = part_number(req)?;
    let OpenUpload { id, uctx, state } = open_upload(req, bucket, key, true).await?;
    let chunked = object::decoder(req)?;
    let size = match &chunked {
        None => object::content_length(req)?,
        Some(_) => object::decoded_length(req)?,
    };
    let declared =
        mpu_checksum::part_expected(state.checksum, checksum::expected(req.http.headers())?)?;
    let digest = BodyDigest::new(&req.payload_hash, req.header("content-md5"))?
        .with_checksum(declared.clone());
    let md5 = std::rc::Rc::new(std::cell::Cell::new(None));
    let sum = std::rc::Rc::new(std::cell::RefCell::new(None));
    let proxy = &req.snap.config.proxy;
    let body = object::checked_body(payload, digest, chunked, proxy, (md5.clone(), sum.clone()));
    let pkey = part_key(&id, n);
    let results = req
        .state
        .objects
        .put(uctx.clone(), &pkey, None, size, body, None)
        .await?;
    let md5 = md5
        .get()
        .ok_or_else(|| S3Error::internal("the body ended without its digest"))?;
    let etag = format!("\"{}\"", hex(&md5));
    let checksum = sum.borrow_mut().take();
    let answered = checksum.clone().filter(|_| declared.is_some());
    let info = ObjectMeta {
        checksum,
        ..Default::default()
    }
    .stored(size, etag.clone(), &results);
    meta::write(&req.state.objects, &uctx, &pkey, &info).await?;
    upload_lists::add_part(&req.state, &uctx, &id, n, &info, answered.as_ref()).await?;
    let mut resp = HttpResponse::Ok();
    resp.insert_header((ETAG, etag));
    if let Some(c) = &answered {
        resp.insert_header((c.algorithm.header(), c.value.as_str()));
    }
    Ok(resp.finish())
}

/// `x-amz-copy-source-range: bytes=FIRST-LAST` within a source of `size`
/// bytes, as `[start, end)`; the whole source without it. A well-formed
/// range past the source's end is `InvalidRange`, as S3 answers; a
/// malformed one `InvalidArgument`.
fn copy_range(v: Option<&str>, size: u64) -> Result<(u64, u64), S3Error> {
    let Some(v) = v else {
        return Ok((0, size));
    };
    match range::parse(v).as_deref() {
        Some(
            [RangeSpec::Int {
                first,
                last: Some(last),
            }],
        ) if first <= last && *last < size => Ok((*first, last + 1)),
        Some(
            [RangeSpec::Int {
                first,
                last: Some(last),
            }],
        ) if first <= last => Err(S3Error::new(
            S3ErrorCode::InvalidRange,
            format!("x-amz-copy-source-range {v:?} is past the end of the source's {size} bytes"),
        )),
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
    let n = part_number(req)?;
    let OpenUpload { id, uctx, state } = open_upload(req, bucket, key, true).await?;
    let source = copy::open_source(req).await?;
    let (start, end) = copy_range(req.header("x-amz-copy-source-range"), source.size())?;
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
    // The part's checksum in the upload's algorithm (CRC64NVME without
    // one, as UploadPart computes), made while the bytes are copied.
    let alg = state
        .checksum
        .map_or(checksum::Algorithm::Crc64Nvme, |c| c.algorithm);
    let work = async move {
        let pkey = part_key(&id, n);
        let copied = copy::stream_copy(
            &app,
            source.current.object,
            (start, end),
            (uctx.clone(), &pkey),
            Some(alg),
            |_| {},
        )
        .await?;
        let (results, md5) = (copied.results, copied.md5);
        let raw = copied.checksum.unwrap_or_default();
        let etag = format!("\"{}\"", hex(&md5));
        let sum = checksum::ObjectChecksum {
            algorithm: alg,
            value: checksum::encode(&raw),
            kind: checksum::ChecksumType::FullObject,
        };
        let listed = state.checksum.map(|_| sum.clone());
        let info = ObjectMeta {
            checksum: Some(sum),
            ..Default::default()
        }
        .stored(end - start, etag.clone(), &results);
        meta::write(&app.objects, &uctx, &pkey, &info).await?;
        upload_lists::add_part(&app, &uctx, &id, n, &info, listed.as_ref()).await?;
        let mut doc = copy::result_doc("CopyPartResult", &etag, copy::written_mtime(&results));
        if let Some(c) = &listed {
            // S3 names the part's checksum after the ETag.
            let at = doc.rfind("</CopyPartResult>").unwrap_or(doc.len());
            doc.insert_str(at, &crate::s3::sign::checksum::checksum_elements(c, false));
        }
        Ok(doc)
    };
    Ok(long_reply(
        work,
        req.http.uri().path().to_string(),
        req.request_id.clone(),
    ))
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
    let OpenUpload { id, uctx, state } = match open_upload(req, bucket, key, true).await {
        Err(e) if e.code == S3ErrorCode::NoSuchUpload => {
            return complete_retry::answer(req, bucket, key, payload, e).await
        }
        r => r?,
    };
    let body =
        body::read_object_checksummed(req, payload, MAX_COMPLETE_BODY, "CompleteMultipartUpload")
            .await?;
    let named = parse_complete(&body)?;
    let ctx = req.storage_ctx(bucket, true);
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
    let object_checksum =
        mpu_checksum::complete(state.checksum, &named, &parts, req.http.headers())?;
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
    if let Some(v) = req.header("x-amz-mp-object-size") {
        if v.trim().parse::<u64>().ok() != Some(total) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!("x-amz-mp-object-size {v:?} is not the parts' {total} bytes"),
            ));
        }
    }
    let max = req.snap.config.proxy.max_object_size();
    if total > max {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            format!("the parts have {total} bytes, more than proxy.max-object-size {max}"),
        ));
    }
    let app = req.state.clone();
    let (key, bucket_name) = (key.to_string(), bucket.name.clone());
    let owner = req.owner();
    let work = async move {
        let body = parts_body(app.clone(), uctx.clone(), id.clone(), parts.clone());
        // The index lists the multipart ETag, as HeadObject answers it (a
        // ranged download's If-Match carries the listed one).
        let (listed_etag, content_type) = (etag.clone(), state.meta.content_type.clone());
        let describe = move |e: &mut crate::index::shard::Entry| {
            e.etag = listed_etag;
            e.owner = owner;
            e.content_type = content_type;
        };
        let results = app
            .objects
            .put(
                ctx.clone(),
                &key,
                None,
                total,
                body,
                Some(Box::new(describe)),
            )
            .await?;
        let mut stored = state.meta.stored(total, etag.clone(), &results);
        stored.checksum = object_checksum;
        meta::write(&app.objects, &ctx, &key, &stored).await?;
        let listed = parts
            .iter()
            .map(|(n, m)| attributes::StoredPart {
                number: *n,
                size: m.size,
                checksum: state.checksum.and(m.checksum.clone()),
            })
            .collect();
        let done = complete_retry::completion(&id, &named);
        attributes::write(&app.objects, &ctx, &key, &stored, listed, done).await?;
        // The upload's state goes before the reply: a retried Complete
        // then finds the completion, not an upload to assemble again.
        cluster_doc::remove(&app.objects, &uctx, &id).await?;
        let numbers = parts.iter().map(|(n, _)| *n).collect();
        actix_web::rt::spawn(remove_upload(app.clone(), uctx, id, Some(numbers)));
        Ok(complete_retry::result_doc(
            &bucket_name,
            &key,
            &etag,
            stored.checksum.as_ref(),
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

/// AbortMultipartUpload: `DELETE /B/K?uploadId=ID`, 204.
pub async fn abort(req: &S3Req, bucket: &BucketMeta, key: &str) -> Result<HttpResponse, S3Error> {
    let OpenUpload { id, uctx, .. } = open_upload(req, bucket, key, true).await?;
    remove_upload(req.state.clone(), uctx, id, None).await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range(None, 10).unwrap(), (0, 10));
        assert_eq!(copy_range(Some("bytes=2-9"), 10).unwrap(), (2, 10));
        let code = |v: &str| copy_range(Some(v), 10).unwrap_err().code;
        assert_eq!(code("bytes=5-10"), S3ErrorCode::InvalidRange);
        assert_eq!(code("bytes=10-20"), S3ErrorCode::InvalidRange);
        for bad in [
            "bytes=5-",
            "bytes=-3",
            "bytes=9-2",
            "chars=1-2",
            "bytes=1-2,3-4",
        ] {
            assert_eq!(code(bad), S3ErrorCode::InvalidArgument, "{bad}");
        }
    }
}
