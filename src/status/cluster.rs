//! The cluster sections of `/status/`: every bucket with its groups and
//! placement pain (and why), every group's backends with free space,
//! state and errors, and replica consistency (out of sync found, repaired).

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::cluster::pain::{self, Limits};
use crate::cluster::ClusterStats;
use crate::state::{AppState, Snapshot};
use crate::storage::BackendStat;

use super::html::{bytes, cell, esc};

/// The free-space bar of one backend: the free share, coloured by the limits.
fn bar(free: f64, limits: Limits) -> String {
    let class = if free <= limits.hard {
        "hard"
    } else if free <= limits.soft {
        "soft"
    } else {
        "ok"
    };
    format!(
        "<span class=\"bar\" title=\"{:.1}% free\"><i class=\"{class}\" style=\"width:{:.1}%\"></i></span>",
        free * 100.0,
        (free * 100.0).clamp(0.0, 100.0)
    )
}

/// A backend's key in `data-check` names: `GROUP/ADDRESS/BACKEND`.
fn key(s: &BackendStat) -> String {
    format!("{}/{}/{}", s.group, s.address, s.backend)
}

/// Writes the buckets, groups and replicas sections.
pub fn section(h: &mut String, state: &AppState, snap: &Snapshot, stats: &ClusterStats) {
    let proxy = &snap.config.proxy;
    let limits = Limits {
        soft: proxy.free_space_ratio_soft,
        hard: proxy.free_space_ratio_hard,
    };
    let cluster = &state.cluster;
    let out_of_sync = cluster.out_of_sync();
    let _ = write!(
        h,
        "<h2 id=\"buckets\">Buckets</h2><p>Free-space limits: soft {:.0}%, hard {:.0}% \
         (a bucket with a group past the hard limit takes no writes).</p>\
         <table><tr><th class=\"l\">bucket</th><th class=\"l\">groups</th><th>pain</th>\
         <th>record discrepancy</th><th class=\"l\">groups in pain, why</th>\
         <th class=\"l\">out-of-sync replicas found</th></tr>",
        limits.soft * 100.0,
        limits.hard * 100.0
    );
    let buckets = snap.buckets.listed();
    for b in &buckets {
        let bp = cluster.bucket_pain(&b.groups, 0, proxy);
        let why: Vec<String> = bp
            .groups
            .iter()
            .filter_map(|g| g.reason.map(|r| format!("group {}: {r}", g.group)))
            .collect();
        let oos: Vec<String> = out_of_sync
            .get(&b.name)
            .map(|m| m.iter().map(|(g, n)| format!("group {g}: {n}")).collect())
            .unwrap_or_default();
        let groups: Vec<String> = b.groups.iter().map(|g| g.to_string()).collect();
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            esc(&b.name),
            groups.join(", ")
        );
        h.push_str(&cell(
            &format!("bucket_pain/{}", b.name),
            bp.pain,
            &format!("{:.4e}", bp.pain),
        ));
        h.push_str(&cell(
            &format!("discrepancy/{}", b.name),
            bp.discrepancy,
            &bp.discrepancy.to_string(),
        ));
        let class = if why.is_empty() { "l" } else { "l bad" };
        let _ = write!(
            h,
            "<td class=\"{class}\">{}</td><td class=\"l\">{}</td></tr>",
            esc(&why.join("; ")),
            esc(&oos.join(", "))
        );
    }
    h.push_str("</table>");
    backends(h, state, &buckets, stats, limits);
    replicas(h, state);
}

fn backends(
    h: &mut String,
    state: &AppState,
    buckets: &[std::sync::Arc<crate::bucket::BucketMeta>],
    stats: &ClusterStats,
    limits: Limits,
) {
    let cluster = &state.cluster;
    h.push_str(
        "<h2 id=\"groups\">Groups and backends</h2><table><tr><th>group</th>\
         <th class=\"l\">backend</th><th>free space</th><th>free</th><th>avail</th><th>total</th>\
         <th>records</th><th>pain</th><th class=\"l\">state</th><th>command failures</th>\
         <th>failures/s</th><th>checksum errors</th></tr>",
    );
    let mut groups: BTreeSet<_> = stats.backends.iter().map(|s| s.group).collect();
    for b in buckets {
        groups.extend(b.groups.iter().copied());
    }
    for g in groups {
        let members: Vec<_> = stats.backends.iter().filter(|s| s.group == g).collect();
        if members.is_empty() {
            let _ = write!(
                h,
                "<tr><td>{g}</td><td class=\"l bad\" colspan=\"11\">no statistics for this group</td></tr>"
            );
        }
        for s in members {
            let k = key(s);
            let free = pain::free_space_ratio(s, 0);
            let p = pain::backend_pain(s, 0, cluster.cost(s), limits);
            let _ = write!(
                h,
                "<tr><td>{g}</td><td class=\"l\">{}/{}</td><td>{}</td>",
                esc(&s.address),
                s.backend,
                bar(free, limits)
            );
            h.push_str(&cell(
                &format!("free_ratio/{k}"),
                free,
                &format!("{:.1}%", free * 100.0),
            ));
            h.push_str(&cell(&format!("avail/{k}"), s.avail, &bytes(s.avail)));
            h.push_str(&cell(&format!("total/{k}"), s.total, &bytes(s.total)));
            h.push_str(&cell(
                &format!("records/{k}"),
                s.records_total,
                &s.records_total.to_string(),
            ));
            h.push_str(&cell(
                &format!("pain/{k}"),
                p.pain,
                &format!("{:.4e}", p.pain),
            ));
            let mut st = Vec::new();
            if s.read_only {
                st.push("read-only".to_string());
            }
            if s.defrag_state != crate::storage::DefragState::NotStarted {
                st.push(format!("defrag {}", s.defrag_state.as_str()));
            }
            if s.error != 0 {
                st.push(format!("error {}", s.error));
            }
            if let Some(r) = p.reason {
                st.push(r.to_string());
            }
            let bad = s.read_only || s.error != 0 || p.reason.is_some();
            let _ = write!(
                h,
                "<td class=\"l{}\">{}</td>",
                if bad { " bad" } else { "" },
                esc(&st.join(", "))
            );
            let failures: u64 = s.commands.values().map(|c| c.failures).sum();
            let rate: f64 = s.commands.values().map(|c| c.rps_failures).sum();
            h.push_str(&cell(
                &format!("command_failures/{k}"),
                failures,
                &failures.to_string(),
            ));
            h.push_str(&cell(
                &format!("failure_rate/{k}"),
                rate,
                &format!("{rate:.2}"),
            ));
            h.push_str(&cell(
                &format!("checksum_errors/{k}"),
                s.checksum_errors,
                &s.checksum_errors.to_string(),
            ));
            h.push_str("</tr>");
        }
    }
    h.push_str("</table>");
}

fn replicas(h: &mut String, state: &AppState) {
    let cluster = &state.cluster;
    let found: u64 = cluster
        .out_of_sync()
        .values()
        .flat_map(|m| m.values())
        .sum();
    let r = cluster.recovery.summary();
    let d = cluster.defrag.summary();
    h.push_str(
        "<h2 id=\"replicas\">Replicas and defragmentation</h2><table><tr>\
         <th>out of sync found</th><th>repaired</th><th>repairs failed</th>\
         <th>repairs skipped</th><th>bytes repaired</th><th>defrag started</th>\
         <th>defrag failed</th></tr><tr>",
    );
    h.push_str(&cell("out_of_sync", found, &found.to_string()));
    h.push_str(&cell("recovered", r.done, &r.done.to_string()));
    h.push_str(&cell("recovery_failed", r.failed, &r.failed.to_string()));
    h.push_str(&cell("recovery_skipped", r.skipped, &r.skipped.to_string()));
    h.push_str(&cell("recovered_bytes", r.bytes, &bytes(r.bytes)));
    h.push_str(&cell("defrag_started", d.started, &d.started.to_string()));
    h.push_str(&cell("defrag_failed", d.failed, &d.failed.to_string()));
    h.push_str("</tr></table>");
}
