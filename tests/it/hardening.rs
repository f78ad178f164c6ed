//! Attacks from issue 13 against a running proxy, each shown not to work any
//! more while normal use still does: declared sizes past every limit, corrupt
//! replicas, oversized bulk deletes, a bucket named like the metadata
//! namespace, a damaged metadata copy.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common;
use crate::common::{eventually, random_bytes, wait_for, Backend, Group, Proxy, Setup};
use serde_json::{json, Value};

/// Sends a raw request head plus `body`, and reads the reply's status line
/// and text (the proxy may close before taking the whole body).
fn raw_request(p: &Proxy, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let _ = s.flush();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if out.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// Waits until the proxy's cached statistics know every group of the setup.
fn wait_for_stats(p: &Proxy) {
    wait_for("backend statistics", Duration::from_secs(20), || {
        let v = p.json("/stat/");
        p.setup.groups.iter().all(|g| {
            v["Buckets"].as_object().is_some_and(|b| {
                b.values().any(|b| {
                    b["Group"][g.id.to_string()]["Backends"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty())
                })
            })
        })
    });
}

#[test]
fn huge_content_length_is_refused_before_the_body() {
    let setup = Setup {
        groups: vec![
            Group {
                size_limit: 10 << 20,
                ..Group::new(1)
            },
            Group {
                size_limit: 10 << 20,
                ..Group::new(2)
            },
            Group::new(3),
        ],
        buckets: json!({"buckets": {"b1": {"groups": [1, 2]}, "b2": {"groups": [3], "max-size": 1000}}}),
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    wait_for_stats(&p);
    // The length that wrapped the reservation: 413 at once, nothing stored.
    let chunk = random_bytes(1 << 20, 1);
    let (status, text) = raw_request(
        &p,
        "POST /upload/b1/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n",
        &chunk,
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("max-object-size"), "{text}");
    // The same at an offset: offset + length overflows.
    let (status, text) = raw_request(
        &p,
        "POST /upload/b1/huge HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\nContent-Length: 18446744073709551610\r\n\r\n",
        &chunk,
    );
    assert_eq!(status, 413, "{text}");
    // More than either 10 MiB group can hold: refused before the body.
    let (status, text) = raw_request(
        &p,
        &format!(
            "POST /upload/b1/huge HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            11 << 20
        ),
        &chunk,
    );
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("fits none of bucket b1's groups"), "{text}");
    // The bucket's max-size.
    let r = p.upload("b2", "big", vec![1; 1001]);
    assert_eq!(r.status(), 413);
    assert!(r.text().unwrap().contains("max-size (1000)"));
    assert_eq!(p.get_path("/lookup/b1/huge").status(), 404);
    assert_eq!(p.get_path("/lookup/b2/big").status(), 404);
    if common::backend() == Backend::Local {
        for g in 1..=3 {
            let tmp = p.dir.path().join(format!("store/group-{g}/tmp"));
            assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
        }
    }
    // Honest uploads within the limits still work.
    let body = random_bytes(5 << 20, 2);
    assert_eq!(p.upload("b1", "fits", body.clone()).status(), 200);
    assert!(p.get("b1", "fits").bytes().unwrap() == body);
    assert_eq!(p.upload("b2", "small", vec![1; 1000]).status(), 200);
}

#[test]
fn max_object_size_is_configurable() {
    let setup = Setup {
        proxy: json!({"max-object-size": "1M"}),
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    let r = p.upload("b1", "k", vec![0; (1 << 20) + 1]);
    assert_eq!(r.status(), 413);
    assert!(r
        .text()
        .unwrap()
        .contains("proxy.max-object-size (1048576)"));
    assert_eq!(p.upload("b1", "k", vec![7; 1 << 20]).status(), 200);
    // A partial upload counts its offset.
    let r = p
        .client
        .post(p.url("/upload/b1/k"))
        .header("Range", "bytes=1048000-")
        .body(vec![1; 1000])
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
}

/// Flips one bit of the object's byte at `at` in the replica file `path`
/// (`offset` is where the object's bytes start in the file).
pub(crate) fn flip_bit(path: &str, offset: u64, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset + at).unwrap();
    b[0] ^= 0x10;
    f.write_all_at(&b, offset + at).unwrap();
}

pub(crate) fn replica(p: &Proxy, bucket: &str, key: &str, group: u32) -> (String, u64) {
    let v = p.json(&format!("/lookup/{bucket}/{key}"));
    let r = v["info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == group)
        .unwrap_or_else(|| panic!("no replica in group {group}: {v}"));
    (
        r["filename"].as_str().unwrap().to_string(),
        r["offset-within-data-file"].as_u64().unwrap(),
    )
}

/// `RecordsCorrupted` of `group`'s backends as `/stat/` shows them.
pub(crate) fn corrupted(p: &Proxy, bucket: &str, group: u32) -> u64 {
    let v = p.json(&format!("/stat/{bucket}"));
    v["Buckets"][bucket]["Group"][group.to_string()]["Backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Stat"]["VFS"]["RecordsCorrupted"].as_u64().unwrap())
        .sum()
}

fn metric_sum(p: &Proxy, name: &str) -> f64 {
    let text = p.get_path("/metrics").text().unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("backrunner_{name}")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn corrupt_replica_bytes_are_never_served() {
    // Flips bits in the embedded store's files.
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2]}}}),
        bucket_list: vec!["r".into()],
        ..Setup::default()
    };
    let mut p = Proxy::start_on(setup, Backend::Local);
    let body = random_bytes((3 << 20) + 12345, 5);
    assert_eq!(p.upload("r", "obj", body.clone()).status(), 200);
    let (f1, o1) = replica(&p, "r", "obj", 1);
    let (f2, o2) = replica(&p, "r", "obj", 2);
    // Different blocks of both replicas: every read needs both.
    flip_bit(&f1, o1, 200_000);
    flip_bit(&f2, o2, 2_500_000);
    // fresh placement costs: reads try the bucket's groups in their listed order
    p.restart();
    for i in 0..5 {
        let r = p.get("r", "obj");
        assert_eq!(r.status(), 200);
        let got = r.bytes().unwrap();
        assert!(got == body, "GET {i} served wrong bytes");
    }
    // A range across the bad block of group 1's replica.
    let r = p
        .client
        .get(p.url("/get/r/obj"))
        .header("Range", "bytes=199990-200010")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().unwrap() == body[199_990..=200_010]);
    // Statistics are gathered every second.
    wait_for("checksum errors in /stat/", Duration::from_secs(10), || {
        corrupted(&p, "r", 1) >= 6 && corrupted(&p, "r", 2) >= 1
    });
    assert!(metric_sum(&p, "backend_checksum_errors_total") >= 6.0);
    // The same block bad in both replicas: an error, never wrong bytes.
    flip_bit(&f2, o2, 200_001);
    // (The connection may close before or after the status line.)
    if let Ok(b) = p
        .client
        .get(p.url("/get/r/obj"))
        .send()
        .and_then(|r| r.bytes())
    {
        assert!(b.len() < body.len(), "a whole body despite two bad copies");
    }
    let r = p
        .client
        .get(p.url("/get/r/obj"))
        .header("Range", "bytes=200000-200001")
        .send();
    assert!(
        r.is_err() || r.is_ok_and(|r| r.status() != 206 || r.bytes().is_err()),
        "served a block that fails its checksum in every replica"
    );
    // The proxy keeps serving.
    assert_eq!(p.upload("r", "other", vec![1; 10]).status(), 200);
}

#[test]
fn recover_on_read_repairs_a_corrupt_replica() {
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2]}}}),
        bucket_list: vec!["r".into()],
        proxy: json!({"recover-on-read": true}),
        ..Setup::default()
    };
    let mut p = Proxy::start_on(setup, Backend::Local);
    let body = random_bytes(700_000, 6);
    assert_eq!(p.upload("r", "obj", body.clone()).status(), 200);
    let (f1, o1) = replica(&p, "r", "obj", 1);
    flip_bit(&f1, o1, 300_000);
    p.restart();
    let r = p.get("r", "obj");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().unwrap() == body);
    wait_for(
        "a checksum error in /stat/",
        Duration::from_secs(10),
        || corrupted(&p, "r", 1) >= 1,
    );
    wait_for(
        "the corrupt replica to be rewritten",
        Duration::from_secs(20),
        || {
            backrunner::storage::local::read_object_file(std::path::Path::new(&f1))
                .is_ok_and(|b| b == body)
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before = corrupted(&p, "r", 1);
    p.restart();
    for _ in 0..3 {
        assert!(p.get("r", "obj").bytes().unwrap() == body);
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        corrupted(&p, "r", 1),
        0,
        "the repaired replica reads clean (was {before})"
    );
}

#[test]
fn partial_uploads_keep_block_checksums_right() {
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2]}}}),
        bucket_list: vec!["r".into()],
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    let mut body = random_bytes(300_000, 7);
    assert_eq!(p.upload("r", "obj", body.clone()).status(), 200);
    // Inside, across block edges, and past the end.
    for (at, len) in [(70_000usize, 1000usize), (65_530, 20), (299_990, 100_000)] {
        let part = random_bytes(len, at as u64);
        let r = p
            .client
            .post(p.url("/upload/r/obj"))
            .header("Range", format!("bytes={at}-"))
            .body(part.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        if body.len() < at + len {
            body.resize(at + len, 0);
        }
        body[at..at + len].copy_from_slice(&part);
    }
    for _ in 0..2 {
        assert!(p.get("r", "obj").bytes().unwrap() == body);
    }
    assert_eq!(corrupted(&p, "r", 1) + corrupted(&p, "r", 2), 0);
}

#[test]
fn bulk_delete_is_capped() {
    let p = Proxy::start(Setup::default());
    let keys: Vec<String> = (0..10_001).map(|i| format!("k{i}")).collect();
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .json(&json!({ "keys": keys }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().unwrap().contains("more than 10000"));
    // A body past the limit is refused from its Content-Length.
    let big = format!("{{\"keys\": [\"{}\"]}}", "x".repeat(11 << 20));
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    // 10,000 keys are served; only the failed keys come back.
    assert_eq!(p.upload("b1", "k5", vec![1; 5]).status(), 200);
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .json(&json!({ "keys": keys[..10_000] }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let failed: serde_json::Map<String, Value> = r.json().unwrap();
    assert_eq!(failed.len(), 9_999);
    assert!(!failed.contains_key("k5"));
    assert_eq!(p.get("b1", "k5").status(), 404);
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .body(r#"{"keys": []}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("'keys' array is empty"));
}

/// Opens the store the proxy's config names, while the proxy is not running.
fn open_store(p: &Proxy) -> std::sync::Arc<dyn backrunner::storage::Storage> {
    let cfg = backrunner::config::Config::load(&p.config_path).unwrap();
    backrunner::storage::open(&cfg).unwrap()
}

#[test]
fn a_bucket_named_bucket_cannot_touch_other_buckets_metadata() {
    use backrunner::bucket::{write_meta, BucketMeta};
    let setup = Setup {
        buckets: json!({"buckets": {"b2": {"groups": [1, 2],
            "acl": [{"user": "w", "token": "secret-token", "flags": 2}]}}}),
        bucket_list: vec!["b2".into()],
        ..Setup::default()
    };
    let mut p = Proxy::prepare(setup);
    // bmeta refuses to make one...
    let spec = p.dir.path().join("evil.json");
    std::fs::write(&spec, r#"{"buckets": {"bucket": {"groups": [1]}}}"#).unwrap();
    let out = p.bmeta(&["-upload", spec.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"bucket\" is reserved"));
    // ...but an older tool wrote one, open to anyone, into the metadata groups.
    {
        let store = open_store(&p);
        let evil = BucketMeta {
            version: 1,
            name: "bucket".into(),
            groups: vec![1],
            ..Default::default()
        };
        write_meta(store.as_ref(), &[1], &evil).unwrap();
    }
    std::fs::write(&p.buckets_path, "b2\nbucket\n").unwrap();
    p.spawn();
    // The attack: replace b2's metadata with one that lets anyone write.
    let open_b2 = BucketMeta {
        version: 1,
        name: "b2".into(),
        groups: vec![1, 2],
        ..Default::default()
    };
    let r = p.upload("bucket", "b2", open_b2.to_msgpack());
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("reserved"));
    // Nor can it read b2's metadata (with its tokens).
    assert_eq!(p.get("bucket", "b2").status(), 400);
    p.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.upload("b2", "k", vec![1; 3]).status(),
        403,
        "b2's ACL holds"
    );
    let stat = p.json("/proxy_stat/");
    assert!(stat["BucketCtlStat"]["LastReloadError"]
        .as_str()
        .unwrap()
        .contains("reserved"));
}

#[test]
fn names_of_internal_keys_are_no_bucket_names() {
    let setup = Setup::default();
    let mut p = Proxy::prepare(setup);
    let mut cfg = p.config();
    cfg["elliptics"]["bucket-list-key"] = json!("the-list");
    p.write_config(&cfg);
    let list = p.dir.path().join("list.txt");
    std::fs::write(&list, "b1\nb2\n").unwrap();
    let out = p.bmeta(&["-upload-bucket-list", list.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = p.dir.path().join("clash.json");
    std::fs::write(&spec, r#"{"buckets": {"the-list": {"groups": [1]}}}"#).unwrap();
    let out = p.bmeta(&["-upload", spec.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bucket-list-key"));
    p.spawn();
    let r = p.upload("the-list", "k", vec![1]);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("reserved"));
    assert_eq!(p.upload("b1", "k", vec![1]).status(), 200);
}

#[test]
fn one_bad_metadata_copy_leaves_the_bucket_usable() {
    use backrunner::storage::{write_small, Context};
    let setup = Setup {
        metadata_groups: vec![1, 2],
        ..Setup::default()
    };
    let mut p = Proxy::prepare(setup);
    // Group 1's copy of b1 is stored intact but is not bucket metadata.
    {
        let store = open_store(&p);
        let ctx = Context::new("bucket", vec![1]);
        write_small(store.as_ref(), &ctx, "b1", b"\xc1 not msgpack").unwrap();
    }
    if common::backend() == Backend::Local {
        // And one byte of group 1's copy of b2 flipped on disk.
        let (path, off) = {
            let root = p.dir.path().join("store");
            let path = backrunner::storage::local::object_path(&root, 1, "bucket", "b2");
            let raw = std::fs::read(&path).unwrap();
            let data = backrunner::storage::local::read_object_file(&path).unwrap();
            (path, (raw.len() - data.len()) as u64)
        };
        flip_bit(path.to_str().unwrap(), off, 1);
    }
    p.spawn();
    assert_eq!(p.upload("b1", "k", vec![1; 3]).status(), 200);
    assert_eq!(p.get("b1", "k").status(), 200);
    assert_eq!(p.upload("b2", "k", vec![1; 3]).status(), 200);
    let stat = p.json("/proxy_stat/");
    assert!(stat["BucketCtlStat"]["BadMetadataCopies"].as_u64().unwrap() >= 1);
    assert!(metric_sum(&p, "bucket_metadata_bad_copies") >= 1.0);
    assert!(
        p.log().contains("bad metadata copy in group 1"),
        "{}",
        p.log()
    );
}

/// Whether `RecordsCorrupted` of `group` reaches `at_least` within 10 s
/// (statistics are gathered every second).
pub(crate) fn corrupted_eventually(p: &Proxy, bucket: &str, group: u32, at_least: u64) -> bool {
    eventually(Duration::from_secs(10), || {
        corrupted(p, bucket, group) >= at_least
    })
}

#[test]
fn elliptics_reads_past_a_corrupt_eblob_record() {
    if !cfg!(feature = "elliptics") || common::ioserv_binary().is_none() {
        eprintln!("skipped: needs --features elliptics and dnet_ioserv");
        return;
    }
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2]}}}),
        bucket_list: vec!["r".into()],
        ..Setup::default()
    };
    let mut p = Proxy::start_on(setup, Backend::Elliptics);
    let body = random_bytes((3 << 20) + 777, 8);
    assert_eq!(p.upload("r", "obj", body.clone()).status(), 200);
    let (f1, o1) = replica(&p, "r", "obj", 1);
    let (f2, o2) = replica(&p, "r", "obj", 2);
    // Different 1 MiB checksum chunks of the two records.
    flip_bit(&f1, o1, 200_000);
    flip_bit(&f2, o2, 2_500_000);
    p.restart();
    for i in 0..5 {
        let r = p.get("r", "obj");
        assert_eq!(r.status(), 200);
        let got = r
            .bytes()
            .unwrap_or_else(|e| panic!("GET {i}: {e}: {}", p.log()));
        assert!(got == body, "GET {i} served wrong bytes");
    }
    // Every GET met both bad chunks, one in each record.
    assert!(
        corrupted_eventually(&p, "r", 1, 5) && corrupted_eventually(&p, "r", 2, 5),
        "checksum errors not counted: {}",
        p.json("/stat/r")
    );
    assert!(metric_sum(&p, "backend_checksum_errors_total") >= 10.0);
    // Both records bad in the same chunk: an error, never wrong bytes.
    flip_bit(&f2, o2, 200_001);
    if let Ok(b) = p
        .client
        .get(p.url("/get/r/obj"))
        .send()
        .and_then(|r| r.bytes())
    {
        assert!(b.len() < body.len(), "a whole body despite two bad records");
    }
    assert_eq!(p.upload("r", "other", vec![1; 10]).status(), 200);
}

/// What a recovery copy relies on to abort (src/cluster/consistency.rs):
/// a store writer dropped before its commit leaves nothing visible, for an
/// object of one chunk and of several, new or over an older object. On
/// Elliptics the one-chunk write_data once landed at `write`, and a copy
/// that found its source deleted meanwhile resurrected the key.
#[test]
fn a_store_writer_dropped_before_its_commit_leaves_nothing_visible() {
    use backrunner::storage::{read_small, write_small, Context};
    let p = Proxy::start(Setup::default());
    let store = p.store();
    let ctx = Context::new("b1", vec![1, 2]);
    let found = |key: &str| {
        store
            .lookup(&ctx, key)
            .iter()
            .filter(|r| r.result.is_ok())
            .count()
    };
    for (key, size) in [("one-chunk", 5000usize), ("chunks", 3 << 20)] {
        let body = random_bytes(size, 3);
        let mut w = store.write(&ctx, key, None, size as u64).unwrap();
        for piece in body.chunks(1 << 20) {
            w.write(piece).unwrap();
        }
        drop(w);
        assert_eq!(found(key), 0, "{key}: a dropped write is visible");
        assert_eq!(p.get("b1", key).status(), 404, "{key}");
    }
    // Over an older object, which stays whole.
    let old = random_bytes(4000, 4);
    write_small(store.as_ref(), &ctx, "older", &old).unwrap();
    let mut w = store.write(&ctx, "older", None, 5000).unwrap();
    w.write(&random_bytes(5000, 5)).unwrap();
    drop(w);
    for g in [1, 2] {
        let got = read_small(
            store.as_ref(),
            &Context::new("b1", vec![g]),
            "older",
            1 << 20,
        );
        assert!(got.unwrap() == old, "group {g}: the older object changed");
    }
}
