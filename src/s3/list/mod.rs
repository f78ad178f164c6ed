//! ListObjects (V1) and ListObjectsV2 over the bucket's name index
//! (`crate::index`, docs/index.md): parameters, one page read shard by
//! shard on the blocking pool, and the `ListBucketResult` document.
//!
//! The folder: this and [`list_versions`] (ListObjectVersions).

pub mod list_versions;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpResponse;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::bucket::BucketMeta;
use crate::encoding::hex;
use crate::index::page::{self, Page, Query};
use crate::index::shard::Entry;
use crate::index::Index;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::request::S3Req;
use crate::s3::xml;

/// The most keys one page holds, as S3 caps `max-keys`.
pub const MAX_KEYS: usize = 1000;

/// What `encoding-type=url` leaves alone: RFC 3986 unreserved and `/`.
pub const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The listing request, V1 or V2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    /// ListObjectsV2 (`list-type=2`).
    pub v2: bool,
    /// `prefix`.
    pub prefix: String,
    /// `delimiter`.
    pub delimiter: String,
    /// `max-keys`, at most [`MAX_KEYS`].
    pub max_keys: usize,
    /// V1 `marker`.
    pub marker: Option<String>,
    /// V2 `continuation-token` as sent, and the key it stands for.
    pub token: Option<(String, String)>,
    /// V2 `start-after`.
    pub start_after: Option<String>,
    /// `encoding-type=url`.
    pub url_encode: bool,
    /// V2 `fetch-owner=true` (V1 always lists owners).
    pub fetch_owner: bool,
}

fn invalid(message: String) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, message)
}

/// A continuation token: the hex of the item the page ended with.
pub fn token_of(after: &str) -> String {
    hex(after.as_bytes())
}

fn key_of_token(token: &str) -> Option<String> {
    if token.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl ListParams {
    /// Reads the query of a ListObjects or ListObjectsV2 request.
    pub fn parse(query: &[(String, String)]) -> Result<ListParams, S3Error> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let v2 = get("list-type").as_deref() == Some("2");
        let max_keys = match get("max-keys") {
            None => MAX_KEYS,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid(format!("max-keys {v:?} is not a non-negative integer")))?
                .min(MAX_KEYS as i64) as usize,
        };
        let url_encode = match get("encoding-type") {
            None => false,
            Some(e) if e.eq_ignore_ascii_case("url") => true,
            Some(e) => return Err(invalid(format!("encoding-type {e:?} is not \"url\""))),
        };
        let token = match get("continuation-token").filter(|_| v2) {
            None => None,
            Some(t) => {
                let key = key_of_token(&t).ok_or_else(|| {
                    invalid(format!(
                        "the continuation token {t:?} is not one this server gave"
                    ))
                })?;
                Some((t, key))
            }
        };
        Ok(ListParams {
            v2,
            prefix: get("prefix").unwrap_or_default(),
            delimiter: get("delimiter").unwrap_or_default(),
            max_keys,
            marker: get("marker").filter(|m| !v2 && !m.is_empty()),
            token,
            start_after: get("start-after").filter(|s| v2 && !s.is_empty()),
            url_encode,
            fetch_owner: !v2 || get("fetch-owner").as_deref() == Some("true"),
        })
    }

    /// The index query: the continuation token wins over start-after.
    pub fn query(&self) -> Query {
        let after = match (&self.token, &self.start_after, &self.marker) {
            (Some((_, k)), _, _) => Some(k.clone()),
            (None, Some(s), _) => Some(s.clone()),
            (None, None, m) => m.clone(),
        };
        Query {
            prefix: self.prefix.clone(),
            delimiter: self.delimiter.clone(),
            after,
            max_keys: self.max_keys,
        }
    }
}

/// The name index listings read; NotImplemented when it is turned off.
pub fn name_index(req: &S3Req, what: &str) -> Result<Arc<Index>, S3Error> {
    req.state.objects.index().cloned().ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::NotImplemented,
            format!("{what} needs the name index, and proxy.name-index is false"),
        )
    })
}

/// `GET /BUCKET` and `GET /BUCKET?list-type=2`.
pub async fn list(req: &S3Req, bucket: &BucketMeta) -> Result<HttpResponse, S3Error> {
    let params = ListParams::parse(&req.query)?;
    let page = read_page(req, bucket, &params, "ListObjects").await?;
    Ok(xml_reply(document(&bucket.name, &params, &page)))
}

/// The page of `bucket`'s name index that `params` ask for.
pub(in crate::s3) async fn read_page(
    req: &S3Req,
    bucket: &BucketMeta,
    params: &ListParams,
    what: &str,
) -> Result<Page, S3Error> {
    let ctx = req.storage_ctx(bucket, false);
    let index = name_index(req, what)?;
    let q = params.query();
    Ok(crate::core::blocking(move || {
        let mut source = index.list(&ctx, &q.start())?;
        page::page(&mut source, &q)
    })
    .await??)
}

/// A 200 carrying an XML document.
pub(in crate::s3) fn xml_reply(doc: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/xml"))
        .body(doc)
}

/// The `ListBucketResult` of one page.
pub fn document(bucket: &str, p: &ListParams, page: &Page) -> String {
    let enc = |s: &str| encoded(p.url_encode, s);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{}\">",
        xml::NS
    );
    el(&mut out, "Name", bucket);
    // V1 answers the prefix as sent: botocore decodes V1's Marker, NextMarker
    // and Delimiter but not its Prefix (V2's it does), as S3 writes them.
    el(
        &mut out,
        "Prefix",
        &if p.v2 {
            enc(&p.prefix)
        } else {
            p.prefix.clone()
        },
    );
    if p.v2 {
        if let Some((t, _)) = &p.token {
            el(&mut out, "ContinuationToken", t);
        }
        if let Some(s) = &p.start_after {
            el(&mut out, "StartAfter", &enc(s));
        }
        el(
            &mut out,
            "KeyCount",
            &(page.contents.len() + page.prefixes.len()).to_string(),
        );
    } else {
        el(&mut out, "Marker", &enc(p.marker.as_deref().unwrap_or("")));
    }
    page_terms(&mut out, p, page.truncated);
    if let Some(next) = &page.next_after {
        if p.v2 {
            el(&mut out, "NextContinuationToken", &token_of(next));
        } else if !p.delimiter.is_empty() {
            // Without a delimiter S3 leaves NextMarker out: clients go on
            // from the last key.
            el(&mut out, "NextMarker", &enc(next));
        }
    }
    for e in &page.contents {
        out.push_str("<Contents>");
        el(&mut out, "Key", &enc(&e.key));
        let owner = e.owner.as_deref().unwrap_or(bucket);
        entry_details(&mut out, e, p.fetch_owner.then_some(owner));
        out.push_str("</Contents>");
    }
    common_prefixes(&mut out, &page.prefixes, enc);
    out.push_str("</ListBucketResult>");
    out
}

/// MaxKeys, Delimiter (when given), EncodingType (when asked) and
/// IsTruncated, in that order, as both listings write them.
pub(in crate::s3) fn page_terms(out: &mut String, p: &ListParams, truncated: bool) {
    el(out, "MaxKeys", &p.max_keys.to_string());
    if !p.delimiter.is_empty() {
        el(out, "Delimiter", &encoded(p.url_encode, &p.delimiter));
    }
    if p.url_encode {
        el(out, "EncodingType", "url");
    }
    el(out, "IsTruncated", if truncated { "true" } else { "false" });
}

/// `<NAME>VALUE</NAME>`, the value escaped.
pub(in crate::s3) fn el(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", xml::escape(value));
}

/// A key, prefix or marker as a listing answers it: percent-encoded when
/// the request asked `encoding-type=url`.
pub(in crate::s3) fn encoded(url_encode: bool, s: &str) -> String {
    if url_encode {
        utf8_percent_encode(s, URL_KEEP).to_string()
    } else {
        s.to_string()
    }
}

/// What a listing tells of an object after its key: LastModified, ETag,
/// Size, the Owner when given, StorageClass.
pub(in crate::s3) fn entry_details(out: &mut String, e: &Entry, owner: Option<&str>) {
    let mtime = std::time::UNIX_EPOCH + Duration::from_nanos(e.mtime_ns);
    el(out, "LastModified", &xml::iso8601(mtime));
    el(out, "ETag", &e.etag);
    el(out, "Size", &e.size.to_string());
    if let Some(owner) = owner {
        out.push_str("<Owner>");
        el(out, "ID", owner);
        el(out, "DisplayName", owner);
        out.push_str("</Owner>");
    }
    el(out, "StorageClass", "STANDARD");
}

/// The `CommonPrefixes` of a page.
pub(in crate::s3) fn common_prefixes(
    out: &mut String,
    prefixes: &[String],
    enc: impl Fn(&str) -> String,
) {
    for prefix in prefixes {
        out.push_str("<CommonPrefixes>");
        el(out, "Prefix", &enc(prefix));
        out.push_str("</CommonPrefixes>");
    }
}

#[cfg(test)]
pub(in crate::s3) mod tests {
    use super::*;
    use crate::index::shard::Entry;

    /// A parsed query of `(name, value)` pairs (also list_versions' tests).
    pub(in crate::s3) fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_v1_and_v2_parameters() {
        let p = ListParams::parse(&q(&[("prefix", "a/"), ("marker", "a/b")])).unwrap();
        assert!(!p.v2 && p.fetch_owner);
        assert_eq!((p.max_keys, p.marker.as_deref()), (1000, Some("a/b")));
        assert_eq!(p.query().after.as_deref(), Some("a/b"));
        let t = token_of("a/€");
        let p = ListParams::parse(&q(&[
            ("list-type", "2"),
            ("max-keys", "5000"),
            ("start-after", "x"),
            ("continuation-token", &t),
            ("encoding-type", "url"),
        ]))
        .unwrap();
        assert!(p.v2 && !p.fetch_owner && p.url_encode);
        assert_eq!(p.max_keys, 1000);
        assert_eq!(p.query().after.as_deref(), Some("a/€"), "token wins");
        for bad in [
            q(&[("max-keys", "-1")]),
            q(&[("max-keys", "ten")]),
            q(&[("encoding-type", "base64")]),
            q(&[("list-type", "2"), ("continuation-token", "zz")]),
            q(&[("list-type", "2"), ("continuation-token", "ff")]),
        ] {
            let e = ListParams::parse(&bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{bad:?}");
        }
        let p = ListParams::parse(&q(&[("list-type", "2"), ("fetch-owner", "true")])).unwrap();
        assert!(p.fetch_owner);
    }

    #[test]
    fn documents_as_s3_writes_them() {
        let page = Page {
            contents: vec![Entry {
                key: "a b&c+".into(),
                size: 5,
                mtime_ns: 1_764_590_089_123_000_000,
                etag: "\"5d41402abc4b2a76b9719d911017c592\"".into(),
                owner: Some("writer".into()),
                content_type: None,
                recorded_ns: 0,
            }],
            prefixes: vec!["d/".into()],
            truncated: true,
            next_after: Some("d/".into()),
        };
        let v2 = ListParams::parse(&q(&[
            ("list-type", "2"),
            ("delimiter", "/"),
            ("max-keys", "2"),
        ]))
        .unwrap();
        let doc = document("b1", &v2, &page);
        assert!(doc.contains("<Name>b1</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"), "{doc}");
        assert!(doc.contains(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            token_of("d/")
        )));
        assert!(doc.contains("<Key>a b&amp;c+</Key><LastModified>2025-12-01T11:54:49.123Z</LastModified><ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass>"), "{doc}");
        assert!(!doc.contains("<Owner>"));
        assert!(doc.contains("<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>"));
        let v1 = ListParams::parse(&q(&[("delimiter", "/"), ("encoding-type", "url")])).unwrap();
        let doc = document("b1", &v1, &page);
        assert!(doc.contains("<Marker></Marker>"), "{doc}");
        assert!(doc.contains("<NextMarker>d/</NextMarker>"), "{doc}");
        assert!(doc.contains("<Key>a%20b%26c%2B</Key>"), "{doc}");
        assert!(doc.contains("<Owner><ID>writer</ID><DisplayName>writer</DisplayName></Owner>"));
        assert!(doc.contains("<EncodingType>url</EncodingType>"));
        // With encoding-type=url V2 encodes its Prefix, V1 does not.
        let v1 = ListParams::parse(&q(&[("prefix", "\n a"), ("encoding-type", "url")])).unwrap();
        assert!(document("b1", &v1, &page).contains("<Prefix>\n a</Prefix>"));
        let mut v2 = v1.clone();
        v2.v2 = true;
        assert!(document("b1", &v2, &page).contains("<Prefix>%0A%20a</Prefix>"));
    }
}
