//! Elliptics-only behaviour against a real `dnet_ioserv` on loopback:
//! backend control (read-only, delay) seen through the HTTP API, and a
//! storage node killed and restarted under the proxy. The backend-independent
//! suite (tests/it/api.rs, tests/it/cli.rs) runs against Elliptics with
//! `BACKRUNNER_TEST_BACKEND=elliptics`.

use std::time::{Duration, Instant};

use crate::common;
use crate::common::{eventually, Backend, Control, Proxy, Setup};
use serde_json::{json, Value};

/// Whether these tests can run; prints why not when they cannot.
fn available(test: &str) -> bool {
    if !cfg!(feature = "elliptics") {
        eprintln!("{test}: Elliptics tests skipped: built without --features elliptics");
        return false;
    }
    if common::ioserv_binary().is_none() {
        eprintln!(
            "{test}: Elliptics tests skipped: dnet_ioserv not found (install Elliptics in /opt/elliptics or set ELLIPTICS_PREFIX/DNET_IOSERV; see README)"
        );
        return false;
    }
    true
}

fn start(buckets: Value) -> Proxy {
    let names: Vec<String> = buckets["buckets"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    Proxy::start_on(
        Setup {
            buckets,
            bucket_list: names,
            ..Setup::default()
        },
        Backend::Elliptics,
    )
}

fn groups(v: &Value, field: &str) -> Value {
    v["reply"][field].clone()
}

#[test]
fn read_only_backend_shows_in_error_groups() {
    if !available("read_only_backend_shows_in_error_groups") {
        return;
    }
    let p = start(json!({"buckets": {"b1": {"groups": [1, 2]}}}));
    let io = p.ioserv.as_ref().unwrap();
    io.control(2, Control::ReadOnly(true));
    let r = p.upload("b1", "ro-key", b"payload".to_vec());
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(groups(&v, "success-groups"), json!([1]));
    assert_eq!(groups(&v, "error-groups"), json!([2]));
    assert_eq!(p.get("b1", "ro-key").bytes().unwrap(), "payload");
    // /stat/ reports the flag once statistics are refreshed.
    let ro_shown = eventually(Duration::from_secs(10), || {
        p.json("/stat/b1")["Buckets"]["b1"]["Group"]["2"]["Backends"][0]["Stat"]["RO"]
            == json!(true)
    });
    assert!(ro_shown, "RO never shown: {}", p.json("/stat/b1"));
    io.control(2, Control::ReadOnly(false));
    let v: Value = p.upload("b1", "rw-key", b"x".to_vec()).json().unwrap();
    assert_eq!(groups(&v, "success-groups"), json!([1, 2]));
    assert_eq!(groups(&v, "error-groups"), json!([]));
}

#[test]
fn delayed_backend_loses_writes_to_the_others() {
    if !available("delayed_backend_loses_writes_to_the_others") {
        return;
    }
    let p = start(json!({"buckets": {"b1": {"groups": [1, 3]}}}));
    // The proxy's client waits 5 s (harness wait-timeout); group 3 answers after 8 s.
    p.ioserv.as_ref().unwrap().control(3, Control::Delay(8000));
    let started = Instant::now();
    let r = p.upload("b1", "slow", b"fast enough".to_vec());
    let took = started.elapsed();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(groups(&v, "success-groups"), json!([1]));
    assert_eq!(groups(&v, "error-groups"), json!([3]));
    assert!(took < Duration::from_secs(30), "upload took {took:?}");
    assert_eq!(p.get("b1", "slow").bytes().unwrap(), "fast enough");
}

#[test]
fn killed_storage_node_gives_503_and_the_proxy_recovers() {
    if !available("killed_storage_node_gives_503_and_the_proxy_recovers") {
        return;
    }
    let mut p = start(json!({"buckets": {"b1": {"groups": [1, 2]}}}));
    assert_eq!(p.upload("b1", "before", b"kept".to_vec()).status(), 200);
    p.ioserv.as_mut().unwrap().kill();
    for i in 0..3 {
        let t = Instant::now();
        let up = p.upload("b1", &format!("during-{i}"), b"lost".to_vec());
        assert_eq!(up.status(), 503, "upload while the node is down");
        let get = p.get("b1", "before");
        assert_eq!(get.status(), 503, "read while the node is down");
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "took {:?}",
            t.elapsed()
        );
    }
    // /ping/ still answers while storage is down.
    assert!(p.get_path("/ping/").status().as_u16() < 500);
    p.ioserv.as_mut().unwrap().spawn();
    let mut status = None;
    let recovered = eventually(Duration::from_secs(60), || {
        let r = p.get("b1", "before");
        status = Some(r.status());
        r.status() == 200 && {
            assert_eq!(r.bytes().unwrap(), "kept");
            true
        }
    });
    assert!(recovered, "proxy did not recover: {status:?}");
    let v: Value = p.upload("b1", "after", b"back".to_vec()).json().unwrap();
    assert_eq!(groups(&v, "success-groups"), json!([1, 2]));
}

#[test]
fn a_returning_node_is_reconnected_at_the_next_statistics_round() {
    if !available("a_returning_node_is_reconnected_at_the_next_statistics_round") {
        return;
    }
    let mut p = Proxy::prepare_on(
        Setup {
            buckets: json!({"buckets": {"b1": {"groups": [1, 2]}}}),
            bucket_list: vec!["b1".into()],
            proxy: json!({"bucket-stat-update-interval": 1}),
            ..Setup::default()
        },
        Backend::Elliptics,
    );
    // The client library alone reconnects at its next check: up to 5
    // minutes after the node returns, with this check-timeout.
    let mut cfg = p.config();
    cfg["elliptics"]["node-config"]["check-timeout"] = json!(300);
    std::fs::write(&p.config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    p.spawn();
    assert_eq!(p.upload("b1", "before", b"kept".to_vec()).status(), 200);
    p.ioserv.as_mut().unwrap().kill();
    assert!(
        eventually(Duration::from_secs(30), || p.get("b1", "before").status()
            == 503),
        "reads did not fail with the node down"
    );
    // A statistics round or two without the node.
    std::thread::sleep(Duration::from_secs(3));
    p.ioserv.as_mut().unwrap().spawn();
    let back = Instant::now();
    let recovered = eventually(Duration::from_secs(60), || {
        p.get("b1", "before").status() == 200
    });
    let took = back.elapsed();
    assert!(
        recovered,
        "no read succeeded within 60 s of the node's return"
    );
    assert!(
        took < Duration::from_secs(15),
        "reads came back {took:?} after the node (check-timeout 300 s)"
    );
    let v: Value = p.upload("b1", "after", b"back".to_vec()).json().unwrap();
    assert_eq!(groups(&v, "success-groups"), json!([1, 2]));
    let log = std::fs::read_to_string(&p.log_path).unwrap();
    assert!(log.contains("is back: reconnected"), "{log}");
}

#[test]
fn aborted_upload_of_a_new_key_leaves_nothing() {
    if !available("aborted_upload_of_a_new_key_leaves_nothing") {
        return;
    }
    use std::io::Write;
    let p = start(json!({"buckets": {"b1": {"groups": [1, 2]}}}));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    write!(
        s,
        "POST /upload/b1/fresh HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        64 << 20
    )
    .unwrap();
    let chunk = common::random_bytes(1 << 20, 12);
    for _ in 0..5 {
        s.write_all(&chunk).unwrap();
    }
    s.flush().unwrap();
    // The upload is under way: write_prepare reserved 64 MiB in eblob.
    let data = p.ioserv.as_ref().unwrap().dir.join("eblob.1");
    let reserved = || {
        std::fs::read_dir(&data)
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(10), || reserved() >= 64 << 20),
        "prepare never reserved the space"
    );
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    // Never committed: not readable, not listed by lookup.
    assert_eq!(p.get("b1", "fresh").status(), 404);
    assert_eq!(p.get_path("/lookup/b1/fresh").status(), 404);
    assert_eq!(p.upload("b1", "after", vec![7; 10]).status(), 200);
}

#[test]
fn backends_with_many_removed_records_are_defragmented() {
    if !available("backends_with_many_removed_records_are_defragmented") {
        return;
    }
    let p = Proxy::start_on(
        Setup {
            buckets: json!({"buckets": {"d": {"groups": [2]}}}),
            bucket_list: vec!["d".into()],
            proxy: json!({"defrag-removed-ratio": 0.5, "defrag-min-removed-records": 5}),
            ..Setup::default()
        },
        Backend::Elliptics,
    );
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
    // The proxy starts eblob's defragmentation through backend control and
    // counts the run once the backend reports it finished.
    let defragmented = eventually(Duration::from_secs(30), || {
        p.json("/stat/d")["Buckets"]["d"]["Group"]["2"]["Backends"][0]["Stat"]["DefragRuns"]
            .as_u64()
            >= Some(1)
    });
    assert!(
        defragmented,
        "no defragmentation: {}\n{}",
        p.json("/stat/d"),
        p.log()
    );
    for i in 8..10 {
        assert_eq!(
            p.get("d", &format!("k{i}")).bytes().unwrap(),
            vec![7u8; 100]
        );
    }
    assert_eq!(p.get("d", "k0").status(), 404);
}

#[test]
fn reads_stay_on_the_replica_looked_up_when_the_client_randomizes_groups() {
    if !available("reads_stay_on_the_replica_looked_up_when_the_client_randomizes_groups") {
        return;
    }
    let names = vec!["b1".to_string()];
    let mut p = Proxy::prepare_on(
        Setup {
            buckets: json!({"buckets": {"b1": {"groups": [1, 2]}}}),
            bucket_list: names,
            ..Setup::default()
        },
        Backend::Elliptics,
    );
    // DNET_CFG_RANDOMIZE_STATES: the client shuffles groups for every read.
    let mut cfg = p.config();
    cfg["elliptics"]["node-config"]["flags"] = json!(32);
    p.write_config(&cfg);
    p.spawn();
    let io = p.ioserv.as_ref().unwrap();
    assert_eq!(
        p.upload("b1", "k", b"the old version, longer".to_vec())
            .status(),
        200
    );
    // Group 2 keeps the old version; group 1 gets the new one.
    io.control(2, Control::ReadOnly(true));
    assert_eq!(p.upload("b1", "k", b"new version".to_vec()).status(), 200);
    for i in 0..24 {
        let r = p.get("b1", "k");
        assert_eq!(r.status(), 200, "GET {i}");
        assert_eq!(r.bytes().unwrap(), "new version", "GET {i}");
    }
}
