//! Bucket operations: ListBuckets and GetBucketLocation (HeadBucket is the
//! ACL check alone, done by the router).
//!
//! The folder: these, [`bucket_admin`] (CreateBucket, DeleteBucket) and
//! [`bucket_name`] (the names CreateBucket takes).

pub mod bucket_admin;
pub mod bucket_name;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpResponse;

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::access::{self, Caller};
use crate::s3::{xml, S3Req};

/// `GET /`: the loaded buckets whose ACL names the caller, by name. Bucket
/// metadata keeps no creation time, so every bucket shows the time the
/// proxy loaded its bucket list.
pub async fn list_buckets(req: &S3Req) -> Result<HttpResponse, S3Error> {
    let Caller::User(user) = &req.caller else {
        return Err(S3Error::new(
            S3ErrorCode::AccessDenied,
            "ListBuckets needs a signed request",
        ));
    };
    let buckets: Vec<(String, std::time::SystemTime)> = req
        .snap
        .buckets
        .all()
        .iter()
        .filter(|b| access::lists(&req.caller, b) && crate::s3::admin_bucket::listed(req, b))
        .map(|b| (b.name.clone(), req.snap.loaded))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/xml"))
        .body(xml::list_buckets(user, &buckets)))
}

/// `GET /BUCKET?location`: the configured `proxy.s3-region` (empty, meaning
/// us-east-1, when unset).
pub fn location(req: &S3Req) -> Result<HttpResponse, S3Error> {
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/xml"))
        .body(xml::location(&req.snap.config.proxy.s3_region)))
}
