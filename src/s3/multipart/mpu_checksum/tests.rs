//! Unit tests of the multipart checksum rules (the values ceph/s3-tests
//! expects of S3).

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
    let run =
        |u, n: &[CompletedPart], h: &[(&'static str, &str)]| complete(u, n, &parts, &headers(h));
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
