//! Routing: the handler is the first path segment; bucket and key follow.
//! The path is decoded as Backrunner decodes it: Go's server percent-decodes
//! it once (`URL.Path`) and Backrunner runs `url.QueryUnescape` over that, so
//! `+` and `%2B` are spaces, and a plus is `%252B`. Existing clients and the
//! keys they stored rely on it.

use actix_web::http::Method;

use super::error::ApiError;
use crate::encoding::query_unescape;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/upload/BUCKET/KEY`
    Upload {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `/nobucket_upload/KEY`
    NobucketUpload {
        /// Object key.
        key: String,
    },
    /// `/get/BUCKET/KEY`
    Get {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `/lookup/BUCKET/KEY`
    Lookup {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `/redirect/BUCKET/KEY`
    Redirect {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `/delete/BUCKET/KEY`
    Delete {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
    /// `/bulk_delete/BUCKET`
    BulkDelete {
        /// Bucket name.
        bucket: String,
    },
    /// `/ping/`
    Ping,
    /// `/stat/` or `/stat/b1,b2`
    Stat {
        /// Buckets to show; empty = all.
        buckets: Vec<String>,
    },
    /// `/proxy_stat/`
    ProxyStat,
    /// `/metrics`: Prometheus text format.
    Metrics,
    /// `/status/`: the operator's HTML page (`crate::status`).
    Status,
    /// `/update_local_config/`
    UpdateLocalConfig,
    /// Anything else: a file under `proxy.root`.
    Static {
        /// The raw request path.
        path: String,
    },
}

const GET: &[Method] = &[Method::GET, Method::HEAD];
const WRITE: &[Method] = &[Method::POST, Method::PUT];
const POST: &[Method] = &[Method::POST];

/// A raw request path as Backrunner sees it: `url.QueryUnescape` of Go's
/// once-decoded `URL.Path`.
pub fn backrunner_unescape(raw: &str) -> Result<String, ApiError> {
    let bad = |what: &str| ApiError::BadRequest(format!("could not unescape URL: {what}"));
    if !valid_escapes(raw) {
        return Err(bad("malformed percent escape"));
    }
    let once = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("not UTF-8"))?;
    query_unescape(&once).ok_or_else(|| bad("malformed percent escape or not UTF-8 after decoding"))
}

/// Every `%` starts a two-digit hex escape.
fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
    })
}

fn bucket_and_key(rest: &str) -> Result<(String, String), ApiError> {
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ApiError::BadRequest("no bucket in the path".into()));
    }
    if key.is_empty() {
        return Err(ApiError::BadRequest("empty key".into()));
    }
    Ok((bucket.to_string(), key.to_string()))
}

impl Endpoint {
    /// Routes a raw request path (without the query).
    pub fn parse(path: &str) -> Result<Endpoint, ApiError> {
        let decoded = backrunner_unescape(path)?;
        let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
        let (handler, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let ep = match handler {
            "upload" => {
                let (bucket, key) = bucket_and_key(rest)?;
                Endpoint::Upload { bucket, key }
            }
            "nobucket_upload" => {
                if rest.is_empty() {
                    return Err(ApiError::BadRequest("empty key".into()));
                }
                Endpoint::NobucketUpload {
                    key: rest.to_string(),
                }
            }
            "get" => {
                let (bucket, key) = bucket_and_key(rest)?;
                Endpoint::Get { bucket, key }
            }
            "lookup" => {
                let (bucket, key) = bucket_and_key(rest)?;
                Endpoint::Lookup { bucket, key }
            }
            "redirect" => {
                let (bucket, key) = bucket_and_key(rest)?;
                Endpoint::Redirect { bucket, key }
            }
            "delete" => {
                let (bucket, key) = bucket_and_key(rest)?;
                Endpoint::Delete { bucket, key }
            }
            "bulk_delete" => {
                let bucket = rest.trim_end_matches('/').to_string();
                if bucket.is_empty() || bucket.contains('/') {
                    return Err(ApiError::BadRequest(
                        "bulk_delete wants /bulk_delete/BUCKET".into(),
                    ));
                }
                Endpoint::BulkDelete { bucket }
            }
            "ping" if rest.is_empty() => Endpoint::Ping,
            // Backrunner's /ping/ is /stat/: `/ping/b1,b2` names buckets too.
            "stat" | "ping" => Endpoint::Stat {
                buckets: rest
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|b| !b.is_empty())
                    .map(str::to_string)
                    .collect(),
            },
            // Backrunner ignores whatever follows these handler names.
            "proxy_stat" => Endpoint::ProxyStat,
            "metrics" if rest.is_empty() => Endpoint::Metrics,
            "status" if rest.is_empty() => Endpoint::Status,
            "update_local_config" => Endpoint::UpdateLocalConfig,
            _ => Endpoint::Static {
                path: path.to_string(),
            },
        };
        Ok(ep)
    }

    /// Handler names `/proxy_stat/` always lists, requested or not: every
    /// [`Endpoint::name`], plus Backrunner's `exit` and `profile`, which this
    /// proxy does not serve (their `RS` stays empty), so the list holds
    /// every name Backrunner's has.
    pub const HANDLER_NAMES: &'static [&'static str] = &[
        "/",
        "bulk_delete",
        "delete",
        "exit",
        "get",
        "lookup",
        "metrics",
        "nobucket_upload",
        "ping",
        "profile",
        "proxy_stat",
        "redirect",
        "stat",
        "status",
        "update_local_config",
        "upload",
    ];

    /// Handler name, as `/proxy_stat/` counts requests.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::Upload { .. } => "upload",
            Endpoint::NobucketUpload { .. } => "nobucket_upload",
            Endpoint::Get { .. } => "get",
            Endpoint::Lookup { .. } => "lookup",
            Endpoint::Redirect { .. } => "redirect",
            Endpoint::Delete { .. } => "delete",
            Endpoint::BulkDelete { .. } => "bulk_delete",
            Endpoint::Ping => "ping",
            Endpoint::Stat { .. } => "stat",
            Endpoint::ProxyStat => "proxy_stat",
            Endpoint::Metrics => "metrics",
            Endpoint::Status => "status",
            Endpoint::UpdateLocalConfig => "update_local_config",
            // Backrunner's name for its file-serving handler.
            Endpoint::Static { .. } => "/",
        }
    }

    /// Monitoring routes, still served above `proxy.max-connections`.
    pub fn is_health_check(&self) -> bool {
        matches!(
            self,
            Endpoint::Ping
                | Endpoint::Stat { .. }
                | Endpoint::ProxyStat
                | Endpoint::Metrics
                | Endpoint::Status
        )
    }

    /// Methods served on this endpoint.
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Endpoint::Upload { .. }
            | Endpoint::NobucketUpload { .. }
            | Endpoint::Delete { .. }
            | Endpoint::BulkDelete { .. } => WRITE,
            Endpoint::UpdateLocalConfig => POST,
            _ => GET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Endpoint {
        Endpoint::parse(s).unwrap()
    }

    #[test]
    fn every_handler_name_is_listed() {
        for path in [
            "/upload/b/k",
            "/nobucket_upload/k",
            "/get/b/k",
            "/lookup/b/k",
            "/redirect/b/k",
            "/delete/b/k",
            "/bulk_delete/b",
            "/ping/",
            "/stat/",
            "/proxy_stat/",
            "/metrics",
            "/status/",
            "/update_local_config/",
            "/index.html",
        ] {
            let name = p(path).name();
            assert!(Endpoint::HANDLER_NAMES.contains(&name), "{path}: {name}");
        }
    }

    #[test]
    fn keys_decode_as_backrunner() {
        // Go's URL.Path decoding, then url.QueryUnescape.
        assert_eq!(
            p("/get/b1/dir/a+b%20c%2Fd%2525"),
            Endpoint::Get {
                bucket: "b1".into(),
                key: "dir/a b c/d%".into()
            }
        );
        for (raw, key) in [
            ("a%2Bb", "a b"),
            ("a%252Bb", "a+b"),
            ("100%2525", "100%"),
            ("%25D1%2582", "т"),
            ("x%2Fy", "x/y"),
        ] {
            assert_eq!(
                p(&format!("/get/b1/{raw}")),
                Endpoint::Get {
                    bucket: "b1".into(),
                    key: key.into()
                },
                "{raw}"
            );
        }
        // %2F splits after decoding, as in Backrunner.
        assert_eq!(
            p("/get/b1%2Fk"),
            Endpoint::Get {
                bucket: "b1".into(),
                key: "k".into()
            }
        );
        assert_eq!(
            p("/ping/b1,b2"),
            Endpoint::Stat {
                buckets: vec!["b1".into(), "b2".into()]
            }
        );
        assert_eq!(p("/proxy_stat/x"), Endpoint::ProxyStat);
        assert_eq!(
            p("/upload/b/%D1%82%D0%B5%D1%81%D1%82"),
            Endpoint::Upload {
                bucket: "b".into(),
                key: "тест".into()
            }
        );
        assert_eq!(
            p("/nobucket_upload/k"),
            Endpoint::NobucketUpload { key: "k".into() }
        );
        assert_eq!(
            p("/bulk_delete/b/"),
            Endpoint::BulkDelete { bucket: "b".into() }
        );
        assert_eq!(
            p("/stat/b1,b2"),
            Endpoint::Stat {
                buckets: vec!["b1".into(), "b2".into()]
            }
        );
        assert_eq!(p("/stat/"), Endpoint::Stat { buckets: vec![] });
        assert_eq!(p("/ping/"), Endpoint::Ping);
        assert_eq!(p("/ping"), Endpoint::Ping);
        assert_eq!(p("/metrics"), Endpoint::Metrics);
        assert_eq!(p("/status/"), Endpoint::Status);
        assert_eq!(p("/status"), Endpoint::Status);
        assert_eq!(
            p("/index.html"),
            Endpoint::Static {
                path: "/index.html".into()
            }
        );
    }

    #[test]
    fn bad_paths() {
        for bad in [
            "/get/b1/",
            "/get/b1",
            "/get//k",
            "/upload/b/%zz",
            // a literal % left after the first decoding
            "/get/b/100%25",
            "/get/b/%25zz",
            "/nobucket_upload/",
            "/bulk_delete/",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
