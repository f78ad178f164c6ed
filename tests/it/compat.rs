//! Drop-in parity with Backrunner (docs/compatibility.md): what its own test
//! suite (`test/btest` in bioothod/backrunner) and its Go-written config
//! files expect of the binary, checked over HTTP on the running proxy.

use std::process::Command;

use crate::common::{random_bytes, Proxy, Setup, BACKRUNNER};
use reqwest::blocking::Response;
use serde_json::{json, Value};

/// What Go's `json.Marshal` makes of Backrunner's `config.ProxyConfig` with
/// only address, remote and metadata groups set: every key present, nil maps
/// as `null`, every other value `""` or `0`.
const GO_CONFIG: &str = include_str!("../data/go-marshal-proxy-config.json");

fn hdr(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn get_range(p: &Proxy, key: &str, range: &str) -> Response {
    p.client
        .get(p.url(&format!("/get/b1/{key}")))
        .header("Range", range)
        .send()
        .expect("get")
}

/// The parts of a `multipart/byteranges` reply: (Content-Range, bytes), in order.
fn parts(r: Response) -> Vec<(String, Vec<u8>)> {
    let ct = hdr(&r, "content-type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {ct}"))
        .to_string();
    let body = r.bytes().unwrap();
    let delim = format!("--{boundary}");
    let find = |from: usize, needle: &[u8]| {
        body[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
            .expect("delimiter")
    };
    let mut out = Vec::new();
    let mut pos = find(0, delim.as_bytes()) + delim.len();
    while !body[pos..].starts_with(b"--") {
        let head_end = find(pos, b"\r\n\r\n");
        let head = std::str::from_utf8(&body[pos..head_end]).unwrap();
        let cr = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .expect("part Content-Range")
            .to_string();
        let (a, b) = cr
            .strip_prefix("bytes ")
            .and_then(|s| s.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .expect("range");
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        let start = head_end + 4;
        let end = start + (b - a + 1);
        out.push((cr, body[start..end].to_vec()));
        assert!(body[end..].starts_with(format!("\r\n{delim}").as_bytes()));
        pos = end + 2 + delim.len();
    }
    out
}

#[test]
fn go_marshalled_config_starts_serves_and_checks() {
    // --check-config takes the literal file.
    let dir = tempfile::tempdir().unwrap();
    let literal = dir.path().join("go.json");
    std::fs::write(&literal, GO_CONFIG).unwrap();
    let out = Command::new(BACKRUNNER)
        .arg("--check-config")
        .arg(&literal)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["proxy"]["headers"], json!({}));
    assert_eq!(shown["elliptics"]["remote"], json!(["localhost:31008:2-0"]));

    // The proxy runs on it: the three set values point at this test's port,
    // groups and store (the embedded store needs our `local` section added).
    let mut p = Proxy::prepare(Setup::default());
    let ours = p.config();
    let mut go: Value = serde_json::from_str(GO_CONFIG).unwrap();
    go["proxy"]["address"] = json!(format!("127.0.0.1:{}", p.port));
    go["elliptics"]["metadata-groups"] = ours["elliptics"]["metadata-groups"].clone();
    match ours.get("local") {
        Some(local) => go["local"] = local.clone(),
        None => go["elliptics"]["remote"] = ours["elliptics"]["remote"].clone(),
    }
    p.write_config(&go);
    p.spawn();

    let body = random_bytes(70_000, 11);
    let r = p.upload("b1", "go/config", body.clone());
    assert_eq!(r.status(), 200);
    // `headers: null` adds no header.
    assert!(r.headers().get("x-test-header").is_none());
    let r = p.get("b1", "go/config");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().unwrap()[..] == body[..]);
    let r = get_range(&p, "go/config", "bytes=10-19,0-9");
    assert_eq!(r.status(), 206);
    // redirect-port 0: /redirect/ is off, as in Backrunner.
    assert_eq!(p.get_path("/redirect/b1/go/config").status(), 503);
    // root "": no static files.
    assert_eq!(p.get_path("/server.log").status(), 404);
    // The running config: zeros Backrunner ignores took our defaults
    // (idle-timeout 0 would otherwise drop every connection after 1 s).
    let snap = p.json("/proxy_stat/");
    let text = snap.to_string();
    assert!(text.contains("\"idle-timeout\":60"), "{text}");
    assert!(
        text.contains("\"bucket-stat-update-interval\":10"),
        "{text}"
    );
    // and it keeps serving after a few seconds idle
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(p.get("b1", "go/config").status(), 200);
}

#[test]
fn overlapping_ranges_are_parts_in_request_order() {
    let p = Proxy::start(Setup::default());
    let size = 100_000;
    let body = random_bytes(size, 5);
    assert_eq!(p.upload("b1", "ranges.bin", body.clone()).status(), 200);

    // Overlapping, repeated, out of order, suffix, open end, past the end.
    let r = get_range(
        &p,
        "ranges.bin",
        "bytes=500-999,0-1999,700-800,700-800,-100,99990-,100000-200000",
    );
    assert_eq!(r.status(), 206);
    assert_eq!(hdr(&r, "accept-ranges"), "bytes");
    let want = [
        (500, 999),
        (0, 1999),
        (700, 800),
        (700, 800),
        (size - 100, size - 1),
        (99_990, size - 1),
    ];
    let got = parts(r);
    assert_eq!(got.len(), want.len(), "one part per satisfiable range");
    for ((cr, data), (a, b)) in got.iter().zip(want) {
        assert_eq!(cr, &format!("bytes {a}-{b}/{size}"));
        assert!(data[..] == body[a..=b], "part {a}-{b}");
    }

    // Total length over the object's size: the Range header is ignored.
    for range in [
        "bytes=0-59999,50000-",
        "bytes=0-,0-0",
        "bytes=-60000,-60000",
    ] {
        let r = get_range(&p, "ranges.bin", range);
        assert_eq!(r.status(), 200, "{range}");
        assert!(r.headers().get("content-range").is_none(), "{range}");
        assert_eq!(hdr(&r, "content-length"), size.to_string(), "{range}");
        assert!(r.bytes().unwrap()[..] == body[..], "{range}");
    }
    // Exactly the size is still served as parts.
    let got = parts(get_range(&p, "ranges.bin", "bytes=50000-,0-49999"));
    assert_eq!(got.len(), 2);
    assert!(got[0].1[..] == body[50_000..] && got[1].1[..] == body[..50_000]);

    // Nothing satisfiable: 416 with the size.
    let r = get_range(&p, "ranges.bin", "bytes=100000-,200000-300000");
    assert_eq!(r.status(), 416);
    assert_eq!(hdr(&r, "content-range"), format!("bytes */{size}"));
    // More than 100 ranges are ignored too.
    let many: Vec<String> = (0..101).map(|i| format!("{i}-{i}")).collect();
    let r = get_range(&p, "ranges.bin", &format!("bytes={}", many.join(",")));
    assert_eq!(r.status(), 200);
    // /redirect/ carries one span: several ranges stay refused.
    let p2 = Proxy::start(Setup {
        proxy: json!({"redirect-port": 8080}),
        ..Setup::default()
    });
    assert_eq!(p2.upload("b1", "r", body.clone()).status(), 200);
    let r = p2
        .client
        .get(p2.url("/redirect/b1/r"))
        .header("Range", "bytes=0-1,0-1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// btest `test_big_bucket_upload`: a 27489280-byte object, read through
/// `offset`/`size` and through btest's exact multi-range header.
#[test]
fn btest_big_upload_offset_size_and_six_ranges() {
    let p = Proxy::start(Setup::default());
    let size: usize = 27_489_280;
    let body = random_bytes(size, 27);
    let r = p.upload("b1", "big", body.clone());
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().unwrap();
    assert_eq!(rep["key"], "big");
    assert_eq!(rep["bucket"], "b1");

    // offset/size query: the bytes asked for, whatever the status (btest
    // checks < 400 and the bytes).
    for (offset, len) in [(1_000_000usize, 3_000_000usize), (0, size)] {
        let r = p
            .client
            .get(p.url(&format!("/get/b1/big?offset={offset}&size={len}")))
            .send()
            .unwrap();
        assert!(r.status().as_u16() < 400, "{}", r.status());
        assert!(r.bytes().unwrap()[..] == body[offset..offset + len]);
    }

    let range =
        "bytes=201683-4192549,1404900-5542034,1628093-6318847,1047491-4215519,-1024,24740452-";
    let r = get_range(&p, "big", range);
    assert_eq!(r.status(), 206);
    let want = [
        (201_683, 4_192_549),
        (1_404_900, 5_542_034),
        (1_628_093, 6_318_847),
        (1_047_491, 4_215_519),
        (size - 1024, size - 1),
        (24_740_452, size - 1),
    ];
    let got = parts(r);
    assert_eq!(got.len(), 6);
    for ((cr, data), (a, b)) in got.iter().zip(want) {
        assert_eq!(cr, &format!("bytes {a}-{b}/{size}"));
        assert!(data[..] == body[a..=b], "part {a}-{b}");
    }
}

#[test]
fn bulk_delete_with_no_keys_is_400() {
    let p = Proxy::start(Setup::default());
    for (body, needle) in [
        (r#"{"keys": []}"#, "bulk_delete: 'keys' array is empty"),
        (r#"{"other": 1}"#, "there is no 'keys' array"),
        ("{", "could not parse input json"),
    ] {
        let r = p
            .client
            .post(p.url("/bulk_delete/b1"))
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().unwrap();
        assert!(text.contains(needle), "{body}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    }
    // The proxy still serves a real one.
    assert_eq!(p.upload("b1", "x", b"x".to_vec()).status(), 200);
    let r = p
        .client
        .post(p.url("/bulk_delete/b1"))
        .body(r#"{"keys": ["x"]}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap(), json!({}));
    assert_eq!(p.get("b1", "x").status(), 404);
}

#[test]
fn partial_upload_at_offset_zero_keeps_the_tail() {
    let p = Proxy::start(Setup::default());
    let post = |key: &str, body: &[u8], range: Option<&str>| {
        let mut rb = p
            .client
            .post(p.url(&format!("/upload/b1/{key}")))
            .body(body.to_vec());
        if let Some(r) = range {
            rb = rb.header("Range", r);
        }
        rb.send().unwrap()
    };
    let read = |key: &str| p.get("b1", key).bytes().unwrap().to_vec();
    assert_eq!(post("k", b"0123456789", None).status(), 200);
    let r = post("k", b"AB", Some("bytes=0-"));
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().unwrap();
    for info in rep["reply"]["info"].as_array().unwrap() {
        assert_eq!(info["size"], 10, "{info}");
    }
    assert_eq!(read("k"), b"AB23456789");
    // As at any other offset.
    assert_eq!(post("k", b"xy", Some("bytes=4-")).status(), 200);
    assert_eq!(read("k"), b"AB23xy6789");
    // Longer than the object: it grows.
    assert_eq!(post("k", b"0123456789abc", Some("bytes=0-")).status(), 200);
    assert_eq!(read("k"), b"0123456789abc");
    // At 0 a missing object is simply written; past 0 it is an error.
    assert_eq!(post("new", b"fresh", Some("bytes=0-")).status(), 200);
    assert_eq!(read("new"), b"fresh");
    assert_eq!(post("missing", b"x", Some("bytes=1-")).status(), 400);
    // Without Range the body replaces the object.
    assert_eq!(post("k", b"z", None).status(), 200);
    assert_eq!(read("k"), b"z");
}

/// btest `test_write_failed` and the reply shapes Backrunner clients parse:
/// a failed group is in `error-groups` and in `info` with elliptics-go's
/// error fields; `mtime` is Go's `time.Time.String()`.
#[test]
fn upload_reply_lists_failed_groups_as_backrunner() {
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1, 99]}}}),
        bucket_list: vec!["b1".into()],
        ..Setup::default()
    });
    let r = p.upload("b1", "k", random_bytes(4096, 1));
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["reply"]["error-groups"], json!([99]));
    let info = v["reply"]["info"].as_array().unwrap();
    assert_eq!(info.len(), 2, "{v}");
    let ok = info.iter().find(|i| i["group"] == 1).unwrap();
    assert!(ok["error"].is_null());
    let mtime = ok["mtime"].as_str().unwrap();
    assert!(
        mtime.len() >= 23 && mtime.as_bytes()[10] == b' ' && mtime.ends_with(" +0000 UTC"),
        "{mtime}"
    );
    let failed = info.iter().find(|i| i["group"] == 99).unwrap();
    assert!(failed["error"]["Code"].as_i64().unwrap() < 0, "{failed}");
    assert!(failed["error"]["Message"].is_string(), "{failed}");
    // /lookup/ answers the same shape.
    let l = p.json("/lookup/b1/k");
    assert_eq!(l["info"].as_array().unwrap().len(), 2, "{l}");
}

/// Keys are decoded as Backrunner decodes them: Go's `URL.Path`, then
/// `url.QueryUnescape`, so `%2B` is a space and `%252B` a plus.
#[test]
fn keys_decode_twice_as_backrunner() {
    let p = Proxy::start(Setup::default());
    for (raw, key) in [
        ("a%2Bb", "a b"),
        ("c+d", "c d"),
        ("e%252Bf", "e+f"),
        ("p%2525", "p%"),
    ] {
        let r = p
            .client
            .post(p.url(&format!("/upload/b1/{raw}")))
            .body("x")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{raw}");
        assert_eq!(r.json::<Value>().unwrap()["key"], key, "{raw}");
    }
    // The same key through either spelling.
    assert_eq!(p.get_path("/get/b1/a+b").status(), 200);
    assert_eq!(p.get_path("/get/b1/a%20b").status(), 200);
    assert_eq!(p.get_path("/get/b1/e%252Bf").status(), 200);
    assert_eq!(p.get_path("/get/b1/e+f").status(), 404, "that is \"e f\"");
    // A % left after the first decoding is malformed, as in Backrunner.
    let r = p.get_path("/get/b1/100%25");
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("could not unescape URL"));
    // /ping/ names buckets as /stat/ does.
    let s = p.json("/ping/b1");
    let names: Vec<&String> = s["Buckets"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["b1"]);
}

/// Go's `url.QueryEscape`: all but `[A-Za-z0-9-_.~]` escaped, space as `+`.
fn go_query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// btest `test_small_bucket_upload`: its key, escaped as btest escapes it,
/// read back through `Range: bytes=-SIZE` (btest's whole-object check).
#[test]
fn btest_small_upload_key_and_suffix_range() {
    let p = Proxy::start(Setup::default());
    let key = "тестовый ключ :.&*^//$@#qweqфывфв0x44";
    let size = 1024 * 37;
    let body = random_bytes(size, 3);
    let path = format!("b1/{}", go_query_escape(key));
    let r = p
        .client
        .post(p.url(&format!("/upload/{path}")))
        .body(body.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().unwrap();
    assert_eq!(rep["key"], key);
    assert_eq!(rep["bucket"], "b1");
    let r = p
        .client
        .get(p.url(&format!("/get/{path}")))
        .header("range", format!("bytes=-{size}"))
        .send()
        .unwrap();
    assert!(r.status().as_u16() < 400, "{}", r.status());
    assert!(r.bytes().unwrap()[..] == body[..]);
}
