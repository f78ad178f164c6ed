//! Config and buckets that change while the proxy runs: SIGHUP, the periodic
//! refresh, the cluster-stored config and bucket list, `/update_local_config/`,
//! store switches, and graceful shutdown — against the running binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common;
use crate::common::{random_bytes, sign, wait_for, Group, Proxy, Setup};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

fn signed_upload(p: &Proxy, bucket: &str, key: &str, user: &str, token: &str) -> u16 {
    let path = format!("/upload/{bucket}/{key}");
    p.client
        .post(p.url(&path))
        .header(
            "Authorization",
            format!("riftv1 {user}:{}", sign(token, "POST", &path)),
        )
        .body("payload")
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn acl_spec(token: &str) -> Value {
    json!({"buckets": {"sec": {"groups": [1, 2], "acl": [{"user": "u", "token": token, "flags": 2}]}}})
}

fn stat_buckets(p: &Proxy) -> Vec<String> {
    let mut v: Vec<String> = p.json("/stat/")["Buckets"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

fn proxy_stat(p: &Proxy) -> Value {
    p.json("/proxy_stat/")["BucketCtlStat"].clone()
}

fn test_header(p: &Proxy) -> String {
    let r = p.get_path("/ping/");
    r.headers()
        .get("x-test-header")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn acl_token_change_applies_after_sighup() {
    let p = Proxy::start(Setup {
        buckets: acl_spec("old"),
        bucket_list: vec!["sec".into()],
        ..Default::default()
    });
    assert_eq!(signed_upload(&p, "sec", "k", "u", "old"), 200);
    assert_eq!(signed_upload(&p, "sec", "k", "u", "new"), 403);
    p.upload_buckets(&acl_spec("new"));
    // The 30 s interval has not passed: the running metadata still holds.
    assert_eq!(signed_upload(&p, "sec", "k", "u", "new"), 403);
    p.signal("HUP");
    wait_for("the new token to be accepted", WAIT, || {
        signed_upload(&p, "sec", "k", "u", "new") == 200
    });
    assert_eq!(signed_upload(&p, "sec", "k", "u", "old"), 403);
    assert_eq!(proxy_stat(&p)["ReloadErrors"], 0);
}

#[test]
fn acl_token_change_applies_after_the_interval() {
    let p = Proxy::start(Setup {
        buckets: acl_spec("old"),
        bucket_list: vec!["sec".into()],
        proxy: json!({"bucket-update-interval": 1}),
        ..Default::default()
    });
    assert_eq!(signed_upload(&p, "sec", "k", "u", "new"), 403);
    p.upload_buckets(&acl_spec("new"));
    wait_for("the new token to be accepted without SIGHUP", WAIT, || {
        signed_upload(&p, "sec", "k", "u", "new") == 200
    });
    assert_eq!(signed_upload(&p, "sec", "k", "u", "old"), 403);
}

#[test]
fn back_bucket_is_refreshed_and_forgotten_on_sighup() {
    // "sec" is not listed: it is loaded on first use, then re-read by the interval.
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1]}, "sec": {"groups": [1, 2],
            "acl": [{"user": "u", "token": "old", "flags": 2}]}}}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"bucket-update-interval": 1}),
        ..Default::default()
    });
    assert_eq!(signed_upload(&p, "sec", "k", "u", "old"), 200);
    assert_eq!(stat_buckets(&p), vec!["b1"]);
    p.upload_buckets(&acl_spec("new"));
    wait_for("the back bucket's new token", WAIT, || {
        signed_upload(&p, "sec", "k", "u", "new") == 200
    });
}

#[test]
fn bucket_appended_to_the_file_appears_after_sighup() {
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1]}, "b2": {"groups": [2]}, "b3": {"groups": [3]}}}),
        ..Default::default()
    });
    assert_eq!(stat_buckets(&p), vec!["b1", "b2"]);
    let mut list = std::fs::read_to_string(&p.buckets_path).unwrap();
    list.push_str("\nb3\n");
    std::fs::write(&p.buckets_path, list).unwrap();
    p.signal("HUP");
    wait_for("b3 in /stat/", WAIT, || stat_buckets(&p).len() == 3);
    assert_eq!(stat_buckets(&p), vec!["b1", "b2", "b3"]);
    assert_eq!(proxy_stat(&p)["BucketNum"], 3);
}

#[test]
fn listed_bucket_whose_metadata_vanishes_keeps_its_previous_metadata() {
    // Deletes the embedded store's files behind the proxy.
    let p = Proxy::start_on(
        Setup {
            proxy: json!({"bucket-update-interval": 1}),
            ..Default::default()
        },
        common::Backend::Local,
    );
    remove_object(&p, 1, b"bucket", b"b2");
    wait_for("the failed bucket read to be counted", WAIT, || {
        proxy_stat(&p)["ReloadErrors"].as_u64().unwrap() >= 1
    });
    assert_eq!(stat_buckets(&p), vec!["b1", "b2"]);
    let last = proxy_stat(&p)["LastReloadError"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(last.contains("keeping its previous metadata"), "{last}");
}

/// Deletes an object's file from the embedded store behind the proxy's back.
fn remove_object(p: &Proxy, group: u32, namespace: &[u8], key: &[u8]) {
    let path = backrunner::storage::local::object_path(
        &p.dir.path().join("store"),
        group,
        std::str::from_utf8(namespace).unwrap(),
        std::str::from_utf8(key).unwrap(),
    );
    std::fs::remove_file(&path)
        .unwrap_or_else(|e| panic!("no object {key:?} in group {group}: {e}"));
}

/// Starts a proxy whose bucket list and config live in the store under keys.
fn proxy_with_keys(list_key: &str, config_key: &str) -> Proxy {
    let mut p = Proxy::prepare(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1]}, "b2": {"groups": [2]}, "b3": {"groups": [3]}}}),
        bucket_list: vec!["b1".into()],
        ..Default::default()
    });
    let mut cfg = p.config();
    cfg["elliptics"]["bucket-list-key"] = json!(list_key);
    cfg["elliptics"]["backrunner-config-key"] = json!(config_key);
    p.write_config(&cfg);
    // The stored config: the same without the machine's "local" section.
    let mut stored = cfg.clone();
    stored.as_object_mut().unwrap().remove("local");
    stored["proxy"]["headers"]["X-Test-Header"] = json!("from-store");
    let stored_path = p.dir.path().join("stored-config.json");
    std::fs::write(&stored_path, serde_json::to_vec(&stored).unwrap()).unwrap();
    let out = p.bmeta(&["-upload-backrunner-config", stored_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list_path = p.dir.path().join("stored-list.txt");
    std::fs::write(&list_path, "b2\n# comment\nb3\n").unwrap();
    let out = p.bmeta(&["-upload-bucket-list", list_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.spawn();
    p
}

#[test]
fn bucket_list_and_config_are_read_from_the_store() {
    let p = proxy_with_keys("blist", "pconf");
    assert_eq!(stat_buckets(&p), vec!["b2", "b3"]);
    assert_eq!(test_header(&p), "from-store");
    assert_eq!(proxy_stat(&p)["ReloadErrors"], 0);
    // A new stored list takes effect on SIGHUP; the file is not consulted.
    let list_path = p.dir.path().join("stored-list.txt");
    std::fs::write(&list_path, "b1\n").unwrap();
    let out = p.bmeta(&["-upload-bucket-list", list_path.to_str().unwrap()]);
    assert!(out.status.success());
    p.signal("HUP");
    wait_for("the stored list b1", WAIT, || {
        stat_buckets(&p) == vec!["b1"]
    });
    assert_eq!(test_header(&p), "from-store");
}

#[test]
fn missing_store_objects_fall_back_to_the_files() {
    let mut p = Proxy::prepare(Setup::default());
    let mut cfg = p.config();
    cfg["elliptics"]["bucket-list-key"] = json!("no-such-list");
    cfg["elliptics"]["backrunner-config-key"] = json!("no-such-config");
    p.write_config(&cfg);
    p.spawn();
    assert_eq!(stat_buckets(&p), vec!["b1", "b2"]);
    assert_eq!(test_header(&p), "yes");
    // A bucket list never written is the normal state beside a -buckets
    // file: said once at INFO, not counted; the missing config is an error.
    let st = proxy_stat(&p);
    assert_eq!(st["ReloadErrors"], 1, "{st}");
    assert!(
        st["LastReloadError"]
            .as_str()
            .unwrap()
            .contains("no-such-config"),
        "{st}"
    );
    for n in [2, 3] {
        p.signal("HUP");
        wait_for("the reload", WAIT, || proxy_stat(&p)["ReloadErrors"] == n);
    }
    let log = p.log();
    let said: Vec<&str> = log.lines().filter(|l| l.contains("no-such-list")).collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(
        said[0].contains("INFO") && said[0].contains("none written yet"),
        "{}",
        said[0]
    );
    assert_eq!(proxy_stat(&p)["ReloadErrors"], 3);
}

#[test]
fn bmeta_refuses_bad_config_and_missing_keys() {
    let p = Proxy::start(Setup::default());
    let path = p.dir.path().join("x.json");
    std::fs::write(&path, "{\"proxy\": ").unwrap();
    let out = p.bmeta(&["-upload-backrunner-config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backrunner-config-key is not set"), "{err}");
    let mut cfg = p.config();
    cfg["elliptics"]["backrunner-config-key"] = json!("pconf");
    p.write_config(&cfg);
    let out = p.bmeta(&["-upload-backrunner-config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid JSON"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = p.bmeta(&["-upload-bucket-list", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bucket-list-key is not set"), "{err}");
}

#[test]
fn update_local_config_takes_effect_and_suspends_refresh() {
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1]}, "b2": {"groups": [2]}, "b3": {"groups": [3]}}}),
        proxy: json!({"bucket-update-interval": 1, "redirect-token": "secret",
                      "unsigned-config-update-from-loopback": true}),
        ..Default::default()
    });
    let mut posted = p.config();
    posted["proxy"]["headers"]["X-Test-Header"] = json!("posted");
    posted["proxy"]["disable-config-update-for-seconds"] = json!(3600);
    posted["proxy"]["redirect-token"] = json!("replaced");
    let r = p
        .client
        .post(p.url("/update_local_config/"))
        .body(serde_json::to_vec(&posted).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // The update itself ran on the snapshot it started with.
    assert_eq!(r.headers()["x-test-header"], "yes");
    let reply: Value = r.json().unwrap();
    assert_eq!(reply["proxy"]["headers"]["X-Test-Header"], "posted");
    assert_eq!(reply["proxy"]["redirect-token"], "<hidden>");
    assert_eq!(test_header(&p), "posted");
    let st = proxy_stat(&p);
    assert!(
        st["ConfigUpdateDisabledFor"].as_u64().unwrap() > 3500,
        "{st}"
    );
    // Bucket refresh goes on: a bucket appended to the file appears without
    // SIGHUP, while the file's config does not come back.
    std::fs::write(&p.buckets_path, "b1\nb2\nb3\n").unwrap();
    wait_for("b3 from the periodic refresh", WAIT, || {
        stat_buckets(&p).len() == 3
    });
    assert_eq!(test_header(&p), "posted");
    // SIGHUP is an operator's explicit reload: the file's config returns.
    p.signal("HUP");
    wait_for("the file's config after SIGHUP", WAIT, || {
        test_header(&p) == "yes"
    });
    assert_eq!(proxy_stat(&p)["ConfigUpdateDisabledFor"], 0);
}

#[test]
fn update_local_config_refuses_bad_bodies() {
    // Exercises the embedded store's `local` section.
    let p = Proxy::start_on(
        Setup {
            proxy: json!({"unsigned-config-update-from-loopback": true}),
            ..Default::default()
        },
        common::Backend::Local,
    );
    let post = |body: &str| {
        p.client
            .post(p.url("/update_local_config/"))
            .body(body.to_string())
            .send()
            .unwrap()
    };
    for (body, want) in [
        ("", "empty"),
        ("{\"proxy\": ", "invalid JSON"),
        (
            r#"{"proxy": {"address": "127.0.0.1:1"}, "elliptics": {"metadata-groups": []}, "local": {"path": "/x", "groups": [{"group": 1}]}}"#,
            "metadata-groups",
        ),
    ] {
        let r = post(body);
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().unwrap();
        assert!(text.contains(want), "{body}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "{text}");
    }
    // Moving the store needs a restart: refused, nothing changes.
    let mut cfg = p.config();
    cfg["local"]["path"] = json!("/somewhere/else");
    cfg["proxy"]["headers"]["X-Test-Header"] = json!("moved");
    let r = post(&cfg.to_string());
    assert_eq!(r.status(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("cannot change while the proxy runs") && text.contains("local.path"),
        "{text}"
    );
    assert_eq!(test_header(&p), "yes");
    let r = p.get_path("/update_local_config/");
    assert_eq!(r.status(), 400);
}

#[test]
fn broken_config_on_sighup_keeps_the_old_one() {
    let p = Proxy::start(Setup::default());
    let good = p.config();
    let before = proxy_stat(&p);
    std::fs::write(&p.config_path, "{\"proxy\": {\"address\": ").unwrap();
    p.signal("HUP");
    wait_for("the broken config to be counted", WAIT, || {
        proxy_stat(&p)["ReloadErrors"] == 1
    });
    let st = proxy_stat(&p);
    assert!(
        st["LastReloadError"]
            .as_str()
            .unwrap()
            .contains("invalid JSON"),
        "{st}"
    );
    assert_eq!(st["ConfigTime"], before["ConfigTime"]);
    assert_eq!(test_header(&p), "yes");
    let body = random_bytes(300_000, 3);
    assert_eq!(p.upload("b1", "still", body.clone()).status(), 200);
    assert_eq!(p.get("b1", "still").bytes().unwrap()[..], body[..]);
    // Valid JSON that does not validate: also refused.
    let mut invalid = good.clone();
    invalid["elliptics"]["metadata-groups"] = json!([]);
    p.write_config(&invalid);
    p.signal("HUP");
    wait_for("the invalid config to be counted", WAIT, || {
        proxy_stat(&p)["ReloadErrors"] == 2
    });
    assert_eq!(stat_buckets(&p), vec!["b1", "b2"]);
    // A fixed config is picked up by the next reload.
    let mut fixed = good;
    fixed["proxy"]["headers"]["X-Test-Header"] = json!("fixed");
    p.write_config(&fixed);
    p.signal("HUP");
    wait_for("the fixed config", WAIT, || test_header(&p) == "fixed");
    assert_eq!(proxy_stat(&p)["ReloadErrors"], 2);
}

fn nobucket_upload(p: &Proxy, key: &str) -> String {
    let r = p
        .client
        .post(p.url(&format!("/nobucket_upload/{key}")))
        .body(random_bytes(10_000, 1))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["bucket"]
        .as_str()
        .unwrap()
        .to_string()
}

fn group_read_only(p: &Proxy, bucket: &str, group: u32) -> bool {
    p.json(&format!("/stat/{bucket}"))["Buckets"][bucket]["Group"][group.to_string()]["Backends"][0]
        ["Stat"]["RO"]
        .as_bool()
        .unwrap()
}

#[test]
fn read_only_switch_flipped_on_sighup_moves_writes_away() {
    // Exercises the embedded store's `local` switches (Elliptics: tests/it/elliptics.rs).
    let p = Proxy::start_on(
        Setup {
            buckets: json!({"buckets": {"b1": {"groups": [1]}, "b2": {"groups": [2]}}}),
            ..Default::default()
        },
        common::Backend::Local,
    );
    let used: std::collections::BTreeSet<String> = (0..30)
        .map(|i| nobucket_upload(&p, &format!("a{i}")))
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
    let mut cfg = p.config();
    cfg["local"]["groups"][0]["read-only"] = json!(true);
    p.write_config(&cfg);
    assert!(!group_read_only(&p, "b1", 1));
    p.signal("HUP");
    wait_for("group 1 read-only", WAIT, || group_read_only(&p, "b1", 1));
    for i in 0..30 {
        assert_eq!(nobucket_upload(&p, &format!("b{i}")), "b2");
    }
    let r = p.upload("b1", "direct", b"x".to_vec());
    assert_ne!(r.status(), 200, "a write into a read-only group succeeded");
    cfg["local"]["groups"][0]["read-only"] = json!(false);
    p.write_config(&cfg);
    p.signal("HUP");
    wait_for("group 1 writable again", WAIT, || {
        !group_read_only(&p, "b1", 1)
    });
    assert_eq!(p.upload("b1", "direct", b"x".to_vec()).status(), 200);
}

#[test]
fn uploads_during_twenty_sighups_are_byte_exact() {
    let p = Arc::new(Proxy::start(Setup {
        proxy: json!({"bucket-update-interval": 1}),
        ..Default::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let p = p.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) || i < 3 {
                    let key = format!("t{t}/k{i}");
                    let body = random_bytes(256 * 1024 + (i as usize) * 70_001, t * 1000 + i);
                    let r = p.upload("b1", &key, body.clone());
                    assert_eq!(r.status(), 200, "{key}");
                    done.push((key, body));
                    i += 1;
                }
                done
            })
        })
        .collect();
    for _ in 0..20 {
        p.signal("HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let mut checked = 0;
    for w in workers {
        for (key, body) in w.join().unwrap() {
            let got = p.get("b1", &key).bytes().unwrap();
            assert!(got[..] == body[..], "{key} differs");
            checked += 1;
        }
    }
    assert!(checked >= 12);
    assert_eq!(proxy_stat(&p)["ReloadErrors"], 0);
    let log = p.log();
    assert!(log.matches("reload: config+buckets").count() >= 1, "{log}");
}

#[test]
fn sigterm_lets_a_large_upload_finish_then_exits_0() {
    let mut p = Proxy::start(Setup {
        proxy: json!({"idle-timeout": 2}),
        ..Default::default()
    });
    let size = 64 << 20;
    let body = random_bytes(size, 42);
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /upload/b1/big HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let half = size / 4;
    s.write_all(&body[..half]).unwrap();
    s.flush().unwrap();
    p.signal("TERM");
    // New connections are refused once the listener is closed.
    wait_for("the listener to close", WAIT, || {
        TcpStream::connect(("127.0.0.1", p.port)).is_err()
    });
    for chunk in body[half..].chunks(1 << 20) {
        s.write_all(chunk).unwrap();
    }
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let status = p.wait_exit(Duration::from_secs(40));
    assert_eq!(status.code(), Some(0), "{}", p.log());
    // The object is complete after a restart.
    p.spawn();
    let got = p.get("b1", "big").bytes().unwrap();
    assert_eq!(got.len(), size);
    assert!(got[..] == body[..]);
}

#[test]
fn sigint_exits_0() {
    let mut p = Proxy::start(Setup::default());
    p.signal("INT");
    let status = p.wait_exit(Duration::from_secs(40));
    assert_eq!(status.code(), Some(0), "{}", p.log());
}

#[test]
fn new_group_and_delay_switch_apply_on_sighup() {
    // Exercises the embedded store's `local` switches (Elliptics: tests/it/elliptics.rs).
    let p = Proxy::start_on(
        Setup {
            groups: vec![Group::new(1), Group::new(2)],
            buckets: json!({"buckets": {"b1": {"groups": [1]}, "b4": {"groups": [4]}}}),
            bucket_list: vec!["b1".into()],
            ..Default::default()
        },
        common::Backend::Local,
    );
    assert_eq!(p.upload("b4", "k", b"x".to_vec()).status(), 503);
    let mut cfg = p.config();
    cfg["local"]["groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({"group": 4, "delay-ms": 7}));
    p.write_config(&cfg);
    p.signal("HUP");
    wait_for("group 4 to exist", WAIT, || {
        p.upload("b4", "k", b"x".to_vec()).status() == 200
    });
    let delay =
        p.json("/stat/b4")["Buckets"]["b4"]["Group"]["4"]["Backends"][0]["Stat"]["Delay"].clone();
    assert_eq!(delay, 7);
}

/// A reload sent while the proxy starts (`systemctl reload` right after
/// start) does not stop it: SIGHUP's default action ends a process, and a
/// HUP that arrived before the reload task first ran once killed the proxy
/// just after `/ping/` answered. Here 20 HUPs follow its first log line
/// (its `main` runs: before that the kernel's default applies to any
/// process); it must answer, then still reload on HUP.
#[test]
fn sighup_while_starting_does_not_stop_the_proxy() {
    let mut p = Proxy::prepare(Setup::default());
    let log = std::fs::File::create(&p.log_path).unwrap();
    let child = std::process::Command::new(crate::common::BACKRUNNER)
        .arg("-config")
        .arg(&p.config_path)
        .arg("-buckets")
        .arg(&p.buckets_path)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    // Owned by the proxy at once, so a failure below still stops it.
    p.child = Some(child);
    let exited = |p: &mut Proxy| {
        p.child
            .as_mut()
            .is_some_and(|c| !matches!(c.try_wait(), Ok(None)))
    };
    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .is_ok_and(|s| s.success())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while p.log().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing logged");
        assert!(!exited(&mut p), "the proxy exited");
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..20 {
        assert!(hup(), "kill -HUP failed");
    }
    loop {
        assert!(
            !exited(&mut p),
            "the proxy exited after SIGHUPs while starting; log:\n{}",
            p.log()
        );
        if p.client
            .get(p.url("/ping/"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no /ping/ answer");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Answering, it reloads on SIGHUP as before.
    let reloads = |p: &Proxy| p.log().matches("SIGHUP: reloading").count();
    let before = reloads(&p);
    p.signal("HUP");
    assert!(
        common::eventually(WAIT, || reloads(&p) > before),
        "no reload after SIGHUP"
    );
}
