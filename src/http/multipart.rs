//! Response bodies made of object spans: a plain span, or a
//! `multipart/byteranges` body (RFC 9110 §14.6) with one part per range.
//!
//! Bodies are streams of small pieces: part headers are a few dozen bytes,
//! and object bytes come from the store one chunk at a time, the next chunk
//! read only when the client has taken the last (bounded memory).

use bytes::Bytes;
use futures_util::Stream;

use super::blocking;
use super::error::ApiError;
use super::range::Span;
use crate::storage::{ObjectReader, StorageError};

/// Bytes read from the store per step of a download.
pub const READ_CHUNK: usize = 256 * 1024;

/// One piece of a response body.
#[derive(Debug, Clone)]
pub enum Segment {
    /// Literal bytes (a part header or the closing delimiter).
    Text(Bytes),
    /// Object bytes `[start, end)`.
    Object(Span),
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Segment::Text(b) => b.len() as u64,
            Segment::Object(s) => s.len(),
        }
    }
}

/// A `multipart/byteranges` body plan: its segments and boundary.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// The boundary, for the `Content-Type` parameter.
    pub boundary: String,
    /// Part headers, object spans and the closing delimiter, in order.
    pub segments: Vec<Segment>,
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
            segments.push(Segment::Text(Bytes::from(head)));
            segments.push(Segment::Object(*s));
        }
        segments.push(Segment::Text(Bytes::from(format!(
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
        self.segments.iter().map(Segment::len).sum()
    }

    /// Whether the body is empty (never, for a non-empty span list).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Streams the segments in order, reading object spans from `reader` one
/// `READ_CHUNK` at a time on the blocking pool. Dropping the stream (client
/// gone) drops the reader at once.
pub fn segments_stream(
    reader: Box<dyn ObjectReader>,
    segments: Vec<Segment>,
) -> impl Stream<Item = Result<Bytes, ApiError>> {
    let state = (Some(reader), segments.into_iter(), None::<Span>);
    futures_util::stream::try_unfold(state, |(mut reader, mut rest, mut cur)| async move {
        loop {
            if let Some(span) = cur.filter(|s| !s.is_empty()) {
                let n = READ_CHUNK.min(span.len() as usize);
                let mut r = reader
                    .take()
                    .ok_or_else(|| ApiError::Internal("reader lost".into()))?;
                let (r, chunk) = blocking(move || {
                    let chunk = r.read_at(span.start, n);
                    (r, chunk)
                })
                .await?;
                let chunk = chunk?;
                if chunk.is_empty() {
                    return Err(StorageError::new(libc::EIO, "object ended early").into());
                }
                let next = Span {
                    start: span.start.saturating_add(chunk.len() as u64),
                    end: span.end,
                };
                return Ok(Some((chunk, (Some(r), rest, Some(next)))));
            }
            match rest.next() {
                None => return Ok(None),
                Some(Segment::Text(b)) => return Ok(Some((b, (reader, rest, None)))),
                Some(Segment::Object(s)) => cur = Some(s),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_length() {
        let spans = [Span { start: 0, end: 2 }, Span { start: 5, end: 10 }];
        let m = Multipart::new(&spans, "text/plain", 10);
        assert_eq!(m.segments.len(), 5);
        let Segment::Text(h) = &m.segments[0] else {
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
                Segment::Text(b) => Some(b.len() as u64),
                _ => None,
            })
            .sum();
        assert_eq!(m.len(), text + 7);
        assert!(m.content_type().ends_with(&m.boundary));
    }
}
