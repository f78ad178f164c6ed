//! Listing (ListObjects V1 and V2) over the name index (docs/index.md):
//! boto3 and aws-cli against the proxy; objects written or removed through
//! Backrunner's routes appear in and vanish from S3 listings; two proxies on
//! one store share the index, and concurrent writers through both lose no
//! entry; `bmeta -check-index` finds and drops dangling entries.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::{aws_cli, free_port, installed, random_bytes, sign, Proxy, Setup};
use serde_json::{json, Value};

const ALICE: &str = "alice-secret";

/// b1: alice writes, reader reads; pub: anyone reads and writes (so plain
/// HTTP requests can list it); b3: bob only.
pub(crate) fn setup(s3_port: u16, extra: Value) -> Setup {
    let mut proxy = json!({"s3-address": format!("127.0.0.1:{s3_port}")});
    if let (Some(p), Some(e)) = (proxy.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [
                {"user": "alice", "token": ALICE, "flags": 2},
                {"user": "reader", "token": "reader-secret", "flags": 0}]},
            "pub": {"groups": [2, 3], "acl": [{"user": "*", "token": "", "flags": 3}]},
            "b3": {"groups": [3], "acl": [{"user": "bob", "token": "bob-secret", "flags": 2}]},
        }}),
        bucket_list: vec!["pub".into()],
        proxy,
        ..Setup::default()
    }
}

/// A second proxy on the first one's store (its `local.path`, or the same
/// `dnet_ioserv`), with its own ports and files, and the `proxy` keys of
/// `extra` over the first one's.
fn second_proxy(first: &Proxy, s3_port: u16, extra: Value) -> Proxy {
    let mut extra = extra;
    extra["s3-address"] = json!(format!("127.0.0.1:{s3_port}"));
    first.beside(extra)
}

fn upload_signed(p: &Proxy, bucket: &str, key: &str, body: Vec<u8>) {
    let path = format!("/upload/{bucket}/{key}");
    let r = p
        .client
        .post(p.url(&path))
        .header(
            "Authorization",
            format!("riftv1 alice:{}", sign(ALICE, "POST", &path)),
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
}

fn tag<'a>(doc: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    doc.split(&open)
        .skip(1)
        .filter_map(|s| s.split(&close).next())
        .collect()
}

/// Every key of a public bucket, paging with `max-keys` through ListObjectsV2.
pub(crate) fn list_all(
    p: &Proxy,
    s3: &str,
    bucket: &str,
    prefix: &str,
    max_keys: usize,
) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100_000 {
        let mut url = format!("{s3}/{bucket}?list-type=2&max-keys={max_keys}&prefix={prefix}");
        if let Some(t) = &token {
            url.push_str(&format!("&continuation-token={t}"));
        }
        let r = p.client.get(&url).send().unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let doc = r.text().unwrap();
        let page = tag(&doc, "Key");
        assert!(page.len() <= max_keys, "{doc}");
        assert_eq!(tag(&doc, "KeyCount"), [page.len().to_string()], "{doc}");
        keys.extend(page.iter().map(|k| k.to_string()));
        match tag(&doc, "NextContinuationToken").first() {
            Some(t) => {
                assert_eq!(tag(&doc, "IsTruncated"), ["true"]);
                token = Some(t.to_string());
            }
            None => {
                assert_eq!(tag(&doc, "IsTruncated"), ["false"], "{doc}");
                return keys;
            }
        }
    }
    panic!("listing never ended");
}

fn python(script: &str, args: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn boto3_lists_with_prefix_delimiter_and_pages_through_two_proxies() {
    if !crate::common::boto3() {
        return;
    }
    let (s3a, s3b) = (free_port(), free_port());
    let p = Proxy::start(setup(s3a, json!({})));
    // Kept running: the script lists through it too.
    let _second = second_proxy(&p, s3b, json!({}));
    // Written through Backrunner's route, listed through S3.
    upload_signed(&p, "b1", "up/from-backrunner.bin", random_bytes(3000, 3));
    let out = python(
        "list_client.py",
        &[
            &format!("http://127.0.0.1:{s3a}"),
            &format!("http://127.0.0.1:{s3b}"),
        ],
    );
    let checks: u32 = out
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("OK "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OK line: {out}"));
    assert!(checks > 30, "only {checks} checks ran: {out}");
    // The writes reached the shards (several share a shard update now).
    p.index_merged();
    let stat = p.json("/proxy_stat/");
    assert!(
        stat["index"]["entries"].as_u64().unwrap() >= 8
            && stat["index"]["updates"].as_u64().unwrap() >= 1,
        "{}",
        stat["index"]
    );
    assert_eq!(stat["index"]["failures"], 0, "{}", stat["index"]);
}

#[test]
fn backrunner_writes_and_removals_show_in_listings() {
    let s3 = free_port();
    let p = Proxy::start(setup(s3, json!({"index-shard-entries": 8})));
    let s3 = format!("http://127.0.0.1:{s3}");
    let keys: Vec<String> = (0..40).map(|i| format!("d/k{i:02}")).collect();
    for k in &keys {
        assert_eq!(
            p.upload("pub", k, k.as_bytes().to_vec()).status(),
            200,
            "{k}"
        );
    }
    // /nobucket_upload/ picks "pub", the only listed bucket.
    let r = p
        .client
        .post(p.url("/nobucket_upload/nb/one"))
        .body("x")
        .send()
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().unwrap_or_default());
    let mut want: Vec<String> = keys.clone();
    want.push("nb/one".into());
    assert_eq!(list_all(&p, &s3, "pub", "", 7), want);
    assert_eq!(list_all(&p, &s3, "pub", "nb/", 1000), ["nb/one"]);
    // Size, ETag and time as HeadObject answers them.
    let doc = p
        .client
        .get(format!("{s3}/pub?list-type=2&prefix=d/k00"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let head = p.client.head(format!("{s3}/pub/d/k00")).send().unwrap();
    assert_eq!(head.status(), 200);
    let etag = head.headers()["etag"]
        .to_str()
        .unwrap()
        .replace('"', "&quot;");
    assert_eq!(tag(&doc, "ETag"), [etag.as_str()], "{doc}");
    assert_eq!(tag(&doc, "Size"), ["5"]);
    assert_eq!(tag(&doc, "StorageClass"), ["STANDARD"]);
    // /delete/ and /bulk_delete/ take entries out.
    assert_eq!(
        p.client
            .post(p.url("/delete/pub/d/k03"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let bulk: Vec<&String> = keys.iter().skip(10).collect();
    let r = p
        .client
        .post(p.url("/bulk_delete/pub"))
        .json(&json!({ "keys": bulk }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut left: Vec<String> = keys[..10].to_vec();
    left.retain(|k| k != "d/k03");
    left.push("nb/one".into());
    assert_eq!(list_all(&p, &s3, "pub", "", 4), left);
    // An overwrite through /upload/ changes the entry, not the count.
    assert_eq!(
        p.upload("pub", "d/k00", b"longer body".to_vec()).status(),
        200
    );
    let doc = p
        .client
        .get(format!("{s3}/pub?prefix=d/k00"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(tag(&doc, "Size"), ["11"], "{doc}");
    assert_eq!(list_all(&p, &s3, "pub", "", 1000).len(), left.len());
}

#[test]
fn eight_writers_through_two_proxies_lose_no_entry() {
    let (s3a, s3b) = (free_port(), free_port());
    let p = Proxy::start(setup(s3a, json!({"index-shard-entries": 16})));
    let q = second_proxy(&p, s3b, json!({}));
    let per_writer = 40;
    std::thread::scope(|s| {
        for w in 0..8 {
            let proxy = if w % 2 == 0 { &p } else { &q };
            s.spawn(move || {
                for i in 0..per_writer {
                    let k = format!("w{w}/{i:03}");
                    let r = proxy.upload("pub", &k, vec![b'x'; 10 + i]);
                    assert_eq!(r.status(), 200, "{k}");
                }
            });
        }
    });
    let mut want = BTreeSet::new();
    for w in 0..8 {
        for i in 0..per_writer {
            want.insert(format!("w{w}/{i:03}"));
        }
    }
    let s3a = format!("http://127.0.0.1:{s3a}");
    let s3b = format!("http://127.0.0.1:{s3b}");
    let listed_a = list_all(&p, &s3a, "pub", "", 1000);
    let listed_b = list_all(&q, &s3b, "pub", "", 97);
    let missing: Vec<&String> = want.iter().filter(|k| !listed_a.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?}; index {} / {}\nlogs:\n{}\n{}",
        p.json("/proxy_stat/")["index"],
        q.json("/proxy_stat/")["index"],
        p.log()
            .lines()
            .filter(|l| l.contains("index") || l.contains("ERROR") || l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n"),
        q.log()
            .lines()
            .filter(|l| l.contains("index") || l.contains("ERROR") || l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(listed_a.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(listed_a.len(), want.len(), "no duplicates");
    assert_eq!(listed_a, listed_b);
    // Listed at once from the proxies' logs; the same once merged into
    // the shards, which split on the way.
    let merged =
        p.index_merged()["merged"].as_u64().unwrap() + q.index_merged()["merged"].as_u64().unwrap();
    assert_eq!(merged, 8 * per_writer as u64);
    assert_eq!(list_all(&p, &s3a, "pub", "", 1000), listed_a);
    assert_eq!(list_all(&q, &s3b, "pub", "", 97), listed_a);
    let splits = |x: &Proxy| x.json("/proxy_stat/")["index"]["splits"].as_u64().unwrap();
    assert!(
        splits(&p) + splits(&q) >= 15,
        "shards split: {} + {}",
        splits(&p),
        splits(&q)
    );
    let conflicts = |x: &Proxy| {
        let i = &x.json("/proxy_stat/")["index"];
        i["attempts"].as_u64().unwrap() - i["updates"].as_u64().unwrap()
    };
    eprintln!(
        "compare-and-swap retries: {} + {}",
        conflicts(&p),
        conflicts(&q)
    );
    for x in [&p, &q] {
        let index = &x.json("/proxy_stat/")["index"];
        eprintln!("index counters: {index}");
        assert_eq!(index["failures"], 0, "{}", x.log());
    }
}

/// A proxy keeping the name index and a second one on its store with
/// `name-index: false`, each with its S3 endpoint.
fn index_on_and_off() -> (Proxy, String, Proxy, String) {
    let (s3a, s3b) = (free_port(), free_port());
    let p = Proxy::start(setup(s3a, json!({})));
    let off = second_proxy(&p, s3b, json!({"name-index": false}));
    let url = |port| format!("http://127.0.0.1:{port}");
    (p, url(s3a), off, url(s3b))
}

/// `proxy.name-index: false`: the proxy keeps no index (no store call for
/// it on a write), says so on a listing, and the objects it writes are
/// stored but not listed by a proxy that keeps the index.
#[test]
fn name_index_off_writes_no_entry_and_listing_says_why() {
    let (p, s3a, off, s3b) = index_on_and_off();
    assert_eq!(p.upload("pub", "on/a", b"a".to_vec()).status(), 200);
    assert_eq!(off.upload("pub", "off/b", b"bb".to_vec()).status(), 200);
    let r = off.client.get(off.url("/get/pub/off/b")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), b"bb");
    assert_eq!(list_all(&p, &s3a, "pub", "", 1000), ["on/a"]);
    assert!(off.json("/proxy_stat/")["index"].is_null());
    assert!(p.index_merged()["updates"].as_u64().unwrap() >= 1);
    let r = off
        .client
        .get(format!("{s3b}/pub?list-type=2"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 501);
    let doc = r.text().unwrap();
    assert_eq!(tag(&doc, "Code"), ["NotImplemented"], "{doc}");
    assert!(doc.contains("proxy.name-index is false"), "{doc}");
    // Its removals leave the index as it was, too.
    let r = off.client.post(off.url("/delete/pub/on/a")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(list_all(&p, &s3a, "pub", "", 1000), ["on/a"]);
}

/// `bindex -add`: objects written without the index (here through a proxy
/// with `name-index: false`) are entered from a key list, with the ETag
/// HeadObject answers (the MD5 of an S3 PutObject).
#[test]
fn add_indexes_existing_objects_from_a_key_list() {
    let (p, s3a, off, s3b) = index_on_and_off();
    assert_eq!(off.upload("pub", "old/a", b"abc".to_vec()).status(), 200);
    let r = off
        .client
        .put(format!("{s3b}/pub/old/s3"))
        .header("content-type", "text/plain")
        .body("via s3")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    assert!(list_all(&p, &s3a, "pub", "", 1000).is_empty());
    let (code, text) = bindex_with_input(&p, &["-add", "pub"], "old/a\nold/s3\nold/none\n");
    assert_eq!(code, Some(1), "one key is missing: {text}");
    assert!(text.contains("missing: old/none\n"), "{text}");
    assert!(text.contains("2 added, 1 missing, 0 failed"), "{text}");
    assert_eq!(list_all(&p, &s3a, "pub", "", 1000), ["old/a", "old/s3"]);
    let doc = p
        .client
        .get(format!("{s3a}/pub?list-type=2"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let heads: Vec<String> = ["old/a", "old/s3"]
        .iter()
        .map(|k| {
            let h = p.client.head(format!("{s3a}/pub/{k}")).send().unwrap();
            h.headers()["etag"].to_str().unwrap().replace('"', "&quot;")
        })
        .collect();
    assert_eq!(tag(&doc, "ETag"), heads, "{doc}");
    assert_eq!(tag(&doc, "Size"), ["3", "6"], "{doc}");
    let md5 = openssl::hash::hash(openssl::hash::MessageDigest::md5(), b"via s3").unwrap();
    assert_eq!(
        heads[1],
        format!("&quot;{}&quot;", backrunner::encoding::hex(&md5))
    );
    // Entered again: the same two entries, nothing missing.
    let (code, text) = bindex_with_input(&p, &["-add", "pub"], "old/a\nold/s3\n");
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(list_all(&p, &s3a, "pub", "", 1000).len(), 2);
    let (code, text) = bindex(&p, &["-check", "pub", "-add", "pub"]);
    assert_eq!(code, Some(2), "-check and -add together: {text}");
}

#[test]
fn aws_cli_s3_ls() {
    if !installed("aws", "--version") {
        return;
    }
    let s3 = free_port();
    let p = Proxy::start(setup(s3, json!({"index-shard-entries": 4})));
    for k in ["top.txt", "dir/a", "dir/b", "dir/sub/c"] {
        upload_signed(&p, "b1", k, k.as_bytes().to_vec());
    }
    let endpoint = format!("http://127.0.0.1:{s3}");
    let aws = |args: &[&str]| aws_cli(&p, &endpoint, "alice", ALICE, args);
    let top = aws(&["s3", "ls", "s3://b1/"]);
    assert!(
        top.contains("PRE dir/") && top.contains(" 7 top.txt"),
        "{top}"
    );
    let dir = aws(&["s3", "ls", "s3://b1/dir/"]);
    assert!(
        dir.contains("PRE sub/") && dir.contains(" a\n") && dir.contains(" b\n"),
        "{dir}"
    );
    let all = aws(&["s3", "ls", "--recursive", "--page-size", "2", "s3://b1/"]);
    let names: Vec<&str> = all
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(names, ["dir/a", "dir/b", "dir/sub/c", "top.txt"], "{all}");
    aws(&["s3", "rm", "s3://b1/dir/a"]);
    let dir = aws(&["s3", "ls", "s3://b1/dir/"]);
    assert!(!dir.contains(" a\n"), "{dir}");
}

/// Runs `bindex -config CONFIG ARGS...`; (exit code, stdout).
fn bindex(p: &Proxy, args: &[&str]) -> (Option<i32>, String) {
    bindex_with_input(p, args, "")
}

fn bindex_with_input(p: &Proxy, args: &[&str], input: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bindex"))
        .arg("-config")
        .arg(&p.config_path)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bindex");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn check_index_reports_and_drops_dangling_entries() {
    let s3 = free_port();
    let p = Proxy::start(setup(s3, json!({"index-shard-entries": 4})));
    for i in 0..12 {
        assert_eq!(
            p.upload("pub", &format!("c/{i:02}"), vec![1; 3]).status(),
            200
        );
    }
    let (code, text) = bindex(&p, &["-check", "pub"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("12 entries, 0 dangling"), "{text}");
    // Objects removed behind the index's back, through the store itself
    // (as any other client of the cluster can).
    let gone = ["c/03", "c/07", "c/11"];
    let config = backrunner::config::Config::load(&p.config_path).unwrap();
    let store = backrunner::storage::open(&config).unwrap();
    let ctx = backrunner::storage::Context::new("pub", vec![2, 3]);
    for k in gone {
        assert!(
            store.remove(&ctx, k).iter().all(|r| r.result.is_ok()),
            "{k}"
        );
    }
    drop(store);
    let (code, text) = bindex(&p, &["-check", "pub"]);
    assert_eq!(code, Some(1), "dangling entries remain: {text}");
    assert!(text.contains("12 entries, 3 dangling, 0 dropped"), "{text}");
    for k in gone {
        assert!(text.contains(&format!("dangling: {k}\n")), "{text}");
    }
    let s3 = format!("http://127.0.0.1:{s3}");
    assert_eq!(list_all(&p, &s3, "pub", "", 1000).len(), 12);
    let (code, text) = bindex(&p, &["-check", "pub", "-drop-dangling"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("3 dangling, 3 dropped"), "{text}");
    let listed = list_all(&p, &s3, "pub", "", 5);
    assert_eq!(listed.len(), 9);
    assert!(gone.iter().all(|g| !listed.contains(&g.to_string())));
    let (code, text) = bindex(&p, &["-check", "pub"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = bindex(&p, &["-check", "nosuchbucket"]);
    assert_eq!(code, Some(2), "{text}");
}
