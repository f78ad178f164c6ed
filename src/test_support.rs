//! Helpers shared by the unit tests of several modules.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{LocalConfig, LocalGroupConfig};
use crate::storage::local::LocalStore;

/// A header map of `(name, value)` pairs, in order (repeats appended).
pub fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_static(k),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// An embedded store in `dir` with `groups`, unlimited and writable.
pub fn local_store(dir: &std::path::Path, groups: &[u32]) -> LocalStore {
    LocalStore::open(&LocalConfig {
        path: dir.to_path_buf(),
        groups: groups
            .iter()
            .map(|&group| LocalGroupConfig {
                group,
                size_limit: 0,
                read_only: false,
                delay_ms: 0,
            })
            .collect(),
    })
    .unwrap()
}
