//! The parts of a completed multipart object, kept for GetObject/HeadObject
//! `?partNumber=N` and GetObjectAttributes.
//!
//! CompleteMultipartUpload writes the list (each part's number, size and,
//! when the upload has a checksum algorithm, its checksum) to key K of
//! namespace `B/s3-parts` in the bucket's groups, with the object's size and
//! replica mtimes as its sidecar has them: like the sidecar, it is used only
//! for the replica it was written with, so an object rewritten since (by
//! PutObject or `/upload/`) is a plain object again, of one part.

use actix_web::http::header::{ETAG, LAST_MODIFIED};
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};

use crate::bucket::BucketMeta;
use crate::core::ReadOptions;
use crate::s3::cluster_doc;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::meta::{self, ObjectMeta};
use crate::s3::sign::checksum::ObjectChecksum;
use crate::s3::xml;
use crate::s3::S3Req;
use crate::storage::{Context, ReplicaInfo};

/// Largest parts document read (10,000 parts with checksums fit well).
const MAX_DOC: u64 = 4 << 20;

/// Most parts one GetObjectAttributes lists, as S3.
const MAX_PARTS: usize = 1000;

/// How an object was completed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// The upload id.
    pub upload_id: String,
    /// The part list of the Complete: numbers and ETags (unquoted).
    pub parts: Vec<(u32, String)>,
    /// When (seconds since the epoch).
    pub at: u64,
}

impl Completion {
    /// The completion of upload `id` with the part list `parts` (numbers
    /// and unquoted ETags), at `at` (seconds since the epoch).
    pub fn new(id: &str, parts: Vec<(u32, String)>, at: u64) -> Completion {
        Completion {
            upload_id: id.to_string(),
            parts,
            at,
        }
    }
}

/// One part of a completed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPart {
    /// Its part number in the upload.
    pub number: u32,
    /// Its size.
    pub size: u64,
    /// Its checksum, when the upload had an algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
}

/// The parts document of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartsDoc {
    /// The object (size and replica mtimes) the parts make up.
    pub of: ObjectMeta,
    /// The parts, in object order.
    pub parts: Vec<StoredPart>,
    /// The Complete that made the object, for its retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<Completion>,
}

/// The session of a bucket's parts documents (namespace `B/s3-parts`).
pub fn parts_ctx(ctx: &Context) -> Context {
    let mut c = ctx.clone();
    c.namespace = format!("{}/s3-parts", ctx.namespace);
    c
}

/// Writes the parts of the object `stored` describes, and how it was completed.
pub async fn write(
    objects: &crate::core::Objects,
    ctx: &Context,
    key: &str,
    stored: &ObjectMeta,
    parts: Vec<StoredPart>,
    completed: Completion,
) -> Result<(), S3Error> {
    let of = ObjectMeta {
        size: stored.size,
        mtimes: stored.mtimes.clone(),
        etag: stored.etag.clone(),
        checksum: stored.checksum.clone(),
        ..Default::default()
    };
    let doc = PartsDoc {
        of,
        parts,
        completed: Some(completed),
    };
    cluster_doc::write_json(objects, &parts_ctx(ctx), key, &doc).await?;
    Ok(())
}

/// Removes the parts document of `key`; a missing one is fine.
pub async fn remove(objects: &crate::core::Objects, ctx: &Context, key: &str) {
    if let Err(e) = cluster_doc::remove(objects, &parts_ctx(ctx), key).await {
        log::warn!("s3 parts of {}/{key}: {e}", ctx.namespace);
    }
}

/// The parts of the object whose replica is `info`: the stored list when it
/// describes that replica, else one part, the whole object.
async fn parts_of(
    req: &S3Req,
    ctx: &Context,
    key: &str,
    info: &ReplicaInfo,
) -> Result<(Vec<StoredPart>, bool), S3Error> {
    let doc: Option<PartsDoc> =
        cluster_doc::read_json(&req.state.objects, &parts_ctx(ctx), key, MAX_DOC).await?;
    Ok(match doc.filter(|d| d.of.describes(info)) {
        Some(d) if !d.parts.is_empty() => (d.parts, true),
        _ => (
            vec![StoredPart {
                number: 1,
                size: info.size,
                checksum: None,
            }],
            false,
        ),
    })
}

/// The `partNumber` of a GetObject/HeadObject, if any: 1 to 10,000.
pub fn requested_part(req: &S3Req) -> Result<Option<u32>, S3Error> {
    let Some(v) = req.param("partNumber") else {
        return Ok(None);
    };
    match v.parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(Some(n)),
        _ => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("partNumber {v:?} is not a number from 1 to 10000"),
        )),
    }
}

/// The byte span `[start, end)` of part `n` of the object whose replica is
/// `info`, and the object's parts count when it is a multipart object
/// (`x-amz-mp-parts-count`). A plain object has one part.
pub async fn part_span(
    req: &S3Req,
    ctx: &Context,
    key: &str,
    info: &ReplicaInfo,
    n: u32,
) -> Result<(u64, u64, Option<usize>), S3Error> {
    let (parts, multipart) = parts_of(req, ctx, key, info).await?;
    let mut start = 0;
    for p in &parts {
        if p.number == n {
            return Ok((start, start + p.size, multipart.then_some(parts.len())));
        }
        start += p.size;
    }
    Err(S3Error::new(
        S3ErrorCode::InvalidPart,
        format!(
            "the object {key:?} has no part {n} ({} part{})",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ),
    ))
}

/// GetObjectAttributes: `GET /B/K?attributes` with `x-amz-object-attributes`
/// naming some of ETag, Checksum, ObjectParts, StorageClass, ObjectSize;
/// ObjectParts paged by `x-amz-max-parts` and `x-amz-part-number-marker`.
pub async fn get_object_attributes(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    let wanted: Vec<String> = req
        .header("x-amz-object-attributes")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let ctx = req.storage_ctx(bucket, false);
    let objects = &req.state.objects;
    let opts = ReadOptions {
        prefetch_from: None,
        recover_rate: None,
    };
    let (object, sidecar) = futures_util::future::join(
        objects.open(ctx.clone(), key, opts),
        meta::read(objects, &ctx, key),
    )
    .await;
    let object = object.map_err(|e| match S3Error::from(e) {
        e if e.code == S3ErrorCode::NoSuchKey => S3Error::new(
            S3ErrorCode::NoSuchKey,
            format!("key {key:?} does not exist in bucket {}", bucket.name),
        ),
        e => e,
    })?;
    let info = object.info().clone();
    drop(object);
    if wanted.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "GetObjectAttributes needs x-amz-object-attributes (ETag, Checksum, ObjectParts, StorageClass, ObjectSize)",
        ));
    }
    if let Some(bad) = wanted.iter().find(|w| {
        ![
            "ETag",
            "Checksum",
            "ObjectParts",
            "StorageClass",
            "ObjectSize",
        ]
        .contains(&w.as_str())
    }) {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-object-attributes names {bad:?}, not an object attribute"),
        ));
    }
    let sidecar = sidecar.filter(|m| m.describes(&info));
    let validators = meta::validators(&info, sidecar.as_ref());
    let has = |a: &str| wanted.iter().any(|w| w == a);
    let mut doc = format!(
        "{}<GetObjectAttributesResponse xmlns=\"{}\">",
        xml::DECL,
        xml::NS
    );
    if has("ETag") {
        let bare = validators.etag.trim_matches('"');
        doc.push_str(&format!("<ETag>{}</ETag>", xml::escape(bare)));
    }
    if has("Checksum") {
        if let Some(c) = sidecar.as_ref().and_then(|m| m.checksum.as_ref()) {
            doc.push_str(&format!(
                "<Checksum>{}</Checksum>",
                crate::s3::sign::checksum::checksum_elements(c, true)
            ));
        }
    }
    if has("ObjectParts") {
        let (parts, multipart) = parts_of(req, &ctx, key, &info).await?;
        if multipart {
            doc.push_str(&object_parts(req, &parts)?);
        }
    }
    if has("StorageClass") {
        doc.push_str("<StorageClass>STANDARD</StorageClass>");
    }
    if has("ObjectSize") {
        doc.push_str(&format!("<ObjectSize>{}</ObjectSize>", info.size));
    }
    doc.push_str("</GetObjectAttributesResponse>");
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .insert_header((ETAG, validators.etag.clone()))
        .insert_header((
            LAST_MODIFIED,
            httpdate::fmt_http_date(validators.last_modified),
        ))
        .body(doc))
}

/// The `<ObjectParts>` element: the page after `x-amz-part-number-marker`
/// of at most `x-amz-max-parts` (default and at most 1,000) parts.
fn object_parts(req: &S3Req, parts: &[StoredPart]) -> Result<String, S3Error> {
    let number = |name: &str, default: usize| -> Result<usize, S3Error> {
        match req.header(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("{name} {v:?} is not a number"),
                )
            }),
        }
    };
    let max = number("x-amz-max-parts", MAX_PARTS)?.min(MAX_PARTS);
    let marker = number("x-amz-part-number-marker", 0)?;
    let after: Vec<&StoredPart> = parts
        .iter()
        .filter(|p| p.number as usize > marker)
        .collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > page.len();
    let mut out = format!(
        "<ObjectParts><PartsCount>{}</PartsCount><PartNumberMarker>{marker}</PartNumberMarker>",
        parts.len()
    );
    if let Some(last) = page.last() {
        out.push_str(&format!(
            "<NextPartNumberMarker>{}</NextPartNumberMarker>",
            last.number
        ));
    }
    out.push_str(&format!(
        "<MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>"
    ));
    for p in page {
        out.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><Size>{}</Size>{}</Part>",
            p.number,
            p.size,
            p.checksum
                .as_ref()
                .map(|c| crate::s3::sign::checksum::checksum_elements(c, false))
                .unwrap_or_default()
        ));
    }
    out.push_str("</ObjectParts>");
    Ok(out)
}
