//! Group commit of index changes (docs/index.md, "Group commit"): the
//! writes and removals of keys of one shard that arrive while that shard is
//! being updated wait, and the next update applies all of them in one
//! compare-and-swap. Every caller returns only once the update holding its
//! change is stored (on the primary, and copied to the other groups), so an
//! acknowledged write is listed at once and survives a crash of the proxy;
//! what changes is how many changes share the store's round trips and the
//! shard's bytes.
//!
//! Per shard (index namespace, groups and shard id) a queue holds the
//! waiting changes and whether a caller, the *leader*, is updating the
//! shard. A caller finding no leader leads: it takes up to `max` waiting
//! changes (its own first), runs the update, passes the lead to the first
//! change still waiting, and hands every change of its batch its outcome.
//! The others block on a channel meanwhile (index calls run on the blocking
//! pool). A queue is dropped once empty, so memory follows the number of
//! shards being written at the moment.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use parking_lot::Mutex;

use super::shard::Entry;
use crate::storage::{GroupId, StorageError};

/// One change of the index.
#[derive(Debug, Clone)]
pub enum Op {
    /// A write of the entry's key: insert or replace it.
    Put(Entry),
    /// A removal of the key.
    Remove(String),
}

impl Op {
    /// The key changed.
    pub fn key(&self) -> &str {
        match self {
            Op::Put(e) => &e.key,
            Op::Remove(k) => k,
        }
    }
}

/// What became of one change in a shard update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or nothing to change) in the shard starting at `lower`; for
    /// a removal, whether there was an entry.
    Done {
        /// The shard's lower bound.
        lower: String,
        /// A removal found an entry.
        removed: bool,
    },
    /// The key is past the shard: go on to this one.
    Hop(Option<u64>),
}

/// The shard a queue is for: index namespace, groups, shard id.
pub type ShardId = (String, Vec<GroupId>, u64);

enum Msg<R> {
    /// Lead the next update.
    Lead,
    /// The outcome of the caller's change.
    Done(Result<R, StorageError>),
}

struct Waiter<O, R> {
    op: O,
    reply: mpsc::Sender<Msg<R>>,
}

struct Queue<O, R> {
    pending: VecDeque<Waiter<O, R>>,
    leading: bool,
}

impl<O, R> Default for Queue<O, R> {
    fn default() -> Self {
        Queue {
            pending: VecDeque::new(),
            leading: false,
        }
    }
}

/// The queues of the shards being updated: changes `O` of the thing `K`
/// a queue is for, each answered an `R` (also used for the proxy's logs,
/// src/index/logs.rs).
pub struct Batches<K = ShardId, O = Op, R = Outcome> {
    queues: Mutex<HashMap<K, Queue<O, R>>>,
    /// Changes submitted and not answered yet.
    in_flight: AtomicUsize,
}

impl<K, O, R> Default for Batches<K, O, R> {
    fn default() -> Self {
        Batches {
            queues: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// Counts a change in flight until it is answered.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<K: Hash + Eq + Clone, O: Clone, R> Batches<K, O, R> {
    /// Applies `op` to `shard` in the next update of that shard: `commit`
    /// stores a batch of changes (answering one outcome per change, in
    /// order), run by whichever caller leads. Answers `op`'s outcome once
    /// its batch is stored.
    pub fn submit(
        &self,
        shard: &K,
        op: O,
        max: usize,
        commit: impl Fn(&[O]) -> Result<Vec<R>, StorageError>,
    ) -> Result<R, StorageError> {
        self.submit_lingering(shard, op, max, std::time::Duration::ZERO, commit)
    }

    /// [`Batches::submit`], where a caller that leads first waits `linger`
    /// for more changes to join its batch.
    pub fn submit_lingering(
        &self,
        shard: &K,
        op: O,
        max: usize,
        linger: std::time::Duration,
        commit: impl Fn(&[O]) -> Result<Vec<R>, StorageError>,
    ) -> Result<R, StorageError> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _counted = InFlight(&self.in_flight);
        let (tx, rx) = mpsc::channel();
        let mut lead = {
            let mut queues = self.queues.lock();
            let q = queues.entry(shard.clone()).or_default();
            q.pending.push_back(Waiter { op, reply: tx });
            !std::mem::replace(&mut q.leading, true)
        };
        if lead && !linger.is_zero() {
            std::thread::sleep(linger);
        }
        loop {
            if lead {
                // Our change is in this batch: what comes next is its outcome.
                self.lead(shard, max, &commit);
            }
            match rx.recv() {
                Ok(Msg::Lead) => lead = true,
                Ok(Msg::Done(r)) => return r,
                Err(_) => {
                    return Err(StorageError::new(
                        libc::EIO,
                        "index update abandoned (its leader failed)",
                    ))
                }
            }
        }
    }

    /// One update as leader: the batch from the queue's front, the lead
    /// passed on, the outcomes handed out.
    fn lead(&self, shard: &K, max: usize, commit: &impl Fn(&[O]) -> Result<Vec<R>, StorageError>) {
        let batch: Vec<Waiter<O, R>> = {
            let mut queues = self.queues.lock();
            match queues.get_mut(shard) {
                Some(q) => {
                    let n = q.pending.len().min(max.max(1));
                    q.pending.drain(..n).collect()
                }
                None => Vec::new(),
            }
        };
        // Passes the lead on also when `commit` panics.
        let handoff = Handoff {
            batches: self,
            shard,
        };
        let ops: Vec<O> = batch.iter().map(|w| w.op.clone()).collect();
        let outcomes = commit(&ops);
        drop(handoff);
        match outcomes {
            Ok(outcomes) if outcomes.len() == batch.len() => {
                for (w, o) in batch.into_iter().zip(outcomes) {
                    let _ = w.reply.send(Msg::Done(Ok(o)));
                }
            }
            Ok(_) => {
                let e = StorageError::new(libc::EIO, "index update lost outcomes");
                for w in batch {
                    let _ = w.reply.send(Msg::Done(Err(e.clone())));
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.reply.send(Msg::Done(Err(e.clone())));
                }
            }
        }
    }

    /// Changes waiting for their shard's update or in it now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Shards with a queue right now (0 when no update is under way).
    pub fn queues(&self) -> usize {
        self.queues.lock().len()
    }
}

struct Handoff<'a, K: Hash + Eq, O, R> {
    batches: &'a Batches<K, O, R>,
    shard: &'a K,
}

impl<K: Hash + Eq, O, R> Drop for Handoff<'_, K, O, R> {
    fn drop(&mut self) {
        let mut queues = self.batches.queues.lock();
        let Some(q) = queues.get_mut(self.shard) else {
            return;
        };
        while let Some(w) = q.pending.front() {
            if w.reply.send(Msg::Lead).is_ok() {
                return;
            }
            // Its caller is gone: nobody waits for that change.
            q.pending.pop_front();
        }
        queues.remove(self.shard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    fn outcome(removed: bool) -> Outcome {
        Outcome::Done {
            lower: String::new(),
            removed,
        }
    }

    #[test]
    fn concurrent_changes_share_updates_and_each_gets_its_outcome() {
        let batches = Arc::new(Batches::default());
        let commits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let n = 16;
        let barrier = Arc::new(Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (batches, commits, seen, barrier) = (
                    batches.clone(),
                    commits.clone(),
                    seen.clone(),
                    barrier.clone(),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    let op = Op::Remove(format!("k{i:02}"));
                    let shard = ("b/index".to_string(), vec![1], 0);
                    batches.submit(&shard, op, 4, |ops| {
                        assert!(!ops.is_empty() && ops.len() <= 4, "{}", ops.len());
                        // This batch's changes at least are in flight.
                        assert!(batches.in_flight() >= ops.len());
                        commits.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        seen.lock().extend(ops.iter().map(|o| o.key().to_string()));
                        // Odd keys "had an entry".
                        Ok(ops
                            .iter()
                            .map(|o| outcome(o.key().ends_with(['1', '3', '5', '7', '9'])))
                            .collect())
                    })
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(t.join().unwrap().unwrap(), outcome(i % 2 == 1), "k{i:02}");
        }
        let mut seen = seen.lock().clone();
        seen.sort();
        assert_eq!(seen.len(), n, "every change committed once");
        seen.dedup();
        assert_eq!(seen.len(), n);
        let commits = commits.load(Ordering::SeqCst);
        assert!(commits < n && commits >= n / 4, "{commits} updates");
        assert_eq!(batches.queues(), 0, "queues dropped when empty");
        assert_eq!(batches.in_flight(), 0, "every change answered");
    }

    #[test]
    fn a_failed_update_fails_its_batch_only_and_the_lead_moves_on() {
        let batches = Arc::new(Batches::default());
        let shard: ShardId = ("b/index".to_string(), vec![1], 7);
        let r = batches.submit(&shard, Op::Remove("x".into()), 8, |_| {
            Err(StorageError::new(libc::EIO, "down"))
        });
        assert!(r.unwrap_err().to_string().contains("down"));
        let r = batches.submit(&shard, Op::Remove("y".into()), 8, |ops| {
            Ok(ops.iter().map(|_| outcome(true)).collect())
        });
        assert_eq!(r.unwrap(), outcome(true));
        // A panicking leader: its batch gets an error, the queue is freed.
        let b = batches.clone();
        let s = shard.clone();
        let r = std::thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                b.submit(&s, Op::Remove("z".into()), 8, |_| panic!("bug"))
            }))
        })
        .join()
        .unwrap();
        assert!(r.is_err());
        assert_eq!(batches.queues(), 0);
        let r = batches.submit(&shard, Op::Remove("w".into()), 8, |ops| {
            Ok(ops.iter().map(|_| outcome(false)).collect())
        });
        assert_eq!(r.unwrap(), outcome(false));
    }
}
