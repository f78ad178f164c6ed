//! What a request addresses: bucket and key from the Host header
//! (virtual-host style under `proxy.s3-domain`) and the path.

use percent_encoding::percent_decode_str;

use crate::s3::error::{S3Error, S3ErrorCode};

/// What a request addresses, from the Host header and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket, if any (`GET /` addresses the service).
    pub bucket: Option<String>,
    /// The object key, if any.
    pub key: Option<String>,
}

/// A target from its parts (test tables of this module and of `op`).
#[cfg(test)]
pub(crate) fn t(bucket: Option<&str>, key: Option<&str>) -> Target {
    Target {
        bucket: bucket.map(str::to_string),
        key: key.map(str::to_string),
    }
}

/// Splits a request into bucket and key: virtual-host style when the Host
/// is `BUCKET.<s3-domain>`, else path style `/BUCKET/KEY`. The key is the
/// percent-decoded rest of the path (`+` stays `+`, as S3 reads paths).
pub fn parse_target(host: Option<&str>, raw_path: &str, domain: &str) -> Result<Target, S3Error> {
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("path {raw_path:?} is not UTF-8 once percent-decoded"),
                )
            })
    };
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let host_bucket = host
        .filter(|_| !domain.is_empty())
        .map(|h| {
            h.rsplit_once(':').map_or(h, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    h
                }
            })
        })
        .and_then(|h| {
            let h = h.to_ascii_lowercase();
            let d = domain.to_ascii_lowercase();
            h.strip_suffix(&d)
                .and_then(|p| p.strip_suffix('.'))
                .filter(|b| !b.is_empty())
                .map(str::to_string)
        });
    if let Some(bucket) = host_bucket {
        let key = (!path.is_empty()).then(|| decode(path)).transpose()?;
        return Ok(Target {
            bucket: Some(bucket),
            key,
        });
    }
    if path.is_empty() {
        return Ok(Target {
            bucket: None,
            key: None,
        });
    }
    let (b, k) = match path.split_once('/') {
        Some((b, k)) => (b, (!k.is_empty()).then_some(k)),
        None => (path, None),
    };
    let bucket = decode(b)?;
    // `B/s3` is the namespace of B's metadata sidecars (meta.rs): a bucket
    // name with a `/` is never served here.
    if bucket.contains('/') {
        return Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            format!("bucket name {bucket:?} contains '/'"),
        ));
    }
    Ok(Target {
        bucket: Some(bucket),
        key: k.map(decode).transpose()?,
    })
}

/// Longest key S3 stores, in bytes of UTF-8 (as AWS).
pub const MAX_KEY_BYTES: usize = 1024;

/// Whether S3 may create `key` (PutObject, the target of CopyObject,
/// CreateMultipartUpload): at most [`MAX_KEY_BYTES`] (`KeyTooLongError`),
/// and only characters XML 1.0 can carry, so every listing shows it as it
/// is (`InvalidArgument` naming the character; docs/s3.md "Keys").
pub fn check_new_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(
            S3ErrorCode::KeyTooLongError,
            format!(
                "Your key is too long: {} bytes, at most {MAX_KEY_BYTES}",
                key.len()
            ),
        ));
    }
    if let Some((at, c)) = key
        .char_indices()
        .find(|(_, c)| !crate::s3::xml::is_xml_char(*c))
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!(
                "the key has U+{:04X} at byte {at}, a character XML 1.0 cannot carry, so no \
                 listing could show it; such keys are refused",
                c as u32
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_s3_may_create() {
        assert!(check_new_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(check_new_key(&"т".repeat(MAX_KEY_BYTES / 2)).is_ok());
        let e = check_new_key(&"т".repeat(MAX_KEY_BYTES / 2 + 1)).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::KeyTooLongError);
        assert!(check_new_key("cr\r lf\n tab\t \u{fffd}").is_ok());
        for bad in ["a\u{fffe}", "a\u{ffff}", "\u{1}", "x\u{1f}"] {
            let e = check_new_key(bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{bad:?}");
            assert!(e.message.contains("XML 1.0"), "{}", e.message);
        }
        assert!(check_new_key("a\u{ffff}")
            .unwrap_err()
            .message
            .contains("U+FFFF at byte 1"));
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target(Some("h"), "/", "").unwrap(), t(None, None));
        assert_eq!(parse_target(None, "/b1", "").unwrap(), t(Some("b1"), None));
        assert_eq!(parse_target(None, "/b1/", "").unwrap(), t(Some("b1"), None));
        assert_eq!(
            parse_target(None, "/b1/dir/a%20b+c", "").unwrap(),
            t(Some("b1"), Some("dir/a b+c"))
        );
        assert_eq!(
            parse_target(None, "/b1/%D1%82//x/", "").unwrap(),
            t(Some("b1"), Some("т//x/"))
        );
        assert!(parse_target(None, "/b1/%FF", "").is_err());
        assert_eq!(
            parse_target(None, "/b1%2Fs3/k", "").unwrap_err().code,
            S3ErrorCode::InvalidBucketName
        );
        // virtual-host style only under the configured domain
        let d = "s3.example.com";
        assert_eq!(
            parse_target(Some("b1.s3.example.com:9000"), "/k/x", d).unwrap(),
            t(Some("b1"), Some("k/x"))
        );
        assert_eq!(
            parse_target(Some("B1.S3.Example.com"), "/", d).unwrap(),
            t(Some("b1"), None)
        );
        assert_eq!(
            parse_target(Some("s3.example.com"), "/b1/k", d).unwrap(),
            t(Some("b1"), Some("k"))
        );
        assert_eq!(
            parse_target(Some("b1.s3.example.com"), "/k", "").unwrap(),
            t(Some("k"), None)
        );
    }
}
