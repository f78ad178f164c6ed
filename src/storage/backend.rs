//! What a backend reports and takes: space, health and command counters
//! (statistics and placement read them), defragmentation state, control
//! commands.

use serde::Serialize;

use super::{GroupId, StorageError};

/// Space and health of one backend, as gathered for statistics and placement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackendStat {
    /// Group the backend serves.
    pub group: GroupId,
    /// Storage node address.
    pub address: String,
    /// Backend id on that node.
    pub backend: u32,
    /// Bytes the backend may hold (size limit, or the file system's size).
    pub total: u64,
    /// Bytes still available.
    pub avail: u64,
    /// Configured size limit (0 = none).
    pub size_limit: u64,
    /// Bytes used by live objects.
    pub used: u64,
    /// Bytes used by removed records not yet reclaimed.
    pub removed_size: u64,
    /// Live records.
    pub records_total: u64,
    /// Removed records.
    pub records_removed: u64,
    /// Whether the backend refuses writes.
    pub read_only: bool,
    /// Artificial delay per operation in milliseconds.
    pub delay_ms: u64,
    /// Whether a defragmentation is running.
    pub defrag_state: DefragState,
    /// Last error code (negative errno, 0 = none).
    pub error: i32,
    /// Per-command counters, keyed by Elliptics command name (`WRITE`, `READ`, `LOOKUP`, `DEL`).
    pub commands: std::collections::BTreeMap<String, CommandStat>,
    /// Defragmentations finished since start.
    pub defrag_runs: u64,
    /// When the last defragmentation started (seconds since the epoch, 0 = never).
    pub defrag_start_time: u64,
    /// When the last defragmentation finished (seconds since the epoch, 0 = never).
    pub defrag_completion_time: u64,
    /// Outcome of the last defragmentation: 0 or a negative errno.
    pub defrag_completion_status: i32,
    /// Share of its group's id ring this backend serves, 0..=1.
    pub percentage: f64,
    /// Reads since start that found a replica's bytes not matching their
    /// checksum (the bytes were read from another replica, or the read failed).
    pub checksum_errors: u64,
}

impl BackendStat {
    /// The backend's last error, if it reports one.
    pub fn last_error(&self) -> Option<StorageError> {
        (self.error != 0).then(|| StorageError::new(self.error, "backend error"))
    }
}

impl AsRef<BackendStat> for BackendStat {
    fn as_ref(&self) -> &BackendStat {
        self
    }
}

/// Counters of one command on one backend, and their rates over the last
/// statistics interval (filled by `cluster::Cluster::refresh`, 0 until
/// two updates were seen).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct CommandStat {
    /// Requests that succeeded.
    pub successes: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Payload bytes moved (as the store counts them).
    pub bytes: u64,
    /// Successes per second over the last statistics interval.
    pub rps_success: f64,
    /// Failures per second over the last statistics interval.
    pub rps_failures: f64,
    /// Bytes per second over the last statistics interval.
    pub bps: f64,
}

impl CommandStat {
    /// Counters only (rates 0).
    pub fn counters(successes: u64, failures: u64, bytes: u64) -> Self {
        CommandStat {
            successes,
            failures,
            bytes,
            ..Default::default()
        }
    }

    /// Requests served, failed ones included.
    pub fn requests(&self) -> u64 {
        self.successes + self.failures
    }

    /// Fills the rates from the counters `prev` had `secs` seconds earlier,
    /// as elliptics-go does: counter difference over the time between two
    /// statistics updates. A counter that went back (a restarted node)
    /// or a zero interval leaves the rate 0.
    pub fn set_rates(&mut self, prev: &CommandStat, secs: f64) {
        let rate = |now: u64, before: u64| {
            if secs > 0.0 && now >= before {
                (now - before) as f64 / secs
            } else {
                0.0
            }
        };
        self.rps_success = rate(self.successes, prev.successes);
        self.rps_failures = rate(self.failures, prev.failures);
        self.bps = rate(self.bytes, prev.bytes);
    }
}

/// Whether a backend is being defragmented (Elliptics'
/// `DNET_BACKEND_DEFRAG_*`; serialized as that code).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefragState {
    /// No defragmentation running (code 0).
    #[default]
    NotStarted,
    /// A defragmentation is running (code 1; any other code reads so too).
    InProgress,
}

impl DefragState {
    /// The state of an Elliptics status code.
    pub fn from_code(code: u32) -> DefragState {
        if code == 0 {
            DefragState::NotStarted
        } else {
            DefragState::InProgress
        }
    }

    /// The Elliptics status code.
    pub fn code(self) -> u32 {
        match self {
            DefragState::NotStarted => 0,
            DefragState::InProgress => 1,
        }
    }

    /// Whether a defragmentation is running.
    pub fn is_running(self) -> bool {
        self == DefragState::InProgress
    }

    /// Backrunner's `/stat/` words.
    pub fn as_str(self) -> &'static str {
        match self {
            DefragState::NotStarted => "not-started",
            DefragState::InProgress => "in-progress",
        }
    }
}

impl Serialize for DefragState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

/// What a defragmentation request achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DefragOutcome {
    /// The backend started (or finished) compacting.
    Started,
    /// The backend had nothing to compact (its removed records take no space).
    NothingToCompact,
    /// A defragmentation was already running there.
    AlreadyRunning,
}

/// Commands to steer one backend, as Elliptics' backend control offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendCommand {
    /// Refuse (true) or accept (false) writes.
    SetReadOnly(bool),
}
