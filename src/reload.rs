//! Re-reading config and buckets while serving: every
//! `proxy.bucket-update-interval` seconds, on SIGHUP, and from
//! `/update_local_config/`.
//!
//! A reload builds a whole new [`Snapshot`] off the request path (config ->
//! validate -> store switches -> bucket list -> bucket metadata) and swaps it
//! in at once; requests already running finish on the snapshot they started
//! with. Whatever fails to read or validate keeps its previous good value,
//! logs one line and is counted in `/proxy_stat/` (see docs/reload.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use actix_web::web;

use crate::bucket::{parse_bucket_list, Buckets, META_NAMESPACE};
use crate::config::{Config, ConfigError};
use crate::state::{AppState, Snapshot};
use crate::storage::{read_small, write_small, Context, Storage};

/// Largest config or bucket list object read from the metadata groups.
const OBJECT_LIMIT: u64 = 16 << 20;

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

/// Reload bookkeeping: serialises reloads and remembers failures for `/proxy_stat/`.
#[derive(Default)]
pub struct ReloadStatus {
    running: Mutex<()>,
    errors: AtomicU64,
    last_error: Mutex<Option<(SystemTime, String)>>,
    config_frozen_until: Mutex<Option<Instant>>,
}

impl ReloadStatus {
    /// How many reload steps have failed since start.
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The last failure and when it happened.
    pub fn last_error(&self) -> Option<(SystemTime, String)> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Logs and counts one failed reload step.
    pub fn fail(&self, line: &str) {
        log::error!("reload: {line}");
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some((SystemTime::now(), line.to_string()));
        }
    }

    /// How long automatic config refresh stays suspended, if it is.
    pub fn config_frozen_for(&self) -> Option<Duration> {
        let until = (*self.config_frozen_until.lock().ok()?)?;
        until.checked_duration_since(Instant::now())
    }

    fn freeze_config(&self, d: Option<Duration>) {
        if let Ok(mut f) = self.config_frozen_until.lock() {
            *f = d.map(|d| Instant::now() + d);
        }
    }

    fn exclusive(&self) -> MutexGuard<'_, ()> {
        match self.running.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Reads a small object of namespace `bucket` from the metadata groups.
pub fn read_meta_object(
    storage: &dyn Storage,
    meta_groups: &[u32],
    key: &str,
) -> Result<Vec<u8>, String> {
    let ctx = Context::new(META_NAMESPACE, meta_groups.to_vec());
    read_small(storage, &ctx, key, OBJECT_LIMIT).map_err(|e| e.to_string())
}

/// Writes a small object of namespace `bucket` into every metadata group;
/// fails unless all succeed.
pub fn write_meta_object(
    storage: &dyn Storage,
    meta_groups: &[u32],
    key: &str,
    data: &[u8],
) -> Result<(), String> {
    let ctx = Context::new(META_NAMESPACE, meta_groups.to_vec());
    let results = write_small(storage, &ctx, key, data).map_err(|e| e.to_string())?;
    match results.into_iter().find(|r| r.result.is_err()) {
        Some(r) => Err(format!(
            "group {}: {}",
            r.group,
            r.result.err().map(|e| e.to_string()).unwrap_or_default()
        )),
        None => Ok(()),
    }
}

/// Parses a config stored in the cluster and merges it with the file's: the
/// `local` section always comes from the file (it describes this machine's
/// disks). The result is validated like a config file.
pub fn merge_cluster_config(
    file: &Config,
    data: &[u8],
    origin: &str,
) -> Result<Config, ConfigError> {
    let mut c: Config = serde_json::from_slice(data).map_err(|e| ConfigError::Parse {
        path: origin.to_string(),
        message: format!("invalid JSON: {e}"),
    })?;
    c.local = file.local.clone();
    c.validate().map_err(|message| ConfigError::Invalid {
        path: origin.to_string(),
        message,
    })?;
    Ok(c)
}

/// The config to run: `file`, or the one stored under its
/// `elliptics.backrunner-config-key` when that is set and readable (a
/// failure is added to `errs` and the file is used).
pub fn effective_config(file: Config, storage: &dyn Storage, errs: &mut Vec<String>) -> Config {
    let key = file.elliptics.backrunner_config_key.clone();
    if key.is_empty() {
        return file;
    }
    let origin = format!("backrunner-config-key {key:?}");
    let read = read_meta_object(storage, &file.elliptics.metadata_groups, &key)
        .map_err(|e| format!("config {origin}: {e}"))
        .and_then(|data| merge_cluster_config(&file, &data, &origin).map_err(|e| e.to_string()));
    match read {
        Ok(c) => c,
        Err(e) => {
            errs.push(format!("{e}; using the config file"));
            file
        }
    }
}

/// The bucket list: the `elliptics.bucket-list-key` object when set and
/// readable, else the `-buckets` file, else empty. `None` (with the cause in
/// `errs`) when neither source that should work can be read.
pub fn read_bucket_list(
    config: &Config,
    storage: &dyn Storage,
    file: Option<&std::path::Path>,
    errs: &mut Vec<String>,
) -> Option<Vec<String>> {
    let key = &config.elliptics.bucket_list_key;
    if !key.is_empty() {
        match read_meta_object(storage, &config.elliptics.metadata_groups, key) {
            Ok(data) => return Some(parse_bucket_list(&String::from_utf8_lossy(&data))),
            Err(e) => {
                let fallback = if file.is_some() {
                    "using the -buckets file"
                } else {
                    "keeping the current list"
                };
                errs.push(format!("bucket list key {key:?}: {e}; {fallback}"));
            }
        }
    }
    match file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => Some(parse_bucket_list(&text)),
            Err(e) => {
                errs.push(format!("bucket list {}: cannot read: {e}", p.display()));
                None
            }
        },
        None if key.is_empty() => Some(Vec::new()),
        None => None,
    }
}

/// Applies the store switches of `next` when its `local` section differs
/// from `current`'s (read-only, delay, size limit, new groups).
fn apply_store(state: &AppState, current: &Config, next: &Config) -> Result<(), String> {
    next.check_root(&state.sources.config_path)?;
    for key in current.restart_only_changes(next) {
        if key != "local.path" {
            log::warn!("reload: {key} changed: takes effect on restart");
        }
    }
    if current.local == next.local {
        return Ok(());
    }
    state
        .storage
        .reconfigure(next.local.as_ref())
        .map_err(|e| format!("store switches: {e}"))
}

/// Reads list and metadata for `config` and swaps the new snapshot in.
fn swap_in(
    state: &AppState,
    old: &Snapshot,
    config: Arc<Config>,
    forget_back: bool,
    errs: &mut Vec<String>,
) {
    let storage = state.storage.as_ref();
    let list = read_bucket_list(
        &config,
        storage,
        state.sources.buckets_path.as_deref(),
        errs,
    )
    .unwrap_or_else(|| old.buckets.list());
    let (buckets, bucket_errs) = Buckets::reload(
        state.storage.clone(),
        config.elliptics.metadata_groups.clone(),
        crate::bucket::reserved_keys(&config.elliptics),
        list,
        Some(&old.buckets),
        forget_back,
    );
    errs.extend(bucket_errs);
    let loaded = if Arc::ptr_eq(&config, &old.config) {
        old.loaded
    } else {
        SystemTime::now()
    };
    state.replace(Snapshot {
        config,
        buckets: Arc::new(buckets),
        loaded,
    });
}

/// Re-reads config, bucket list and bucket metadata and swaps them in.
/// Blocking: run it off the actix workers.
pub fn reload(state: &AppState, trigger: Trigger) {
    let status = &state.reload;
    let _one_at_a_time = status.exclusive();
    let old = state.snapshot();
    let mut errs = Vec::new();
    if trigger == Trigger::Signal {
        status.freeze_config(None);
    }
    let config = if status.config_frozen_for().is_some() {
        old.config.clone()
    } else {
        match Config::load(&state.sources.config_path) {
            Err(e) => {
                errs.push(format!("{e}; keeping the running config"));
                old.config.clone()
            }
            Ok(file) => {
                let next = effective_config(file, state.storage.as_ref(), &mut errs);
                match apply_store(state, &old.config, &next) {
                    Ok(()) => Arc::new(next),
                    Err(e) => {
                        errs.push(format!("{e}; keeping the running config"));
                        old.config.clone()
                    }
                }
            }
        }
    };
    swap_in(state, &old, config, trigger == Trigger::Signal, &mut errs);
    for e in &errs {
        status.fail(e);
    }
}

/// Replaces the running config with `body` (`/update_local_config/`): it is
/// validated first (keys that need a restart must not change; `proxy.root`
/// must not expose the store or the config), keeps the running redirect and
/// admin credentials, and suspends automatic
/// config refresh for its `disable-config-update-for-seconds`.
pub fn apply_posted_config(state: &AppState, body: &[u8]) -> Result<Arc<Config>, String> {
    let status = &state.reload;
    let _one_at_a_time = status.exclusive();
    let old = state.snapshot();
    let mut next =
        Config::from_slice(body, "update_local_config body").map_err(|e| e.to_string())?;
    // Secrets are changed in the file (and SIGHUP), never through the route
    // they protect; a config copied from /proxy_stat/ carries "<hidden>".
    let p = &old.config.proxy;
    next.proxy.redirect_token = p.redirect_token.clone();
    next.proxy.admin_user = p.admin_user.clone();
    next.proxy.admin_token = p.admin_token.clone();
    let fixed = old.config.restart_only_changes(&next);
    if !fixed.is_empty() {
        return Err(format!(
            "update_local_config body: these keys cannot change while the proxy runs (edit the file and restart): {}",
            fixed.join(", ")
        ));
    }
    apply_store(state, &old.config, &next)?;
    let next = Arc::new(next);
    let mut errs = Vec::new();
    swap_in(state, &old, next.clone(), false, &mut errs);
    for e in &errs {
        status.fail(e);
    }
    let hold = next.proxy.disable_config_update_for_seconds;
    status.freeze_config((hold > 0).then(|| Duration::from_secs(hold)));
    log::info!(
        "config replaced by /update_local_config/; automatic config refresh off for {hold}s"
    );
    Ok(next)
}

/// Registers the SIGHUP hook that reloads config and buckets.
pub fn install(state: &AppState) {
    state.on_reload(
        "config+buckets",
        Box::new(|s: &AppState| reload(s, Trigger::Signal)),
    );
}

/// Reloads every `proxy.bucket-update-interval` seconds (read from the
/// running config each time; 0 turns it off) until the process ends.
pub async fn run_periodic(state: web::Data<AppState>) {
    loop {
        let secs = state.snapshot().config.proxy.bucket_update_interval;
        actix_web::rt::time::sleep(Duration::from_secs(secs.max(1))).await;
        if secs == 0 {
            continue;
        }
        let s = state.clone();
        if let Err(e) = web::block(move || reload(&s, Trigger::Periodic)).await {
            log::error!("reload: periodic refresh did not run: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Sources;

    fn config_text(dir: &std::path::Path, token: &str, header: &str) -> String {
        serde_json::json!({
            "elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:0", "redirect-token": token,
                      "headers": {"X-H": header}, "disable-config-update-for-seconds": 60},
            "local": {"path": dir.join("store"), "groups": [{"group": 1}]},
        })
        .to_string()
    }

    fn state(dir: &std::path::Path) -> AppState {
        let path = dir.join("config.json");
        std::fs::write(&path, config_text(dir, "file-token", "file")).unwrap();
        let cfg = Config::load(&path).unwrap();
        let storage = crate::storage::open(&cfg).unwrap();
        let sources = Sources {
            config_path: path,
            buckets_path: None,
        };
        AppState::new(cfg, storage, sources).unwrap()
    }

    fn header(s: &AppState) -> String {
        s.snapshot().config.proxy.headers["X-H"].clone()
    }

    #[test]
    fn posted_config_keeps_the_token_and_suspends_periodic_config_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let posted = config_text(dir.path(), "posted-token", "posted");
        let c = apply_posted_config(&s, posted.as_bytes()).unwrap();
        assert_eq!(c.proxy.redirect_token, "file-token");
        assert_eq!(header(&s), "posted");
        assert!(s.reload.config_frozen_for().unwrap() > Duration::from_secs(50));
        reload(&s, Trigger::Periodic);
        assert_eq!(header(&s), "posted");
        reload(&s, Trigger::Signal);
        assert_eq!(header(&s), "file");
        assert!(s.reload.config_frozen_for().is_none());
        assert_eq!(s.reload.error_count(), 0);
        assert!(apply_posted_config(&s, b"{}").is_err());
        assert_eq!(header(&s), "file");
    }

    #[test]
    fn cluster_config_takes_local_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = Config::from_slice(config_text(dir.path(), "t", "f").as_bytes(), "f").unwrap();
        let stored = br#"{"elliptics": {"metadata-groups": [1]}, "proxy": {"address": ":1", "headers": {"X-H": "s"}},
            "local": {"path": "/elsewhere", "groups": [{"group": 9}]}}"#;
        let c = merge_cluster_config(&file, stored, "key").unwrap();
        assert_eq!(c.local, file.local);
        assert_eq!(c.proxy.headers["X-H"], "s");
        let e = merge_cluster_config(&file, br#"{"proxy": {"address": ":1"}}"#, "key")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metadata-groups"), "{e}");
    }

    #[test]
    fn failed_reload_keeps_config_and_load_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let before = s.snapshot();
        std::fs::write(&s.sources.config_path, "not json").unwrap();
        reload(&s, Trigger::Signal);
        let after = s.snapshot();
        assert!(Arc::ptr_eq(&before.config, &after.config));
        assert_eq!(before.loaded, after.loaded);
        assert_eq!(s.reload.error_count(), 1);
        assert!(s
            .reload
            .last_error()
            .unwrap()
            .1
            .contains("keeping the running config"));
    }
}
