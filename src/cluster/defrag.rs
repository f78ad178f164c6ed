//! Automatic defragmentation: a backend whose removed records pass
//! `proxy.defrag-removed-ratio` of its records (and number at least
//! `defrag-min-removed-records`) is asked to compact, unless another backend
//! of its group is being defragmented already, so a group always keeps
//! replicas that serve at full speed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::config::ProxyConfig;
use crate::storage::{BackendStat, DefragOutcome, GroupId, Storage};

/// Counts of defragmentation requests by outcome.
#[derive(Debug, Default)]
pub struct DefragCounters {
    started: AtomicU64,
    nothing: AtomicU64,
    running: AtomicU64,
    failed: AtomicU64,
}

/// A copy of [`DefragCounters`] for replies.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DefragSummary {
    /// Requests that started a compaction.
    #[serde(rename = "Started")]
    pub started: u64,
    /// Requests answered "nothing to compact".
    #[serde(rename = "NothingToCompact")]
    pub nothing: u64,
    /// Requests answered "already running".
    #[serde(rename = "AlreadyRunning")]
    pub running: u64,
    /// Requests that failed.
    #[serde(rename = "Failed")]
    pub failed: u64,
}

impl DefragCounters {
    /// The counts so far.
    pub fn summary(&self) -> DefragSummary {
        DefragSummary {
            started: self.started.load(Ordering::Relaxed),
            nothing: self.nothing.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Share of a backend's records that are removed.
pub fn removed_ratio(s: &BackendStat) -> f64 {
    let all = s.records_total + s.records_removed;
    if all == 0 {
        0.0
    } else {
        s.records_removed as f64 / all as f64
    }
}

/// The backends due for defragmentation, at most one per group and none in
/// a group where one is running.
pub fn due<S: AsRef<BackendStat>>(
    stats: &[S],
    ratio: f64,
    min_removed: u64,
) -> Vec<(GroupId, u32)> {
    if ratio <= 0.0 {
        return Vec::new();
    }
    let busy: BTreeSet<GroupId> = stats
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| s.defrag_state.is_running())
        .map(|s| s.group)
        .collect();
    let mut picked = BTreeSet::new();
    let mut out = Vec::new();
    for s in stats.iter().map(AsRef::as_ref) {
        if busy.contains(&s.group) || picked.contains(&s.group) {
            continue;
        }
        if s.records_removed >= min_removed.max(1) && removed_ratio(s) >= ratio {
            picked.insert(s.group);
            out.push((s.group, s.backend));
        }
    }
    out
}

/// Asks the store to defragment every backend that is due. Blocking.
pub fn run_due(
    backends: &[Arc<BackendStat>],
    c: &DefragCounters,
    storage: &dyn Storage,
    cfg: &ProxyConfig,
) {
    for (group, backend) in due(
        backends,
        cfg.defrag_removed_ratio,
        cfg.defrag_min_removed_records,
    ) {
        match storage.defragment(group, backend) {
            Ok(DefragOutcome::Started) => {
                log::info!("defrag: group {group} backend {backend}: started");
                c.started.fetch_add(1, Ordering::Relaxed)
            }
            Ok(DefragOutcome::NothingToCompact) => {
                log::info!("defrag: group {group} backend {backend}: nothing to compact");
                c.nothing.fetch_add(1, Ordering::Relaxed)
            }
            Ok(DefragOutcome::AlreadyRunning) => c.running.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                log::warn!("defrag: group {group} backend {backend}: {e}");
                c.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DefragState;

    fn b(group: GroupId, backend: u32, live: u64, removed: u64, defrag: u32) -> BackendStat {
        BackendStat {
            group,
            backend,
            records_total: live,
            records_removed: removed,
            defrag_state: DefragState::from_code(defrag),
            ..Default::default()
        }
    }

    #[test]
    fn one_backend_per_group_and_none_beside_a_running_one() {
        let stats = vec![
            b(1, 1, 10, 10, 0), // 0.5: due
            b(1, 2, 0, 50, 0),  // due too, but group 1 already has one
            b(2, 3, 90, 10, 0), // 0.1: not due
            b(3, 4, 1, 9, 0),   // due but group 3 is busy
            b(3, 5, 5, 0, 1),
            b(4, 6, 0, 2, 0), // ratio 1 but too few removed
        ];
        assert_eq!(due(&stats, 0.5, 3), vec![(1, 1)]);
        assert_eq!(due(&stats, 0.0, 0), vec![]);
        assert_eq!(due(&stats, 0.05, 1), vec![(1, 1), (2, 3), (4, 6)]);
    }
}
