//! Signed redirect URLs to the storage nodes' streaming module (SPEC.md,
//! Redirect): how `/redirect/` builds and signs them, and [`verify`], which a
//! storage-side module (or an operator testing one) uses to check them.
//!
//! The URL is `SCHEME://HOST:PORT/FILE:OFFSET:SIZE`; the signature is the
//! `riftv1` HMAC-SHA512 ([`crate::auth::signature`]) keyed by
//! `redirect-token` over `GET`, the URL's path and the `X-Ell-*` headers.

use openssl::memcmp;
use percent_encoding::percent_decode_str;

use crate::auth;
use crate::encoding::redirect_path_escape;

/// Everything a redirect carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRedirect {
    /// `http` or `https`.
    pub scheme: String,
    /// Storage node host (an IPv6 address without brackets).
    pub host: String,
    /// The streaming module's port (`redirect-port`).
    pub port: u16,
    /// The data file, with `redirect-root` cut off.
    pub file: String,
    /// Where the object starts inside the data file.
    pub object_offset: u64,
    /// First requested byte, relative to the object.
    pub offset: u64,
    /// Requested bytes.
    pub size: u64,
    /// The object's whole size.
    pub total_size: u64,
    /// Object modification time, unix seconds.
    pub mtime: u64,
    /// When the signature was made, unix seconds.
    pub signtime: u64,
    /// Seconds the signature stays valid after `signtime`.
    pub timeout: u64,
}

impl SignedRedirect {
    /// The URL path: `/FILE:OFFSET:SIZE`, OFFSET counted in the data file.
    pub fn path(&self) -> String {
        let slash = if self.file.starts_with('/') { "" } else { "/" };
        let raw = format!(
            "{slash}{}:{}:{}",
            self.file,
            self.object_offset.saturating_add(self.offset),
            self.size
        );
        redirect_path_escape(&raw)
    }

    /// The whole URL for `Location`.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}{}", self.scheme, self.port, self.path())
    }

    /// The signed `X-Ell-*` headers, as Backrunner sends them.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("X-Ell-Mtime", self.mtime.to_string()),
            ("X-Ell-Signtime", self.signtime.to_string()),
            ("X-Ell-Signature-Timeout", self.timeout.to_string()),
            ("X-Ell-File-Offset", self.object_offset.to_string()),
            ("X-Ell-Total-Size", self.total_size.to_string()),
            ("X-Ell-File", self.file.clone()),
        ]
    }

    /// The `Authorization` value: lowercase hex signature made with `token`.
    pub fn signature(&self, token: &str) -> Result<String, auth::AuthError> {
        let headers = self.headers();
        auth::signature(
            token,
            "GET",
            &self.path(),
            headers.iter().map(|(k, v)| (*k, v.as_str())),
        )
    }
}

/// Splits an Elliptics address `host:port:family` into its host; an IPv6
/// host keeps its colons.
pub fn address_host(address: &str) -> Option<&str> {
    let mut parts = address.rsplitn(3, ':');
    let _family = parts.next()?;
    let _port = parts.next()?;
    let host = parts.next()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(host)
}

/// Why a redirect request does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The expected signature cannot be computed.
    #[error(transparent)]
    Signing(#[from] auth::AuthError),
    /// A header the signature needs is absent.
    #[error("header {0} is missing")]
    Missing(&'static str),
    /// A numeric header is not a number.
    #[error("header {0} is not a number")]
    NotNumber(&'static str),
    /// The signature does not match this token and request.
    #[error("signature does not match")]
    BadSignature,
    /// Signed in the future (clocks disagree, or a forged time).
    #[error("signed at {signtime}, which is after now ({now})")]
    NotYetValid {
        /// X-Ell-Signtime.
        signtime: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// The signature's window has passed.
    #[error("signature expired at {expired} (now {now})")]
    Expired {
        /// Signtime + timeout.
        expired: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// The path is not `/FILE:OFFSET:SIZE`.
    #[error("path is not /FILE:OFFSET:SIZE: {0}")]
    BadPath(String),
}

/// What a verified redirect asks the storage node for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The data file, as in the URL (relative to `redirect-root`).
    pub file: String,
    /// First byte inside the file.
    pub offset: u64,
    /// Bytes to send.
    pub size: u64,
    /// Unix second after which the signature is no longer valid.
    pub valid_until: u64,
}

/// Checks a redirect request as the storage node receives it: the
/// `Authorization` signature (bare hex, as Backrunner sends it, or
/// `riftv1 USER:HEX`) over `method`, `path_and_query` and the `X-Ell-*`
/// headers, compared in constant time, then the window
/// `X-Ell-Signtime ..= X-Ell-Signtime + X-Ell-Signature-Timeout` against `now`
/// (unix seconds). Header names are matched case-insensitively.
pub fn verify(
    token: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    now: u64,
) -> Result<Target, VerifyError> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let number = |name: &'static str| -> Result<u64, VerifyError> {
        get(name)
            .ok_or(VerifyError::Missing(name))?
            .parse()
            .map_err(|_| VerifyError::NotNumber(name))
    };
    let given = get("Authorization").ok_or(VerifyError::Missing("Authorization"))?;
    let given = match given.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("riftv1") => {
            rest.rsplit_once(':').map(|(_, s)| s).unwrap_or(rest)
        }
        _ => given,
    }
    .to_ascii_lowercase();
    let expected = auth::signature(token, method, path_and_query, headers.iter().copied())?;
    if given.len() != expected.len() || !memcmp::eq(given.as_bytes(), expected.as_bytes()) {
        return Err(VerifyError::BadSignature);
    }
    let signtime = number("X-Ell-Signtime")?;
    let timeout = number("X-Ell-Signature-Timeout")?;
    let valid_until = signtime.saturating_add(timeout);
    if now < signtime {
        return Err(VerifyError::NotYetValid { signtime, now });
    }
    if now > valid_until {
        return Err(VerifyError::Expired {
            expired: valid_until,
            now,
        });
    }
    let path = path_and_query.split('?').next().unwrap_or_default();
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let bad = || VerifyError::BadPath(path.to_string());
    let mut parts = decoded.rsplitn(3, ':');
    let size = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let offset = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let file = parts.next().filter(|f| !f.is_empty()).ok_or_else(bad)?;
    Ok(Target {
        file: file.to_string(),
        offset,
        size,
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SignedRedirect {
        SignedRedirect {
            scheme: "http".into(),
            host: "10.0.0.1".into(),
            port: 8080,
            file: "/srv/data/blob-1.0".into(),
            object_offset: 4096,
            offset: 0,
            size: 100,
            total_size: 100,
            mtime: 1732500000,
            signtime: 1732500100,
            timeout: 60,
        }
    }

    /// Shared vector 5 of tests/data/signatures.json, made by Backrunner.
    #[test]
    fn matches_backrunner_vector() {
        let r = sample();
        assert_eq!(r.path(), "/srv/data/blob-1.0:4096:100");
        assert_eq!(r.url(), "http://10.0.0.1:8080/srv/data/blob-1.0:4096:100");
        assert_eq!(
            r.signature("redirect secure token").unwrap(),
            "c49293687fbac07c2e685104218a7ce60972a749eb7f0f55218486ac7c30af33\
             d64595c6d24f540d9d12111df8a4b33b60f38fd9c6b75593792d279c731f2a88"
        );
    }

    fn request(r: &SignedRedirect, token: &str) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = r
            .headers()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        h.push(("Authorization".into(), r.signature(token).unwrap()));
        h
    }

    fn check(
        r: &SignedRedirect,
        h: &[(String, String)],
        token: &str,
        now: u64,
    ) -> Result<Target, VerifyError> {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        verify(token, "GET", &r.path(), &h, now)
    }

    #[test]
    fn verifies_token_and_window() {
        let mut r = sample();
        r.file = "data dir/blob?1".into();
        r.offset = 10;
        r.size = 5;
        let h = request(&r, "tok");
        assert_eq!(r.path(), "/data%20dir/blob%3F1:4106:5");
        let t = check(&r, &h, "tok", r.signtime + 60).unwrap();
        assert_eq!(
            t,
            Target {
                file: "/data dir/blob?1".into(),
                offset: 4106,
                size: 5,
                valid_until: r.signtime + 60
            }
        );
        assert_eq!(
            check(&r, &h, "other", r.signtime),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            check(&r, &h, "tok", r.signtime + 61),
            Err(VerifyError::Expired { .. })
        ));
        assert!(matches!(
            check(&r, &h, "tok", r.signtime - 1),
            Err(VerifyError::NotYetValid { .. })
        ));
        // A changed header breaks the signature.
        let mut forged = h.clone();
        forged[1].1 = (r.signtime + 1000).to_string();
        assert_eq!(
            check(&r, &forged, "tok", r.signtime + 1000),
            Err(VerifyError::BadSignature)
        );
        // riftv1 form and upper-case hex are accepted.
        let mut riftv1 = h.clone();
        let sig = riftv1[6].1.to_ascii_uppercase();
        riftv1[6].1 = format!("riftv1 proxy:{sig}");
        assert!(check(&r, &riftv1, "tok", r.signtime).is_ok());
        assert_eq!(
            check(&r, &h[..6], "tok", r.signtime),
            Err(VerifyError::Missing("Authorization"))
        );
    }

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(address_host("localhost:0:2"), Some("localhost"));
        assert_eq!(address_host("10.1.2.3:1025:2"), Some("10.1.2.3"));
        assert_eq!(address_host("::1:1025:10"), Some("::1"));
        assert_eq!(address_host("[fe80::1]:1025:10"), Some("fe80::1"));
        assert_eq!(address_host("nohost"), None);
        assert_eq!(address_host(":1:2"), None);
        let mut r = sample();
        r.host = "::1".into();
        assert!(r.url().starts_with("http://[::1]:8080/"));
    }
}
