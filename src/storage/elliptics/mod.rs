//! The Elliptics backend: the [`Storage`] trait over the official client
//! (`elliptics-sys`). One [`ffi::Node`] per process; a session per call
//! carries the request's namespace (bucket), groups, flags, trace id and
//! timeout. Keys are the bucket-relative key strings with the bucket as
//! namespace, as Backrunner (elliptics-go) stored them.

mod cas;
pub mod ffi;
mod read;
mod reconnect;
pub mod stats;
mod store;
mod write;

pub use store::{log_level, EllipticsStore};
use store::{per_group, replica};

use std::time::Instant;

use self::ffi::{BackendOp, Entry};
use crate::storage::{
    BackendCommand, BackendStat, Context, DefragOutcome, DefragState, GroupId, GroupResult,
    LookingUp, ObjectReader, ObjectWriter, OpenedRead, OpeningRead, ReplicaInfo, Storage,
    StorageError, Version,
};

impl Storage for EllipticsStore {
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        partial: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StorageError> {
        write::start(self, ctx, key, partial, size)
    }

    fn write_if(
        &self,
        ctx: &Context,
        key: &str,
        data: &[u8],
        expected: &Version,
    ) -> Vec<GroupResult<ReplicaInfo>> {
        cas::write_if(self, ctx, key, data, expected)
    }

    fn write_if_takes_absent(&self) -> bool {
        true
    }

    /// Each read is a round trip to the node: 512 KiB reads gave the raw
    /// client about twice the rate of 256 KiB ones on a 64 MiB object
    /// (bench/get.sh ELL_CHUNKS, docs/object-path.md), for 2 MiB per download.
    fn read_chunk(&self) -> usize {
        512 * 1024
    }

    fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError> {
        Ok(Box::new(self.reads().reader(ctx, key)?))
    }

    /// From the start of an object, one read command (see [`read`]).
    fn open_read(&self, ctx: &Context, key: &str, at: u64, len: usize) -> OpenedRead {
        read::open_first(self, ctx, key, at, len)
    }

    /// [`Storage::open_read`] from the start, awaiting the client's reply.
    fn start_open_read(
        &self,
        ctx: &Context,
        key: &str,
        at: u64,
        len: usize,
    ) -> Option<OpeningRead> {
        read::start_open_first(self, ctx, key, at, len)
    }

    fn start_lookup(&self, ctx: &Context, key: &str) -> Option<LookingUp> {
        let groups = ctx.groups.clone();
        let started = self
            .session(ctx)
            .and_then(|s| Ok((s.lookup_started(key)?, s)));
        Some(Box::pin(async move {
            let (reply, _session) = match started {
                Ok(started) => started,
                Err(e) => return GroupResult::fail_all(&groups, &e),
            };
            let (entries, overall) = reply.await;
            per_group(&groups, &entries, &overall, replica)
        }))
    }

    fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>> {
        match self.session(ctx).map(|s| s.lookup(key)) {
            Ok((entries, overall)) => per_group(&ctx.groups, &entries, &overall, replica),
            Err(e) => GroupResult::fail_all(&ctx.groups, &e),
        }
    }

    fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>> {
        match self.session(ctx).map(|s| s.remove(key)) {
            Ok((entries, overall)) => per_group(&ctx.groups, &entries, &overall, |_| Ok(())),
            Err(e) => GroupResult::fail_all(&ctx.groups, &e),
        }
    }

    fn bulk_remove(&self, ctx: &Context, keys: &[String]) -> Vec<Vec<GroupResult<()>>> {
        let (entries, overall) = match self.session(ctx).map(|s| s.bulk_remove(keys)) {
            Ok(r) => r,
            Err(e) => {
                return keys
                    .iter()
                    .map(|_| GroupResult::fail_all(&ctx.groups, &e))
                    .collect()
            }
        };
        // Replies sorted by key once, not searched once per key.
        let mut per_key: Vec<Vec<Entry>> = vec![Vec::new(); keys.len()];
        for e in entries {
            if let Some(slot) = e.key_index.and_then(|i| per_key.get_mut(i)) {
                slot.push(e);
            }
        }
        per_key
            .iter()
            .map(|mine| per_group(&ctx.groups, mine, &overall, |_| Ok(())))
            .collect()
    }

    fn defragment(&self, group: GroupId, backend: u32) -> Result<DefragOutcome, StorageError> {
        let addr = self.backend_address(group, backend)?;
        let s = self.admin()?;
        let status = s.backend_control(&addr, backend, BackendOp::Status)?;
        if status
            .iter()
            .any(|b| b.backend == backend && DefragState::from_code(b.defrag_state).is_running())
        {
            return Ok(DefragOutcome::AlreadyRunning);
        }
        let removed = self
            .backend_stats()
            .iter()
            .find(|st| st.address == addr && st.backend == backend)
            .map(|st| st.removed_size);
        if removed == Some(0) {
            return Ok(DefragOutcome::NothingToCompact);
        }
        s.backend_control(&addr, backend, BackendOp::Defrag)?;
        // A short run may end before statistics ever show it running.
        self.defrags
            .lock()
            .entry((addr, backend))
            .or_insert((false, 0))
            .0 = true;
        self.invalidate_stats();
        Ok(DefragOutcome::Started)
    }

    fn backend_control(
        &self,
        group: GroupId,
        backend: u32,
        cmd: BackendCommand,
    ) -> Result<(), StorageError> {
        let addr = self.backend_address(group, backend)?;
        let op = match cmd {
            BackendCommand::SetReadOnly(true) => BackendOp::ReadOnly,
            BackendCommand::SetReadOnly(false) => BackendOp::Writable,
        };
        self.admin()?.backend_control(&addr, backend, op)?;
        self.invalidate_stats();
        Ok(())
    }

    fn backend_stats(&self) -> Vec<BackendStat> {
        let cached = self.stats_cache.lock().clone();
        if let Some((at, mut s)) = cached {
            if at.elapsed() < self.stats_ttl {
                self.add_checksum_errors(&mut s);
                return s;
            }
        }
        let mut stats = match self.gather_stats() {
            Ok(s) => {
                *self.stats_cache.lock() = Some((Instant::now(), s.clone()));
                s
            }
            Err(e) => {
                log::warn!("elliptics statistics: {e}");
                Vec::new()
            }
        };
        self.add_checksum_errors(&mut stats);
        stats
    }
}
