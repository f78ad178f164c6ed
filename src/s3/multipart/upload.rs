//! The one owner of an upload's state: its id, the session of the
//! bucket's uploads namespace (`B/s3-mpu`), the state document kept under
//! the id (key, initiation, initiator, metadata, checksum), and the upload
//! a request names, read and checked to belong to its key. The operations
//! ([`super`]), the lists ([`super::upload_lists`]) and the cleanup
//! ([`super::cleanup`]) take it from here.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::mpu_checksum::UploadChecksum;
use crate::bucket::BucketMeta;
use crate::s3::cluster_doc;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::meta::ObjectMeta;
use crate::s3::S3Req;
use crate::state::AppState;
use crate::storage::Context;

/// Largest upload state document.
const MAX_STATE: u64 = 64 << 10;
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
    /// `x-amz-checksum-algorithm` and `x-amz-checksum-type` given at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<UploadChecksum>,
}

/// Now, in seconds since the epoch (an upload's `initiated`).
pub fn now_secs() -> u64 {
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

/// The upload a request names (`uploadId`), as stored in the cluster.
pub struct OpenUpload {
    /// The upload id, lower case.
    pub id: String,
    /// The session of the bucket's uploads namespace ([`uploads_ctx`]).
    pub uctx: Context,
    /// Its state, checked to belong to the request's key.
    pub state: UploadState,
}

/// Reads the upload the request's `uploadId` names, of `key` in `bucket`
/// (`NoSuchUpload` when there is none); `write` as [`S3Req::storage_ctx`].
pub async fn open_upload(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    write: bool,
) -> Result<OpenUpload, S3Error> {
    let id = upload_id(req)?;
    let uctx = uploads_ctx(&req.storage_ctx(bucket, write));
    let state = read_state(&req.state, &uctx, &id, key).await?;
    Ok(OpenUpload { id, uctx, state })
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
