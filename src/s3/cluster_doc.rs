//! Small JSON documents the S3 layer keeps in the cluster beside the
//! objects (multipart upload states, part and upload lists): read whole
//! with a size bound, written in one piece, removed tolerating absence.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::{Download, ObjectError, Objects, Piece, ReadOptions};
use crate::s3::error::S3Error;
use crate::storage::{Context, GroupResult, ReplicaInfo};

/// Reads `key` whole; `None` when it does not exist. Past `limit` bytes it
/// is `InternalError` (a document grew past what it may hold).
pub async fn read_bytes(
    objects: &Objects,
    ctx: &Context,
    key: &str,
    limit: u64,
) -> Result<Option<(ReplicaInfo, Bytes)>, S3Error> {
    let opts = ReadOptions {
        prefetch_from: Some(0),
        recover_rate: None,
    };
    let open = match objects.open(ctx.clone(), key, opts).await {
        Ok(o) => o,
        Err(ObjectError::Storage(e)) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let info = open.info().clone();
    if info.size > limit {
        return Err(S3Error::internal(format!(
            "{}/{key}: {} bytes, more than {limit}",
            ctx.namespace, info.size
        )));
    }
    let bytes = match open.body(vec![Piece::Object {
        start: 0,
        end: info.size,
    }]) {
        Download::Ready(b) => b,
        Download::Stream(mut s) => {
            let mut buf = BytesMut::with_capacity(info.size as usize);
            while let Some(chunk) = s.next().await {
                buf.extend_from_slice(&chunk?);
            }
            buf.freeze()
        }
    };
    Ok(Some((info, bytes)))
}

/// Reads `key` as JSON; `None` when it does not exist. A document that does
/// not parse is `InternalError` naming it.
pub async fn read_json<T: DeserializeOwned>(
    objects: &Objects,
    ctx: &Context,
    key: &str,
    limit: u64,
) -> Result<Option<T>, S3Error> {
    let Some((_, bytes)) = read_bytes(objects, ctx, key, limit).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| S3Error::internal(format!("{}/{key}: {e}", ctx.namespace)))
}

/// Writes `value` as JSON to `key` in every group of `ctx`.
pub async fn write_json<T: Serialize>(
    objects: &Objects,
    ctx: &Context,
    key: &str,
    value: &T,
) -> Result<Vec<GroupResult<ReplicaInfo>>, S3Error> {
    let body = serde_json::to_vec(value)
        .map_err(|e| S3Error::internal(format!("{}/{key}: {e}", ctx.namespace)))?;
    let size = body.len() as u64;
    let stream = futures_util::stream::iter([Ok::<_, S3Error>(Bytes::from(body))]);
    let written = objects
        .put(ctx.clone(), key, None, size, stream, None)
        .await?;
    Ok(written.results)
}

/// Removes `key`; one that is not there is fine.
pub async fn remove(objects: &Objects, ctx: &Context, key: &str) -> Result<(), S3Error> {
    match objects.remove(ctx.clone(), key).await {
        Ok(()) => Ok(()),
        Err(ObjectError::Storage(e)) if e.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}
