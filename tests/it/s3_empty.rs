//! Empty objects: stored on the embedded store; on Elliptics, which keeps
//! no zero-length record, an empty PutObject is refused (501) whether the
//! key is new or exists, and an existing object keeps its bytes, in GET and
//! in listings (ceph/s3-tests' `test_object_copy_zero_size` found the
//! overwrite answered 200 with the old bytes left).

use crate::common::{backend, free_port, Backend, Proxy, Setup};
use serde_json::json;

#[test]
fn empty_put_is_stored_or_refused_never_half_done() {
    let s3 = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "pub": {"groups": [1, 2], "acl": [{"user": "*", "token": "", "flags": 3}]},
        }}),
        bucket_list: vec!["pub".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{s3}")}),
        ..Setup::default()
    });
    let s3 = format!("http://127.0.0.1:{s3}/pub");
    let put = |key: &str, body: &'static str| {
        p.client
            .put(format!("{s3}/{key}"))
            .body(body)
            .send()
            .unwrap()
    };
    let get = |key: &str| {
        let r = p.client.get(format!("{s3}/{key}")).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let listed_size = |key: &str| {
        let doc = p
            .client
            .get(format!("{s3}?list-type=2&prefix={key}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        doc.split("<Size>")
            .nth(1)
            .and_then(|s| s.split("</Size>").next())
            .map(str::to_string)
    };
    assert_eq!(put("full", "123456789").status(), 200);
    let over = put("full", "");
    let over_status = over.status().as_u16();
    let over_text = over.text().unwrap();
    let new = put("new", "");
    let new_status = new.status().as_u16();
    if backend() == Backend::Elliptics {
        assert_eq!(over_status, 501, "{over_text}");
        assert!(
            over_text.contains("<Code>NotImplemented</Code>"),
            "{over_text}"
        );
        assert!(over_text.contains("empty objects"), "{over_text}");
        assert_eq!(get("full"), (200, "123456789".to_string()));
        assert_eq!(listed_size("full").as_deref(), Some("9"));
        assert_eq!(new_status, 501);
        assert_eq!(get("new").0, 404);
        assert_eq!(listed_size("new"), None);
    } else {
        assert_eq!(over_status, 200, "{over_text}");
        assert_eq!(get("full"), (200, String::new()));
        assert_eq!(listed_size("full").as_deref(), Some("0"));
        assert_eq!(new_status, 200);
        assert_eq!(get("new"), (200, String::new()));
    }
}
