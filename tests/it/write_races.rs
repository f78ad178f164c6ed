//! Concurrent writes of one key (issue 25, §2.4): 8 boto3 writers put and
//! delete the same 12 keys; afterwards each key's object, metadata
//! (ETag, Content-Type, `x-amz-meta-*`) and listing entry describe the
//! same write, or the key is gone from all of them
//! (tests/s3/concurrent_writes_client.py).

use crate::common::{free_port, Proxy, Setup};
use serde_json::json;

#[test]
fn concurrent_writes_of_one_key_agree_in_object_metadata_and_listing() {
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
    let out = crate::common::client_script(
        &p,
        "concurrent_writes_client.py",
        &format!("http://127.0.0.1:{port}"),
    );
    eprint!("{out}");
}
