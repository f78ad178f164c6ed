//! The replica a redirect sends the client to.

use std::sync::Arc;

use crate::storage::{BackendStat, ReplicaInfo};

/// Picks the replica to send the client to, from the cached statistics:
/// healthy backends first (no error reported), then those not being
/// defragmented, then the cheapest by measured placement cost, then the
/// lowest configured delay, then the bucket's group order.
pub fn choose_replica<'a>(
    replicas: &'a [ReplicaInfo],
    stats: &[Arc<BackendStat>],
    cost: impl Fn(&BackendStat) -> f64,
) -> Option<&'a ReplicaInfo> {
    let rank = |r: &ReplicaInfo| {
        let stat = stats
            .iter()
            .find(|s| s.group == r.group && s.backend == r.backend && s.address == r.address);
        match stat {
            Some(s) => (
                s.last_error().is_some(),
                s.defrag_state.is_running(),
                cost(s),
                s.delay_ms,
            ),
            None => (true, true, f64::MAX, u64::MAX),
        }
    };
    let ranked: Vec<_> = replicas.iter().map(|r| (rank(r), r)).collect();
    ranked
        .into_iter()
        .reduce(|best, next| {
            let (a, b) = (&best.0, &next.0);
            let order = (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then(a.2.total_cmp(&b.2))
                .then(a.3.cmp(&b.3));
            // Ties keep the earlier replica: the bucket's group order.
            if order == std::cmp::Ordering::Greater {
                next
            } else {
                best
            }
        })
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn replica(group: u32, delay: u64, error: i32) -> (ReplicaInfo, BackendStat) {
        let r = ReplicaInfo {
            group,
            backend: 0,
            address: "localhost:0:2".into(),
            id: String::new(),
            filename: format!("/data/{group}"),
            offset: 0,
            size: 1,
            mtime: UNIX_EPOCH,
            csum: vec![],
        };
        let s = BackendStat {
            group,
            address: r.address.clone(),
            delay_ms: delay,
            error,
            ..Default::default()
        };
        (r, s)
    }

    #[test]
    fn prefers_healthy_then_fast_then_order() {
        let (a, sa) = replica(1, 50, 0);
        let (b, sb) = replica(2, 0, -5);
        let (c, sc) = replica(3, 0, 0);
        let (d, sd) = replica(4, 0, 0);
        let rs = vec![a.clone(), b.clone(), c.clone(), d.clone()];
        let stats: Vec<Arc<BackendStat>> = [sa, sb, sc, sd].into_iter().map(Arc::new).collect();
        let no_cost = |_: &BackendStat| 0.0;
        assert_eq!(choose_replica(&rs, &stats, no_cost).unwrap().group, 3);
        assert_eq!(choose_replica(&rs[..2], &stats, no_cost).unwrap().group, 1);
        assert_eq!(choose_replica(&rs[1..2], &stats, no_cost).unwrap().group, 2);
        // Measured cost beats configured delay and group order.
        let group_3_slow = |s: &BackendStat| if s.group == 3 { 5.0 } else { 1.0 };
        assert_eq!(choose_replica(&rs, &stats, group_3_slow).unwrap().group, 4);
        // Without statistics, the first replica in group order.
        assert_eq!(choose_replica(&rs, &[], no_cost).unwrap().group, 1);
        assert!(choose_replica(&[], &stats, no_cost).is_none());
    }
}
