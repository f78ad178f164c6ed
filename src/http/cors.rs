//! CORS from a config list of rules shaped like S3's CORSRule
//! (`proxy.s3-cors`, `proxy.vod-cors`; checked by `config::cors`), for
//! every API that has one: a preflight `OPTIONS` answered from the first
//! matching rule ([`preflight`]; a refusal is a [`CorsError`] each API
//! words its own way), the `Access-Control-*` headers added to actual
//! replies for allowed origins and `Vary: Origin` on every reply, errors
//! included ([`decorate`]).

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, VARY};
use actix_web::HttpResponse;

pub use crate::config::cors::CorsRule;

/// Why a preflight is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// Without `Origin` or `Access-Control-Request-Method`.
    #[error("a preflight needs the Origin and Access-Control-Request-Method request headers")]
    Incomplete,
    /// The listener has no rule (the config key is named).
    #[error("CORS is not enabled on this listener ({0})")]
    Disabled(&'static str),
    /// No rule allows this origin, method and headers.
    #[error("no {key} rule allows origin {origin:?}, method {method:?} and headers {headers:?}")]
    NotAllowed {
        /// The config key of the rules.
        key: &'static str,
        /// The `Origin` asked for.
        origin: String,
        /// The method asked for.
        method: String,
        /// The headers asked for, as sent.
        headers: String,
    },
}

/// Whether `value` matches `pattern` (one optional `*` matching any run).
fn wildcard(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    match p.split_once('*') {
        None => p == v,
        Some((pre, post)) => {
            v.len() >= pre.len() + post.len() && v.starts_with(pre) && v.ends_with(post)
        }
    }
}

impl CorsRule {
    fn allows(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| wildcard(o, origin, false))
            && self.allowed_methods.iter().any(|m| m == method)
            && headers.iter().all(|h| {
                self.allowed_headers
                    .iter()
                    .any(|a| wildcard(a, h.trim(), true))
            })
    }

    /// `*` when the rule allows any origin, else the origin itself.
    fn allow_origin(&self, origin: &str) -> String {
        if self.allowed_origins.iter().any(|o| o == "*") {
            "*".into()
        } else {
            origin.to_string()
        }
    }

    fn common_headers(&self, origin: &str, headers: &mut HeaderMap) {
        let allow = self.allow_origin(origin);
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::try_from(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        if allow != "*" {
            set("access-control-allow-credentials", "true".into());
        }
        set("access-control-allow-origin", allow);
        set(
            "access-control-allow-methods",
            self.allowed_methods.join(", "),
        );
        if !self.expose_headers.is_empty() {
            set(
                "access-control-expose-headers",
                self.expose_headers.join(", "),
            );
        }
        if let Some(age) = self.max_age_seconds {
            set("access-control-max-age", age.to_string());
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Answers a preflight `OPTIONS` from `rules`, the list of config key
/// `key` (named in the refusals).
pub fn preflight(
    headers: &HeaderMap,
    rules: &[CorsRule],
    key: &'static str,
) -> Result<HttpResponse, CorsError> {
    let (Some(origin), Some(method)) = (
        header(headers, "origin"),
        header(headers, "access-control-request-method"),
    ) else {
        return Err(CorsError::Incomplete);
    };
    if rules.is_empty() {
        return Err(CorsError::Disabled(key));
    }
    let requested = header(headers, "access-control-request-headers").unwrap_or("");
    let asked: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let rule = rules
        .iter()
        .find(|r| r.allows(origin, method, &asked))
        .ok_or_else(|| CorsError::NotAllowed {
            key,
            origin: origin.to_string(),
            method: method.to_string(),
            headers: requested.to_string(),
        })?;
    let mut resp = HttpResponse::Ok().finish();
    let h = resp.headers_mut();
    rule.common_headers(origin, h);
    if !asked.is_empty() {
        if let Ok(v) = HeaderValue::try_from(asked.join(", ")) {
            h.insert(HeaderName::from_static("access-control-allow-headers"), v);
        }
    }
    Ok(resp)
}

/// Adds `Vary: Origin` to every reply and, for an actual (not preflight)
/// request from an origin a rule allows with this method, the
/// `Access-Control-*` headers.
pub fn decorate(resp: &mut HttpResponse, request: &HeaderMap, method: &str, rules: &[CorsRule]) {
    let h = resp.headers_mut();
    h.append(VARY, HeaderValue::from_static("Origin"));
    if method == "OPTIONS" {
        return;
    }
    let Some(origin) = header(request, "origin") else {
        return;
    };
    if let Some(rule) = rules.iter().find(|r| r.allows(origin, method, &[])) {
        rule.common_headers(origin, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    const KEY: &str = "proxy.s3-cors";

    fn rules() -> Vec<CorsRule> {
        vec![
            CorsRule {
                allowed_origins: vec!["http://app.example".into(), "https://*.example.org".into()],
                allowed_methods: vec!["GET".into(), "PUT".into()],
                allowed_headers: vec!["content-type".into(), "x-amz-*".into()],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(600),
            },
            CorsRule {
                allowed_origins: vec!["*".into()],
                allowed_methods: vec!["GET".into()],
                ..Default::default()
            },
        ]
    }

    fn hv<'a>(h: &'a HeaderMap, n: &str) -> &'a str {
        h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[test]
    fn preflights() {
        let ok = preflight(
            &headers(&[
                ("origin", "https://a.b.example.org"),
                ("access-control-request-method", "PUT"),
                (
                    "access-control-request-headers",
                    "Content-Type, X-Amz-Meta-A",
                ),
            ]),
            &rules(),
            KEY,
        )
        .unwrap();
        let h = ok.headers();
        assert_eq!(
            hv(h, "access-control-allow-origin"),
            "https://a.b.example.org"
        );
        assert_eq!(hv(h, "access-control-allow-methods"), "GET, PUT");
        assert_eq!(
            hv(h, "access-control-allow-headers"),
            "Content-Type, X-Amz-Meta-A"
        );
        assert_eq!(hv(h, "access-control-expose-headers"), "ETag");
        assert_eq!(hv(h, "access-control-max-age"), "600");
        // Any origin may GET through the second rule, without credentials.
        let any = preflight(
            &headers(&[
                ("origin", "http://x"),
                ("access-control-request-method", "GET"),
            ]),
            &rules(),
            KEY,
        )
        .unwrap();
        assert_eq!(hv(any.headers(), "access-control-allow-origin"), "*");
        assert!(!any
            .headers()
            .contains_key("access-control-allow-credentials"));
        for (pairs, code) in [
            (
                &[
                    ("origin", "http://x"),
                    ("access-control-request-method", "PUT"),
                ][..],
                "forbidden",
            ),
            (
                &[
                    ("origin", "http://app.example"),
                    ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "authorization"),
                ],
                "forbidden",
            ),
            (&[("origin", "http://app.example")], "incomplete"),
        ] {
            let e = preflight(&headers(pairs), &rules(), KEY).unwrap_err();
            let kind = match e {
                CorsError::Incomplete => "incomplete",
                _ => "forbidden",
            };
            assert_eq!(kind, code);
        }
        let none = preflight(
            &headers(&[
                ("origin", "http://x"),
                ("access-control-request-method", "GET"),
            ]),
            &[],
            KEY,
        );
        assert_eq!(none.unwrap_err(), CorsError::Disabled(KEY));
    }

    #[test]
    fn actual_replies_and_validation() {
        let mut r = HttpResponse::NotFound().finish();
        decorate(
            &mut r,
            &headers(&[("origin", "http://app.example")]),
            "PUT",
            &rules(),
        );
        assert_eq!(hv(r.headers(), "vary"), "Origin");
        assert_eq!(
            hv(r.headers(), "access-control-allow-origin"),
            "http://app.example"
        );
        let mut r = HttpResponse::Ok().finish();
        decorate(
            &mut r,
            &headers(&[("origin", "http://evil")]),
            "PUT",
            &rules(),
        );
        assert_eq!(hv(r.headers(), "vary"), "Origin");
        assert!(!r.headers().contains_key("access-control-allow-origin"));
    }
}
