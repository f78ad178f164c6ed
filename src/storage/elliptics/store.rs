//! The Elliptics store's state: one client node, its sessions, the
//! statistics cache and the helpers every operation shares (per-group
//! results, replica descriptions).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use super::stats;

use super::ffi::{
    BackendOp, BackendStatus, Entry, Node, NodeParams, Route, Session, SessionParams,
};
use crate::config::Config;
use crate::storage::{
    BackendStat, Context, DefragState, GroupId, GroupResult, ReplicaInfo, StorageError,
};

/// `DNET_MONITOR_BACKEND`: backend statistics category.
pub(super) const MONITOR_BACKEND: u64 = 1 << 4;
/// `DNET_MONITOR_COMMANDS`: per-command counters (per backend with BACKEND).
pub(super) const MONITOR_COMMANDS: u64 = 1 << 2;
/// `DNET_IO_FLAGS_NOCSUM`: skips the server's checksum check; never set on reads.
pub(super) const IO_FLAGS_NOCSUM: u64 = 1 << 8;

/// Checksum failures (`-EILSEQ` replies to reads) per (address, backend).
pub(super) type ChecksumErrors = Arc<Mutex<BTreeMap<(String, u32), u64>>>;

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
    pub(super) node: Arc<Node>,
    /// How long gathered backend statistics are reused.
    pub(super) stats_ttl: Duration,
    pub(super) stats_cache: StatsCache,
    /// Per (address, backend): defragmentation seen running, and runs seen finished.
    pub(super) defrags: Mutex<BTreeMap<(String, u32), (bool, u64)>>,
    pub(super) checksum_errors: ChecksumErrors,
    /// The node's wait timeout in seconds (`node-config.wait-timeout`).
    pub(super) wait_timeout: u64,
    /// Nodes to reconnect when a statistics round finds them gone.
    pub(super) reconnect: super::reconnect::Reconnect,
}

/// Backend statistics gathered last, reused for `stats_ttl` (eblob itself
/// refreshes them once per periodic timeout); dropped after backend control.
pub(super) type StatsCache = Mutex<Option<(Instant, Vec<BackendStat>)>>;

pub(super) fn invalidate(cache: &StatsCache) {
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
            reconnect: Default::default(),
        })
    }

    pub(super) fn session(&self, ctx: &Context) -> Result<Session, StorageError> {
        session_on(&self.node, ctx)
    }

    pub(super) fn admin(&self) -> Result<Session, StorageError> {
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

    pub(super) fn invalidate_stats(&self) {
        invalidate(&self.stats_cache);
    }

    /// Fills in the checksum failures this proxy's reads met per backend.
    pub(super) fn add_checksum_errors(&self, stats: &mut [BackendStat]) {
        let seen = self.checksum_errors.lock();
        for st in stats.iter_mut() {
            st.checksum_errors = seen
                .get(&(st.address.clone(), st.backend))
                .copied()
                .unwrap_or(0);
        }
    }

    pub(super) fn gather_stats(&self) -> Result<Vec<BackendStat>, StorageError> {
        let s = self.admin()?;
        // First: with every node gone, the statistics below fail.
        if let Ok(routes) = s.routes() {
            let routed = routes.into_iter().map(|r| r.address);
            self.reconnect.note(&self.node, routed);
        }
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
    pub(super) fn count_defrags(&self, stats: &mut [BackendStat]) {
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
    pub(super) fn backend_address(
        &self,
        group: GroupId,
        backend: u32,
    ) -> Result<String, StorageError> {
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
pub(super) fn per_group<T>(
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

pub(super) fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn replica(e: &Entry) -> Result<ReplicaInfo, StorageError> {
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

/// A session on `node` for the request `ctx` describes.
pub(super) fn session_on(node: &Arc<Node>, ctx: &Context) -> Result<Session, StorageError> {
    Session::new(
        node,
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
