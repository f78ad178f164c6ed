//! Replica consistency: which groups hold a stale or missing replica of a
//! key, and the opt-in recovery that copies the newest replica over them.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::storage::{Context, GroupId, GroupResult, ReplicaInfo, Replicas, Storage, StorageError};

/// Recoveries allowed at once; more are skipped (the next read retries).
pub const MAX_RECOVERIES: usize = 2;
/// Bytes copied per step of a recovery.
const RECOVERY_CHUNK: usize = 1 << 20;

/// The newest replica: latest modification time.
pub fn newest(results: &[GroupResult<ReplicaInfo>]) -> Option<&ReplicaInfo> {
    results
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .max_by_key(|r| r.mtime)
}

/// Groups whose replica is missing or differs from the newest one. Groups
/// that failed otherwise (unreachable, I/O error) are not judged.
pub fn out_of_sync_groups(results: &[GroupResult<ReplicaInfo>]) -> Vec<GroupId> {
    let Some(best) = newest(results) else {
        return Vec::new();
    };
    results
        .iter()
        .filter(|r| match &r.result {
            Ok(info) => info.differs_from(best),
            Err(e) => e.is_not_found(),
        })
        .map(|r| r.group)
        .collect()
}

/// A shared bytes-per-second budget.
#[derive(Debug)]
struct Budget {
    /// Bytes that may go without waiting, and when that was computed.
    tokens: f64,
    at: Instant,
}

/// Recovery limits and counters.
#[derive(Debug)]
pub struct Recovery {
    running: AtomicUsize,
    budget: Mutex<Budget>,
    done: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    bytes: AtomicU64,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            running: AtomicUsize::new(0),
            budget: Mutex::new(Budget {
                tokens: 0.0,
                at: Instant::now(),
            }),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

/// Recovery counters for replies.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RecoverySummary {
    /// Replicas copied.
    #[serde(rename = "Recovered")]
    pub done: u64,
    /// Recoveries that failed.
    #[serde(rename = "Failed")]
    pub failed: u64,
    /// Recoveries skipped because [`MAX_RECOVERIES`] were running.
    #[serde(rename = "Skipped")]
    pub skipped: u64,
    /// Bytes copied.
    #[serde(rename = "Bytes")]
    pub bytes: u64,
}

/// Releases a recovery slot when dropped.
pub struct Slot<'a>(&'a Recovery);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Recovery {
    /// The counters so far.
    pub fn summary(&self) -> RecoverySummary {
        RecoverySummary {
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    /// Takes a recovery slot, or counts a skip when all are busy.
    pub fn slot(&self) -> Option<Slot<'_>> {
        let prev = self.running.fetch_add(1, Ordering::AcqRel);
        if prev >= MAX_RECOVERIES {
            self.running.fetch_sub(1, Ordering::AcqRel);
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Slot(self))
    }

    /// Waits until `n` bytes fit the `rate` bytes/s budget (one second of burst).
    fn pace(&self, n: usize, rate: u64) {
        let rate = rate.max(1) as f64;
        let wait = {
            let mut b = self.budget.lock();
            let now = Instant::now();
            let refill = now.saturating_duration_since(b.at).as_secs_f64() * rate;
            b.tokens = (b.tokens + refill).min(rate);
            b.at = now;
            b.tokens -= n as f64;
            if b.tokens < 0.0 {
                Duration::from_secs_f64(-b.tokens / rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Copies `source` (a replica of `key` in `namespace`) into `stale`
    /// groups, at most `rate` bytes/s overall. Blocking.
    pub fn copy(
        &self,
        storage: &dyn Storage,
        namespace: &str,
        key: &str,
        source: &ReplicaInfo,
        stale: &[GroupId],
        rate: u64,
    ) -> Result<u64, StorageError> {
        let copied = (|| {
            let mut reader = storage.open(&Context::new(namespace, vec![source.group]), key)?;
            let size = reader.info().size;
            // The copy keeps the source's modification time: the replicas
            // then compare equal, and a later check copies nothing back.
            let wctx = Context {
                timestamp: Some(reader.info().mtime),
                ..Context::new(namespace, stale.to_vec())
            };
            let mut writer = storage.write(&wctx, key, None, size)?;
            let mut pos = 0;
            while pos < size {
                let n = RECOVERY_CHUNK.min((size - pos) as usize);
                self.pace(n, rate);
                let chunk = reader.read_at(pos, n)?;
                if chunk.is_empty() {
                    return Err(StorageError::new(libc::EIO, "source replica ended early"));
                }
                writer.write(&chunk)?;
                pos += chunk.len() as u64;
            }
            // A client may have written the key since the lookup: never let the
            // copy replace data newer than its source, nor copy a replaced source.
            let start = reader.info().clone();
            let mut groups = vec![source.group];
            groups.extend_from_slice(stale);
            for r in storage.lookup(&Context::new(namespace, groups), key) {
                let now = match r.result {
                    Ok(now) => now,
                    // The source was deleted since: copying it would undo the delete.
                    Err(e) if r.group == source.group && e.is_not_found() => {
                        return Err(StorageError::new(
                            libc::EAGAIN,
                            format!("group {}: the key was deleted during recovery", r.group),
                        ));
                    }
                    Err(_) => continue,
                };
                let changed = if r.group == source.group {
                    now.differs_from(&start)
                } else {
                    now.mtime > start.mtime && now.differs_from(&start)
                };
                if changed {
                    // Dropping the writer aborts the copy.
                    return Err(StorageError::new(
                        libc::EAGAIN,
                        format!("group {}: the key changed during recovery", r.group),
                    ));
                }
            }
            let results = writer.commit();
            if let Some((_, e)) = results.first_error() {
                return Err(e.clone());
            }
            Ok(size * stale.len() as u64)
        })();
        match &copied {
            Ok(n) => {
                self.done.fetch_add(stale.len() as u64, Ordering::Relaxed);
                self.bytes.fetch_add(*n, Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn rep(group: GroupId, size: u64, csum: u8, mtime: u64) -> GroupResult<ReplicaInfo> {
        GroupResult {
            group,
            result: Ok(ReplicaInfo {
                group,
                backend: group,
                address: String::new(),
                id: String::new(),
                filename: String::new(),
                offset: 0,
                size,
                mtime: UNIX_EPOCH + Duration::from_secs(mtime),
                csum: vec![csum; 4],
            }),
        }
    }

    fn missing(group: GroupId) -> GroupResult<ReplicaInfo> {
        GroupResult {
            group,
            result: Err(StorageError::not_found("gone")),
        }
    }

    #[test]
    fn finds_missing_and_different_replicas() {
        let r = vec![rep(1, 10, 7, 100), missing(2), rep(3, 10, 7, 50)];
        assert_eq!(out_of_sync_groups(&r), vec![2]);
        // Same checksum, different mtime: in sync (a recovered copy is newer).
        let r = vec![rep(1, 10, 7, 100), rep(2, 10, 8, 50), rep(3, 11, 7, 10)];
        assert_eq!(out_of_sync_groups(&r), vec![2, 3]);
        // Without checksums the modification time decides.
        let r = vec![rep(1, 10, 0, 100), rep(2, 10, 0, 50)];
        assert_eq!(out_of_sync_groups(&r), vec![2]);
        let io = GroupResult {
            group: 4,
            result: Err(StorageError::new(libc::EIO, "disk")),
        };
        assert_eq!(
            out_of_sync_groups(&[rep(1, 1, 1, 1), io]),
            Vec::<GroupId>::new()
        );
        assert!(out_of_sync_groups(&[missing(1), missing(2)]).is_empty());
    }

    #[test]
    fn copies_the_newest_replica_but_never_over_newer_data() {
        use crate::config::{LocalConfig, LocalGroupConfig};
        use crate::storage::local::LocalStore;
        use crate::storage::{read_small, write_small};
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(&LocalConfig {
            path: dir.path().to_path_buf(),
            groups: (1..=3)
                .map(|group| LocalGroupConfig {
                    group,
                    ..Default::default()
                })
                .collect(),
        })
        .unwrap();
        let all = Context::new("b", vec![1, 2, 3]);
        write_small(&s, &all, "k", b"old").unwrap();
        s.remove(&Context::new("b", vec![3]), "k");
        let found = s.lookup(&all, "k");
        assert_eq!(out_of_sync_groups(&found), vec![3]);
        assert!(newest(&found).is_some());
        let src = found[0].result.clone().unwrap();
        let r = Recovery::default();
        assert_eq!(r.copy(&s, "b", "k", &src, &[3], 1 << 20).unwrap(), 3);
        assert_eq!(
            read_small(&s, &Context::new("b", vec![3]), "k", 10).unwrap(),
            b"old"
        );
        assert!(out_of_sync_groups(&s.lookup(&all, "k")).is_empty());
        // A newer write landed in group 2 after the lookup that chose `src`.
        std::thread::sleep(Duration::from_millis(5));
        write_small(&s, &Context::new("b", vec![2]), "k", b"new!").unwrap();
        assert_eq!(
            r.copy(&s, "b", "k", &src, &[2], 1 << 20).unwrap_err().errno,
            -libc::EAGAIN
        );
        assert_eq!(
            read_small(&s, &Context::new("b", vec![2]), "k", 10).unwrap(),
            b"new!"
        );
        assert_eq!(r.summary().done, 1);
        assert_eq!(r.summary().failed, 1);
    }

    #[test]
    fn slots_are_bounded() {
        let r = Recovery::default();
        let a = r.slot();
        let b = r.slot();
        assert!(a.is_some() && b.is_some());
        assert!(r.slot().is_none());
        drop(a);
        assert!(r.slot().is_some());
        assert_eq!(r.summary().skipped, 1);
    }
}
