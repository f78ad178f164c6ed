//! `Content-Encoding: aws-chunked` bodies: `HEX-SIZE[;chunk-signature=SIG]\r\nDATA\r\n`
//! chunks, a final empty chunk, trailer lines (`x-amz-checksum-crc32:...`,
//! `x-amz-trailer-signature:...`) and an empty line. Unsigned with a
//! trailer (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, what boto3 and aws-cli
//! send over HTTPS) or signed chunk by chunk ([`ChunkSigner`]:
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`). Decoded as it streams,
//! chunk data passed on without copying; the trailer lines are kept for
//! the checksum check ([`Decoder::trailers`]).

use bytes::{Buf, Bytes, BytesMut};
use openssl::sha::Sha256;

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::sign::chunksig::ChunkSigner;

/// The `x-amz-content-sha256` of these bodies.
pub const UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer lines accepted.
const MAX_TRAILERS: usize = 16;
/// The trailer line that signs the others.
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a `HEX[;ext]\r\n` line.
    Size,
    /// Passing on this many data bytes.
    Data(u64),
    /// Expecting the `\r\n` after data.
    DataEnd,
    /// Reading trailer lines until an empty one.
    Trailer,
    /// The body is complete; nothing may follow.
    Done,
}

/// Incremental decoder: feed encoded bytes, get data bytes.
pub struct Decoder {
    state: State,
    /// A partial line (size or trailer) across input chunks.
    line: BytesMut,
    /// Trailer lines (name lower case, value trimmed), the signature excluded.
    trailers: Vec<(String, String)>,
    /// Signed bodies: the chain, the current chunk's data hash and the
    /// signature its size line carried; whether a signed trailer follows.
    signed: Option<Signed>,
}

struct Signed {
    chain: ChunkSigner,
    data: Sha256,
    given: Option<String>,
    trailer: bool,
    trailer_signature: Option<String>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Size,
            line: BytesMut::new(),
            trailers: Vec::new(),
            signed: None,
        }
    }
}

fn bad(why: impl Into<String>) -> S3Error {
    S3Error::new(
        S3ErrorCode::IncompleteBody,
        format!("aws-chunked body: {}", why.into()),
    )
}

impl Decoder {
    /// A decoder of a signed body: every chunk's signature is checked
    /// against `chain`, and with `trailer` the trailer's signature too.
    pub fn signed(chain: ChunkSigner, trailer: bool) -> Decoder {
        Decoder {
            signed: Some(Signed {
                chain,
                data: Sha256::new(),
                given: None,
                trailer,
                trailer_signature: None,
            }),
            ..Decoder::default()
        }
    }

    /// The trailer lines received (name lower case, value trimmed), the
    /// trailer signature excluded; complete once [`Decoder::finish`] is Ok.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Decodes `input`, appending the data it carries to `out`.
    pub fn feed(&mut self, mut input: Bytes, out: &mut Vec<Bytes>) -> Result<(), S3Error> {
        while !input.is_empty() {
            match self.state {
                State::Data(n) => {
                    let take = (n.min(input.len() as u64)) as usize;
                    let data = input.split_to(take);
                    if let Some(s) = &mut self.signed {
                        s.data.update(&data);
                    }
                    out.push(data);
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::Done => return Err(bad("bytes after the final chunk")),
                State::Size | State::DataEnd | State::Trailer => {
                    let Some(line) = self.line(&mut input)? else {
                        continue;
                    };
                    self.on_line(&line)?;
                }
            }
        }
        Ok(())
    }

    /// Takes bytes up to a `\r\n`; `None` when the line is still incomplete.
    fn line(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, S3Error> {
        match input.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&input[..=i]);
                input.advance(i + 1);
                let mut l = self.line.split().freeze();
                if !l.ends_with(b"\r\n") {
                    return Err(bad("a line does not end with CRLF"));
                }
                l.truncate(l.len() - 2);
                Ok(Some(l))
            }
            None => {
                self.line.extend_from_slice(input);
                input.clear();
                if self.line.len() > MAX_LINE {
                    return Err(bad(format!("a line is longer than {MAX_LINE} bytes")));
                }
                Ok(None)
            }
        }
    }

    fn on_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        match self.state {
            State::DataEnd => {
                if !line.is_empty() {
                    return Err(bad("chunk data is longer than its size"));
                }
                if let Some(s) = &mut self.signed {
                    let hash = std::mem::replace(&mut s.data, Sha256::new()).finish();
                    s.chain.chunk(&hash, s.given.take().as_deref())?;
                }
                self.state = State::Size;
            }
            State::Size => {
                let text = std::str::from_utf8(line).map_err(|_| bad("chunk size is not text"))?;
                let mut parts = text.split(';');
                let hex = parts.next().unwrap_or_default().trim();
                let n = u64::from_str_radix(hex, 16)
                    .map_err(|_| bad(format!("chunk size {hex:?} is not hexadecimal")))?;
                if let Some(s) = &mut self.signed {
                    s.given = parts
                        .find_map(|p| p.trim().strip_prefix("chunk-signature="))
                        .map(str::to_string);
                    if n == 0 {
                        let hash = std::mem::replace(&mut s.data, Sha256::new()).finish();
                        s.chain.chunk(&hash, s.given.take().as_deref())?;
                    }
                }
                self.state = if n == 0 {
                    State::Trailer
                } else {
                    State::Data(n)
                };
            }
            State::Trailer => {
                if line.is_empty() {
                    if let Some(s) = self.signed.as_mut().filter(|s| s.trailer) {
                        s.chain
                            .trailer(&self.trailers, s.trailer_signature.as_deref())?;
                    }
                    self.state = State::Done;
                    return Ok(());
                }
                let text =
                    std::str::from_utf8(line).map_err(|_| bad("a trailer line is not text"))?;
                let (name, value) = text
                    .split_once(':')
                    .ok_or_else(|| bad("a trailer line is not NAME:VALUE"))?;
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
                if self.signed.as_ref().is_some_and(|s| !s.trailer) {
                    return Err(bad("trailer lines in a signed body without a trailer"));
                }
                if name == TRAILER_SIGNATURE {
                    if let Some(s) = &mut self.signed {
                        s.trailer_signature = Some(value);
                    }
                } else if self.trailers.len() >= MAX_TRAILERS {
                    return Err(bad(format!("more than {MAX_TRAILERS} trailer lines")));
                } else {
                    self.trailers.push((name, value));
                }
            }
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }

    /// Checks that the body ended where the encoding says it ends.
    pub fn finish(&self) -> Result<(), S3Error> {
        if self.state == State::Done {
            Ok(())
        } else {
            Err(bad("the body ended before its final chunk and trailer"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> Result<Vec<u8>, S3Error> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for p in pieces {
            d.feed(Bytes::copy_from_slice(p), &mut out)?;
        }
        d.finish()?;
        Ok(out.concat())
    }

    const BODY: &[u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";

    #[test]
    fn whole_and_split_anywhere() {
        assert_eq!(decode(&[BODY]).unwrap(), b"hello world");
        for cut in 1..BODY.len() {
            let (a, b) = BODY.split_at(cut);
            assert_eq!(decode(&[a, b]).unwrap(), b"hello world", "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = BODY.chunks(1).collect();
        assert_eq!(decode(&bytes).unwrap(), b"hello world");
        assert_eq!(decode(&[b"0\r\n\r\n"]).unwrap(), b"");
        assert_eq!(
            decode(&[b"3;chunk-signature=ab\r\nabc\r\n0\r\n\r\n"]).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn trailers_are_kept() {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        d.feed(Bytes::from_static(BODY), &mut out).unwrap();
        d.finish().unwrap();
        assert_eq!(
            d.trailers(),
            &[("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
        );
    }

    #[test]
    fn signed_chunks() {
        use crate::s3::sign::chunksig::{ChunkSigner, Seed};
        let seed = Seed {
            key: vec![7; 32],
            amz_date: "20240101T000000Z".into(),
            scope: "20240101/r/s3/aws4_request".into(),
            signature: "ab".repeat(32),
        };
        // Signatures computed by a chain of its own.
        let mut chain = ChunkSigner::new(seed.clone());
        let mut body = Vec::new();
        for data in [&b"hello"[..], b" world", b""] {
            let sha = openssl::sha::sha256(data);
            let sig = chain.expected_chunk(&sha);
            chain.chunk(&sha, Some(&sig)).unwrap();
            body.extend_from_slice(
                format!("{:x};chunk-signature={sig}\r\n", data.len()).as_bytes(),
            );
            if !data.is_empty() {
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            }
        }
        let run = |b: &[u8], trailer: bool| {
            let mut d = Decoder::signed(ChunkSigner::new(seed.clone()), trailer);
            let mut out = Vec::new();
            for piece in b.chunks(3) {
                d.feed(Bytes::copy_from_slice(piece), &mut out)?;
            }
            d.finish().map(|_| out.concat())
        };
        let mut good = body.clone();
        good.extend_from_slice(b"\r\n");
        assert_eq!(run(&good, false).unwrap(), b"hello world");
        // A flipped data byte breaks its chunk's signature.
        let mut flipped = good.clone();
        let at = flipped.iter().position(|&b| b == b'w').unwrap();
        flipped[at] = b'W';
        assert_eq!(
            run(&flipped, false).unwrap_err().code,
            S3ErrorCode::SignatureDoesNotMatch
        );
        // Unsigned trailer lines are not taken in a body signed without a trailer.
        let mut injected = body.clone();
        injected.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        assert!(run(&injected, false).is_err());
        // With a trailer, its signature is required.
        assert_eq!(
            run(&injected, true).unwrap_err().code,
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn malformed_bodies() {
        for bad in [
            &b"5\r\nhello"[..],
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"z\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"0\r\nno-colon\r\n\r\n",
            b"0\r\n\r\nextra",
            b"0\r\n",
        ] {
            let e = decode(&[bad]).unwrap_err();
            assert_eq!(
                e.code,
                S3ErrorCode::IncompleteBody,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(decode(&[&long]).is_err());
    }
}
