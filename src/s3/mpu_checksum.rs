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

use super::checksum::{self, Algorithm, ChecksumType, Expected, ObjectChecksum, ALGORITHMS};
use super::error::{S3Error, S3ErrorCode};
use super::meta::ObjectMeta;
use super::parts::CompletedPart;

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
/// matched by [`super::parts::check_parts`]). In this order:
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

/// The `<ChecksumALG>` element of a checksum, and `<ChecksumType>` (as
/// CompleteMultipartUploadResult ends).
pub fn xml_elements(c: &ObjectChecksum, with_type: bool) -> String {
    let mut out = format!(
        "<Checksum{n}>{}</Checksum{n}>",
        super::xml::escape(&c.value),
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

    fn code<T: std::fmt::Debug>(r: Result<T, S3Error>) -> S3ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn creation_headers() {
        let d = |h: &[(&'static str, &str)]| declared(&headers(h));
        assert_eq!(d(&[]).unwrap(), None);
        let u = |algorithm, kind| Some(UploadChecksum { algorithm, kind });
        use Algorithm::*;
        use ChecksumType::*;
        // Defaults when only the algorithm is named.
        assert_eq!(
            d(&[("x-amz-checksum-algorithm", "CRC64NVME")]).unwrap(),
            u(Crc64Nvme, FullObject)
        );
        for (name, alg) in [
            ("crc32", Crc32),
            ("CRC32C", Crc32c),
            ("SHA1", Sha1),
            ("sha256", Sha256),
        ] {
            assert_eq!(
                d(&[("x-amz-checksum-algorithm", name)]).unwrap(),
                u(alg, Composite)
            );
        }
        assert_eq!(
            d(&[
                ("x-amz-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-type", "FULL_OBJECT")
            ])
            .unwrap(),
            u(Crc32, FullObject)
        );
        assert_eq!(
            d(&[
                ("x-amz-checksum-algorithm", "CRC32C"),
                ("x-amz-checksum-type", "full_object")
            ])
            .unwrap(),
            u(Crc32c, FullObject)
        );
        for bad in [
            &[
                ("x-amz-checksum-algorithm", "CRC64NVME"),
                ("x-amz-checksum-type", "COMPOSITE"),
            ][..],
            &[
                ("x-amz-checksum-algorithm", "SHA256"),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ],
            &[
                ("x-amz-checksum-algorithm", "SHA1"),
                ("x-amz-checksum-type", "FULL_OBJECT"),
            ],
            &[("x-amz-checksum-type", "COMPOSITE")],
            &[("x-amz-checksum-algorithm", "MD5")],
            &[
                ("x-amz-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-type", "PARTIAL"),
            ],
        ] {
            assert_eq!(code(d(bad)), S3ErrorCode::InvalidRequest, "{bad:?}");
        }
    }

    #[test]
    fn what_parts_must_carry() {
        let e = |algorithm, value: Option<Vec<u8>>, in_trailer| Expected {
            algorithm,
            value,
            in_trailer,
        };
        let composite = Some(UploadChecksum {
            algorithm: Algorithm::Crc32,
            kind: ChecksumType::Composite,
        });
        let full = Some(UploadChecksum {
            algorithm: Algorithm::Crc32c,
            kind: ChecksumType::FullObject,
        });
        // No upload checksum: whatever the part declares.
        assert_eq!(part_expected(None, None).unwrap(), None);
        let sha = e(Algorithm::Sha1, None, true);
        assert_eq!(part_expected(None, Some(sha.clone())).unwrap(), Some(sha));
        // Composite: the value of the upload's algorithm is required.
        let v = e(Algorithm::Crc32, Some(vec![0; 4]), false);
        assert_eq!(part_expected(composite, Some(v.clone())).unwrap(), Some(v));
        let t = e(Algorithm::Crc32, None, true);
        assert_eq!(part_expected(composite, Some(t.clone())).unwrap(), Some(t));
        let err = part_expected(composite, None).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidRequest);
        assert!(err
            .message
            .contains("expected checksum Type: crc32, actual checksum Type: null"));
        assert_eq!(
            code(part_expected(
                composite,
                Some(e(Algorithm::Crc32, None, false))
            )),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(part_expected(
                composite,
                Some(e(Algorithm::Crc32c, Some(vec![0; 4]), false))
            )),
            S3ErrorCode::InvalidRequest
        );
        // Full object: computed when absent, another algorithm refused.
        assert_eq!(
            part_expected(full, None).unwrap(),
            Some(e(Algorithm::Crc32c, None, false))
        );
        assert_eq!(
            code(part_expected(full, Some(e(Algorithm::Crc32, None, true)))),
            S3ErrorCode::InvalidRequest
        );
    }

    /// Parts of 5 MiB of `A`, `B`, `C` as ceph/s3-tests uploads them, with
    /// the object checksums its tests expect (S3's values).
    fn abc_parts(alg: Algorithm) -> Vec<(u32, ObjectMeta)> {
        (0u8..3)
            .map(|i| {
                let data = vec![b'A' + i; 5 << 20];
                let m = ObjectMeta {
                    size: data.len() as u64,
                    checksum: Some(ObjectChecksum {
                        algorithm: alg,
                        value: checksum::encode(&alg.digest(&data)),
                        kind: ChecksumType::FullObject,
                    }),
                    ..Default::default()
                };
                (i as u32 + 1, m)
            })
            .collect()
    }

    fn named(parts: &[(u32, ObjectMeta)], with_sums: bool) -> Vec<CompletedPart> {
        parts
            .iter()
            .map(|(n, m)| CompletedPart {
                number: *n,
                etag: String::new(),
                checksums: match (&m.checksum, with_sums) {
                    (Some(c), true) => vec![(c.algorithm, c.value.clone())],
                    _ => vec![],
                },
            })
            .collect()
    }

    #[test]
    fn object_checksums_match_s3s_vectors() {
        use Algorithm::*;
        use ChecksumType::*;
        for (alg, kind, want) in [
            (Crc32, FullObject, "WgDhBQ=="),
            (Crc32c, FullObject, "xU+Krw=="),
            (Crc64Nvme, FullObject, "i+6LR0y3eFo="),
            (
                Sha256,
                Composite,
                "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3",
            ),
            (Sha1, Composite, "sizjvY4eud3MrcHdZM3cQ/ol39o=-3"),
        ] {
            let parts = abc_parts(alg);
            let u = Some(UploadChecksum {
                algorithm: alg,
                kind,
            });
            let got = complete(u, &named(&parts, true), &parts, &headers(&[])).unwrap();
            assert_eq!(
                got,
                Some(ObjectChecksum {
                    algorithm: alg,
                    value: want.into(),
                    kind
                }),
                "{alg:?}"
            );
            // The same value sent on Complete is accepted, another refused.
            let h = [(alg.header(), want), ("x-amz-checksum-type", kind.name())];
            assert!(complete(u, &named(&parts, true), &parts, &headers(&h)).is_ok());
            let h = [(alg.header(), "AAAAAA==")];
            assert_eq!(
                code(complete(u, &named(&parts, true), &parts, &headers(&h))),
                S3ErrorCode::BadDigest
            );
        }
        // CRC32 composite: the CRC32 of the three part CRC32s, then -3.
        let parts = abc_parts(Crc32);
        let raws: Vec<Vec<u8>> = parts
            .iter()
            .map(|(_, m)| checksum::decode(Crc32, &m.checksum.as_ref().unwrap().value).unwrap())
            .collect();
        let cat = raws.concat();
        let u = Some(UploadChecksum {
            algorithm: Crc32,
            kind: Composite,
        });
        let got = complete(u, &named(&parts, true), &parts, &headers(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            got.value,
            format!("{}-3", checksum::encode(&Crc32.digest(&cat)))
        );
    }

    #[test]
    fn completion_errors() {
        use Algorithm::*;
        use ChecksumType::*;
        let parts = abc_parts(Sha256);
        let composite = Some(UploadChecksum {
            algorithm: Sha256,
            kind: Composite,
        });
        let all = named(&parts, true);
        let run = |u, n: &[CompletedPart], h: &[(&'static str, &str)]| {
            complete(u, n, &parts, &headers(h))
        };
        // A part checksum missing from a composite completion.
        let mut missing = all.clone();
        missing[1].checksums.clear();
        let e = run(composite, &missing, &[]).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        assert!(e.message.contains("missing for part 2"), "{}", e.message);
        // ... but a wrong Complete checksum is found first (ceph/s3-tests).
        assert_eq!(
            code(run(
                composite,
                &missing,
                &[("x-amz-checksum-sha256", "bad")]
            )),
            S3ErrorCode::BadDigest
        );
        // A part checksum unlike the stored one.
        let mut wrong = all.clone();
        wrong[2].checksums = all[0].checksums.clone();
        assert_eq!(code(run(composite, &wrong, &[])), S3ErrorCode::InvalidPart);
        let mut garbled = all.clone();
        garbled[0].checksums = vec![(Sha256, "nope".into())];
        assert_eq!(
            code(run(composite, &garbled, &[])),
            S3ErrorCode::InvalidPart
        );
        // Another type or algorithm on Complete.
        assert_eq!(
            code(run(
                composite,
                &all,
                &[("x-amz-checksum-type", "FULL_OBJECT")]
            )),
            S3ErrorCode::BadDigest
        );
        assert_eq!(
            code(run(
                composite,
                &all,
                &[("x-amz-checksum-crc32", "AAAAAA==")]
            )),
            S3ErrorCode::InvalidRequest
        );
        // A stored part without the upload's checksum.
        let crc = Some(UploadChecksum {
            algorithm: Crc32,
            kind: FullObject,
        });
        assert_eq!(
            code(run(crc, &named(&parts, false), &[])),
            S3ErrorCode::InvalidRequest
        );
        // Full object: part checksums optional in the document.
        let parts = abc_parts(Crc32);
        assert!(complete(crc, &named(&parts, false), &parts, &headers(&[])).is_ok());
    }

    #[test]
    fn uploads_without_a_checksum() {
        // Parts of one CRC algorithm: its full-object value.
        let parts = abc_parts(Algorithm::Crc64Nvme);
        let got = complete(None, &named(&parts, false), &parts, &headers(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.value.as_str(), got.kind),
            ("i+6LR0y3eFo=", ChecksumType::FullObject)
        );
        // Mixed or SHA parts: none, and a checksum named on Complete is refused.
        let mut mixed = parts.clone();
        mixed[1].1.checksum.as_mut().unwrap().algorithm = Algorithm::Crc32;
        assert_eq!(
            complete(None, &named(&mixed, false), &mixed, &headers(&[])).unwrap(),
            None
        );
        let sha = abc_parts(Algorithm::Sha1);
        assert_eq!(
            complete(None, &named(&sha, false), &sha, &headers(&[])).unwrap(),
            None
        );
        assert_eq!(
            code(complete(
                None,
                &named(&sha, false),
                &sha,
                &headers(&[("x-amz-checksum-sha1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")])
            )),
            S3ErrorCode::InvalidRequest
        );
    }
}
