//! Placement of `/nobucket_upload/`, cluster statistics, replica consistency
//! and defragmentation, the repair pass, against the running binary.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common;
use crate::common::{escape, eventually, random_bytes, Group, Proxy, Setup};
use serde_json::{json, Value};

/// Three single-group buckets b1..b3 on groups 1..3, all listed.
/// Each group gets a size limit so the host disk's fill level does not count.
fn three_buckets(groups: Vec<Group>) -> Setup {
    let groups = groups
        .into_iter()
        .map(|mut g| {
            if g.size_limit == 0 {
                g.size_limit = 1 << 30;
            }
            g
        })
        .collect();
    Setup {
        groups,
        metadata_groups: vec![1],
        buckets: json!({"buckets": {
            "b1": {"groups": [1]}, "b2": {"groups": [2]}, "b3": {"groups": [3]},
        }}),
        bucket_list: vec!["b1".into(), "b2".into(), "b3".into()],
        proxy: json!({}),
    }
}

fn nobucket_upload(p: &Proxy, key: &str, body: Vec<u8>) -> reqwest::blocking::Response {
    p.client
        .post(p.url(&format!("/nobucket_upload/{}", escape(key))))
        .body(body)
        .send()
        .expect("upload")
}

/// Uploads `n` bodies of `size` bytes without a bucket; counts where they went.
fn spread(p: &Proxy, n: usize, size: usize) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for i in 0..n {
        let r = nobucket_upload(p, &format!("k{i}"), random_bytes(size, i as u64));
        assert_eq!(r.status(), 200, "upload {i}");
        let v: Value = r.json().unwrap();
        *count
            .entry(v["bucket"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    count
}

fn writes_of(stat: &Value, bucket: &str, group: u32) -> u64 {
    stat["Buckets"][bucket]["Group"][group.to_string()]["Backends"][0]["Stat"]["Commands"]["WRITE"]
        ["RequestsSuccess"]
        .as_u64()
        .unwrap_or_else(|| panic!("no WRITE counter for {bucket}/{group} in {stat}"))
}

#[test]
fn healthy_buckets_share_the_writes_and_stat_counts_them() {
    let p = Proxy::start(three_buckets(vec![
        Group::new(1),
        Group::new(2),
        Group::new(3),
    ]));
    let before = p.json("/stat/");
    let count = spread(&p, 300, 1024);
    let max = *count.values().max().unwrap();
    let min = ["b1", "b2", "b3"]
        .iter()
        .map(|b| count.get(*b).copied().unwrap_or(0))
        .min()
        .unwrap();
    eprintln!("spread: {count:?}");
    assert!(min > 0 && max <= 2 * min, "uneven spread: {count:?}");
    // The statistics catch up within an update interval (1 s in tests).
    let grown = eventually(Duration::from_secs(5), || {
        let after = p.json("/stat/");
        ["b1", "b2", "b3"].iter().enumerate().all(|(i, b)| {
            let g = i as u32 + 1;
            writes_of(&after, b, g) - writes_of(&before, b, g) >= count[*b] as u64
        })
    });
    assert!(
        grown,
        "WRITE counters did not grow by {count:?}: {}",
        p.json("/stat/")
    );
    let stat = p.json("/stat/b2");
    assert_eq!(stat["Buckets"].as_object().unwrap().len(), 1);
    let backend = &stat["Buckets"]["b2"]["Group"]["2"]["Backends"][0];
    assert!(backend["Pain"].as_f64().unwrap() > 0.0, "{backend}");
    assert!(
        backend["Stat"]["PID"]["Updates"].as_u64().unwrap() > 0,
        "{backend}"
    );
    // eblob refreshes its record counts once per periodic_timeout (1 s here).
    let records = |p: &Proxy| {
        p.json("/stat/b2")["Buckets"]["b2"]["Group"]["2"]["Backends"][0]["Stat"]["VFS"]
            ["RecordsTotal"]
            .clone()
    };
    // Plus two records: b2's name index, one shard below 256 entries, and
    // its log registry, empty once this proxy's log is merged (its log
    // objects are removed then; docs/index.md).
    p.index_merged();
    let want = count["b2"] + 2;
    let settled = eventually(Duration::from_secs(5), || records(&p) == want);
    assert!(settled, "RecordsTotal {} != {want}", records(&p));
}

#[test]
fn a_slow_group_gets_fewer_writes() {
    let mut slow = Group::new(2);
    // Well above what a write costs on a loaded 2-core machine, so the
    // slow group stands out however busy the machine is.
    slow.delay_ms = 100;
    let p = Proxy::start(three_buckets(vec![Group::new(1), slow, Group::new(3)]));
    let count = spread(&p, 300, 1024);
    eprintln!("spread with a slow group 2: {count:?}");
    let get = |b: &str| count.get(b).copied().unwrap_or(0);
    let others = get("b1").min(get("b3"));
    assert!(
        get("b2") * 3 <= others,
        "the slow bucket got {} writes, the others at least {others}: {count:?}: {}",
        get("b2"),
        p.json("/stat/")
    );
    let stat = p.json("/stat/");
    let pain = |b: &str, g: &str| {
        stat["Buckets"][b]["Group"][g]["Backends"][0]["Stat"]["PID"]["Pain"]
            .as_f64()
            .unwrap()
    };
    assert!(pain("b2", "2") > pain("b1", "1"), "{stat}");
}

#[test]
fn read_only_groups_get_no_writes_and_show_as_error_groups() {
    let mut ro = Group::new(3);
    ro.read_only = true;
    let mut setup = three_buckets(vec![Group::new(1), Group::new(2), ro]);
    setup.buckets["buckets"]["b4"] = json!({"groups": [1, 3]});
    setup.bucket_list.push("b4".into());
    let p = Proxy::start(setup);
    let count = spread(&p, 60, 1024);
    assert_eq!(count.get("b3"), None, "{count:?}");
    assert_eq!(count.get("b4"), None, "{count:?}");
    let r = p.upload("b4", "direct", b"data".to_vec());
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["reply"]["success-groups"], json!([1]));
    assert_eq!(v["reply"]["error-groups"], json!([3]));
    let stat = p.json("/stat/b4");
    assert_eq!(
        stat["Buckets"]["b4"]["Group"]["3"]["Backends"][0]["Stat"]["RO"],
        true
    );
}

#[test]
fn filling_stops_only_when_every_group_is_past_the_hard_limit() {
    let limit = 400 * 1024;
    let groups = (1..=3)
        .map(|id| {
            let mut g = Group::new(id);
            g.size_limit = limit;
            g
        })
        .collect();
    let mut setup = three_buckets(groups);
    // Every upload also rewrites its bucket's name-index shard, and eblob
    // appends each rewrite until a defragmentation: with shards of the
    // default 256 entries that writes ~20 KiB more per 8 KiB upload, which
    // fills a 400 KiB group between two statistics refreshes. Small shards
    // keep the index's share of these tiny groups small, so what is tested
    // stays placement's hard limit (docs/index.md, "Cost").
    setup.proxy = json!({"index-shard-entries": 8});
    let p = Proxy::start(setup);
    let size = 8 * 1024;
    let mut stopped = None;
    for i in 0..1000 {
        let r = nobucket_upload(&p, &format!("fill{i}"), random_bytes(size, i));
        if r.status() == 503 {
            stopped = Some(r.text().unwrap());
            break;
        }
        assert_eq!(r.status(), 200, "upload {i}: {}", r.text().unwrap());
    }
    let line = stopped.expect("the store never filled up");
    assert!(line.contains("no bucket can take"), "{line}");
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    let hard = 0.15;
    let stat = p.json("/stat/");
    for (b, g) in [("b1", "1"), ("b2", "2"), ("b3", "3")] {
        let vfs = &stat["Buckets"][b]["Group"][g]["Backends"][0]["Stat"]["VFS"];
        let free = vfs["Avail"].as_f64().unwrap() / vfs["Total"].as_f64().unwrap();
        // Past the hard limit once one more object is counted...
        assert!(
            free <= hard + (size as f64 + 512.0) / limit as f64,
            "group {g} still had room: free ratio {free}"
        );
        // ...and never written down far below it.
        assert!(
            free >= hard / 2.0,
            "group {g} overfilled: free ratio {free}"
        );
    }
}

#[test]
fn lookup_reports_a_replica_deleted_behind_the_proxys_back() {
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2]}}}),
        bucket_list: vec!["r".into()],
        ..Setup::default()
    };
    // Deletes a replica's file from the embedded store behind the proxy.
    let p = Proxy::start_on(setup, common::Backend::Local);
    assert_eq!(p.upload("r", "obj", random_bytes(5000, 1)).status(), 200);
    let v = p.json("/lookup/r/obj");
    assert_eq!(v["out-of-sync-groups"], json!([]));
    assert_eq!(v["info"][1]["in-sync"], true);
    let file = v["info"][1]["filename"].as_str().unwrap().to_string();
    assert_eq!(v["info"][1]["group"], 2);
    std::fs::remove_file(&file).unwrap();
    let v = p.json("/lookup/r/obj");
    assert_eq!(v["out-of-sync-groups"], json!([2]), "{v}");
    assert_eq!(v["success-groups"], json!([1]));
    // Recovery is off by default: a read leaves the replica missing.
    assert_eq!(p.get("r", "obj").status(), 200);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!std::path::Path::new(&file).exists());
    let stat = p.json("/stat/r");
    assert!(
        stat["Buckets"]["r"]["Group"]["2"]["OutOfSyncReplicas"]
            .as_u64()
            .unwrap()
            >= 1,
        "{stat}"
    );
}

#[test]
fn recover_on_read_copies_the_newest_replica_back() {
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2, 3]}}}),
        bucket_list: vec!["r".into()],
        proxy: json!({"recover-on-read": true}),
        ..Setup::default()
    };
    // Deletes a replica's file from the embedded store behind the proxy.
    let p = Proxy::start_on(setup, common::Backend::Local);
    let body = random_bytes(300_000, 9);
    assert_eq!(p.upload("r", "obj", body.clone()).status(), 200);
    let v = p.json("/lookup/r/obj");
    let file = v["info"][2]["filename"].as_str().unwrap().to_string();
    assert_eq!(v["info"][2]["group"], 3);
    std::fs::remove_file(&file).unwrap();
    // The read itself is served from a good replica...
    let r = p.get("r", "obj");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().unwrap() == body);
    // ...and the missing one comes back in the background.
    assert!(
        eventually(Duration::from_secs(10), || std::path::Path::new(&file)
            .exists()),
        "replica not recovered: {}",
        p.log()
    );
    let v = p.json("/lookup/r/obj");
    assert_eq!(v["out-of-sync-groups"], json!([]), "{v}");
    assert_eq!(v["success-groups"], json!([1, 2, 3]));
    let csums: Vec<&Value> = v["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["csum"])
        .collect();
    assert!(csums.iter().all(|c| *c == csums[0]), "{v}");
    // The counter follows the copy's commit.
    let counted = eventually(Duration::from_secs(5), || {
        p.json("/stat/r")["Recovery"]["Recovered"].as_u64().unwrap() >= 1
    });
    assert!(counted, "{}", p.json("/stat/r"));
}

/// With recover-on-read off and no client reading, the background repair
/// pass brings back replicas lost behind the proxy's back, byte for byte,
/// at no more than its key rate.
#[test]
fn the_repair_pass_brings_back_replicas_no_one_reads() {
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2, 3]}}}),
        bucket_list: vec!["r".into()],
        proxy: json!({"repair-pass-interval": 0, "repair-pass-keys-per-second": 20}),
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    let keys: Vec<String> = (0..30).map(|i| format!("dir/k{i:02}")).collect();
    let body = |i: usize| random_bytes(1000 + i * 10_007, i as u64);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(p.upload("r", k, body(i)).status(), 200);
    }
    // Group 2 loses the even keys, group 3 every third.
    let mut damaged = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        for (g, every) in [(2, 2), (3, 3)] {
            if i % every == 0 {
                p.remove_replica("r", k, g);
                damaged.push(i);
            }
        }
    }
    damaged.dedup();
    let out_of_sync =
        |k: &str| p.json(&format!("/lookup/r/{}", escape(k)))["out-of-sync-groups"].clone();
    assert_eq!(out_of_sync(&keys[0]), json!([2, 3]));
    assert_eq!(out_of_sync(&keys[3]), json!([3]));
    // The pass turned on by a reload: every second from now.
    let mut cfg = p.config();
    cfg["proxy"]["repair-pass-interval"] = json!(1);
    p.write_config(&cfg);
    p.signal("HUP");
    let back = eventually(Duration::from_secs(30), || {
        keys.iter().all(|k| out_of_sync(k) == json!([]))
    });
    let still: Vec<(&String, Value)> = keys
        .iter()
        .map(|k| (k, out_of_sync(k)))
        .filter(|(_, v)| *v != json!([]))
        .collect();
    assert!(back, "still out of sync: {still:?}\n{}", p.log());
    // The copies hold the object's bytes: each read from a copy alone.
    for (i, g) in [(0, 2), (6, 3), (9, 3)] {
        for other in [1, 2, 3].into_iter().filter(|x| *x != g) {
            p.remove_replica("r", &keys[i], other);
        }
        let r = p.get("r", &keys[i]);
        assert_eq!(r.status(), 200, "{} from group {g}", keys[i]);
        assert!(r.bytes().unwrap() == body(i), "{} from group {g}", keys[i]);
    }
    let metric = |name: &str| -> f64 {
        let text = p.get_path("/metrics").text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("backrunner_{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    assert!(
        eventually(Duration::from_secs(10), || metric("repair_passes_total")
            >= 1.0),
        "no pass ended"
    );
    assert!(metric("repair_pass_keys_total") >= 30.0);
    assert!(metric("repair_pass_out_of_sync_keys_total") >= damaged.len() as f64);
    assert_eq!(metric("repair_pass_listing_errors_total"), 0.0);
    // Each pass of the 30 keys took at least 30 / 20 keys a second.
    let log = p.log();
    let passes: Vec<f64> = log
        .lines()
        .filter_map(|l| {
            l.split("repair pass: 30 keys of 1 buckets checked in ")
                .nth(1)
        })
        .filter_map(|l| l.split('s').next()?.parse().ok())
        .collect();
    assert!(!passes.is_empty(), "{log}");
    assert!(passes.iter().all(|&t| t >= 1.45), "{passes:?}");
}

#[test]
fn backends_with_many_removed_records_are_defragmented() {
    let setup = Setup {
        buckets: json!({"buckets": {"d": {"groups": [2]}}}),
        bucket_list: vec!["d".into()],
        proxy: json!({"defrag-removed-ratio": 0.5, "defrag-min-removed-records": 5}),
        ..Setup::default()
    };
    // Exercises the embedded store's compaction (all removed records reclaimed at once).
    let p = Proxy::start_on(setup, common::Backend::Local);
    for i in 0..10 {
        assert_eq!(p.upload("d", &format!("k{i}"), vec![7; 100]).status(), 200);
    }
    for i in 0..8 {
        let r = p
            .client
            .post(p.url(&format!("/delete/d/k{i}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let done = eventually(Duration::from_secs(10), || {
        let s = p.json("/stat/d");
        let st = &s["Buckets"]["d"]["Group"]["2"]["Backends"][0]["Stat"];
        st["DefragRuns"].as_u64() >= Some(1) && st["VFS"]["RecordsRemoved"] == 0
    });
    assert!(done, "no defragmentation: {}", p.json("/stat/d"));
    let s = p.json("/stat/d");
    assert!(
        s["Defrag"]["NothingToCompact"].as_u64().unwrap() >= 1,
        "{s}"
    );
    assert_eq!(
        s["Buckets"]["d"]["Group"]["2"]["Backends"][0]["Stat"]["DefragState"],
        0
    );
    // The live objects are untouched.
    for i in 8..10 {
        assert_eq!(p.get("d", &format!("k{i}")).status(), 200);
    }
}
