//! Writing objects: the body streams into every group in chunks, reading the
//! socket while the previous chunk is being written (one write in flight).
//! Memory per upload: the chunk being gathered plus the one being written,
//! `2 * WRITE_CHUNK`, whatever the object size.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::error::ObjectError;
use super::publish::{PublishLocks, Written};
use crate::cluster::Cluster;
use crate::storage::{Context, GroupResult, ObjectWriter, Replicas, Storage, StorageError};

/// Bytes gathered from the socket before one write to the store.
pub const WRITE_CHUNK: usize = 1 << 20;

type Writing = actix_web::rt::task::JoinHandle<Result<Box<dyn ObjectWriter>, StorageError>>;

/// The writer of an upload, idle or busy with a chunk on the blocking pool.
/// Dropped unfinished, the write is aborted on the blocking pool (aborting
/// removes temp files), so nothing half-written stays visible.
struct Pending(Option<State>);

enum State {
    Idle(Box<dyn ObjectWriter>),
    Busy(Writing),
}

impl Pending {
    /// Waits for the chunk in flight; answers the writer.
    async fn ready(&mut self) -> Result<Box<dyn ObjectWriter>, ObjectError> {
        match self.0.take() {
            Some(State::Idle(w)) => Ok(w),
            Some(State::Busy(h)) => h
                .await
                .map_err(|e| ObjectError::Internal(format!("storage task: {e}")))?
                .map_err(ObjectError::from),
            None => Err(ObjectError::Internal("write already finished".into())),
        }
    }

    /// Waits for the write in progress, keeping the writer.
    async fn ready_again(&mut self) -> Result<(), ObjectError> {
        let w = self.ready().await?;
        self.0 = Some(State::Idle(w));
        Ok(())
    }

    /// Starts writing `data` on the blocking pool.
    async fn write(&mut self, data: Bytes) -> Result<(), ObjectError> {
        let mut w = self.ready().await?;
        self.0 = Some(State::Busy(actix_web::rt::task::spawn_blocking(
            move || w.write(&data).map(|_| w),
        )));
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // A busy writer is dropped by its own blocking task once the handle is gone.
        if let Some(State::Idle(w)) = self.0.take() {
            actix_web::rt::task::spawn_blocking(move || drop(w));
        }
    }
}

/// See [`super::Objects::put`].
#[allow(clippy::too_many_arguments)]
pub(super) async fn put<E, S>(
    storage: &Arc<dyn Storage>,
    cluster: &Cluster,
    publish: &PublishLocks,
    ctx: Context,
    key: &str,
    offset: Option<u64>,
    size: u64,
    mut body: S,
) -> Result<Written, E>
where
    E: From<ObjectError>,
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let started = Instant::now();
    let groups = ctx.groups.clone();
    let namespace = ctx.namespace.clone();
    let (st, k) = (storage.clone(), key.to_string());
    let opened = super::pool::blocking(move || st.write(&ctx, &k, offset, size)).await?;
    let mut writer = match opened {
        Ok(w) => Pending(Some(State::Idle(w))),
        Err(e) => {
            // No group took the write: each counts as failed.
            let failed = GroupResult::fail_all(&groups, &e);
            cluster.record_upload(&failed, size, started.elapsed());
            return Err(ObjectError::from(e).into());
        }
    };
    let mut buf = BytesMut::with_capacity(WRITE_CHUNK.min(size as usize));
    let mut received: u64 = 0;
    // Returning early drops `writer`, which aborts the write.
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        received += chunk.len() as u64;
        if received > size {
            return Err(ObjectError::BodyLength { received, size }.into());
        }
        buf.extend_from_slice(&chunk);
        // The last piece waits for the publish lock: on Elliptics the
        // write that ends the record makes it visible.
        if buf.len() >= WRITE_CHUNK && received < size {
            writer.write(buf.split().freeze()).await?;
        }
    }
    if received != size {
        return Err(ObjectError::BodyLength { received, size }.into());
    }
    writer.ready_again().await?;
    let publishing = publish.lock(&namespace, key).await;
    if !buf.is_empty() {
        writer.write(buf.split().freeze()).await?;
    }
    let w = writer.ready().await?;
    let results = super::pool::blocking(move || w.commit()).await?;
    cluster.record_upload(&results, size, started.elapsed());
    results.any_ok().map_err(ObjectError::from)?;
    Ok(Written {
        results,
        publishing,
    })
}
