//! The index's counters since start and their snapshot (`/proxy_stat/`
//! "index", `/metrics`).

use std::sync::atomic::AtomicU64;

use serde::Serialize;

/// Counters of index work since start (`/proxy_stat/` "index").
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) entries: AtomicU64,
    pub(super) updates: AtomicU64,
    pub(super) attempts: AtomicU64,
    pub(super) calls: AtomicU64,
    pub(super) bytes_written: AtomicU64,
    pub(super) splits: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) journaled: AtomicU64,
    pub(super) journal_replayed: AtomicU64,
}

/// A snapshot of the index counters.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct IndexStats {
    /// Changes recorded (object writes and removals).
    pub entries: u64,
    /// Shard updates done: a group commit records several changes in one.
    pub updates: u64,
    /// Compare-and-swap attempts on shards: `attempts - updates` were conflicts.
    pub attempts: u64,
    /// Store calls made by shard updates (reads and writes, every group).
    pub calls: u64,
    /// Bytes updates wrote (every group).
    pub bytes_written: u64,
    /// Shard splits.
    pub splits: u64,
    /// Object writes or removals whose index update failed (logged; the
    /// object operation still succeeded; `bmeta -check-index` repairs
    /// dangling entries), and merges of a log that failed on something
    /// else than an unreachable group (a damaged shard; tried again).
    pub failures: u64,
    /// Changes waiting for their shard's update or in it now (a gauge).
    pub pending: u64,
    /// Changes that waited for their primary, journaled in the cluster
    /// (src/index/journal.rs).
    pub journaled: u64,
    /// Journal records written to the index by this proxy's journal
    /// replays (its own and other proxies' changes).
    pub journal_replayed: u64,
    /// Writes of this proxy's log objects (src/index/logs.rs): concurrent
    /// changes share one.
    pub log_writes: u64,
    /// Bytes those writes stored (every group).
    pub log_bytes: u64,
    /// Changes recorded in this proxy's logs.
    pub logged: u64,
    /// Of those, merged into the shards.
    pub merged: u64,
    /// Changes of silent proxies' logs this proxy merged.
    pub adopted: u64,
}
