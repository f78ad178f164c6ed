//! GetObject/HeadObject `?partNumber=N`, GetObjectAttributes and a retried
//! CompleteMultipartUpload (docs/s3.md), through boto3
//! (tests/s3/parts_client.py) on a 3-part upload.

use std::process::Command;

use crate::common::{free_port, Proxy, Setup};
use serde_json::json;

#[test]
fn boto3_reads_parts_and_attributes_and_retries_complete() {
    let port = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [{"user": "alice", "token": "alice-secret", "flags": 2}]},
        }}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/parts_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK "),
        "parts_client.py failed:\n{stdout}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
}
