//! Authentication: Signature V4 (or V2, legacy: [`crate::s3::sign::sigv2`]) in the Authorization header or in the
//! query (presigned URLs, [`crate::s3::sign::presign`]) against the ACL users, or
//! anonymous.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;

use crate::bucket::BucketMeta;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::access::{self, Caller};
use crate::s3::sign::coverage::Coverage;
use crate::s3::{sign::chunked, sign::chunksig, sign::presign, sign::sigv4};
use crate::state::Snapshot;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Who sent a request, what its body must match, where a signed
/// aws-chunked body's signature chain starts, and which headers the
/// signature covers.
pub(in crate::s3) type Authenticated = (Caller, String, Option<chunksig::Seed>, Coverage);

/// The request's headers as the signature covers them (`host` from the
/// URI when the request has no Host header, as HTTP/2 requests).
fn signed_headers_of(http: &HttpRequest) -> Vec<(&str, &str)> {
    let mut headers: Vec<(&str, &str)> = http
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
        .collect();
    if !headers.iter().any(|(k, _)| *k == "host") {
        if let Some(a) = http.uri().authority() {
            headers.push(("host", a.as_str()));
        }
    }
    headers
}

/// The scope must name `s3` and, when `s3-region` is set, that region.
fn check_scope(
    auth: &sigv4::Authorization,
    snap: &Snapshot,
    code: S3ErrorCode,
) -> Result<(), S3Error> {
    if auth.service != "s3" {
        return Err(S3Error::new(
            code,
            format!("credential scope service {:?} must be \"s3\"", auth.service),
        ));
    }
    let region = &snap.config.proxy.s3_region;
    if !region.is_empty() && auth.region != *region {
        return Err(S3Error::new(
            code,
            format!(
                "the region {:?} is wrong; expecting {region:?}",
                auth.region
            ),
        ));
    }
    Ok(())
}

/// A presigned URL's request (docs/s3.md "Presigned URLs").
fn authenticate_query(
    http: &HttpRequest,
    snap: &Snapshot,
    bucket: Option<&BucketMeta>,
    query: &[(String, String)],
) -> Result<Authenticated, S3Error> {
    let raw_query = http.uri().query().unwrap_or("");
    let p = presign::parse(query, raw_query, now_secs())?;
    check_scope(
        &p.auth,
        snap,
        S3ErrorCode::AuthorizationQueryParametersError,
    )?;
    let payload_hash = presign::payload_hash(
        http.headers()
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok()),
    )
    .to_string();
    if payload_hash.starts_with("STREAMING-") {
        return Err(S3Error::not_implemented(&format!(
            "x-amz-content-sha256 {payload_hash} on a presigned URL"
        )));
    }
    let req = sigv4::Request {
        method: http.method().as_str(),
        raw_path: http.uri().path(),
        raw_query: &p.signed_query,
        headers: signed_headers_of(http),
        payload_hash: &payload_hash,
    };
    let all = snap.buckets.all();
    let caller = access::verify(&p.auth, &p.amz_date, &req, bucket, &all)?;
    let coverage = Coverage::V4(p.auth.signed_headers);
    coverage.refuse_unsigned(http.headers())?;
    Ok((caller, payload_hash, None, coverage))
}

/// Authenticates a request: Signature V4 in the Authorization header or
/// in the query (presigned URL), Signature V2, or anonymous. Answers the
/// caller and the payload hash the body must match. A signed request with
/// an `x-amz-*` header its signature does not cover is refused
/// ([`Coverage::refuse_unsigned`]).
pub(in crate::s3) fn authenticate(
    http: &HttpRequest,
    snap: &Snapshot,
    bucket: Option<&BucketMeta>,
    query: &[(String, String)],
) -> Result<Authenticated, S3Error> {
    let header = |n: &str| http.headers().get(n).and_then(|v| v.to_str().ok());
    let unsigned = || sigv4::UNSIGNED_PAYLOAD.to_string();
    if presign::is_sigv2(query) {
        let caller = crate::s3::sign::sigv2::authenticate(http, snap, bucket, query, None)?;
        Coverage::V2.refuse_unsigned(http.headers())?;
        return Ok((caller, unsigned(), None, Coverage::V2));
    }
    if presign::is_presigned(query) {
        if header("authorization").is_some() {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
            ));
        }
        return authenticate_query(http, snap, bucket, query);
    }
    let Some(value) = header("authorization") else {
        // An anonymous aws-chunked body is decoded too (nothing signs it).
        let payload = match header("x-amz-content-sha256") {
            Some(chunked::UNSIGNED_TRAILER) => chunked::UNSIGNED_TRAILER,
            _ => sigv4::UNSIGNED_PAYLOAD,
        };
        return Ok((Caller::Anonymous, payload.into(), None, Coverage::Anonymous));
    };
    if let Some(v2) = crate::s3::sign::sigv2::parse_header(value) {
        let caller = crate::s3::sign::sigv2::authenticate(http, snap, bucket, query, Some(v2?))?;
        Coverage::V2.refuse_unsigned(http.headers())?;
        return Ok((caller, unsigned(), None, Coverage::V2));
    }
    let auth = sigv4::parse_authorization(value)?;
    check_scope(&auth, snap, S3ErrorCode::AuthorizationHeaderMalformed)?;
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
    let signed_chunks =
        [chunksig::SIGNED_PAYLOAD, chunksig::SIGNED_PAYLOAD_TRAILER].contains(&payload_hash);
    if payload_hash.starts_with("STREAMING-")
        && payload_hash != chunked::UNSIGNED_TRAILER
        && !signed_chunks
    {
        return Err(S3Error::not_implemented(&format!(
            "x-amz-content-sha256 {payload_hash} (SigV4a aws-chunked uploads)"
        )));
    }
    let req = sigv4::Request {
        method: http.method().as_str(),
        raw_path: http.uri().path(),
        raw_query: http.uri().query().unwrap_or(""),
        headers: signed_headers_of(http),
        payload_hash,
    };
    let all = snap.buckets.all();
    let (caller, key) = access::verify_key(&auth, amz_date, &req, bucket, &all)?;
    let coverage = Coverage::V4(auth.signed_headers.clone());
    coverage.refuse_unsigned(http.headers())?;
    let seed = signed_chunks.then(|| chunksig::Seed {
        key,
        amz_date: amz_date.to_string(),
        scope: auth.scope(),
        signature: auth.signature.clone(),
    });
    Ok((caller, payload_hash.to_string(), seed, coverage))
}
