//! HTTPS: loads the certificate chain and private key into an OpenSSL
//! context (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`) and lets a SIGHUP
//! replace them without a restart.
//!
//! actix-web builds its acceptor once, so the acceptor's context carries a
//! client-hello callback that switches every new connection to the context
//! loaded last ([`TlsReloader`]). The client-hello callback runs for every
//! handshake, with or without SNI.

use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    AlpnError, ClientHelloResponse, SslAcceptor, SslAcceptorBuilder, SslContext, SslMethod,
    SslVersion,
};
use openssl::x509::X509;

/// ALPN protocols we speak, in wire format, preferred first.
const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a certificate and key cannot be served; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `proxy.cert_file` or `proxy.key_file` is empty.
    #[error("{kind} is not set")]
    NotSet {
        /// The config key.
        kind: &'static str,
    },
    /// The file cannot be read.
    #[error("{kind} {path}: cannot read: {source}")]
    Read {
        /// The config key.
        kind: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The certificate file holds no certificate.
    #[error("cert_file {path}: no PEM certificate in the file")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// The certificate file is not a PEM chain, or OpenSSL refuses it.
    #[error("cert_file {path}: {why}")]
    Certificate {
        /// The file.
        path: String,
        /// OpenSSL's reasons.
        why: String,
    },
    /// The key file is not an unencrypted PEM private key.
    #[error("key_file {path}: not an unencrypted PEM private key: {why}")]
    Key {
        /// The file.
        path: String,
        /// OpenSSL's reasons.
        why: String,
    },
    /// The key is not the certificate's.
    #[error(
        "key_file {key_file}: private key does not match the certificate in {cert_file} ({why})"
    )]
    KeyMismatch {
        /// The key file.
        key_file: String,
        /// The certificate file.
        cert_file: String,
        /// OpenSSL's reasons.
        why: String,
    },
    /// OpenSSL cannot set up a TLS context at all.
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// A server-side TLS setup read from a certificate chain and a key file.
pub fn builder(cert_file: &str, key_file: &str) -> Result<SslAcceptorBuilder, TlsError> {
    let chain = read_chain(cert_file)?;
    let key = read_key(key_file)?;
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| TlsError::Setup(reasons(&e)))?;
    let set_chain = |b: &mut SslAcceptorBuilder| -> Result<(), ErrorStack> {
        b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        let mut certs = chain.into_iter();
        if let Some(leaf) = certs.next() {
            b.set_certificate(&leaf)?;
        }
        for c in certs {
            b.add_extra_chain_cert(c)?;
        }
        Ok(())
    };
    set_chain(&mut b).map_err(|e| TlsError::Certificate {
        path: cert_file.to_string(),
        why: reasons(&e),
    })?;
    b.set_private_key(&key)
        .and_then(|_| b.check_private_key())
        .map_err(|e| TlsError::KeyMismatch {
            key_file: key_file.to_string(),
            cert_file: cert_file.to_string(),
            why: reasons(&e),
        })?;
    b.set_alpn_select_callback(|_, offered| select_alpn(offered).ok_or(AlpnError::NOACK));
    Ok(b)
}

/// A finished context for the files, as swapped in on reload.
pub fn context(cert_file: &str, key_file: &str) -> Result<SslContext, TlsError> {
    Ok(builder(cert_file, key_file)?.build().into_context())
}

/// Picks `h2` when the client offers it, else `http/1.1`, from the ALPN
/// list in wire format (length-prefixed names).
fn select_alpn(offered: &[u8]) -> Option<&[u8]> {
    let mut names = Vec::new();
    let mut rest = offered;
    while let Some((&len, tail)) = rest.split_first() {
        let len = len as usize;
        if len > tail.len() {
            return None;
        }
        names.push(&tail[..len]);
        rest = &tail[len..];
    }
    [ALPN_H2, ALPN_HTTP11]
        .into_iter()
        .find_map(|want| names.iter().copied().find(|n| *n == want))
}

/// The context new connections use; replaced on reload.
#[derive(Clone)]
pub struct TlsReloader {
    current: Arc<RwLock<SslContext>>,
}

impl TlsReloader {
    /// Loads the files and returns the acceptor builder to bind (its
    /// client-hello callback switches each connection to the current context)
    /// and the handle that reloads them.
    pub fn new(cert_file: &str, key_file: &str) -> Result<(SslAcceptorBuilder, Self), TlsError> {
        let first = context(cert_file, key_file)?;
        let reloader = TlsReloader {
            current: Arc::new(RwLock::new(first)),
        };
        let mut b = builder(cert_file, key_file)?;
        let handle = reloader.clone();
        b.set_client_hello_callback(move |ssl, _alert| {
            let ctx = handle.current();
            ssl.set_ssl_context(&ctx)?;
            Ok(ClientHelloResponse::SUCCESS)
        });
        Ok((b, reloader))
    }

    /// The context loaded last.
    pub fn current(&self) -> SslContext {
        self.current.read().clone()
    }

    /// Re-reads the files; on error the previous certificate stays and the
    /// error is returned.
    pub fn reload(&self, cert_file: &str, key_file: &str) -> Result<(), TlsError> {
        let next = context(cert_file, key_file)?;
        *self.current.write() = next;
        Ok(())
    }
}

fn read_file(kind: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    if path.is_empty() {
        return Err(TlsError::NotSet { kind });
    }
    std::fs::read(Path::new(path)).map_err(|source| TlsError::Read {
        kind,
        path: path.to_string(),
        source,
    })
}

/// Reads a PEM file of certificates: the server's first, then its chain.
fn read_chain(path: &str) -> Result<Vec<X509>, TlsError> {
    let pem = read_file("cert_file", path)?;
    match X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(TlsError::NoCertificate {
            path: path.to_string(),
        }),
        Err(e) => Err(TlsError::Certificate {
            path: path.to_string(),
            why: format!("not a PEM certificate chain: {}", reasons(&e)),
        }),
    }
}

/// When the server certificate of `cert_file` (its first one) expires.
/// The status page and `/metrics` read the file named by the config, the
/// one a SIGHUP loads.
pub fn certificate_expiry(cert_file: &str) -> Result<std::time::SystemTime, TlsError> {
    let chain = read_chain(cert_file)?;
    let bad = |e: ErrorStack| TlsError::Certificate {
        path: cert_file.to_string(),
        why: reasons(&e),
    };
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(bad)?;
    let diff = epoch.diff(chain[0].not_after()).map_err(bad)?;
    let secs = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let since = std::time::Duration::from_secs(secs.max(0) as u64);
    Ok(std::time::UNIX_EPOCH + since)
}

/// Reads a PEM private key: PKCS#8, or traditional RSA or EC. An encrypted
/// key is refused rather than prompting for a passphrase.
fn read_key(path: &str) -> Result<PKey<Private>, TlsError> {
    let pem = read_file("key_file", path)?;
    PKey::private_key_from_pem_callback(&pem, |_| Ok(0)).map_err(|e| TlsError::Key {
        path: path.to_string(),
        why: reasons(&e),
    })
}

/// OpenSSL's error reasons joined into one line.
fn reasons(e: &ErrorStack) -> String {
    let mut r: Vec<&str> = Vec::new();
    for x in e.errors() {
        let reason = x.reason().unwrap_or("unknown error");
        if !r.contains(&reason) {
            r.push(reason);
        }
    }
    if r.is_empty() {
        "unknown error".into()
    } else {
        r.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_prefers_h2() {
        assert_eq!(select_alpn(b"\x08http/1.1\x02h2"), Some(ALPN_H2));
        assert_eq!(select_alpn(b"\x08http/1.1"), Some(ALPN_HTTP11));
        assert_eq!(select_alpn(b"\x06spdy/1"), None);
        assert_eq!(select_alpn(b"\x09http/1.1"), None);
        assert_eq!(select_alpn(b""), None);
    }

    #[test]
    fn missing_files_are_named() {
        let e = builder("/nonexistent/cert.pem", "/nonexistent/key.pem")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("cert_file /nonexistent/cert.pem: cannot read"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let j = junk.to_str().unwrap();
        let e = read_chain(j).err().unwrap().to_string();
        assert!(e.starts_with(&format!("cert_file {j}: ")), "{e}");
        let e = read_key(j).err().unwrap().to_string();
        assert!(e.starts_with(&format!("key_file {j}: ")), "{e}");
    }
}
