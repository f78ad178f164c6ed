//! Monitor statistics (`DNET_MONITOR_BACKEND` JSON from each storage node)
//! turned into the storage trait's [`BackendStat`].

use serde_json::Value;

use std::collections::BTreeMap;

use super::ffi::Route;
use crate::storage::{BackendStat, CommandStat, DefragState};

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return 0,
        }
    }
    cur.as_u64()
        .or_else(|| cur.as_i64().map(|i| i.max(0) as u64))
        .or_else(|| cur.as_bool().map(u64::from))
        .unwrap_or(0)
}

/// Per-command counters of one backend (`DNET_MONITOR_COMMANDS`): every
/// source (cache/disk, outside/internal) summed per command name. The
/// server lists only commands it has run; the four the proxy sends are
/// always present, and Elliptics 3.0's `REMOVE` is named `DEL` as the
/// storage trait (and older Elliptics) names it.
fn commands(b: &Value) -> BTreeMap<String, CommandStat> {
    let mut out: BTreeMap<String, CommandStat> = ["WRITE", "READ", "LOOKUP", "DEL"]
        .into_iter()
        .map(|c| (c.to_string(), CommandStat::default()))
        .collect();
    let Some(cmds) = b.get("commands").and_then(Value::as_object) else {
        return out;
    };
    for (name, c) in cmds {
        let mut st = CommandStat::default();
        for place in ["cache", "disk"] {
            for origin in ["outside", "internal"] {
                let v = &c[place][origin];
                let (ok, failed) = (u(v, &["successes"]), u(v, &["failures"]));
                st.successes += ok;
                st.failures += failed;
                st.bytes += u(v, &["size"]);
            }
        }
        let name = if name == "REMOVE" {
            "DEL"
        } else {
            name.as_str()
        };
        out.insert(name.to_string(), st);
    }
    out
}

/// Why a node's monitor reply gives no backend statistics.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The reply is not the JSON expected.
    #[error("monitor statistics: {0}")]
    Json(#[from] serde_json::Error),
    /// The reply lists no backends (the monitor is disabled, say).
    #[error("monitor statistics of {address}: {status}")]
    NoBackends {
        /// The node.
        address: String,
        /// What the node said instead.
        status: String,
    },
}

/// Parses one node's monitor reply. Backends without a group (disabled
/// ones report none) are skipped. Totals follow Backrunner: a size limit
/// caps the space, else the file system's size counts.
pub fn parse_backends(address: &str, json: &[u8]) -> Result<Vec<BackendStat>, MonitorError> {
    let v: Value = serde_json::from_slice(json)?;
    let Some(backends) = v.get("backends").and_then(Value::as_object) else {
        let status = v
            .get("monitor_status")
            .and_then(Value::as_str)
            .unwrap_or("no backends");
        return Err(MonitorError::NoBackends {
            address: address.to_string(),
            status: status.to_string(),
        });
    };
    let mut out = Vec::new();
    for (id, b) in backends {
        let be = &b["backend"];
        let group = u(be, &["config", "group"]);
        if group == 0 {
            continue;
        }
        let backend = u(b, &["backend_id"]);
        let backend = if backend == 0 {
            id.parse().unwrap_or(0)
        } else {
            backend
        };
        let frsize = u(be, &["vfs", "frsize"]).max(1);
        let fs_total = u(be, &["vfs", "blocks"]) * frsize;
        let fs_avail = u(be, &["vfs", "bavail"]) * frsize;
        let limit = u(be, &["config", "blob_size_limit"]);
        // eblob's totals include removed records; the trait counts live ones.
        let removed_size = u(be, &["summary_stats", "records_removed_size"]);
        let base_size = u(be, &["summary_stats", "base_size"]);
        let used = base_size.saturating_sub(removed_size);
        let records_removed = u(be, &["summary_stats", "records_removed"]);
        let records_total =
            u(be, &["summary_stats", "records_total"]).saturating_sub(records_removed);
        let (total, avail) = if limit > 0 {
            (limit, limit.saturating_sub(base_size).min(fs_avail))
        } else {
            (fs_total, fs_avail)
        };
        out.push(BackendStat {
            group: group as u32,
            address: address.to_string(),
            backend: backend as u32,
            total,
            avail,
            size_limit: limit,
            used,
            removed_size,
            records_total,
            records_removed,
            read_only: u(b, &["status", "read_only"]) != 0,
            delay_ms: u(b, &["status", "delay"]),
            defrag_state: DefragState::from_code(u(b, &["status", "defrag_state"]) as u32),
            error: b["status"]["last_start_err"].as_i64().unwrap_or(0) as i32,
            commands: commands(b),
            defrag_runs: 0,
            defrag_start_time: u(be, &["global_stats", "datasort_start_time"]),
            defrag_completion_time: u(be, &["global_stats", "datasort_completion_time"]),
            defrag_completion_status: be["global_stats"]["datasort_completion_status"]
                .as_i64()
                .unwrap_or(0) as i32,
            // Filled from the route table by `set_ring_shares`.
            percentage: 0.0,
            // Filled in by the store from its readers' -EILSEQ replies.
            checksum_errors: 0,
        });
    }
    out.sort_by_key(|s| (s.group, s.backend));
    Ok(out)
}

/// Share of its group's id ring each (address, backend) serves, as
/// elliptics-go's `StatGroup.Finalize` computes `Percentage`: ids are
/// compared by their first 8 bytes; a backend owns the range from each of
/// its route ids to the next id of the group, and the last id's owner also
/// owns the wrap-around up to the ring's end and from its start to the first id.
pub fn ring_shares(routes: &[Route]) -> BTreeMap<(u32, String, u32), f64> {
    let mut by_group: BTreeMap<u32, BTreeMap<u64, (String, u32)>> = BTreeMap::new();
    for r in routes {
        let mut head = [0u8; 8];
        head.copy_from_slice(&r.id[..8]);
        by_group
            .entry(r.group)
            .or_default()
            .entry(u64::from_be_bytes(head))
            .or_insert_with(|| (r.address.clone(), r.backend));
    }
    let mut out = BTreeMap::new();
    for (group, ids) in by_group {
        let ids: Vec<(u64, (String, u32))> = ids.into_iter().collect();
        let Some((last_id, last_owner)) = ids.last().cloned() else {
            continue;
        };
        let mut sums: BTreeMap<(String, u32), f64> = BTreeMap::new();
        // Before the first id: the last id's owner (the ring wraps).
        *sums.entry(last_owner.clone()).or_default() += ids[0].0 as f64;
        for w in ids.windows(2) {
            *sums.entry(w[0].1.clone()).or_default() += (w[1].0 - w[0].0) as f64;
        }
        *sums.entry(last_owner).or_default() += (u64::MAX - last_id) as f64;
        for ((addr, backend), sum) in sums {
            out.insert((group, addr, backend), sum / u64::MAX as f64);
        }
    }
    out
}

/// Sets `percentage` of every backend from the route table.
pub fn set_ring_shares(stats: &mut [BackendStat], routes: &[Route]) {
    let shares = ring_shares(routes);
    for s in stats {
        s.percentage = shares
            .get(&(s.group, s.address.clone(), s.backend))
            .copied()
            .unwrap_or(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_section() {
        let j = br#"{"monitor_status":"enabled","backends":{
          "2":{"backend_id":2,"status":{"state":1,"defrag_state":0,"last_start_err":0,"read_only":true,"delay":30},
               "commands":{"WRITE":{"cache":{"outside":{"successes":1,"failures":0,"size":10}},
                                    "disk":{"outside":{"successes":3,"failures":2,"size":1600},"internal":{"successes":1,"failures":0,"size":5}}}},
               "backend":{"global_stats":{"datasort_start_time":1700000000,"datasort_completion_time":1700000060,"datasort_completion_status":-5},
                          "summary_stats":{"records_total":5,"records_removed":1,"records_removed_size":100,"base_size":1000},
                          "config":{"blob_size_limit":4000,"group":7},
                          "vfs":{"frsize":4096,"blocks":1000,"bavail":500}}},
          "3":{"backend_id":3,"status":{"state":0},"backend":{"config":{}}}}}"#;
        let s = parse_backends("127.0.0.1:1025:2", j).unwrap();
        assert_eq!(s.len(), 1);
        let b = &s[0];
        assert_eq!((b.group, b.backend), (7, 2));
        assert_eq!(
            (b.total, b.avail, b.size_limit, b.used),
            (4000, 3000, 4000, 900)
        );
        assert_eq!(
            (b.records_total, b.records_removed, b.removed_size),
            (4, 1, 100)
        );
        assert!(b.read_only);
        assert_eq!(b.delay_ms, 30);
        assert_eq!(
            (
                b.defrag_start_time,
                b.defrag_completion_time,
                b.defrag_completion_status
            ),
            (1_700_000_000, 1_700_000_060, -5)
        );
        let w = &b.commands["WRITE"];
        assert_eq!((w.successes, w.failures, w.bytes), (5, 2, 1615));
        assert_eq!(b.commands["DEL"].requests(), 0);
    }

    fn route(group: u32, backend: u32, head: u64) -> Route {
        let mut id = [0u8; 64];
        id[..8].copy_from_slice(&head.to_be_bytes());
        id[8] = 0xff; // only the first 8 bytes count
        Route {
            address: "a:1:2".into(),
            group,
            backend,
            id,
        }
    }

    #[test]
    fn ring_shares_follow_route_ids() {
        let q = u64::MAX / 4;
        // Group 1: backend 1 owns [q, 3q), backend 2 owns [3q, MAX] and [0, q).
        let routes = [route(1, 1, q), route(1, 2, 3 * q), route(2, 5, 0)];
        let s = ring_shares(&routes);
        let share = |g: u32, b: u32| s[&(g, "a:1:2".to_string(), b)];
        assert!((share(1, 1) - 0.5).abs() < 1e-9, "{s:?}");
        assert!((share(1, 2) - 0.5).abs() < 1e-9, "{s:?}");
        // One backend owns the whole ring, whatever its id.
        assert!((share(2, 5) - 1.0).abs() < 1e-12, "{s:?}");
        let mut st = vec![BackendStat {
            group: 1,
            address: "a:1:2".into(),
            backend: 2,
            ..Default::default()
        }];
        set_ring_shares(&mut st, &routes);
        assert!((st[0].percentage - 0.5).abs() < 1e-9);
    }

    #[test]
    fn no_limit_uses_file_system() {
        let j = br#"{"backends":{"1":{"backend_id":1,"status":{},"backend":{"config":{"group":1},
            "vfs":{"frsize":10,"blocks":100,"bavail":40}}}}}"#;
        let s = parse_backends("a", j).unwrap();
        assert_eq!((s[0].total, s[0].avail), (1000, 400));
    }

    #[test]
    fn disabled_monitor_is_an_error() {
        let e = parse_backends("a:1:2", br#"{"monitor_status":"disabled"}"#).unwrap_err();
        assert!(e.to_string().contains("disabled"), "{e}");
        assert!(parse_backends("a", b"not json").is_err());
    }
}
