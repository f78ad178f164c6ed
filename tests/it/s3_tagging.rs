//! Object and bucket tagging, GetBucketVersioning, UploadPartCopy's
//! InvalidRange and PutObject bodies of unknown length (docs/s3.md),
//! through boto3 (tests/s3/tagging_client.py), aws-cli v2 (`s3 cp` and
//! `s3 mv` between S3 keys, which read the source's tags first) and
//! `rclone purge` (which reads the bucket's versioning).

use std::path::PathBuf;
use std::process::Command;

use crate::common::{free_port, random_bytes, sign, Proxy, Setup};
use crate::s3_cli::{rclone_env, run_both};
use serde_json::json;

const ALICE: &str = "alice-secret";

fn start() -> (Proxy, String) {
    let port = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [{"user": "alice", "token": ALICE, "flags": 2}]},
        }}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    (p, format!("http://127.0.0.1:{port}"))
}

fn backrunner(p: &Proxy, method: &str, path: &str, body: Option<Vec<u8>>) -> Vec<u8> {
    let auth = format!("riftv1 alice:{}", sign(ALICE, method, path));
    let r = match body {
        Some(b) => p.client.post(p.url(path)).body(b),
        None => p.client.get(p.url(path)),
    }
    .header("Authorization", auth)
    .send()
    .unwrap();
    assert_eq!(r.status(), 200, "{method} {path}");
    r.bytes().unwrap().to_vec()
}

#[test]
fn boto3_tags_versioning_copy_ranges_and_chunked_puts() {
    if !crate::common::boto3() {
        return;
    }
    let (p, endpoint) = start();
    let upload = "/upload/b1/from-backrunner.bin";
    backrunner(&p, "POST", upload, Some(random_bytes(5000, 3)));
    crate::common::client_script(&p, "tagging_client.py", &endpoint);
    let stat = p.json("/proxy_stat/");
    assert!(
        stat["handlers"]["s3_put_object_tagging"]["RS"]["200"].is_object(),
        "{}",
        stat["handlers"]
    );
}

/// aws-cli v2: Debian's `awscli` package (ci/install-deps.sh), which may
/// sit beside a pip aws-cli v1 earlier in PATH.
fn aws_v2() -> Option<PathBuf> {
    for candidate in ["aws", "/usr/bin/aws"] {
        let v = Command::new(candidate).arg("--version").output();
        if v.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("aws-cli/2")) {
            return Some(candidate.into());
        }
    }
    crate::common::missing("aws-cli v2 (Debian's awscli)");
    None
}

#[test]
fn aws_cli_v2_copies_and_moves_100_mib_keeping_tags() {
    let Some(aws) = aws_v2() else { return };
    let (p, endpoint) = start();
    let work = p.dir.path();
    let body = random_bytes(100 << 20, 26);
    let big = work.join("big.bin");
    std::fs::write(&big, &body).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&aws)
            .args(["--endpoint-url", &endpoint, "--region", "us-east-1"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "alice")
            .env("AWS_SECRET_ACCESS_KEY", ALICE)
            .env("AWS_CONFIG_FILE", work.join("no-aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", work.join("no-aws-creds"))
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .expect("aws");
        assert!(
            out.status.success(),
            "aws {args:?}: {}{}\nproxy log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            p.log()
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    run(&["s3", "cp", big.to_str().unwrap(), "s3://b1/big.bin"]);
    run(&[
        "s3api",
        "put-object-tagging",
        "--bucket",
        "b1",
        "--key",
        "big.bin",
        "--tagging",
        "TagSet=[{Key=project,Value=backrunner},{Key=size,Value=100MiB}]",
    ]);
    run(&["s3", "cp", "s3://b1/big.bin", "s3://b1/big-copy.bin"]);
    run(&["s3", "mv", "s3://b1/big-copy.bin", "s3://b1/big-moved.bin"]);
    let tags = |key: &str| {
        let out = run(&[
            "s3api",
            "get-object-tagging",
            "--bucket",
            "b1",
            "--key",
            key,
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["TagSet"].clone()
    };
    let want =
        json!([{"Key": "project", "Value": "backrunner"}, {"Key": "size", "Value": "100MiB"}]);
    assert_eq!(tags("big.bin"), want);
    assert_eq!(tags("big-moved.bin"), want, "tags kept by cp and mv");
    let listed = run(&["s3", "ls", "s3://b1/"]);
    assert!(
        !listed.contains("big-copy.bin") && listed.contains("big-moved.bin"),
        "mv removed its source: {listed}"
    );
    assert!(
        backrunner(&p, "GET", "/get/b1/big-moved.bin", None) == body,
        "the moved copy has the bytes"
    );
}

#[test]
fn rclone_purge_reports_no_error() {
    if !crate::common::installed("rclone", "version") {
        return;
    }
    let (p, endpoint) = crate::s3_cli::start();
    let work = p.dir.path().join("rclone");
    let env = rclone_env(&work, &endpoint);
    let file = crate::s3_cli::write_file(&work, "f.txt", b"purge me");
    run_both(&p, "rclone", &["mkdir", "s3t:purged"], &env);
    run_both(
        &p,
        "rclone",
        &["copyto", file.to_str().unwrap(), "s3t:purged/d/f.txt"],
        &env,
    );
    let (out, err) = run_both(&p, "rclone", &["purge", "s3t:purged"], &env);
    assert!(
        !out.contains("ERROR") && !err.contains("ERROR"),
        "rclone purge: {out}{err}"
    );
    let (buckets, _) = run_both(&p, "rclone", &["lsd", "s3t:"], &env);
    assert!(!buckets.contains("purged"), "{buckets}");
}
