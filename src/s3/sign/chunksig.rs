//! The signature chain of signed aws-chunked bodies
//! (`x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`),
//! as the S3 guide "Transferring payload in multiple chunks" defines it:
//! the seed is the request's own (Authorization header) signature; every
//! chunk, the final empty one included, is signed over the previous
//! signature and its data's SHA-256; a signed trailer is signed over the
//! last chunk signature and the SHA-256 of its canonical lines.

use crate::encoding::hex;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::sigv4::{hmac_sha256, same_signature, EMPTY_SHA256};

/// `x-amz-content-sha256` of a signed aws-chunked body.
pub const SIGNED_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` of a signed aws-chunked body with a signed trailer.
pub const SIGNED_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";

/// What the chain starts from, kept from the request's authentication.
#[derive(Clone)]
pub struct Seed {
    /// The signing key of the secret that verified the request.
    pub key: Vec<u8>,
    /// The request's `x-amz-date`.
    pub amz_date: String,
    /// `DATE/REGION/s3/aws4_request`.
    pub scope: String,
    /// The request's signature (lower-case hex).
    pub signature: String,
}

/// Verifies the chain, one chunk after the other.
pub struct ChunkSigner {
    seed: Seed,
    /// The signature of the previous chunk (the seed's at first).
    prev: String,
    /// Chunks verified so far (for messages).
    chunks: u64,
}

fn mismatch(why: String) -> S3Error {
    S3Error::new(S3ErrorCode::SignatureDoesNotMatch, why)
}

impl ChunkSigner {
    /// A chain starting from the request's signature.
    pub fn new(seed: Seed) -> ChunkSigner {
        ChunkSigner {
            prev: seed.signature.clone(),
            seed,
            chunks: 0,
        }
    }

    fn sign(&self, string_to_sign: &str) -> String {
        hex(&hmac_sha256(&self.seed.key, string_to_sign.as_bytes()))
    }

    /// The signature a chunk whose data hashes to `data_sha256` must carry.
    pub fn expected_chunk(&self, data_sha256: &[u8]) -> String {
        self.sign(&format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.seed.amz_date,
            self.seed.scope,
            self.prev,
            hex(data_sha256)
        ))
    }

    /// Checks one chunk's `chunk-signature` (`None`: the size line had none).
    pub fn chunk(&mut self, data_sha256: &[u8], given: Option<&str>) -> Result<(), S3Error> {
        let n = self.chunks;
        let given = given
            .ok_or_else(|| mismatch(format!("aws-chunked chunk {n} has no chunk-signature")))?;
        let want = self.expected_chunk(data_sha256);
        if !same_signature(&given.to_ascii_lowercase(), &want) {
            return Err(mismatch(format!(
                "the chunk-signature of aws-chunked chunk {n} does not match"
            )));
        }
        self.prev = want;
        self.chunks += 1;
        Ok(())
    }

    /// Checks the trailer signature over the trailer lines (`name`, `value`)
    /// in the order sent, the signature line excluded.
    pub fn trailer(
        &mut self,
        lines: &[(String, String)],
        given: Option<&str>,
    ) -> Result<(), S3Error> {
        let given = given.ok_or_else(|| {
            mismatch("the aws-chunked trailer has no x-amz-trailer-signature".into())
        })?;
        let canonical: String = lines
            .iter()
            .map(|(k, v)| format!("{}:{}\n", k.to_ascii_lowercase(), v.trim()))
            .collect();
        let want = self.sign(&format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.seed.amz_date,
            self.seed.scope,
            self.prev,
            hex(&openssl::sha::sha256(canonical.as_bytes()))
        ));
        if !same_signature(&given.trim().to_ascii_lowercase(), &want) {
            return Err(mismatch(
                "the x-amz-trailer-signature of the aws-chunked body does not match".into(),
            ));
        }
        self.prev = want;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::sign::sigv4::{
        canonical_request, parse_authorization, signature, signing_key, string_to_sign, Request,
    };

    /// The PUT example of the S3 guide "Signature Calculations for the
    /// Authorization Header: Transferring Payload in Multiple Chunks":
    /// 66560 bytes of `a` in chunks of 65536 and 1024, its seed signature
    /// and its three chunk signatures.
    #[test]
    fn s3_guide_chunked_put() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let req = Request {
            method: "PUT",
            raw_path: "/examplebucket/chunkObject.txt",
            raw_query: "",
            headers: vec![
                ("host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", SIGNED_PAYLOAD),
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("content-length", "66824"),
            ],
            payload_hash: SIGNED_PAYLOAD,
        };
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        )
        .unwrap();
        let cr = canonical_request(&req, &auth.signed_headers).unwrap();
        let sts = string_to_sign("20130524T000000Z", &auth.scope(), &cr);
        let seed_sig = signature(secret, &auth, &sts);
        assert_eq!(seed_sig, auth.signature);
        let mut chain = ChunkSigner::new(Seed {
            key: signing_key(secret, "20130524", "us-east-1", "s3"),
            amz_date: "20130524T000000Z".into(),
            scope: auth.scope(),
            signature: seed_sig,
        });
        let sha = |d: &[u8]| openssl::sha::sha256(d);
        let c1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
        let c2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
        let c3 = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
        assert_eq!(chain.expected_chunk(&sha(&[b'a'; 65536])), c1);
        chain.chunk(&sha(&[b'a'; 65536]), Some(c1)).unwrap();
        // A chunk out of order (or altered) breaks the chain.
        let mut wrong = ChunkSigner::new(chain.seed.clone());
        assert_eq!(
            wrong.chunk(&sha(&[b'a'; 1024]), Some(c2)).unwrap_err().code,
            S3ErrorCode::SignatureDoesNotMatch
        );
        assert!(wrong.chunk(&sha(b""), None).is_err());
        chain
            .chunk(&sha(&[b'a'; 1024]), Some(&c2.to_ascii_uppercase()))
            .unwrap();
        chain.chunk(&sha(b""), Some(c3)).unwrap();
        // A trailer signed with the same chain: a wrong one fails.
        let lines = vec![("x-amz-checksum-crc32c".to_string(), "sOO8/Q==".to_string())];
        let good = chain.sign(&format!(
            "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n{}\n{c3}\n{}",
            auth.scope(),
            hex(&sha(b"x-amz-checksum-crc32c:sOO8/Q==\n"))
        ));
        let mut other = ChunkSigner::new(chain.seed.clone());
        other.prev = c3.into();
        assert!(other.trailer(&lines, Some(&c3[1..])).is_err());
        chain.trailer(&lines, Some(&good)).unwrap();
    }
}
