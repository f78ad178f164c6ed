//! The core REST API over HTTP against the running binary on the embedded store.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common;
use crate::common::{escape, hmac_hex, random_bytes, sign, Group, Proxy, Setup};
use serde_json::{json, Value};

#[test]
fn upload_then_byte_exact_read_back() {
    let p = Proxy::start(Setup::default());
    let keys = [
        "plain",
        "with space and+plus",
        "dir/sub/file.txt",
        "100% done",
        "тест ключ :.&*^//$@#q0x44",
        "emoji 🦀.bin",
    ];
    let sizes = [
        1usize,
        1000,
        256 * 1024 - 1,
        256 * 1024 + 1,
        (1 << 20) + 3,
        5 << 20,
        50 << 20,
    ];
    for (i, size) in sizes.iter().enumerate() {
        let key = keys[i % keys.len()];
        let body = random_bytes(*size, i as u64);
        let r = p.upload("b1", key, body.clone());
        assert_eq!(r.status(), 200, "size {size}");
        let reply: Value = r.json().unwrap();
        assert_eq!(reply["bucket"], "b1");
        assert_eq!(reply["key"], key);
        assert_eq!(reply["reply"]["success-groups"], json!([1, 2]));
        assert_eq!(reply["reply"]["error-groups"], json!([]));
        let info = &reply["reply"]["info"][0];
        assert_eq!(info["size"], *size);
        for field in [
            "group",
            "backend",
            "id",
            "csum",
            "filename",
            "offset-within-data-file",
            "mtime",
            "server",
        ] {
            assert!(!info[field].is_null(), "{field} missing in {info}");
        }
        let g = p.get("b1", key);
        assert_eq!(g.status(), 200);
        assert_eq!(g.headers()["content-length"], size.to_string().as_str());
        assert!(g.headers().contains_key("last-modified"));
        let got = g.bytes().unwrap();
        assert!(got[..] == body[..], "size {size} key {key:?} differs");
    }
}

#[test]
fn offset_and_size_select_part() {
    let p = Proxy::start(Setup::default());
    let body = random_bytes(100_000, 7);
    assert_eq!(p.upload("b1", "obj", body.clone()).status(), 200);
    // As Backrunner (the query becomes a Range for Go's ServeContent): a
    // part is a 206 with its Content-Range; offset 0 and no size is all.
    let cases = [
        ("offset=10&size=20", 206, 10, 30),
        ("offset=99990", 206, 99_990, 100_000),
        ("size=5", 206, 0, 5),
        ("offset=0&size=100000", 206, 0, 100_000),
        ("offset=99990&size=1000", 206, 99_990, 100_000),
        ("offset=0", 200, 0, 100_000),
        ("offset=100000", 200, 100_000, 100_000),
    ];
    for (q, status, a, b) in cases {
        let r = p.get_path(&format!("/get/b1/obj?{q}"));
        assert_eq!(r.status(), status, "{q}");
        let range = r
            .headers()
            .get("content-range")
            .map(|v| v.to_str().unwrap().to_string());
        if status == 206 {
            assert_eq!(range, Some(format!("bytes {a}-{}/100000", b - 1)), "{q}");
        } else {
            assert_eq!(range, None, "{q}");
        }
        assert_eq!(&r.bytes().unwrap()[..], &body[a..b], "{q}");
    }
    assert_eq!(p.get_path("/get/b1/obj?offset=100001").status(), 400);
    assert_eq!(p.get_path("/get/b1/obj?offset=abc").status(), 400);
}

#[test]
fn lookup_points_at_the_real_bytes() {
    let p = Proxy::start(Setup::default());
    let body = random_bytes(300_000, 3);
    assert_eq!(p.upload("b2", "x/y z", body.clone()).status(), 200);
    let r = p.get_path(&format!("/lookup/b2/{}", escape("x/y z")));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["success-groups"], json!([2, 3]));
    let info = v["info"].as_array().unwrap();
    assert_eq!(info.len(), 2);
    for replica in info {
        let mut f = std::fs::File::open(replica["filename"].as_str().unwrap()).unwrap();
        f.seek(SeekFrom::Start(
            replica["offset-within-data-file"].as_u64().unwrap(),
        ))
        .unwrap();
        let mut got = vec![0u8; replica["size"].as_u64().unwrap() as usize];
        f.read_exact(&mut got).unwrap();
        assert!(got == body, "replica in group {} differs", replica["group"]);
        assert!(replica["filename"]
            .as_str()
            .unwrap()
            .starts_with(p.dir.path().to_str().unwrap()));
    }
    assert_eq!(p.get_path("/lookup/b2/missing").status(), 404);
}

#[test]
fn delete_then_404() {
    let p = Proxy::start(Setup::default());
    assert_eq!(p.upload("b1", "gone soon", b"data".to_vec()).status(), 200);
    let r = p
        .client
        .post(p.url(&format!("/delete/b1/{}", escape("gone soon"))))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(p.get("b1", "gone soon").status(), 404);
    assert_eq!(p.get_path("/lookup/b1/gone+soon").status(), 404);
    let again = p.client.post(p.url("/delete/b1/gone+soon")).send().unwrap();
    assert_eq!(again.status(), 404);
}

#[test]
fn bulk_delete_200_keys() {
    let p = Proxy::start(Setup::default());
    let keys: Vec<String> = (0..200).map(|i| format!("bulk/key {i}")).collect();
    for k in &keys {
        assert_eq!(p.upload("b2", k, k.as_bytes().to_vec()).status(), 200);
    }
    let mut all = keys.clone();
    all.push("never written".into());
    let r = p
        .client
        .post(p.url("/bulk_delete/b2"))
        .json(&json!({ "keys": all }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let failed: BTreeMap<String, String> = r.json().unwrap();
    assert_eq!(failed.keys().collect::<Vec<_>>(), vec!["never written"]);
    for k in keys.iter().step_by(17) {
        assert_eq!(p.get("b2", k).status(), 404, "{k}");
    }
}

#[test]
fn nobucket_upload_spreads_over_listed_buckets() {
    let setup = Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1]}, "b2": {"groups": [2]}, "b3": {"groups": [3]}, "hidden": {"groups": [1]}}}),
        bucket_list: vec!["b1".into(), "b2".into(), "b3".into()],
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    let mut seen = BTreeMap::new();
    for i in 0..60 {
        let key = format!("nb-{i}");
        let r = p
            .client
            .post(p.url(&format!("/nobucket_upload/{key}")))
            .body(vec![1u8; 100])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        let b = v["bucket"].as_str().unwrap().to_string();
        assert_eq!(p.get(&b, &key).status(), 200);
        *seen.entry(b).or_insert(0) += 1;
    }
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        ["b1", "b2", "b3"].map(String::from).into()
    );
    // any existing bucket can still be used by name
    assert_eq!(p.upload("hidden", "k", b"x".to_vec()).status(), 200);
}

#[test]
fn missing_group_is_reported_in_error_groups() {
    let setup = Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1, 99]}}}),
        bucket_list: vec!["b1".into()],
        ..Setup::default()
    };
    let p = Proxy::start(setup);
    let r = p.upload("b1", "k", b"hello".to_vec());
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["reply"]["success-groups"], json!([1]));
    assert_eq!(v["reply"]["error-groups"], json!([99]));
    assert_eq!(p.get("b1", "k").bytes().unwrap(), "hello");
}

#[test]
fn acl_matrix() {
    // Bucket fN: user "u" with flags N and token "tok"; "admin" seeds objects.
    let mut buckets = serde_json::Map::new();
    for f in 0..4 {
        buckets.insert(
            format!("f{f}"),
            json!({"groups": [1], "acl": [
                {"user": "u", "token": "tok", "flags": f},
                {"user": "admin", "token": "admintok", "flags": 3}
            ]}),
        );
    }
    let p = Proxy::start(Setup {
        buckets: json!({ "buckets": buckets }),
        bucket_list: vec!["f0".into()],
        ..Setup::default()
    });
    let send = |method: &str, path: &str, auth: Option<String>| -> u16 {
        let mut rb = match method {
            "GET" => p.client.get(p.url(path)),
            _ => p.client.post(p.url(path)).body("payload"),
        };
        if let Some(a) = auth {
            rb = rb.header("Authorization", a);
        }
        rb.send().unwrap().status().as_u16()
    };
    let seed = |bucket: &str, key: &str| {
        let path = format!("/upload/{bucket}/{key}");
        let auth = format!("riftv1 admin:{}", sign("admintok", "POST", &path));
        assert_eq!(send("POST", &path, Some(auth)), 200);
    };
    let mut n = 0;
    for f in 0u64..4 {
        let bucket = format!("f{f}");
        for who in ["correct", "wrong", "unknown", "none"] {
            for op in ["get", "upload", "delete"] {
                n += 1;
                let key = format!("k{n}");
                seed(&bucket, &key);
                let path = format!("/{op}/{bucket}/{key}");
                let method = if op == "get" { "GET" } else { "POST" };
                let auth = match who {
                    "correct" => Some(format!("riftv1 u:{}", sign("tok", method, &path))),
                    "wrong" => Some(format!("riftv1 u:{}", sign("not the token", method, &path))),
                    "unknown" => Some(format!("riftv1 stranger:{}", sign("tok", method, &path))),
                    _ => None,
                };
                let write = op != "get";
                let allowed = matches!(who, "correct" | "wrong")
                    && (!write || f & 2 != 0)
                    && (f & 1 != 0 || who == "correct");
                let status = send(method, &path, auth);
                assert_eq!(
                    status,
                    if allowed { 200 } else { 403 },
                    "flags {f} {who} {op}"
                );
            }
        }
    }
}

#[test]
fn static_files_and_traversal() {
    let root_parent = tempfile::tempdir().unwrap();
    let root = root_parent.path().join("www");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<p>hi</p>").unwrap();
    std::fs::write(root.join("sub/a.txt"), "aaa").unwrap();
    std::fs::write(root_parent.path().join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    std::os::unix::fs::symlink(root_parent.path().join("secret.txt"), root.join("link.txt"))
        .unwrap();
    let p = Proxy::start(Setup {
        proxy: json!({"root": root}),
        ..Setup::default()
    });
    let r = p.get_path("/index.html");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(r.text().unwrap(), "<p>hi</p>");
    assert_eq!(p.get_path("/sub/a.txt").text().unwrap(), "aaa");
    for bad in [
        "/sub/",
        "/sub",
        "/missing.txt",
        "/link.txt",
        "/%2e%2e/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
    ] {
        let r = p.get_path(bad);
        assert_eq!(r.status(), 404, "{bad}");
        assert!(!r.text().unwrap().contains("TOP-SECRET"), "{bad}");
    }
    // A raw request with `..` that no client would normalise away.
    let raw = raw_request(
        p.port,
        "GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(!raw.contains("TOP-SECRET"), "{raw}");
    assert!(raw.starts_with("HTTP/1.1 4"), "{raw}");
}

fn raw_request(port: u16, text: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn bad_input_gets_a_clear_4xx_and_the_proxy_keeps_serving() {
    let p = Proxy::start(Setup::default());
    let check = |status: u16, r: reqwest::blocking::Response, want: u16, needle: &str| {
        assert_eq!(status, want);
        assert_eq!(
            r.headers()["x-test-header"],
            "yes",
            "proxy.headers on errors"
        );
        let text = r.text().unwrap();
        assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
        assert!(text.contains(needle), "{text:?} should name {needle:?}");
    };
    let r = p
        .client
        .post(p.url("/upload/b1/k"))
        .header("Content-Length", "0")
        .send()
        .unwrap();
    check(r.status().as_u16(), r, 400, "Content-Length");
    let raw = raw_request(
        p.port,
        "POST /upload/b1/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 411"), "{raw}");
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .body("{not json")
        .send()
        .unwrap();
    check(r.status().as_u16(), r, 400, "could not parse input json");
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .body(r#"{"keys": ["a", 5]}"#)
        .send()
        .unwrap();
    check(r.status().as_u16(), r, 400, "keys[1]");
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .body(r#"{"keys": [""]}"#)
        .send()
        .unwrap();
    check(r.status().as_u16(), r, 400, "keys[0]");
    let r = p.upload("nosuchbucket", "k", b"x".to_vec());
    check(r.status().as_u16(), r, 400, "nosuchbucket");
    let r = p.get("nosuchbucket", "k");
    check(r.status().as_u16(), r, 400, "does not exist");
    let r = p.client.delete(p.url("/get/b1/k")).send().unwrap();
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    check(r.status().as_u16(), r, 400, "DELETE");
    let r = p.client.get(p.url("/upload/b1/k")).send().unwrap();
    check(r.status().as_u16(), r, 400, "GET");
    let r = p.get_path("/get/b1/");
    check(r.status().as_u16(), r, 400, "empty key");
    let r = p
        .client
        .post(p.url("/upload/b1/"))
        .body("x")
        .send()
        .unwrap();
    check(r.status().as_u16(), r, 400, "empty key");
    let r = p.get_path("/get/b1/%zz");
    check(r.status().as_u16(), r, 400, "percent");
    let r = p.get_path("/get/b1/missing");
    check(r.status().as_u16(), r, 404, "/get/b1/missing");
    for size in [40 * 1024, 200 * 1024] {
        let huge = "x".repeat(size);
        let raw = raw_request(
            p.port,
            &format!(
                "GET /ping/ HTTP/1.1\r\nHost: x\r\nX-Huge: {huge}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert!(
            raw.starts_with("HTTP/1.1 431"),
            "{size}-byte header: {}",
            &raw[..raw.len().min(200)]
        );
    }
    // CORS preflight is not refused by signature checks
    let r = p
        .client
        .request(reqwest::Method::OPTIONS, p.url("/upload/b1/k"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["allow"].to_str().unwrap().contains("POST"));
    assert_eq!(p.get_path("/ping/").status(), 200);
    assert_eq!(p.upload("b1", "after", b"ok".to_vec()).status(), 200);
    let stat = p.json("/proxy_stat/");
    assert!(stat["errors"].as_array().unwrap().len() >= 10);
    assert!(stat["errors"][0]["URL"]
        .as_str()
        .unwrap()
        .starts_with("/upload/b1/k"));
}

#[test]
fn concurrent_clients_see_their_own_bytes() {
    let p = Proxy::start(Setup::default());
    std::thread::scope(|s| {
        for t in 0..32u64 {
            let p = &p;
            s.spawn(move || {
                for i in 0..6u64 {
                    let key = format!("c/{t}/{i}");
                    let body = random_bytes(
                        1000 + ((t * 7919 + i * 104_729) % 700_000) as usize,
                        t * 100 + i,
                    );
                    let bucket = if (t + i) % 2 == 0 { "b1" } else { "b2" };
                    assert_eq!(p.upload(bucket, &key, body.clone()).status(), 200);
                    let got = p.get(bucket, &key).bytes().unwrap();
                    assert!(got[..] == body[..], "{key} mismatch");
                }
            });
        }
    });
}

#[test]
fn stat_and_proxy_stat_shapes() {
    let mut groups = vec![Group::new(1), Group::new(2), Group::new(3)];
    groups[0].size_limit = 10 << 20;
    groups[2].read_only = true;
    let p = Proxy::start(Setup {
        groups,
        buckets: json!({"buckets": {"b1": {"groups": [1, 3], "acl": [{"user": "u", "token": "very secret", "flags": 3}]}, "b2": {"groups": [2]}}}),
        bucket_list: vec!["b1".into(), "b2".into()],
        proxy: json!({"redirect-token": "hide me"}),
        ..Setup::default()
    });
    let r = p
        .client
        .post(p.url("/upload/b1/k"))
        .header("Authorization", "riftv1 u:flag-1-needs-no-signature")
        .body(vec![5u8; 1000])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["reply"]["error-groups"], json!([3]));
    let mut stat = p.json("/stat/");
    if common::backend() == common::Backend::Elliptics {
        // eblob refreshes the statistics it reports once per periodic
        // timeout (1 s in the harness): wait for them to show the upload.
        // (The assertions below report it if they never do.)
        common::eventually(Duration::from_secs(10), || {
            stat = p.json("/stat/");
            stat["Buckets"]["b1"]["Group"]["1"]["Backends"][0]["Stat"]["VFS"]["BackendUsedSize"]
                .as_u64()
                .unwrap_or(0)
                >= 1000
        });
    }
    let b1 = &stat["Buckets"]["b1"];
    assert_eq!(b1["Meta"]["groups"], json!([1, 3]));
    let g1 = &b1["Group"]["1"]["Backends"][0]["Stat"];
    assert_eq!(g1["VFS"]["TotalSizeLimit"], 10 << 20);
    assert!(g1["VFS"]["BackendUsedSize"].as_u64().unwrap() >= 1000);
    assert_eq!(g1["RO"], false);
    assert_eq!(b1["Group"]["3"]["Backends"][0]["Stat"]["RO"], true);
    assert!(!stat.to_string().contains("very secret"));
    assert!(stat["StatTime"].is_string());
    let only = p.json("/stat/b2");
    assert_eq!(only["Buckets"].as_object().unwrap().len(), 1);
    assert_eq!(p.json("/ping/")["Buckets"].as_object().unwrap().len(), 2);
    let ps = p.json("/proxy_stat/");
    let ctl = &ps["BucketCtlStat"];
    for f in [
        "StartTime",
        "StartTimeString",
        "CurrentTime",
        "Hostname",
        "BuildDate",
        "LastCommit",
        "ProxyConfig",
    ] {
        assert!(!ctl[f].is_null(), "{f}");
    }
    assert_eq!(ctl["BucketNum"], 2);
    assert!(!ps.to_string().contains("hide me"));
    assert!(
        ps["handlers"]["upload"]["RS"]["200"]["RPS"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let head = p.client.head(p.url("/anything/at/all")).send().unwrap();
    assert_eq!(head.status(), 200);
}

#[test]
fn x_ell_header_with_non_ascii_value_is_signed_as_sent() {
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b": {"groups": [1], "acl": [
            {"user": "u", "token": "tok", "flags": 2}
        ]}}}),
        bucket_list: vec!["b".into()],
        ..Setup::default()
    });
    let path = "/upload/b/k";
    let value = "тест".as_bytes();
    let mut text = b"POST\n/upload/b/k\nx-ell-name:".to_vec();
    text.extend_from_slice(value);
    text.push(b'\n');
    let sig = hmac_hex("tok", &text);
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\nAuthorization: riftv1 u:{sig}\r\nX-Ell-Name: "
    )
    .into_bytes();
    req.extend_from_slice(value);
    req.extend_from_slice(b"\r\n\r\nbody");
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}
