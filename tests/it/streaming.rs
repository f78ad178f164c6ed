//! HTTP streaming over the running binary: Range and multipart/byteranges
//! (RFC 9110 §14), conditional requests (§13), HEAD, partial upload,
//! disconnects, idle and slow clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{random_bytes, wait_for, Proxy, Setup};
use reqwest::blocking::Response;
use serde_json::json;

fn get_with(p: &Proxy, key: &str, headers: &[(&str, &str)]) -> Response {
    let mut rb = p.client.get(p.url(&format!("/get/b1/{key}")));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().expect("get")
}

fn hdr(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Parses a `multipart/byteranges` body back into (Content-Type, Content-Range, bytes).
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String, Vec<u8>)> {
    let delim = format!("\r\n--{boundary}");
    let find = |hay: &[u8], from: usize, needle: &[u8]| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| i + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(body, 0, delim.as_bytes()).expect("first delimiter");
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            assert_eq!(&body[pos..], b"--\r\n", "closing delimiter ends the body");
            return parts;
        }
        assert_eq!(&body[pos..pos + 2], b"\r\n");
        pos += 2;
        let end_headers = find(body, pos, b"\r\n\r\n").expect("part headers");
        let head = std::str::from_utf8(&body[pos..end_headers]).unwrap();
        let mut ct = String::new();
        let mut cr = String::new();
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(": ").expect("header line");
            match k.to_ascii_lowercase().as_str() {
                "content-type" => ct = v.to_string(),
                "content-range" => cr = v.to_string(),
                other => panic!("unexpected part header {other}"),
            }
        }
        // Content-Range says how many bytes follow; the data may contain anything.
        let (a, b) = cr
            .strip_prefix("bytes ")
            .and_then(|s| s.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .expect("content-range");
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        let data_start = end_headers + 4;
        let data_end = data_start + (b - a + 1);
        parts.push((ct, cr, body[data_start..data_end].to_vec()));
        pos = data_end;
        assert!(
            body[pos..].starts_with(delim.as_bytes()),
            "delimiter after part"
        );
    }
}

#[test]
fn multi_range_40mib_byte_exact() {
    let p = Proxy::start(Setup::default());
    let size = 40 << 20;
    let body = random_bytes(size, 40);
    assert_eq!(p.upload("b1", "big.mp4", body.clone()).status(), 200);
    let range = "bytes=0-0, 1000-1999, 5000000-15999999, 20000000-20000099, -1048576";
    let r = get_with(&p, "big.mp4", &[("Range", range)]);
    assert_eq!(r.status(), 206);
    assert_eq!(hdr(&r, "accept-ranges"), "bytes");
    assert!(r.headers().get("content-encoding").is_none());
    let ct = hdr(&r, "content-type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("multipart content type: {ct}"))
        .to_string();
    let len: usize = hdr(&r, "content-length").parse().unwrap();
    let got = r.bytes().unwrap();
    assert_eq!(got.len(), len);
    let parts = parse_multipart(&got, &boundary);
    let want = [
        (0, 0),
        (1000, 1999),
        (5_000_000, 15_999_999),
        (20_000_000, 20_000_099),
        (size - 1_048_576, size - 1),
    ];
    assert_eq!(parts.len(), want.len());
    for ((ct, cr, data), (a, b)) in parts.iter().zip(want) {
        assert_eq!(ct, "video/mp4");
        assert_eq!(cr, &format!("bytes {a}-{b}/{size}"));
        assert!(data[..] == body[a..=b], "part {a}-{b} differs");
    }

    // Overlapping ranges are not merged (as Backrunner, Go's ServeContent):
    // one part each, in the client's order (tests/it/compat.rs has more).
    let r = get_with(&p, "big.mp4", &[("Range", "bytes=150-299,100-199,300-399")]);
    assert_eq!(r.status(), 206);
    let ct = hdr(&r, "content-type");
    let boundary = ct.split("boundary=").nth(1).unwrap().to_string();
    let parts = parse_multipart(&r.bytes().unwrap(), &boundary);
    let want = [(150, 299), (100, 199), (300, 399)];
    assert_eq!(parts.len(), want.len());
    for ((_, cr, data), (a, b)) in parts.iter().zip(want) {
        assert_eq!(cr, &format!("bytes {a}-{b}/{size}"));
        assert!(data[..] == body[a..=b], "part {a}-{b}");
    }

    // Too many ranges: the header is ignored and the whole body sent.
    let many: Vec<String> = (0..200).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
    let r = get_with(
        &p,
        "big.mp4",
        &[("Range", &format!("bytes={}", many.join(",")))],
    );
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "content-length"), size.to_string());
}

#[test]
fn single_ranges_416_and_malformed() {
    let p = Proxy::start(Setup::default());
    let body = random_bytes(10_000, 3);
    assert_eq!(p.upload("b1", "obj.bin", body.clone()).status(), 200);
    let cases: &[(&str, usize, usize)] = &[
        ("bytes=0-499", 0, 500),
        ("bytes=9500-", 9500, 10_000),
        ("bytes=-500", 9500, 10_000),
        ("bytes=9999-", 9999, 10_000),
        ("bytes=5000-999999", 5000, 10_000),
        ("bytes=-20000", 0, 10_000),
        ("bytes=20000-30000, 10-19", 10, 20),
    ];
    for (range, a, b) in cases {
        let r = get_with(&p, "obj.bin", &[("Range", range)]);
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            hdr(&r, "content-range"),
            format!("bytes {a}-{}/10000", b - 1),
            "{range}"
        );
        assert_eq!(hdr(&r, "content-type"), "application/octet-stream");
        assert_eq!(hdr(&r, "accept-ranges"), "bytes");
        assert!(r.bytes().unwrap()[..] == body[*a..*b], "{range}");
    }
    for range in [
        "bytes=10000-",
        "bytes=10000-10005",
        "bytes=-0",
        "bytes=20000-, 10001-",
    ] {
        let r = get_with(&p, "obj.bin", &[("Range", range)]);
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(hdr(&r, "content-range"), "bytes */10000", "{range}");
    }
    // A malformed Range header is ignored: 200 with the whole body.
    for range in ["bytes=5-4", "bytes=abc", "pages=1-2", "bytes=", "bytes 0-1"] {
        let r = get_with(&p, "obj.bin", &[("Range", range)]);
        assert_eq!(r.status(), 200, "{range}");
        assert_eq!(hdr(&r, "accept-ranges"), "bytes");
        assert!(r.bytes().unwrap()[..] == body[..], "{range}");
    }
    // offset/size query parameters win over a Range header.
    let r = p
        .client
        .get(p.url("/get/b1/obj.bin?offset=100&size=10"))
        .header("Range", "bytes=0-0")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(hdr(&r, "content-range"), "bytes 100-109/10000");
    assert!(r.bytes().unwrap()[..] == body[100..110]);
    // The content-types map applies to every part type.
    let p2 = Proxy::start(Setup {
        proxy: json!({"content-types": {".bin": "application/x-custom"}}),
        ..Setup::default()
    });
    assert_eq!(p2.upload("b1", "obj.bin", body.clone()).status(), 200);
    let r = get_with(&p2, "obj.bin", &[("Range", "bytes=0-0,5-5")]);
    let ct = hdr(&r, "content-type");
    let boundary = ct.split("boundary=").nth(1).unwrap().to_string();
    let parts = parse_multipart(&r.bytes().unwrap(), &boundary);
    assert_eq!(parts[0].0, "application/x-custom");
    assert_eq!(parts[1].2, vec![body[5]]);
}

#[test]
fn conditional_requests_304_412_and_if_range() {
    let p = Proxy::start(Setup::default());
    let body = random_bytes(5000, 9);
    assert_eq!(p.upload("b1", "c.txt", body.clone()).status(), 200);
    let r = p.get("b1", "c.txt");
    assert_eq!(r.status(), 200);
    let etag = hdr(&r, "etag");
    let lm = hdr(&r, "last-modified");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );
    assert!(httpdate::parse_http_date(&lm).is_ok(), "{lm}");
    let lm_time = httpdate::parse_http_date(&lm).unwrap();
    let before = httpdate::fmt_http_date(lm_time - Duration::from_secs(3600));
    let after = httpdate::fmt_http_date(lm_time + Duration::from_secs(3600));
    let weak = format!("W/{etag}");
    let other = "\"0123456789\"".to_string();
    let list = format!("{other}, {etag}");

    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        // §13.1.2 If-None-Match (weak comparison) -> 304
        (vec![("If-None-Match", &etag)], 304),
        (vec![("If-None-Match", &weak)], 304),
        (vec![("If-None-Match", &list)], 304),
        (vec![("If-None-Match", "*")], 304),
        (vec![("If-None-Match", &other)], 200),
        // §13.1.3 If-Modified-Since -> 304
        (vec![("If-Modified-Since", &lm)], 304),
        (vec![("If-Modified-Since", &after)], 304),
        (vec![("If-Modified-Since", &before)], 200),
        (vec![("If-Modified-Since", "not a date")], 200),
        // If-None-Match wins over If-Modified-Since (§13.2.2 step 4)
        (
            vec![("If-None-Match", &other), ("If-Modified-Since", &lm)],
            200,
        ),
        // §13.1.1 If-Match (strong comparison) -> 412
        (vec![("If-Match", &etag)], 200),
        (vec![("If-Match", &list)], 200),
        (vec![("If-Match", "*")], 200),
        (vec![("If-Match", &other)], 412),
        (vec![("If-Match", &weak)], 412),
        // §13.1.4 If-Unmodified-Since -> 412
        (vec![("If-Unmodified-Since", &before)], 412),
        (vec![("If-Unmodified-Since", &lm)], 200),
        // §13.2.2: If-Match before If-None-Match: 412 wins over 304
        (vec![("If-Match", &other), ("If-None-Match", &etag)], 412),
        // a true If-Match skips If-Unmodified-Since
        (
            vec![("If-Match", &etag), ("If-Unmodified-Since", &before)],
            200,
        ),
        // preconditions come before Range: 304 rather than 206
        (vec![("If-None-Match", &etag), ("Range", "bytes=0-1")], 304),
        (vec![("If-Match", &etag), ("Range", "bytes=0-1")], 206),
    ];
    for (headers, want) in &cases {
        let r = get_with(&p, "c.txt", headers);
        assert_eq!(r.status().as_u16(), *want, "{headers:?}");
        match want {
            304 => {
                assert_eq!(hdr(&r, "etag"), etag);
                assert_eq!(hdr(&r, "last-modified"), lm);
                assert!(r.bytes().unwrap().is_empty(), "304 has no body");
            }
            412 => {
                let text = r.text().unwrap();
                assert_eq!(text.trim_end().lines().count(), 1, "{text}");
                assert!(text.contains("If-"), "{text}");
            }
            200 => assert!(r.bytes().unwrap()[..] == body[..]),
            _ => {}
        }
    }

    // §13.1.5 If-Range: the range applies only when the validator matches.
    let range = ("Range", "bytes=10-19");
    let with_if_range = |v: &str| get_with(&p, "c.txt", &[range, ("If-Range", v)]);
    for (v, want) in [
        (etag.as_str(), 206),
        (lm.as_str(), 206),
        (other.as_str(), 200),
        (weak.as_str(), 200),
        (before.as_str(), 200),
        ("garbage", 200),
    ] {
        let r = with_if_range(v);
        assert_eq!(r.status().as_u16(), want, "If-Range {v}");
        let got = r.bytes().unwrap();
        if want == 206 {
            assert!(got[..] == body[10..20]);
        } else {
            assert!(got[..] == body[..], "full body when If-Range fails");
        }
    }

    // On the wire, a 304 has no body and no Content-Length other than the
    // full size (RFC 9110 §8.6).
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /get/b1/c.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("http/1.1 304"), "{head}");
    if let Some(cl) = head.lines().find(|l| l.starts_with("content-length:")) {
        assert_eq!(cl, "content-length: 5000", "{head}");
    }
    assert!(rest.is_empty(), "{rest:?}");

    // A new write changes the ETag: the old one no longer yields 304.
    assert_eq!(
        p.upload("b1", "c.txt", random_bytes(5000, 10)).status(),
        200
    );
    let r = get_with(&p, "c.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status(), 200);
    assert_ne!(hdr(&r, "etag"), etag);
}

#[test]
fn head_answers_get_headers_without_body() {
    let p = Proxy::start(Setup::default());
    let body = random_bytes(300_000, 5);
    assert_eq!(p.upload("b1", "v/clip.mp4", body).status(), 200);
    let g = p.get("b1", "v/clip.mp4");
    let h = p.client.head(p.url("/get/b1/v/clip.mp4")).send().unwrap();
    assert_eq!(h.status(), 200);
    for name in [
        "content-length",
        "content-type",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert_eq!(hdr(&h, name), hdr(&g, name), "{name}");
        assert!(!hdr(&h, name).is_empty(), "{name}");
    }
    assert_eq!(hdr(&h, "content-length"), "300000");
    assert_eq!(hdr(&h, "content-type"), "video/mp4");
    // On the wire: real Content-Length and not one body byte.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"HEAD /get/b1/v/clip.mp4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase().contains("content-length: 300000"),
        "{head}"
    );
    assert!(rest.is_empty(), "HEAD body: {rest:?}");
    // HEAD ignores Range (RFC 9110 §14.2: Range is for GET).
    let h = p
        .client
        .head(p.url("/get/b1/v/clip.mp4"))
        .header("Range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(h.status(), 200);
    // Conditional HEAD.
    let etag = hdr(&g, "etag");
    let h = p
        .client
        .head(p.url("/get/b1/v/clip.mp4"))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(h.status(), 304);
    // Missing object: 404; other paths keep the load balancer's 200 OK.
    let h = p.client.head(p.url("/get/b1/missing")).send().unwrap();
    assert_eq!(h.status(), 404);
    let h = p.client.head(p.url("/some/health/check")).send().unwrap();
    assert_eq!(h.status(), 200);
}

#[test]
fn partial_upload_writes_at_offset_and_extends() {
    let p = Proxy::start(Setup::default());
    let mut want = random_bytes(1000, 1);
    assert_eq!(p.upload("b1", "part", want.clone()).status(), 200);
    let upload_at = |off: u64, data: Vec<u8>| {
        p.client
            .post(p.url("/upload/b1/part"))
            .header("Range", format!("bytes={off}-"))
            .body(data)
            .send()
            .unwrap()
    };
    // Inside the object.
    let patch = random_bytes(100, 2);
    let r = upload_at(200, patch.clone());
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    want[200..300].copy_from_slice(&patch);
    assert!(p.get("b1", "part").bytes().unwrap()[..] == want[..]);
    // Across the end: overwrites the tail and grows.
    let patch = random_bytes(500, 3);
    assert_eq!(upload_at(900, patch.clone()).status(), 200);
    want.truncate(900);
    want.extend_from_slice(&patch);
    assert!(p.get("b1", "part").bytes().unwrap()[..] == want[..]);
    // At exactly the size: appends. Readable at once, with a new ETag.
    let etag = hdr(&p.get("b1", "part"), "etag");
    let patch = random_bytes(3000, 4);
    let r = upload_at(want.len() as u64, patch.clone());
    assert_eq!(r.status(), 200);
    let reply: serde_json::Value = r.json().unwrap();
    want.extend_from_slice(&patch);
    assert_eq!(reply["reply"]["info"][0]["size"], want.len());
    let g = p.get("b1", "part");
    assert_ne!(hdr(&g, "etag"), etag);
    assert!(g.bytes().unwrap()[..] == want[..]);
    // Past the end, or on a missing object: a clear 400, nothing changes.
    let r = upload_at(want.len() as u64 + 1, vec![1, 2, 3]);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("past the object's end"));
    let r = p
        .client
        .post(p.url("/upload/b1/nothing-here"))
        .header("Range", "bytes=10-")
        .body(vec![1u8; 10])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(p.get("b1", "nothing-here").status(), 404);
    assert!(p.get("b1", "part").bytes().unwrap()[..] == want[..]);
    // A Range header that is not "bytes=N-" is refused.
    let r = p
        .client
        .post(p.url("/upload/b1/part"))
        .header("Range", "bytes=0-5")
        .body(vec![1u8; 6])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// Every file under the groups' `tmp/` directories.
fn temp_files(store: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for g in std::fs::read_dir(store).unwrap() {
        let tmp = g.unwrap().path().join("tmp");
        if let Ok(rd) = std::fs::read_dir(&tmp) {
            out.extend(rd.map(|e| e.unwrap().path().display().to_string()));
        }
    }
    out
}

#[test]
fn disconnect_mid_upload_leaves_nothing() {
    // Watches the embedded store's files, so it always runs on that store.
    let p = Proxy::start_on(Setup::default(), common::Backend::Local);
    let store = p.dir.path().join("store");
    let old = random_bytes(4096, 11);
    assert_eq!(p.upload("b1", "keep", old.clone()).status(), 200);
    for (key, range) in [("fresh", None), ("keep", Some("bytes=0-"))] {
        let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
        write!(
            s,
            "POST /upload/b1/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{range}\r\n",
            64 << 20
        )
        .unwrap();
        let chunk = random_bytes(1 << 20, 12);
        for _ in 0..5 {
            s.write_all(&chunk).unwrap();
        }
        s.flush().unwrap();
        // The write is under way: its temp files exist.
        wait_for("temp files", Duration::from_secs(10), || {
            !temp_files(&store).is_empty()
        });
        drop(s);
        wait_for("temp files to go", Duration::from_secs(10), || {
            temp_files(&store).is_empty()
        });
    }
    assert_eq!(p.get("b1", "fresh").status(), 404);
    assert!(p.get("b1", "keep").bytes().unwrap()[..] == old[..]);
    // The proxy keeps serving.
    assert_eq!(p.upload("b1", "after", vec![7; 10]).status(), 200);
}

/// Open descriptors of the proxy that point into the store's data files.
fn open_store_files(p: &Proxy) -> usize {
    let store = p.dir.path().join("store");
    let Ok(rd) = std::fs::read_dir(format!("/proc/{}/fd", p.pid())) else {
        return 0;
    };
    rd.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.starts_with(&store) && t.to_string_lossy().contains("/data/"))
        .count()
}

#[test]
fn disconnect_mid_download_frees_the_reader() {
    // Watches the embedded store's files, so it always runs on that store.
    let p = Proxy::start_on(Setup::default(), common::Backend::Local);
    let body = random_bytes(32 << 20, 13);
    assert_eq!(p.upload("b1", "big", body).status(), 200);
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.write_all(b"GET /get/b1/big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    s.read_exact(&mut buf).unwrap();
    // The download is stalled on us, holding the object open.
    wait_for("the object to be open", Duration::from_secs(10), || {
        open_store_files(&p) == 1
    });
    drop(s);
    wait_for("the reader to be dropped", Duration::from_secs(10), || {
        open_store_files(&p) == 0
    });
    assert_eq!(p.get("b1", "big").status(), 200);
}

#[test]
fn idle_and_slow_clients_are_bounded() {
    let p = Proxy::start(Setup {
        proxy: json!({"idle-timeout": 2}),
        ..Setup::default()
    });
    let body = random_bytes(1000, 14);
    assert_eq!(p.upload("b1", "k", body.clone()).status(), 200);
    let closed_within = |mut s: TcpStream, limit: Duration| -> String {
        s.set_read_timeout(Some(limit)).unwrap();
        let started = Instant::now();
        let mut out = Vec::new();
        let r = s.read_to_end(&mut out);
        assert!(r.is_ok(), "connection not closed within {limit:?}: {r:?}");
        assert!(started.elapsed() < limit);
        String::from_utf8_lossy(&out).into_owned()
    };
    // Several hundred idle connections...
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", p.port)).unwrap())
        .collect();
    // ...plus one trickling its request head...
    let mut trickle = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    trickle.write_all(b"GET /get/b1/k HTTP/1.1\r\n").unwrap();
    // ...and one trickling an upload body: none of them block other clients.
    let mut slow_up = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    slow_up
        .write_all(b"POST /upload/b1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        .unwrap();
    for _ in 0..20 {
        let r = p.get("b1", "k");
        assert_eq!(r.status(), 200);
        assert!(r.bytes().unwrap()[..] == body[..]);
    }
    // All of them are closed after the idle timeout (2 s), not kept forever.
    for s in idle.into_iter().take(5) {
        closed_within(s, Duration::from_secs(15));
    }
    closed_within(trickle, Duration::from_secs(15));
    let reply = closed_within(slow_up, Duration::from_secs(15));
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert_eq!(p.get("b1", "slow").status(), 404, "no half upload visible");
    // An idle keep-alive connection is closed too.
    let mut ka = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    ka.write_all(b"GET /get/b1/k HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = closed_within(ka, Duration::from_secs(15));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}
