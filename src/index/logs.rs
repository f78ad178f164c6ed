//! This proxy's log of name index changes (docs/index.md, "The log"): a
//! write or removal is acknowledged once its record is in the log, a small
//! object rewritten whole in every group of the bucket, and reaches the
//! shards about a second later, in the background, with every other record
//! of that second that falls in the same shard.
//!
//! Bucket B's logs live in `B/index` beside its shards:
//! `log-<owner>-<generation>` holds up to [`LOG_RECORDS`] records of proxy
//! `owner` (a random id per process); `logs`, updated by compare-and-swap
//! as shards are, names each proxy with records not merged yet, its oldest
//! generation not merged and when it last said it was alive. A listing
//! reads `logs`, then each named proxy's logs from that generation on
//! until one is missing, and lays their records over the shards (of a
//! key's changes the newest wins, by its time). A proxy that stops (kill -9
//! included) leaves its logs named there: listings keep reading them, and
//! once it has been silent for `index-log-orphan-after` seconds any proxy
//! merges them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::Batches;
use super::log_objects::{log_key, read_all, set_owner, LogObject, Owner};
pub use super::log_objects::{newest_per_key, Record};
use super::shard::{encode, index_ctx, now_ns};
use crate::storage::cas::envelope;
use crate::storage::{write_small, Context, GroupId, Storage, StorageError};
use parking_lot::Mutex;

/// How a merge writes records into a bucket's shards (`Index::apply`).
pub type Apply<'a> = &'a dyn Fn(&Context, Vec<Record>) -> Result<usize, StorageError>;

/// Records a log object holds before the next generation starts (each
/// write rewrites the object, so this bounds the bytes a change costs);
/// no more than a shard holds ([`Logs::new`]).
pub const LOG_RECORDS: usize = 64;
/// Records of a bucket waiting to be merged past which its changes go to
/// the shards at once instead (merging is failing or behind).
const MAX_UNMERGED: usize = 16 * 1024;
/// How long records wait in the log before they are merged: the longer,
/// the more changes share a shard update.
const MERGE_AFTER: Duration = Duration::from_secs(1);
/// How long a silent proxy's logs wait before others merge them, unless
/// configured (`proxy.index-log-orphan-after`).
pub const DEFAULT_ORPHAN_AFTER: Duration = Duration::from_secs(60);
/// A bucket's log as one proxy keeps it: index namespace and groups.
pub(super) type LogId = (String, Vec<GroupId>);

/// A bucket (its context) and what this proxy knows of its log there.
pub(super) type BucketLog = (Context, Arc<Mutex<State>>);

/// What this proxy knows of its log of one bucket.
#[derive(Debug, Default)]
pub(super) struct State {
    /// When the registry last named this proxy for the bucket (`None`: it
    /// does not, nothing waits).
    pub(super) beat: Option<Instant>,
    /// The generation written last, and its records.
    pub(super) generation: u64,
    pub(super) current: Vec<Record>,
    /// `current`'s object takes no more records (full, merged, or a group
    /// missed a write of it).
    pub(super) closed: bool,
    /// Earlier generations not merged yet.
    pub(super) earlier: Vec<(u64, Vec<Record>)>,
    /// When the oldest record not merged was logged.
    pub(super) since: Option<Instant>,
    /// Settled records whose intents are in log objects no longer
    /// rewritten (full or closed): the next write adds them.
    pub(super) corrections: Vec<Record>,
    /// A settled record is not in a stored log object yet.
    pub(super) unwritten: bool,
    /// When a log object was last written.
    pub(super) written_at: Option<Instant>,
    /// Generations a merge is applying now (from its copy of them).
    pub(super) merging: Vec<u64>,
}

impl State {
    fn unmerged(&self) -> usize {
        self.current.len() + self.earlier.iter().map(|(_, r)| r.len()).sum::<usize>()
    }

    /// The oldest generation whose records are not merged.
    fn oldest(&self) -> u64 {
        self.earlier.first().map_or(self.generation, |(g, _)| *g)
    }
}

/// The logs of this proxy, one per bucket written through it.
pub struct Logs {
    pub(super) owner: u64,
    pub(super) per_object: usize,
    /// Per bucket written through this proxy: its context and log.
    pub(super) states: Mutex<HashMap<LogId, BucketLog>>,
    batches: Batches<LogId, Vec<Record>, ()>,
    orphan_after_ms: AtomicU64,
    /// Log objects written and their bytes (all groups), records logged,
    /// records merged, records of other proxies merged.
    pub(super) writes: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) logged: AtomicU64,
    pub(super) merged: AtomicU64,
    pub(super) adopted: AtomicU64,
    /// Uploads under way whose intents go to these logs.
    pub(super) uploads: AtomicUsize,
    /// Moving averages of how long an upload's object write and a log
    /// write take (µs).
    pub(super) upload_us: AtomicU64,
    pub(super) log_us: AtomicU64,
    /// A flush of settled records is scheduled ([`Logs::schedule_flush`]).
    pub(super) flushing: AtomicBool,
}

/// `avg` moved an eighth of the way to `sample`.
pub(super) fn average(avg: &AtomicU64, sample: Duration) {
    let x = sample.as_micros().min(u64::MAX as u128) as u64;
    let old = avg.load(Ordering::Relaxed);
    let new = if old == 0 { x } else { old - old / 8 + x / 8 };
    avg.store(new, Ordering::Relaxed);
}

impl Logs {
    /// The logs of this proxy, at most `per_object` records a log object
    /// (4 to [`LOG_RECORDS`]): as many as a shard holds, so small shards,
    /// chosen to write few bytes per change, keep the log's writes small too.
    pub fn new(per_object: usize) -> Logs {
        Logs {
            per_object: per_object.clamp(4, LOG_RECORDS),
            owner: rand::random::<u64>(),
            states: Mutex::new(HashMap::new()),
            batches: Batches::default(),
            orphan_after_ms: AtomicU64::new(DEFAULT_ORPHAN_AFTER.as_millis() as u64),
            writes: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            logged: AtomicU64::new(0),
            merged: AtomicU64::new(0),
            adopted: AtomicU64::new(0),
            uploads: AtomicUsize::new(0),
            upload_us: AtomicU64::new(0),
            log_us: AtomicU64::new(0),
            flushing: AtomicBool::new(false),
        }
    }
}

impl Logs {
    /// How long a silent proxy's logs wait before others merge them.
    pub fn set_orphan_after(&self, d: Duration) {
        self.orphan_after_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    fn orphan_after(&self) -> Duration {
        Duration::from_millis(self.orphan_after_ms.load(Ordering::Relaxed))
    }

    fn state(&self, id: &LogId, bucket: &Context) -> Arc<Mutex<State>> {
        let mut states = self.states.lock();
        let (_, s) = states.entry(id.clone()).or_insert_with(|| {
            let ctx = Context::new(bucket.namespace.clone(), bucket.groups.clone());
            (ctx, Arc::default())
        });
        s.clone()
    }

    /// Appends `records` to this proxy's log of `bucket`; returns once a
    /// group holds them. Concurrent appends share a write.
    pub fn append(
        &self,
        storage: &dyn Storage,
        bucket: &Context,
        records: Vec<Record>,
    ) -> Result<(), StorageError> {
        let ictx = index_ctx(bucket);
        let id = (ictx.namespace.clone(), ictx.groups.clone());
        let linger = self.linger();
        self.batches
            .submit_lingering(&id, records, usize::MAX, linger, |batch| {
                self.write(storage, bucket, &ictx, &id, batch)?;
                Ok(vec![(); batch.len()])
            })
    }

    /// One write of the log object with `batch` added (the leader's step).
    fn write(
        &self,
        storage: &dyn Storage,
        bucket: &Context,
        ictx: &Context,
        id: &LogId,
        batch: &[Vec<Record>],
    ) -> Result<(), StorageError> {
        let state = self.state(id, bucket);
        let mut s = state.lock();
        let adding: usize = batch.iter().map(Vec::len).sum();
        if adding == 0 && !s.unwritten {
            // A flush that finds everything written (or merged) already.
            return Ok(());
        }
        if s.unmerged() + adding > MAX_UNMERGED {
            return Err(StorageError::new(
                libc::EAGAIN,
                format!(
                    "index log of {}: too many changes wait for merging",
                    ictx.namespace
                ),
            ));
        }
        if s.closed || s.current.len() >= self.per_object {
            if !s.current.is_empty() {
                let (g, r) = (s.generation, std::mem::take(&mut s.current));
                s.earlier.push((g, r));
            }
            s.generation += 1;
            s.closed = false;
        }
        // Named in the registry before any record of this proxy is written,
        // and again well before others would take it for gone.
        let stale = s
            .beat
            .map_or(true, |b| b.elapsed() > self.orphan_after() / 2);
        if stale {
            // The beat as others see it: taken before the registry write,
            // which may wait for a slow group, so that this proxy never
            // thinks itself fresher than the registry says.
            let beat = Instant::now();
            let me = Owner {
                id: self.owner,
                from: s.oldest(),
                beat: now_ns(),
            };
            let (was, _) = set_owner(storage, ictx, self.owner, Some(me), |_| false)?;
            if was.is_none() && s.unmerged() > 0 {
                // Silent too long (its registry writes failing), this
                // proxy's logs were merged by another, which dropped them.
                // That one may have read them before the last records
                // landed: all of them are logged again, in a new object
                // (merging a record twice changes nothing, times order).
                log::info!(
                    "name index log of {}: merged by another proxy meanwhile; {} changes logged again",
                    ictx.namespace,
                    s.unmerged()
                );
                let mut again: Vec<Record> = std::mem::take(&mut s.earlier)
                    .into_iter()
                    .flat_map(|(_, r)| r)
                    .collect();
                again.append(&mut s.current);
                s.generation += 1;
                s.closed = false;
                s.current = again;
                let me = Owner {
                    from: s.generation,
                    ..me
                };
                set_owner(storage, ictx, self.owner, Some(me), |_| false)?;
            }
            s.beat = Some(beat);
        }
        let corrections = std::mem::take(&mut s.corrections);
        let mut log = LogObject {
            records: s.current.clone(),
        };
        log.records.extend(corrections.iter().cloned());
        log.records.extend(batch.iter().flatten().cloned());
        let bytes = envelope(s.generation, &encode(&log)?);
        let key = log_key(self.owner, s.generation);
        let started = Instant::now();
        let results = match write_small(storage, ictx, &key, &bytes) {
            Ok(r) => r,
            Err(e) => {
                s.corrections = corrections;
                return Err(e);
            }
        };
        average(&self.log_us, started.elapsed());
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add((bytes.len() * ictx.groups.len()) as u64, Ordering::Relaxed);
        let mut first_error = None;
        let mut held = false;
        for r in results {
            match r.result {
                Ok(_) => held = true,
                Err(e) => {
                    log::warn!("{}/{key}: group {}: {e}", ictx.namespace, r.group);
                    first_error.get_or_insert(e);
                }
            }
        }
        if !held {
            // Nowhere: the same generation is written again next time.
            s.corrections = corrections;
            return Err(
                first_error.unwrap_or_else(|| StorageError::new(libc::EIO, "no group to log to"))
            );
        }
        // A group missed it: later records go to a new object, which that
        // group may take, instead of past the end of what it holds.
        s.closed = first_error.is_some();
        s.current = log.records;
        s.unwritten = false;
        s.written_at = Some(Instant::now());
        s.since.get_or_insert_with(Instant::now);
        // Intents count once settled (`settle`): a failed write's never does.
        let changes = batch.iter().flatten().filter(|r| !r.check).count();
        self.logged.fetch_add(changes as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Merges what waited at least [`MERGE_AFTER`] in this proxy's logs
    /// into the shards; answers the records merged and the buckets whose
    /// merge failed for another reason than an unreachable group (a
    /// damaged shard: counted as index failures; an unreachable primary
    /// is waited for). Either way the records stay listed and the merge is
    /// tried again. Blocking.
    pub fn merge_due(&self, storage: &dyn Storage, index: Apply, all: bool) -> (usize, usize) {
        let states: Vec<(Context, Arc<Mutex<State>>)> =
            self.states.lock().values().cloned().collect();
        let (mut merged, mut failed) = (0, 0);
        for (bucket, state) in states {
            match self.merge(storage, index, &bucket, &state, all) {
                Ok(n) => merged += n,
                Err(e) if e.is_unreachable() => log::warn!(
                    "name index log of {}: not merged yet: {e}",
                    bucket.namespace
                ),
                Err(e) => {
                    failed += 1;
                    log::error!(
                        "name index log of {}: not merged (tried again in a second): {e}",
                        bucket.namespace
                    );
                }
            }
        }
        (merged, failed)
    }

    fn merge(
        &self,
        storage: &dyn Storage,
        index: Apply,
        bucket: &Context,
        state: &Mutex<State>,
        all: bool,
    ) -> Result<usize, StorageError> {
        let ictx = index_ctx(bucket);
        // Closes the log being written: later records go to a new object.
        let (generations, records) = {
            let mut s = state.lock();
            let due = s.since.is_some_and(|t| t.elapsed() >= MERGE_AFTER)
                || s.unmerged() >= LOG_RECORDS * 4;
            if s.unmerged() == 0 || !(due || all) {
                return Ok(0);
            }
            if !s.current.is_empty() {
                let (g, r) = (s.generation, std::mem::take(&mut s.current));
                s.earlier.push((g, r));
                s.closed = true;
            }
            let generations: Vec<u64> = s.earlier.iter().map(|(g, _)| *g).collect();
            let records: Vec<Record> = s.earlier.iter().flat_map(|(_, r)| r.clone()).collect();
            s.merging = generations.clone();
            (generations, records)
        };
        // Changes: not the intents a merge resolves (their writes, once
        // stored, are logged again) nor this proxy's corrections.
        let n = records.iter().filter(|r| !r.check && !r.correction).count();
        let merged: std::collections::HashSet<(String, u64, bool)> = records
            .iter()
            .map(|r| (r.key.clone(), r.at, r.check))
            .collect();
        let applied = index(bucket, records);
        state.lock().merging.clear();
        applied?;
        {
            let mut s = state.lock();
            s.earlier.retain(|(g, _)| !generations.contains(g));
            // Corrections of merged records need no writing any more.
            s.corrections
                .retain(|r| !merged.contains(&(r.key.clone(), r.at, r.check)));
            if s.corrections.is_empty() && s.current.is_empty() {
                s.unwritten = false;
            }
            if s.unmerged() == 0 {
                s.since = None;
                // Nothing waits: the registry forgets this proxy until its
                // next write (which names it again first).
                set_owner(storage, &ictx, self.owner, None, |_| false)?;
                s.beat = None;
            } else {
                s.since = Some(Instant::now());
                let beat = Instant::now();
                let me = Owner {
                    id: self.owner,
                    from: s.oldest(),
                    beat: now_ns(),
                };
                set_owner(storage, &ictx, self.owner, Some(me), |_| false)?;
                s.beat = Some(beat);
            }
        }
        for g in generations {
            for r in storage.remove(&ictx, &log_key(self.owner, g)) {
                if let Err(e) = r.result {
                    if !e.is_not_found() {
                        log::debug!("{}: merged log {g} not removed: {e}", ictx.namespace);
                    }
                }
            }
        }
        self.merged.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// Merges the logs of proxies silent for `index-log-orphan-after`
    /// (stopped, killed) into `bucket`'s shards and drops them from its
    /// registry; answers the records merged. Blocking.
    pub fn adopt(
        &self,
        storage: &dyn Storage,
        index: Apply,
        bucket: &Context,
    ) -> Result<usize, StorageError> {
        let ictx = index_ctx(bucket);
        let horizon = now_ns().saturating_sub(self.orphan_after().as_nanos() as u64);
        let me = self.owner;
        let orphans = read_all(storage, &ictx, |o| o.id != me && o.beat < horizon)?;
        let mut adopted = 0;
        for (owner, generations, records) in orphans {
            let n = records.len();
            index(bucket, records)?;
            // Unless it spoke since (it was only slow): then its logs stay
            // for it to go on with.
            let (_, dropped) = set_owner(storage, &ictx, owner.id, None, |o| o.beat != owner.beat)?;
            if dropped {
                for g in generations {
                    let _ = storage.remove(&ictx, &log_key(owner.id, g));
                }
            }
            log::info!(
                "name index of {}: {n} changes of silent proxy {:016x} merged",
                bucket.namespace,
                owner.id
            );
            adopted += n;
        }
        self.adopted.fetch_add(adopted as u64, Ordering::Relaxed);
        Ok(adopted)
    }

    /// The records of every proxy's log of `bucket` not merged yet: of
    /// each key the newest, sorted by key.
    pub fn overlay(
        &self,
        storage: &dyn Storage,
        bucket: &Context,
    ) -> Result<Vec<Record>, StorageError> {
        let ictx = index_ctx(bucket);
        let all = read_all(storage, &ictx, |_| true)?;
        Ok(newest_per_key(
            all.into_iter().flat_map(|(_, _, r)| r).collect(),
        ))
    }
}
