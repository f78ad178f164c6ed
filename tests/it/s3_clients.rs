//! Real S3 clients against the proxy (docs/s3.md): boto3 creating and
//! deleting buckets and objects (tests/s3/boto3_buckets.py), and the
//! command-line clients aws-cli, rclone and s3cmd, each as a user would run
//! it. ci/install-deps.sh installs them; a missing client fails its test
//! naming the install step, so nothing passes without running.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{free_port, Proxy, Setup};
use serde_json::json;

/// The admin bucket: `admin` has flag 4 there (may create and delete
/// buckets), `plain` is an S3 user without it.
pub const ADMIN_BUCKET: &str = "s3-users";

/// A proxy with the S3 listener, the admin bucket, an existing bucket `bobs-bucket`
/// that belongs to `bob`, and the bucket list held in the cluster.
pub fn start_with_admin(region: &str) -> (Proxy, String) {
    start_with_admin_groups(region, &[])
}

/// Like `start_with_admin`, with `proxy.s3-default-groups` (empty: placement
/// picks the groups of new buckets).
pub fn start_with_admin_groups(region: &str, groups: &[u32]) -> (Proxy, String) {
    let port = free_port();
    let mut p = Proxy::prepare(Setup {
        buckets: json!({"buckets": {
            ADMIN_BUCKET: {"groups": [1], "acl": [
                {"user": "admin", "token": "admin-secret", "flags": 6},
                {"user": "plain", "token": "plain-secret", "flags": 0}]},
            "bobs-bucket": {"groups": [1, 2], "acl": [{"user": "bob", "token": "bob-secret", "flags": 2}]},
        }}),
        bucket_list: vec!["bobs-bucket".into()],
        proxy: json!({
            "s3-address": format!("127.0.0.1:{port}"),
            "s3-region": region,
            "s3-admin-bucket": ADMIN_BUCKET,
            "s3-default-groups": groups,
        }),
        ..Setup::default()
    });
    let mut cfg = p.config();
    cfg["elliptics"]["bucket-list-key"] = json!("bucket-list");
    p.write_config(&cfg);
    p.spawn();
    (p, format!("http://127.0.0.1:{port}"))
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(name)
        .display()
        .to_string()
}

/// Asserts a client run succeeded, showing its output and the proxy log.
pub fn assert_ran(what: &str, out: &Output, p: &Proxy) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    stdout
}

fn checks_of(stdout: &str) -> u32 {
    stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("OK "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OK line: {stdout}"))
}

#[test]
fn boto3_creates_buckets_and_deletes_objects() {
    if !crate::common::boto3() {
        return;
    }
    let (mut p, endpoint) = start_with_admin("eu-test-1");
    let run = |p: &Proxy, phase: &str| {
        let out = Command::new("python3")
            .arg(script("boto3_buckets.py"))
            .arg(&endpoint)
            .arg(phase)
            .output()
            .expect("python3 (ci/install-deps.sh installs it with boto3)");
        checks_of(&assert_ran(&format!("boto3_buckets.py {phase}"), &out, p))
    };
    assert!(run(&p, "create") >= 15);

    // The bucket is Backrunner bucket metadata, readable by bmeta.
    let out = p.bmeta(&["-bucket", "made-by-s3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bmeta: {text}");
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(meta["name"], "made-by-s3");
    assert_eq!(
        meta["acl"][0],
        json!({"version": 1, "user": "admin", "token": "admin-secret", "flags": 6}),
        "the creator gets full rights"
    );
    // Placement picked the groups of the one listed bucket.
    assert_eq!(meta["groups"], json!([1, 2]));

    // A restart reads the bucket list from the cluster (the -buckets file
    // does not name the new bucket), then a SIGHUP reload keeps it.
    p.restart();
    p.signal("HUP");
    assert!(run(&p, "after-restart") >= 20);
    let stat = p.json("/proxy_stat/");
    assert!(
        stat["handlers"]["s3_delete_objects"]["RS"]["200"].is_object()
            && stat["handlers"]["s3_delete_bucket"]["RS"]["409"].is_object()
            && stat["handlers"]["s3_delete_bucket"]["RS"]["204"].is_object(),
        "{}",
        stat["handlers"]
    );
}

#[test]
fn bucket_creation_is_off_without_an_admin_bucket() {
    if !crate::common::boto3() {
        return;
    }
    let port = free_port();
    let _p = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1], "acl": [
            {"user": "admin", "token": "admin-secret", "flags": 6}]}}}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            r#"
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
c = boto3.client("s3", endpoint_url="http://127.0.0.1:{port}", aws_access_key_id="admin",
    aws_secret_access_key="admin-secret", region_name="us-east-1",
    config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}}))
try:
    c.create_bucket(Bucket="newbucket")
    raise SystemExit("created without proxy.s3-admin-bucket")
except ClientError as e:
    assert e.response["Error"]["Code"] == "AccessDenied", e.response
    assert "s3-admin-bucket" in e.response["Error"]["Message"], e.response
print("OK 1")
"#
        ))
        .output()
        .expect("python3");
    assert_eq!(checks_of(&assert_ran("python3", &out, &_p)), 1);
}
