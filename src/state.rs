//! What every request shares: the storage, the running config and buckets
//! (an immutable snapshot swapped as a whole on reload), the cluster view
//! and statistics.

use std::sync::Arc;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::reload::{ReloadReport, Reloader};
use crate::stats::ProxyStats;
use crate::storage::Storage;

pub use crate::reload::{Snapshot, Sources};

/// Shared state of the running proxy.
pub struct AppState {
    /// The store.
    pub storage: Arc<dyn Storage>,
    /// Request and error statistics.
    pub stats: ProxyStats,
    /// The running config and buckets, their reloads and reload failures.
    pub reload: Reloader,
    /// Cached cluster statistics, write costs and consistency counters.
    pub cluster: Arc<Cluster>,
    /// The object path (reads, writes, lookups, removes) over `storage`.
    pub objects: crate::core::Objects,
    /// Open client connections and `proxy.max-connections`.
    pub connections: crate::connections::Connections,
    /// The VOD API's titles' sample indexes in memory.
    pub vod_index: crate::media::index_cache::IndexCache,
}

impl AppState {
    /// Builds the state on the first snapshot ([`Reloader::start`]).
    pub fn new(
        config: Config,
        storage: Arc<dyn Storage>,
        sources: Sources,
    ) -> Result<AppState, ReloadReport> {
        let reload = Reloader::start(config, storage.clone(), sources)?;
        let cluster = Arc::new(Cluster::default());
        // Read at start (the effective config, stored one included); not reloaded.
        let proxy = &reload.snapshot().config.proxy;
        let shard_entries = proxy.name_index.then_some(proxy.index_shard_entries);
        let vod_index_bytes = usize::try_from(proxy.vod_index_cache_size).unwrap_or(usize::MAX);
        let objects = crate::core::Objects::new(storage.clone(), cluster.clone(), shard_entries);
        if let Some(index) = objects.index() {
            let secs = proxy.index_log_orphan_after.max(1);
            index
                .logs()
                .set_orphan_after(std::time::Duration::from_secs(secs));
        }
        Ok(AppState {
            objects,
            cluster,
            storage,
            stats: ProxyStats::default(),
            reload,
            connections: Default::default(),
            vod_index: crate::media::index_cache::IndexCache::new(vod_index_bytes),
        })
    }

    /// The snapshot to serve one request with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.reload.snapshot()
    }

    /// Where config and bucket list are re-read from.
    pub fn sources(&self) -> &Sources {
        self.reload.sources()
    }
}
