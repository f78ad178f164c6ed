//! S3's additional checksums (`x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}`):
//! the algorithms, what a request asks to be verified, and the arithmetic
//! multipart uploads need.
//!
//! Values are base64 of the big-endian checksum bytes, as S3 sends them.
//!
//! For multipart (used by `multipart.rs`):
//! - [`full_object`]: the CRC of the whole object from the parts' CRCs and
//!   lengths ([`combine_crc32`], [`combine_crc32c`], [`combine_crc64nvme`]),
//!   without reading the data again (CRC algorithms only; S3's
//!   `x-amz-checksum-type: FULL_OBJECT`).
//! - [`composite`]: S3's `COMPOSITE` form, the checksum of the concatenated
//!   raw part checksums followed by `-N` (any algorithm).

use openssl::sha::{Sha1, Sha256};
use serde::{Deserialize, Serialize};

use crate::s3::error::{S3Error, S3ErrorCode};

/// A checksum algorithm of S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// CRC-32 (zlib's, ISO-HDLC).
    #[serde(rename = "CRC32")]
    Crc32,
    /// CRC-32C (Castagnoli).
    #[serde(rename = "CRC32C")]
    Crc32c,
    /// CRC-64/NVME, the 2025 SDKs' default.
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    /// SHA-1.
    #[serde(rename = "SHA1")]
    Sha1,
    /// SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
}

/// Every algorithm, in the order a GET answers them.
pub const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Crc64Nvme,
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    /// The name S3 uses (`CRC32`, ..., in `x-amz-sdk-checksum-algorithm`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The header (and trailer) that carries the value, lower case.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm of a name, any case.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The algorithm of a header name, any case.
    pub fn from_header(name: &str) -> Option<Algorithm> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name.trim()))
    }

    /// Checksum size in bytes.
    pub fn size(self) -> usize {
        match self {
            Algorithm::Crc32 | Algorithm::Crc32c => 4,
            Algorithm::Crc64Nvme => 8,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    /// Whether it is a CRC (whose whole-object value follows from the parts').
    pub fn is_crc(self) -> bool {
        matches!(
            self,
            Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64Nvme
        )
    }

    /// The checksum of `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }
}

/// A running checksum.
pub enum Hasher {
    /// CRC-32.
    Crc32(crc32fast::Hasher),
    /// CRC-32C (the running value).
    Crc32c(u32),
    /// CRC-64/NVME.
    Crc64Nvme(crc64fast_nvme::Digest),
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
}

impl Hasher {
    /// A new checksum of nothing yet.
    pub fn new(alg: Algorithm) -> Hasher {
        match alg {
            Algorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Hasher::Crc32c(0),
            Algorithm::Crc64Nvme => Hasher::Crc64Nvme(crc64fast_nvme::Digest::new()),
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Crc64Nvme(h) => h.write(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    /// The checksum bytes, big-endian for CRCs.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finish().to_vec(),
            Hasher::Sha256(h) => h.finish().to_vec(),
        }
    }
}

/// Base64 of checksum bytes (the header form).
pub fn encode(raw: &[u8]) -> String {
    openssl::base64::encode_block(raw)
}

/// The raw bytes of a header value of `alg`; `None` when it is not base64
/// of the algorithm's size.
pub fn decode(alg: Algorithm, value: &str) -> Option<Vec<u8>> {
    let raw = openssl::base64::decode_block(value.trim()).ok()?;
    (raw.len() == alg.size()).then_some(raw)
}

/// How a stored checksum covers the object (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ChecksumType {
    /// The checksum of the object's bytes.
    #[default]
    #[serde(rename = "FULL_OBJECT")]
    FullObject,
    /// The checksum of the parts' checksums, `-N` appended ([`composite`]).
    #[serde(rename = "COMPOSITE")]
    Composite,
}

impl ChecksumType {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }
}

/// A checksum kept with the object's S3 metadata and answered on GET/HEAD
/// with `x-amz-checksum-mode: ENABLED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The header value: base64, `-N` appended when composite.
    pub value: String,
    /// Full-object or composite.
    #[serde(default, rename = "type")]
    pub kind: ChecksumType,
}

/// What a PUT asks to be verified: the algorithm, and the value when it
/// came as a header (`None`: it comes in the aws-chunked trailer, or the
/// client only named the algorithm, which is then computed and stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Raw expected bytes from the header.
    pub value: Option<Vec<u8>>,
    /// The value comes in the trailer (`x-amz-trailer`).
    pub in_trailer: bool,
}

fn invalid(why: String) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest, why)
}

/// Reads the checksum a request declares: one `x-amz-checksum-*` header,
/// or `x-amz-trailer` naming one, or only `x-amz-sdk-checksum-algorithm`.
/// Several, a malformed value, or an algorithm that disagrees with the
/// header are `InvalidRequest`. `None`: the request declares none.
pub fn expected(headers: &actix_web::http::header::HeaderMap) -> Result<Option<Expected>, S3Error> {
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let mut found: Vec<Expected> = Vec::new();
    for alg in ALGORITHMS {
        if let Some(v) = headers.get(alg.header()) {
            let value = v
                .to_str()
                .ok()
                .and_then(|v| decode(alg, v))
                .ok_or_else(|| {
                    invalid(format!(
                        "Value for {} header is invalid (base64 of {} bytes expected)",
                        alg.header(),
                        alg.size()
                    ))
                })?;
            found.push(Expected {
                algorithm: alg,
                value: Some(value),
                in_trailer: false,
            });
        }
    }
    if let Some(t) = text("x-amz-trailer") {
        for name in t.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let alg = Algorithm::from_header(name).ok_or_else(|| {
                invalid(format!(
                    "x-amz-trailer {name:?} is not an x-amz-checksum-* header"
                ))
            })?;
            found.push(Expected {
                algorithm: alg,
                value: None,
                in_trailer: true,
            });
        }
    }
    if found.len() > 1 {
        return Err(invalid(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                .into(),
        ));
    }
    let sdk = match text("x-amz-sdk-checksum-algorithm") {
        None => None,
        Some(name) => Some(Algorithm::from_name(name).ok_or_else(|| {
            invalid(format!(
                "x-amz-sdk-checksum-algorithm {name:?} is not one of CRC32, CRC32C, CRC64NVME, SHA1, SHA256"
            ))
        })?),
    };
    match (found.pop(), sdk) {
        (Some(e), Some(a)) if a != e.algorithm => Err(invalid(format!(
            "x-amz-sdk-checksum-algorithm {} does not match {}",
            a.name(),
            e.algorithm.header()
        ))),
        (Some(e), _) => Ok(Some(e)),
        (None, Some(a)) => Ok(Some(Expected {
            algorithm: a,
            value: None,
            in_trailer: false,
        })),
        (None, None) => Ok(None),
    }
}

/// The error of a body whose checksum is not the one declared.
pub fn mismatch(alg: Algorithm, given: &[u8], got: &[u8]) -> S3Error {
    S3Error::new(
        S3ErrorCode::BadDigest,
        format!(
            "The {} you specified did not match the calculated checksum ({} given, {} computed)",
            alg.name(),
            encode(given),
            encode(got)
        ),
    )
}

/// Reflected CRC polynomials (the lowest-order bit first).
const CRC32_POLY: u64 = 0xEDB8_8320;
const CRC32C_POLY: u64 = 0x82F6_3B78;
const CRC64_NVME_POLY: u64 = 0xAD93_D235_94C9_3659u64.reverse_bits();

/// `a * b` modulo the polynomial, in the reflected representation of a
/// `width`-bit CRC (zlib's `multmodp`).
fn mult_mod(a: u64, mut b: u64, poly: u64, width: u32) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut p = 0u64;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

/// `x^(8*len)` modulo the polynomial: the operator that appends `len` zero
/// bytes to a CRC register.
fn x_pow_8n(len: u64, poly: u64, width: u32) -> u64 {
    let one = 1u64 << (width - 1);
    let mut sq = one >> 1; // x^1
    for _ in 0..3 {
        sq = mult_mod(sq, sq, poly, width); // x^8 after three squarings
    }
    let (mut result, mut n) = (one, len);
    while n != 0 {
        if n & 1 != 0 {
            result = mult_mod(result, sq, poly, width);
        }
        sq = mult_mod(sq, sq, poly, width);
        n >>= 1;
    }
    result
}

fn combine(crc1: u64, crc2: u64, len2: u64, poly: u64, width: u32) -> u64 {
    mult_mod(x_pow_8n(len2, poly, width), crc1, poly, width) ^ crc2
}

/// CRC-32 of `A || B` from `crc32(A)`, `crc32(B)` and `len(B)`.
pub fn combine_crc32(crc1: u32, crc2: u32, len2: u64) -> u32 {
    combine(crc1 as u64, crc2 as u64, len2, CRC32_POLY, 32) as u32
}

/// CRC-32C of `A || B` from `crc32c(A)`, `crc32c(B)` and `len(B)`.
pub fn combine_crc32c(crc1: u32, crc2: u32, len2: u64) -> u32 {
    combine(crc1 as u64, crc2 as u64, len2, CRC32C_POLY, 32) as u32
}

/// CRC-64/NVME of `A || B` from the CRCs of `A` and `B` and `len(B)`.
pub fn combine_crc64nvme(crc1: u64, crc2: u64, len2: u64) -> u64 {
    combine(crc1, crc2, len2, CRC64_NVME_POLY, 64)
}

/// The full-object checksum (raw bytes) of parts given in order as
/// `(raw part checksum, part length)`; `None` for SHA algorithms (their
/// whole-object value cannot be derived) or a part checksum of the wrong
/// size. No parts: the checksum of nothing.
pub fn full_object(alg: Algorithm, parts: &[(&[u8], u64)]) -> Option<Vec<u8>> {
    let mut acc: Option<u64> = None;
    for (raw, len) in parts {
        if raw.len() != alg.size() {
            return None;
        }
        let v = raw.iter().fold(0u64, |a, b| (a << 8) | *b as u64);
        acc = Some(match acc {
            None => v,
            Some(a) => match alg {
                Algorithm::Crc32 => combine_crc32(a as u32, v as u32, *len) as u64,
                Algorithm::Crc32c => combine_crc32c(a as u32, v as u32, *len) as u64,
                Algorithm::Crc64Nvme => combine_crc64nvme(a, v, *len),
                Algorithm::Sha1 | Algorithm::Sha256 => return None,
            },
        });
    }
    if !alg.is_crc() {
        return None;
    }
    Some(match acc {
        None => alg.digest(b""),
        Some(v) => v.to_be_bytes()[8 - alg.size()..].to_vec(),
    })
}

/// S3's composite checksum of parts (raw part checksums, in order):
/// base64 of the checksum of their concatenation, then `-N`.
pub fn composite(alg: Algorithm, part_checksums: &[&[u8]]) -> String {
    let mut h = Hasher::new(alg);
    for p in part_checksums {
        h.update(p);
    }
    format!("{}-{}", encode(&h.finish()), part_checksums.len())
}

/// The `<ChecksumALG>` element of a checksum, and `<ChecksumType>` (as
/// CompleteMultipartUploadResult ends).
pub fn checksum_elements(c: &ObjectChecksum, with_type: bool) -> String {
    let mut out = format!(
        "<Checksum{n}>{}</Checksum{n}>",
        crate::s3::xml::escape(&c.value),
        n = c.algorithm.name()
    );
    if with_type {
        out.push_str(&format!("<ChecksumType>{}</ChecksumType>", c.kind.name()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    #[test]
    fn known_values() {
        // The CRC catalogue's check values over "123456789".
        let check = b"123456789";
        assert_eq!(Algorithm::Crc32.digest(check), 0xCBF4_3926u32.to_be_bytes());
        assert_eq!(
            Algorithm::Crc32c.digest(check),
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            Algorithm::Crc64Nvme.digest(check),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
        // What boto3 sends for "hello world" (its CRC32 trailer) and S3's docs' SHA-256.
        assert_eq!(encode(&Algorithm::Crc32.digest(b"hello world")), "DUoRhQ==");
        assert_eq!(
            encode(&Algorithm::Sha256.digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            encode(&Algorithm::Sha1.digest(b"")),
            "2jmj7l5rSw0yVb/vlWAYkK/YBwk="
        );
        // Split feeding gives the same value.
        for alg in ALGORITHMS {
            let mut h = Hasher::new(alg);
            h.update(b"1234");
            h.update(b"56789");
            assert_eq!(h.finish(), alg.digest(check), "{alg:?}");
        }
    }

    #[test]
    fn combining_crcs_equals_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for cut in [0usize, 1, 7, 4096, 99_999, 200_000] {
            let (a, b) = data.split_at(cut);
            let c = |alg: Algorithm, d: &[u8]| {
                alg.digest(d)
                    .iter()
                    .fold(0u64, |acc, x| (acc << 8) | *x as u64)
            };
            let len2 = b.len() as u64;
            assert_eq!(
                combine_crc32(
                    c(Algorithm::Crc32, a) as u32,
                    c(Algorithm::Crc32, b) as u32,
                    len2
                ),
                crc32fast::hash(&data)
            );
            assert_eq!(
                combine_crc32c(
                    c(Algorithm::Crc32c, a) as u32,
                    c(Algorithm::Crc32c, b) as u32,
                    len2
                ),
                crc32c::crc32c(&data)
            );
            assert_eq!(
                combine_crc32c(
                    c(Algorithm::Crc32c, a) as u32,
                    c(Algorithm::Crc32c, b) as u32,
                    len2
                ),
                crc32c::crc32c_combine(crc32c::crc32c(a), crc32c::crc32c(b), b.len())
            );
            assert_eq!(
                combine_crc64nvme(c(Algorithm::Crc64Nvme, a), c(Algorithm::Crc64Nvme, b), len2),
                c(Algorithm::Crc64Nvme, &data)
            );
        }
        // Many parts of uneven sizes.
        let parts: Vec<&[u8]> = data.chunks(33_333).collect();
        for alg in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let sums: Vec<Vec<u8>> = parts.iter().map(|p| alg.digest(p)).collect();
            let with_len: Vec<(&[u8], u64)> = sums
                .iter()
                .zip(&parts)
                .map(|(s, p)| (s.as_slice(), p.len() as u64))
                .collect();
            assert_eq!(
                full_object(alg, &with_len).unwrap(),
                alg.digest(&data),
                "{alg:?}"
            );
            assert_eq!(full_object(alg, &[]).unwrap(), alg.digest(b""));
        }
        assert_eq!(full_object(Algorithm::Sha256, &[]), None);
        assert_eq!(full_object(Algorithm::Crc32, &[(&[1, 2], 2)]), None);
    }

    #[test]
    fn composite_form() {
        let p1 = Algorithm::Crc32.digest(b"hello ");
        let p2 = Algorithm::Crc32.digest(b"world");
        let mut cat = p1.clone();
        cat.extend_from_slice(&p2);
        assert_eq!(
            composite(Algorithm::Crc32, &[&p1, &p2]),
            format!("{}-2", encode(&Algorithm::Crc32.digest(&cat)))
        );
    }

    #[test]
    fn declared_checksums() {
        assert_eq!(expected(&headers(&[])).unwrap(), None);
        let e = expected(&headers(&[
            ("x-amz-checksum-crc32", "DUoRhQ=="),
            ("x-amz-sdk-checksum-algorithm", "crc32"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(e.algorithm, Algorithm::Crc32);
        assert_eq!(
            e.value.as_deref(),
            Some(&Algorithm::Crc32.digest(b"hello world")[..])
        );
        let e = expected(&headers(&[("x-amz-trailer", "x-amz-checksum-crc64nvme")]))
            .unwrap()
            .unwrap();
        assert!(e.in_trailer && e.value.is_none() && e.algorithm == Algorithm::Crc64Nvme);
        let e = expected(&headers(&[("x-amz-sdk-checksum-algorithm", "SHA256")]))
            .unwrap()
            .unwrap();
        assert!(!e.in_trailer && e.value.is_none() && e.algorithm == Algorithm::Sha256);
        for bad in [
            &[("x-amz-checksum-crc32", "DUoRhQ")][..],
            &[("x-amz-checksum-crc32", "AAAAAAAAAAA=")],
            &[
                ("x-amz-checksum-crc32", "DUoRhQ=="),
                ("x-amz-checksum-sha1", "2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
            ],
            &[
                ("x-amz-checksum-crc32", "DUoRhQ=="),
                ("x-amz-sdk-checksum-algorithm", "SHA1"),
            ],
            &[("x-amz-sdk-checksum-algorithm", "MD5")],
            &[("x-amz-trailer", "x-amz-meta-a")],
        ] {
            assert_eq!(
                expected(&headers(bad)).unwrap_err().code,
                S3ErrorCode::InvalidRequest,
                "{bad:?}"
            );
        }
    }
}
