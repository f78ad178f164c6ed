//! Re-reading config and buckets while serving: every
//! `proxy.bucket-update-interval` seconds, on SIGHUP, and from
//! `/update_local_config/`.
//!
//! A reload builds a whole new [`Snapshot`] off the request path (config ->
//! validate -> store switches -> bucket list -> bucket metadata) and swaps it
//! in at once; requests already running finish on the snapshot they started
//! with. Whatever fails to read or validate keeps its previous good value,
//! logs one line and is counted in `/proxy_stat/` (see docs/reload.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;

use crate::bucket::{parse_bucket_list, read_meta_object, Buckets};
use crate::config::{Config, Guarded};
use crate::storage::Storage;

mod report;

pub use report::{Fallback, ReloadError, ReloadFailure, ReloadReport, ReloadStatus};

/// The config and buckets a request runs on, from start to end.
pub struct Snapshot {
    /// The proxy config.
    pub config: Arc<Config>,
    /// The bucket registry built for this config.
    pub buckets: Arc<Buckets>,
    /// When this config was loaded.
    pub loaded: SystemTime,
    /// What the static handler must never serve under this config.
    pub guarded: Arc<Guarded>,
}

/// Where the config and the bucket list came from, for reloads.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The `-config` file.
    pub config_path: PathBuf,
    /// The `-buckets` file, if given.
    pub buckets_path: Option<PathBuf>,
}

impl Sources {
    /// The paths a static root must not serve under `config` read from here.
    pub fn guarded(&self, config: &Config) -> Guarded {
        Guarded::new(config, &self.config_path, self.buckets_path.as_deref())
    }
}

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The `bucket-update-interval` timer: config refresh may be suspended,
    /// back buckets are re-read.
    Periodic,
    /// SIGHUP: the operator asks for it, so the config is always re-read
    /// (ending a suspension) and back buckets are forgotten.
    Signal,
}

/// The config to run: `file`, or the one stored under its
/// `elliptics.backrunner-config-key` when that is set and readable (else
/// the failure, and the file is used).
pub fn effective_config(file: Config, storage: &dyn Storage) -> (Config, ReloadReport) {
    let mut report = ReloadReport::default();
    let key = file.elliptics.backrunner_config_key.clone();
    if key.is_empty() {
        return (file, report);
    }
    let read = read_meta_object(storage, &file.elliptics.metadata_groups, &key)
        .map_err(|source| ReloadError::StoredConfig {
            key: key.clone(),
            source,
        })
        .and_then(|data| {
            file.merge_stored(&data, &format!("backrunner-config-key {key:?}"))
                .map_err(ReloadError::from)
        });
    match read {
        Ok(c) => (c, report),
        Err(e) => {
            report.push(e, Fallback::ConfigFile);
            (file, report)
        }
    }
}

/// The bucket list: the `elliptics.bucket-list-key` object when set and
/// readable, else the `-buckets` file, else empty. `None` when neither
/// source that should work can be read (the report says why).
pub fn read_bucket_list(
    config: &Config,
    storage: &dyn Storage,
    file: Option<&std::path::Path>,
) -> (Option<Vec<String>>, ReloadReport) {
    let mut report = ReloadReport::default();
    let key = &config.elliptics.bucket_list_key;
    if !key.is_empty() {
        match read_meta_object(storage, &config.elliptics.metadata_groups, key) {
            Ok(data) => {
                return (
                    Some(parse_bucket_list(&String::from_utf8_lossy(&data))),
                    report,
                )
            }
            // No list written yet is the normal state beside a -buckets file.
            Err(source) if source.is_not_found() && file.is_some() => {
                report.notes.push(format!(
                    "bucket list key {key:?} is not in the cluster (none written yet){}",
                    Fallback::BucketsFile
                ));
            }
            Err(source) => {
                let fallback = if file.is_some() {
                    Fallback::BucketsFile
                } else {
                    Fallback::CurrentList
                };
                let key = key.clone();
                report.push(ReloadError::BucketListKey { key, source }, fallback);
            }
        }
    }
    let list = match file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => Some(parse_bucket_list(&text)),
            Err(source) => {
                let path = p.display().to_string();
                report.push(
                    ReloadError::BucketListFile { path, source },
                    Fallback::Nothing,
                );
                None
            }
        },
        None if key.is_empty() => Some(Vec::new()),
        None => None,
    };
    (list, report)
}

/// Builds the snapshot of `config`: reads the bucket list and the buckets'
/// metadata. With a `previous` snapshot (a reload) its list is kept when
/// the list cannot be read, and so is the metadata of a bucket that cannot;
/// without one (the start) an unreadable list gives `None`.
pub fn build_snapshot(
    storage: &Arc<dyn Storage>,
    sources: &Sources,
    config: Arc<Config>,
    previous: Option<&Snapshot>,
    forget_back: bool,
) -> (Option<Snapshot>, ReloadReport) {
    let (list, mut report) =
        read_bucket_list(&config, storage.as_ref(), sources.buckets_path.as_deref());
    let list = match (list, previous) {
        (Some(list), _) => list,
        (None, Some(p)) => p.buckets.list(),
        (None, None) => return (None, report),
    };
    let (buckets, bucket_errs) = Buckets::reload(
        storage.clone(),
        config.elliptics.metadata_groups.clone(),
        crate::bucket::reserved_keys(&config.elliptics),
        list,
        previous.map(|p| p.buckets.as_ref()),
        forget_back,
    );
    for e in bucket_errs {
        report.push(e, Fallback::Nothing);
    }
    let loaded = match previous {
        Some(p) if Arc::ptr_eq(&config, &p.config) => p.loaded,
        _ => SystemTime::now(),
    };
    let guarded = Arc::new(sources.guarded(&config));
    let snap = Snapshot {
        config,
        buckets: Arc::new(buckets),
        loaded,
        guarded,
    };
    (Some(snap), report)
}

/// The running config and buckets, and how to re-read them.
pub struct Reloader {
    /// The config file's root at start, accepted then (with a warning if it
    /// covers guarded paths), so reloads may always return to it.
    started_root: String,
    storage: Arc<dyn Storage>,
    sources: Sources,
    /// Reload failures and the `/update_local_config/` suspension.
    pub status: ReloadStatus,
    current: RwLock<Arc<Snapshot>>,
}

impl Reloader {
    /// The first snapshot: takes the config from the cluster when the file
    /// names a `backrunner-config-key`, reads the bucket list and loads the
    /// listed buckets. Only an unreadable bucket list is fatal; other
    /// failures are logged and counted like reload failures.
    pub fn start(
        file: Config,
        storage: Arc<dyn Storage>,
        sources: Sources,
    ) -> Result<Reloader, ReloadReport> {
        let file_root = file.proxy.root.clone();
        let (mut config, mut report) = effective_config(file.clone(), storage.as_ref());
        // A stored config may keep the file's root, not move it over guarded paths.
        if let Err(e) = config.check_root_change(&[&file.proxy.root], &sources.guarded(&config)) {
            report.push(ReloadError::StoredRoot(e), Fallback::ConfigFile);
            config = file;
        }
        let (snap, more) = build_snapshot(&storage, &sources, Arc::new(config), None, true);
        report.extend(more);
        let Some(snap) = snap else {
            return Err(report);
        };
        let reloader = Reloader {
            started_root: file_root,
            storage,
            sources,
            status: ReloadStatus::default(),
            current: RwLock::new(Arc::new(snap)),
        };
        reloader.status.record(report);
        Ok(reloader)
    }

    /// Where config and bucket list are re-read from.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The snapshot to serve one request with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    /// Replaces the snapshot; requests already running keep the old one.
    fn replace(&self, next: Snapshot) {
        let next = Arc::new(next);
        *self.current.write() = next;
    }

    /// Applies the store switches of `next` when its `local` section differs
    /// from `current`'s (read-only, delay, size limit, new groups).
    fn apply_store(&self, current: &Config, next: &Config) -> Result<(), ReloadError> {
        let accepted = [current.proxy.root.as_str(), self.started_root.as_str()];
        next.check_root_change(&accepted, &self.sources.guarded(next))
            .map_err(ReloadError::Root)?;
        for key in current.restart_only_changes(next) {
            if key != "local.path" {
                log::warn!("reload: {key} changed: takes effect on restart");
            }
        }
        if current.local == next.local {
            return Ok(());
        }
        self.storage
            .reconfigure(next.local.as_ref())
            .map_err(ReloadError::Store)
    }

    /// Builds the snapshot of `config` over `old` and swaps it in.
    fn swap_in(&self, old: &Snapshot, config: Arc<Config>, forget_back: bool) -> ReloadReport {
        let (snap, report) =
            build_snapshot(&self.storage, &self.sources, config, Some(old), forget_back);
        if let Some(snap) = snap {
            self.replace(snap);
        }
        report
    }

    /// Re-reads config, bucket list and bucket metadata and swaps them in;
    /// the failures are logged, counted and returned. Blocking: run it off
    /// the actix workers.
    pub fn reload(&self, trigger: Trigger) -> ReloadReport {
        let status = &self.status;
        let _one_at_a_time = status.exclusive();
        let old = self.snapshot();
        let mut report = ReloadReport::default();
        if trigger == Trigger::Signal {
            status.freeze_config(None);
        }
        let config = if status.config_frozen_for().is_some() {
            old.config.clone()
        } else {
            match Config::load(&self.sources.config_path) {
                Err(e) => {
                    report.push(e, Fallback::RunningConfig);
                    old.config.clone()
                }
                Ok(file) => {
                    let (next, r) = effective_config(file, self.storage.as_ref());
                    report.extend(r);
                    match self.apply_store(&old.config, &next) {
                        Ok(()) => Arc::new(next),
                        Err(e) => {
                            report.push(e, Fallback::RunningConfig);
                            old.config.clone()
                        }
                    }
                }
            }
        };
        report.extend(self.swap_in(&old, config, trigger == Trigger::Signal));
        status.record(report)
    }

    /// Replaces the running config with `body` (`/update_local_config/`): it is
    /// validated first (keys that need a restart must not change; `proxy.root`
    /// must not expose the store or the config), keeps the running redirect and
    /// admin credentials, and suspends automatic
    /// config refresh for its `disable-config-update-for-seconds`.
    pub fn apply_posted_config(&self, body: &[u8]) -> Result<Arc<Config>, ReloadError> {
        let status = &self.status;
        let _one_at_a_time = status.exclusive();
        let old = self.snapshot();
        let mut next = Config::from_slice(body, "update_local_config body")?;
        // Secrets are changed in the file (and SIGHUP), never through the route
        // they protect; a config copied from /proxy_stat/ carries "<hidden>".
        let p = &old.config.proxy;
        next.proxy.redirect_token = p.redirect_token.clone();
        next.proxy.admin_user = p.admin_user.clone();
        next.proxy.admin_token = p.admin_token.clone();
        let fixed = old.config.restart_only_changes(&next);
        if !fixed.is_empty() {
            return Err(ReloadError::RestartOnly(fixed));
        }
        self.apply_store(&old.config, &next)?;
        let next = Arc::new(next);
        status.record(self.swap_in(&old, next.clone(), false));
        let hold = next.proxy.disable_config_update_for_seconds;
        status.freeze_config((hold > 0).then(|| Duration::from_secs(hold)));
        log::info!(
            "config replaced by /update_local_config/; automatic config refresh off for {hold}s"
        );
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_text(dir: &std::path::Path, token: &str, header: &str) -> String {
        serde_json::json!({
            "elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:0", "redirect-token": token,
                      "headers": {"X-H": header}, "disable-config-update-for-seconds": 60},
            "local": {"path": dir.join("store"), "groups": [{"group": 1}]},
        })
        .to_string()
    }

    fn state(dir: &std::path::Path) -> Reloader {
        let path = dir.join("config.json");
        std::fs::write(&path, config_text(dir, "file-token", "file")).unwrap();
        let cfg = Config::load(&path).unwrap();
        let storage = crate::storage::open(&cfg).unwrap();
        let sources = Sources {
            config_path: path,
            buckets_path: None,
        };
        Reloader::start(cfg, storage, sources).unwrap()
    }

    fn header(s: &Reloader) -> String {
        s.snapshot()
            .config
            .proxy
            .headers
            .get("X-H")
            .unwrap()
            .to_string()
    }

    #[test]
    fn posted_config_keeps_the_token_and_suspends_periodic_config_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let posted = config_text(dir.path(), "posted-token", "posted");
        let c = s.apply_posted_config(posted.as_bytes()).unwrap();
        assert_eq!(c.proxy.redirect_token, "file-token");
        assert_eq!(header(&s), "posted");
        assert!(s.status.config_frozen_for().unwrap() > Duration::from_secs(50));
        assert!(s.reload(Trigger::Periodic).is_clean());
        assert_eq!(header(&s), "posted");
        assert!(s.reload(Trigger::Signal).is_clean());
        assert_eq!(header(&s), "file");
        assert!(s.status.config_frozen_for().is_none());
        assert_eq!(s.status.error_count(), 0);
        assert!(s.apply_posted_config(b"{}").is_err());
        assert_eq!(header(&s), "file");
    }

    #[test]
    fn cluster_config_takes_local_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = Config::from_slice(config_text(dir.path(), "t", "f").as_bytes(), "f").unwrap();
        let stored = br#"{"elliptics": {"metadata-groups": [1]}, "proxy": {"address": ":1", "headers": {"X-H": "s"}},
            "local": {"path": "/elsewhere", "groups": [{"group": 9}]}}"#;
        let c = file.merge_stored(stored, "key").unwrap();
        assert_eq!(c.local, file.local);
        assert_eq!(c.proxy.headers.get("X-H"), Some("s"));
        let e = file
            .merge_stored(br#"{"proxy": {"address": ":1"}}"#, "key")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metadata-groups"), "{e}");
    }

    #[test]
    fn failed_reload_keeps_config_and_load_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let before = s.snapshot();
        std::fs::write(&s.sources().config_path, "not json").unwrap();
        let report = s.reload(Trigger::Signal);
        assert_eq!(report.failures.len(), 1, "{report}");
        assert_eq!(report.failures[0].fallback, Fallback::RunningConfig);
        let after = s.snapshot();
        assert!(Arc::ptr_eq(&before.config, &after.config));
        assert_eq!(before.loaded, after.loaded);
        assert_eq!(s.status.error_count(), 1);
        assert!(s
            .status
            .last_error()
            .unwrap()
            .1
            .contains("keeping the running config"));
    }
}
