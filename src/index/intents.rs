//! Intents (docs/index.md, "Intents"): an upload logs the intent of its
//! write while the object is written, then settles it with the write's
//! entry; settled entries reach the stored log with the next log write or
//! once the log is idle; a log write waits for more intents while other
//! uploads' object writes outlast it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::logs::{average, BucketLog, Logs, Record, State};
use super::shard::index_ctx;
use crate::storage::{Context, Storage};

/// How long a bucket's log stays idle before its settled records are
/// written on their own ([`Logs::flush_idle`]).
pub const FLUSH_AFTER: Duration = Duration::from_millis(5);

/// The longest a log write waits for more intents to share it.
const MAX_LINGER: Duration = Duration::from_millis(2);

/// Counts an upload under way (see [`Logs::uploading`]) until dropped.
pub struct Uploading<'a>(&'a AtomicUsize);

impl Drop for Uploading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Logs {
    /// Counts an upload under way until the answer is dropped: while
    /// several are, a log write waits briefly for their intents to share it.
    pub fn uploading(&self) -> Uploading<'_> {
        self.uploads.fetch_add(1, Ordering::Relaxed);
        Uploading(&self.uploads)
    }

    /// Notes how long an upload's object write took.
    pub fn note_upload(&self, took: Duration) {
        average(&self.upload_us, took);
    }

    /// How long a log write waits for more intents: while other uploads
    /// are under way, as long as their object writes outlast a log write
    /// (so the wait costs no upload time), at most [`MAX_LINGER`]; else not
    /// at all.
    pub(super) fn linger(&self) -> Duration {
        if self.uploads.load(Ordering::Relaxed) < 2 {
            return Duration::ZERO;
        }
        let upload = self.upload_us.load(Ordering::Relaxed);
        let log = self.log_us.load(Ordering::Relaxed);
        let spare = Duration::from_micros(upload.saturating_sub(log) * 3 / 4);
        spare.min(MAX_LINGER)
    }

    /// Settles `intent`, logged by [`Logs::append`] while its write was
    /// under way: replaced by `record` (the write's entry) in this proxy's
    /// log as it rewrites and merges it. The log objects already stored
    /// keep the intent, which readers resolve by a lookup (as they do the
    /// intent of a failed write, never settled). Answers `false` when the
    /// intent is no longer here (merged meanwhile, resolved by what the
    /// store held then): the caller must log `record` itself.
    pub fn settle(&self, bucket: &Context, intent: &Record, record: Record) -> bool {
        let ictx = index_ctx(bucket);
        let id = (ictx.namespace.clone(), ictx.groups.clone());
        let Some((_, state)) = self.states.lock().get(&id).cloned() else {
            return false;
        };
        let mut s = state.lock();
        // The current object is rewritten with the next write unless that
        // write starts a new one.
        let rewritten = !s.closed && s.current.len() < self.per_object;
        let State {
            current,
            earlier,
            corrections,
            unwritten,
            merging,
            ..
        } = &mut *s;
        // Newest first: an intent is settled soon after it is logged. Per
        // record: whether its object is rewritten, and whether a merge is
        // applying it now (as an intent: the entry is a change still to
        // merge, not a copy of one).
        let logged = current
            .iter_mut()
            .rev()
            .map(|r| (r, rewritten, false))
            .chain(earlier.iter_mut().rev().flat_map(|(g, r)| {
                let in_merge = merging.contains(g);
                r.iter_mut().rev().map(move |r| (r, false, in_merge))
            }));
        for (r, rewritten, in_merge) in logged {
            if r.same(intent) {
                if !rewritten {
                    corrections.push(Record {
                        correction: !in_merge,
                        ..record.clone()
                    });
                }
                *r = record;
                *unwritten = true;
                self.logged.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Marks a flush scheduled; `false` when one already was.
    pub fn schedule_flush(&self) -> bool {
        !self.flushing.swap(true, Ordering::AcqRel)
    }

    /// Marks the scheduled flush done.
    pub fn flush_done(&self) {
        self.flushing.store(false, Ordering::Release);
    }

    /// Whether settled records wait to be written ([`Logs::flush_idle`]):
    /// `Some(true)` when a bucket's log has been idle for `idle`.
    pub fn unwritten(&self, idle: Duration) -> Option<bool> {
        let states: Vec<Arc<Mutex<State>>> = self
            .states
            .lock()
            .values()
            .map(|(_, s)| s.clone())
            .collect();
        let mut any = None;
        for state in states {
            let s = state.lock();
            if s.unwritten {
                any = Some(any.unwrap_or(false) || s.flush_due(idle));
            }
        }
        any
    }

    /// Writes the settled records of every bucket whose log has been idle
    /// for `idle`, so that stored logs soon hold entries rather than
    /// intents (which readers resolve by what the store holds then).
    /// Blocking.
    pub fn flush_idle(&self, storage: &dyn Storage, idle: Duration) {
        let buckets: Vec<BucketLog> = self.states.lock().values().cloned().collect();
        for (bucket, state) in buckets {
            let due = state.lock().flush_due(idle);
            if due {
                if let Err(e) = self.append(storage, &bucket, Vec::new()) {
                    log::debug!("name index log of {}: not flushed: {e}", bucket.namespace);
                }
            }
        }
    }
}

impl State {
    /// Settled records wait to be written and the log has been idle for
    /// `idle`.
    fn flush_due(&self, idle: Duration) -> bool {
        self.unwritten && self.written_at.map_or(true, |t| t.elapsed() >= idle)
    }
}
