//! What a streamed PUT body is checked against while it streams: the
//! SHA-256 the client signed (`x-amz-content-sha256`), its `Content-MD5`,
//! its `x-amz-checksum-*` (header or aws-chunked trailer), and the MD5
//! that becomes the object's ETag.

use openssl::hash::{Hasher, MessageDigest};
use openssl::memcmp;
use openssl::sha::Sha256;

use crate::encoding::hex;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::checksum::{self, Algorithm, ChecksumType, Expected, ObjectChecksum};
use crate::s3::sign::sigv4::UNSIGNED_PAYLOAD;

/// What a streamed body is checked against and what it yields: the SHA-256
/// the client signed (when it signed one), its Content-MD5 (when sent), and
/// the MD5 that becomes the object's ETag.
pub struct BodyDigest {
    sha256: Option<(Sha256, [u8; 32])>,
    content_md5: Option<[u8; 16]>,
    md5: Option<Hasher>,
    /// The additional checksum: what was declared, and its running value.
    checksum: Option<(Expected, checksum::Hasher)>,
    /// Trailer lines of an aws-chunked body, set before [`BodyDigest::finish`].
    trailers: Vec<(String, String)>,
    /// The checksum to store, once finished.
    result: Option<ObjectChecksum>,
}

impl BodyDigest {
    /// `payload_hash` is the `x-amz-content-sha256` value (64 hex digits,
    /// `UNSIGNED-PAYLOAD` or a `STREAMING-...` aws-chunked kind: nothing
    /// to check here); `content_md5` the base64 `Content-MD5` header.
    pub fn new(payload_hash: &str, content_md5: Option<&str>) -> Result<BodyDigest, S3Error> {
        let sha256 = if payload_hash == UNSIGNED_PAYLOAD || payload_hash.starts_with("STREAMING-") {
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
            checksum: None,
            trailers: Vec::new(),
            result: None,
        })
    }

    /// Also computes an `x-amz-checksum-*` and, when the request declared
    /// one ([`checksum::expected`]), checks it at the end. With `None` the
    /// object's CRC-64/NVME is computed and stored unchecked (as S3 does
    /// for objects uploaded without a checksum since 2025).
    pub fn with_checksum(mut self, declared: Option<Expected>) -> BodyDigest {
        let e = declared.unwrap_or(Expected {
            algorithm: Algorithm::Crc64Nvme,
            value: None,
            in_trailer: false,
        });
        let h = checksum::Hasher::new(e.algorithm);
        self.checksum = Some((e, h));
        self
    }

    /// The trailer lines of an aws-chunked body (where a declared
    /// `x-amz-trailer` checksum is found); call before `finish`.
    pub fn set_trailers(&mut self, trailers: Vec<(String, String)>) {
        self.trailers = trailers;
    }

    /// The checksum to keep with the object; `Some` after a good `finish`
    /// when [`BodyDigest::with_checksum`] was called.
    pub fn checksum(&self) -> Option<&ObjectChecksum> {
        self.result.as_ref()
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
        if let Some((_, h)) = &mut self.checksum {
            h.update(chunk);
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
        if let Some((e, h)) = self.checksum.take() {
            let got = h.finish();
            let given = match (&e.value, e.in_trailer) {
                (Some(v), _) => Some(v.clone()),
                (None, true) => Some(self.trailer_value(e.algorithm)?),
                (None, false) => None,
            };
            if let Some(given) = given {
                if !memcmp::eq(&given, &got) {
                    return Err(checksum::mismatch(e.algorithm, &given, &got));
                }
            }
            self.result = Some(ObjectChecksum {
                algorithm: e.algorithm,
                value: checksum::encode(&got),
                kind: ChecksumType::FullObject,
            });
        }
        Ok(md5)
    }

    /// The raw checksum the trailer carries for `alg`.
    fn trailer_value(&self, alg: Algorithm) -> Result<Vec<u8>, S3Error> {
        let (_, v) = self
            .trailers
            .iter()
            .find(|(k, _)| k == alg.header())
            .ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "x-amz-trailer names {}, but the body's trailer does not carry it",
                        alg.header()
                    ),
                )
            })?;
        checksum::decode(alg, v).ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!("Value for {} trailing header is invalid", alg.header()),
            )
        })
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
    use crate::s3::sign::sigv4::sha256_hex;

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

    #[test]
    fn additional_checksums() {
        use crate::s3::sign::checksum::Expected;
        let body = b"hello world";
        let crc = Algorithm::Crc32.digest(body);
        let run = |e: Option<Expected>, trailers: Vec<(String, String)>, data: &[u8]| {
            let mut d = BodyDigest::new(UNSIGNED_PAYLOAD, None)
                .unwrap()
                .with_checksum(e);
            d.update(data).unwrap();
            d.set_trailers(trailers);
            d.finish().map(|_| d.checksum().cloned().unwrap())
        };
        let header = Expected {
            algorithm: Algorithm::Crc32,
            value: Some(crc.clone()),
            in_trailer: false,
        };
        let c = run(Some(header.clone()), vec![], body).unwrap();
        assert_eq!(
            (c.algorithm, c.value.as_str()),
            (Algorithm::Crc32, "DUoRhQ==")
        );
        assert_eq!(
            run(Some(header), vec![], b"hello there").unwrap_err().code,
            S3ErrorCode::BadDigest
        );
        let trailer = Expected {
            algorithm: Algorithm::Crc32,
            value: None,
            in_trailer: true,
        };
        let t = |v: &str| vec![("x-amz-checksum-crc32".to_string(), v.to_string())];
        assert!(run(Some(trailer.clone()), t("DUoRhQ=="), body).is_ok());
        assert_eq!(
            run(Some(trailer.clone()), t("AAAAAA=="), body)
                .unwrap_err()
                .code,
            S3ErrorCode::BadDigest
        );
        assert_eq!(
            run(Some(trailer.clone()), t("x"), body).unwrap_err().code,
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            run(Some(trailer), vec![], body).unwrap_err().code,
            S3ErrorCode::InvalidRequest
        );
        // Nothing declared: CRC-64/NVME computed and kept.
        let c = run(None, vec![], body).unwrap();
        assert_eq!(c.algorithm, Algorithm::Crc64Nvme);
        assert_eq!(
            c.value,
            checksum::encode(&Algorithm::Crc64Nvme.digest(body))
        );
    }
}
