//! The proxy core's object path, between HTTP and [`Storage`]: every
//! object operation goes through [`Objects`], which owns the hops onto the
//! blocking pool, the read order from placement, recover-on-read, write
//! cost recording and the rule that an operation fails only when every
//! group failed. Handlers in `src/http` only translate HTTP to these calls.

mod error;
mod indexing;
mod pool;
pub mod publish;
mod read;
mod repair_pass;
mod versions;
mod write;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use error::ObjectError;
pub(crate) use pool::blocking;
use pool::cached_or_blocking;
pub use publish::Written;
pub use read::{Download, OpenObject, Piece, ReadOptions};
pub use repair_pass::PassReport;
pub use write::WRITE_CHUNK;

use crate::bucket::BucketMeta;
use crate::cluster::{self, consistency, tombstone, Cluster};
use crate::config::ProxyConfig;
use crate::index::pending::Change;
use crate::index::Index;
use crate::limits::TooLarge;
use crate::storage::{Context, GroupId, GroupResult, ReplicaInfo, Replicas, Storage, StorageError};

/// The outcome of a lookup: every group's answer and which replicas are stale.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Per-group results, in the bucket's group order.
    pub results: Vec<GroupResult<ReplicaInfo>>,
    /// Groups whose replica is missing or older than the newest one.
    pub out_of_sync: Vec<GroupId>,
}

impl Lookup {
    /// The replicas found.
    pub fn replicas(&self) -> impl Iterator<Item = &ReplicaInfo> {
        self.results.iter().filter_map(|r| r.result.as_ref().ok())
    }
}

/// The index entry of a write: the first replica written (its size is the
/// object's whole size, also after a write at an offset).
fn index_entry(
    key: &str,
    results: &[GroupResult<ReplicaInfo>],
) -> Option<crate::index::shard::Entry> {
    let info = results.iter().find_map(|r| r.result.as_ref().ok())?;
    Some(crate::index::shard::Entry::of_replica(key, info))
}

/// The side namespace (`B/vod`) where the VOD front door keeps each
/// title's sample index, keyed by the title's key.
pub const VOD_INDEX: &str = "vod";

/// Side namespaces of a bucket holding data derived from one of its
/// objects, under the object's key, and recomputed from it when missing:
/// removed with the object, in the background. (S3's sidecar is not: S3
/// requests write and remove it under the key's lock; a late removal here
/// could take a newer object's.)
const DERIVED: &[&str] = &[VOD_INDEX];

/// Adjusts the name index entry of a write once its body is stored.
pub type Describe = Box<dyn FnOnce(&mut crate::index::shard::Entry)>;

/// Objects in buckets, as the HTTP layer (and later APIs) use them.
pub struct Objects {
    storage: Arc<dyn Storage>,
    cluster: Arc<Cluster>,
    index: Option<Arc<Index>>,
    publish: publish::PublishLocks,
}

impl Objects {
    /// The object path over `storage`, placed and measured by `cluster`,
    /// keeping a name index whose shards split past `shard_entries`
    /// entries (`None`: no name index, `proxy.name-index` false).
    pub fn new(
        storage: Arc<dyn Storage>,
        cluster: Arc<Cluster>,
        shard_entries: Option<usize>,
    ) -> Objects {
        let index = shard_entries.map(|n| Arc::new(Index::new(storage.clone(), n)));
        Objects {
            storage,
            cluster,
            index,
            publish: publish::PublishLocks::default(),
        }
    }

    /// The name index every write path here keeps (listings read it),
    /// unless it is turned off.
    pub fn index(&self) -> Option<&Arc<Index>> {
        self.index.as_ref()
    }

    /// The name index, when `ctx` is a bucket namespace and the index is on.
    fn index_of(&self, ctx: &Context) -> Option<Arc<Index>> {
        self.index
            .as_ref()
            .filter(|_| crate::index::is_listed(ctx))
            .cloned()
    }

    /// Recover-on-read of `key` in `groups` of `namespace`.
    fn repair_job(
        &self,
        namespace: &str,
        groups: Vec<GroupId>,
        key: &str,
        rate: u64,
    ) -> cluster::RepairJob {
        cluster::RepairJob {
            storage: self.storage.clone(),
            cluster: self.cluster.clone(),
            namespace: namespace.to_string(),
            groups,
            key: key.to_string(),
            rate,
        }
    }

    /// Runs `f`, a few reads of an object opened here ([`OpenObject::into_reader`]),
    /// on this thread when the store serves them without waiting (from the
    /// page cache), else on the blocking pool; `f` may run twice.
    pub async fn cached_reads<T, F>(&self, f: F) -> Result<T, ObjectError>
    where
        T: Send + 'static,
        F: FnMut() -> T + Send + 'static,
    {
        cached_or_blocking(self.storage.as_ref(), f).await
    }

    /// Opens `key` for reading: the replicas not being defragmented and the
    /// fastest first. One blocking-pool hop (none on a store that answers
    /// reads as futures, nor from the page cache), which also reads the first chunk
    /// when `opts.prefetch_from` says where the body will start; the key's
    /// tombstone is looked up at the same time (another hop, or futures), and a
    /// replica it buries (deleted while its node was away) is never
    /// served: the other groups are read, else the key is not found.
    pub async fn open(
        &self,
        mut ctx: Context,
        key: &str,
        opts: ReadOptions,
    ) -> Result<OpenObject, ObjectError> {
        let groups = ctx.groups.clone();
        ctx.groups = self.cluster.read_order(&groups);
        let prefetch = opts.prefetch_from;
        // Both hops are skipped when the store serves them from memory, and
        // the open's when the store answers the read as a future.
        let open_in = |ctx: Context| {
            let (storage, k) = (self.storage.clone(), key.to_string());
            let s = self.storage.clone();
            async move {
                if let Some(started) = read::open_started(s.as_ref(), &ctx, &k, prefetch) {
                    return started.await;
                }
                cached_or_blocking(s.as_ref(), move || {
                    read::open(storage.as_ref(), &ctx, &k, prefetch)
                })
                .await
            }
        };
        let (open, versions) = if ctx.groups.len() < 2 {
            // One group: nothing to compare, and no hop for it.
            (open_in(ctx.clone()).await, Ok((None, None)))
        } else {
            let versions = async {
                if let Some(started) = versions::started(&self.storage, &ctx, key) {
                    return Ok(started.await);
                }
                let (storage, k, tctx) = (self.storage.clone(), key.to_string(), ctx.clone());
                let s = self.storage.clone();
                cached_or_blocking(s.as_ref(), move || {
                    versions::versions(storage.as_ref(), &tctx, &k)
                })
                .await
            };
            futures_util::future::join(open_in(ctx.clone()), versions).await
        };
        let mut open = open?;
        let (tomb, newest) = versions?;
        let repair = opts
            .recover_rate
            .filter(|_| groups.len() > 1)
            .map(|rate| self.repair_job(&ctx.namespace, groups, key, rate));
        while let Ok(o) = &open {
            let info = o.info();
            let stale = newest
                .as_ref()
                .is_some_and(|n| n.mtime > info.mtime && n.differs_from(info));
            if !tombstone::buries(tomb, info) && !stale {
                break;
            }
            let dead = o.info().group;
            ctx.groups.retain(|&g| g != dead);
            open = if ctx.groups.is_empty() {
                Err(StorageError::not_found("deleted (tombstone)"))
            } else {
                open_in(ctx.clone()).await?
            };
        }
        let mut open = match open {
            Ok(o) => o,
            Err(e) => {
                if let (Some(job), true) = (repair, tomb.is_some()) {
                    job.check_in_background();
                }
                return Err(e.into());
            }
        };
        if let Some(job) = repair {
            open.wrap_reader(|reader| job.clone().repair_corrupt(reader));
            job.check_in_background();
        }
        Ok(open)
    }

    /// Stores `size` bytes read from `body` as `key` in every group of
    /// `ctx`: the whole object, or with `offset` a part of the existing one
    /// (see [`write`] for the pipeline). Answers the per-group results when
    /// at least one group took the object.
    ///
    /// A write to a bucket's namespace is then recorded in its name index
    /// (docs/index.md) with the replica's size, time and ETag, which
    /// `describe` may adjust once the body has been read and stored (S3 sets
    /// its MD5 ETag, owner and Content-Type there).
    pub async fn put<E, S>(
        &self,
        ctx: Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
        body: S,
        describe: Option<Describe>,
    ) -> Result<Written, E>
    where
        E: From<ObjectError>,
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    {
        let nothing = |_: Vec<GroupResult<ReplicaInfo>>| async {};
        let put = self.put_then(ctx, key, offset, size, body, describe, nothing);
        put.await.map(|(written, ())| written)
    }

    /// [`Self::put`], then `then` given the committed write's results, run
    /// while the write's index entry is recorded rather than after it: the
    /// caller's own store of what it keeps about the write (S3's metadata
    /// sidecar), under the key's publish lock like the entry.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_then<E, S, T, F, Fut>(
        &self,
        ctx: Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
        body: S,
        describe: Option<Describe>,
        then: F,
    ) -> Result<(Written, T), E>
    where
        E: From<ObjectError>,
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        F: FnOnce(Vec<GroupResult<ReplicaInfo>>) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let index_ctx = ctx.clone();
        let write = write::put(
            &self.storage,
            &self.cluster,
            &self.publish,
            ctx,
            key,
            offset,
            size,
            body,
        );
        let index = self.index_of(&index_ctx);
        if let (Some(index), None) = (&index, &describe) {
            if !index.pending().waiting(&index_ctx) {
                let put = self.put_with_intent(index.clone(), index_ctx, key, write);
                let written = put.await?;
                let t = then(written.results.clone()).await;
                return Ok((written, t));
            }
        }
        let written = write.await?;
        let entry = index
            .as_ref()
            .and_then(|_| index_entry(key, &written.results));
        let record = async {
            if let (Some(index), Some(mut entry)) = (index, entry) {
                if let Some(describe) = describe {
                    describe(&mut entry);
                }
                let change = vec![(key.to_string(), Change::Put(entry))];
                self.record(index, index_ctx, change, "write", key).await;
            }
        };
        let (_, t) = futures_util::future::join(record, then(written.results.clone())).await;
        Ok((written, t))
    }

    /// Refuses, before any byte is read, an upload of `size` bytes at
    /// `offset` that no group of `bucket` could hold, or that passes
    /// `max_object_size` or the bucket's `max-size` (src/limits.rs).
    pub fn check_upload(
        &self,
        bucket: &BucketMeta,
        offset: Option<u64>,
        size: u64,
        max_object_size: u64,
    ) -> Result<(), TooLarge> {
        let stats = self.cluster.stats();
        crate::limits::check_upload(bucket, offset.unwrap_or(0), size, max_object_size, |g| {
            crate::limits::group_capacity(&stats, g)
        })
        .map(|_| ())
    }

    /// Looks `key` up in every group; fails when every group failed. With
    /// `recover_rate`, stale replicas are repaired in the background.
    pub async fn lookup(
        &self,
        ctx: Context,
        key: &str,
        recover_rate: Option<u64>,
    ) -> Result<Lookup, ObjectError> {
        let (namespace, groups) = (ctx.namespace.clone(), ctx.groups.clone());
        let storage = self.storage.clone();
        let k = key.to_string();
        // Replicas the key's tombstone buries count as missing.
        let (mut results, tomb) = blocking(move || {
            let tomb = tombstone::find(storage.as_ref(), &ctx, &k);
            (storage.lookup(&ctx, &k), tomb)
        })
        .await?;
        let buried = tombstone::bury(tomb, &mut results);
        if let Err(e) = results.any_ok() {
            if let (Some(rate), false) = (recover_rate, buried.is_empty()) {
                self.repair_job(&namespace, groups, key, rate)
                    .check_in_background();
            }
            return Err(e.into());
        }
        let out_of_sync = consistency::out_of_sync_groups(&results);
        if !out_of_sync.is_empty() {
            self.cluster.note_out_of_sync(&namespace, &out_of_sync);
            if let (Some(rate), Some(source)) = (recover_rate, consistency::newest(&results)) {
                self.repair_job(&namespace, groups, key, rate)
                    .recover_in_background(source.clone(), out_of_sync.clone());
            }
        }
        Ok(Lookup {
            results,
            out_of_sync,
        })
    }

    /// The replica a redirect should point at: the cheapest backend's.
    pub fn choose_replica<'a>(&self, lookup: &'a Lookup) -> Option<&'a ReplicaInfo> {
        let replicas: Vec<ReplicaInfo> = lookup.replicas().cloned().collect();
        let stats = self.cluster.stats();
        let best = cluster::choose_replica(&replicas, &stats.backends, |s| self.cluster.cost(s))?;
        lookup.replicas().find(|r| r.group == best.group)
    }

    /// Removes `key` from every group; fails when every group failed.
    /// Its entry leaves the bucket's name index too (also when no group
    /// had the object: the entry was dangling). A removal that a group
    /// missed (down, hung) leaves a tombstone, so the replica that group
    /// keeps never comes back (src/cluster/tombstone.rs).
    pub async fn remove(&self, ctx: Context, key: &str) -> Result<(), ObjectError> {
        let held = self.publishing(&ctx, key).await;
        self.remove_held(ctx, key, &held).await
    }

    /// Waits for `key` to be free of other writes and removals in this
    /// process and holds it: for an API that stores more than the object
    /// (S3's sidecar) and must not interleave with another write of it.
    pub async fn publishing(&self, ctx: &Context, key: &str) -> publish::Publishing {
        self.publish.lock(&ctx.namespace, key).await
    }

    /// [`Objects::remove`] for a caller already holding the key.
    pub async fn remove_held(
        &self,
        ctx: Context,
        key: &str,
        _held: &publish::Publishing,
    ) -> Result<(), ObjectError> {
        let storage = self.storage.clone();
        let k = key.to_string();
        let index_ctx = ctx.clone();
        let results = blocking(move || {
            let results = storage.remove(&ctx, &k);
            if tombstone::needed(&results) && results.any_ok().is_ok() {
                tombstone::write(storage.as_ref(), &ctx, &k);
            }
            results
        })
        .await?;
        let merged = results.any_ok();
        let gone = match &merged {
            Ok(()) => true,
            Err(e) => e.is_not_found(),
        };
        if gone {
            self.remove_derived(&index_ctx, vec![key.to_string()]);
        }
        if let Some(index) = self.index_of(&index_ctx).filter(|_| gone) {
            let change = vec![(key.to_string(), Change::Remove)];
            self.record(index, index_ctx, change, "removal", key).await;
        }
        merged?;
        Ok(())
    }

    /// Removes what [`DERIVED`] keeps of `keys` of a bucket, in the
    /// background (best effort: what is left is found stale by the
    /// object's identity, and only costs space).
    fn remove_derived(&self, ctx: &Context, keys: Vec<String>) {
        if keys.is_empty() || !crate::index::is_listed(ctx) {
            return;
        }
        let (storage, ctx) = (self.storage.clone(), ctx.clone());
        actix_web::rt::spawn(async move {
            let done = blocking(move || {
                for side in DERIVED {
                    let sctx = Context {
                        namespace: format!("{}/{side}", ctx.namespace),
                        ..ctx.clone()
                    };
                    storage.bulk_remove(&sctx, &keys);
                }
            })
            .await;
            if let Err(e) = done {
                log::warn!("derived data not removed: {e}");
            }
        });
    }

    /// Removes `keys`; answers the keys that every group failed to remove.
    pub async fn bulk_remove(
        &self,
        ctx: Context,
        keys: Vec<String>,
    ) -> Result<BTreeMap<String, StorageError>, ObjectError> {
        let storage = self.storage.clone();
        let index_ctx = ctx.clone();
        let (keys, results) = blocking(move || {
            let r = storage.bulk_remove(&ctx, &keys);
            for (key, results) in keys.iter().zip(&r) {
                if tombstone::needed(results) && results.any_ok().is_ok() {
                    tombstone::write(storage.as_ref(), &ctx, key);
                }
            }
            (keys, r)
        })
        .await?;
        let mut failed = BTreeMap::new();
        let mut gone = Vec::new();
        for (key, r) in keys.into_iter().zip(results) {
            match r.any_ok() {
                Ok(()) => gone.push(key),
                Err(e) => {
                    if e.is_not_found() {
                        gone.push(key.clone());
                    }
                    failed.insert(key, e);
                }
            }
        }
        self.remove_derived(&index_ctx, gone.clone());
        if let Some(index) = self.index_of(&index_ctx).filter(|_| !gone.is_empty()) {
            let what = format!("{} keys", gone.len());
            let changes = gone.into_iter().map(|k| (k, Change::Remove)).collect();
            self.record(index, index_ctx, changes, "bulk removal", &what)
                .await;
        }
        Ok(failed)
    }

    /// Picks the bucket of an upload of `size` bytes by the placement model,
    /// from the cached statistics (gathered first if there are none yet).
    pub async fn choose_bucket(
        &self,
        buckets: &[Arc<BucketMeta>],
        size: u64,
        cfg: &ProxyConfig,
    ) -> Result<Arc<BucketMeta>, ObjectError> {
        if self.cluster.stats().time.is_none() {
            let (storage, cluster) = (self.storage.clone(), self.cluster.clone());
            blocking(move || cluster.refresh(storage.as_ref())).await?;
        }
        self.cluster
            .choose_bucket(buckets, size, cfg)
            .map_err(ObjectError::from)
    }
}
