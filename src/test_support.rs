//! Helpers shared by the unit tests of several modules (nothing of the
//! crate: a test helper that imports a module would close a cycle with it).

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

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
