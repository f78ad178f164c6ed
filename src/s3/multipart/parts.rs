//! The CompleteMultipartUpload document and what is checked against it:
//! the parts it names (numbers ascending, ETags of stored parts, sizes)
//! and the `"md5-of-part-md5s-N"` ETag of the completed object. The parts'
//! `Checksum*` elements are checked in [`crate::s3::multipart::mpu_checksum`].

use openssl::hash::{hash, MessageDigest};

use crate::encoding::hex;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::meta::ObjectMeta;
use crate::s3::sign::checksum::Algorithm;

/// Smallest part but the last, as S3: 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Most parts of one upload, as S3.
pub const MAX_PARTS: u32 = 10_000;
/// Largest part, as S3: 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// Its number.
    pub number: u32,
    /// The ETag the client got for it (quotes removed).
    pub etag: String,
    /// Its `ChecksumCRC32`, ... elements (base64 as given).
    pub checksums: Vec<(Algorithm, String)>,
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        S3ErrorCode::MalformedXML,
        format!("the CompleteMultipartUpload document is not valid: {why}"),
    )
}

/// Parses `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>...`
/// with the parts' `Checksum{CRC32,CRC32C,CRC64NVME,SHA1,SHA256}`; other
/// elements in a part are skipped.
pub fn parse_complete(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut parts = Vec::new();
    let mut number: Option<u32> = None;
    let mut etag: Option<String> = None;
    let mut checksums = Vec::new();
    let mut buf = Vec::new();
    let mut saw_root = false;
    loop {
        match reader.read_event_into(&mut buf).map_err(malformed)? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if path.is_empty() {
                    if name != b"CompleteMultipartUpload" {
                        return Err(malformed("the root element is not CompleteMultipartUpload"));
                    }
                    saw_root = true;
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.len() == 2 && path[1] == b"Part" {
                    let n = number
                        .take()
                        .ok_or_else(|| malformed("a Part without PartNumber"))?;
                    let e = etag
                        .take()
                        .ok_or_else(|| malformed("a Part without ETag"))?;
                    parts.push(CompletedPart {
                        number: n,
                        etag: e,
                        checksums: std::mem::take(&mut checksums),
                    });
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(malformed)?;
                if path.len() == 3 && path[1] == b"Part" {
                    match path[2].as_slice() {
                        b"PartNumber" => {
                            number = Some(text.trim().parse().map_err(|_| {
                                malformed(format!("PartNumber {text:?} is not a number"))
                            })?)
                        }
                        b"ETag" => etag = Some(text.trim().trim_matches('"').to_string()),
                        name => {
                            let alg = name
                                .strip_prefix(b"Checksum")
                                .and_then(|a| std::str::from_utf8(a).ok())
                                .and_then(Algorithm::from_name);
                            if let Some(alg) = alg {
                                checksums.push((alg, text.trim().to_string()));
                            }
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root || !path.is_empty() {
        return Err(malformed("no complete CompleteMultipartUpload element"));
    }
    if parts.is_empty() {
        return Err(malformed("it names no part"));
    }
    Ok(parts)
}

/// The multipart ETag: hex MD5 of the parts' binary MD5s, `-` and the count.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> Result<String, S3Error> {
    let cat: Vec<u8> = md5s.concat();
    let d = hash(MessageDigest::md5(), &cat).map_err(|e| S3Error::internal(format!("md5: {e}")))?;
    Ok(format!("\"{}-{}\"", hex(&d), md5s.len()))
}

/// Hex MD5 text as bytes.
pub(in crate::s3) fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
    let t = etag.trim_matches('"');
    if t.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Checks the parts named against the parts stored: ascending numbers
/// (`InvalidPartOrder`), each uploaded with that ETag (`InvalidPart`), each
/// but the last at least [`MIN_PART_SIZE`] (`EntityTooSmall`).
pub fn check_parts(named: &[CompletedPart], stored: &[Option<ObjectMeta>]) -> Result<(), S3Error> {
    if named.len() > MAX_PARTS as usize {
        return Err(malformed(format!("more than {MAX_PARTS} parts")));
    }
    for w in named.windows(2) {
        if w[1].number <= w[0].number {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPartOrder,
                format!(
                    "part {} follows part {}: the list must be in ascending order",
                    w[1].number, w[0].number
                ),
            ));
        }
    }
    for (i, (p, s)) in named.iter().zip(stored).enumerate() {
        let Some(s) = s.as_ref().filter(|s| s.etag.trim_matches('"') == p.etag) else {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPart,
                format!(
                    "part {} with ETag {:?} was not uploaded (or was uploaded again since)",
                    p.number, p.etag
                ),
            ));
        };
        if i + 1 < named.len() && s.size < MIN_PART_SIZE {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooSmall,
                format!(
                    "part {} has {} bytes; every part but the last needs at least {MIN_PART_SIZE}",
                    p.number, s.size
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_documents() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>"aa"</ETag><PartNumber>1</PartNumber></Part>
  <Part><PartNumber>2</PartNumber><ChecksumCRC32>x</ChecksumCRC32><ETag>&quot;bb&quot;</ETag><ChecksumSHA512>y</ChecksumSHA512></Part>
</CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(doc).unwrap(),
            vec![
                CompletedPart {
                    number: 1,
                    etag: "aa".into(),
                    checksums: vec![]
                },
                CompletedPart {
                    number: 2,
                    etag: "bb".into(),
                    checksums: vec![(Algorithm::Crc32, "x".into())]
                }
            ]
        );
        for bad in [
            &b"<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>"[..],
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part>",
            b"not xml at all",
        ] {
            assert_eq!(
                parse_complete(bad).unwrap_err().code,
                S3ErrorCode::MalformedXML,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn etag_of_parts() {
        // Two parts with the MD5s of "a" and "b": md5(md5("a") ++ md5("b")).
        let a = md5_of_etag("\"0cc175b9c0f1b6a831c399e269772661\"").unwrap();
        let b = md5_of_etag("92eb5ffee6ae2fec3ad71c777531578f").unwrap();
        let mut cat = a.to_vec();
        cat.extend_from_slice(&b);
        let want = hex(&hash(MessageDigest::md5(), &cat).unwrap());
        assert_eq!(multipart_etag(&[a, b]).unwrap(), format!("\"{want}-2\""));
        assert!(md5_of_etag("\"abc\"").is_none());
        assert!(md5_of_etag(&"zz".repeat(16)).is_none());
    }

    #[test]
    fn part_checks() {
        let named = |ns: &[u32]| -> Vec<CompletedPart> {
            ns.iter()
                .map(|&number| CompletedPart {
                    number,
                    etag: format!("e{number}"),
                    checksums: vec![],
                })
                .collect()
        };
        let part = |n: u32, size: u64| {
            Some(ObjectMeta {
                size,
                etag: format!("\"e{n}\""),
                ..Default::default()
            })
        };
        let big = MIN_PART_SIZE;
        assert!(check_parts(&named(&[1, 3]), &[part(1, big), part(3, 1)]).is_ok());
        let code =
            |n: &[u32], s: &[Option<ObjectMeta>]| check_parts(&named(n), s).unwrap_err().code;
        assert_eq!(
            code(&[2, 1], &[part(2, big), part(1, 1)]),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(&[1, 1], &[part(1, big), part(1, 1)]),
            S3ErrorCode::InvalidPartOrder
        );
        assert_eq!(
            code(&[1, 2], &[part(1, big - 1), part(2, 1)]),
            S3ErrorCode::EntityTooSmall
        );
        assert_eq!(
            code(&[1, 2], &[part(1, big), None]),
            S3ErrorCode::InvalidPart
        );
        assert_eq!(
            code(&[1, 2], &[part(1, big), part(3, 1)]),
            S3ErrorCode::InvalidPart
        );
    }
}
