//! Checking an index against the objects: each entry's key is looked up
//! in the bucket's groups; an entry whose object no group holds is
//! dangling (its object was removed behind the index's back, or the index
//! update of a removal failed). Elliptics cannot enumerate a bucket, so the
//! opposite, objects the index misses, cannot be found this way
//! (docs/index.md).

use super::page::{EntrySource, Start};
use super::Index;
use crate::storage::{Context, StorageError};

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Entries read.
    pub entries: u64,
    /// Keys of dangling entries.
    pub dangling: Vec<String>,
    /// Entries whose lookup failed for another reason than "not found" in
    /// every group (storage faults): neither live nor dangling.
    pub unknown: Vec<(String, StorageError)>,
    /// Dangling entries removed (with `drop`).
    pub dropped: u64,
    /// Shards read.
    pub shards: u64,
    /// Whether the caller stopped the check before the end.
    pub stopped: bool,
}

/// What a check tells its caller as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckEvent<'a> {
    /// One more entry read; answering false stops the check there.
    /// With the shards read so far and those the root lists (for an ETA:
    /// shards hold about the same number of entries).
    Entry {
        /// Shards read so far.
        shards_read: u64,
        /// Shards the root lists.
        shards_known: u64,
    },
    /// A dangling entry's key.
    Dangling(&'a str),
}

/// Dangling entries are dropped this many at a time.
const DROP_BATCH: usize = 1000;

impl Index {
    /// Looks up every entry of `bucket`'s index; with `drop`, removes the
    /// dangling ones. `progress` sees each entry read (and stops the check
    /// by answering false: the dangling entries found so far are still
    /// dropped) and each dangling key as it is found.
    pub fn check(
        &self,
        bucket: &Context,
        drop: bool,
        mut progress: impl FnMut(CheckEvent<'_>) -> bool,
    ) -> Result<CheckReport, StorageError> {
        let mut report = CheckReport::default();
        let mut scan = self.list(bucket, &Start::From(String::new()))?;
        let mut batch = Vec::new();
        while let Some(e) = scan.next_entry()? {
            let event = CheckEvent::Entry {
                shards_read: scan.shards_read(),
                shards_known: scan.shards_known(),
            };
            if !progress(event) {
                report.stopped = true;
                break;
            }
            report.entries += 1;
            let results = self.storage.lookup(bucket, &e.key);
            if results.iter().any(|r| r.result.is_ok()) {
                continue;
            }
            let not_found = results
                .iter()
                .all(|r| r.result.as_ref().is_err_and(|e| e.is_not_found()));
            if !not_found || results.is_empty() {
                let err = results
                    .into_iter()
                    .find_map(|r| r.result.err())
                    .unwrap_or_else(|| StorageError::new(-libc::ENXIO, "no groups"));
                report.unknown.push((e.key, err));
                continue;
            }
            progress(CheckEvent::Dangling(&e.key));
            report.dangling.push(e.key.clone());
            if drop {
                batch.push(e.key);
                if batch.len() >= DROP_BATCH {
                    self.remove(bucket, &batch)?;
                    report.dropped += batch.len() as u64;
                    batch.clear();
                }
            }
        }
        // An entry still in a proxy's log is hidden by the removal's
        // marker rather than removed: dropped from listings either way.
        if !batch.is_empty() {
            self.remove(bucket, &batch)?;
            report.dropped += batch.len() as u64;
        }
        report.shards = scan.shards_read();
        Ok(report)
    }
}
