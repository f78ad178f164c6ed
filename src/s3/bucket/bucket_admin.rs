//! CreateBucket and DeleteBucket. Both need ACL flag 4 (admin) in the ACL
//! of `proxy.s3-admin-bucket`, the bucket where S3 users are declared. A new
//! bucket is Backrunner bucket metadata (the MessagePack `bmeta` writes) in
//! the metadata groups, with the creator's full rights, on the groups of
//! `proxy.s3-default-groups` or those placement picks, and joins the bucket
//! list held in the cluster (`elliptics.bucket-list-key`), so every proxy's
//! next reload serves it ([`crate::bucket::cluster_list`]).

use std::sync::Arc;

use actix_web::http::header::LOCATION;
use actix_web::{web, HttpResponse};

use crate::bucket::meta::{AclEntry, ACL_ADMIN, ACL_WRITE};
use crate::bucket::{cluster_list, BucketError, BucketMeta};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::request::load_bucket;
use crate::s3::sign::access::Caller;
use crate::s3::{bucket::bucket_name, object::body, object::xml_body, S3Req};

/// Largest CreateBucketConfiguration body.
const MAX_CONFIG_BODY: usize = 64 << 10;

/// The caller's entry in the admin bucket's ACL, which must carry flag 4.
async fn admin_entry(req: &S3Req, what: &str) -> Result<AclEntry, S3Error> {
    let denied = |why: String| S3Error::new(S3ErrorCode::AccessDenied, why);
    let Caller::User(user) = &req.caller else {
        return Err(denied(format!("{what} needs a signed request")));
    };
    let admin = &req.snap.config.proxy.s3_admin_bucket;
    if admin.is_empty() {
        return Err(denied(format!(
            "{what} is off: proxy.s3-admin-bucket is not set"
        )));
    }
    let bucket = load_bucket(&req.snap, admin).await.map_err(|e| {
        S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            format!(
                "the admin bucket proxy.s3-admin-bucket = {admin:?}: {}",
                e.message
            ),
        )
    })?;
    match bucket.acl.get(user) {
        Some(e) if e.flags & ACL_ADMIN != 0 => Ok(e.clone()),
        _ => Err(denied(format!(
            "{what} needs ACL flag 4 (admin) for user {user} in the admin bucket {admin}"
        ))),
    }
}

fn check_list_key(req: &S3Req, what: &str) -> Result<(), S3Error> {
    cluster_list::check_list_key(&req.snap.config)
        .map_err(|e| S3Error::new(S3ErrorCode::NotImplemented, format!("{what}: {e}")))
}

/// The groups of a new bucket: `proxy.s3-default-groups`, else the groups
/// of the listed bucket placement picks for an upload (free space and
/// write cost, as `/nobucket_upload/` picks).
async fn new_groups(req: &S3Req) -> Result<Vec<u32>, S3Error> {
    let proxy = &req.snap.config.proxy;
    if !proxy.s3_default_groups.is_empty() {
        return Ok(proxy.s3_default_groups.clone());
    }
    let listed = req.snap.buckets.listed();
    if listed.is_empty() {
        return Err(S3Error::new(
            S3ErrorCode::ServiceUnavailable,
            "no groups for a new bucket: set proxy.s3-default-groups or list a bucket",
        ));
    }
    let chosen = req.state.objects.choose_bucket(&listed, 0, proxy).await?;
    Ok(chosen.groups.clone())
}

/// `PUT /BUCKET`: CreateBucket. An existing bucket the caller may write in
/// (its ACL gives the caller flag 2, or it has an empty ACL) answers 200 in
/// us-east-1 (also when `s3-region` is unset) and 409
/// `BucketAlreadyOwnedByYou` elsewhere, as S3; someone else's answers 409
/// `BucketAlreadyExists`.
pub async fn create(
    req: &S3Req,
    name: &str,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let what = "CreateBucket";
    let entry = admin_entry(req, what).await?;
    let config = req.snap.config.clone();
    bucket_name::check_new(name, &crate::bucket::reserved_keys(&config.elliptics))?;
    check_list_key(req, what)?;
    let data = body::read(req, payload, MAX_CONFIG_BODY, what).await?;
    if !data.iter().all(u8::is_ascii_whitespace) {
        if let Some(location) = xml_body::parse_create_bucket(&data)? {
            let region = &config.proxy.s3_region;
            let ours = if region.is_empty() {
                "us-east-1"
            } else {
                region
            };
            if !region.is_empty() && location != *region {
                return Err(S3Error::new(
                    S3ErrorCode::IllegalLocationConstraintException,
                    format!(
                        "LocationConstraint {location:?} is not this endpoint's region {ours:?}"
                    ),
                ));
            }
        }
    }
    let buckets = req.snap.buckets.clone();
    let lookup = name.to_string();
    match web::block(move || buckets.get(&lookup)).await? {
        Ok(existing) => {
            let mine = existing.acl.is_empty()
                || existing
                    .acl
                    .get(&entry.user)
                    .is_some_and(|e| e.flags & ACL_WRITE != 0);
            if !mine {
                return Err(S3Error::new(
                    S3ErrorCode::BucketAlreadyExists,
                    format!("bucket {name} exists and belongs to others"),
                ));
            }
            // As S3: us-east-1 answers an owner's re-create with 200 (and
            // changes nothing), every other region with 409.
            let region = config.proxy.s3_region.as_str();
            if region.is_empty() || region == "us-east-1" {
                return Ok(HttpResponse::Ok()
                    .insert_header((LOCATION, format!("/{name}")))
                    .finish());
            }
            return Err(S3Error::new(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                format!("bucket {name} exists and is yours"),
            ));
        }
        Err(BucketError::Unknown(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let groups = new_groups(req).await?;
    let mut meta = BucketMeta {
        version: 1,
        name: name.to_string(),
        groups,
        ..Default::default()
    };
    meta.grant(&entry.user, &entry.token, ACL_WRITE | ACL_ADMIN);
    if let Some(public) = crate::s3::acl::canned(req)? {
        crate::s3::acl::set_public(&mut meta, public)?;
    }
    let storage = req.state.storage.clone();
    let seed = req.snap.buckets.list();
    let written = meta.clone();
    web::block(move || cluster_list::create(storage.as_ref(), &config, &written, &seed))
        .await?
        .map_err(|e| match e {
            cluster_list::CreateError::Exists(_) => S3Error::new(
                S3ErrorCode::BucketAlreadyExists,
                format!("bucket {name} was created by another request meanwhile"),
            ),
            cluster_list::CreateError::Failed(why) => {
                S3Error::new(S3ErrorCode::ServiceUnavailable, why.to_string())
            }
        })?;
    log::info!(
        "s3: user {} created bucket {name} on groups {:?}",
        entry.user,
        meta.groups
    );
    register(req, |b| {
        b.add_listed(meta.clone());
    });
    Ok(HttpResponse::Ok()
        .insert_header((LOCATION, format!("/{name}")))
        .finish())
}

/// Applies a registry change to the request's snapshot and to the current
/// one (a reload may have swapped it in after it read the old list).
fn register(req: &S3Req, f: impl Fn(&crate::bucket::Buckets)) {
    f(&req.snap.buckets);
    let now = req.state.snapshot();
    if !Arc::ptr_eq(&now.buckets, &req.snap.buckets) {
        f(&now.buckets);
    }
}

/// Whether the bucket lists no object in its name index (docs/index.md):
/// the first entry found, if any, answers. Objects the index does not know
/// (written before it, or by other Elliptics clients) are not seen.
async fn is_empty(req: &S3Req, bucket: &BucketMeta) -> Result<bool, S3Error> {
    let ctx = req.storage_ctx(bucket, false);
    let index = crate::s3::list::name_index(req, "DeleteBucket")?;
    Ok(crate::core::blocking(move || index.is_empty(&ctx)).await??)
}

/// `DELETE /BUCKET`: DeleteBucket, of an empty bucket only
/// (`BucketNotEmpty`). The router has checked the caller's write right in
/// the bucket; the admin flag is checked here. The admin bucket itself is
/// not deleted through S3 (that would lock the S3 admins out).
pub async fn delete(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    let what = "DeleteBucket";
    let entry = admin_entry(req, what).await?;
    check_list_key(req, what)?;
    let config = req.snap.config.clone();
    if bucket.name == config.proxy.s3_admin_bucket {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "bucket {} is proxy.s3-admin-bucket: it is not deleted through S3",
                bucket.name
            ),
        ));
    }
    if !is_empty(req, bucket).await? {
        return Err(S3Error::new(
            S3ErrorCode::BucketNotEmpty,
            format!("bucket {} is not empty", bucket.name),
        ));
    }
    let storage = req.state.storage.clone();
    let seed = req.snap.buckets.list();
    let name = bucket.name.clone();
    web::block(move || cluster_list::delete(storage.as_ref(), &config, &name, &seed))
        .await?
        .map_err(|e| S3Error::new(S3ErrorCode::ServiceUnavailable, e.to_string()))?;
    crate::s3::tagging_ops::forget_bucket(req, bucket).await;
    log::info!("s3: user {} deleted bucket {}", entry.user, bucket.name);
    register(req, |b| b.forget(&bucket.name));
    Ok(HttpResponse::NoContent().finish())
}
