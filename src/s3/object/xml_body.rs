//! The XML request bodies S3 clients send: DeleteObjects' `<Delete>` and
//! CreateBucket's `<CreateBucketConfiguration>`, read with quick-xml's pull
//! parser. Anything that is not well-formed, or not the expected document,
//! is `MalformedXML` naming the cause.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::s3::error::{S3Error, S3ErrorCode};

/// Most keys one DeleteObjects may name, as S3.
pub const MAX_DELETE_KEYS: usize = 1000;

pub(crate) fn malformed(why: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML, why)
}

/// An element's text or the end of an element, with the path of element
/// names (local names, namespaces ignored) from the root down.
pub(crate) enum Node<'a> {
    Open(&'a [String]),
    Text(&'a [String], String),
    Close(&'a [String]),
}

/// Walks a document, calling `f` for each element opened and closed and
/// for each piece of text (CDATA included) inside an element.
pub(crate) fn walk(
    data: &[u8],
    mut f: impl FnMut(Node<'_>) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let text = std::str::from_utf8(data).map_err(|_| malformed("the XML body is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut path: Vec<String> = Vec::new();
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("the XML body is not well-formed: {e}")))?;
        match event {
            Event::Start(e) => {
                if path.is_empty() {
                    roots += 1;
                    if roots > 1 {
                        return Err(malformed("the XML body has more than one root element"));
                    }
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                path.push(name);
                f(Node::Open(&path))?;
            }
            Event::End(_) => {
                f(Node::Close(&path))?;
                path.pop();
            }
            Event::Text(t) if !path.is_empty() => {
                let s = t
                    .unescape()
                    .map_err(|e| malformed(format!("bad XML text: {e}")))?;
                f(Node::Text(&path, s.into_owned()))?;
            }
            Event::CData(c) if !path.is_empty() => {
                let s = c
                    .decode()
                    .map_err(|e| malformed(format!("bad CDATA: {e}")))?;
                f(Node::Text(&path, s.into_owned()))?;
            }
            Event::Text(t) if !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(malformed("text outside the root element"));
            }
            Event::Eof if !path.is_empty() => {
                return Err(malformed(format!(
                    "the XML body ends inside <{}>",
                    path.join("><")
                )))
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if roots == 0 {
        return Err(malformed("the XML body is empty"));
    }
    Ok(())
}

pub(crate) fn is(path: &[String], want: &[&str]) -> bool {
    path.len() == want.len() && path.iter().zip(want).all(|(a, b)| a == b)
}

/// A DeleteObjects request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// `<Quiet>true</Quiet>`: answer only the errors.
    pub quiet: bool,
    /// The keys, in request order.
    pub keys: Vec<String>,
}

/// Parses `<Delete><Quiet>…</Quiet><Object><Key>…</Key>…</Object>…</Delete>`:
/// 1 to [`MAX_DELETE_KEYS`] objects, each with one key.
pub fn parse_delete(data: &[u8]) -> Result<DeleteRequest, S3Error> {
    let mut quiet = String::new();
    let mut keys = Vec::new();
    let mut key: Option<String> = None;
    walk(data, |node| {
        match node {
            Node::Open(p) if p.len() == 1 && p[0] != "Delete" => {
                return Err(malformed(format!(
                    "the root element is <{}>, want <Delete>",
                    p[0]
                )))
            }
            Node::Open(p) if is(p, &["Delete", "Object"]) => {
                if keys.len() == MAX_DELETE_KEYS {
                    return Err(malformed(format!(
                        "a DeleteObjects request names at most {MAX_DELETE_KEYS} keys"
                    )));
                }
                key = None;
            }
            Node::Open(p) if is(p, &["Delete", "Object", "Key"]) => {
                if key.is_some() {
                    return Err(malformed("an <Object> has more than one <Key>"));
                }
                key = Some(String::new());
            }
            Node::Text(p, t) if is(p, &["Delete", "Quiet"]) => quiet.push_str(&t),
            Node::Text(p, t) if is(p, &["Delete", "Object", "Key"]) => {
                if let Some(k) = key.as_mut() {
                    k.push_str(&t);
                }
            }
            Node::Close(p) if is(p, &["Delete", "Object"]) => match key.take() {
                Some(k) if !k.is_empty() => keys.push(k),
                _ => return Err(malformed("an <Object> without a <Key>")),
            },
            _ => {}
        }
        Ok(())
    })?;
    if keys.is_empty() {
        return Err(malformed("a <Delete> names no <Object>"));
    }
    let quiet = match quiet.trim() {
        "" => false,
        q if q.eq_ignore_ascii_case("true") => true,
        q if q.eq_ignore_ascii_case("false") => false,
        q => return Err(malformed(format!("<Quiet> is {q:?}, want true or false"))),
    };
    Ok(DeleteRequest { quiet, keys })
}

/// Parses `<CreateBucketConfiguration><LocationConstraint>…` and answers the
/// location constraint (`None` when absent or empty).
pub fn parse_create_bucket(data: &[u8]) -> Result<Option<String>, S3Error> {
    let mut location = String::new();
    walk(data, |node| {
        match node {
            Node::Open(p) if p.len() == 1 && p[0] != "CreateBucketConfiguration" => {
                return Err(malformed(format!(
                    "the root element is <{}>, want <CreateBucketConfiguration>",
                    p[0]
                )))
            }
            Node::Text(p, t) if is(p, &["CreateBucketConfiguration", "LocationConstraint"]) => {
                location.push_str(&t)
            }
            _ => {}
        }
        Ok(())
    })?;
    let location = location.trim();
    Ok((!location.is_empty()).then(|| location.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_documents() {
        let d = parse_delete(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
  <Object><Key>a&amp;b</Key></Object>
  <Object><Key> sp ace </Key><VersionId>v</VersionId></Object>
  <Object><Key><![CDATA[<x>]]></Key></Object>
</Delete>"#,
        )
        .unwrap();
        assert!(d.quiet);
        assert_eq!(d.keys, vec!["a&b", " sp ace ", "<x>"]);
        let d = parse_delete(b"<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!d.quiet);
        for bad in [
            &b""[..],
            b"<Delete></Delete>",
            b"<Delete><Object></Object></Delete>",
            b"<Delete><Object><Key/></Object></Delete>",
            b"<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            b"<Delete><Object><Key>a</Key></Object>",
            b"<Delete><Object><Key>a</Kay></Object></Delete>",
            b"<Other><Object><Key>a</Key></Object></Other>",
            b"<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
            b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>",
            b"\xff",
        ] {
            let e = parse_delete(bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::MalformedXML, "{:?}", bad);
        }
        let many = |n: usize| {
            let mut s = String::from("<Delete>");
            for i in 0..n {
                s.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
            }
            s.push_str("</Delete>");
            s
        };
        assert_eq!(
            parse_delete(many(1000).as_bytes()).unwrap().keys.len(),
            1000
        );
        assert_eq!(
            parse_delete(many(1001).as_bytes()).unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
    }

    #[test]
    fn create_bucket_documents() {
        let p = |s: &str| parse_create_bucket(s.as_bytes());
        assert_eq!(
            p(r#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#).unwrap(),
            Some("eu-west-1".into())
        );
        assert_eq!(p("<CreateBucketConfiguration/>").unwrap(), None);
        assert!(p("<Delete/>").is_err());
        assert!(p("<CreateBucketConfiguration>").is_err());
    }
}
