//! GetObject/HeadObject `?partNumber=N`, GetObjectAttributes and a retried
//! CompleteMultipartUpload (docs/s3.md), through boto3
//! (tests/s3/parts_client.py) on a 3-part upload.

use crate::common::{free_port, Proxy, Setup};
use serde_json::json;

#[test]
fn boto3_reads_parts_and_attributes_and_retries_complete() {
    if !crate::common::boto3() {
        return;
    }
    let port = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [{"user": "alice", "token": "alice-secret", "flags": 2}]},
        }}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    crate::common::client_script(&p, "parts_client.py", &format!("http://127.0.0.1:{port}"));
}
