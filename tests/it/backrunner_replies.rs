//! Our replies against what the Go Backrunner answered to the same requests
//! (`tests/data/backrunner-go-replies/`, see its README): same
//! status, every key path of Backrunner's JSON present with the same type.
//! Runs on both stores (`BACKRUNNER_TEST_BACKEND=elliptics`).

use crate::common::shape::{
    assert_like_captured, captured_body, captured_status, differences, shapes, time_form,
};
use crate::common::{Proxy, Setup};
use serde_json::{json, Value};

/// Objects of `/stat/` and `/ping/` keyed by data.
const STAT_MAPS: &[&str] = &[
    "/Buckets",
    "/Buckets/*/Group",
    "/Buckets/*/Group/*/Backends[]/Stat/Commands",
];

/// The capture's cluster: b1 on groups 1 and 2, b2 on group 3.
fn start() -> Proxy {
    Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1, 2]}, "b2": {"groups": [3]}}}),
        ..Setup::default()
    })
}

fn post(p: &Proxy, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let r = p
        .client
        .post(p.url(path))
        .body(body.to_vec())
        .send()
        .unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

fn get(p: &Proxy, path: &str) -> (u16, Vec<u8>) {
    let r = p.get_path(path);
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

fn parse(path: &str, body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(body)))
}

/// The capture's history: 20 uploads of 1000 bytes to b1, then sample.txt.
fn fill(p: &Proxy) {
    for i in 0..20 {
        let (status, _) = post(p, &format!("/upload/b1/fill-{i}"), &[b'x'; 1000]);
        assert_eq!(status, 200);
    }
    let (status, _) = post(p, "/upload/b1/sample.txt", &captured_body("get.body"));
    assert_eq!(status, 200);
}

#[test]
fn upload_reply_is_backrunners() {
    let p = start();
    let (status, body) = post(&p, "/upload/b1/sample.txt", b"hello, world\n");
    assert_like_captured("upload.json", status, &parse("upload", &body), &[], &[]);
}

#[test]
fn nobucket_upload_reply_is_backrunners() {
    let p = start();
    let (status, body) = post(&p, "/nobucket_upload/nb.txt", b"nobucket");
    assert_like_captured(
        "nobucket_upload.json",
        status,
        &parse("nobucket_upload", &body),
        &[],
        &[],
    );
}

#[test]
fn lookup_reply_is_backrunners() {
    let p = start();
    fill(&p);
    let (status, body) = get(&p, "/lookup/b1/sample.txt");
    assert_like_captured("lookup.json", status, &parse("lookup", &body), &[], &[]);
}

#[test]
fn get_replies_are_backrunners() {
    let p = start();
    fill(&p);
    let (status, body) = get(&p, "/get/b1/sample.txt");
    assert_eq!(status, captured_status("get.body"));
    assert_eq!(body, captured_body("get.body"));
    let (status, _) = get(&p, "/get/b1/missing");
    assert_eq!(status, captured_status("get-missing.body"));
}

#[test]
fn bulk_delete_reply_is_backrunners() {
    let p = start();
    assert_eq!(post(&p, "/upload/b1/k1", b"one").0, 200);
    let (status, body) = post(&p, "/bulk_delete/b1", br#"{"keys": ["k1", "nope"]}"#);
    let ours = parse("bulk_delete", &body);
    assert_like_captured("bulk_delete.json", status, &ours, &["/"], &[]);
    // Unlike Backrunner's, ours names the key that failed.
    assert_eq!(
        ours.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["nope"],
        "{ours}"
    );
}

#[test]
fn delete_reply_is_backrunners() {
    let p = start();
    assert_eq!(post(&p, "/upload/b1/k2", b"two").0, 200);
    let (status, body) = post(&p, "/delete/b1/k2", b"");
    assert_eq!(status, captured_status("delete.body"));
    assert_eq!(body, captured_body("delete.body"));
}

fn stat_like_captured(path: &str, name: &str) -> Value {
    let p = start();
    fill(&p);
    assert_eq!(get(&p, "/get/b1/sample.txt").0, 200);
    let (status, body) = get(&p, path);
    let ours = parse(path, &body);
    assert_like_captured(name, status, &ours, STAT_MAPS, &[]);
    ours
}

#[test]
fn stat_reply_is_backrunners() {
    let ours = stat_like_captured("/stat/", "stat.json");
    let names: Vec<&String> = ours["Buckets"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["b1", "b2"]);
    // Each test group has one backend: it serves its whole id ring.
    for (b, g) in [("b1", "1"), ("b1", "2"), ("b2", "3")] {
        let st = &ours["Buckets"][b]["Group"][g]["Backends"][0]["Stat"];
        let share = st["Percentage"].as_f64().unwrap();
        assert!((share - 1.0).abs() < 1e-9, "{b}/{g}: {st}");
    }
}

#[test]
fn stat_of_one_bucket_is_backrunners() {
    let ours = stat_like_captured("/stat/b1", "stat-b1.json");
    assert_eq!(ours["Buckets"].as_object().unwrap().len(), 1);
}

#[test]
fn ping_reply_is_backrunners() {
    stat_like_captured("/ping/", "ping.json");
}

#[test]
fn proxy_stat_reply_is_backrunners() {
    let p = start();
    fill(&p);
    assert_eq!(get(&p, "/get/b1/missing").0, 404);
    let (status, body) = get(&p, "/proxy_stat/");
    let ours = parse("/proxy_stat/", &body);
    // The embedded store has no Elliptics remotes.
    let remote = ["/BucketCtlStat/ProxyConfig/elliptics/remote"];
    assert_like_captured(
        "proxy_stat.json",
        status,
        &ours,
        &["/handlers/*/RS"],
        &remote,
    );
    let e = ours["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["URL"] == "/get/b1/missing")
        .unwrap_or_else(|| panic!("no error entry for the failed get: {ours}"));
    assert_eq!(
        (e["Method"].as_str(), e["Status"].as_u64()),
        (Some("GET"), Some(404))
    );
    assert!(
        e["RemoteAddr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{e}"
    );
    assert!(
        e["Error"].as_str().unwrap().contains("/get/b1/missing"),
        "{e}"
    );
    // Tsec/Tnsec and Time name the same instant.
    let time = e["Time"].as_str().unwrap();
    let tnsec = format!("{:09}", e["Tnsec"].as_u64().unwrap());
    assert!(
        time.contains(&format!(".{}", tnsec.trim_end_matches('0'))),
        "{e}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(e["Tsec"].as_u64().unwrap()) < 120, "{e}");
}

#[test]
fn time_forms_are_told_apart() {
    assert_eq!(time_form("1970-01-01T00:00:00Z"), Some("rfc3339-time"));
    assert_eq!(
        time_form("2026-12-01T10:52:53.152812534Z"),
        Some("rfc3339-time")
    );
    assert_eq!(time_form("2026-12-01T10:52:53+03:00"), Some("rfc3339-time"));
    assert_eq!(
        time_form("2026-12-01 10:52:53.152506 +0000 UTC"),
        Some("go-time")
    );
    assert_eq!(
        time_form("2026-12-01 10:52:56.164467077 +0000 UTC m=+6.232419827"),
        Some("go-time-monotonic")
    );
    for s in [
        "2026-12-01",
        "2026-12-01T10:52:53",
        "2026-12-01T10:52:53.Z",
        "2026-12-01 10:52:53 +0000",
        "2026-12-01 10:52:53 +0000 UTC m=+6.23",
        "2026-12-01/09:00:00/+0000",
        "b1",
    ] {
        assert_eq!(time_form(s), None, "{s}");
    }
}

#[test]
fn shapes_name_paths_and_types() {
    let v = json!({"a": [{"t": "1970-01-01T00:00:00Z", "n": 1}],
        "m": {"x": {"k": true}, "y": {"k": false}}, "z": null});
    let s = shapes(&v, &["/m"]);
    let keys: Vec<&str> = s.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["/", "/a", "/a[]", "/a[]/n", "/a[]/t", "/m", "/m/*", "/m/*/k", "/z"]
    );
    assert!(s["/a[]/t"].contains("rfc3339-time"));
    assert!(s["/z"].contains("null"));
}

#[test]
fn a_missing_path_or_another_type_is_reported() {
    let theirs: Value = serde_json::from_slice(&captured_body("upload.json")).unwrap();
    assert!(differences(&theirs, &theirs, &[], &[]).is_empty());
    let mut ours = theirs.clone();
    for i in ours["reply"]["info"].as_array_mut().unwrap() {
        i["size"] = json!("13");
        i["mtime"] = json!("2026-12-01T10:52:53.152506Z");
        i.as_object_mut().unwrap().remove("server");
        i["extra"] = json!(1);
    }
    ours["reply"]["info"][0]["error"] = json!({"code": -2});
    assert_eq!(
        differences(&theirs, &ours, &[], &[]),
        [
            "/reply/info[]/mtime: ours is rfc3339-time, Backrunner's is go-time",
            "missing /reply/info[]/server (string)",
            "/reply/info[]/size: ours is string, Backrunner's is number",
        ]
    );
    // An empty list lacks everything below it, unless it may be empty.
    ours["reply"]["info"] = json!([]);
    assert_eq!(differences(&theirs, &ours, &[], &[]).len(), 11);
    assert!(differences(&theirs, &ours, &[], &["/reply/info"]).is_empty());
}
