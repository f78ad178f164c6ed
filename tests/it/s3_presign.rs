//! Presigned URLs and CORS on the S3 listener (docs/s3.md "Presigned URLs",
//! "CORS"): URLs from boto3 used by curl, preflights and reply headers, and
//! headless Chromium doing a cross-origin `fetch()` PUT and GET through
//! presigned URLs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, Proxy};
use crate::s3_wire::{curl, get_signed, python, setup, ALICE};
use serde_json::{json, Value};

fn presign(
    p: &Proxy,
    endpoint: &str,
    user: (&str, &str),
    calls: &[(&str, &str, i64)],
) -> Vec<String> {
    let list: Vec<String> = calls
        .iter()
        .map(|(op, key, exp)| format!("({op:?}, {key:?}, {exp})"))
        .collect();
    let code = format!(
        r#"
import boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url="{endpoint}", aws_access_key_id="{}",
    aws_secret_access_key="{}", region_name="us-east-1",
    config=Config(signature_version="s3v4", s3={{"addressing_style": "path"}}))
for op, key, exp in [{}]:
    print(c.generate_presigned_url(op, Params={{"Bucket": "b1", "Key": key}}, ExpiresIn=exp))
"#,
        user.0,
        user.1,
        list.join(", ")
    );
    python(p, &["-c", &code], &[])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Presigned URLs made by boto3, used by curl: PUT, GET, HEAD, DELETE;
/// expired, out-of-range expiry, altered and misused URLs are refused.
#[test]
fn presigned_urls_with_curl() {
    if !crate::common::boto3() {
        return;
    }
    let port = free_port();
    let p = Proxy::start(setup(json!({"s3-address": format!("127.0.0.1:{port}")})));
    let endpoint = format!("http://127.0.0.1:{port}");
    let urls = presign(
        &p,
        &endpoint,
        ("alice", ALICE),
        &[
            ("put_object", "pre/a b+c", 300),
            ("get_object", "pre/a b+c", 300),
            ("head_object", "pre/a b+c", 300),
            ("delete_object", "pre/a b+c", 300),
            ("get_object", "pre/a b+c", 1),
            ("get_object", "pre/a b+c", 604_801),
        ],
    );
    let [put, get, head, delete, short, long] = &urls[..] else {
        panic!("{urls:?}");
    };
    let (code, text, _) = curl(&["-X", "PUT", "--data-binary", "presigned body", put]);
    assert_eq!(code, 200, "{text}\n{}", p.log());
    let (code, text, _) = curl(&[get]);
    assert_eq!((code, text.as_str()), (200, "presigned body"));
    let (code, _, headers) = curl(&["-I", head]);
    assert_eq!(code, 200, "{headers}");
    assert!(
        headers.to_ascii_lowercase().contains("content-length: 14"),
        "{headers}"
    );
    // A URL is signed for its method and key.
    let (code, text, _) = curl(&["-X", "DELETE", get]);
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    let other_key = get.replace("/b1/pre/", "/b1/other/");
    let (code, _, _) = curl(&[&other_key]);
    assert_eq!(code, 403);
    let last = if get.ends_with('0') { '1' } else { '0' };
    let altered = format!("{}{last}", &get[..get.len() - 1]);
    let (code, text, _) = curl(&[&altered]);
    assert_eq!(code, 403);
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    // Expiry.
    let (code, text, _) = curl(&[long]);
    assert_eq!(code, 403);
    assert!(
        text.contains("AccessDenied") && text.contains("604800"),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(2100));
    let (code, text, _) = curl(&[short]);
    assert_eq!(code, 403);
    assert!(
        text.contains("<Code>AccessDenied</Code><Message>Request has expired"),
        "{text}"
    );
    // A presigned URL and an Authorization header together.
    let (code, text, _) = curl(&["-H", "Authorization: AWS4-HMAC-SHA256 x", get]);
    assert_eq!(code, 400, "{text}");
    // The reader may presign a GET but not a PUT.
    let r = presign(
        &p,
        &endpoint,
        ("reader", "reader-secret"),
        &[("get_object", "pre/a b+c", 60), ("put_object", "pre/r", 60)],
    );
    assert_eq!(curl(&[&r[0]]).0, 200);
    let (code, text, _) = curl(&["-X", "PUT", "--data-binary", "x", &r[1]]);
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("AccessDenied"), "{text}");
    // DELETE, then the key is gone.
    let (code, _, _) = curl(&["-X", "DELETE", delete]);
    assert_eq!(code, 204);
    assert_eq!(curl(&[get]).0, 404);
}

fn cors_rules(origin: &str) -> Value {
    json!([{
        "allowed-origins": [origin],
        "allowed-methods": ["GET", "PUT", "HEAD"],
        "allowed-headers": ["content-type", "x-amz-*"],
        "expose-headers": ["ETag", "x-amz-request-id"],
        "max-age-seconds": 600
    }])
}

/// Preflights answered from `proxy.s3-cors`, Access-Control headers on
/// actual replies for allowed origins, Vary: Origin on every reply.
#[test]
fn cors_preflight_and_reply_headers() {
    let port = free_port();
    let p = Proxy::start(setup(json!({
        "s3-address": format!("127.0.0.1:{port}"),
        "s3-cors": cors_rules("http://app.test:8080")})));
    let s3 = format!("http://127.0.0.1:{port}");
    let c = &p.client;
    let options = |origin: &str, method: &str, headers: &str| {
        c.request(reqwest::Method::OPTIONS, format!("{s3}/b1/k"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", headers)
            .send()
            .unwrap()
    };
    let r = options("http://app.test:8080", "PUT", "content-type,x-amz-meta-a");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.test:8080");
    assert_eq!(h["access-control-allow-methods"], "GET, PUT, HEAD");
    assert_eq!(
        h["access-control-allow-headers"],
        "content-type, x-amz-meta-a"
    );
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["vary"], "Origin");
    assert!(h.contains_key("x-amz-request-id"));
    for (origin, method, headers) in [
        ("http://evil.test", "PUT", ""),
        ("http://app.test:8080", "DELETE", ""),
        ("http://app.test:8080", "PUT", "authorization"),
    ] {
        let r = options(origin, method, headers);
        assert_eq!(r.status(), 403, "{origin} {method} {headers}");
        assert_eq!(r.headers()["vary"], "Origin");
        assert!(!r.headers().contains_key("access-control-allow-origin"));
        assert!(r.text().unwrap().contains("<Code>AccessForbidden</Code>"));
    }
    let r = c
        .request(reqwest::Method::OPTIONS, format!("{s3}/b1/k"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    // Actual replies, errors included.
    let r = c
        .get(format!("{s3}/b1/k"))
        .header("Origin", "http://app.test:8080")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "anonymous read of b1");
    assert_eq!(r.headers()["vary"], "Origin");
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://app.test:8080"
    );
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "ETag, x-amz-request-id"
    );
    let r = c
        .get(format!("{s3}/b1/k"))
        .header("Origin", "http://evil.test")
        .send()
        .unwrap();
    assert_eq!(r.headers()["vary"], "Origin");
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let r = c.get(format!("{s3}/")).send().unwrap();
    assert_eq!(r.headers()["vary"], "Origin");
    // A listener without rules refuses preflights.
    let port2 = free_port();
    let q = Proxy::start(setup(json!({"s3-address": format!("127.0.0.1:{port2}")})));
    let r = q
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("http://127.0.0.1:{port2}/b1/k"),
        )
        .header("Origin", "http://app.test:8080")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["vary"], "Origin");
}

const PAGE: &str = r#"<!doctype html>
<html><body><script>
function report(s) { new Image().src = '/report/' + encodeURIComponent(s); }
(async () => {
  try {
    const body = 'uploaded by a browser ' + Date.now();
    const put = await fetch(PUT_URL, {method: 'PUT', body: body,
                                      headers: {'Content-Type': 'text/plain'}});
    if (!put.ok) { report('putfail-' + put.status); return; }
    const etag = put.headers.get('ETag');
    const get = await fetch(GET_URL);
    const text = await get.text();
    if (!get.ok || text !== body) { report('getfail-' + get.status + '-' + text.length); return; }
    report('ok-' + (etag ? 'etag' : 'noetag') + '-' + text.length);
  } catch (e) { report('error-' + e); }
})();
</script></body></html>
"#;

/// Headless Chromium loads a page from Backrunner's listener (`proxy.root`)
/// and, cross-origin, PUTs through a presigned URL on the S3 listener
/// (preflight included) and GETs the object back, reading the ETag that
/// `expose-headers` shows. A page from an origin the rules do not allow fails.
#[test]
fn chromium_presigned_put_and_get_cross_origin() {
    if !crate::common::boto3() {
        return;
    }
    if !crate::common::installed("chromium", "--version") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let s3_port = free_port();
    // Any port of 127.0.0.1 (the harness picks Backrunner's); not localhost.
    let p = Proxy::start(setup(json!({
        "root": root.path(),
        "s3-address": format!("127.0.0.1:{s3_port}"),
        "s3-cors": cors_rules("http://127.0.0.1:*")})));
    let (rest_port, origin) = (p.port, format!("http://127.0.0.1:{}", p.port));
    let endpoint = format!("http://127.0.0.1:{s3_port}");
    let urls = presign(
        &p,
        &endpoint,
        ("alice", ALICE),
        &[
            ("put_object", "browser/up.txt", 300),
            ("get_object", "browser/up.txt", 300),
        ],
    );
    let page = PAGE
        .replace("PUT_URL", &format!("{:?}", urls[0]))
        .replace("GET_URL", &format!("{:?}", urls[1]));
    std::fs::write(root.path().join("upload.html"), &page).unwrap();
    // The same page from an origin the rules do not name: localhost.
    std::fs::write(root.path().join("other.html"), &page).unwrap();

    let run = |url: String, expect: &str| {
        let profile = tempfile::tempdir().unwrap();
        let before = p.log().matches("/report/").count();
        let mut chrome = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        let report = loop {
            let log = p.log();
            if let Some(line) = log.lines().filter(|l| l.contains("/report/")).nth(before) {
                break Some(line.to_string());
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = chrome.kill();
        let _ = chrome.wait();
        let report =
            report.unwrap_or_else(|| panic!("no report from {url}; proxy log:\n{}", p.log()));
        assert!(
            report.contains(expect),
            "{url}: page reported: {report}\n{}",
            p.log()
        );
        report
    };
    let ok = run(format!("{origin}/upload.html"), "/report/ok-etag-");
    eprintln!("browser: {ok}");
    let r = get_signed(&p, "browser/up.txt");
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().starts_with("uploaded by a browser "));
    let log = p.log();
    assert!(
        log.lines().any(|l| l.contains("s3 method: OPTIONS")),
        "no preflight in the log:\n{log}"
    );
    // Another origin: the browser blocks it (the preflight gets 403).
    run(
        format!("http://localhost:{rest_port}/other.html"),
        "/report/error-",
    );
}
