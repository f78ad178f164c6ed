//! The Elliptics backend: the [`Storage`] trait over the official client
//! (`elliptics-sys`). One [`ffi::Node`] per process; a session per call
//! carries the request's namespace (bucket), groups, flags, trace id and
//! timeout. Keys are the bucket-relative key strings with the bucket as
//! namespace, as Backrunner (elliptics-go) stored them.

mod cas;
pub mod ffi;
mod read;
pub mod stats;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::ffi::{BackendOp, BackendStatus, Entry, Node, NodeParams, Route, Session, SessionParams};
use crate::config::Config;
use crate::storage::{
    BackendCommand, BackendStat, Context, DefragOutcome, DefragState, GroupId, GroupResult,
    ObjectReader, ObjectWriter, ReplicaInfo, Storage, StorageError, Version,
};

/// `DNET_MONITOR_BACKEND`: backend statistics category.
const MONITOR_BACKEND: u64 = 1 << 4;
/// `DNET_MONITOR_COMMANDS`: per-command counters (per backend with BACKEND).
const MONITOR_COMMANDS: u64 = 1 << 2;
/// `DNET_IO_FLAGS_NOCSUM`: skips the server's checksum check; never set on reads.
const IO_FLAGS_NOCSUM: u64 = 1 << 8;

/// Checksum failures (`-EILSEQ` replies to reads) per (address, backend).
type ChecksumErrors = Arc<Mutex<BTreeMap<(String, u32), u64>>>;

/// Maps a log level name to the client's severity number.
pub fn log_level(name: &str) -> i32 {
    match name.to_ascii_lowercase().as_str() {
        "debug" => 0,
        "notice" => 1,
        "info" => 2,
        "warning" | "warn" => 3,
        _ => 4,
    }
}

/// The Elliptics store.
pub struct EllipticsStore {
    node: Arc<Node>,
    /// How long gathered backend statistics are reused.
    stats_ttl: Duration,
    stats_cache: StatsCache,
    /// Per (address, backend): defragmentation seen running, and runs seen finished.
    defrags: Mutex<BTreeMap<(String, u32), (bool, u64)>>,
    checksum_errors: ChecksumErrors,
    /// The node's wait timeout in seconds (`node-config.wait-timeout`).
    wait_timeout: u64,
}

/// Backend statistics gathered last, reused for `stats_ttl` (eblob itself
/// refreshes them once per periodic timeout); dropped after backend control.
type StatsCache = Mutex<Option<(Instant, Vec<BackendStat>)>>;

fn invalidate(cache: &StatsCache) {
    *cache.lock() = None;
}

impl EllipticsStore {
    /// Creates the client node from the `elliptics` section and connects to
    /// its `remote` nodes.
    pub fn open(config: &Config) -> Result<EllipticsStore, StorageError> {
        let e = &config.elliptics;
        let nc = &e.node_config;
        let node = Node::new(&NodeParams {
            io_thread_num: nc.io_thread_num as i32,
            nonblocking_io_thread_num: nc.nonblocking_io_thread_num as i32,
            net_thread_num: nc.net_thread_num as i32,
            wait_timeout: nc.wait_timeout as i64,
            check_timeout: nc.check_timeout as i64,
            flags: nc.flags,
            stall_count: nc.stall_count as i64,
            log_file: e.log_file.clone(),
            log_level: log_level(&e.log_level),
        })?;
        node.add_remotes(&e.remote).map_err(|err| {
            StorageError::new(
                err.errno,
                format!("connecting to {}: {}", e.remote.join(", "), err.message),
            )
        })?;
        Ok(EllipticsStore {
            node: Arc::new(node),
            stats_ttl: Duration::from_secs(config.proxy.bucket_stat_update_interval.clamp(1, 60)),
            stats_cache: Mutex::new(None),
            // 0 is the client's default (the shim's 5 s).
            wait_timeout: if nc.wait_timeout > 0 {
                nc.wait_timeout
            } else {
                5
            },
            defrags: Mutex::new(BTreeMap::new()),
            checksum_errors: Arc::default(),
        })
    }

    fn session(&self, ctx: &Context) -> Result<Session, StorageError> {
        Session::new(
            &self.node,
            SessionParams {
                namespace: ctx.namespace.clone(),
                groups: ctx.groups.iter().map(|&g| g as i32).collect(),
                ioflags: ctx.ioflags as u32,
                cflags: ctx.cflags,
                trace_id: ctx.trace_id,
                timeout: ctx.timeout.map(|t| t.as_secs().max(1) as i64).unwrap_or(0),
                timestamp: ctx.timestamp.map(|t| {
                    let d = crate::time::since_epoch(t);
                    (d.as_secs(), u64::from(d.subsec_nanos()))
                }),
            },
        )
    }

    fn admin(&self) -> Result<Session, StorageError> {
        self.session(&Context::default())
    }

    /// The route table: which node and backend serve each group.
    pub fn routes(&self) -> Result<Vec<Route>, StorageError> {
        self.admin()?.routes()
    }

    /// (address, backend) pairs serving `group`.
    pub fn group_backends(&self, group: GroupId) -> Result<Vec<(String, u32)>, StorageError> {
        let set: BTreeSet<(String, u32)> = self
            .routes()?
            .into_iter()
            .filter(|r| r.group == group)
            .map(|r| (r.address, r.backend))
            .collect();
        if set.is_empty() {
            return Err(StorageError::new(
                libc::ENXIO,
                format!("no route to group {group}"),
            ));
        }
        Ok(set.into_iter().collect())
    }

    /// Backend status or control on every backend of `group`; answers the
    /// backends' states afterwards.
    pub fn control_group(
        &self,
        group: GroupId,
        op: BackendOp,
    ) -> Result<Vec<BackendStatus>, StorageError> {
        let s = self.admin()?;
        let mut out = Vec::new();
        for (addr, backend) in self.group_backends(group)? {
            out.extend(
                s.backend_control(&addr, backend, op)?
                    .into_iter()
                    .filter(|b| b.backend == backend),
            );
        }
        self.invalidate_stats();
        Ok(out)
    }

    /// Marks every backend of `group` read-only or writable.
    pub fn set_read_only(&self, group: GroupId, read_only: bool) -> Result<(), StorageError> {
        let op = if read_only {
            BackendOp::ReadOnly
        } else {
            BackendOp::Writable
        };
        self.control_group(group, op).map(|_| ())
    }

    /// Sets an artificial delay per operation on every backend of `group`.
    pub fn set_delay(&self, group: GroupId, delay_ms: u32) -> Result<(), StorageError> {
        self.control_group(group, BackendOp::Delay(delay_ms))
            .map(|_| ())
    }

    fn invalidate_stats(&self) {
        invalidate(&self.stats_cache);
    }

    /// Fills in the checksum failures this proxy's reads met per backend.
    fn add_checksum_errors(&self, stats: &mut [BackendStat]) {
        let seen = self.checksum_errors.lock();
        for st in stats.iter_mut() {
            st.checksum_errors = seen
                .get(&(st.address.clone(), st.backend))
                .copied()
                .unwrap_or(0);
        }
    }

    fn gather_stats(&self) -> Result<Vec<BackendStat>, StorageError> {
        let s = self.admin()?;
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for (addr, json) in s.monitor_stat(MONITOR_BACKEND | MONITOR_COMMANDS)? {
            match stats::parse_backends(&addr, &json) {
                Ok(v) => out.extend(v),
                Err(e) => failures.push(e.to_string()),
            }
        }
        // Nodes without a monitor still report their backends' state.
        if !failures.is_empty() {
            let addrs: BTreeSet<String> = s.routes()?.into_iter().map(|r| r.address).collect();
            let groups: BTreeMap<(String, u32), u32> = s
                .routes()?
                .into_iter()
                .map(|r| ((r.address, r.backend), r.group))
                .collect();
            log::warn!("{}", failures.join("; "));
            let missing: Vec<&String> = addrs
                .iter()
                .filter(|a| !out.iter().any(|o| &o.address == *a))
                .collect();
            for a in missing {
                for b in s.backend_control(a, 0, BackendOp::Status)? {
                    if let Some(&group) = groups.get(&(a.clone(), b.backend)) {
                        out.push(BackendStat {
                            group,
                            address: a.clone(),
                            backend: b.backend,
                            read_only: b.read_only,
                            delay_ms: b.delay_ms.into(),
                            defrag_state: DefragState::from_code(b.defrag_state),
                            error: b.last_start_err,
                            ..Default::default()
                        });
                    }
                }
            }
        }
        match s.routes() {
            Ok(routes) => stats::set_ring_shares(&mut out, &routes),
            Err(e) => log::warn!("elliptics routes for statistics: {e}"),
        }
        self.count_defrags(&mut out);
        Ok(out)
    }

    /// Counts finished defragmentations: a backend seen defragmenting and
    /// later seen idle finished one run.
    fn count_defrags(&self, stats: &mut [BackendStat]) {
        let mut seen = self.defrags.lock();
        for st in stats.iter_mut() {
            let entry = seen
                .entry((st.address.clone(), st.backend))
                .or_insert((false, 0));
            let running = st.defrag_state.is_running();
            if entry.0 && !running {
                entry.1 += 1;
            }
            entry.0 = running;
            st.defrag_runs = entry.1;
        }
    }

    /// The node serving backend `backend` of `group`.
    fn backend_address(&self, group: GroupId, backend: u32) -> Result<String, StorageError> {
        self.group_backends(group)?
            .into_iter()
            .find(|(_, b)| *b == backend)
            .map(|(a, _)| a)
            .ok_or_else(|| {
                StorageError::new(
                    libc::ENXIO,
                    format!("group {group} has no backend {backend}"),
                )
            })
    }
}

/// Per-group results for `groups` from the replies of one command: a
/// group without a reply gets the command's error.
fn per_group<T>(
    groups: &[GroupId],
    entries: &[Entry],
    overall: &Result<(), StorageError>,
    mut ok: impl FnMut(&Entry) -> Result<T, StorageError>,
) -> Vec<GroupResult<T>> {
    groups
        .iter()
        .map(|&g| {
            let mine: Vec<&Entry> = entries.iter().filter(|e| e.group == g).collect();
            let result = match mine.iter().find(|e| e.status == 0) {
                Some(e) => ok(e),
                None => Err(match mine.first() {
                    Some(e) => e
                        .result()
                        .err()
                        .unwrap_or_else(|| StorageError::new(libc::EIO, "no reply")),
                    None => overall.clone().err().unwrap_or_else(|| {
                        StorageError::new(libc::ENXIO, format!("no reply from group {g}"))
                    }),
                }),
            };
            GroupResult { group: g, result }
        })
        .collect()
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn replica(e: &Entry) -> Result<ReplicaInfo, StorageError> {
    let info = e
        .info
        .as_ref()
        .ok_or_else(|| StorageError::new(libc::EIO, "reply without file information"))?;
    Ok(ReplicaInfo {
        group: e.group,
        backend: e.backend,
        address: e.address.clone(),
        id: hex(&e.id),
        filename: info.path.clone(),
        offset: info.offset,
        size: info.size,
        mtime: info.mtime,
        csum: info.csum.clone(),
    })
}

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

    /// Each read is a round trip to the node: 512 KiB reads gave the raw
    /// client about twice the rate of 256 KiB ones on a 64 MiB object
    /// (bench/get.sh ELL_CHUNKS, docs/object-path.md), for 2 MiB per download.
    fn read_chunk(&self) -> usize {
        512 * 1024
    }

    fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError> {
        Ok(Box::new(self.reader(ctx, key)?))
    }

    /// From the start of an object, one read command (see [`read`]).
    fn open_read(
        &self,
        ctx: &Context,
        key: &str,
        at: u64,
        len: usize,
    ) -> Result<(Box<dyn ObjectReader>, Bytes), StorageError> {
        read::open_first(self, ctx, key, at, len)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn log_levels() {
        assert_eq!(log_level("debug"), 0);
        assert_eq!(log_level("INFO"), 2);
        assert_eq!(log_level("error"), 4);
        assert_eq!(log_level("whatever"), 4);
    }

    fn entry(group: u32, status: i32) -> Entry {
        Entry {
            status,
            message: format!("status {status}"),
            group,
            backend: group,
            address: "a:1:2".into(),
            id: [0; 64],
            key_index: None,
            info: None,
            data: Vec::new(),
            total_size: 0,
            mtime: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn groups_without_reply_get_the_command_error() {
        let entries = vec![entry(1, 0), entry(2, -libc::EROFS)];
        let overall = Err(StorageError::new(libc::ETIMEDOUT, "timed out"));
        let r = per_group(&[1, 2, 3], &entries, &overall, |_| Ok(()));
        assert!(r[0].result.is_ok());
        assert_eq!(r[1].result.as_ref().unwrap_err().errno, -libc::EROFS);
        assert_eq!(r[2].result.as_ref().unwrap_err().errno, -libc::ETIMEDOUT);
        let r = per_group(&[4], &entries, &Ok(()), |_| Ok(()));
        assert_eq!(r[0].result.as_ref().unwrap_err().errno, -libc::ENXIO);
    }
}
