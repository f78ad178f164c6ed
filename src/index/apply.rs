//! Many changes of a bucket's index at once, outside the group commit:
//! bulk removals and the merges of the proxies' logs (src/index/logs.rs),
//! one compare-and-swap per shard they fall in.

use std::sync::atomic::Ordering;

use super::batch::Op;
use super::log_objects::resolve;
use super::logs::{newest_per_key, Record};
use super::shard::{encode, index_ctx, now_ns, Route};
use super::{corrupt, marker_horizon, shard_key, Index, Step, MAX_HOPS};
use crate::storage::cas::{self, Change};
use crate::storage::{Context, StorageError};

/// Where one shard's part of a bulk change ended.
struct Applied {
    /// Records done (the next starts there).
    consumed: usize,
    /// The shard's lower bound.
    lower: String,
    /// The lower bound of the shard split off it, if it split.
    split: Option<String>,
}

impl Index {
    /// Removes the entries of `keys` (removals of those keys) from the
    /// index of `bucket`: one compare-and-swap per shard they fall in.
    /// Answers how many entries were there.
    pub fn remove(&self, bucket: &Context, keys: &[String]) -> Result<usize, StorageError> {
        if let [key] = keys {
            return Ok(usize::from(self.record(bucket, Op::Remove(key.clone()))?));
        }
        let at = now_ns();
        let records: Vec<Record> = keys
            .iter()
            .map(|k| Record {
                key: k.clone(),
                entry: None,
                at,
                check: false,
                correction: false,
            })
            .collect();
        self.apply(bucket, records)
    }

    /// Records `records` (writes and removals at their times, as a proxy's
    /// log holds them) in the index of `bucket`, outside the group commit:
    /// one compare-and-swap per shard they fall in. A key's newest record
    /// counts. Answers how many entries were removed.
    pub fn apply(&self, bucket: &Context, records: Vec<Record>) -> Result<usize, StorageError> {
        let ictx = index_ctx(bucket);
        let records = resolve(self.storage.as_ref(), bucket, newest_per_key(records), true)?;
        let mut removed_total = 0;
        let mut i = 0;
        while i < records.len() {
            let mut id = self.root(&ictx, false)?.route(&records[i].key);
            let mut hops = 0;
            loop {
                let mut removed = 0;
                let new_id = rand::random::<u64>() | 1;
                let (step, cost) = self.update_shard(&ictx, id, &records[i].key, |mut shard| {
                    removed = 0;
                    let mut changed = false;
                    let mut j = i;
                    // Up to the bound: a shard that grows past it splits
                    // once, and the records after go on from there.
                    while j < records.len()
                        && shard.route(&records[j].key) == Route::Here
                        && shard.entries.len() <= self.shard_entries
                    {
                        let r = &records[j];
                        match &r.entry {
                            Some(e) => changed |= shard.put_if_newer(e.clone()),
                            None => {
                                let (c, had) = shard.remove_at(&r.key, r.at);
                                changed |= c;
                                removed += usize::from(had);
                            }
                        }
                        j += 1;
                    }
                    let mut done = Applied {
                        consumed: j,
                        lower: shard.lower.clone(),
                        split: None,
                    };
                    if !changed {
                        return Ok(Change::Keep(done));
                    }
                    shard.purge_gone(marker_horizon());
                    if let Some(right) = shard.split_if_over(self.shard_entries, new_id) {
                        // Written before the shard that will link to it.
                        let bytes = encode(&right)?;
                        cas::write_fresh(self.storage.as_ref(), &ictx, &shard_key(new_id), &bytes)?;
                        done.split = Some(right.lower);
                    }
                    Ok(Change::Write(encode(&shard)?, done))
                })?;
                self.count(&cost);
                match step {
                    Step::Hop(Some(n)) => {
                        id = n;
                        hops += 1;
                        if hops > MAX_HOPS {
                            return Err(corrupt(&ictx, "too many links followed".into()));
                        }
                    }
                    Step::Hop(None) => {
                        return Err(corrupt(&ictx, format!("shard {id} links nowhere")))
                    }
                    Step::Done(Applied {
                        consumed,
                        lower,
                        split,
                    }) => {
                        if let Some(right_lower) = split {
                            self.counters.splits.fetch_add(1, Ordering::Relaxed);
                            // Reachable by its link already; a root that
                            // missed it is mended by a later hop.
                            if let Err(e) = self.add_to_root(&ictx, right_lower, new_id) {
                                log::warn!(
                                    "index {}: adding shard {new_id} to the root: {e}",
                                    ictx.namespace
                                );
                            }
                        }
                        self.counters.updates.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .entries
                            .fetch_add((consumed - i) as u64, Ordering::Relaxed);
                        removed_total += removed;
                        if hops > 0 {
                            self.mend_root(&ictx, lower, id);
                        }
                        i = consumed;
                        break;
                    }
                }
            }
        }
        Ok(removed_total)
    }
}
