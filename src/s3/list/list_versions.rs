//! ListObjectVersions (`GET /BUCKET?versions`) of buckets without
//! versioning, as S3 answers it for a bucket never versioned: every object
//! is its one version, `VersionId` `null`, `IsLatest` true. Clients that
//! empty a bucket (aws-cli scripts, Terraform's `force_destroy`, test
//! suites) list versions first. The page comes from the name index as
//! ListObjects' does ([`crate::s3::list`]).

use actix_web::HttpResponse;

use crate::bucket::BucketMeta;
use crate::index::page::Page;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::list::{
    common_prefixes, el, encoded, entry_details, page_terms, read_page, xml_reply, ListParams,
};
use crate::s3::request::S3Req;
use crate::s3::xml;

/// The one version id of an object in a bucket without versioning.
const NULL_VERSION: &str = "null";

/// The listing request: ListObjects V1 parameters, `key-marker` for `marker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionParams {
    /// prefix, delimiter, max-keys, encoding-type; `marker` is `key-marker`.
    pub list: ListParams,
    /// `version-id-marker` as sent.
    pub version_marker: Option<String>,
}

impl VersionParams {
    /// Reads the query of a ListObjectVersions request.
    pub fn parse(query: &[(String, String)]) -> Result<VersionParams, S3Error> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let version_marker = get("version-id-marker").filter(|v| !v.is_empty());
        if let Some(v) = &version_marker {
            if get("key-marker").unwrap_or_default().is_empty() {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    "a version-id-marker cannot be given without a key-marker",
                ));
            }
            if v != NULL_VERSION {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("version-id-marker {v:?} is no version of this bucket (only \"null\")"),
                ));
            }
        }
        // ListObjects V1 takes the same prefix, delimiter, max-keys and
        // encoding-type; key-marker plays marker's part.
        let v1: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    "prefix" | "delimiter" | "max-keys" | "encoding-type"
                )
            })
            .cloned()
            .chain(get("key-marker").map(|m| ("marker".to_string(), m)))
            .collect();
        Ok(VersionParams {
            list: ListParams::parse(&v1)?,
            version_marker,
        })
    }
}

/// `GET /BUCKET?versions`.
pub async fn list_versions(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    let params = VersionParams::parse(&req.query)?;
    let page = read_page(req, bucket, &params.list, "ListObjectVersions").await?;
    Ok(xml_reply(document(&bucket.name, &params, &page)))
}

/// The `ListVersionsResult` of one page.
pub fn document(bucket: &str, p: &VersionParams, page: &Page) -> String {
    let l = &p.list;
    let enc = |s: &str| encoded(l.url_encode, s);
    let mut out = format!("{}<ListVersionsResult xmlns=\"{}\">", xml::DECL, xml::NS);
    el(&mut out, "Name", bucket);
    el(&mut out, "Prefix", &enc(&l.prefix));
    el(
        &mut out,
        "KeyMarker",
        &enc(l.marker.as_deref().unwrap_or("")),
    );
    el(
        &mut out,
        "VersionIdMarker",
        p.version_marker.as_deref().unwrap_or(""),
    );
    page_terms(&mut out, l, page.truncated);
    if let Some(next) = &page.next_after {
        el(&mut out, "NextKeyMarker", &enc(next));
        // A common prefix has no version; a key's is null.
        if page.contents.last().is_some_and(|e| &e.key == next) {
            el(&mut out, "NextVersionIdMarker", NULL_VERSION);
        }
    }
    for e in &page.contents {
        out.push_str("<Version>");
        el(&mut out, "Key", &enc(&e.key));
        el(&mut out, "VersionId", NULL_VERSION);
        el(&mut out, "IsLatest", "true");
        entry_details(&mut out, e, Some(e.owner.as_deref().unwrap_or(bucket)));
        out.push_str("</Version>");
    }
    common_prefixes(&mut out, &page.prefixes, enc);
    out.push_str("</ListVersionsResult>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::shard::Entry;

    use crate::s3::list::tests::q;

    #[test]
    fn parses_markers() {
        let p = VersionParams::parse(&q(&[
            ("versions", ""),
            ("prefix", "a/"),
            ("key-marker", "a/b"),
            ("version-id-marker", "null"),
            ("max-keys", "2"),
            ("marker", "ignored"),
        ]))
        .unwrap();
        assert_eq!(p.list.query().after.as_deref(), Some("a/b"));
        assert_eq!((p.list.prefix.as_str(), p.list.max_keys), ("a/", 2));
        for bad in [
            q(&[("version-id-marker", "null")]),
            q(&[
                ("key-marker", "k"),
                ("version-id-marker", "3sL4kqtJlcpXroDTDmJ"),
            ]),
            q(&[("max-keys", "x")]),
        ] {
            let e = VersionParams::parse(&bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn documents_null_versions() {
        let entry = |key: &str| Entry {
            key: key.into(),
            size: 5,
            mtime_ns: 1_764_590_089_123_000_000,
            etag: "\"5d41402abc4b2a76b9719d911017c592\"".into(),
            owner: Some("writer".into()),
            content_type: None,
            recorded_ns: 0,
        };
        let page = Page {
            contents: vec![entry("a b"), entry("c")],
            prefixes: vec![],
            truncated: true,
            next_after: Some("c".into()),
        };
        let p = VersionParams::parse(&q(&[("max-keys", "2"), ("encoding-type", "url")])).unwrap();
        let doc = document("b1", &p, &page);
        assert!(doc.contains("<Name>b1</Name><Prefix></Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextKeyMarker>c</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>"), "{doc}");
        assert!(doc.contains("<Version><Key>a%20b</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>2025-12-01T11:54:49.123Z</LastModified><ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag><Size>5</Size><Owner><ID>writer</ID><DisplayName>writer</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Version>"), "{doc}");
        let page = Page {
            contents: vec![],
            prefixes: vec!["d/".into()],
            truncated: true,
            next_after: Some("d/".into()),
        };
        let doc = document("b1", &p, &page);
        assert!(
            doc.contains("<NextKeyMarker>d/</NextKeyMarker><CommonPrefixes>"),
            "{doc}"
        );
    }
}
