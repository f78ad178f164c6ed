//! The checksum of a multipart upload (docs/s3.md "Checksums"): declared
//! at CreateMultipartUpload (`x-amz-checksum-algorithm`,
//! `x-amz-checksum-type`), required of or computed for each part, and at
//! CompleteMultipartUpload derived from the parts' checksums without
//! reading the data again, checked against what the request names, and
//! kept with the object.
//!
//! As S3: CRC64NVME is only `FULL_OBJECT`, SHA-1 and SHA-256 only
//! `COMPOSITE`, CRC32 and CRC32C either; an algorithm without a type is
//! `FULL_OBJECT` for CRC64NVME and `COMPOSITE` for the others. A
//! `COMPOSITE` upload needs each part's checksum on UploadPart and in the
//! CompleteMultipartUpload document; a `FULL_OBJECT` upload computes the
//! part checksum when the part comes without one.

use actix_web::http::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::multipart::parts::CompletedPart;
use crate::s3::object::meta::ObjectMeta;
use crate::s3::sign::checksum::{
    self, Algorithm, ChecksumType, Expected, ObjectChecksum, ALGORITHMS,
};

/// The checksum an upload was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// The algorithm of every part and of the object.
    pub algorithm: Algorithm,
    /// How the object's checksum follows from the parts'.
    #[serde(rename = "type")]
    pub kind: ChecksumType,
}

fn invalid(why: String) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest, why)
}

fn lower(alg: Option<Algorithm>) -> String {
    alg.map_or("null".into(), |a| a.name().to_ascii_lowercase())
}

/// S3's words for a part or request checksum of another algorithm than
/// the upload's (`None`: no checksum).
fn type_mismatch(want: Option<Algorithm>, got: Option<Algorithm>) -> S3Error {
    invalid(format!(
        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
        lower(want),
        lower(got)
    ))
}

impl ChecksumType {
    /// The type of a header value, any case.
    pub fn from_name(name: &str) -> Option<ChecksumType> {
        [ChecksumType::FullObject, ChecksumType::Composite]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl UploadChecksum {
    /// Whether S3 allows `kind` with `algorithm`.
    pub fn allowed(algorithm: Algorithm, kind: ChecksumType) -> bool {
        match kind {
            ChecksumType::FullObject => algorithm.is_crc(),
            ChecksumType::Composite => algorithm != Algorithm::Crc64Nvme,
        }
    }

    /// The type of an upload that names only the algorithm.
    pub fn default_kind(algorithm: Algorithm) -> ChecksumType {
        match algorithm {
            Algorithm::Crc64Nvme => ChecksumType::FullObject,
            _ => ChecksumType::Composite,
        }
    }
}

/// The checksum a CreateMultipartUpload declares; `None` without
/// `x-amz-checksum-algorithm`. An unknown algorithm or type, a type
/// without an algorithm, or a pair S3 does not allow is `InvalidRequest`.
pub fn declared(headers: &HeaderMap) -> Result<Option<UploadChecksum>, S3Error> {
    let text = |n: &str| {
        headers
            .get(n)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
    };
    let kind = match text("x-amz-checksum-type") {
        None => None,
        Some(t) => Some(ChecksumType::from_name(&t).ok_or_else(|| {
            invalid(format!(
                "x-amz-checksum-type {t:?} is neither COMPOSITE nor FULL_OBJECT"
            ))
        })?),
    };
    let Some(name) = text("x-amz-checksum-algorithm") else {
        return match kind {
            None => Ok(None),
            Some(_) => Err(invalid(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                    .into(),
            )),
        };
    };
    let algorithm = Algorithm::from_name(&name).ok_or_else(|| {
        invalid(format!(
            "Checksum algorithm {name:?} is unsupported; valid: CRC32, CRC32C, CRC64NVME, SHA1, SHA256"
        ))
    })?;
    let kind = kind.unwrap_or_else(|| UploadChecksum::default_kind(algorithm));
    if !UploadChecksum::allowed(algorithm, kind) {
        return Err(invalid(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.name(),
            algorithm.name().to_ascii_lowercase()
        )));
    }
    Ok(Some(UploadChecksum { algorithm, kind }))
}

/// What an UploadPart of an upload created with `upload` is checked
/// against, from what the part declares ([`checksum::expected`]): the
/// upload's algorithm only; a `COMPOSITE` upload needs the value (header
/// or trailer), a `FULL_OBJECT` one computes it when absent. Without an
/// upload checksum the part's own declaration stands.
pub fn part_expected(
    upload: Option<UploadChecksum>,
    declared: Option<Expected>,
) -> Result<Option<Expected>, S3Error> {
    let Some(u) = upload else {
        return Ok(declared);
    };
    match declared {
        Some(e) if e.algorithm != u.algorithm => {
            Err(type_mismatch(Some(u.algorithm), Some(e.algorithm)))
        }
        Some(e) if e.value.is_none() && !e.in_trailer && u.kind == ChecksumType::Composite => {
            Err(type_mismatch(Some(u.algorithm), None))
        }
        Some(e) => Ok(Some(e)),
        None if u.kind == ChecksumType::Composite => Err(type_mismatch(Some(u.algorithm), None)),
        None => Ok(Some(Expected {
            algorithm: u.algorithm,
            value: None,
            in_trailer: false,
        })),
    }
}

/// The raw checksum of `alg` a stored part keeps, if any.
fn part_raw(part: &ObjectMeta, alg: Algorithm) -> Option<Vec<u8>> {
    part.checksum
        .as_ref()
        .filter(|c| c.algorithm == alg)
        .and_then(|c| checksum::decode(alg, &c.value))
}

/// The object checksum of parts (in order, as stored) under `upload`.
/// Without an upload checksum: the full-object CRC when every part has one
/// of the same CRC algorithm (CRC64NVME for parts sent without checksums),
/// else none.
fn object_checksum(
    upload: Option<UploadChecksum>,
    parts: &[(u32, ObjectMeta)],
) -> Result<Option<ObjectChecksum>, S3Error> {
    let u = match upload {
        Some(u) => u,
        None => {
            let first = parts.first().and_then(|(_, m)| m.checksum.as_ref());
            match first.map(|c| c.algorithm).filter(|a| a.is_crc()) {
                Some(algorithm) => UploadChecksum {
                    algorithm,
                    kind: ChecksumType::FullObject,
                },
                None => return Ok(None),
            }
        }
    };
    let mut raws = Vec::with_capacity(parts.len());
    for (n, m) in parts {
        match part_raw(m, u.algorithm) {
            Some(r) => raws.push((r, m.size)),
            None if upload.is_none() => return Ok(None),
            None => {
                return Err(invalid(format!(
                    "part {n} was stored without a {} checksum; upload it again",
                    u.algorithm.name()
                )))
            }
        }
    }
    let value = match u.kind {
        ChecksumType::FullObject => {
            let with_len: Vec<(&[u8], u64)> =
                raws.iter().map(|(r, l)| (r.as_slice(), *l)).collect();
            let raw = checksum::full_object(u.algorithm, &with_len).ok_or_else(|| {
                S3Error::internal(format!("no full-object {} checksum", u.algorithm.name()))
            })?;
            checksum::encode(&raw)
        }
        ChecksumType::Composite => {
            let only: Vec<&[u8]> = raws.iter().map(|(r, _)| r.as_slice()).collect();
            checksum::composite(u.algorithm, &only)
        }
    };
    Ok(Some(ObjectChecksum {
        algorithm: u.algorithm,
        value,
        kind: u.kind,
    }))
}

/// The checks of a CompleteMultipartUpload and the object checksum to
/// keep. `parts` are the stored parts, in the order of `named` (already
/// matched by [`crate::s3::multipart::parts::check_parts`]). In this order:
/// - `x-amz-checksum-type` other than the upload's: `BadDigest`;
/// - an `x-amz-checksum-*` of another algorithm: `InvalidRequest`; of
///   another value than the one derived from the parts: `BadDigest`;
/// - a part's `Checksum*` element unlike the checksum it was stored with:
///   `InvalidPart`; missing in a `COMPOSITE` upload: `InvalidRequest`.
pub fn complete(
    upload: Option<UploadChecksum>,
    named: &[CompletedPart],
    parts: &[(u32, ObjectMeta)],
    headers: &HeaderMap,
) -> Result<Option<ObjectChecksum>, S3Error> {
    let object = object_checksum(upload, parts)?;
    let text = |n: &str| {
        headers
            .get(n)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
    };
    if let Some(t) = text("x-amz-checksum-type") {
        let kind = ChecksumType::from_name(&t).ok_or_else(|| {
            invalid(format!(
                "x-amz-checksum-type {t:?} is neither COMPOSITE nor FULL_OBJECT"
            ))
        })?;
        let have = object.as_ref().map(|o| o.kind);
        if have != Some(kind) {
            return Err(S3Error::new(
                S3ErrorCode::BadDigest,
                format!(
                    "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                    have.map_or("no", |k| k.name())
                ),
            ));
        }
    }
    let given: Vec<(Algorithm, String)> = ALGORITHMS
        .into_iter()
        .filter_map(|a| Some((a, text(a.header())?.trim().to_string())))
        .collect();
    if given.len() > 1 {
        return Err(invalid(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                .into(),
        ));
    }
    if let Some((alg, value)) = given.first() {
        match &object {
            Some(o) if o.algorithm == *alg => {
                if o.value != *value {
                    return Err(S3Error::new(
                        S3ErrorCode::BadDigest,
                        format!(
                            "The {} you specified ({value}) did not match the calculated checksum ({})",
                            alg.name(),
                            o.value
                        ),
                    ));
                }
            }
            o => return Err(type_mismatch(o.as_ref().map(|o| o.algorithm), Some(*alg))),
        }
    }
    for (p, (_, stored)) in named.iter().zip(parts) {
        for (alg, value) in &p.checksums {
            let raw = checksum::decode(*alg, value);
            if raw.is_none() || raw != part_raw(stored, *alg) {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidPart,
                    format!(
                        "part {}: Checksum{} {value:?} is not the checksum it was uploaded with",
                        p.number,
                        alg.name()
                    ),
                ));
            }
        }
        if let Some(u) = upload.filter(|u| u.kind == ChecksumType::Composite) {
            if !p.checksums.iter().any(|(a, _)| *a == u.algorithm) {
                return Err(invalid(format!(
                    "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                    u.algorithm.name().to_ascii_lowercase(),
                    p.number
                )));
            }
        }
    }
    Ok(object)
}

#[cfg(test)]
mod tests;
