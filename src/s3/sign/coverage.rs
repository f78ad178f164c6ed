//! What a signature covers among a request's headers, and the refusal of
//! `x-amz-*` headers it does not cover (docs/security.md "Unsigned
//! headers"). S3 acts on many `x-amz-*` headers (`x-amz-copy-source` turns
//! a PUT into a copy, `x-amz-meta-*` and `x-amz-tagging` are stored), so one
//! added to a signed request by someone who does not hold the secret must
//! not act: as AWS does, such a request is refused with AccessDenied and a
//! `<HeadersNotSigned>` element naming them.

use actix_web::http::header::HeaderMap;

use crate::s3::error::{S3Error, S3ErrorCode};

/// Which of a request's headers its signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// No signature: whoever sent it could send anything, so every header
    /// is taken (the bucket's ACL decided that anyone may).
    Anonymous,
    /// Signature V4 (header or presigned URL): the `SignedHeaders`, lower case.
    V4(Vec<String>),
    /// Signature V2: its string to sign has `Content-MD5`, `Content-Type`,
    /// the date and every `x-amz-*` header.
    V2,
}

/// `x-amz-*` headers that may come unsigned: `x-amz-content-sha256` is
/// the last line of the SigV4 canonical request whether listed or not, so
/// the signature covers its value anyway (AWS takes it unsigned too).
const BOUND_ANYWAY: &[&str] = &["x-amz-content-sha256"];

impl Coverage {
    /// Whether the signature covers header `name` (any case).
    pub fn covers(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        match self {
            Coverage::Anonymous => true,
            Coverage::V4(signed) => signed.contains(&name),
            Coverage::V2 => {
                matches!(name.as_str(), "content-md5" | "content-type" | "date")
                    || name.starts_with("x-amz-")
            }
        }
    }

    /// Refuses a signed request carrying an `x-amz-*` header the signature
    /// does not cover, or whose value is not UTF-8 (the signature checks
    /// skip those); AccessDenied naming them, as AWS answers.
    pub fn refuse_unsigned(&self, headers: &HeaderMap) -> Result<(), S3Error> {
        if *self == Coverage::Anonymous {
            return Ok(());
        }
        let mut unsigned: Vec<&str> = headers
            .iter()
            .filter(|(k, v)| {
                let k = k.as_str();
                k.starts_with("x-amz-")
                    && !BOUND_ANYWAY.contains(&k)
                    && (!self.covers(k) || std::str::from_utf8(v.as_bytes()).is_err())
            })
            .map(|(k, _)| k.as_str())
            .collect();
        if unsigned.is_empty() {
            return Ok(());
        }
        unsigned.sort_unstable();
        unsigned.dedup();
        let names = unsigned.join(", ");
        let mut e = S3Error::new(
            S3ErrorCode::AccessDenied,
            format!(
                "There were headers present in the request which were not signed: {names} \
                 (every x-amz-* header must be in the signature's SignedHeaders)"
            ),
        );
        e.details.push(("HeadersNotSigned", names));
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(list: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn unsigned_amz_headers_are_refused() {
        let v4 = Coverage::V4(vec!["host".into(), "x-amz-date".into()]);
        let ok = headers(&[
            ("host", b"h"),
            ("x-amz-date", b"20260101T000000Z"),
            ("x-amz-content-sha256", b"UNSIGNED-PAYLOAD"),
            ("x-amzn-trace-id", b"t"),
            ("content-type", b"text/plain"),
        ]);
        assert!(v4.refuse_unsigned(&ok).is_ok());
        assert!(!v4.covers("Content-Type") && v4.covers("X-Amz-Date"));
        let bad = headers(&[
            ("x-amz-date", b"20260101T000000Z"),
            ("x-amz-meta-a", b"1"),
            ("x-amz-copy-source", b"/b2/k"),
        ]);
        let e = v4.refuse_unsigned(&bad).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        assert_eq!(
            e.details,
            vec![("HeadersNotSigned", "x-amz-copy-source, x-amz-meta-a".into())]
        );
        // A signed name with a value the signature checks could not read.
        let v4 = Coverage::V4(vec!["x-amz-meta-a".into()]);
        let e = v4
            .refuse_unsigned(&headers(&[("x-amz-meta-a", b"\xff")]))
            .unwrap_err();
        assert!(e.message.contains("x-amz-meta-a"), "{}", e.message);
        // V2 signs every x-amz-* header; anonymous requests sign nothing.
        assert!(Coverage::V2.refuse_unsigned(&bad).is_ok());
        assert!(Coverage::V2.covers("content-type") && !Coverage::V2.covers("cache-control"));
        assert!(Coverage::Anonymous.refuse_unsigned(&bad).is_ok());
    }
}
