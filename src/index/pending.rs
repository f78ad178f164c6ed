//! Index changes waiting for the primary: an object write or removal whose
//! index update failed (the bucket's first group down or hung) is kept
//! here, and the proxy replays it every second until the primary takes it
//! (docs/index.md, "When the primary is away"). While a bucket has changes
//! waiting, its new changes queue behind them, so a key's changes land in
//! the order they were made; a key keeps only its last change.
//!
//! Each change queued here is also in the bucket's journal in the cluster
//! (src/index/journal.rs, written by the caller before it acknowledges),
//! so a proxy stopped while its primary is away loses nothing: any proxy
//! replays the journal. A replay answers the changes it is done with, for
//! the caller to clear from the journal too.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use parking_lot::Mutex;

use super::shard::Entry;
use crate::cluster::tombstone;
use crate::storage::{Context, Storage, StorageError};

/// What a replay needs of the name index (the index implements it; the
/// queue lives in the index, so it names no index type).
pub trait Apply: Sync {
    /// Records `entry` in `bucket`'s index.
    fn put(&self, bucket: &Context, entry: &Entry) -> Result<(), StorageError>;
    /// Removes `keys` from `bucket`'s index.
    fn remove(&self, bucket: &Context, keys: &[String]) -> Result<usize, StorageError>;
    /// Counts an index update that failed for good.
    fn note_failure(&self);
}

/// One waiting change of a key.
#[derive(Debug, Clone)]
pub enum Change {
    /// Upsert this entry.
    Put(Entry),
    /// Drop the key's entry.
    Remove,
}

/// The changes of one bucket.
struct Bucket {
    ctx: Context,
    /// Key → (sequence number, change).
    changes: BTreeMap<String, (u64, Change)>,
    /// When the first change began to wait.
    since: Instant,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Changes written to the index.
    pub applied: usize,
    /// The changes done with (written, or superseded), by bucket: key and
    /// sequence number.
    pub done: Vec<(Context, Vec<(String, u64)>)>,
}

/// A waiting change: key, sequence number, change.
type Waiting = (String, u64, Change);

/// Changes waiting, per bucket namespace.
pub struct Pending {
    buckets: Mutex<HashMap<String, Bucket>>,
    /// The next sequence number: it names a change in the journal too, so
    /// it starts at random (proxies do not collide).
    seq: std::sync::atomic::AtomicU64,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            buckets: Mutex::default(),
            seq: std::sync::atomic::AtomicU64::new(rand::random::<u64>() >> 1),
        }
    }
}

impl Pending {
    /// Whether `bucket` has changes waiting (new ones must queue behind).
    pub fn waiting(&self, bucket: &Context) -> bool {
        self.buckets.lock().contains_key(&bucket.namespace)
    }

    /// Changes waiting, all buckets; and since when the oldest waits.
    pub fn len(&self) -> (usize, Option<Instant>) {
        let b = self.buckets.lock();
        let n = b.values().map(|b| b.changes.len()).sum();
        (n, b.values().map(|b| b.since).min())
    }

    /// Queues `change` of `key` in `bucket`, replacing an older one;
    /// answers its sequence number (its journal record's nonce).
    pub fn push(&self, bucket: &Context, key: &str, change: Change) -> u64 {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut b = self.buckets.lock();
        let entry = b.entry(bucket.namespace.clone()).or_insert_with(|| Bucket {
            ctx: bucket.clone(),
            changes: BTreeMap::new(),
            since: Instant::now(),
        });
        entry.changes.insert(key.to_string(), (seq, change));
        seq
    }

    /// Applies the waiting changes through `index`, bucket by bucket;
    /// stops a bucket at its first failure (its primary is still away).
    /// Each change is first checked against the object in `storage` (see
    /// [`current`]). Answers how many were applied, and every change done
    /// with (applied or superseded) by bucket: (key, sequence number).
    /// Blocking.
    pub fn replay(&self, index: &dyn Apply, storage: &dyn Storage) -> Replayed {
        let work: Vec<(String, Context, Vec<Waiting>)> = self
            .buckets
            .lock()
            .iter()
            .map(|(ns, b)| {
                let changes = b
                    .changes
                    .iter()
                    .map(|(k, (seq, c))| (k.clone(), *seq, c.clone()))
                    .collect();
                (ns.clone(), b.ctx.clone(), changes)
            })
            .collect();
        let mut out = Replayed::default();
        for (ns, ctx, changes) in work {
            let a = apply(index, storage, &ctx, changes);
            out.applied += a.applied;
            self.forget(&ns, &a.done);
            if let Some(e) = a.failed {
                log::warn!("name index of {ns}: waiting changes not replayed yet: {e}");
            }
            if !a.done.is_empty() {
                out.done.push((ctx, a.done));
            }
        }
        out
    }

    /// Drops the changes `done` of bucket `ns` (key, sequence number); a
    /// newer change of the key, queued meanwhile, stays.
    fn forget(&self, ns: &str, done: &[(String, u64)]) {
        let mut b = self.buckets.lock();
        if let Some(bucket) = b.get_mut(ns) {
            for (key, seq) in done {
                if bucket.changes.get(key).is_some_and(|(s, _)| s == seq) {
                    bucket.changes.remove(key);
                }
            }
            if bucket.changes.is_empty() {
                b.remove(ns);
            }
        }
    }
}

/// What [`apply`] did with some changes of one bucket.
pub(super) struct Applied {
    /// Changes written to the index.
    pub applied: usize,
    /// Changes done with, written or superseded: key, sequence number.
    pub done: Vec<(String, u64)>,
    /// The update that stopped the rest (a group unreachable).
    pub failed: Option<StorageError>,
}

/// Writes `changes` of bucket `ctx` through `index`, each first checked
/// against its object ([`current`]): removals first, then puts several
/// at once (concurrent puts share shard updates, the index's group
/// commit). Stops at the first update that finds a group unreachable;
/// a change whose object cannot be looked up now stays undone. Blocking.
pub(super) fn apply(
    index: &dyn Apply,
    storage: &dyn Storage,
    ctx: &Context,
    changes: Vec<Waiting>,
) -> Applied {
    let ns = &ctx.namespace;
    let mut out = Applied {
        applied: 0,
        done: Vec::new(),
        failed: None,
    };
    let (mut removes, mut puts) = (Vec::new(), Vec::new());
    for (key, seq, change) in changes {
        match current(storage, ctx, &key, change) {
            Some(Some(Change::Remove)) => removes.push((key, seq)),
            Some(Some(c)) => puts.push((key, seq, c)),
            // Superseded: done, nothing to write.
            Some(None) => out.done.push((key, seq)),
            // The object cannot be looked up now: later.
            None => {}
        }
    }
    if !removes.is_empty() {
        let keys: Vec<String> = removes.iter().map(|(k, _)| k.clone()).collect();
        let r = index.remove(ctx, &keys).map(|_| ());
        if let Err(e) = settled(index, ns, "removals", r) {
            out.failed = Some(e);
            return out;
        }
        out.applied += removes.len();
        out.done.extend(removes);
    }
    let (ok, err) = put_all(index, ns, ctx, puts);
    out.applied += ok.len();
    out.done.extend(ok);
    out.failed = err;
    out
}

/// What a waiting change of `key` should write now: a client's next
/// request may have gone through another proxy, whose change of the key
/// is newer and may already be in the index. The object decides: a put
/// whose object was written again since is superseded, one whose object
/// is gone (deleted, or buried by its tombstone) becomes a removal; a
/// removal of a key written again since is superseded. `Some(None)`:
/// nothing to write; `None`: the object cannot be looked up now (no group
/// answered for it: one out of reach may hold the only replica, as when
/// the write that queued the change missed the primary).
fn current(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    change: Change,
) -> Option<Option<Change>> {
    let newest = tombstone::newest_live(storage, ctx, key)
        .ok()?
        .map(|n| u64::try_from(crate::time::since_epoch(n.mtime).as_nanos()).unwrap_or(u64::MAX));
    Some(match (change, newest) {
        (Change::Remove, None) => Some(Change::Remove),
        (Change::Remove, Some(_)) => None,
        (Change::Put(_), None) => Some(Change::Remove),
        (Change::Put(e), Some(t)) if t > e.mtime_ns => None,
        (put, Some(_)) => Some(put),
    })
}

/// An update's outcome for the queue: an error other than an unreachable
/// group (a refusal, a damaged shard) will not go away by waiting: it is
/// logged, counted as an index failure and the change dropped.
fn settled(
    index: &dyn Apply,
    ns: &str,
    what: &str,
    r: Result<(), StorageError>,
) -> Result<(), StorageError> {
    match r {
        Err(e) if !e.is_unreachable() => {
            index.note_failure();
            log::error!("name index of {ns}: waiting change of {what:?} dropped: {e}");
            Ok(())
        }
        r => r,
    }
}

/// Threads of a replay.
const REPLAY_THREADS: usize = 8;

/// Applies `puts` on [`REPLAY_THREADS`] threads; answers the keys applied
/// and an error, if one thread met one (it stopped there).
fn put_all(
    index: &dyn Apply,
    ns: &str,
    ctx: &Context,
    puts: Vec<Waiting>,
) -> (Vec<(String, u64)>, Option<StorageError>) {
    let work = Mutex::new(puts.into_iter());
    let done = Mutex::new(Vec::new());
    let failed = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..REPLAY_THREADS {
            s.spawn(|| loop {
                if failed.lock().is_some() {
                    return;
                }
                let Some((key, seq, change)) = work.lock().next() else {
                    return;
                };
                let Change::Put(entry) = change else { continue };
                match settled(index, ns, &key, index.put(ctx, &entry)) {
                    Ok(()) => done.lock().push((key, seq)),
                    Err(e) => {
                        failed.lock().get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    (done.into_inner(), failed.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LocalConfig, LocalGroupConfig};
    use crate::index::Index;
    use crate::storage::local::LocalStore;
    use crate::storage::write_small;
    use std::sync::Arc;

    #[test]
    fn replays_what_still_holds_and_skips_what_was_superseded() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Storage> = Arc::new(
            LocalStore::open(&LocalConfig {
                path: dir.path().to_path_buf(),
                groups: (1..=2)
                    .map(|group| LocalGroupConfig {
                        group,
                        ..Default::default()
                    })
                    .collect(),
            })
            .unwrap(),
        );
        let index = Index::new(store.clone(), 16);
        let ctx = Context::new("b", vec![1, 2]);
        let put = |key: &str| {
            let r = write_small(store.as_ref(), &ctx, key, b"x").unwrap();
            let info = r[0].result.clone().unwrap();
            Change::Put(Entry::of_replica(key, &info))
        };
        let p = Pending::default();
        assert!(!p.waiting(&ctx));
        // Still true: the object is as written.
        p.push(&ctx, "kept", put("kept"));
        // Written again since: superseded.
        let old = put("rewritten");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let _ = put("rewritten");
        p.push(&ctx, "rewritten", old);
        // Removed, then written again: the removal is superseded.
        let _ = put("back");
        p.push(&ctx, "back", Change::Remove);
        // A key's last change replaces the earlier one.
        p.push(&ctx, "gone", put("gone"));
        store.remove(&ctx, "gone");
        p.push(&ctx, "gone", Change::Remove);
        assert!(p.waiting(&ctx));
        assert_eq!(p.len().0, 4);
        // "kept" put and "gone" removed; the other two superseded.
        let r = p.replay(&index, store.as_ref());
        assert_eq!(r.applied, 2);
        // All four are done with: two applied, two superseded.
        assert_eq!(r.done.iter().map(|(_, d)| d.len()).sum::<usize>(), 4);
        assert_eq!(p.len().0, 0);
        assert!(!p.waiting(&ctx));
        assert!(!index.is_empty(&ctx).unwrap());
    }
}
