//! Signature Version 2, legacy: what s3cmd's `signurl`, aws-cli v1's
//! `s3 presign` and old SDKs send. In the query (`AWSAccessKeyId`,
//! `Expires`, `Signature`) or in `Authorization: AWS AK:SIG`; the
//! signature is base64 of HMAC-SHA1 (OpenSSL) over
//! `METHOD\nContent-MD5\nContent-Type\nDate-or-Expires\n` + the `x-amz-*`
//! headers (lower case, sorted, `name:value\n`) + the resource (`/BUCKET`
//! for virtual-host requests, the path as sent, and the sub-resources of
//! the query, sorted). It signs no body: the payload is unsigned (a
//! `Content-MD5` is still checked). Compared in constant time against every
//! candidate secret, as Signature V4.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use actix_web::HttpRequest;

use crate::bucket::BucketMeta;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::access::{self, Caller};
use crate::state::Snapshot;

/// Query parameters that are part of the signed resource.
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// What a Signature V2 request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2 {
    /// The access key (ACL user).
    pub access_key: String,
    /// The base64 signature.
    pub signature: String,
}

/// Parses `Authorization: AWS AK:SIG`; `None` when it is no V2 header.
pub fn parse_header(value: &str) -> Option<Result<V2, S3Error>> {
    let rest = value.strip_prefix("AWS ")?;
    Some(match rest.trim().rsplit_once(':') {
        Some((ak, sig)) if !ak.is_empty() && !sig.is_empty() => Ok(V2 {
            access_key: ak.to_string(),
            signature: sig.to_string(),
        }),
        _ => Err(S3Error::new(
            S3ErrorCode::AuthorizationHeaderMalformed,
            "a Signature V2 Authorization header is AWS ACCESS_KEY:SIGNATURE",
        )),
    })
}

/// The request as V2 signs it.
pub struct Signed<'a> {
    /// Method.
    pub method: &'a str,
    /// Headers (names lower case).
    pub headers: &'a [(&'a str, &'a str)],
    /// The `Date` line: the Date header (empty with `x-amz-date`), or the
    /// query's `Expires`.
    pub date: &'a str,
    /// `/BUCKET` for a virtual-host request, else empty.
    pub bucket_prefix: &'a str,
    /// The path as sent.
    pub raw_path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
}

/// The string to sign.
pub fn string_to_sign(r: &Signed<'_>) -> String {
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    };
    let mut amz: Vec<(String, String)> = Vec::new();
    for (k, v) in r.headers {
        let k = k.to_ascii_lowercase();
        if !k.starts_with("x-amz-") {
            continue;
        }
        match amz.iter_mut().find(|(n, _)| *n == k) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(v.trim());
            }
            None => amz.push((k, v.trim().to_string())),
        }
    }
    amz.sort();
    let mut out = format!(
        "{}\n{}\n{}\n{}\n",
        r.method,
        header("content-md5"),
        header("content-type"),
        r.date
    );
    for (k, v) in amz {
        out.push_str(&format!("{k}:{v}\n"));
    }
    out.push_str(r.bucket_prefix);
    out.push_str(r.raw_path);
    let mut subs: Vec<&(String, String)> = r
        .query
        .iter()
        .filter(|(k, _)| SUB_RESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// base64(HMAC-SHA1(secret, string_to_sign)).
pub fn signature(secret: &str, sts: &str) -> Result<String, S3Error> {
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let key = PKey::hmac(secret.as_bytes())?;
        let mut s = Signer::new(MessageDigest::sha1(), &key)?;
        s.update(sts.as_bytes())?;
        s.sign_to_vec()
    };
    sign()
        .map(|mac| openssl::base64::encode_block(&mac))
        .map_err(|e| S3Error::internal(format!("HMAC-SHA1: {e}")))
}

/// Authenticates a Signature V2 request: `header` is its parsed
/// Authorization header, `None` for a presigned URL (the query's
/// `AWSAccessKeyId`, `Expires`, `Signature`). A presigned URL past its
/// `Expires`, or a header-signed request whose date is more than 15
/// minutes off, is refused, as Signature V4's are.
pub fn authenticate(
    http: &HttpRequest,
    snap: &Snapshot,
    bucket: Option<&BucketMeta>,
    query: &[(String, String)],
    header: Option<V2>,
) -> Result<Caller, S3Error> {
    let headers: Vec<(&str, &str)> = http
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
        .collect();
    let get = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let now = std::time::SystemTime::now();
    let (v2, date) = match header {
        Some(v2) => {
            let sent = get("x-amz-date").or(get("date")).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::AccessDenied,
                    "Signature V2 needs a Date or x-amz-date header",
                )
            })?;
            // s3cmd and the AWS guide write `+0000` where HTTP says `GMT`.
            let gmt = sent.strip_suffix(" +0000").map(|d| format!("{d} GMT"));
            let t = httpdate::parse_http_date(gmt.as_deref().unwrap_or(sent)).map_err(|_| {
                S3Error::new(
                    S3ErrorCode::AccessDenied,
                    format!("date {sent:?} is not an HTTP date"),
                )
            })?;
            let skew = now
                .duration_since(t)
                .or_else(|_| t.duration_since(now))
                .unwrap_or_default()
                .as_secs();
            if skew > crate::s3::sign::sigv4::MAX_SKEW_SECS as u64 {
                return Err(S3Error::new(
                    S3ErrorCode::RequestTimeTooSkewed,
                    format!("the request date {sent} is {skew} s away from the server's time"),
                ));
            }
            // With x-amz-date, the Date line is empty (x-amz-date is signed
            // among the x-amz-* headers).
            let date = if get("x-amz-date").is_some() {
                ""
            } else {
                sent
            };
            (v2, date.to_string())
        }
        None => {
            let query_error =
                |why: String| S3Error::new(S3ErrorCode::AuthorizationQueryParametersError, why);
            let expires = param("Expires").unwrap_or_default();
            let t: u64 = expires.parse().map_err(|_| {
                query_error(format!("Expires {expires:?} is not a number of seconds"))
            })?;
            let now_secs = now
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            if now_secs > t {
                return Err(S3Error::new(
                    S3ErrorCode::AccessDenied,
                    format!("Request has expired (Expires {expires})"),
                ));
            }
            let v2 = V2 {
                access_key: param("AWSAccessKeyId").unwrap_or_default(),
                signature: param("Signature").unwrap_or_default(),
            };
            (v2, expires)
        }
    };
    let domain = &snap.config.proxy.s3_domain;
    let host = get("host").unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let prefix = match host
        .strip_suffix(domain.as_str())
        .and_then(|b| b.strip_suffix('.'))
    {
        Some(b) if !domain.is_empty() && !b.is_empty() => format!("/{b}"),
        _ => String::new(),
    };
    // A bucket's own resource is `/BUCKET/` (botocore and s3cmd sign it so).
    let mut path = http.uri().path().to_string();
    if prefix.is_empty() && path.len() > 1 && !path[1..].contains('/') {
        path.push('/');
    }
    let sts = string_to_sign(&Signed {
        method: http.method().as_str(),
        headers: &headers,
        date: &date,
        bucket_prefix: &prefix,
        raw_path: &path,
        query,
    });
    let all = snap.buckets.all();
    let secrets = access::secrets(&v2.access_key, bucket, &all)?;
    let mut matched = false;
    for s in secrets {
        let expected = signature(s, &sts)?;
        // memcmp::eq compares slices of one length (a signature's length
        // is public: base64 of 20 bytes).
        matched |= expected.len() == v2.signature.len()
            && openssl::memcmp::eq(expected.as_bytes(), v2.signature.as_bytes());
    }
    if !matched {
        let mut e = S3Error::new(
            S3ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        );
        e.details = vec![
            ("AWSAccessKeyId", v2.access_key.clone()),
            ("StringToSign", sts),
            ("SignatureProvided", v2.signature.clone()),
        ];
        return Err(e);
    }
    Ok(Caller::User(v2.access_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the Amazon S3 developer guide ("Signing and
    /// authenticating REST requests"), key
    /// `wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn aws_guide_examples() {
        let q = crate::encoding::parse_query;
        // Object GET, virtual-host style.
        let h = [("host", "awsexamplebucket1.s3.us-west-1.amazonaws.com")];
        let r = Signed {
            method: "GET",
            headers: &h,
            date: "Tue, 27 Mar 2007 19:36:42 +0000",
            bucket_prefix: "/awsexamplebucket1",
            raw_path: "/photos/puppy.jpg",
            query: &[],
        };
        let sts = string_to_sign(&r);
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(
            signature(SECRET, &sts).unwrap(),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
        // Object PUT with Content-Type.
        let h = [("content-type", "image/jpeg"), ("content-length", "94328")];
        let r = Signed {
            method: "PUT",
            headers: &h,
            date: "Tue, 27 Mar 2007 21:15:45 +0000",
            bucket_prefix: "/awsexamplebucket1",
            raw_path: "/photos/puppy.jpg",
            query: &[],
        };
        assert_eq!(
            signature(SECRET, &string_to_sign(&r)).unwrap(),
            "iqRzw+ileNPu1fhspnRs8nOjjIA="
        );
        // List with a query that is not a sub-resource; `?acl` is one.
        let query = q("prefix=photos&max-keys=50&marker=puppy");
        let r = Signed {
            method: "GET",
            headers: &[],
            date: "Tue, 27 Mar 2007 19:42:41 +0000",
            bucket_prefix: "/awsexamplebucket1",
            raw_path: "/",
            query: &query,
        };
        assert!(string_to_sign(&r).ends_with("\n/awsexamplebucket1/"));
        let query = q("acl");
        let r = Signed { query: &query, ..r };
        assert!(string_to_sign(&r).ends_with("/awsexamplebucket1/?acl"));
        // x-amz-* headers: lower case, sorted, repeated ones joined.
        let h = [
            ("X-Amz-Meta-B", " 2 "),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
            ("x-amz-meta-b", "3"),
            ("content-md5", "4gJE4saaMU4BqNR0kLY+lw=="),
        ];
        let r = Signed {
            method: "DELETE",
            headers: &h,
            date: "",
            bucket_prefix: "",
            raw_path: "/b/k",
            query: &[],
        };
        assert_eq!(
            string_to_sign(&r),
            "DELETE\n4gJE4saaMU4BqNR0kLY+lw==\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\nx-amz-meta-b:2,3\n/b/k"
        );
        assert!(parse_header("AWS AKID:c2ln").unwrap().is_ok());
        assert!(parse_header("AWS nocolon").unwrap().is_err());
        assert!(parse_header("AWS4-HMAC-SHA256 Credential=x").is_none());
    }
}
