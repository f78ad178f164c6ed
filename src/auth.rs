//! `riftv1` request signatures (HMAC-SHA512) and the per-bucket ACL check,
//! exactly as Backrunner computes them.

use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use percent_encoding::percent_decode_str;

use crate::bucket::meta::{AclEntry, BucketMeta, ACL_NO_TOKEN, ACL_WRITE};
use crate::encoding::hex;
/// The query codec the signature uses (it lives in [`crate::encoding`]).
pub use crate::encoding::{parse_query, query_escape, query_unescape};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The user is not in the bucket's ACL.
    #[error("user {user:?} is not allowed in bucket {bucket}")]
    UnknownUser {
        /// Who asked.
        user: String,
        /// Where.
        bucket: String,
    },
    /// The user may not write or delete.
    #[error("user {user:?} may not write to bucket {bucket}")]
    NoWrite {
        /// Who asked.
        user: String,
        /// Where.
        bucket: String,
    },
    /// The signature does not match.
    #[error("signature of user {user:?} does not match for bucket {bucket}")]
    BadSignature {
        /// Who asked.
        user: String,
        /// Where.
        bucket: String,
    },
    /// `proxy.signature-max-age` is set and the signed `X-Ell-Signtime` is
    /// missing, malformed or too far from now.
    #[error("signature of user {user:?}: {reason} (proxy.signature-max-age is {max_age}s)")]
    Signtime {
        /// Who asked.
        user: String,
        /// What is wrong with the header.
        reason: String,
        /// The configured bound.
        max_age: u64,
    },
    /// A VOD title token that does not open the title ([`check_title_token`]).
    #[error("title token: {0}")]
    TitleToken(String),
    /// OpenSSL could not compute the HMAC (no signature is then made or
    /// accepted).
    #[error("cannot compute the riftv1 signature: {0}")]
    Hmac(String),
}

/// The header carrying the signing time, in Unix seconds; as an `x-ell-*`
/// header it is covered by the riftv1 signature.
pub const SIGNTIME_HEADER: &str = "x-ell-signtime";

/// The text a `riftv1` signature covers: method, decoded path, sorted
/// non-empty query (first value per name) and the sorted `x-ell-*` headers.
pub fn string_to_sign<'a>(
    method: &str,
    path_and_query: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let (raw_path, raw_query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut text: Vec<u8> = Vec::with_capacity(128);
    text.extend_from_slice(method.as_bytes());
    text.push(b'\n');
    text.extend(percent_decode_str(raw_path));
    if let Some(q) = raw_query {
        let mut first: Vec<(String, String)> = Vec::new();
        for (k, v) in parse_query(q) {
            if !first.iter().any(|(fk, _)| *fk == k) {
                first.push((k, v));
            }
        }
        if !first.is_empty() {
            first.retain(|(_, v)| !v.is_empty());
            first.sort();
            let encoded: Vec<String> = first
                .iter()
                .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
                .collect();
            text.push(b'?');
            text.extend_from_slice(encoded.join("&").as_bytes());
        }
    }
    text.push(b'\n');
    let mut ell: Vec<(String, &str)> = Vec::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-ell-") && !ell.iter().any(|(n, _)| *n == lower) {
            ell.push((lower, value));
        }
    }
    ell.sort();
    for (name, value) in ell {
        text.extend_from_slice(name.as_bytes());
        text.push(b':');
        text.extend_from_slice(value.as_bytes());
        text.push(b'\n');
    }
    text
}

/// Lowercase hex HMAC-SHA512 of the request, keyed by `token`.
pub fn signature<'a>(
    token: &str,
    method: &str,
    path_and_query: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, AuthError> {
    let text = string_to_sign(method, path_and_query, headers);
    let mac = hmac_sha512(token.as_bytes(), &text).map_err(|e| AuthError::Hmac(e.to_string()))?;
    Ok(hex(&mac))
}

fn hmac_sha512(key: &[u8], data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    // HMAC pads short keys with zeros to the block size (128 bytes for
    // SHA-512), so an empty key, which OpenSSL refuses, equals 128 zero bytes.
    let zeros = [0u8; 128];
    let key = if key.is_empty() { &zeros[..] } else { key };
    let pkey = PKey::hmac(key)?;
    let mut signer = Signer::new(MessageDigest::sha512(), &pkey)?;
    signer.update(data)?;
    signer.sign_to_vec()
}

/// Splits `Authorization: riftv1 USER:HEXSIG`; anything else is user `*`.
pub fn parse_authorization(header: Option<&str>) -> (String, Option<String>) {
    let parsed = header.and_then(|h| {
        let (scheme, rest) = h.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("riftv1") || rest.contains(' ') {
            return None;
        }
        let (user, sig) = rest.split_once(':')?;
        if sig.contains(':') {
            return None;
        }
        Some((user.to_string(), Some(sig.to_string())))
    });
    parsed.unwrap_or_else(|| ("*".to_string(), None))
}

/// The parts of a request the ACL check needs.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Raw path and query as sent.
    pub path_and_query: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// All request headers.
    pub headers: Vec<(&'a str, &'a str)>,
    /// `proxy.signature-max-age`: when above 0, a checked signature must
    /// sign an `X-Ell-Signtime` this close to now.
    pub max_sign_age: u64,
}

impl SignedRequest<'_> {
    /// Whether `given` (hex, any case) is the riftv1 signature of this
    /// request keyed by `token`; compared in constant time.
    pub fn signature_matches(&self, token: &str, given: &str) -> Result<bool, AuthError> {
        let expected = signature(
            token,
            self.method,
            self.path_and_query,
            self.headers.iter().copied(),
        )?;
        let given = given.to_ascii_lowercase();
        Ok(given.len() == expected.len() && memcmp::eq(given.as_bytes(), expected.as_bytes()))
    }

    /// Checks the signed `X-Ell-Signtime` against `max_sign_age` (nothing to
    /// check when it is 0).
    pub fn check_signtime(&self, user: &str, now: std::time::SystemTime) -> Result<(), AuthError> {
        let max_age = self.max_sign_age;
        if max_age == 0 {
            return Ok(());
        }
        let err = |reason: String| AuthError::Signtime {
            user: user.to_string(),
            reason,
            max_age,
        };
        let value = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(SIGNTIME_HEADER))
            .map(|(_, v)| v.trim())
            .ok_or_else(|| err("no X-Ell-Signtime header is signed".into()))?;
        let t: u64 = value
            .parse()
            .map_err(|_| err(format!("X-Ell-Signtime {value:?} is not Unix seconds")))?;
        let now = crate::time::unix_secs(now);
        if now.abs_diff(t) > max_age {
            return Err(err(format!(
                "X-Ell-Signtime {t} is {}s away from now",
                now.abs_diff(t)
            )));
        }
        Ok(())
    }
}

/// The ACL part of a check, without the signature: whether `user` may read
/// (or `write`) in `bucket`. Answers the user's entry, or `None` for an
/// empty ACL (which allows everything). Shared by riftv1 and the S3 API.
pub fn acl_entry<'a>(
    bucket: &'a BucketMeta,
    user: &str,
    write: bool,
) -> Result<Option<&'a AclEntry>, AuthError> {
    if bucket.acl.is_empty() {
        return Ok(None);
    }
    let Some(entry) = bucket.acl.get(user) else {
        return Err(AuthError::UnknownUser {
            user: user.to_string(),
            bucket: bucket.name.clone(),
        });
    };
    if write && entry.flags & ACL_WRITE == 0 {
        return Err(AuthError::NoWrite {
            user: user.to_string(),
            bucket: bucket.name.clone(),
        });
    }
    Ok(Some(entry))
}

/// Checks the bucket's ACL for a request; `write` for uploads and deletes.
pub fn check(bucket: &BucketMeta, req: &SignedRequest<'_>, write: bool) -> Result<(), AuthError> {
    let (user, sig) = parse_authorization(req.authorization);
    let Some(entry) = acl_entry(bucket, &user, write)? else {
        return Ok(());
    };
    if entry.flags & ACL_NO_TOKEN != 0 {
        return Ok(());
    }
    if !req.signature_matches(&entry.token, &sig.unwrap_or_default())? {
        return Err(AuthError::BadSignature {
            user,
            bucket: bucket.name.clone(),
        });
    }
    req.check_signtime(&user, std::time::SystemTime::now())
}

/// The signature of a VOD title token: lowercase hex HMAC-SHA512, keyed
/// by the user's ACL token, of `vod\nTITLE\nEXPIRES\n`, where TITLE is
/// the path between `/hls/` (or `/dash/`) and the file, as sent
/// (`BUCKET/KEY` or `BUCKET/PREFIX,A,B,SUFFIX.urlset`), and EXPIRES the
/// Unix second it stops opening the title (docs/vod.md).
pub fn title_signature(secret: &str, title: &str, expires: u64) -> Result<String, AuthError> {
    let text = format!("vod\n{title}\n{expires}\n");
    let mac = hmac_sha512(secret.as_bytes(), text.as_bytes())
        .map_err(|e| AuthError::Hmac(e.to_string()))?;
    Ok(hex(&mac))
}

/// Checks a VOD title token, `USER:EXPIRES:SIGNATURE` (the `token` query
/// parameter, percent-decoded), for reading `title` of `bucket` at `now`:
/// USER is in the bucket's ACL, EXPIRES is not past and SIGNATURE is
/// [`title_signature`] with USER's token. Stands for a riftv1 signature
/// of USER on every file of the title, both formats.
pub fn check_title_token(
    bucket: &BucketMeta,
    title: &str,
    token: &str,
    now: std::time::SystemTime,
) -> Result<(), AuthError> {
    let bad = |why: String| AuthError::TitleToken(why);
    let mut parts = token.rsplitn(3, ':');
    let (Some(sig), Some(expires), Some(user)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("want USER:EXPIRES:SIGNATURE".into()));
    };
    let expires: u64 = expires
        .parse()
        .map_err(|_| bad(format!("expiry {expires:?} is not Unix seconds")))?;
    let now = crate::time::unix_secs(now);
    if now > expires {
        return Err(bad(format!("expired {}s ago", now - expires)));
    }
    let Some(entry) = acl_entry(bucket, user, false)? else {
        return Ok(());
    };
    let expected = title_signature(&entry.token, title, expires)?;
    if sig.len() != expected.len() || !memcmp::eq(sig.as_bytes(), expected.as_bytes()) {
        return Err(bad(format!(
            "signature of user {user:?} does not match title {title}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Vector {
        token: String,
        method: String,
        request_target: String,
        headers: BTreeMap<String, String>,
        signature: String,
    }

    /// Signatures computed by Backrunner's own `auth.GenerateSignature` (shared/testdata).
    #[test]
    fn backrunner_signature_vectors() {
        #[derive(Deserialize)]
        struct File {
            vectors: Vec<Vector>,
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/signatures.json");
        let f: File = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert!(f.vectors.len() >= 8);
        for v in &f.vectors {
            let got = signature(
                &v.token,
                &v.method,
                &v.request_target,
                v.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .unwrap();
            assert_eq!(got, v.signature, "{} {}", v.method, v.request_target);
        }
    }

    #[test]
    fn authorization_header_forms() {
        assert_eq!(
            parse_authorization(Some("riftv1 u:ab")),
            ("u".into(), Some("ab".into()))
        );
        assert_eq!(parse_authorization(None).0, "*");
        assert_eq!(parse_authorization(Some("riftv1 u")).0, "*");
        assert_eq!(parse_authorization(Some("Basic dXNlcg==")).0, "*");
        assert_eq!(parse_authorization(Some("riftv1 u:a:b")).0, "*");
    }

    fn bucket(flags: u64) -> BucketMeta {
        let mut b = BucketMeta {
            name: "b".into(),
            groups: vec![1],
            ..Default::default()
        };
        b.grant("u", "tok", flags);
        b
    }

    #[test]
    fn acl_matrix() {
        let good = format!(
            "riftv1 u:{}",
            signature("tok", "GET", "/get/b/k", []).unwrap()
        );
        let bad = "riftv1 u:00".to_string();
        fn req(auth: &str) -> SignedRequest<'_> {
            SignedRequest {
                method: "GET",
                path_and_query: "/get/b/k",
                authorization: if auth.is_empty() { None } else { Some(auth) },
                headers: vec![],
                max_sign_age: 0,
            }
        }
        let ok = |flags, auth: &str, write| check(&bucket(flags), &req(auth), write).is_ok();
        // flags 0: signature needed, no writes
        assert!(ok(0, &good, false) && !ok(0, &bad, false) && !ok(0, &good, true));
        // flags 1: no signature needed, no writes
        assert!(ok(1, &bad, false) && !ok(1, &good, true));
        // flags 2: signature needed, writes allowed
        assert!(ok(2, &good, true) && !ok(2, &bad, true) && !ok(2, &bad, false));
        // flags 3: anything goes for that user
        assert!(ok(3, &bad, true) && ok(3, &bad, false));
        // unknown user and no header
        assert!(!ok(3, "riftv1 x:00", false) && !ok(3, "", false));
        assert!(check(&BucketMeta::default(), &req(""), true).is_ok());
    }

    #[test]
    fn title_tokens_open_their_title_until_they_expire() {
        use std::time::{Duration, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let b = bucket(0);
        let sig = |title, exp| title_signature("tok", title, exp).unwrap();
        let token = |user: &str, title, exp| format!("{user}:{exp}:{}", sig(title, exp));
        let check = |t: &str, title| check_title_token(&b, title, t, now);
        assert!(check(&token("u", "b/k.mp4", 1_000_060), "b/k.mp4").is_ok());
        // Still valid in its last second.
        assert!(check(&token("u", "b/k.mp4", 1_000_000), "b/k.mp4").is_ok());
        let err = |t: &str, title| check(t, title).unwrap_err().to_string();
        assert_eq!(
            err(&token("u", "b/k.mp4", 999_990), "b/k.mp4"),
            "title token: expired 10s ago"
        );
        // Another title, a changed expiry, a changed signature.
        assert!(err(&token("u", "b/k.mp4", 1_000_060), "b/l.mp4").contains("does not match"));
        let t = token("u", "b/k.mp4", 1_000_060);
        assert!(err(&t.replace(":1000060:", ":1000061:"), "b/k.mp4").contains("does not match"));
        let mut flipped = t.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(err(std::str::from_utf8(&flipped).unwrap(), "b/k.mp4").contains("does not match"));
        // Not in the ACL; malformed.
        assert!(err(&token("x", "b/k.mp4", 1_000_060), "b/k.mp4").contains("not allowed"));
        assert!(err("u:00", "b/k.mp4").contains("USER:EXPIRES:SIGNATURE"));
        assert!(err("u:soon:00", "b/k.mp4").contains("not Unix seconds"));
        // A user name with colons keeps them.
        let mut c = bucket(0);
        c.grant("a:b", "tok", 0);
        let t = format!("a:b:1000060:{}", sig("b/k.mp4", 1_000_060));
        assert!(check_title_token(&c, "b/k.mp4", &t, now).is_ok());
    }

    #[test]
    fn signtime_is_checked_only_when_configured() {
        use std::time::{Duration, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let with = |value: Option<&'static str>, max_sign_age| SignedRequest {
            method: "GET",
            path_and_query: "/get/b/k",
            authorization: None,
            headers: value.map(|v| ("X-Ell-Signtime", v)).into_iter().collect(),
            max_sign_age,
        };
        assert!(with(None, 0).check_signtime("u", now).is_ok());
        assert!(with(Some("junk"), 0).check_signtime("u", now).is_ok());
        assert!(with(Some("1000000"), 60).check_signtime("u", now).is_ok());
        assert!(with(Some("999950"), 60).check_signtime("u", now).is_ok());
        assert!(with(Some("1000059"), 60).check_signtime("u", now).is_ok());
        for bad in [
            None,
            Some("999900"),
            Some("1000100"),
            Some("-5"),
            Some("1e6"),
        ] {
            let e = with(bad, 60)
                .check_signtime("u", now)
                .unwrap_err()
                .to_string();
            assert!(e.contains("signature-max-age"), "{bad:?}: {e}");
        }
        // The header is signed: changing it breaks the signature.
        let signed = with(Some("1000000"), 60);
        let sig = signature("tok", "GET", "/get/b/k", [("X-Ell-Signtime", "1000000")]).unwrap();
        assert!(signed.signature_matches("tok", &sig).unwrap());
        assert!(!with(Some("1000001"), 60)
            .signature_matches("tok", &sig)
            .unwrap());
    }
}
