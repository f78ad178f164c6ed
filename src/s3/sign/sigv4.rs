//! AWS Signature Version 4 (`AWS4-HMAC-SHA256` in the Authorization
//! header), as the AWS "Create a signed AWS API request" guide defines it:
//! canonical request, string to sign and the derived signing key. The
//! payload hash check of a streamed body is [`super::digest::BodyDigest`].

use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::encoding::hex;
use crate::s3::error::{S3Error, S3ErrorCode};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` of a body the client chose not to hash.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of nothing.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Largest difference between the request's time and ours (AWS: 15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// RFC 3986 unreserved characters stay; everything else is `%XX`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id (here: an ACL user name).
    pub access_key: String,
    /// Scope date, `YYYYMMDD`.
    pub date: String,
    /// Scope region.
    pub region: String,
    /// Scope service (`s3`).
    pub service: String,
    /// Lower-case names of the signed headers, as listed.
    pub signed_headers: Vec<String>,
    /// Lower-case hex signature.
    pub signature: String,
}

impl Authorization {
    /// `DATE/REGION/SERVICE/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

fn malformed(why: String) -> S3Error {
    S3Error::new(S3ErrorCode::AuthorizationHeaderMalformed, why)
}

/// Parses the header value; any other scheme or a missing part is
/// `AuthorizationHeaderMalformed`.
pub fn parse_authorization(value: &str) -> Result<Authorization, S3Error> {
    let value = value.trim();
    let (algo, rest) = value
        .split_once(' ')
        .ok_or_else(|| malformed("Authorization header has no credentials".into()))?;
    if algo != ALGORITHM {
        return Err(malformed(format!(
            "Authorization algorithm {algo:?} is not supported; use {ALGORITHM}"
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed(format!("Authorization part {part:?} is not NAME=VALUE")))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {
                return Err(malformed(format!(
                    "Authorization has an unknown part {k:?}"
                )))
            }
        }
    }
    let credential =
        credential.ok_or_else(|| malformed("Authorization lacks Credential".into()))?;
    let signed = signed.ok_or_else(|| malformed("Authorization lacks SignedHeaders".into()))?;
    let signature = signature.ok_or_else(|| malformed("Authorization lacks Signature".into()))?;
    let (access_key, date, region, service) = parse_credential(credential, malformed)?;
    let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(malformed(format!("SignedHeaders {signed:?} is malformed")));
    }
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// Splits `KEY/DATE/REGION/SERVICE/aws4_request` into its parts; `error`
/// makes the error of a malformed one.
pub fn parse_credential(
    credential: &str,
    error: fn(String) -> S3Error,
) -> Result<(String, String, String, String), S3Error> {
    // The access key may itself contain '/', so the scope is the last four parts.
    let parts: Vec<&str> = credential.rsplitn(5, '/').collect();
    let bad = || {
        error(format!(
            "Credential {credential:?} is not KEY/DATE/REGION/SERVICE/aws4_request"
        ))
    };
    let [terminal, service, region, date, access_key] = parts[..] else {
        return Err(bad());
    };
    if terminal != "aws4_request"
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || access_key.is_empty()
    {
        return Err(bad());
    }
    Ok((
        access_key.to_string(),
        date.to_string(),
        region.to_string(),
        service.to_string(),
    ))
}

/// URI-encodes one string as SigV4 wants (unreserved kept, `%XX` upper case).
pub fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The canonical URI of a raw request path: each segment decoded once and
/// encoded again (S3 does not normalize `.`/`..` or double-encode).
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".into();
    }
    raw_path
        .split('/')
        .map(|seg| {
            let decoded = percent_decode_str(seg).collect::<Vec<u8>>();
            utf8_percent_encode_bytes(&decoded)
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn utf8_percent_encode_bytes(b: &[u8]) -> String {
    percent_encoding::percent_encode(b, UNRESERVED).to_string()
}

/// The canonical query string: every parameter decoded and encoded again,
/// sorted by name then value, `name=value` joined by `&`.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc =
                |s: &str| utf8_percent_encode_bytes(&percent_decode_str(s).collect::<Vec<u8>>());
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as canonical headers carry it: trimmed, inner runs of
/// spaces collapsed to one.
fn canonical_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The request as the signature covers it.
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Raw path as sent.
    pub raw_path: &'a str,
    /// Raw query as sent (without `?`).
    pub raw_query: &'a str,
    /// Every request header: `(name, value)`, names in any case; repeated
    /// headers appear once per value.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The `x-amz-content-sha256` value (or the hash of an empty body).
    pub payload_hash: &'a str,
}

/// The canonical request; a signed header that is missing is an error.
pub fn canonical_request(req: &Request<'_>, signed_headers: &[String]) -> Result<String, S3Error> {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.raw_path));
    out.push('\n');
    out.push_str(&canonical_query(req.raw_query));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical_value(v))
            .collect();
        if values.is_empty() {
            return Err(S3Error::new(
                S3ErrorCode::SignatureDoesNotMatch,
                format!("signed header {name:?} is not in the request"),
            ));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(req.payload_hash);
    Ok(out)
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&openssl::sha::sha256(data))
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // OpenSSL refuses an empty HMAC key; HMAC pads keys with zeros to the
    // block size (64 bytes), so 64 zero bytes is the same key.
    let zeros = [0u8; 64];
    let key = if key.is_empty() { &zeros[..] } else { key };
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let pkey = PKey::hmac(key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
        signer.update(data)?;
        signer.sign_to_vec()
    };
    sign().unwrap_or_default()
}

/// The string to sign over a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signing key derived from the secret and the scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// The hex signature of `string_to_sign` made with `secret`.
pub fn signature(secret: &str, auth: &Authorization, string_to_sign: &str) -> String {
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// Whether two hex signatures are equal, in constant time.
pub fn same_signature(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && memcmp::eq(given.as_bytes(), expected.as_bytes())
}

/// Parses an ISO 8601 basic time, `YYYYMMDDTHHMMSSZ`, to Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, sec) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credential of the AWS SigV4 guide's 2015 examples
    /// (`AKIDEXAMPLE/20150830/us-east-1/SERVICE`).
    fn guide_auth(service: &str, signed: &str) -> Authorization {
        Authorization {
            access_key: "AKIDEXAMPLE".into(),
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: service.into(),
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: String::new(),
        }
    }

    /// The secret key of the AWS guides' examples.
    const GUIDE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// The string to sign of `cr` at `amz_date`, signed with [`GUIDE_SECRET`].
    fn assert_guide_signature(a: &Authorization, amz_date: &str, cr: &str, expected: &str) {
        let sts = string_to_sign(amz_date, &a.scope(), cr);
        assert_eq!(signature(GUIDE_SECRET, a, &sts), expected);
    }

    /// AWS SigV4 test suite, `get-vanilla`.
    #[test]
    fn aws_suite_get_vanilla() {
        let req = Request {
            method: "GET",
            raw_path: "/",
            raw_query: "",
            headers: vec![
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            payload_hash: EMPTY_SHA256,
        };
        let a = guide_auth("service", "host;x-amz-date");
        let cr = canonical_request(&req, &a.signed_headers).unwrap();
        assert_eq!(
            cr,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                .to_string() + EMPTY_SHA256
        );
        assert_guide_signature(
            &a,
            "20150830T123600Z",
            &cr,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }

    /// The IAM `ListUsers` example of the AWS "Signature Version 4" guide.
    #[test]
    fn aws_guide_iam_list_users() {
        let req = Request {
            method: "GET",
            raw_path: "/",
            raw_query: "Action=ListUsers&Version=2010-05-08",
            headers: vec![
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("Host", "iam.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            payload_hash: EMPTY_SHA256,
        };
        let a = guide_auth("iam", "content-type;host;x-amz-date");
        let cr = canonical_request(&req, &a.signed_headers).unwrap();
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let key = signing_key(GUIDE_SECRET, "20150830", "us-east-1", "iam");
        assert_eq!(
            hex(&key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        assert_guide_signature(
            &a,
            "20150830T123600Z",
            &cr,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        );
    }

    /// The GetObject example of the S3 "Authenticating requests (AWS
    /// Signature Version 4)" guide.
    #[test]
    fn s3_guide_get_object() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        let a = parse_authorization(header).unwrap();
        assert_eq!(a.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.scope(), "20130524/us-east-1/s3/aws4_request");
        let req = Request {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: "",
            headers: vec![
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            payload_hash: EMPTY_SHA256,
        };
        let cr = canonical_request(&req, &a.signed_headers).unwrap();
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let sts = string_to_sign("20130524T000000Z", &a.scope(), &cr);
        let expected = signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &a, &sts);
        assert_eq!(
            expected,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(same_signature(&a.signature, &expected));
        assert!(!same_signature(&expected[1..], &expected));
    }

    #[test]
    fn canonical_uri_and_query() {
        assert_eq!(canonical_uri("/b/a b%2Bc+d"), "/b/a%20b%2Bc%2Bd");
        assert_eq!(canonical_uri("/b/%7Euser/x!y"), "/b/~user/x%21y");
        assert_eq!(canonical_uri("/b//k/"), "/b//k/");
        assert_eq!(canonical_uri("/%D1%82"), "/%D1%82");
        assert_eq!(canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("prefix=a%20b&x=%7e"), "prefix=a%20b&x=~");
        assert_eq!(canonical_query("location"), "location=");
        assert_eq!(canonical_query(""), "");
    }

    #[test]
    fn authorization_parsing() {
        let ok = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=u/20240101/r/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=ABCD",
        )
        .unwrap();
        assert_eq!(ok.access_key, "u");
        assert_eq!(ok.region, "r");
        assert_eq!(ok.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(ok.signature, "abcd");
        for bad in [
            "AWS AKID:sig",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=u/20240101/r/s3/aws4_request,SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=u/2024/r/s3/aws4_request,SignedHeaders=host,Signature=a",
            "AWS4-HMAC-SHA256 Credential=u/20240101/r/s3/x,SignedHeaders=host,Signature=a",
            "AWS4-HMAC-SHA256 Credential=/20240101/r/s3/aws4_request,SignedHeaders=host,Signature=a",
            "AWS4-HMAC-SHA256 Credential=u/20240101/r/s3/aws4_request,SignedHeaders=,Signature=a",
        ] {
            let e = parse_authorization(bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::AuthorizationHeaderMalformed, "{bad}");
        }
    }

    #[test]
    fn amz_dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1440938160));
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951868799));
        for bad in [
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "2015083xT123600Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
