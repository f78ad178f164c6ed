//! Multipart uploads, CopyObject and conditional writes of the S3 API
//! (docs/s3.md) driven by boto3 (tests/s3/multipart_client.py) and aws-cli;
//! the objects they complete read back through Backrunner's `/get/`, Range
//! included, as one object.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::common::{aws_cli, free_port, installed, random_bytes, sign, Proxy, Setup};
use serde_json::{json, Value};

const ALICE: &str = "alice-secret";

/// b1: alice writes, reader reads; b2: alice reads, anyone reads; b3: bob's only.
fn start(extra: Value) -> (Proxy, String) {
    let port = free_port();
    let mut proxy = json!({"s3-address": format!("127.0.0.1:{port}")});
    if let (Some(p), Some(e)) = (proxy.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [
                {"user": "alice", "token": ALICE, "flags": 2},
                {"user": "reader", "token": "reader-secret", "flags": 0}]},
            "b2": {"groups": [2, 3], "acl": [
                {"user": "alice", "token": ALICE, "flags": 0},
                {"user": "*", "token": "", "flags": 1}]},
            "b3": {"groups": [3], "acl": [{"user": "bob", "token": "bob-secret", "flags": 2}]},
        }}),
        bucket_list: vec!["b1".into(), "b2".into(), "b3".into()],
        proxy,
        ..Setup::default()
    });
    (p, format!("http://127.0.0.1:{port}"))
}

/// `/get/B/K` signed by alice, with an optional Range; answers status and body.
fn backrunner_get(p: &Proxy, bucket: &str, key: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let path = format!("/get/{bucket}/{key}");
    let mut req = p.client.get(p.url(&path)).header(
        "Authorization",
        format!("riftv1 alice:{}", sign(ALICE, "GET", &path)),
    );
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let r = req.send().unwrap();
    (r.status().as_u16(), r.bytes().unwrap().to_vec())
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(name)
        .display()
        .to_string()
}

fn run_client(p: &Proxy, endpoint: &str, mode: &str) -> String {
    let out = Command::new("python3")
        .arg(script("multipart_client.py"))
        .arg(endpoint)
        .arg(p.dir.path())
        .arg(mode)
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "multipart client ({mode}) failed:\n{stdout}\n{stderr}\nproxy log:\n{}",
        p.log()
    );
    eprintln!("{stderr}");
    stdout
}

fn ok_checks(stdout: &str) -> u32 {
    stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("OK "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OK line: {stdout}"))
}

#[test]
fn boto3_multipart_copy_and_conditional_writes() {
    if !crate::common::boto3() {
        return;
    }
    let (p, endpoint) = start(json!({}));
    let data = random_bytes(100 << 20, 161);
    std::fs::write(p.dir.path().join("big.bin"), &data).unwrap();
    let stdout = run_client(&p, &endpoint, "all");
    assert!(ok_checks(&stdout) >= 60, "{stdout}");

    // The completed upload is one plain object for Backrunner's /get/.
    let (status, body) = backrunner_get(&p, "b1", "mp/big.bin", None);
    assert_eq!(status, 200);
    assert!(body == data, "/get/ of the completed upload differs");
    for (first, last) in [
        (0u64, 99u64),
        ((8 << 20) - 10, (8 << 20) + 9),
        ((96 << 20) + 1, (100 << 20) - 1),
        (12_345_678, 45_678_901),
    ] {
        let (status, body) = backrunner_get(
            &p,
            "b1",
            "mp/big.bin",
            Some(&format!("bytes={first}-{last}")),
        );
        assert_eq!(status, 206, "range {first}-{last}");
        assert!(
            body == data[first as usize..=last as usize],
            "range {first}-{last} differs"
        );
    }
    // The server-side copy of it too.
    let (status, body) = backrunner_get(&p, "b1", "cp/big", Some("bytes=99999990-"));
    assert_eq!(status, 206);
    assert_eq!(body, &data[99_999_990..]);
    let stat = p.json("/proxy_stat/");
    for h in [
        "s3_create_multipart_upload",
        "s3_upload_part",
        "s3_complete_multipart_upload",
        "s3_copy_object",
        "s3_upload_part_copy",
    ] {
        assert!(
            stat["handlers"][h]["RS"]["200"].is_object(),
            "{h}: {}",
            stat["handlers"]
        );
    }
}

#[test]
fn abandoned_uploads_are_removed_after_the_configured_age() {
    if !crate::common::boto3() {
        return;
    }
    let (p, endpoint) = start(json!({"s3-multipart-max-age": 2}));
    let stdout = run_client(&p, &endpoint, "cleanup");
    assert!(ok_checks(&stdout) >= 4, "{stdout}");
    assert!(p.log().contains("s3-multipart-max-age"), "{}", p.log());
}

/// aws-cli `s3 cp` of a large file both ways (multipart at its 8 MiB
/// threshold, 10 parts in flight), read back through `/get/`.
/// `S3_MULTIPART_CLI_MIB` sets the size (default 1024).
#[test]
fn aws_cli_cp_of_a_large_file() {
    if !installed("aws", "--version") {
        return;
    }
    let mib: usize = std::env::var("S3_MULTIPART_CLI_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let (p, endpoint) = start(json!({}));
    let work = p.dir.path();
    let data = random_bytes(mib << 20, 162);
    std::fs::write(work.join("up.bin"), &data).unwrap();
    let aws = |args: &[&str]| {
        aws_cli(&p, &endpoint, "alice", ALICE, args);
    };
    let up = work.join("up.bin").display().to_string();
    let started = Instant::now();
    aws(&["s3", "cp", &up, "s3://b1/cli/large.bin"]);
    let up_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(work.join("up.bin")).unwrap();
    let (first, last) = ((mib << 20) / 2 - 5, (mib << 20) / 2 + 5);
    let (status, body) = backrunner_get(
        &p,
        "b1",
        "cli/large.bin",
        Some(&format!("bytes={first}-{last}")),
    );
    assert_eq!(status, 206);
    assert_eq!(body, &data[first..=last]);
    let down = work.join("down.bin").display().to_string();
    let started = Instant::now();
    aws(&["s3", "cp", "s3://b1/cli/large.bin", &down]);
    let down_secs = started.elapsed().as_secs_f64();
    let got = std::fs::read(work.join("down.bin")).unwrap();
    assert!(got == data, "aws s3 cp download differs");
    eprintln!(
        "aws s3 cp {mib} MiB: up {up_secs:.1} s ({:.0} MiB/s), down {down_secs:.1} s",
        mib as f64 / up_secs
    );
}

/// rclone (Debian's package): `copyto` of a 300 MiB file (multipart past
/// its 200 MiB cutoff, 5 MiB chunks, 4 in flight), a server-side copy, and
/// a modification-time update of the unchanged file, which rclone makes by
/// copying the object onto itself with new metadata.
#[test]
fn rclone_multipart_and_server_side_copy() {
    if !installed("rclone", "version") {
        return;
    }
    let (p, endpoint) = start(json!({}));
    let work = p.dir.path();
    let data = random_bytes(300 << 20, 163);
    let file = work.join("rc.bin");
    std::fs::write(&file, &data).unwrap();
    let rclone = |args: &[&str]| {
        let out = Command::new("rclone")
            .args(args)
            .args(["--config", "/dev/null", "-v"])
            // Set on some machines for HTTPS; rclone 1.60 then fails on any endpoint.
            .env_remove("AWS_CA_BUNDLE")
            .env("RCLONE_CONFIG_S3_TYPE", "s3")
            .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
            .env("RCLONE_CONFIG_S3_ENDPOINT", &endpoint)
            .env("RCLONE_CONFIG_S3_REGION", "us-east-1")
            // The bucket exists; CreateBucket needs the admin flag.
            .env("RCLONE_CONFIG_S3_NO_CHECK_BUCKET", "true")
            .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "alice")
            .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", ALICE)
            .output()
            .expect("rclone");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "rclone {args:?}: {text}\nproxy log:\n{}",
            p.log()
        );
        text
    };
    let src = file.display().to_string();
    let started = Instant::now();
    rclone(&["copyto", &src, "s3:b1/rc/big.bin"]);
    eprintln!(
        "rclone copyto 300 MiB: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let stat = p.json("/proxy_stat/");
    assert!(
        stat["handlers"]["s3_complete_multipart_upload"]["RS"]["200"].is_object(),
        "rclone used multipart: {}",
        stat["handlers"]
    );
    let (status, body) = backrunner_get(&p, "b1", "rc/big.bin", Some("bytes=209715190-209715209"));
    assert_eq!(status, 206);
    assert_eq!(body, &data[209_715_190..209_715_210]);
    // Server-side copy.
    rclone(&["copyto", "s3:b1/rc/big.bin", "s3:b1/rc/copy.bin"]);
    assert!(
        p.json("/proxy_stat/")["handlers"]["s3_copy_object"]["RS"]["200"].is_object(),
        "rclone copied server-side"
    );
    let (status, body) = backrunner_get(&p, "b1", "rc/copy.bin", None);
    assert_eq!(status, 200);
    assert!(body == data, "the server-side copy differs");
    // The same bytes with another mtime: rclone sets the mtime in place.
    let touched = Command::new("touch")
        .args(["-d", "2001-02-03 04:05:06 UTC", &src])
        .status()
        .unwrap();
    assert!(touched.success());
    let log = rclone(&["copyto", &src, "s3:b1/rc/copy.bin"]);
    assert!(
        !log.contains("Copied (replaced existing)"),
        "rclone uploaded again instead of setting the mtime: {log}"
    );
    let stat = rclone(&["lsjson", "--stat", "s3:b1/rc/copy.bin"]);
    assert!(stat.contains("2001-02-03T04:05:06"), "{stat}");
    let (_, body) = backrunner_get(&p, "b1", "rc/copy.bin", None);
    assert!(body == data, "the object changed with its mtime");
    // One copy to rc/copy.bin, one onto itself for the mtime; no new upload.
    assert_eq!(served(&p, "s3_copy_object"), 2.0);
    assert_eq!(served(&p, "s3_complete_multipart_upload"), 1.0);
}

/// Requests of an S3 handler answered 2xx, from `/metrics`.
fn served(p: &Proxy, handler: &str) -> f64 {
    let text = p
        .client
        .get(p.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find(|l| {
            l.starts_with("backrunner_http_requests_total{")
                && l.contains(&format!("handler=\"{handler}\""))
                && l.contains("class=\"2xx\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}
