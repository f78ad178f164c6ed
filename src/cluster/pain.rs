//! Backrunner's "pain" model for choosing the bucket of a `/nobucket_upload/`.
//!
//! Every group of a bucket adds pain: a free-space term that grows as the
//! free-space ratio after this write shrinks, large penalties for a group
//! past the soft or hard free-space limit, read-only, failing or without
//! statistics, and the backend's measured write cost. A bucket whose groups
//! disagree on their record counts pays for the discrepancy. Buckets at or
//! past [`PAIN_NO_FREE_SPACE_HARD`] are never chosen; those past
//! [`PAIN_NO_FREE_SPACE_SOFT`] only when nothing else is left; among the rest
//! the choice is random, weighted by `1 / pain`. See docs/placement.md.

use serde::Serialize;

use crate::storage::{BackendStat, GroupId};

/// Pain of a group below the soft free-space limit.
pub const PAIN_NO_FREE_SPACE_SOFT: f64 = 5e9;
/// Pain of a group below the hard free-space limit: the bucket is not written.
pub const PAIN_NO_FREE_SPACE_HARD: f64 = 5e13;
/// Pain of a read-only group.
pub const PAIN_READ_ONLY: f64 = PAIN_NO_FREE_SPACE_HARD / 2.0;
/// Cost fed into a backend's controller when an upload to it failed.
pub const PAIN_WRITE_ERROR: f64 = PAIN_NO_FREE_SPACE_HARD / 2.0;
/// Pain of a group whose backend has no usable statistics (total size 0).
pub const PAIN_NO_STATS: f64 = PAIN_NO_FREE_SPACE_HARD / 2.0;
/// Pain of a group whose backend reports a fault.
pub const PAIN_STAT_ERROR: f64 = PAIN_NO_FREE_SPACE_HARD / 2.0;
/// Pain of a bucket group absent from the statistics.
pub const PAIN_NO_GROUP: f64 = PAIN_NO_FREE_SPACE_HARD / 2.0;
/// Pain per record of difference between the fullest and emptiest group.
pub const PAIN_DISCREPANCY: f64 = 1000.0;
/// The free-space term is `FREE_SPACE_PAIN / free_ratio`.
pub const FREE_SPACE_PAIN: f64 = 5000.0;
/// Smallest free ratio the free-space term divides by (keeps it finite).
const MIN_FREE_RATIO: f64 = 1e-9;

/// The free-space limits of `proxy`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `free-space-ratio-soft`.
    pub soft: f64,
    /// `free-space-ratio-hard`.
    pub hard: f64,
}

/// Share of the backend's capacity still free once `size` more bytes are written.
pub fn free_space_ratio(st: &BackendStat, size: u64) -> f64 {
    if st.total == 0 {
        return 0.0;
    }
    let avail = st.avail.min(st.total.saturating_sub(st.used));
    avail.saturating_sub(size) as f64 / st.total as f64
}

/// One group's share of a bucket's pain.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPain {
    /// The group.
    pub group: GroupId,
    /// Its pain: free-space term, penalties and write cost.
    pub pain: f64,
    /// Free-space ratio after the write (0 without statistics).
    pub free_ratio: f64,
    /// Whether the group can take the write without any penalty.
    pub ok: bool,
    /// Why not, when it cannot.
    pub reason: Option<&'static str>,
}

/// Pain of one backend taking `size` more bytes, with its write cost `cost`.
pub fn backend_pain(st: &BackendStat, size: u64, cost: f64, limits: Limits) -> GroupPain {
    let mut g = GroupPain {
        group: st.group,
        pain: 0.0,
        free_ratio: 0.0,
        ok: false,
        reason: None,
    };
    if st.read_only {
        g.pain = PAIN_READ_ONLY;
        g.reason = Some("read-only");
    } else if st.last_error().is_some_and(|e| e.is_backend_fault()) {
        g.pain = PAIN_STAT_ERROR;
        g.reason = Some("backend error");
    } else if st.total == 0 {
        g.pain = PAIN_NO_STATS;
        g.reason = Some("no statistics");
    } else {
        let free = free_space_ratio(st, size);
        g.free_ratio = free;
        g.pain = FREE_SPACE_PAIN / free.max(MIN_FREE_RATIO);
        if free <= limits.hard {
            g.pain += PAIN_NO_FREE_SPACE_HARD;
            g.reason = Some("past the hard free-space limit");
        } else if free <= limits.soft {
            g.pain += PAIN_NO_FREE_SPACE_SOFT;
            g.reason = Some("past the soft free-space limit");
        } else {
            g.ok = true;
        }
        g.pain += cost;
    }
    g
}

/// Pain of one bucket taking `size` more bytes.
#[derive(Debug, Clone, Serialize)]
pub struct BucketPain {
    /// Sum of the group pains and the discrepancy pain.
    pub pain: f64,
    /// Per-group detail.
    pub groups: Vec<GroupPain>,
    /// Largest difference of live record counts between groups.
    pub discrepancy: u64,
}

/// Computes a bucket's pain from the backends of its groups. A group with
/// several backends is judged by its worst one, since the proxy does not know
/// which of them the key maps to.
pub fn bucket_pain<S: AsRef<BackendStat>>(
    groups: &[GroupId],
    stats: &[S],
    cost: impl Fn(&BackendStat) -> f64,
    size: u64,
    limits: Limits,
) -> BucketPain {
    let mut out = BucketPain {
        pain: 0.0,
        groups: Vec::with_capacity(groups.len()),
        discrepancy: 0,
    };
    let mut records = Vec::with_capacity(groups.len());
    for &gid in groups {
        let worst = stats
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| s.group == gid)
            .map(|s| backend_pain(s, size, cost(s), limits))
            .max_by(|a, b| a.pain.total_cmp(&b.pain));
        let gp = worst.unwrap_or(GroupPain {
            group: gid,
            pain: PAIN_NO_GROUP,
            free_ratio: 0.0,
            ok: false,
            reason: Some("no statistics for the group"),
        });
        out.pain += gp.pain;
        out.groups.push(gp);
        // A group without statistics is penalised above; its records are unknown.
        if stats.iter().any(|s| s.as_ref().group == gid) {
            records.push(
                stats
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|s| s.group == gid)
                    .map(|s| s.records_total)
                    .sum::<u64>(),
            );
        }
    }
    if let (Some(min), Some(max)) = (records.iter().min(), records.iter().max()) {
        out.discrepancy = max - min;
        out.pain += out.discrepancy as f64 * PAIN_DISCREPANCY;
    }
    out
}

/// Indexes of the candidates a write may go to, given their pains: never
/// those at or past the hard pain; those past the soft pain only if nothing
/// else is left.
pub fn eligible(pains: &[f64]) -> Vec<usize> {
    let usable: Vec<usize> = (0..pains.len())
        .filter(|&i| pains[i] < PAIN_NO_FREE_SPACE_HARD)
        .collect();
    let easy: Vec<usize> = usable
        .iter()
        .copied()
        .filter(|&i| pains[i] < PAIN_NO_FREE_SPACE_SOFT)
        .collect();
    if easy.is_empty() {
        usable
    } else {
        easy
    }
}

/// Weighted choice by `1 / pain` among `candidates` (indexes into `pains`);
/// `r` is uniform in `[0, 1)`.
pub fn pick(pains: &[f64], candidates: &[usize], r: f64) -> Option<usize> {
    let weight = |i: usize| 1.0 / pains[i].max(1.0);
    let total: f64 = candidates.iter().map(|&i| weight(i)).sum();
    let mut left = r * total;
    for &i in candidates {
        left -= weight(i);
        if left < 0.0 {
            return Some(i);
        }
    }
    candidates.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        soft: 0.2,
        hard: 0.15,
    };

    fn backend(group: GroupId, total: u64, used: u64) -> BackendStat {
        BackendStat {
            group,
            backend: group,
            total,
            used,
            avail: total - used,
            ..Default::default()
        }
    }

    #[test]
    fn free_space_ratio_after_the_write() {
        let b = backend(1, 1000, 200);
        assert_eq!(free_space_ratio(&b, 300), 0.5);
        assert_eq!(free_space_ratio(&b, 900), 0.0);
        // The file system may have less room than the size limit says.
        let mut b = backend(1, 1000, 0);
        b.avail = 100;
        assert_eq!(free_space_ratio(&b, 50), 0.05);
    }

    #[test]
    fn backend_pain_terms() {
        // free after write = 0.5: 5000/0.5 = 10000, plus the cost.
        let p = backend_pain(&backend(1, 1000, 400), 100, 250.0, LIMITS);
        assert_eq!(p.pain, 10_250.0);
        assert!(p.ok);
        // free = 0.18: soft.
        let p = backend_pain(&backend(1, 1000, 800), 20, 0.0, LIMITS);
        assert_eq!(p.pain, 5000.0 / 0.18 + PAIN_NO_FREE_SPACE_SOFT);
        assert!(!p.ok);
        // free = 0.15 exactly: hard.
        let p = backend_pain(&backend(1, 1000, 850), 0, 0.0, LIMITS);
        assert!(p.pain >= PAIN_NO_FREE_SPACE_HARD);
        let mut ro = backend(1, 1000, 0);
        ro.read_only = true;
        assert_eq!(backend_pain(&ro, 1, 0.0, LIMITS).pain, PAIN_READ_ONLY);
        let mut bad = backend(1, 1000, 0);
        bad.error = -libc::EIO;
        assert_eq!(backend_pain(&bad, 1, 0.0, LIMITS).pain, PAIN_STAT_ERROR);
        bad.error = -libc::ENOSPC;
        assert!(backend_pain(&bad, 1, 0.0, LIMITS).ok);
        assert_eq!(
            backend_pain(&backend(1, 0, 0), 1, 0.0, LIMITS).pain,
            PAIN_NO_STATS
        );
    }

    #[test]
    fn bucket_pain_sums_groups_and_discrepancy() {
        let mut a = backend(1, 1000, 0);
        a.records_total = 10;
        let mut b = backend(2, 1000, 500);
        b.records_total = 7;
        let stats = vec![a, b];
        let p = bucket_pain(&[1, 2, 3], &stats, |s| s.group as f64, 0, LIMITS);
        // 5000/1 + 1 + 5000/0.5 + 2 + no group 3 + 3 records of discrepancy
        assert_eq!(p.pain, 5001.0 + 10_002.0 + PAIN_NO_GROUP + 3000.0);
        assert_eq!(p.discrepancy, 3);
        assert!(!p.groups[2].ok);
    }

    #[test]
    fn eligibility_prefers_buckets_without_penalties() {
        let pains = [
            6000.0,
            PAIN_NO_FREE_SPACE_SOFT + 1.0,
            PAIN_NO_FREE_SPACE_HARD,
        ];
        assert_eq!(eligible(&pains), vec![0]);
        assert_eq!(eligible(&pains[1..]), vec![0]);
        assert!(eligible(&pains[2..]).is_empty());
    }

    #[test]
    fn pick_is_weighted_by_inverse_pain() {
        // Weights 1/1000 and 1/3000: the first takes 75% of [0, 1).
        let pains = [1000.0, 3000.0];
        let c = [0, 1];
        assert_eq!(pick(&pains, &c, 0.0), Some(0));
        assert_eq!(pick(&pains, &c, 0.74), Some(0));
        assert_eq!(pick(&pains, &c, 0.76), Some(1));
        assert_eq!(pick(&pains, &c, 0.999_999), Some(1));
        assert_eq!(pick(&pains, &[], 0.5), None);
    }
}
