//! Who sent an S3 request and what they may do. Credentials are the
//! buckets' ACL users (access key id = user name, secret = its token);
//! rights are the ACL flags, decided by [`crate::auth::acl_entry`] as for
//! Backrunner's own routes.

use crate::auth;
use crate::bucket::meta::{BucketMeta, ACL_NO_TOKEN, ACL_WRITE};

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::sigv4::{self, Authorization, Request};

/// The anonymous user of Backrunner's ACLs.
pub const ANONYMOUS: &str = "*";

/// Who the request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No Authorization header.
    Anonymous,
    /// A verified ACL user.
    User(String),
}

/// Verifies a SigV4 signature: the secret is the user's token in `bucket`'s
/// ACL when the user is there, else any token the user has in a loaded
/// bucket (users are known from the ACLs of existing buckets).
pub fn verify(
    auth: &Authorization,
    amz_date: &str,
    req: &Request<'_>,
    bucket: Option<&BucketMeta>,
    all: &[std::sync::Arc<BucketMeta>],
) -> Result<Caller, S3Error> {
    verify_key(auth, amz_date, req, bucket, all).map(|(caller, _)| caller)
}

/// [`verify`], also answering the signing key of the secret that matched
/// (signed aws-chunked bodies chain their chunk signatures with it).
pub fn verify_key(
    auth: &Authorization,
    amz_date: &str,
    req: &Request<'_>,
    bucket: Option<&BucketMeta>,
    all: &[std::sync::Arc<BucketMeta>],
) -> Result<(Caller, Vec<u8>), S3Error> {
    let secrets = secrets(&auth.access_key, bucket, all)?;
    let canonical = sigv4::canonical_request(req, &auth.signed_headers)?;
    let sts = sigv4::string_to_sign(amz_date, &auth.scope(), &canonical);
    // Every candidate is computed and compared, so the time taken does not
    // tell which one matched.
    let mut matched = None;
    for s in &secrets {
        let key = sigv4::signing_key(s, &auth.date, &auth.region, &auth.service);
        let sig = crate::encoding::hex(&sigv4::hmac_sha256(&key, sts.as_bytes()));
        if sigv4::same_signature(&auth.signature, &sig) && matched.is_none() {
            matched = Some(key);
        }
    }
    if let Some(key) = matched {
        Ok((Caller::User(auth.access_key.clone()), key))
    } else {
        Err(signature_mismatch(auth, &sts, &canonical))
    }
}

/// The secrets `access_key` may sign with: its token in `bucket`'s ACL when
/// it is there, else every token it has in a loaded bucket.
pub fn secrets<'a>(
    access_key: &str,
    bucket: Option<&'a BucketMeta>,
    all: &'a [std::sync::Arc<BucketMeta>],
) -> Result<Vec<&'a str>, S3Error> {
    let mut secrets: Vec<&str> = Vec::new();
    if let Some(e) = bucket.and_then(|b| b.acl.get(access_key)) {
        secrets.push(&e.token);
    } else {
        for b in all {
            if let Some(e) = b.acl.get(access_key) {
                if !secrets.contains(&e.token.as_str()) {
                    secrets.push(&e.token);
                }
            }
        }
    }
    if secrets.is_empty() || access_key == ANONYMOUS {
        return Err(S3Error::new(
            S3ErrorCode::InvalidAccessKeyId,
            format!("access key {access_key:?} is not a user of any bucket's ACL"),
        ));
    }
    Ok(secrets)
}

/// SignatureDoesNotMatch in S3's words, with what the server signed (the
/// string to sign, the canonical request, and their bytes in hex) so a
/// client author can see where the two differ.
fn signature_mismatch(auth: &Authorization, sts: &str, canonical: &str) -> S3Error {
    let bytes = |s: &str| {
        s.bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut e = S3Error::new(
        S3ErrorCode::SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    );
    e.details = vec![
        ("AWSAccessKeyId", auth.access_key.clone()),
        ("StringToSign", sts.to_string()),
        ("SignatureProvided", auth.signature.clone()),
        ("StringToSignBytes", bytes(sts)),
        ("CanonicalRequest", canonical.to_string()),
        ("CanonicalRequestBytes", bytes(canonical)),
    ];
    e
}

/// Whether `caller` may read (or `write`: upload, delete) in `bucket`.
/// Anonymous callers get what the ACL grants `*` without a token.
pub fn authorize(caller: &Caller, bucket: &BucketMeta, write: bool) -> Result<(), S3Error> {
    let denied = |why: String| S3Error::new(S3ErrorCode::AccessDenied, why);
    match caller {
        Caller::User(user) => auth::acl_entry(bucket, user, write)
            .map(|_| ())
            .map_err(|e| denied(e.to_string())),
        Caller::Anonymous => {
            if bucket.acl.is_empty() {
                return Ok(());
            }
            let need = ACL_NO_TOKEN | if write { ACL_WRITE } else { 0 };
            match bucket.acl.get(ANONYMOUS) {
                Some(e) if e.flags & need == need => Ok(()),
                _ => Err(denied(format!(
                    "anonymous {} is not allowed in bucket {}",
                    if write { "writing" } else { "reading" },
                    bucket.name
                ))),
            }
        }
    }
}

/// Whether `caller` is named in the bucket's ACL (ListBuckets shows those).
pub fn lists(caller: &Caller, bucket: &BucketMeta) -> bool {
    match caller {
        Caller::User(u) => bucket.acl.contains_key(u),
        Caller::Anonymous => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(entries: &[(&str, &str, u64)]) -> BucketMeta {
        let mut b = BucketMeta {
            name: "b".into(),
            groups: vec![1],
            ..Default::default()
        };
        for (u, t, f) in entries {
            b.grant(u, t, *f);
        }
        b
    }

    #[test]
    fn acl_rights() {
        let u = Caller::User("u".into());
        let ro = bucket(&[("u", "t", 0)]);
        let rw = bucket(&[("u", "t", 2)]);
        assert!(authorize(&u, &ro, false).is_ok());
        assert_eq!(
            authorize(&u, &ro, true).unwrap_err().code,
            S3ErrorCode::AccessDenied
        );
        assert!(authorize(&u, &rw, true).is_ok());
        let other = Caller::User("x".into());
        assert!(authorize(&other, &rw, false).is_err());
        // anonymous: only what `*` may do without a token; an empty ACL allows all
        assert!(authorize(&Caller::Anonymous, &rw, false).is_err());
        let public = bucket(&[("u", "t", 2), ("*", "", 1)]);
        assert!(authorize(&Caller::Anonymous, &public, false).is_ok());
        assert!(authorize(&Caller::Anonymous, &public, true).is_err());
        let star_token = bucket(&[("*", "", 0)]);
        assert!(authorize(&Caller::Anonymous, &star_token, false).is_err());
        assert!(authorize(&Caller::Anonymous, &bucket(&[]), true).is_ok());
        assert!(lists(&u, &ro) && !lists(&other, &ro) && !lists(&Caller::Anonymous, &public));
    }

    fn signed(secret: &str, key: &str) -> (Authorization, Request<'static>) {
        let req = Request {
            method: "GET",
            raw_path: "/b/k",
            raw_query: "",
            headers: vec![("host", "h"), ("x-amz-date", "20240101T000000Z")],
            payload_hash: sigv4::EMPTY_SHA256,
        };
        let mut a = Authorization {
            access_key: key.into(),
            date: "20240101".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: String::new(),
        };
        let cr = sigv4::canonical_request(&req, &a.signed_headers).unwrap();
        let sts = sigv4::string_to_sign("20240101T000000Z", &a.scope(), &cr);
        a.signature = sigv4::signature(secret, &a, &sts);
        (a, req)
    }

    #[test]
    fn credentials_from_acls() {
        let b = bucket(&[("u", "tok", 2)]);
        let other = std::sync::Arc::new(bucket(&[("v", "vtok", 0)]));
        let all = vec![std::sync::Arc::new(b.clone()), other];
        let (a, req) = signed("tok", "u");
        let d = "20240101T000000Z";
        assert_eq!(
            verify(&a, d, &req, Some(&b), &all).unwrap(),
            Caller::User("u".into())
        );
        // a user of another bucket: verified with that token, then the ACL decides
        let (a, req) = signed("vtok", "v");
        assert_eq!(
            verify(&a, d, &req, Some(&b), &all).unwrap(),
            Caller::User("v".into())
        );
        let (a, req) = signed("wrong", "u");
        let e = verify(&a, d, &req, Some(&b), &all).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch);
        let detail = |name: &str| {
            e.details
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .clone()
        };
        assert!(detail("StringToSign").starts_with("AWS4-HMAC-SHA256\n"));
        assert!(detail("StringToSignBytes").starts_with("41 57 53 34 2d"));
        assert_eq!(detail("SignatureProvided"), a.signature);
        assert_eq!(detail("AWSAccessKeyId"), "u");
        assert!(detail("CanonicalRequest").starts_with("GET\n"));
        let (a, req) = signed("tok", "nobody");
        assert_eq!(
            verify(&a, d, &req, None, &all).unwrap_err().code,
            S3ErrorCode::InvalidAccessKeyId
        );
    }
}
