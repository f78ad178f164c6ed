//! S3 ACLs over Backrunner's, which are per bucket. A bucket is *public*
//! when its ACL lets `*` read without a token (flag 1): then anonymous S3
//! GET/HEAD/ListObjects read it, as `/get/` does. The canned ACL
//! `x-amz-acl: public-read` on CreateBucket and PutBucketAcl sets exactly
//! that `*` entry, `private` removes it; GetBucketAcl and GetObjectAcl
//! answer the effective grants (the owner FULL_CONTROL, AllUsers READ when
//! public). What Backrunner's ACL cannot say is `NotImplemented`, naming
//! why: other canned ACLs, grant headers and bodies, and object ACLs that
//! differ from their bucket's.

use actix_web::{web, HttpResponse};

use crate::bucket::meta::{BucketMeta, ACL_ADMIN, ACL_NO_TOKEN};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::body;
use crate::s3::sign::access::ANONYMOUS;
use crate::s3::xml;
use crate::s3::S3Req;

/// Largest PutBucketAcl/PutObjectAcl body read.
const MAX_BODY: usize = 64 * 1024;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// The canned ACL of a request: `Some(true)` for `public-read`,
/// `Some(false)` for `private`, `None` without `x-amz-acl`.
pub fn canned(req: &S3Req) -> Result<Option<bool>, S3Error> {
    match req.header("x-amz-acl") {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("public-read") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("private") => Ok(Some(false)),
        Some(v) => Err(S3Error::not_implemented(&format!(
            "the canned ACL {v:?} (Backrunner's per-bucket ACL says private or public-read)"
        ))),
    }
}

/// Whether anonymous requests read `bucket`.
pub fn is_public(bucket: &BucketMeta) -> bool {
    bucket.acl.is_empty()
        || bucket
            .acl
            .get(ANONYMOUS)
            .is_some_and(|e| e.flags & ACL_NO_TOKEN != 0)
}

/// Makes `meta` public (a `*` entry with flag 1: read without a token) or
/// private (no `*` entry). An ACL left empty would let everyone do
/// everything, so that is refused.
pub fn set_public(meta: &mut BucketMeta, public: bool) -> Result<(), S3Error> {
    if public {
        meta.grant(ANONYMOUS, "", ACL_NO_TOKEN);
        return Ok(());
    }
    meta.acl.remove(ANONYMOUS);
    if meta.acl.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "bucket {} has no user but *: an empty ACL is open to everyone, so it cannot be made private",
                meta.name
            ),
        ));
    }
    Ok(())
}

/// The owner shown: the bucket's first user with flag 4, else the caller.
fn owner(req: &S3Req, bucket: &BucketMeta) -> String {
    bucket
        .acl
        .values()
        .find(|e| e.flags & ACL_ADMIN != 0 && e.user != ANONYMOUS)
        .map(|e| e.user.clone())
        .or_else(|| req.owner())
        .unwrap_or_else(|| bucket.name.clone())
}

fn policy_doc(req: &S3Req, bucket: &BucketMeta) -> String {
    let owner = xml::escape(&owner(req, bucket));
    let mut doc = format!(
        "{}<AccessControlPolicy xmlns=\"{}\"><Owner><ID>{owner}</ID><DisplayName>{owner}</DisplayName></Owner><AccessControlList>\
         <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{owner}</ID><DisplayName>{owner}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>",
        xml::DECL,
        xml::NS
    );
    if is_public(bucket) {
        doc.push_str(&format!("<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>{ALL_USERS}</URI></Grantee><Permission>READ</Permission></Grant>"));
    }
    doc.push_str("</AccessControlList></AccessControlPolicy>");
    doc
}

fn xml_reply(doc: String) -> HttpResponse {
    HttpResponse::Ok().content_type("application/xml").body(doc)
}

/// GetBucketAcl: `GET /B?acl`.
pub fn get_bucket(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    Ok(xml_reply(policy_doc(req, bucket)))
}

/// GetObjectAcl: `GET /B/K?acl`, the bucket's grants; a missing key is `NoSuchKey`.
pub async fn get_object(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
) -> Result<HttpResponse, S3Error> {
    let ctx = req.storage_ctx(bucket, false);
    crate::s3::tagging_ops::current_meta(req, bucket, &ctx, key).await?;
    Ok(xml_reply(policy_doc(req, bucket)))
}

/// The canned ACL of a PutBucketAcl/PutObjectAcl; grants in headers or in
/// a body are `NotImplemented`.
async fn put_canned(req: &S3Req, payload: web::Payload, what: &str) -> Result<bool, S3Error> {
    if req
        .http
        .headers()
        .keys()
        .any(|k| k.as_str().starts_with("x-amz-grant-"))
    {
        return Err(S3Error::not_implemented(&format!(
            "{what} with x-amz-grant-* headers (Backrunner's per-bucket ACL takes x-amz-acl: private or public-read)"
        )));
    }
    let data = body::read(req, payload, MAX_BODY, what).await?;
    match canned(req)? {
        Some(public) if data.is_empty() => Ok(public),
        _ => Err(S3Error::not_implemented(&format!(
            "{what} with an AccessControlPolicy body (Backrunner's per-bucket ACL takes x-amz-acl: private or public-read)"
        ))),
    }
}

/// PutBucketAcl: `PUT /B?acl` with `x-amz-acl: public-read` or `private`.
/// Needs flag 4 (admin) in the bucket's ACL, as CreateBucket gives its maker.
pub async fn put_bucket(
    req: &S3Req,
    bucket: &BucketMeta,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let admin = match req.owner() {
        Some(u) => bucket.acl.get(&u).is_some_and(|e| e.flags & ACL_ADMIN != 0),
        None => false,
    };
    if !admin {
        return Err(S3Error::new(
            S3ErrorCode::AccessDenied,
            format!(
                "PutBucketAcl needs ACL flag 4 (admin) in bucket {}",
                bucket.name
            ),
        ));
    }
    let public = put_canned(req, payload, "PutBucketAcl").await?;
    let mut meta = bucket.clone();
    set_public(&mut meta, public)?;
    if meta.acl == bucket.acl {
        return Ok(HttpResponse::Ok().finish());
    }
    let storage = req.state.storage.clone();
    let groups = req.snap.config.elliptics.metadata_groups.clone();
    let written = meta.clone();
    web::block(move || crate::bucket::write_meta(storage.as_ref(), &groups, &written))
        .await?
        .map_err(|e| S3Error::new(S3ErrorCode::ServiceUnavailable, e.to_string()))?;
    log::info!(
        "s3: bucket {} made {} by {}",
        meta.name,
        if public { "public-read" } else { "private" },
        req.owner().unwrap_or_default()
    );
    req.snap.buckets.replace(meta.clone());
    let now = req.state.snapshot();
    if !std::sync::Arc::ptr_eq(&now.buckets, &req.snap.buckets) {
        now.buckets.replace(meta);
    }
    Ok(HttpResponse::Ok().finish())
}

/// PutObjectAcl: `PUT /B/K?acl`; only the bucket's own canned ACL is taken
/// (a no-op), another is `NotImplemented`: Backrunner's ACL is per bucket.
pub async fn put_object(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let public = put_canned(req, payload, "PutObjectAcl").await?;
    let ctx = req.storage_ctx(bucket, false);
    crate::s3::tagging_ops::current_meta(req, bucket, &ctx, key).await?;
    if public != is_public(bucket) {
        return Err(S3Error::not_implemented(&format!(
            "an object ACL other than its bucket's (Backrunner's ACL is per bucket; bucket {} is {})",
            bucket.name,
            if is_public(bucket) { "public-read" } else { "private" }
        )));
    }
    Ok(HttpResponse::Ok().finish())
}
