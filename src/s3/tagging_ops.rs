//! Get/Put/DeleteObjectTagging and Get/Put/DeleteBucketTagging.
//!
//! An object's tags live in its metadata sidecar ([`crate::s3::object::meta`]) with
//! the rest of its S3 metadata, so they follow the object as its
//! Content-Type does: a PutObject without `x-amz-tagging` drops them, an
//! object rewritten through `/upload/` has none. A bucket's tags are a
//! small JSON document, key [`BUCKET_TAGS`] in the namespace `B/s3-bucket`
//! (no Backrunner bucket can be named so) in the bucket's groups.

use actix_web::{web, HttpResponse};

use crate::bucket::BucketMeta;
use crate::s3::cluster_doc;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::body;
use crate::s3::object::meta::{self, ObjectMeta};
use crate::s3::object::tagging::{self, Tags, MAX_BUCKET_TAGS, MAX_OBJECT_TAGS};
use crate::s3::S3Req;
use crate::storage::{Context, GroupResult, ReplicaInfo};

/// Largest `<Tagging>` body taken.
const MAX_BODY: usize = 64 * 1024;

/// Key of a bucket's tag set in [`bucket_ctx`].
pub const BUCKET_TAGS: &str = "tagging";

/// The session of a bucket's own S3 documents (namespace `B/s3-bucket`).
pub fn bucket_ctx(ctx: &Context) -> Context {
    let mut c = ctx.clone();
    c.namespace = format!("{}/s3-bucket", ctx.namespace);
    c
}

fn xml_reply(doc: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml").body(doc)
}

/// The S3 metadata of the object `key` as it is now: its sidecar when that
/// describes one of its replicas, else fresh metadata for the newest
/// replica (an object written through `/upload/`). A missing key is
/// `NoSuchKey`.
pub async fn current_meta(
    req: &S3Req,
    bucket: &BucketMeta,
    ctx: &Context,
    key: &str,
) -> Result<ObjectMeta, S3Error> {
    let objects = &req.state.objects;
    let (lookup, sidecar) = futures_util::future::join(
        objects.lookup(ctx.clone(), key, None),
        meta::read(objects, ctx, key),
    )
    .await;
    let lookup = lookup.map_err(|e| match S3Error::from(e) {
        e if e.code == S3ErrorCode::NoSuchKey => S3Error::new(
            S3ErrorCode::NoSuchKey,
            format!("key {key:?} does not exist in bucket {}", bucket.name),
        ),
        e => e,
    })?;
    if let Some(m) = sidecar.filter(|m| lookup.replicas().any(|r| m.describes(r))) {
        return Ok(m);
    }
    let newest = lookup
        .replicas()
        .max_by_key(|r| r.mtime)
        .cloned()
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::NoSuchKey,
                format!("key {key:?} does not exist in bucket {}", bucket.name),
            )
        })?;
    let same: Vec<GroupResult<ReplicaInfo>> = lookup
        .results
        .into_iter()
        .filter(|r| {
            r.result
                .as_ref()
                .is_ok_and(|i| i.size == newest.size && i.mtime == newest.mtime)
        })
        .collect();
    Ok(ObjectMeta::default().stored(newest.size, newest.s3_etag(), &same))
}

/// GetObjectTagging: `GET /B/K?tagging`.
pub async fn get_object(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    let ctx = req.storage_ctx(bucket, false);
    let m = current_meta(req, bucket, &ctx, key).await?;
    Ok(xml_reply(tagging::to_xml(&m.tags)))
}

/// PutObjectTagging: `PUT /B/K?tagging` with a `<Tagging>` body; the tag
/// set replaces the object's.
pub async fn put_object(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let data = body::read(req, payload, MAX_BODY, "PutObjectTagging").await?;
    let tags = tagging::parse_xml(&data, MAX_OBJECT_TAGS)?;
    set_object_tags(req, bucket, key, tags).await?;
    Ok(HttpResponse::Ok().finish())
}

/// DeleteObjectTagging: `DELETE /B/K?tagging`, 204.
pub async fn delete_object(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    set_object_tags(req, bucket, key, Tags::new()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_object_tags(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    tags: Tags,
) -> Result<(), S3Error> {
    let ctx = req.storage_ctx(bucket, true);
    // Read, change and write the sidecar with no write of the object between.
    let _held = req.state.objects.publishing(&ctx, key).await;
    let mut m = current_meta(req, bucket, &ctx, key).await?;
    if m.tags == tags {
        return Ok(());
    }
    m.tags = tags;
    meta::write(&req.state.objects, &ctx, key, &m).await
}

/// GetBucketTagging: `GET /B?tagging`; a bucket without tags is
/// `NoSuchTagSet` (404), as S3 answers.
pub async fn get_bucket(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    let ctx = bucket_ctx(&req.storage_ctx(bucket, false));
    let tags: Option<Tags> =
        cluster_doc::read_json(&req.state.objects, &ctx, BUCKET_TAGS, MAX_BODY as u64).await?;
    match tags {
        Some(t) if !t.is_empty() => Ok(xml_reply(tagging::to_xml(&t))),
        _ => Err(S3Error::new(
            S3ErrorCode::NoSuchTagSet,
            format!("bucket {} has no tag set", bucket.name),
        )),
    }
}

/// PutBucketTagging: `PUT /B?tagging` with a `<Tagging>` body (at most 50 tags).
pub async fn put_bucket(
    req: &S3Req,
    bucket: &BucketMeta,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let data = body::read(req, payload, MAX_BODY, "PutBucketTagging").await?;
    let tags = tagging::parse_xml(&data, MAX_BUCKET_TAGS)?;
    let ctx = bucket_ctx(&req.storage_ctx(bucket, true));
    if tags.is_empty() {
        cluster_doc::remove(&req.state.objects, &ctx, BUCKET_TAGS).await?;
    } else {
        cluster_doc::write_json(&req.state.objects, &ctx, BUCKET_TAGS, &tags).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// DeleteBucketTagging: `DELETE /B?tagging`, 204.
pub async fn delete_bucket(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    let ctx = bucket_ctx(&req.storage_ctx(bucket, true));
    cluster_doc::remove(&req.state.objects, &ctx, BUCKET_TAGS).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Drops the tag set of a bucket being deleted (a bucket made later with
/// its name starts without tags); a failure is logged.
pub async fn forget_bucket(req: &S3Req, bucket: &BucketMeta) {
    let ctx = bucket_ctx(&req.storage_ctx(bucket, true));
    if let Err(e) = cluster_doc::remove(&req.state.objects, &ctx, BUCKET_TAGS).await {
        log::warn!("s3: tags of deleted bucket {}: {e}", bucket.name);
    }
}
