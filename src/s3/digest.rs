//! What a streamed PUT body is checked against while it streams: the
//! SHA-256 the client signed (`x-amz-content-sha256`), its `Content-MD5`,
//! and the MD5 that becomes the object's ETag.

use openssl::hash::{Hasher, MessageDigest};
use openssl::memcmp;
use openssl::sha::Sha256;

use super::error::{S3Error, S3ErrorCode};
use super::sigv4::UNSIGNED_PAYLOAD;
use crate::encoding::hex;

/// What a streamed body is checked against and what it yields: the SHA-256
/// the client signed (when it signed one), its Content-MD5 (when sent), and
/// the MD5 that becomes the object's ETag.
pub struct BodyDigest {
    sha256: Option<(Sha256, [u8; 32])>,
    content_md5: Option<[u8; 16]>,
    md5: Option<Hasher>,
}

impl BodyDigest {
    /// `payload_hash` is the `x-amz-content-sha256` value (64 hex digits,
    /// `UNSIGNED-PAYLOAD` or `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: nothing
    /// to check); `content_md5` the base64 `Content-MD5` header.
    pub fn new(payload_hash: &str, content_md5: Option<&str>) -> Result<BodyDigest, S3Error> {
        let sha256 = if payload_hash == UNSIGNED_PAYLOAD
            || payload_hash == super::chunked::UNSIGNED_TRAILER
        {
            None
        } else {
            Some((Sha256::new(), parse_hex32(payload_hash)?))
        };
        let content_md5 = match content_md5 {
            None => None,
            Some(v) => {
                let raw = openssl::base64::decode_block(v.trim()).ok();
                match raw.and_then(|r| <[u8; 16]>::try_from(r.as_slice()).ok()) {
                    Some(m) => Some(m),
                    None => {
                        return Err(S3Error::new(
                            S3ErrorCode::InvalidDigest,
                            format!("Content-MD5 {v:?} is not the base64 of 16 bytes"),
                        ))
                    }
                }
            }
        };
        let md5 = Hasher::new(MessageDigest::md5())
            .map_err(|e| S3Error::internal(format!("md5: {e}")))?;
        Ok(BodyDigest {
            sha256,
            content_md5,
            md5: Some(md5),
        })
    }

    /// Feeds a chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), S3Error> {
        if let Some((h, _)) = &mut self.sha256 {
            h.update(chunk);
        }
        if let Some(m) = &mut self.md5 {
            m.update(chunk)
                .map_err(|e| S3Error::internal(format!("md5: {e}")))?;
        }
        Ok(())
    }

    /// Checks the whole body; answers its MD5.
    pub fn finish(&mut self) -> Result<[u8; 16], S3Error> {
        if let Some((h, want)) = self.sha256.take() {
            let got = h.finish();
            if !memcmp::eq(&got, &want) {
                return Err(S3Error::new(
                    S3ErrorCode::XAmzContentSHA256Mismatch,
                    format!(
                        "the body's SHA-256 is {}, x-amz-content-sha256 said {}",
                        hex(&got),
                        hex(&want)
                    ),
                ));
            }
        }
        let md5 = self
            .md5
            .take()
            .ok_or_else(|| S3Error::internal("body digest finished twice"))?
            .finish()
            .map_err(|e| S3Error::internal(format!("md5: {e}")))?;
        let md5: [u8; 16] = md5
            .as_ref()
            .try_into()
            .map_err(|_| S3Error::internal("md5 is not 16 bytes"))?;
        if let Some(want) = self.content_md5 {
            if want != md5 {
                return Err(S3Error::new(
                    S3ErrorCode::BadDigest,
                    "the Content-MD5 you specified did not match what we received",
                ));
            }
        }
        Ok(md5)
    }
}

fn parse_hex32(s: &str) -> Result<[u8; 32], S3Error> {
    let bad = || {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-content-sha256 {s:?} is neither 64 hex digits nor {UNSIGNED_PAYLOAD}"),
        )
    };
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::sigv4::sha256_hex;

    #[test]
    fn body_digests() {
        let body = b"hello world";
        let sha = sha256_hex(body);
        let md5_b64 = openssl::base64::encode_block(
            &openssl::hash::hash(MessageDigest::md5(), body).unwrap(),
        );
        let mut d = BodyDigest::new(&sha, Some(&md5_b64)).unwrap();
        d.update(&body[..5]).unwrap();
        d.update(&body[5..]).unwrap();
        assert_eq!(
            hex(&d.finish().unwrap()),
            "5eb63bbbe01eeed093cb22bb8f5acdc3"
        );

        let mut d = BodyDigest::new(&sha, None).unwrap();
        d.update(b"hello there").unwrap();
        assert_eq!(
            d.finish().unwrap_err().code,
            S3ErrorCode::XAmzContentSHA256Mismatch
        );

        let mut d = BodyDigest::new(UNSIGNED_PAYLOAD, Some(&md5_b64)).unwrap();
        d.update(b"other").unwrap();
        assert_eq!(d.finish().unwrap_err().code, S3ErrorCode::BadDigest);

        assert_eq!(
            BodyDigest::new("zz", None).err().unwrap().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            BodyDigest::new(UNSIGNED_PAYLOAD, Some("!!"))
                .err()
                .unwrap()
                .code,
            S3ErrorCode::InvalidDigest
        );
    }
}
