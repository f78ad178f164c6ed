//! `/redirect/` against the running binary on the embedded store: the
//! signed URL names the exact bytes on disk, the signature verifies with
//! the token only, and misconfiguration is a clear 503.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

use crate::common;
use crate::common::{random_bytes, Group, Proxy, Setup};
use serde_json::json;

const VERIFY: &str = env!("CARGO_BIN_EXE_redirect-verify");
const TOKEN: &str = "redirect secret token";

fn setup(extra: serde_json::Value) -> Setup {
    let mut proxy = json!({
        "redirect-port": 8080,
        "redirect-token": TOKEN,
        "redirect-signature-timeout": 60,
    });
    for (k, v) in extra.as_object().unwrap() {
        proxy[k] = v.clone();
    }
    Setup {
        proxy,
        ..Setup::default()
    }
}

struct Redirect {
    status: u16,
    location: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Redirect {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
    }

    /// FILE, OFFSET, SIZE and the raw path of the Location URL.
    fn target(&self) -> (String, u64, u64, String) {
        let rest = self
            .location
            .strip_prefix(&format!("http://{}:8080", common::storage_host()))
            .unwrap_or_else(|| panic!("unexpected host in {}", self.location));
        let decoded = percent_decode(rest);
        let mut parts = decoded.rsplitn(3, ':');
        let size = parts.next().unwrap().parse().unwrap();
        let offset = parts.next().unwrap().parse().unwrap();
        (
            parts.next().unwrap().to_string(),
            offset,
            size,
            rest.to_string(),
        )
    }

    /// The reply's header block as an operator would capture it with curl.
    fn header_block(&self) -> String {
        let mut s = format!("HTTP/1.1 {} Found\r\n", self.status);
        for (k, v) in &self.headers {
            s += &format!("{k}: {v}\r\n");
        }
        s + "\r\n"
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn redirect(p: &Proxy, path: &str, range: Option<&str>) -> Redirect {
    let mut rb = p.client.get(p.url(path));
    if let Some(r) = range {
        rb = rb.header("Range", r);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    Redirect {
        status,
        location,
        headers,
        body: r.text().unwrap(),
    }
}

fn read_file(path: &str, offset: u64, size: u64) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut buf = vec![0u8; size as usize];
    f.read_exact_at(&mut buf, offset).unwrap();
    buf
}

/// HMAC-SHA512 of the redirect as SPEC.md defines it, computed by the
/// `openssl` command line tool, independently of the proxy's code.
fn openssl_signature(token: &str, r: &Redirect) -> String {
    let (_, _, _, raw_path) = r.target();
    let mut ell: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-ell-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    ell.sort();
    let mut text = format!("GET\n{}\n", percent_decode(&raw_path));
    for (k, v) in ell {
        text += &format!("{k}:{v}\n");
    }
    common::hmac_hex(token, text.as_bytes())
}

fn verify_cli(token: &str, input: &str, now: Option<u64>) -> (bool, String) {
    let mut cmd = Command::new(VERIFY);
    cmd.args(["-token", token]);
    if let Some(n) = now {
        cmd.args(["-now", &n.to_string()]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn redirect_names_the_requested_bytes_on_disk() {
    let p = Proxy::start(setup(json!({})));
    let size = 700_000usize;
    let body = random_bytes(size, 7);
    assert_eq!(p.upload("b1", "big file.bin", body.clone()).status(), 200);
    let cases: Vec<(String, Option<&str>, usize, usize)> = vec![
        ("".into(), None, 0, size),
        ("?offset=1000&size=5000".into(), None, 1000, 5000),
        ("?offset=699990&size=100".into(), None, 699_990, 10),
        ("?offset=123".into(), None, 123, size - 123),
        ("".into(), Some("bytes=100-199"), 100, 100),
        ("".into(), Some("bytes=-50"), size - 50, 50),
        ("".into(), Some("bytes=699000-"), 699_000, 1000),
        ("".into(), Some("bytes=690000-800000"), 690_000, 10_000),
    ];
    for (query, range, want_off, want_len) in cases {
        let r = redirect(&p, &format!("/redirect/b1/big+file.bin{query}"), range);
        assert_eq!(r.status, 302, "{query} {range:?}: {}", r.body);
        let (file, offset, len, _) = r.target();
        assert!(std::path::Path::new(&file).is_file(), "{file}");
        assert_eq!(len as usize, want_len, "{query} {range:?}");
        let object_offset: u64 = r.header("X-Ell-File-Offset").parse().unwrap();
        assert_eq!(offset, object_offset + want_off as u64, "{query} {range:?}");
        assert_eq!(
            read_file(&file, offset, len),
            &body[want_off..want_off + want_len],
            "{query} {range:?}"
        );
        assert_eq!(r.header("X-Ell-Total-Size"), size.to_string());
        assert_eq!(r.header("X-Ell-File"), file);
        assert_eq!(r.header("X-Ell-Signature-Timeout"), "60");
        assert_eq!(r.header("X-Test-Header"), "yes");
        let mtime: u64 = r.header("X-Ell-Mtime").parse().unwrap();
        let signtime: u64 = r.header("X-Ell-Signtime").parse().unwrap();
        assert!(
            mtime <= signtime && signtime - mtime < 600,
            "{mtime} {signtime}"
        );
    }
}

#[test]
fn redirect_root_is_cut_from_the_file_name() {
    // With a trailing slash the header's name is relative; the URL adds the `/`.
    let root = format!(
        "{}/",
        std::env::temp_dir()
            .display()
            .to_string()
            .trim_end_matches('/')
    );
    let p = Proxy::start(setup(json!({ "redirect-root": root })));
    let body = random_bytes(4096, 3);
    assert_eq!(p.upload("b2", "k", body.clone()).status(), 200);
    let r = redirect(&p, "/redirect/b2/k?offset=10&size=20", None);
    assert_eq!(r.status, 302, "{}", r.body);
    let (file, offset, len, _) = r.target();
    assert!(!file.starts_with(&root), "{file} still starts with {root}");
    assert_eq!(r.header("X-Ell-File"), file.trim_start_matches('/'));
    let full = format!(
        "{}/{}",
        root.trim_end_matches('/'),
        file.trim_start_matches('/')
    );
    assert_eq!(read_file(&full, offset, len), &body[10..30]);
}

#[test]
fn signature_verifies_with_the_token_only() {
    let p = Proxy::start(setup(json!({})));
    assert_eq!(p.upload("b1", "obj", random_bytes(1000, 1)).status(), 200);
    let r = redirect(&p, "/redirect/b1/obj?offset=5", None);
    assert_eq!(r.status, 302, "{}", r.body);
    let sig = r.header("Authorization");
    assert_eq!(sig, openssl_signature(TOKEN, &r));
    assert_ne!(sig, openssl_signature("another token", &r));

    let signtime: u64 = r.header("X-Ell-Signtime").parse().unwrap();
    let block = r.header_block();
    let (ok, out) = verify_cli(TOKEN, &block, None);
    assert!(ok, "{out}");
    let (file, offset, len, _) = r.target();
    assert_eq!(
        out.trim(),
        format!(
            "ok: file {file} offset {offset} size {len} valid until {}",
            signtime + 60
        )
    );
    let (ok, out) = verify_cli("another token", &block, None);
    assert!(!ok && out.contains("signature does not match"), "{out}");
    let (ok, out) = verify_cli(TOKEN, &block, Some(signtime + 61));
    assert!(!ok && out.contains("expired"), "{out}");

    // The request as the storage node receives it, headers copied over.
    let (_, _, _, raw_path) = r.target();
    let mut request = format!(
        "GET {raw_path} HTTP/1.1\r\nHost: {}:8080\r\n",
        common::storage_host()
    );
    for (k, v) in &r.headers {
        if k.starts_with("x-ell-") || k == "authorization" {
            request += &format!("{k}: {v}\r\n");
        }
    }
    let (ok, out) = verify_cli(TOKEN, &request, None);
    assert!(ok, "{out}");
    // A different byte span under the same signature is refused.
    let forged = request.replacen(&format!(":{len} "), &format!(":{} ", len + 1), 1);
    assert_ne!(forged, request);
    let (ok, out) = verify_cli(TOKEN, &forged, None);
    assert!(!ok && out.contains("signature does not match"), "{out}");
}

#[test]
fn redirect_without_port_is_503() {
    for port in [json!(0), json!(70000), json!(-1)] {
        let p = Proxy::start(setup(json!({ "redirect-port": port })));
        assert_eq!(p.upload("b1", "k", b"abc".to_vec()).status(), 200);
        let r = redirect(&p, "/redirect/b1/k", None);
        assert_eq!(r.status, 503, "port {port}");
        assert!(r.body.contains("redirect-port"), "{}", r.body);
        assert_eq!(r.body.trim_end().lines().count(), 1, "{}", r.body);
    }
}

#[test]
fn bad_requests_are_named() {
    let p = Proxy::start(setup(json!({})));
    assert_eq!(p.upload("b1", "k", random_bytes(100, 2)).status(), 200);
    let r = redirect(&p, "/redirect/b1/k?offset=100", None);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("offset 100 is beyond"), "{}", r.body);
    let r = redirect(&p, "/redirect/b1/k?offset=x", None);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = redirect(&p, "/redirect/b1/k", Some("bytes=0-1,5-6"));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("2 ranges"), "{}", r.body);
    let r = redirect(&p, "/redirect/b1/k", Some("bytes=500-600"));
    assert_eq!(r.status, 416, "{}", r.body);
    for bad in ["bytes=abc", "items=1-2", "1-2"] {
        let r = redirect(&p, "/redirect/b1/k", Some(bad));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(r.body.contains("not a byte range"), "{}", r.body);
    }
    let r = redirect(&p, "/redirect/b1/missing", None);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = redirect(&p, "/redirect/nobucket/k", None);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = p.client.post(p.url("/redirect/b1/k")).send().unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn redirect_prefers_the_fast_replica() {
    let mut s = setup(json!({}));
    s.groups = vec![
        Group {
            delay_ms: 100,
            ..Group::new(1)
        },
        Group::new(2),
        Group::new(3),
    ];
    let p = Proxy::start(s);
    let body = random_bytes(3000, 9);
    assert_eq!(p.upload("b1", "k", body.clone()).status(), 200);
    let r = redirect(&p, "/redirect/b1/k", None);
    assert_eq!(r.status, 302, "{}", r.body);
    let (file, offset, len, _) = r.target();
    assert!(file.contains(&common::group_dir(2)), "{file}");
    assert_eq!(read_file(&file, offset, len), body);
}
