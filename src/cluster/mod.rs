//! Cluster state for placement and monitoring: cached backend statistics,
//! per-backend write costs, bucket choice for `/nobucket_upload/`, read
//! order, replica consistency counters and automatic defragmentation.
//!
//! The statistics are gathered every `proxy.bucket-stat-update-interval`
//! seconds ([`Cluster::update`], run by `runtime`); requests read the cache
//! only. Nothing here sees the proxy state: callers hand in the store and
//! the config.

pub mod consistency;
pub mod defrag;
pub mod estimator;
pub mod pain;
mod repair;
mod replica;
pub mod tombstone;

pub use repair::{PassCounters, RepairJob};
pub use replica::choose_replica;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::bucket::BucketMeta;
use crate::config::ProxyConfig;
use crate::storage::{BackendStat, GroupId, GroupResult, ReplicaInfo, Storage};
use estimator::WriteCost;
use pain::{BucketPain, Limits};

/// A backend: group, node address and backend id.
pub type BackendKey = (GroupId, String, u32);

fn key_of(s: &BackendStat) -> BackendKey {
    (s.group, s.address.clone(), s.backend)
}

/// The statistics gathered last.
#[derive(Debug, Clone, Default)]
pub struct ClusterStats {
    /// Every backend the store reported (shared, so booking a write into
    /// one backend does not copy the others).
    pub backends: Vec<Arc<BackendStat>>,
    /// When they were gathered; `None` before the first update.
    pub time: Option<SystemTime>,
}

/// Why no bucket can take an upload without a bucket.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoBucket {
    /// The bucket list is empty.
    #[error("no buckets are listed for automatic placement")]
    NoneListed,
    /// Every listed bucket has a group that cannot take the bytes.
    #[error("no bucket can take {size} more bytes: {why}")]
    AllRefuse {
        /// The upload's size.
        size: u64,
        /// Per bucket, the groups and their reasons.
        why: String,
    },
}

/// What the proxy knows about the cluster, shared by every request.
#[derive(Default)]
pub struct Cluster {
    stats: RwLock<Arc<ClusterStats>>,
    costs: Mutex<HashMap<BackendKey, WriteCost>>,
    out_of_sync: Mutex<BTreeMap<String, BTreeMap<GroupId, u64>>>,
    /// Replica recovery state and counters.
    pub recovery: consistency::Recovery,
    /// Defragmentation requests and their outcomes.
    pub defrag: defrag::DefragCounters,
    /// What the background repair passes did.
    pub repair_pass: PassCounters,
    stat_updates: AtomicU64,
    stat_errors: AtomicU64,
}

impl Cluster {
    /// The cached statistics.
    pub fn stats(&self) -> Arc<ClusterStats> {
        self.stats.read().clone()
    }

    /// Statistics updates done so far.
    pub fn stat_updates(&self) -> u64 {
        self.stat_updates.load(Ordering::Relaxed)
    }

    /// Statistics updates that panicked or failed.
    pub fn stat_errors(&self) -> u64 {
        self.stat_errors.load(Ordering::Relaxed)
    }

    /// One round of the statistics task: fresh statistics, then the
    /// defragmentations that are due. Blocking.
    pub fn update(&self, storage: &dyn Storage, cfg: &ProxyConfig) {
        self.refresh(storage);
        defrag::run_due(&self.stats().backends, &self.defrag, storage, cfg);
    }

    /// Counts a statistics round that did not finish.
    pub fn note_stat_error(&self) {
        self.stat_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Gathers fresh statistics from the store. Blocking.
    pub fn refresh(&self, storage: &dyn Storage) {
        let mut backends = storage.backend_stats();
        let now = SystemTime::now();
        let prev = self.stats();
        if let Some(secs) = prev
            .time
            .and_then(|t| now.duration_since(t).ok())
            .map(|d| d.as_secs_f64())
        {
            set_command_rates(&mut backends, &prev.backends, secs);
        }
        let next = Arc::new(ClusterStats {
            backends: backends.into_iter().map(Arc::new).collect(),
            time: Some(now),
        });
        *self.stats.write() = next;
        self.stat_updates.fetch_add(1, Ordering::Relaxed);
    }

    /// The current write-cost pain of a backend.
    pub fn cost(&self, s: &BackendStat) -> f64 {
        self.costs
            .lock()
            .get(&key_of(s))
            .map_or(0.0, |w| w.pain_at(Instant::now()))
    }

    /// The controller state of a backend, for `/stat/`.
    pub fn write_cost(&self, s: &BackendStat) -> WriteCost {
        self.costs
            .lock()
            .get(&key_of(s))
            .copied()
            .unwrap_or_default()
    }

    /// The pain of `bucket` taking `size` bytes, from the cached statistics.
    pub fn bucket_pain(&self, groups: &[GroupId], size: u64, cfg: &ProxyConfig) -> BucketPain {
        let stats = self.stats();
        let costs = self.costs.lock();
        let now = Instant::now();
        pain::bucket_pain(
            groups,
            &stats.backends,
            |s| costs.get(&key_of(s)).map_or(0.0, |w| w.pain_at(now)),
            size,
            limits(cfg),
        )
    }

    /// Chooses the bucket of a `/nobucket_upload/` of `size` bytes, or says
    /// in one line why none can take it.
    pub fn choose_bucket(
        &self,
        buckets: &[Arc<BucketMeta>],
        size: u64,
        cfg: &ProxyConfig,
    ) -> Result<Arc<BucketMeta>, NoBucket> {
        if buckets.is_empty() {
            return Err(NoBucket::NoneListed);
        }
        let pains: Vec<BucketPain> = buckets
            .iter()
            .map(|b| self.bucket_pain(&b.groups, size, cfg))
            .collect();
        let values: Vec<f64> = pains.iter().map(|p| p.pain).collect();
        let candidates = pain::eligible(&values);
        match pain::pick(&values, &candidates, rand::random::<f64>()) {
            Some(i) => Ok(buckets[i].clone()),
            None => {
                let why: Vec<String> = buckets
                    .iter()
                    .zip(&pains)
                    .map(|(b, p)| {
                        let bad: Vec<String> = p
                            .groups
                            .iter()
                            .filter_map(|g| g.reason.map(|r| format!("group {}: {r}", g.group)))
                            .collect();
                        format!("{}: {}", b.name, bad.join(", "))
                    })
                    .collect();
                Err(NoBucket::AllRefuse {
                    size,
                    why: why.join("; "),
                })
            }
        }
    }

    /// Feeds the outcome of an upload of `size` bytes that took `elapsed`
    /// into the write cost of every backend it touched, and books the bytes
    /// written into the cached statistics so placement sees them before the
    /// next update.
    pub fn record_upload(
        &self,
        results: &[GroupResult<ReplicaInfo>],
        size: u64,
        elapsed: Duration,
    ) {
        let e = estimator::cost_per_byte(elapsed, size);
        let now = Instant::now();
        let stats = self.stats();
        let mut booked = (*stats).clone();
        let mut changed = false;
        {
            let mut costs = self.costs.lock();
            for r in results {
                let (keys, err): (Vec<BackendKey>, bool) = match &r.result {
                    Ok(info) => (vec![(r.group, info.address.clone(), info.backend)], false),
                    // The request's fault, not the backend's.
                    Err(e) if e.is_request_fault() => continue,
                    Err(_) => (
                        stats
                            .backends
                            .iter()
                            .filter(|s| s.group == r.group)
                            .map(|s| key_of(s))
                            .collect(),
                        true,
                    ),
                };
                for k in keys {
                    let cost = if err { pain::PAIN_WRITE_ERROR } else { e };
                    costs.entry(k.clone()).or_default().update(cost, now);
                    if !err {
                        if let Some(b) = booked.backends.iter_mut().find(|s| key_of(s) == k) {
                            let b = Arc::make_mut(b);
                            b.used += size;
                            b.avail = b.avail.saturating_sub(size);
                            b.records_total += 1;
                            changed = true;
                        }
                    }
                }
            }
        }
        if changed {
            {
                let mut s = self.stats.write();
                // Only if no update came in between: a fresh one already counts the write.
                if s.time == stats.time {
                    *s = Arc::new(booked);
                }
            }
        }
    }

    /// The groups of a read in the order to try them: groups whose nodes
    /// answered the last statistics round first (a hung or unreachable
    /// node's backends are missing from it, and a read sent there first
    /// would wait a whole timeout), then backends not being defragmented,
    /// then the cheapest to write to (the measured speed). Without any
    /// statistics yet, the bucket's order.
    pub fn read_order(&self, groups: &[GroupId]) -> Vec<GroupId> {
        let stats = self.stats();
        let known = !stats.backends.is_empty();
        let rank = |g: GroupId| {
            let mine = stats.backends.iter().filter(|s| s.group == g);
            let missing = known && mine.clone().next().is_none();
            let defrag = mine.clone().any(|s| s.defrag_state.is_running());
            let cost = mine.map(|s| self.cost(s)).fold(0.0, f64::max);
            ((missing, defrag), cost)
        };
        let mut ranked: Vec<_> = groups.iter().map(|&g| (g, rank(g))).collect();
        ranked.sort_by(|a, b| a.1 .0.cmp(&b.1 .0).then(a.1 .1.total_cmp(&b.1 .1)));
        ranked.into_iter().map(|(g, _)| g).collect()
    }

    /// Counts replicas of `bucket` found out of sync in `groups`.
    pub fn note_out_of_sync(&self, bucket: &str, groups: &[GroupId]) {
        if groups.is_empty() {
            return;
        }
        {
            let mut m = self.out_of_sync.lock();
            let per = m.entry(bucket.to_string()).or_default();
            for g in groups {
                *per.entry(*g).or_default() += 1;
            }
        }
    }

    /// Out-of-sync replicas seen, per bucket and group.
    pub fn out_of_sync(&self) -> BTreeMap<String, BTreeMap<GroupId, u64>> {
        self.out_of_sync.lock().clone()
    }
}

/// Per-command rates of `now` against the statistics gathered `secs`
/// seconds before (`prev`), per backend and command present in both.
pub fn set_command_rates(now: &mut [BackendStat], prev: &[Arc<BackendStat>], secs: f64) {
    for b in now {
        let Some(p) = prev.iter().find(|p| key_of(p) == key_of(b)) else {
            continue;
        };
        for (name, c) in b.commands.iter_mut() {
            if let Some(pc) = p.commands.get(name) {
                c.set_rates(pc, secs);
            }
        }
    }
}

fn limits(cfg: &ProxyConfig) -> Limits {
    Limits {
        soft: cfg.free_space_ratio_soft,
        hard: cfg.free_space_ratio_hard,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::CommandStat;

    fn backend(group: GroupId, write: CommandStat) -> BackendStat {
        let mut b = BackendStat {
            group,
            address: "a:1:2".into(),
            backend: group,
            ..Default::default()
        };
        b.commands.insert("WRITE".into(), write);
        b
    }

    #[test]
    fn reads_go_to_groups_missing_from_the_statistics_last() {
        let c = Cluster::default();
        // No statistics yet: the bucket's order.
        assert_eq!(c.read_order(&[3, 1, 2]), vec![3, 1, 2]);
        let stats = |groups: &[GroupId]| ClusterStats {
            backends: groups
                .iter()
                .map(|&g| Arc::new(backend(g, CommandStat::default())))
                .collect(),
            time: Some(SystemTime::now()),
        };
        // Group 3's node did not answer the last round (hung or gone).
        *c.stats.write() = Arc::new(stats(&[1, 2]));
        assert_eq!(c.read_order(&[3, 1, 2]), vec![1, 2, 3]);
        // It answers again: back in its place.
        *c.stats.write() = Arc::new(stats(&[1, 2, 3]));
        assert_eq!(c.read_order(&[3, 1, 2]), vec![3, 1, 2]);
    }

    #[test]
    fn command_rates_pair_backends_and_commands() {
        let prev = vec![Arc::new(backend(1, CommandStat::counters(4, 0, 400)))];
        let mut now = vec![
            backend(1, CommandStat::counters(14, 1, 1400)),
            // Not in the previous statistics: no rate yet.
            backend(2, CommandStat::counters(50, 0, 5000)),
        ];
        now[0]
            .commands
            .insert("READ".into(), CommandStat::counters(3, 0, 30));
        set_command_rates(&mut now, &prev, 5.0);
        let w = now[0].commands["WRITE"];
        assert_eq!((w.rps_success, w.rps_failures, w.bps), (2.0, 0.2, 200.0));
        assert_eq!(now[0].commands["READ"].rps_success, 0.0);
        assert_eq!(now[1].commands["WRITE"].rps_success, 0.0);
    }
}
