//! ListObjectVersions of buckets without versioning (every object its
//! `null` version), `versionId=null` on object requests, and the listing
//! edge cases ceph/s3-tests found (`max-keys=0`, V1's Prefix with
//! `encoding-type=url`), through boto3 (tests/s3/versions_client.py).

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
    crate::common::client_script(&p, "versions_client.py", &format!("http://127.0.0.1:{s3}"));
}
