//! Tag sets of objects and buckets: the `<Tagging>` document, the
//! `x-amz-tagging` header (URL-encoded `k=v&k2=v2`), the
//! `x-amz-tagging-directive` of CopyObject and AWS's limits (at most 10
//! tags on an object, 50 on a bucket; keys of 1 to 128 characters, values
//! of at most 256, no key twice: `InvalidTag`). The operations are in
//! [`crate::s3::tagging_ops`].

use actix_web::http::header::HeaderMap;

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::xml_body::{is, malformed, walk, Node};
use crate::s3::xml;

/// A tag set, in the order it was given.
pub type Tags = Vec<(String, String)>;

/// Most tags on one object, as S3.
pub const MAX_OBJECT_TAGS: usize = 10;
/// Most tags on one bucket, as S3.
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in characters.
const MAX_KEY: usize = 128;
/// Longest tag value, in characters.
const MAX_VALUE: usize = 256;

fn invalid(why: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidTag, why)
}

/// Checks a tag set against S3's limits, `max` tags at most.
pub fn validate(tags: &[(String, String)], max: usize) -> Result<(), S3Error> {
    if tags.len() > max {
        return Err(invalid(format!(
            "{} tags given; at most {max} are allowed",
            tags.len()
        )));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        let klen = k.chars().count();
        if klen == 0 || klen > MAX_KEY {
            return Err(invalid(format!(
                "tag key {k:?} has {klen} characters; a key has 1 to {MAX_KEY}"
            )));
        }
        let vlen = v.chars().count();
        if vlen > MAX_VALUE {
            return Err(invalid(format!(
                "the value of tag {k:?} has {vlen} characters, more than {MAX_VALUE}"
            )));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid(format!("tag key {k:?} is given more than once")));
        }
    }
    Ok(())
}

/// The object tags of an `x-amz-tagging` header (none without it).
pub fn from_header(headers: &HeaderMap) -> Result<Tags, S3Error> {
    let Some(v) = headers.get("x-amz-tagging") else {
        return Ok(Tags::new());
    };
    let text = v
        .to_str()
        .map_err(|_| invalid("x-amz-tagging is not ASCII (it is URL-encoded)"))?;
    let tags = parse_query_tags(text)?;
    validate(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// `k=v&k2=v2`, URL-encoded as a query string.
fn parse_query_tags(text: &str) -> Result<Tags, S3Error> {
    let decode = |s: &str| {
        crate::encoding::query_unescape(s)
            .ok_or_else(|| invalid(format!("x-amz-tagging: {s:?} is not URL-encoded")))
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The tags of a CopyObject's target: the source's (`x-amz-tagging-directive:
/// COPY`, the default) or the request's `x-amz-tagging` (`REPLACE`).
pub fn for_copy(headers: &HeaderMap, source: &[(String, String)]) -> Result<Tags, S3Error> {
    match headers
        .get("x-amz-tagging-directive")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => Ok(source.to_vec()),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(source.to_vec()),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => from_header(headers),
        Some(v) => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("x-amz-tagging-directive {v:?} is neither COPY nor REPLACE"),
        )),
    }
}

/// Parses `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>`
/// and checks it against the limits (`max` tags).
pub fn parse_xml(data: &[u8], max: usize) -> Result<Tags, S3Error> {
    let mut tags = Tags::new();
    let mut tag: Option<(Option<String>, Option<String>)> = None;
    walk(data, |node| {
        match node {
            Node::Open(p) if p.len() == 1 && p[0] != "Tagging" => {
                return Err(malformed(format!(
                    "the root element is <{}>, want <Tagging>",
                    p[0]
                )))
            }
            Node::Open(p) if is(p, &["Tagging", "TagSet", "Tag"]) => tag = Some((None, None)),
            Node::Open(p) if is(p, &["Tagging", "TagSet", "Tag", "Key"]) => {
                if let Some((k, _)) = tag.as_mut() {
                    if k.is_some() {
                        return Err(malformed("a <Tag> has more than one <Key>"));
                    }
                    *k = Some(String::new());
                }
            }
            Node::Open(p) if is(p, &["Tagging", "TagSet", "Tag", "Value"]) => {
                if let Some((_, v)) = tag.as_mut() {
                    if v.is_some() {
                        return Err(malformed("a <Tag> has more than one <Value>"));
                    }
                    *v = Some(String::new());
                }
            }
            Node::Text(p, t) if is(p, &["Tagging", "TagSet", "Tag", "Key"]) => {
                if let Some((Some(k), _)) = tag.as_mut() {
                    k.push_str(&t);
                }
            }
            Node::Text(p, t) if is(p, &["Tagging", "TagSet", "Tag", "Value"]) => {
                if let Some((_, Some(v))) = tag.as_mut() {
                    v.push_str(&t);
                }
            }
            Node::Close(p) if is(p, &["Tagging", "TagSet", "Tag"]) => match tag.take() {
                Some((Some(k), Some(v))) => tags.push((k, v)),
                Some((None, _)) => return Err(malformed("a <Tag> without a <Key>")),
                _ => return Err(malformed("a <Tag> without a <Value>")),
            },
            _ => {}
        }
        Ok(())
    })?;
    validate(&tags, max)?;
    Ok(tags)
}

/// The `<Tagging>` document of a tag set.
pub fn to_xml(tags: &[(String, String)]) -> String {
    let mut out = format!("{}<Tagging xmlns=\"{}\"><TagSet>", xml::DECL, xml::NS);
    for (k, v) in tags {
        out.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            xml::escape(k),
            xml::escape(v)
        ));
    }
    out.push_str("</TagSet></Tagging>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::headers;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn documents_round_trip() {
        let t = tags(&[("a&b", "<x>"), ("empty", ""), ("é", "1 2")]);
        assert_eq!(parse_xml(to_xml(&t).as_bytes(), 10).unwrap(), t);
        let doc = br#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>
            <Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>e</Key><Value/></Tag></TagSet></Tagging>"#;
        assert_eq!(parse_xml(doc, 10).unwrap(), tags(&[("k", "v"), ("e", "")]));
        assert!(parse_xml(b"<Tagging><TagSet/></Tagging>", 10)
            .unwrap()
            .is_empty());
        for bad in [
            &b"<Other/>"[..],
            b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value/></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet>",
        ] {
            assert_eq!(
                parse_xml(bad, 10).unwrap_err().code,
                S3ErrorCode::MalformedXML,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let many: Tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(
            validate(&many, MAX_OBJECT_TAGS).unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
        assert!(validate(&many, MAX_BUCKET_TAGS).is_ok());
        assert!(validate(&many[..10], MAX_OBJECT_TAGS).is_ok());
        let k128 = "é".repeat(128);
        assert!(
            validate(&tags(&[(&k128, "")]), 10).is_ok(),
            "characters, not bytes"
        );
        for bad in [
            tags(&[(&"k".repeat(129), "v")]),
            tags(&[("", "v")]),
            tags(&[("k", &"v".repeat(257))]),
            tags(&[("k", "1"), ("k", "2")]),
        ] {
            assert_eq!(
                validate(&bad, 10).unwrap_err().code,
                S3ErrorCode::InvalidTag
            );
        }
        assert!(validate(&tags(&[("k", &"v".repeat(256))]), 10).is_ok());
    }

    #[test]
    fn headers_and_directives() {
        let h = headers(&[("x-amz-tagging", "a=1&b%20c=d+e&empty=")]);
        let want = tags(&[("a", "1"), ("b c", "d e"), ("empty", "")]);
        assert_eq!(from_header(&h).unwrap(), want);
        assert!(from_header(&headers(&[])).unwrap().is_empty());
        assert_eq!(
            from_header(&headers(&[("x-amz-tagging", "a=%zz")]))
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            from_header(&headers(&[("x-amz-tagging", "a=1&a=2")]))
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidTag
        );
        let source = tags(&[("s", "1")]);
        assert_eq!(for_copy(&h, &source).unwrap(), source, "COPY by default");
        let replace = headers(&[
            ("x-amz-tagging", "n=2"),
            ("x-amz-tagging-directive", "REPLACE"),
        ]);
        assert_eq!(for_copy(&replace, &source).unwrap(), tags(&[("n", "2")]));
        let bad = headers(&[("x-amz-tagging-directive", "MERGE")]);
        assert_eq!(
            for_copy(&bad, &source).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }
}
