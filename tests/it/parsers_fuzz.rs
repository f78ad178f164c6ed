//! Property tests ("fuzz") over every parser of the HTTP surface: Range,
//! conditional headers, query and key decoding, routing, signatures,
//! MessagePack bucket metadata and the config. Each must accept any input
//! without panicking; round trips hold where a format has one.
//!
//! cargo-fuzz needs a nightly toolchain; proptest runs on stable, in CI, in
//! bounded time: `BACKRUNNER_FUZZ_CASES` cases per property (default 500,
//! 5 to 15 s in all for a debug build). Failing inputs are shrunk and printed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backrunner::auth::{
    self, parse_authorization, parse_query, query_escape, query_unescape, SignedRequest,
};
use backrunner::bucket::{parse_bucket_list, AclEntry, BucketMeta};
use backrunner::config::{parse_size, Config};
use backrunner::encoding::hex;
use backrunner::http::conditional::{self, Outcome, Preconditions, Validators};
use backrunner::http::range::{self, Ranges, MAX_RANGES};
use backrunner::rest::endpoint::Endpoint;
use backrunner::rest::upload::upload_offset;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("BACKRUNNER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // CI has no use for regression files in the work tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like header values: printable ASCII plus a few
/// troublemakers (control bytes, non-ASCII, separators).
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[0-9a-zA-Z=,; \"*/:+%W-]{0,60}",
    ]
}

/// Numbers near the edges as well as small ones.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..1000,
        any::<u64>(),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        (0u64..64).prop_map(|s| 1u64 << s),
    ]
}

/// `bytes=` followed by range-specs of every form, some malformed.
fn range_header() -> impl Strategy<Value = String> {
    let spec = prop_oneof![
        (number(), number()).prop_map(|(a, b)| format!("{a}-{b}")),
        number().prop_map(|a| format!("{a}-")),
        number().prop_map(|n| format!("-{n}")),
        Just("-".to_string()),
        Just(String::new()),
        "[ 0-9,-]{0,12}",
    ];
    // Many specs (around MAX_RANGES) only of the cheap numeric form.
    let many = prop::collection::vec(
        (number(), number()).prop_map(|(a, b)| format!("{a}-{}", a.saturating_add(b % 100))),
        MAX_RANGES - 5..MAX_RANGES + 5,
    );
    (
        prop_oneof![4 => prop::collection::vec(spec, 0..12), 1 => many],
        "[ ]{0,2}",
        prop_oneof![Just("bytes"), Just("BYTES"), Just("items")],
    )
        .prop_map(|(specs, ws, unit)| format!("{unit}={ws}{}", specs.join(",")))
}

fn object_size() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..10_000, number()]
}

fn check_ranges(value: &str, size: u64) {
    let _ = range::parse(value);
    match range::resolve(value, size) {
        Ranges::Full | Ranges::Unsatisfiable => {}
        Ranges::Partial(spans) => {
            assert!(!spans.is_empty(), "{value:?}: empty partial");
            assert!(
                spans.len() <= MAX_RANGES,
                "{value:?}: {} spans",
                spans.len()
            );
            for s in &spans {
                assert!(s.start < s.end, "{value:?} size {size}: empty span {s:?}");
                assert!(s.end <= size, "{value:?} size {size}: {s:?} past the end");
                let cr = s.content_range(size);
                assert!(cr.starts_with("bytes ") && cr.ends_with(&format!("/{size}")));
            }
        }
    }
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn range_any_text(value in header_text(), size in object_size()) {
        check_ranges(&value, size);
    }

    #[test]
    fn range_structured(value in range_header(), size in object_size()) {
        check_ranges(&value, size);
    }

    #[test]
    fn single_range_selects_the_asked_bytes(first in 0u64..5000, len in 1u64..5000, size in 1u64..10_000) {
        let last = first + len - 1;
        if let Ranges::Partial(spans) = range::resolve(&format!("bytes={first}-{last}"), size) {
            prop_assert_eq!(spans.len(), 1);
            prop_assert_eq!(spans[0].start, first);
            prop_assert_eq!(spans[0].end, (last + 1).min(size));
        } else {
            prop_assert!(first >= size, "bytes={}-{} of {} not partial", first, last, size);
        }
    }

    #[test]
    fn upload_range_any_text(value in header_text()) {
        let _ = upload_offset(Some(&value));
    }

    #[test]
    fn upload_range_round_trip(n in any::<u64>()) {
        prop_assert_eq!(upload_offset(Some(&format!("bytes={n}-"))).unwrap(), Some(n));
    }

    #[test]
    fn conditional_any_headers(
        im in proptest::option::of(header_text()),
        inm in proptest::option::of(header_text()),
        ims in proptest::option::of(header_text()),
        ius in proptest::option::of(header_text()),
        if_range in header_text(),
        etag in "\"[0-9a-f]{0,16}\"",
        secs in 0u64..253_402_300_799,
        get in any::<bool>(),
    ) {
        let v = Validators { etag, last_modified: UNIX_EPOCH + Duration::from_secs(secs) };
        let p = Preconditions {
            if_match: im.as_deref(),
            if_none_match: inm.as_deref(),
            if_modified_since: ims.as_deref(),
            if_unmodified_since: ius.as_deref(),
        };
        let _ = conditional::evaluate(&p, &v, get);
        let _ = conditional::if_range(&if_range, &v);
    }

    #[test]
    fn conditional_dates_and_tags_round_trip(secs in 0u64..253_402_300_799, tag in "[0-9a-f]{1,16}") {
        let v = Validators {
            etag: format!("\"{tag}\""),
            last_modified: UNIX_EPOCH + Duration::from_secs(secs),
        };
        let date = http_date(secs);
        let ims = Preconditions { if_modified_since: Some(&date), ..Default::default() };
        prop_assert_eq!(conditional::evaluate(&ims, &v, true), Outcome::NotModified);
        let inm = Preconditions { if_none_match: Some(&v.etag), ..Default::default() };
        prop_assert_eq!(conditional::evaluate(&inm, &v, true), Outcome::NotModified);
        let im = Preconditions { if_match: Some(&v.etag), ..Default::default() };
        prop_assert_eq!(conditional::evaluate(&im, &v, false), Outcome::Proceed);
        prop_assert!(conditional::if_range(&date, &v));
        prop_assert!(conditional::if_range(&v.etag, &v));
        let weak = format!("W/{}", v.etag);
        prop_assert!(!conditional::if_range(&weak, &v));
    }

    #[test]
    fn query_and_key_decoding_any_text(s in any::<String>(), raw in "[%+&=a-zA-Z0-9\u{80}-\u{10FFFF}]{0,40}") {
        let _ = query_unescape(&s);
        let _ = query_unescape(&raw);
        let _ = parse_query(&s);
        let _ = parse_query(&raw);
        let _ = parse_bucket_list(&s);
    }

    #[test]
    fn query_escape_round_trips(s in any::<String>()) {
        let escaped = query_escape(&s);
        prop_assert!(escaped.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%+".contains(&b)));
        prop_assert_eq!(query_unescape(&escaped), Some(s));
    }

    #[test]
    fn hex_is_lowercase_and_twice_as_long(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let h = hex(&bytes);
        prop_assert_eq!(h.len(), bytes.len() * 2);
        prop_assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn routing_any_path(path in prop_oneof![any::<String>(), "/[a-z_]{0,16}/[%a-zA-Z0-9/+.]{0,30}"]) {
        if let Ok(ep) = Endpoint::parse(&path) {
            let _ = (ep.name(), ep.methods(), ep.is_health_check());
        }
    }

    #[test]
    fn routing_round_trips_keys(bucket in "[a-zA-Z0-9_.-]{1,16}", key in "\\PC{1,40}") {
        // Backrunner decodes the path twice (Go's URL.Path, then QueryUnescape).
        let path = format!("/get/{bucket}/{}", query_escape(&query_escape(&key)));
        prop_assert_eq!(Endpoint::parse(&path).unwrap(), Endpoint::Get { bucket, key });
    }

    #[test]
    fn authorization_any_header(h in header_text()) {
        let (user, sig) = parse_authorization(Some(&h));
        prop_assert!(sig.is_some() || user == "*");
    }

    #[test]
    fn authorization_round_trips(user in "[a-zA-Z0-9_.@-]{1,20}", sig in "[0-9a-f]{0,128}") {
        let h = format!("riftv1 {user}:{sig}");
        prop_assert_eq!(parse_authorization(Some(&h)), (user, Some(sig)));
    }

    #[test]
    fn signature_check_any_request(
        method in "[A-Z]{0,8}",
        target in prop_oneof![any::<String>(), "/[a-z]{1,8}/[%a-z0-9/+]{0,20}(\\?[%a-z0-9=&+]{0,30})?"],
        auth_header in proptest::option::of(header_text()),
        headers in prop::collection::vec(("(x-ell-)?[a-zA-Z-]{1,10}", header_text()), 0..6),
        signtime_age in 0u64..3,
    ) {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let _ = auth::string_to_sign(&method, &target, headers.iter().copied());
        let mut acl = BTreeMap::new();
        acl.insert("u".to_string(), AclEntry { version: 1, user: "u".into(), token: "t".into(), flags: 2 });
        let bucket = BucketMeta { name: "b".into(), acl, groups: vec![1], ..Default::default() };
        let req = SignedRequest {
            method: &method,
            path_and_query: &target,
            authorization: auth_header.as_deref(),
            headers: headers.clone(),
            max_sign_age: signtime_age,
        };
        let _ = auth::check(&bucket, &req, true);
        let _ = req.check_signtime("u", SystemTime::now());
        // A correct signature is accepted for any request (without signtime).
        let sig = auth::signature("t", &method, &target, headers.iter().copied()).unwrap();
        let authz = format!("riftv1 u:{sig}");
        let signed = SignedRequest { authorization: Some(&authz), max_sign_age: 0, ..req };
        prop_assert!(auth::check(&bucket, &signed, true).is_ok());
    }

    #[test]
    fn bucket_metadata_any_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = BucketMeta::from_msgpack(&data);
    }

    #[test]
    fn bucket_metadata_mutated(meta in bucket_meta(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4)) {
        let mut data = meta.to_msgpack();
        for (i, b) in flips {
            let i = i.index(data.len());
            data[i] = b;
        }
        let _ = BucketMeta::from_msgpack(&data);
        let _ = BucketMeta::from_msgpack(&data[..data.len() / 2]);
    }

    #[test]
    fn bucket_metadata_round_trips(meta in bucket_meta()) {
        prop_assert_eq!(BucketMeta::from_msgpack(&meta.to_msgpack()).unwrap(), meta);
    }

    #[test]
    fn config_any_bytes(data in prop::collection::vec(any::<u8>(), 0..256), text in any::<String>()) {
        let _ = Config::from_slice(&data, "fuzz");
        let _ = Config::from_slice(text.as_bytes(), "fuzz");
    }

    #[test]
    fn config_mutated(at in any::<prop::sample::Index>(), insert in "[\\[\\]{}\",:0-9a-z. -]{0,6}", cut in any::<bool>()) {
        let mut text = VALID_CONFIG.to_string();
        let mut i = at.index(text.len());
        while !text.is_char_boundary(i) { i -= 1; }
        if cut { text.truncate(i) } else { text.insert_str(i, &insert) }
        if let Ok(c) = Config::from_slice(text.as_bytes(), "fuzz") {
            // Whatever parses is usable: it validates and has a store.
            prop_assert!(c.validate().is_ok());
            let g = backrunner::config::Guarded::new(&c, std::path::Path::new("/etc/backrunner/config.json"), None);
            let _ = c.root_warning(&g);
            let _ = c.check_root_change(&["/srv/www"], &g);
            let _ = c.restart_only_changes(&Config::default());
        }
    }

    #[test]
    fn config_values_of_any_type(key in prop::sample::select(PROXY_KEYS), value in json_value()) {
        let mut v: serde_json::Value = serde_json::from_str(VALID_CONFIG).unwrap();
        v["proxy"][key] = value;
        let _ = Config::from_slice(v.to_string().as_bytes(), "fuzz");
    }

    #[test]
    fn sizes_any_text(s in header_text()) {
        let _ = parse_size(&s);
    }

    #[test]
    fn sizes_round_trip(n in 0u64..(1 << 40), unit in prop::sample::select(&[("", 1u64), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)][..])) {
        let want = n.checked_mul(unit.1);
        let got = parse_size(&format!("{n}{}", unit.0)).ok();
        prop_assert_eq!(got, want);
    }
}

const VALID_CONFIG: &str = r#"{"elliptics": {"metadata-groups": [1], "log-level": "error"},
 "proxy": {"address": "127.0.0.1:9090", "idle-timeout": 5, "headers": {"X-A": "b"},
   "content-types": {".mp4": "video/mp4"}, "redirect-token": "t", "root": ""},
 "local": {"path": "/var/lib/backrunner", "groups": [{"group": 1, "size-limit": "10G"}]}}"#;

const PROXY_KEYS: &[&str] = &[
    "address",
    "idle-timeout",
    "free-space-ratio-soft",
    "redirect-port",
    "headers",
    "root",
    "content-types",
    "admin-user",
    "max-connections",
    "body-min-bytes-per-second",
    "signature-max-age",
    "recover-on-read",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn bucket_meta() -> impl Strategy<Value = BucketMeta> {
    let entry = ("[a-z*]{1,8}", any::<String>(), 0u64..8, 1u64..3);
    (
        1u64..3,
        any::<String>(),
        prop::collection::vec(entry, 0..4),
        prop::collection::vec(any::<u32>(), 0..5),
        number(),
        number(),
        number(),
        prop::array::uniform3(number()),
    )
        .prop_map(
            |(version, name, acl, groups, flags, max_size, max_key_num, reserved)| {
                let acl = acl
                    .into_iter()
                    .map(|(user, token, flags, version)| {
                        (
                            user.clone(),
                            AclEntry {
                                version,
                                user,
                                token,
                                flags,
                            },
                        )
                    })
                    .collect();
                BucketMeta {
                    version,
                    name,
                    acl,
                    groups,
                    flags,
                    max_size,
                    max_key_num,
                    reserved,
                }
            },
        )
}
