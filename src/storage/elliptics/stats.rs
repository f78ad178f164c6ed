//! Monitor statistics (`DNET_MONITOR_BACKEND` JSON from each storage node)
//! turned into the storage trait's [`BackendStat`].

use serde_json::Value;

use std::collections::BTreeMap;

use crate::storage::{BackendStat, CommandStat};

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
                st.requests += ok + failed;
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

/// Parses one node's monitor reply. Backends without a group (disabled
/// ones report none) are skipped. Totals follow Backrunner: a size limit
/// caps the space, else the file system's size counts.
pub fn parse_backends(address: &str, json: &[u8]) -> Result<Vec<BackendStat>, String> {
    let v: Value = serde_json::from_slice(json).map_err(|e| format!("monitor statistics: {e}"))?;
    let Some(backends) = v.get("backends").and_then(Value::as_object) else {
        let status = v
            .get("monitor_status")
            .and_then(Value::as_str)
            .unwrap_or("no backends");
        return Err(format!("monitor statistics of {address}: {status}"));
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
            defrag_state: u(b, &["status", "defrag_state"]) as u32,
            error: b["status"]["last_start_err"].as_i64().unwrap_or(0) as i32,
            commands: commands(b),
            defrag_runs: 0,
            // Filled in by the store from its readers' -EILSEQ replies.
            checksum_errors: 0,
        });
    }
    out.sort_by_key(|s| (s.group, s.backend));
    Ok(out)
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
               "backend":{"summary_stats":{"records_total":5,"records_removed":1,"records_removed_size":100,"base_size":1000},
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
        let w = &b.commands["WRITE"];
        assert_eq!((w.requests, w.failures, w.bytes), (7, 2, 1615));
        assert_eq!(b.commands["DEL"].requests, 0);
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
        assert!(e.contains("disabled"), "{e}");
        assert!(parse_backends("a", b"not json").is_err());
    }
}
