//! What a reload reports: the failed steps, what each fell back to, notes
//! said once at INFO, and the bookkeeping `/proxy_stat/` shows.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, MutexGuard};

use crate::bucket::BucketReloadError;
use crate::config::{ConfigError, InvalidConfig};
use crate::storage::StorageError;

/// One reload step that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file, the stored config or a posted one is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The stored config (`elliptics.backrunner-config-key`) cannot be read.
    #[error("config backrunner-config-key {key:?}: {source}")]
    StoredConfig {
        /// The key.
        key: String,
        /// Why.
        source: StorageError,
    },
    /// The stored config's `proxy.root` would expose the store or the config.
    #[error("backrunner-config-key: {0}")]
    StoredRoot(InvalidConfig),
    /// The new config's `proxy.root` would expose the store or the config.
    #[error("{0}")]
    Root(InvalidConfig),
    /// The store refused the new `local` switches.
    #[error("store switches: {0}")]
    Store(StorageError),
    /// The bucket list object (`elliptics.bucket-list-key`) cannot be read.
    #[error("bucket list key {key:?}: {source}")]
    BucketListKey {
        /// The key.
        key: String,
        /// Why.
        source: StorageError,
    },
    /// The `-buckets` file cannot be read.
    #[error("bucket list {path}: cannot read: {source}")]
    BucketListFile {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// One bucket's metadata cannot be read.
    #[error(transparent)]
    Bucket(#[from] BucketReloadError),
    /// A posted config changes keys that need a restart.
    #[error("update_local_config body: these keys cannot change while the proxy runs (edit the file and restart): {}", .0.join(", "))]
    RestartOnly(Vec<&'static str>),
}

/// What a failed step fell back to, said after its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Nothing to say (the step's error says it).
    Nothing,
    /// The stored config failed: the file's is used.
    ConfigFile,
    /// The new config failed: the running one stays.
    RunningConfig,
    /// The bucket list key failed: the `-buckets` file is read.
    BucketsFile,
    /// The bucket list key failed and there is no file: the list stays.
    CurrentList,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fallback::Nothing => "",
            Fallback::ConfigFile => "; using the config file",
            Fallback::RunningConfig => "; keeping the running config",
            Fallback::BucketsFile => "; using the -buckets file",
            Fallback::CurrentList => "; keeping the current list",
        })
    }
}

/// A failed step and what the reload did instead.
#[derive(Debug, thiserror::Error)]
#[error("{error}{fallback}")]
pub struct ReloadFailure {
    /// What failed.
    pub error: ReloadError,
    /// What was used instead.
    pub fallback: Fallback,
}

/// The failures of one reload (or of the start), one line each.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// In the order they happened.
    pub failures: Vec<ReloadFailure>,
    /// Normal states worth saying once at INFO (not failures).
    pub notes: Vec<String>,
}

impl ReloadReport {
    pub(super) fn push(&mut self, error: impl Into<ReloadError>, fallback: Fallback) {
        self.failures.push(ReloadFailure {
            error: error.into(),
            fallback,
        });
    }

    pub(super) fn extend(&mut self, other: ReloadReport) {
        self.failures.extend(other.failures);
        self.notes.extend(other.notes);
    }

    /// Whether every step succeeded.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReloadReport {}

/// Reload bookkeeping: serialises reloads and remembers failures for `/proxy_stat/`.
#[derive(Default)]
pub struct ReloadStatus {
    running: Mutex<()>,
    errors: AtomicU64,
    last_error: Mutex<Option<(SystemTime, String)>>,
    config_frozen_until: Mutex<Option<Instant>>,
    notes_said: Mutex<Vec<String>>,
}

impl ReloadStatus {
    /// How many reload steps have failed since start.
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The last failure and when it happened.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.last_error.lock().clone()
    }

    /// Logs and counts one failed reload step.
    pub fn fail(&self, line: &dyn fmt::Display) {
        let line = line.to_string();
        log::error!("reload: {line}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some((SystemTime::now(), line));
    }

    /// Logs and counts every failure of `report`, and hands it back.
    pub(super) fn record(&self, report: ReloadReport) -> ReloadReport {
        for e in &report.failures {
            self.fail(e);
        }
        // Each note once while it holds: said again only after it stopped.
        let mut said = self.notes_said.lock();
        for n in &report.notes {
            if !said.contains(n) {
                log::info!("reload: {n}");
            }
        }
        *said = report.notes.clone();
        report
    }

    /// How long automatic config refresh stays suspended, if it is.
    pub fn config_frozen_for(&self) -> Option<Duration> {
        let until = (*self.config_frozen_until.lock())?;
        until.checked_duration_since(Instant::now())
    }

    pub(super) fn freeze_config(&self, d: Option<Duration>) {
        *self.config_frozen_until.lock() = d.map(|d| Instant::now() + d);
    }

    pub(super) fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.running.lock()
    }
}
