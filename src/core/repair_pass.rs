//! The background repair pass (`proxy.repair-pass-interval`): replicas no
//! client reads are brought back in sync too. Every key the name index
//! lists in a bucket of several groups gets the check a read key gets
//! with recover-on-read: a lookup in every group and of the key's
//! tombstone, then the newest live replica copied over the missing or
//! stale ones (at most `recover-bytes-per-second`, shared with
//! recover-on-read), or a deleted key's returned replicas removed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Objects;
use crate::bucket::BucketMeta;
use crate::index::page::{EntrySource, Start};
use crate::storage::{Context, StorageError};

/// Keys read from the index at a time (one shard or a few).
const BATCH: usize = 256;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Buckets walked.
    pub buckets: usize,
    /// Keys checked.
    pub keys: u64,
    /// Keys with a replica out of sync (repaired unless the copy failed).
    pub out_of_sync: u64,
    /// Buckets whose listing failed part way.
    pub errors: u64,
}

impl Objects {
    /// One pass over `buckets` (blocking): each key of those with several
    /// groups, read from the name index, checked and repaired, at most
    /// `keys_per_second` keys a second. Stops early when `go_on` says so.
    /// Nothing without a name index: it is what lists the keys.
    pub fn repair_pass(
        &self,
        buckets: &[Arc<BucketMeta>],
        keys_per_second: u64,
        copy_rate: u64,
        go_on: &dyn Fn() -> bool,
    ) -> PassReport {
        let mut report = PassReport::default();
        let Some(index) = self.index.clone() else {
            return report;
        };
        let counters = &self.cluster.repair_pass;
        let spacing = Duration::from_secs(1) / keys_per_second.clamp(1, 1_000_000) as u32;
        let started = Instant::now();
        for b in buckets.iter().filter(|b| b.groups.len() > 1) {
            report.buckets += 1;
            let ctx = Context::new(b.name.clone(), b.groups.clone());
            let mut start = Start::From(String::new());
            loop {
                if !go_on() {
                    return report;
                }
                let keys = match next_keys(&index, &ctx, &start) {
                    Ok(k) => k,
                    Err(e) => {
                        log::warn!("repair pass: bucket {}: listing failed: {e}", b.name);
                        report.errors += 1;
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                };
                let Some(last) = keys.last().cloned() else {
                    break;
                };
                for key in keys {
                    if !go_on() {
                        return report;
                    }
                    let job = self.repair_job(&b.name, b.groups.clone(), &key, copy_rate);
                    let stale = job.check();
                    report.keys += 1;
                    counters.keys.fetch_add(1, Ordering::Relaxed);
                    if !stale.is_empty() {
                        report.out_of_sync += 1;
                        counters.out_of_sync.fetch_add(1, Ordering::Relaxed);
                    }
                    // Paced from the pass's start: a slow check is not
                    // made up for by a burst after it, only not waited for.
                    let due = spacing * report.keys.min(u32::MAX as u64) as u32;
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                start = Start::After(last);
            }
        }
        counters.runs.fetch_add(1, Ordering::Relaxed);
        report
    }
}

/// Up to [`BATCH`] keys of `ctx`'s bucket from `start`, as a listing
/// sees them.
fn next_keys(
    index: &crate::index::Index,
    ctx: &Context,
    start: &Start,
) -> Result<Vec<String>, StorageError> {
    // Shards and logs: keys written since the last merge are checked too.
    let mut scan = index.list(ctx, start)?;
    let mut keys = Vec::with_capacity(BATCH);
    while keys.len() < BATCH {
        match scan.next_entry()? {
            Some(e) => keys.push(e.key),
            None => break,
        }
    }
    Ok(keys)
}
