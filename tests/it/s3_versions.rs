//! ListObjectVersions of buckets without versioning (every object its
//! `null` version), `versionId=null` on object requests, and the listing
//! edge cases ceph/s3-tests found (`max-keys=0`, V1's Prefix with
//! `encoding-type=url`), through boto3 (tests/s3/versions_client.py).

use std::process::Command;

use crate::common::{free_port, Proxy, Setup};
use serde_json::json;

#[test]
fn boto3_lists_null_versions_and_empties_a_bucket() {
    if !crate::common::boto3() {
        return;
    }
    let s3 = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [{"user": "alice", "token": "alice-secret", "flags": 2}]},
        }}),
        proxy: json!({"s3-address": format!("127.0.0.1:{s3}"), "index-shard-entries": 4}),
        bucket_list: vec!["b1".into()],
        ..Setup::default()
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/versions_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("http://127.0.0.1:{s3}"))
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK "),
        "versions_client.py failed:\n{stdout}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
}
