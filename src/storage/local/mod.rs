//! The embedded store: each group is a directory on the local disk.
//!
//! Layout of a group directory `PATH/group-N/`:
//! - `data/XX/ID`: one file per object, named by the hex SHA-512 of
//!   (namespace, key), so no key can name a path of its own. The file holds a
//!   header (see [`header`]), then (format 2) a CRC32C of every 64 KiB block
//!   of the object, then the object's bytes, so a lookup's `offset` is where
//!   the data starts inside `filename`. Every block is checked before it is
//!   served; a block that fails is read from the next group's replica of the
//!   same object at the same offset. Files of format 1 (no block table) are
//!   still read, unverified.
//! - `tmp/`: writes in progress, named `PID.ID.RANDOM`. A write becomes
//!   visible by `rename` after `fsync`, so a crash or a dropped client never
//!   leaves half an object. Opening a group removes the temp files of
//!   processes that no longer run (and any older than an hour), never those
//!   of another live process sharing the store.
//! - `usage`: the group's committed bytes and records, shared by every
//!   process on the store and updated under `flock` with each rename or
//!   unlink ([`usage`]), so all of them enforce one size limit.
//! - `cas.lock`: held by compare-and-swap writes from check to rename.

//!
//! Files: [`header`] (the on-disk header), [`blocks`] (the CRC32C block
//! table: sums as written, checks as read), [`group`] (one group directory
//! and its bookkeeping), [`store`] (the store: root, groups, object ids),
//! [`write`] and [`read`] (the streaming writer and reader), [`nowait`]
//! (reads that serve the page cache without waiting for the disk).

mod blocks;
mod group;
mod header;
mod nowait;
mod read;
mod store;
mod usage;
mod write;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use self::blocks::BLOCK_SIZE;
pub use self::group::LOCAL_ADDRESS;
use self::group::{unix_now, Group, CMD_DEL, CMD_LOOKUP};
#[cfg(test)]
pub use self::store::test_store;
pub use self::store::{checksum, object_id, object_path, read_object_file, LocalStore};
use super::{
    BackendCommand, BackendStat, Context, DefragOutcome, DefragState, GroupId, GroupResult,
    ObjectReader, ObjectWriter, ReplicaInfo, Storage, StorageError, Version,
};
use crate::config::LocalConfig;

impl Storage for LocalStore {
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StorageError> {
        write::start(self, ctx, key, offset, size)
    }

    fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError> {
        read::open(self, ctx, key)
    }

    fn without_waiting(&self, f: &mut dyn FnMut()) -> bool {
        nowait::attempt(f).is_some()
    }

    fn write_if(
        &self,
        ctx: &Context,
        key: &str,
        data: &[u8],
        expected: &Version,
    ) -> Vec<GroupResult<ReplicaInfo>> {
        write::write_if(self, ctx, key, data, expected)
    }

    fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>> {
        let id = object_id(&ctx.namespace, key);
        self.per_group(ctx, |g| {
            g.delay();
            let r = g
                .stat(&id)
                .map(|(_, path, header)| g.replica(&path, &id, &header));
            g.commands.count(CMD_LOOKUP, &r, 0);
            r
        })
    }

    fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>> {
        let id = object_id(&ctx.namespace, key);
        self.per_group(ctx, |g| {
            let r = self.remove_one(g, &id);
            g.commands.count(CMD_DEL, &r, 0);
            r
        })
    }

    fn backend_stats(&self) -> Vec<BackendStat> {
        let groups: Vec<Arc<Group>> = {
            let g = self.groups.read();
            g.values().cloned().collect()
        };
        groups
            .iter()
            .map(|g| {
                let sw = g.switches();
                let (used, records) = g.usage.read();
                let (fs_total, fs_avail) = crate::sys::fs_space(&g.data).unwrap_or((0, 0));
                let total = if sw.size_limit > 0 {
                    sw.size_limit
                } else {
                    fs_total
                };
                let avail = total.saturating_sub(used).min(fs_avail);
                BackendStat {
                    group: g.id,
                    address: LOCAL_ADDRESS.to_string(),
                    backend: g.id,
                    total,
                    avail,
                    size_limit: sw.size_limit,
                    used,
                    removed_size: g.removed_bytes.load(Ordering::Relaxed),
                    records_total: records,
                    records_removed: g.removed_records.load(Ordering::Relaxed),
                    read_only: sw.read_only,
                    delay_ms: sw.delay.as_millis() as u64,
                    defrag_state: DefragState::from_code(g.defrag_state.load(Ordering::Relaxed)),
                    error: g.last_error.load(Ordering::Relaxed),
                    commands: g.commands.snapshot(),
                    defrag_runs: g.defrag_runs.load(Ordering::Relaxed),
                    defrag_start_time: g.defrag_started.load(Ordering::Relaxed),
                    defrag_completion_time: g.defrag_completed.load(Ordering::Relaxed),
                    // A run cannot fail: it only sweeps temp files.
                    defrag_completion_status: 0,
                    // One backend per group serves the whole id ring.
                    percentage: 1.0,
                    checksum_errors: g.checksum_errors.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Objects are separate files whose space returns to the file system at
    /// removal, so there is nothing to compact: a run sweeps temp files left
    /// by interrupted writes, forgets the removed-record counters (as an
    /// Elliptics defragmentation drops removed records) and reports
    /// [`DefragOutcome::NothingToCompact`]. The state is `IN_PROGRESS` while it runs.
    fn defragment(&self, group: GroupId, backend: u32) -> Result<DefragOutcome, StorageError> {
        let g = self.group(group)?;
        if backend != g.id {
            return Err(StorageError::new(
                libc::ENXIO,
                format!("group {group}: no backend {backend}"),
            ));
        }
        if g.defrag_state
            .compare_exchange(
                DefragState::NotStarted.code(),
                DefragState::InProgress.code(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Ok(DefragOutcome::AlreadyRunning);
        }
        g.defrag_started.store(unix_now(), Ordering::Relaxed);
        g.sweep_stale_temp_files();
        g.removed_records.store(0, Ordering::Relaxed);
        g.removed_bytes.store(0, Ordering::Relaxed);
        g.defrag_runs.fetch_add(1, Ordering::Relaxed);
        g.defrag_completed.store(unix_now(), Ordering::Relaxed);
        g.defrag_state
            .store(DefragState::NotStarted.code(), Ordering::Release);
        Ok(DefragOutcome::NothingToCompact)
    }

    fn backend_control(
        &self,
        group: GroupId,
        backend: u32,
        cmd: BackendCommand,
    ) -> Result<(), StorageError> {
        let g = self.group(group)?;
        if backend != g.id {
            return Err(StorageError::new(
                libc::ENXIO,
                format!("group {group}: no backend {backend}"),
            ));
        }
        match cmd {
            BackendCommand::SetReadOnly(ro) => {
                let mut sw = g.switches.write();
                sw.read_only = ro;
            }
        }
        Ok(())
    }

    fn reconfigure(&self, local: Option<&LocalConfig>) -> Result<(), StorageError> {
        let Some(cfg) = local else {
            return Err(StorageError::invalid("the config has no \"local\" section"));
        };
        if cfg.path != self.root {
            return Err(StorageError::invalid(format!(
                "local.path changed from {} to {}: restart to move the store",
                self.root.display(),
                cfg.path.display()
            )));
        }
        let mut groups = self.groups.write();
        let mut next = BTreeMap::new();
        for gc in &cfg.groups {
            let group = match groups.get(&gc.group) {
                Some(g) => {
                    *g.switches.write() = gc.into();
                    g.clone()
                }
                None => Arc::new(Group::open(&self.root, gc).map_err(|e| {
                    StorageError::io(format!("local store group {}", gc.group), &e)
                })?),
            };
            next.insert(gc.group, group);
        }
        *groups = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{read_small, write_small, CommandStat};
    use std::fs;

    #[test]
    fn write_read_lookup_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false), (2, 0, false)]);
        let ctx = Context::new("b", vec![1, 2, 9]);
        let res = write_small(&s, &ctx, "../../etc/passwd", b"hello").unwrap();
        assert!(res[0].result.is_ok() && res[1].result.is_ok());
        assert_eq!(res[2].result.as_ref().unwrap_err().errno, -libc::ENXIO);
        let info = res[0].result.as_ref().unwrap();
        assert!(info.filename.starts_with(dir.path().to_str().unwrap()));
        let raw = fs::read(&info.filename).unwrap();
        assert_eq!(&raw[info.offset as usize..], b"hello");
        assert_eq!(info.csum, checksum(b"hello").to_vec());
        assert_eq!(
            read_small(&s, &ctx, "../../etc/passwd", 100).unwrap(),
            b"hello"
        );
        let rm = s.remove(&ctx, "../../etc/passwd");
        assert!(rm[0].result.is_ok() && rm[1].result.is_ok());
        assert!(read_small(&s, &ctx, "../../etc/passwd", 100)
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn limits_read_only_and_abort() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 1000, false), (2, 0, true)]);
        let ctx = Context::new("b", vec![1, 2]);
        let e = s.write(&ctx, "big", None, 2000).err().unwrap();
        assert!(e.errno == -libc::ENOSPC || e.errno == -libc::EROFS, "{e}");
        let mut w = s.write(&ctx, "k", None, 10).unwrap();
        w.write(b"01234").unwrap();
        drop(w);
        assert_eq!(
            fs::read_dir(dir.path().join("group-1/tmp"))
                .unwrap()
                .count(),
            0
        );
        assert!(s.lookup(&ctx, "k")[0]
            .result
            .as_ref()
            .unwrap_err()
            .is_not_found());
        let stats = s.backend_stats();
        assert_eq!(stats[0].used, 0);
        assert!(stats[1].read_only);
    }

    #[test]
    fn counts_commands_and_defragments() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false)]);
        let ctx = Context::new("b", vec![1]);
        write_small(&s, &ctx, "k", b"abc").unwrap();
        assert_eq!(read_small(&s, &ctx, "k", 100).unwrap(), b"abc");
        s.lookup(&ctx, "k");
        s.remove(&ctx, "k");
        s.remove(&ctx, "k");
        let st = &s.backend_stats()[0];
        let c = |n: &str| st.commands[n];
        assert_eq!(c("WRITE"), CommandStat::counters(1, 0, 3));
        assert_eq!(c("READ").bytes, 3);
        assert_eq!(c("LOOKUP").successes, 1);
        assert_eq!(c("DEL"), CommandStat::counters(1, 1, 0));
        assert_eq!(st.records_removed, 1);
        assert_eq!((st.defrag_start_time, st.defrag_completion_time), (0, 0));
        let before = unix_now();
        assert_eq!(s.defragment(1, 1).unwrap(), DefragOutcome::NothingToCompact);
        let st = &s.backend_stats()[0];
        assert_eq!(
            (st.records_removed, st.defrag_runs, st.defrag_state),
            (0, 1, DefragState::NotStarted)
        );
        assert!(st.defrag_start_time >= before, "{st:?}");
        assert!(st.defrag_completion_time >= st.defrag_start_time, "{st:?}");
        assert_eq!(st.defrag_completion_status, 0);
        assert!(s.defragment(1, 7).is_err());
    }

    #[test]
    fn reopen_counts_existing_objects() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = test_store(dir.path(), &[(1, 0, false)]);
            write_small(&s, &Context::new("b", vec![1]), "k", b"abc").unwrap();
        }
        let s = test_store(dir.path(), &[(1, 0, false)]);
        let st = &s.backend_stats()[0];
        assert_eq!(st.records_total, 1);
        assert!(st.used > 3);
    }
}
