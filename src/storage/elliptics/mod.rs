//! The Elliptics backend: the [`Storage`] trait over the official client
//! (`elliptics-sys`). One [`ffi::Node`] per process; a session per call
//! carries the request's namespace (bucket), groups, flags, trace id and
//! timeout. Keys are the bucket-relative key strings with the bucket as
//! namespace, as Backrunner (elliptics-go) stored them.

pub mod ffi;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::ffi::{
    BackendOp, BackendStatus, Entry, Node, NodeParams, Route, Session, SessionParams, WriteKind,
};
use crate::cluster::consistency::differ;
use crate::config::Config;
use crate::storage::{
    defrag_state, pick_error, BackendCommand, BackendStat, Context, DefragOutcome, GroupId,
    GroupResult, ObjectReader, ObjectWriter, ReplicaInfo, Storage, StorageError,
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
}

/// Backend statistics gathered last, reused for `stats_ttl` (eblob itself
/// refreshes them once per periodic timeout); dropped after backend control.
type StatsCache = Mutex<Option<(Instant, Vec<BackendStat>)>>;

fn invalidate(cache: &StatsCache) {
    if let Ok(mut c) = cache.lock() {
        *c = None;
    }
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
                -libc::ENXIO,
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
        let Ok(seen) = self.checksum_errors.lock() else {
            return;
        };
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
                Err(e) => failures.push(e),
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
                            defrag_state: b.defrag_state,
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
        let Ok(mut seen) = self.defrags.lock() else {
            return;
        };
        for st in stats.iter_mut() {
            let entry = seen
                .entry((st.address.clone(), st.backend))
                .or_insert((false, 0));
            let running = st.defrag_state != defrag_state::NOT_STARTED;
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
                    -libc::ENXIO,
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
                        .unwrap_or_else(|| StorageError::new(-libc::EIO, "no reply")),
                    None => overall.clone().err().unwrap_or_else(|| {
                        StorageError::new(-libc::ENXIO, format!("no reply from group {g}"))
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
        .ok_or_else(|| StorageError::new(-libc::EIO, "reply without file information"))?;
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

/// The context of a read: the server checks every read against its
/// checksums (-EILSEQ on a mismatch), and no flag may turn that off.
fn read_context(ctx: &Context) -> Context {
    let mut rctx = ctx.clone();
    rctx.ioflags &= !IO_FLAGS_NOCSUM;
    rctx
}

impl EllipticsStore {
    /// Looks `key` up and opens the replica found first.
    fn reader(&self, ctx: &Context, key: &str) -> Result<EllipticsReader, StorageError> {
        let s = self.session(&read_context(ctx))?;
        let (entries, overall) = s.lookup(key);
        let results = per_group(&ctx.groups, &entries, &overall, replica);
        let info = match results.iter().find_map(|r| r.result.as_ref().ok()) {
            Some(i) => i.clone(),
            None => {
                return Err(pick_error(
                    results.iter().filter_map(|r| r.result.as_ref().err()),
                ))
            }
        };
        // Read the replica found first; the client library moves to the next
        // group on an error (a failed checksum too), so only groups holding
        // the same version follow, and a chunk never mixes versions.
        let mut order = vec![info.group as i32];
        order.extend(results.iter().filter_map(|r| match &r.result {
            Ok(other) if other.group != info.group && !differ(other, &info) => {
                Some(other.group as i32)
            }
            _ => None,
        }));
        self.reader_in_order(&s, order, key, info)
    }

    /// A reader of `info` that reads the groups in `order`.
    fn reader_in_order(
        &self,
        s: &Session,
        order: Vec<i32>,
        key: &str,
        info: ReplicaInfo,
    ) -> Result<EllipticsReader, StorageError> {
        Ok(EllipticsReader {
            session: s.with_groups(order.clone())?,
            order,
            key: key.to_string(),
            info,
            checksum_errors: self.checksum_errors.clone(),
            corrupt: Vec::new(),
        })
    }
}

impl Storage for EllipticsStore {
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        partial: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StorageError> {
        if ctx.groups.is_empty() {
            return Err(StorageError::new(-libc::ENXIO, "no groups to write to"));
        }
        let mut session = self.session(ctx)?;
        let mut live = ctx.groups.clone();
        let mut failed = BTreeMap::new();
        // A write at an offset needs the object in that group and keeps the
        // bytes past its end: the final size is the larger of the current
        // size and offset + size (as the embedded store does).
        let offset = partial.unwrap_or(0);
        let mut total = offset.checked_add(size).ok_or_else(|| {
            StorageError::new(
                -libc::EFBIG,
                format!("offset {offset} + size {size} is too large"),
            )
        })?;
        let mut partial = partial.is_some();
        let looked_up = if partial {
            let (entries, overall) = session.lookup(key);
            per_group(&ctx.groups, &entries, &overall, replica)
        } else {
            Vec::new()
        };
        // At offset 0 an object that exists in no group is simply written.
        if offset == 0
            && looked_up
                .iter()
                .all(|r| matches!(&r.result, Err(e) if e.is_not_found()))
        {
            partial = false;
        }
        if partial {
            live.clear();
            // A group lacking the object fails: one commit size serves every
            // group, so it cannot be written whole there meanwhile.
            for r in looked_up {
                let checked = match r.result {
                    Ok(info) if offset > info.size => Err(StorageError::invalid(format!(
                        "group {}: offset {offset} is past the object's end ({} bytes)",
                        r.group, info.size
                    ))),
                    Ok(info) => Ok(info.size),
                    Err(e) if e.is_not_found() => Err(StorageError::invalid(format!(
                        "group {}: offset {offset} given but the object does not exist",
                        r.group
                    ))),
                    Err(e) => Err(e),
                };
                match checked {
                    Ok(old) => {
                        total = total.max(old);
                        live.push(r.group);
                    }
                    Err(e) => {
                        failed.insert(r.group, e);
                    }
                }
            }
            if live.is_empty() {
                return Err(pick_error(failed.values()));
            }
            if live.len() != ctx.groups.len() {
                session = session.with_groups(live.iter().map(|&g| g as i32).collect())?;
            }
        }
        Ok(Box::new(EllipticsWriter {
            session,
            key: key.to_string(),
            offset,
            partial,
            size,
            total,
            written: 0,
            live,
            failed,
            last: Vec::new(),
        }))
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

    /// From the start of an object, one read command: its reply carries the
    /// record's size and time, so no lookup goes first, and a small object
    /// is served by that one round trip. The replica's data file and
    /// checksum are not in a read reply: the ETag then comes from id, size
    /// and time, as it does for the all-zero checksums that Elliptics 3.0
    /// lookups answer. An object larger than the first chunk is looked up
    /// as well, so that later chunks come only from replicas of the same
    /// version.
    fn open_read(
        &self,
        ctx: &Context,
        key: &str,
        at: u64,
        len: usize,
    ) -> Result<(Box<dyn ObjectReader>, Bytes), StorageError> {
        if at != 0 || len == 0 {
            // Past the end a read fails where a lookup answers the size.
            return crate::storage::open_then_read(self, ctx, key, at, len);
        }
        let s = self.session(&read_context(ctx))?;
        let (entries, overall) = s.read(key, 0, len as u64);
        let Some(first) = entries.iter().position(|e| e.status == 0) else {
            if entries.iter().any(|e| e.status == -libc::EILSEQ) {
                // Bad records: the lookup path counts and skips them.
                return crate::storage::open_then_read(self, ctx, key, at, len);
            }
            // A missing key costs this one round trip, not a lookup more.
            let errors: Vec<StorageError> =
                entries.iter().filter_map(|e| e.result().err()).collect();
            return Err(if errors.is_empty() {
                overall
                    .err()
                    .unwrap_or_else(|| StorageError::new(-libc::EIO, "read returned nothing"))
            } else {
                pick_error(errors.iter())
            });
        };
        let e = &entries[first];
        if (e.data.len() as u64) < e.total_size {
            let mut reader = self.reader(ctx, key)?;
            reader.note_corrupt(&entries)?;
            let i = &reader.info;
            let data = if i.group == e.group && i.size == e.total_size && i.mtime == e.mtime {
                Bytes::from(
                    entries
                        .into_iter()
                        .nth(first)
                        .map(|e| e.data)
                        .unwrap_or_default(),
                )
            } else {
                crate::storage::read_full(&mut reader, 0, len)?
            };
            return Ok((Box::new(reader), data));
        }
        let info = ReplicaInfo {
            group: e.group,
            backend: e.backend,
            address: e.address.clone(),
            id: hex(&e.id),
            filename: String::new(),
            offset: 0,
            size: e.total_size,
            mtime: e.mtime,
            csum: Vec::new(),
        };
        // The whole object came in this reply: no later chunk needs an order.
        let order = vec![info.group as i32];
        let mut reader = self.reader_in_order(&s, order, key, info)?;
        reader.note_corrupt(&entries)?;
        let data = entries
            .into_iter()
            .nth(first)
            .map(|e| e.data)
            .unwrap_or_default();
        Ok((Box::new(reader), Bytes::from(data)))
    }

    fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>> {
        match self.session(ctx).map(|s| s.lookup(key)) {
            Ok((entries, overall)) => per_group(&ctx.groups, &entries, &overall, replica),
            Err(e) => fail_all(&ctx.groups, e),
        }
    }

    fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>> {
        match self.session(ctx).map(|s| s.remove(key)) {
            Ok((entries, overall)) => per_group(&ctx.groups, &entries, &overall, |_| Ok(())),
            Err(e) => fail_all(&ctx.groups, e),
        }
    }

    fn bulk_remove(&self, ctx: &Context, keys: &[String]) -> Vec<Vec<GroupResult<()>>> {
        let (entries, overall) = match self.session(ctx).map(|s| s.bulk_remove(keys)) {
            Ok(r) => r,
            Err(e) => {
                return keys
                    .iter()
                    .map(|_| fail_all(&ctx.groups, e.clone()))
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
            .any(|b| b.backend == backend && b.defrag_state != defrag_state::NOT_STARTED)
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
        if let Ok(mut seen) = self.defrags.lock() {
            seen.entry((addr, backend)).or_insert((false, 0)).0 = true;
        }
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
        if let Ok(c) = self.stats_cache.lock() {
            if let Some((at, s)) = c.as_ref() {
                if at.elapsed() < self.stats_ttl {
                    let mut s = s.clone();
                    self.add_checksum_errors(&mut s);
                    return s;
                }
            }
        }
        let mut stats = match self.gather_stats() {
            Ok(s) => {
                if let Ok(mut c) = self.stats_cache.lock() {
                    *c = Some((Instant::now(), s.clone()));
                }
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

fn fail_all<T>(groups: &[GroupId], e: StorageError) -> Vec<GroupResult<T>> {
    groups
        .iter()
        .map(|&g| GroupResult {
            group: g,
            result: Err(e.clone()),
        })
        .collect()
}

/// A streaming write: write_prepare (reserving the final size) /
/// write_plain / write_commit, so the new version stays invisible until the
/// last chunk; a whole object in one chunk is one write_data. A write at an
/// offset does the same on the existing record: eblob's prepare keeps the
/// record's bytes, and the commit size keeps any tail past the new bytes
/// (a plain write_data at an offset would cut the object there).
struct EllipticsWriter {
    session: Session,
    key: String,
    offset: u64,
    /// Whether bytes outside `[offset, offset + size)` are kept.
    partial: bool,
    size: u64,
    /// The object's size once committed.
    total: u64,
    written: u64,
    /// Groups that have not failed yet.
    live: Vec<GroupId>,
    failed: BTreeMap<GroupId, StorageError>,
    /// Replies of the latest command, per live group.
    last: Vec<Entry>,
}

impl EllipticsWriter {
    fn send(
        &mut self,
        kind: WriteKind,
        data: &[u8],
        remote_offset: u64,
        size_arg: u64,
    ) -> Result<(), StorageError> {
        let (entries, overall) = self
            .session
            .write(kind, &self.key, data, remote_offset, size_arg);
        let results = per_group(&self.live, &entries, &overall, |_| Ok(()));
        let before = self.live.len();
        for r in results {
            if let Err(e) = r.result {
                self.live.retain(|&g| g != r.group);
                self.failed.insert(r.group, e);
            }
        }
        self.last = entries.into_iter().filter(|e| e.status == 0).collect();
        if self.live.is_empty() {
            return Err(pick_error(self.failed.values()));
        }
        if self.live.len() != before {
            self.session = self
                .session
                .with_groups(self.live.iter().map(|&g| g as i32).collect())?;
        }
        Ok(())
    }
}

impl ObjectWriter for EllipticsWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        if self.live.is_empty() {
            return Err(pick_error(self.failed.values()));
        }
        let end = self.written.saturating_add(data.len() as u64);
        if end > self.size {
            return Err(StorageError::invalid(format!(
                "body is longer than the declared {} bytes",
                self.size
            )));
        }
        let remote = self.offset + self.written;
        let total = self.total;
        let (first, last) = (self.written == 0, end == self.size);
        let kind = if first && last && !self.partial {
            WriteKind::Data
        } else if first {
            WriteKind::Prepare
        } else if last {
            WriteKind::Commit
        } else {
            WriteKind::Plain
        };
        self.send(kind, data, remote, total)?;
        if first && last && kind == WriteKind::Prepare {
            self.send(WriteKind::Commit, &[], remote + data.len() as u64, total)?;
        }
        self.written = end;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>> {
        if self.size == 0 && self.written == 0 && !self.live.is_empty() {
            let _ = self.send(WriteKind::Data, &[], self.offset, self.offset);
        }
        if self.written < self.size {
            let e = StorageError::new(
                -libc::EIO,
                format!("body ended after {} of {} bytes", self.written, self.size),
            );
            return self
                .live
                .iter()
                .map(|&g| (g, Err(e.clone())))
                .chain(self.failed.iter().map(|(&g, e)| (g, Err(e.clone()))))
                .map(|(group, result)| GroupResult { group, result })
                .collect();
        }
        let mut out: Vec<GroupResult<ReplicaInfo>> = self
            .live
            .iter()
            .map(|&g| GroupResult {
                group: g,
                result: self
                    .last
                    .iter()
                    .find(|e| e.group == g)
                    .ok_or_else(|| StorageError::new(-libc::EIO, "no reply"))
                    .and_then(replica),
            })
            .collect();
        out.extend(self.failed.iter().map(|(&g, e)| GroupResult {
            group: g,
            result: Err(e.clone()),
        }));
        out
    }
}

/// Reads one replica chunk by chunk; a chunk that fails the server's
/// checksum is read from the next group holding the same version.
struct EllipticsReader {
    session: Session,
    /// Groups of `session`, in reading order.
    order: Vec<i32>,
    key: String,
    info: ReplicaInfo,
    checksum_errors: ChecksumErrors,
    /// Groups whose replica failed a checksum, not yet taken.
    corrupt: Vec<GroupId>,
}

impl EllipticsReader {
    /// Counts every group that answered `-EILSEQ` and moves it to the end of
    /// the reading order, so later chunks go to a good replica first.
    fn note_corrupt(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let bad: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.status == -libc::EILSEQ)
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        for e in &bad {
            log::error!(
                "group {} ({} backend {}): {}: checksum mismatch",
                e.group,
                e.address,
                e.backend,
                self.key
            );
            if let Ok(mut m) = self.checksum_errors.lock() {
                *m.entry((e.address.clone(), e.backend)).or_default() += 1;
            }
            if !self.corrupt.contains(&e.group) {
                self.corrupt.push(e.group);
            }
        }
        // A bad record may be bad in one chunk only: its group moves to the
        // end of the order (the last resort) instead of leaving it.
        let (bad_groups, mut good): (Vec<i32>, Vec<i32>) = self
            .order
            .iter()
            .copied()
            .partition(|&g| bad.iter().any(|e| e.group as i32 == g));
        good.extend(bad_groups);
        if good != self.order {
            self.order = good;
            self.session = self.session.with_groups(self.order.clone())?;
        }
        Ok(())
    }
}

impl ObjectReader for EllipticsReader {
    fn info(&self) -> &ReplicaInfo {
        &self.info
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        if offset >= self.info.size || len == 0 {
            return Ok(Bytes::new());
        }
        let want = (len as u64).min(self.info.size - offset);
        let (entries, overall) = self.session.read(&self.key, offset, want);
        self.note_corrupt(&entries)?;
        match entries.into_iter().find(|e| e.status == 0) {
            Some(e) if e.total_size != 0 && e.total_size != self.info.size => {
                Err(StorageError::new(
                    -libc::EIO,
                    format!(
                        "group {}: {} changed during the read ({} bytes, was {})",
                        e.group, self.key, e.total_size, self.info.size
                    ),
                ))
            }
            Some(e) => Ok(Bytes::from(e.data)),
            None => Err(overall
                .err()
                .unwrap_or_else(|| StorageError::new(-libc::EIO, "read returned nothing"))),
        }
    }

    fn take_corrupt(&mut self) -> Vec<GroupId> {
        std::mem::take(&mut self.corrupt)
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
        let overall = Err(StorageError::new(-libc::ETIMEDOUT, "timed out"));
        let r = per_group(&[1, 2, 3], &entries, &overall, |_| Ok(()));
        assert!(r[0].result.is_ok());
        assert_eq!(r[1].result.as_ref().unwrap_err().errno, -libc::EROFS);
        assert_eq!(r[2].result.as_ref().unwrap_err().errno, -libc::ETIMEDOUT);
        let r = per_group(&[4], &entries, &Ok(()), |_| Ok(()));
        assert_eq!(r[0].result.as_ref().unwrap_err().errno, -libc::ENXIO);
    }
}
