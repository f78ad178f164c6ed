//! The admin bucket (`proxy.s3-admin-bucket`) holds the S3 user registry in
//! its ACL. Only admins (ACL flag 4 there) see it in ListBuckets and may
//! read or write it through S3; to everyone else it is `AccessDenied`,
//! whatever flags its ACL gives them (a user needs to be in its ACL to be
//! known at all, so read rights there are the norm, not a grant).

use crate::bucket::meta::{BucketMeta, ACL_ADMIN};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::access::Caller;
use crate::s3::S3Req;

/// Whether `caller` has flag 4 in the admin bucket (loaded and cached
/// before any request is authenticated).
fn is_admin(req: &S3Req) -> bool {
    let admin = &req.snap.config.proxy.s3_admin_bucket;
    let Caller::User(user) = &req.caller else {
        return false;
    };
    req.snap
        .buckets
        .cached(admin)
        .and_then(|b| b.acl.get(user).map(|e| e.flags & ACL_ADMIN != 0))
        .unwrap_or(false)
}

/// Whether `bucket` is the admin bucket.
fn is_admin_bucket(req: &S3Req, bucket: &str) -> bool {
    let admin = &req.snap.config.proxy.s3_admin_bucket;
    !admin.is_empty() && admin == bucket
}

/// Whether ListBuckets shows `bucket` to the caller.
pub fn listed(req: &S3Req, bucket: &BucketMeta) -> bool {
    !is_admin_bucket(req, &bucket.name) || is_admin(req)
}

/// Refuses a request to the admin bucket from anyone but an admin.
pub fn guard(req: &S3Req, bucket: &BucketMeta) -> Result<(), S3Error> {
    if is_admin_bucket(req, &bucket.name) && !is_admin(req) {
        return Err(S3Error::new(
            S3ErrorCode::AccessDenied,
            format!(
                "bucket {} is proxy.s3-admin-bucket: only its users with ACL flag 4 (admin) reach it through S3",
                bucket.name
            ),
        ));
    }
    Ok(())
}
