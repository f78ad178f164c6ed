//! Presigned URLs: Signature V4 in the query string (`X-Amz-Algorithm`,
//! `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
//! `X-Amz-Signature`), as the S3 guide "Authenticating Requests: Using
//! Query Parameters" defines it. The payload is `UNSIGNED-PAYLOAD`.

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::sigv4::{self, Authorization, ALGORITHM, MAX_SKEW_SECS, UNSIGNED_PAYLOAD};

/// Longest `X-Amz-Expires`: seven days, as S3.
pub const MAX_EXPIRES: i64 = 604_800;

/// Whether the query carries a query-string signature.
pub fn is_presigned(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm" || k == "X-Amz-Credential")
}

/// Whether the query carries a Signature V2 (`AWSAccessKeyId`, `Signature`,
/// `Expires`), as aws-cli v1's `s3 presign` makes by default.
pub fn is_sigv2(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| k == "AWSAccessKeyId") && query.iter().any(|(k, _)| k == "Signature")
}

fn query_error(why: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::AuthorizationQueryParametersError, why)
}

fn denied(why: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::AccessDenied, why)
}

/// A verified-to-be-well-formed presigned request: the signature parts,
/// the `X-Amz-Date`, and the canonical query (without `X-Amz-Signature`)
/// the signature covers.
#[derive(Debug)]
pub struct Presigned {
    /// Credential, signed headers and signature, as a header would carry them.
    pub auth: Authorization,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// The raw query minus `X-Amz-Signature`, to canonicalize.
    pub signed_query: String,
}

/// Reads and checks the query parameters at time `now` (Unix seconds):
/// missing ones and another algorithm are `AuthorizationQueryParametersError`
/// (400); an `X-Amz-Expires` outside 1..=604800, a request whose time is
/// past its expiry, or more than 15 minutes ahead, `AccessDenied` (403).
pub fn parse(query: &[(String, String)], raw_query: &str, now: i64) -> Result<Presigned, S3Error> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(algo), Some(credential), Some(amz_date), Some(expires), Some(signed), Some(sig)) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-Expires"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
    ) else {
        return Err(query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    };
    if algo != ALGORITHM {
        return Err(query_error(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\" (got {algo:?})"
        )));
    }
    let (access_key, date, region, service) = sigv4::parse_credential(credential, query_error)?;
    let expires: i64 = expires.parse().map_err(|_| {
        denied(format!(
            "X-Amz-Expires {expires:?} is not a number of seconds"
        ))
    })?;
    if expires < 1 {
        return Err(denied("X-Amz-Expires must be non-negative and at least 1"));
    }
    if expires > MAX_EXPIRES {
        return Err(denied(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
        )));
    }
    let t = sigv4::parse_amz_date(amz_date)
        .ok_or_else(|| denied(format!("X-Amz-Date {amz_date:?} is not YYYYMMDDTHHMMSSZ")))?;
    if t - now > MAX_SKEW_SECS {
        return Err(denied(format!(
            "Request is not valid yet (X-Amz-Date {amz_date})"
        )));
    }
    if now > t + expires {
        return Err(denied(format!(
            "Request has expired (X-Amz-Date {amz_date}, X-Amz-Expires {expires})"
        )));
    }
    if !amz_date.starts_with(&date) {
        return Err(S3Error::new(
            S3ErrorCode::SignatureDoesNotMatch,
            format!("credential date {date} is not the date of X-Amz-Date {amz_date}"),
        ));
    }
    let signed_headers: Vec<String> = signed.split(';').map(|h| h.to_ascii_lowercase()).collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(query_error(format!(
            "X-Amz-SignedHeaders {signed:?} is malformed"
        )));
    }
    let signed_query = raw_query
        .split('&')
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(k, _)| k);
            !percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .eq("X-Amz-Signature")
        })
        .collect::<Vec<_>>()
        .join("&");
    Ok(Presigned {
        auth: Authorization {
            access_key,
            date,
            region,
            service,
            signed_headers,
            signature: sig.to_ascii_lowercase(),
        },
        amz_date: amz_date.to_string(),
        signed_query,
    })
}

/// The payload hash a presigned request is signed with: its
/// `x-amz-content-sha256` header when sent, else `UNSIGNED-PAYLOAD`.
pub fn payload_hash(header: Option<&str>) -> &str {
    header.unwrap_or(UNSIGNED_PAYLOAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::sign::sigv4::{canonical_request, signature, string_to_sign, Request};

    /// The GET example of the S3 guide "Authenticating Requests: Using
    /// Query Parameters": `test.txt` in `examplebucket`, expiring after
    /// 86400 s, and its signature.
    #[test]
    fn s3_guide_presigned_get() {
        let raw = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let query = crate::auth::parse_query(raw);
        let now = sigv4::parse_amz_date("20130524T000100Z").unwrap();
        let p = parse(&query, raw, now).unwrap();
        assert_eq!(p.auth.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert!(!p.signed_query.contains("Signature"));
        let req = Request {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: &p.signed_query,
            headers: vec![("host", "examplebucket.s3.amazonaws.com")],
            payload_hash: UNSIGNED_PAYLOAD,
        };
        let cr = canonical_request(&req, &p.auth.signed_headers).unwrap();
        let sts = string_to_sign(&p.amz_date, &p.auth.scope(), &cr);
        assert_eq!(
            signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &p.auth, &sts),
            p.auth.signature
        );

        // Expiry and its range.
        let late = now + 86400;
        let e = parse(&query, raw, late).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        assert!(
            e.message.starts_with("Request has expired"),
            "{}",
            e.message
        );
        let early = sigv4::parse_amz_date("20130523T230000Z").unwrap();
        assert!(parse(&query, raw, early)
            .unwrap_err()
            .message
            .contains("not valid yet"));
        for (exp, code) in [
            ("0", S3ErrorCode::AccessDenied),
            ("604801", S3ErrorCode::AccessDenied),
            ("x", S3ErrorCode::AccessDenied),
        ] {
            let r = raw.replace("X-Amz-Expires=86400", &format!("X-Amz-Expires={exp}"));
            let q = crate::auth::parse_query(&r);
            assert_eq!(parse(&q, &r, now).unwrap_err().code, code, "{exp}");
        }
        let r = raw.replace("&X-Amz-SignedHeaders=host", "");
        let q = crate::auth::parse_query(&r);
        assert_eq!(
            parse(&q, &r, now).unwrap_err().code,
            S3ErrorCode::AuthorizationQueryParametersError
        );
        let r = raw.replace("AWS4-HMAC-SHA256&", "AWS4-ECDSA-P256-SHA256&");
        let q = crate::auth::parse_query(&r);
        assert_eq!(
            parse(&q, &r, now).unwrap_err().code,
            S3ErrorCode::AuthorizationQueryParametersError
        );
    }
}
