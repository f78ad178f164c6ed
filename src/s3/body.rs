//! Small request bodies read whole (the XML of DeleteObjects and
//! CreateBucket), with a size bound, and checked as PutObject bodies are
//! (`x-amz-content-sha256`, `Content-MD5`, aws-chunked framing) plus the
//! `x-amz-checksum-*` header newer SDKs send instead of Content-MD5.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use openssl::hash::{hash, MessageDigest};

use super::chunked::{self, Decoder};
use super::digest::BodyDigest;
use super::error::{S3Error, S3ErrorCode};
use super::object::checked_body;
use super::S3Req;

/// Reads the whole body of `what` (an operation name for messages), at most
/// `limit` bytes, and verifies every digest the request carries.
pub async fn read(
    req: &S3Req,
    payload: web::Payload,
    limit: usize,
    what: &str,
) -> Result<Bytes, S3Error> {
    let too_large = |n: String| {
        S3Error::new(
            S3ErrorCode::EntityTooLarge,
            format!("a {what} body takes at most {limit} bytes, this one has {n}"),
        )
    };
    let declared = req
        .http
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        return Err(too_large(n.to_string()));
    }
    let chunked = (req.payload_hash == chunked::UNSIGNED_TRAILER).then(Decoder::default);
    let digest = BodyDigest::new(&req.payload_hash, req.header("content-md5"))?;
    let idle = Duration::from_secs(req.snap.config.proxy.idle_timeout.max(1));
    let md5 = Rc::new(Cell::new(None));
    let mut body = checked_body(payload, digest, chunked, idle, md5);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(too_large(format!("more than {limit}")));
        }
        out.extend_from_slice(&chunk);
    }
    let out = out.freeze();
    check_checksums(req, &out)?;
    Ok(out)
}

/// The `x-amz-checksum-*` algorithms verified, and the digest of each.
fn checksum(algorithm: &str, data: &[u8]) -> Option<Result<Vec<u8>, S3Error>> {
    let digest = |md: MessageDigest| {
        hash(md, data)
            .map(|d| d.to_vec())
            .map_err(|e| S3Error::internal(format!("{algorithm}: {e}")))
    };
    Some(match algorithm {
        "crc32" => Ok(crc32fast::hash(data).to_be_bytes().to_vec()),
        "crc32c" => Ok(crc32c::crc32c(data).to_be_bytes().to_vec()),
        "sha1" => digest(MessageDigest::sha1()),
        "sha256" => digest(MessageDigest::sha256()),
        _ => return None,
    })
}

/// Verifies every `x-amz-checksum-ALGORITHM` header (base64 of the
/// big-endian digest) of a whole body: a mismatch is `BadDigest`, a value
/// that is not base64 `InvalidRequest`. CRC64NVME is accepted unchecked.
pub fn check_checksums(req: &S3Req, data: &[u8]) -> Result<(), S3Error> {
    for (name, value) in req.http.headers() {
        let Some(algorithm) = name.as_str().strip_prefix("x-amz-checksum-") else {
            continue;
        };
        if algorithm == "type" || algorithm == "algorithm" {
            continue;
        }
        let Some(want) = checksum(algorithm, data) else {
            continue;
        };
        let want = want?;
        let got = value
            .to_str()
            .ok()
            .and_then(|v| openssl::base64::decode_block(v.trim()).ok())
            .ok_or_else(|| {
                S3Error::new(S3ErrorCode::InvalidRequest, format!("{name} is not base64"))
            })?;
        if got != want {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!("the {algorithm} checksum in {name} does not match the body"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_values() {
        // Check values of the algorithms for "123456789".
        let d = |a: &str| checksum(a, b"123456789").unwrap().unwrap();
        assert_eq!(d("crc32"), 0xCBF43926u32.to_be_bytes());
        assert_eq!(d("crc32c"), 0xE3069283u32.to_be_bytes());
        assert_eq!(
            crate::encoding::hex(&d("sha256")),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
        assert!(checksum("crc64nvme", b"").is_none());
    }
}
