//! The per-bucket name index, held in the cluster (docs/index.md):
//! Elliptics hashes keys and cannot enumerate them, so every write path
//! records `key → size, mtime, ETag` here, and listings read it.
//!
//! Bucket B's index lives in namespace `B/index`, in B's groups: a root
//! object (`root`: each shard's lower bound and id) and shards
//! (`shard-<id>`: sorted entries of the keys in `[lower, upper)` and a link
//! to the next shard). Every change is a compare-and-swap of one shard
//! ([`crate::storage::cas::update`]), so writers through any number of
//! proxies never lose an entry. A shard over `shard_entries` entries splits:
//! its upper half moves to a new shard written first, the old one shrinks
//! and links to it in the same compare-and-swap, then the root learns the
//! new shard. A stale root (another proxy's split) only costs a hop along
//! the links. Nothing of the index is kept in proxy memory but a
//! few-seconds cache of roots, which is a routing hint only.
//!
//! Files: [`shard`] (entries, shards, root, encoding, split), [`page`]
//! (one listing page over any ordered source), here the store operations
//! and the [`Scanner`] that reads shard by shard.

mod apply;
pub mod batch;
pub mod check;
pub mod intents;
pub mod journal;
mod log_objects;
pub mod logs;
mod overlay;
pub mod page;
pub mod pending;
mod scan;
pub mod shard;
mod stats;

pub use overlay::Listing;
pub use scan::Scanner;
pub use shard::index_ctx;
pub use shard::now_ns;
use stats::Counters;
pub use stats::IndexStats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use self::batch::{Batches, Op, Outcome, ShardId};
use self::page::{EntrySource, Start};
use self::shard::{decode_root, decode_shard, encode, Entry, Root, Route, Shard};
use crate::storage::cas::{self, Change, Retry, UpdateCost};
use crate::storage::{Context, Storage, StorageError};

/// Entries a shard holds before it splits, unless configured
/// (`proxy.index-shard-entries`).
pub const DEFAULT_SHARD_ENTRIES: usize = crate::config::DEFAULT_INDEX_SHARD_ENTRIES;
/// The largest index object read or written (a shard of long keys with
/// their metadata stays far below).
const OBJECT_LIMIT: u64 = 16 << 20;
/// How long a root read stays a routing hint.
const ROOT_TTL: Duration = Duration::from_secs(5);
/// Shards whose last written copy an index remembers, to update them
/// without reading them first (at most about 16 KiB each with the default bound).
const KNOWN_SHARDS: usize = 64;
/// How long a shard another writer changed is read before each update
/// instead of trusted from memory.
const CONTENDED: Duration = Duration::from_secs(10);
/// Links followed before an update gives up (a damaged chain).
const MAX_HOPS: usize = 10_000;
const ROOT_KEY: &str = "root";

/// Removal markers older than this are dropped from a shard being written.
fn marker_horizon() -> u64 {
    now_ns().saturating_sub(shard::MARKER_TTL.as_nanos() as u64)
}

/// The key of shard `id`.
pub fn shard_key(id: u64) -> String {
    format!("shard-{id:016x}")
}

/// Whether objects of this context are listed: bucket namespaces are;
/// `B/s3`, `B/index` and other side namespaces (with a `/`) are not.
pub fn is_listed(ctx: &Context) -> bool {
    !ctx.namespace.is_empty() && !ctx.namespace.contains('/')
}

fn corrupt(ctx: &Context, what: String) -> StorageError {
    StorageError::new(-libc::EILSEQ, format!("index {}: {what}", ctx.namespace))
}

/// The name index over a store.
pub struct Index {
    storage: Arc<dyn Storage>,
    shard_entries: usize,
    roots: Mutex<HashMap<String, (Instant, Arc<Root>)>>,
    batches: Batches,
    known: Mutex<HashMap<ShardId, Known>>,
    counters: Counters,
    pending: pending::Pending,
    logs: logs::Logs,
}

/// What an index remembers of a shard it updated.
enum Known {
    /// The primary's copy as this index last wrote it.
    Copy(cas::Stored),
    /// Another writer changed it lately: read it first until then.
    Contended(Instant),
}

/// Where an update of one shard ended: the key is past it (go to the
/// next shard), or the update ran there and answered `T`.
enum Step<T> {
    Hop(Option<u64>),
    Done(T),
}

impl Index {
    /// The index over `storage`, splitting shards past `shard_entries` (at least 4).
    pub fn new(storage: Arc<dyn Storage>, shard_entries: usize) -> Index {
        Index {
            storage,
            shard_entries: shard_entries.max(4),
            roots: Mutex::new(HashMap::new()),
            batches: Batches::default(),
            known: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            pending: pending::Pending::default(),
            logs: logs::Logs::new(shard_entries),
        }
    }

    /// This proxy's logs of changes (src/index/logs.rs).
    pub fn logs(&self) -> &logs::Logs {
        &self.logs
    }

    /// Records `records` in this proxy's log of `bucket` (the shards get
    /// them within about a second); returns once a group holds them.
    pub fn log(&self, bucket: &Context, records: Vec<logs::Record>) -> Result<(), StorageError> {
        self.logs.append(self.storage.as_ref(), bucket, records)
    }

    /// Writes the settled records of logs idle for `idle` (see
    /// [`logs::Logs::flush_idle`]). Blocking.
    pub fn flush_logs(&self, idle: std::time::Duration) {
        self.logs.flush_idle(self.storage.as_ref(), idle)
    }

    /// Merges what waited long enough in this proxy's logs (`all`: all of
    /// it) into the shards; answers the records merged. Blocking.
    pub fn merge_logs(&self, all: bool) -> usize {
        let (merged, failed) =
            self.logs
                .merge_due(self.storage.as_ref(), &|b, r| self.apply(b, r), all);
        for _ in 0..failed {
            self.note_failure();
        }
        merged
    }

    /// Merges the logs that silent proxies left in `bucket`'s index.
    pub fn adopt_logs(&self, bucket: &Context) -> Result<usize, StorageError> {
        self.logs
            .adopt(self.storage.as_ref(), &|b, r| self.apply(b, r), bucket)
    }

    /// Changes waiting for their bucket's primary (src/index/pending.rs).
    pub fn pending(&self) -> &pending::Pending {
        &self.pending
    }

    /// The counters since start.
    pub fn stats(&self) -> IndexStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IndexStats {
            entries: l(&c.entries),
            updates: l(&c.updates),
            attempts: l(&c.attempts),
            calls: l(&c.calls),
            bytes_written: l(&c.bytes_written),
            splits: l(&c.splits),
            failures: l(&c.failures),
            pending: self.batches.in_flight() as u64,
            journaled: l(&c.journaled),
            journal_replayed: l(&c.journal_replayed),
            log_writes: l(&self.logs.writes),
            log_bytes: l(&self.logs.bytes),
            logged: l(&self.logs.logged),
            merged: l(&self.logs.merged),
            adopted: l(&self.logs.adopted),
        }
    }

    /// Counts an index update that failed after its object operation.
    pub fn note_failure(&self) {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a change journaled while its primary was away.
    pub fn note_journaled(&self) {
        self.counters.journaled.fetch_add(1, Ordering::Relaxed);
    }

    /// Replays the changes waiting in this proxy for their primary
    /// (src/index/pending.rs) and clears those done with from the
    /// buckets' journals. Answers how many were written. Blocking.
    pub fn replay_pending(&self) -> usize {
        let r = self.pending.replay(self, self.storage.as_ref());
        for (ctx, done) in &r.done {
            journal::forget(self.storage.as_ref(), ctx, done);
        }
        r.applied
    }

    /// Replays `bucket`'s journal (src/index/journal.rs): every proxy's
    /// changes that waited for the primary, this one's included. Blocking.
    pub fn replay_journal(&self, bucket: &Context) -> Result<journal::Replayed, StorageError> {
        let r = journal::replay(self.storage.as_ref(), self, bucket)?;
        self.counters
            .journal_replayed
            .fetch_add(r.applied as u64, Ordering::Relaxed);
        Ok(r)
    }

    fn count(&self, cost: &UpdateCost) {
        let c = &self.counters;
        c.attempts
            .fetch_add(u64::from(cost.attempts), Ordering::Relaxed);
        c.calls.fetch_add(u64::from(cost.calls), Ordering::Relaxed);
        c.bytes_written
            .fetch_add(cost.bytes_written, Ordering::Relaxed);
    }

    /// The root of an index context: cached for [`ROOT_TTL`], else read.
    fn root(&self, ictx: &Context, fresh: bool) -> Result<Arc<Root>, StorageError> {
        if !fresh {
            if let Some((at, r)) = self.roots.lock().get(&ictx.namespace) {
                if at.elapsed() < ROOT_TTL {
                    return Ok(r.clone());
                }
            }
        }
        let root = match cas::read(self.storage.as_ref(), ictx, ROOT_KEY, OBJECT_LIMIT)? {
            Some(s) => decode_root(&s.payload)?,
            None => Root::default(),
        };
        let root = Arc::new(root);
        self.remember(ictx, root.clone());
        Ok(root)
    }

    fn remember(&self, ictx: &Context, root: Arc<Root>) {
        self.roots
            .lock()
            .insert(ictx.namespace.clone(), (Instant::now(), root));
    }

    /// Adds shard `id` (from `lower`) to the root.
    fn add_to_root(&self, ictx: &Context, lower: String, id: u64) -> Result<(), StorageError> {
        let (root, cost) = cas::update(
            self.storage.as_ref(),
            ictx,
            ROOT_KEY,
            OBJECT_LIMIT,
            Retry::default(),
            |p| {
                let mut root = match p {
                    Some(p) => decode_root(p)?,
                    None => Root::default(),
                };
                if root.add(lower.clone(), id) {
                    Ok(Change::Write(encode(&root)?, root))
                } else {
                    Ok(Change::Keep(root))
                }
            },
        )?;
        self.count(&cost);
        self.remember(ictx, Arc::new(root));
        Ok(())
    }

    /// After hops: makes sure the root names the shard they ended in (its
    /// splitter may have stopped before telling the root).
    fn mend_root(&self, ictx: &Context, lower: String, id: u64) {
        let known = self
            .root(ictx, true)
            .map(|r| r.shards.iter().any(|(lo, i)| *i == id && *lo == lower));
        if let Ok(false) = known {
            if let Err(e) = self.add_to_root(ictx, lower, id) {
                log::warn!(
                    "index {}: adding shard {id} to the root: {e}",
                    ictx.namespace
                );
            }
        }
    }

    /// The copy of a shard to update from without reading it, unless
    /// another writer changed it lately. Only the leader of the shard's
    /// queue ([`batch`]) updates it, so nobody else uses the copy meanwhile.
    fn take_known(&self, sid: &ShardId) -> Option<cas::Stored> {
        let mut known = self.known.lock();
        match known.remove(sid)? {
            Known::Copy(c) => Some(c),
            Known::Contended(until) if until > Instant::now() => {
                known.insert(sid.clone(), Known::Contended(until));
                None
            }
            Known::Contended(_) => None,
        }
    }

    /// Keeps the copy an update left (`None`: unknown), or marks the shard
    /// contended when the remembered copy was stale (another writer).
    fn remember_known(&self, sid: ShardId, after: Option<cas::Stored>, stale: bool) {
        let mut known = self.known.lock();
        let was_contended = matches!(known.get(&sid), Some(Known::Contended(_)));
        let entry = if stale || was_contended {
            Known::Contended(Instant::now() + CONTENDED)
        } else {
            match after {
                Some(c) => Known::Copy(c),
                None => {
                    known.remove(&sid);
                    return;
                }
            }
        };
        if known.len() >= KNOWN_SHARDS && !known.contains_key(&sid) {
            if let Some(k) = known.keys().next().cloned() {
                known.remove(&k);
            }
        }
        known.insert(sid, entry);
    }

    /// Forgets the copy of a shard changed outside the group commit.
    fn forget_known(&self, ictx: &Context, id: u64) {
        let sid = (ictx.namespace.clone(), ictx.groups.clone(), id);
        self.known.lock().remove(&sid);
    }

    /// Decodes shard `id` as stored (`None`: absent, which only shard 0 may be).
    fn shard_of(ictx: &Context, id: u64, payload: Option<&[u8]>) -> Result<Shard, StorageError> {
        match payload {
            Some(p) => decode_shard(p),
            None if id == 0 => Ok(Shard::first()),
            None => Err(corrupt(ictx, format!("shard {id} is linked but missing"))),
        }
    }

    /// Compare-and-swap of shard `id` when `key` falls in it: `f` gets the
    /// shard and says what to store; a key past the shard answers a hop.
    fn update_shard<T>(
        &self,
        ictx: &Context,
        id: u64,
        key: &str,
        mut f: impl FnMut(Shard) -> Result<Change<T>, StorageError>,
    ) -> Result<(Step<T>, UpdateCost), StorageError> {
        let r = cas::update(
            self.storage.as_ref(),
            ictx,
            &shard_key(id),
            OBJECT_LIMIT,
            Retry::default(),
            |p| {
                let shard = Self::shard_of(ictx, id, p)?;
                match shard.route(key) {
                    Route::Next(n) => Ok(Change::Keep(Step::Hop(n))),
                    Route::Below => Err(corrupt(ictx, format!("shard {id} starts after {key:?}"))),
                    Route::Here => Ok(match f(shard)? {
                        Change::Keep(t) => Change::Keep(Step::Done(t)),
                        Change::Write(b, t) => Change::Write(b, Step::Done(t)),
                    }),
                }
            },
        );
        // Changed outside the group commit: its remembered copy is stale.
        self.forget_known(ictx, id);
        r
    }

    /// Records `entry` (a write of its key) in the index of `bucket`, in
    /// the next update of its shard ([`batch`]: concurrent changes of one
    /// shard share a compare-and-swap); returns once that update is stored.
    pub fn put(&self, bucket: &Context, entry: &Entry) -> Result<(), StorageError> {
        let mut entry = entry.clone();
        if entry.recorded_ns == 0 {
            entry.recorded_ns = now_ns();
        }
        self.record(bucket, Op::Put(entry)).map(|_| ())
    }

    /// One change through its shard's queue, following links as far as
    /// its key goes; for a removal, whether there was an entry.
    fn record(&self, bucket: &Context, op: Op) -> Result<bool, StorageError> {
        let ictx = index_ctx(bucket);
        let mut id = self.root(&ictx, false)?.route(op.key());
        let max = (self.shard_entries / 2).max(1);
        for hop in 0..MAX_HOPS {
            let shard = (ictx.namespace.clone(), ictx.groups.clone(), id);
            let outcome = self
                .batches
                .submit(&shard, op.clone(), max, |ops| self.commit(&ictx, id, ops))?;
            match outcome {
                Outcome::Hop(Some(n)) => id = n,
                Outcome::Hop(None) => {
                    return Err(corrupt(
                        &ictx,
                        format!("shard {id} ends before {:?} and links nowhere", op.key()),
                    ))
                }
                Outcome::Done { lower, removed } => {
                    if hop > 0 {
                        self.mend_root(&ictx, lower, id);
                    }
                    return Ok(removed);
                }
            }
        }
        Err(corrupt(&ictx, "too many links followed".into()))
    }

    /// One compare-and-swap of shard `id` applying `ops` in order (the
    /// batch of a group commit); splits the shard when it grew over the
    /// bound. Keys past the shard answer a hop.
    fn commit(&self, ictx: &Context, id: u64, ops: &[Op]) -> Result<Vec<Outcome>, StorageError> {
        let new_id = rand::random::<u64>() | 1;
        let sid = (ictx.namespace.clone(), ictx.groups.clone(), id);
        let known = self.take_known(&sid);
        let trusted = known.is_some();
        let r = cas::update_known(
            self.storage.as_ref(),
            ictx,
            &shard_key(id),
            OBJECT_LIMIT,
            Retry::default(),
            known,
            |p| {
                let mut shard = Self::shard_of(ictx, id, p)?;
                let mut changed = false;
                let mut outcomes = Vec::with_capacity(ops.len());
                for op in ops {
                    outcomes.push(match shard.route(op.key()) {
                        Route::Next(n) => Outcome::Hop(n),
                        Route::Below => {
                            let key = op.key();
                            return Err(corrupt(ictx, format!("shard {id} starts after {key:?}")));
                        }
                        Route::Here => {
                            let removed = match op {
                                Op::Put(e) => {
                                    changed |= shard.put_if_newer(e.clone());
                                    false
                                }
                                Op::Remove(k) => {
                                    let (c, r) = shard.remove_at(k, now_ns());
                                    changed |= c;
                                    r
                                }
                            };
                            let lower = shard.lower.clone();
                            Outcome::Done { lower, removed }
                        }
                    });
                }
                if !changed {
                    return Ok(Change::Keep((outcomes, None)));
                }
                shard.purge_gone(marker_horizon());
                let split = shard.split_if_over(self.shard_entries, new_id);
                if let Some(right) = &split {
                    // Written before the shard that will link to it.
                    let right_bytes = encode(right)?;
                    cas::write_fresh(
                        self.storage.as_ref(),
                        ictx,
                        &shard_key(new_id),
                        &right_bytes,
                    )?;
                }
                let split = split.map(|r| r.lower);
                Ok(Change::Write(encode(&shard)?, (outcomes, split)))
            },
        );
        let ((outcomes, split), cost, after) = r?;
        self.remember_known(sid, after, trusted && cost.attempts > 1);
        let done = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Done { .. }))
            .count();
        self.counters.updates.fetch_add(1, Ordering::Relaxed);
        self.counters
            .entries
            .fetch_add(done as u64, Ordering::Relaxed);
        self.count(&cost);
        if let Some(right_lower) = split {
            self.counters.splits.fetch_add(1, Ordering::Relaxed);
            // The entries are stored (the new shard is reachable by its
            // link); a root that missed it is mended by a later hop.
            if let Err(e) = self.add_to_root(ictx, right_lower, new_id) {
                log::warn!(
                    "index {}: adding shard {new_id} to the root: {e}",
                    ictx.namespace
                );
            }
        }
        Ok(outcomes)
    }

    /// Entries of `bucket` in key order from `start`, read shard by shard.
    pub fn scan(&self, bucket: &Context, start: &Start) -> Result<Scanner<'_>, StorageError> {
        let ictx = index_ctx(bucket);
        let root = self.root(&ictx, false)?;
        let mut s = Scanner {
            index: self,
            ictx,
            root,
            entries: Vec::new(),
            pos: 0,
            gone: Vec::new(),
            gone_pos: 0,
            upper: None,
            next: None,
            shards_read: 0,
        };
        match start {
            Start::After(k) => {
                s.seek(k)?;
                s.position(k, true);
            }
            Start::From(k) => {
                s.seek(k)?;
                s.position(k, false);
            }
        }
        Ok(s)
    }

    /// Whether `bucket` lists no object (reads shards until the first entry).
    pub fn is_empty(&self, bucket: &Context) -> Result<bool, StorageError> {
        Ok(self
            .list(bucket, &Start::From(String::new()))?
            .next_entry()?
            .is_none())
    }

    fn read_shard(&self, ictx: &Context, id: u64) -> Result<Shard, StorageError> {
        let stored = cas::read(self.storage.as_ref(), ictx, &shard_key(id), OBJECT_LIMIT)?;
        Self::shard_of(ictx, id, stored.as_ref().map(|s| s.payload.as_slice()))
    }
}

impl pending::Apply for Index {
    fn put(&self, bucket: &Context, entry: &Entry) -> Result<(), StorageError> {
        Index::put(self, bucket, entry)
    }

    fn remove(&self, bucket: &Context, keys: &[String]) -> Result<usize, StorageError> {
        Index::remove(self, bucket, keys)
    }

    fn note_failure(&self) {
        Index::note_failure(self)
    }
}

#[cfg(test)]
mod tests;
