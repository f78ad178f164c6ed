//! What every request shares: the storage, the current config and buckets
//! (an immutable snapshot swapped as a whole on reload), and statistics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::bucket::Buckets;
use crate::config::Config;
use crate::reload::{effective_config, read_bucket_list, ReloadStatus};
use crate::stats::ProxyStats;
use crate::storage::Storage;

/// The config and buckets a request runs on, from start to end.
pub struct Snapshot {
    /// The proxy config.
    pub config: Arc<Config>,
    /// The bucket registry built for this config.
    pub buckets: Arc<Buckets>,
    /// When this config was loaded.
    pub loaded: SystemTime,
}

/// Where the config and the bucket list came from, for reloads.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The `-config` file.
    pub config_path: PathBuf,
    /// The `-buckets` file, if given.
    pub buckets_path: Option<PathBuf>,
}

/// Work redone on SIGHUP (config and buckets, TLS certificates, log files).
pub type ReloadHook = Box<dyn Fn(&AppState) + Send + Sync>;

/// Shared state of the running proxy.
pub struct AppState {
    /// The store.
    pub storage: Arc<dyn Storage>,
    /// Request and error statistics.
    pub stats: ProxyStats,
    /// Where config and bucket list are re-read from.
    pub sources: Sources,
    /// Reload failures and the `/update_local_config/` suspension.
    pub reload: ReloadStatus,
    /// Cached cluster statistics, write costs and consistency counters.
    pub cluster: Arc<crate::placement::Cluster>,
    /// The object path (reads, writes, lookups, removes) over `storage`.
    pub objects: crate::core::Objects,
    /// Open client connections and `proxy.max-connections`.
    pub connections: crate::http::connections::Connections,
    current: RwLock<Arc<Snapshot>>,
    hooks: Mutex<Vec<(&'static str, ReloadHook)>>,
}

impl AppState {
    /// Builds the state: takes the config from the cluster when the file
    /// names a `backrunner-config-key`, reads the bucket list and loads the
    /// listed buckets. Only an unreadable bucket list is fatal; other
    /// failures are logged and counted like reload failures.
    pub fn new(
        config: Config,
        storage: Arc<dyn Storage>,
        sources: Sources,
    ) -> Result<AppState, String> {
        let mut errs = Vec::new();
        let file = config.clone();
        let mut config = effective_config(config, storage.as_ref(), &mut errs);
        // The file's root was checked by the caller; a stored config's is checked here.
        if let Err(e) = config.check_root(&sources.config_path) {
            errs.push(format!("backrunner-config-key: {e}; using the config file"));
            config = file;
        }
        let list = read_bucket_list(
            &config,
            storage.as_ref(),
            sources.buckets_path.as_deref(),
            &mut errs,
        )
        .ok_or_else(|| errs.join("; "))?;
        let (buckets, bucket_errs) = Buckets::reload(
            storage.clone(),
            config.elliptics.metadata_groups.clone(),
            crate::bucket::reserved_keys(&config.elliptics),
            list,
            None,
            true,
        );
        errs.extend(bucket_errs);
        let cluster = Arc::new(crate::placement::Cluster::default());
        let state = AppState {
            objects: crate::core::Objects::new(
                storage.clone(),
                cluster.clone(),
                config.proxy.index_shard_entries,
            ),
            cluster,
            storage,
            stats: ProxyStats::default(),
            sources,
            reload: ReloadStatus::default(),
            connections: Default::default(),
            current: RwLock::new(Arc::new(Snapshot {
                config: Arc::new(config),
                buckets: Arc::new(buckets),
                loaded: SystemTime::now(),
            })),
            hooks: Mutex::new(Vec::new()),
        };
        for e in &errs {
            state.reload.fail(e);
        }
        Ok(state)
    }

    /// The snapshot to serve one request with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Registers work to redo on SIGHUP, in registration order.
    pub fn on_reload(&self, name: &'static str, hook: ReloadHook) {
        if let Ok(mut h) = self.hooks.lock() {
            h.push((name, hook));
        }
    }

    /// Runs every reload hook (SIGHUP). Blocking: call it off the actix workers.
    pub fn run_reload_hooks(&self) {
        let Ok(hooks) = self.hooks.lock() else { return };
        for (name, hook) in hooks.iter() {
            log::info!("reload: {name}");
            hook(self);
        }
    }

    /// Replaces the snapshot; requests already running keep the old one.
    pub fn replace(&self, next: Snapshot) {
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut s) => *s = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}
