//! Conditional writes: `If-None-Match: *` (write only if the key does not
//! exist) and `If-Match: "etag"` (only if the object is that version) on
//! PutObject and CompleteMultipartUpload, and the validators of an existing
//! object that they, and CopyObject's `x-amz-copy-source-if-*`, compare.
//!
//! The check reads the object's current state before the write starts; it
//! is not atomic with the write (the store has no conditional streaming
//! write), so two writers racing through the window both pass (docs/s3.md).

use crate::core::{ObjectError, OpenObject, ReadOptions};
use crate::http::conditional::{self, Outcome, Preconditions, Validators};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::meta::{self, ObjectMeta};
use crate::s3::S3Req;
use crate::storage::{Context, ReplicaInfo};

/// An existing object: the replica opened, its sidecar when it describes
/// that replica, and the validators S3 answers for it.
pub struct Current {
    /// The open object (no byte read yet unless `prefetch` asked).
    pub object: OpenObject,
    /// Its S3 metadata, when the sidecar matches the replica.
    pub sidecar: Option<ObjectMeta>,
    /// ETag and Last-Modified.
    pub validators: Validators,
}

impl Current {
    /// The replica opened.
    pub fn info(&self) -> &ReplicaInfo {
        self.object.info()
    }
}

/// Opens `key` with its sidecar (read concurrently); `None` when the key
/// does not exist. `prefetch` reads the first chunk in the same hop.
pub async fn current(
    req: &S3Req,
    ctx: &Context,
    key: &str,
    prefetch: bool,
) -> Result<Option<Current>, S3Error> {
    let objects = &req.state.objects;
    let opts = ReadOptions {
        prefetch_from: prefetch.then_some(0),
        recover_rate: None,
    };
    let (object, sidecar) = futures_util::future::join(
        objects.open(ctx.clone(), key, opts),
        meta::read(objects, ctx, key),
    )
    .await;
    let object = match object {
        Ok(o) => o,
        Err(ObjectError::Storage(e)) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let info = object.info().clone();
    let sidecar = sidecar.filter(|m| m.describes(&info));
    let validators = meta::validators(&info, sidecar.as_ref());
    Ok(Some(Current {
        object,
        sidecar,
        validators,
    }))
}

/// Checks `If-None-Match` and `If-Match` of a write of `key`: 412
/// `PreconditionFailed` when the key exists and `If-None-Match: *` (or a
/// listed ETag matches), or `If-Match` names another ETag; `If-Match` on a
/// key that does not exist is `NoSuchKey`, as S3 answers.
pub async fn check(req: &S3Req, ctx: &Context, key: &str) -> Result<(), S3Error> {
    let pre = Preconditions {
        if_match: req.header("if-match"),
        if_none_match: req.header("if-none-match"),
        ..Default::default()
    };
    if pre.if_match.is_none() && pre.if_none_match.is_none() {
        return Ok(());
    }
    let Some(cur) = current(req, ctx, key, false).await? else {
        if pre.if_match.is_some() {
            return Err(S3Error::new(
                S3ErrorCode::NoSuchKey,
                format!("If-Match: key {key:?} does not exist"),
            ));
        }
        return Ok(());
    };
    match conditional::evaluate(&pre, &cur.validators, false) {
        Outcome::Proceed => Ok(()),
        Outcome::NotModified | Outcome::Failed(_) => Err(S3Error::new(
            S3ErrorCode::PreconditionFailed,
            format!(
                "{} does not hold: key {key:?} exists with ETag {}",
                if pre.if_match.is_some() {
                    "If-Match"
                } else {
                    "If-None-Match"
                },
                cur.validators.etag
            ),
        )),
    }
}
