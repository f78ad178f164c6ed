//! CORS on the S3 listener, from the config list `proxy.s3-cors` (rules
//! shaped like S3's CORSRule; no per-bucket CORS API): the rules are
//! matched by [`crate::http::cors`]; here a refused preflight becomes S3's
//! error (403 AccessForbidden, or 400 InvalidRequest without its headers).

use actix_web::http::header::HeaderMap;
use actix_web::HttpResponse;

use crate::http::cors::{self, CorsError};
use crate::s3::error::{S3Error, S3ErrorCode};

pub use crate::http::cors::decorate;

/// Answers a preflight `OPTIONS` from `proxy.s3-cors`, in S3's words.
pub fn preflight(headers: &HeaderMap, rules: &[cors::CorsRule]) -> Result<HttpResponse, S3Error> {
    cors::preflight(headers, rules, "proxy.s3-cors").map_err(|e| match e {
        CorsError::Incomplete => S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Insufficient information. Origin and Access-Control-Request-Method request headers needed.",
        ),
        CorsError::Disabled(_) => S3Error::new(
            S3ErrorCode::AccessForbidden,
            "CORSResponse: CORS is not enabled on this S3 listener (proxy.s3-cors)",
        ),
        e @ CorsError::NotAllowed { .. } => S3Error::new(
            S3ErrorCode::AccessForbidden,
            format!("CORSResponse: This CORS request is not allowed: {e}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cors::{validate, CorsRule};
    use crate::test_support::headers;

    #[test]
    fn refusals_in_s3_words() {
        let rules = vec![CorsRule {
            allowed_origins: vec!["http://app.example".into()],
            allowed_methods: vec!["GET".into()],
            ..Default::default()
        }];
        let e = preflight(&headers(&[("origin", "http://app.example")]), &rules).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        let asked = [
            ("origin", "http://x"),
            ("access-control-request-method", "GET"),
        ];
        let e = preflight(&headers(&asked), &rules).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessForbidden);
        assert!(
            e.to_string()
                .contains("no proxy.s3-cors rule allows origin \"http://x\""),
            "{e}"
        );
        let e = preflight(&headers(&asked), &[]).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessForbidden);
        assert!(preflight(
            &headers(&[
                ("origin", "http://app.example"),
                ("access-control-request-method", "GET"),
            ]),
            &rules
        )
        .is_ok());
        assert!(validate(&rules, "proxy.s3-cors").is_ok());
        let mut bad = rules.clone();
        bad[0].allowed_methods.push("PATCH".into());
        assert!(validate(&bad, "proxy.s3-cors").is_err());
        let mut bad = rules;
        bad[0].allowed_origins = vec!["http://*.*".into()];
        assert!(validate(&bad, "proxy.s3-cors").is_err());
        assert!(validate(&[CorsRule::default()], "proxy.s3-cors").is_err());
    }
}
