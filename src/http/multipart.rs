//! Response bodies made of object spans: a plain span, or a
//! `multipart/byteranges` body (RFC 9110 §14.6) with one part per range.
//!
//! A body is a list of pieces: part headers of a few dozen bytes, and object
//! spans that the core streams from the store (`core::OpenObject::body`).

use bytes::Bytes;

use super::range::Span;
use crate::core::Piece;

impl From<Span> for Piece {
    fn from(s: Span) -> Piece {
        Piece::Object {
            start: s.start,
            end: s.end,
        }
    }
}

/// A `multipart/byteranges` body plan: its segments and boundary.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// The boundary, for the `Content-Type` parameter.
    pub boundary: String,
    /// Part headers, object spans and the closing delimiter, in order.
    pub segments: Vec<Piece>,
}

impl Multipart {
    /// Lays out one part per span, each with its own `Content-Type` and
    /// `Content-Range`.
    pub fn new(spans: &[Span], content_type: &str, size: u64) -> Multipart {
        let boundary = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let mut segments = Vec::with_capacity(spans.len() * 2 + 1);
        for s in spans {
            let head = format!(
                "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
                s.content_range(size)
            );
            segments.push(Piece::Literal(Bytes::from(head)));
            segments.push(Piece::from(*s));
        }
        segments.push(Piece::Literal(Bytes::from(format!(
            "\r\n--{boundary}--\r\n"
        ))));
        Multipart { boundary, segments }
    }

    /// The `Content-Type` of the whole body.
    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }

    /// Exact body length, for `Content-Length`.
    pub fn len(&self) -> u64 {
        self.segments.iter().map(Piece::len).sum()
    }

    /// Whether the body is empty (never, for a non-empty span list).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_length() {
        let spans = [Span { start: 0, end: 2 }, Span { start: 5, end: 10 }];
        let m = Multipart::new(&spans, "text/plain", 10);
        assert_eq!(m.segments.len(), 5);
        let Piece::Literal(h) = &m.segments[0] else {
            panic!("first segment is a header")
        };
        let h = std::str::from_utf8(h).unwrap();
        assert!(h.starts_with(&format!("\r\n--{}\r\n", m.boundary)));
        assert!(h.contains("Content-Type: text/plain\r\n"));
        assert!(h.ends_with("Content-Range: bytes 0-1/10\r\n\r\n"));
        let text: u64 = m
            .segments
            .iter()
            .filter_map(|s| match s {
                Piece::Literal(b) => Some(b.len() as u64),
                _ => None,
            })
            .sum();
        assert_eq!(m.len(), text + 7);
        assert!(m.content_type().ends_with(&m.boundary));
    }
}
