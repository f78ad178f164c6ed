//! Authentication: Signature V4 in the Authorization header against the
//! ACL users, or anonymous.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;

use super::access::{self, Caller};
use super::error::{S3Error, S3ErrorCode};
use super::{chunked, sigv4};
use crate::bucket::BucketMeta;
use crate::state::Snapshot;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Authenticates a request: Signature V4 in the Authorization header, or
/// anonymous. Answers the caller and the payload hash the body must match.
pub(super) fn authenticate(
    http: &HttpRequest,
    snap: &Snapshot,
    bucket: Option<&BucketMeta>,
    query: &[(String, String)],
) -> Result<(Caller, String), S3Error> {
    let header = |n: &str| http.headers().get(n).and_then(|v| v.to_str().ok());
    if query
        .iter()
        .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm")
    {
        return Err(S3Error::not_implemented(
            "presigned URLs (query-string authentication)",
        ));
    }
    let Some(value) = header("authorization") else {
        return Ok((Caller::Anonymous, sigv4::UNSIGNED_PAYLOAD.into()));
    };
    let auth = sigv4::parse_authorization(value)?;
    if auth.service != "s3" {
        return Err(S3Error::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!("credential scope service {:?} must be \"s3\"", auth.service),
        ));
    }
    let region = &snap.config.proxy.s3_region;
    if !region.is_empty() && auth.region != *region {
        return Err(S3Error::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!(
                "the region {:?} is wrong; expecting {region:?}",
                auth.region
            ),
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::AccessDenied,
            "Signature V4 needs an x-amz-date header",
        )
    })?;
    let t = sigv4::parse_amz_date(amz_date).ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::AccessDenied,
            format!("x-amz-date {amz_date:?} is not YYYYMMDDTHHMMSSZ"),
        )
    })?;
    let skew = (now_secs() - t).abs();
    if skew > sigv4::MAX_SKEW_SECS {
        return Err(S3Error::new(
            S3ErrorCode::RequestTimeTooSkewed,
            format!(
                "the request time {amz_date} is {skew} s away from the server's time (at most {} s allowed)",
                sigv4::MAX_SKEW_SECS
            ),
        ));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err(S3Error::new(
            S3ErrorCode::SignatureDoesNotMatch,
            format!(
                "credential date {} is not the date of x-amz-date {amz_date}",
                auth.date
            ),
        ));
    }
    let payload_hash = header("x-amz-content-sha256").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidRequest,
            "missing required header for this request: x-amz-content-sha256",
        )
    })?;
    if payload_hash.starts_with("STREAMING-") && payload_hash != chunked::UNSIGNED_TRAILER {
        return Err(S3Error::not_implemented(&format!(
            "x-amz-content-sha256 {payload_hash} (aws-chunked uploads)"
        )));
    }
    let raw_path = http.uri().path();
    let raw_query = http.uri().query().unwrap_or("");
    let mut headers: Vec<(&str, &str)> = http
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
        .collect();
    let authority = http.uri().authority().map(|a| a.as_str().to_string());
    if !headers.iter().any(|(k, _)| *k == "host") {
        if let Some(a) = authority.as_deref() {
            headers.push(("host", a));
        }
    }
    let req = sigv4::Request {
        method: http.method().as_str(),
        raw_path,
        raw_query,
        headers,
        payload_hash,
    };
    let all = snap.buckets.all();
    let caller = access::verify(&auth, amz_date, &req, bucket, &all)?;
    Ok((caller, payload_hash.to_string()))
}
