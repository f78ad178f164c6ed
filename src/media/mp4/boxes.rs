//! ISO BMFF box headers and big-endian fields over a byte slice: every read
//! is bounds-checked and fails with [`Mp4Error`], never panics.

use super::error::Mp4Error;

/// A box type (`b"moov"`).
pub type FourCc = [u8; 4];

/// A cursor over the bytes of one box payload.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Mp4Error> {
        if n > self.remaining() {
            return Err(Mp4Error::Truncated("box field past its box"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Mp4Error> {
        self.take(n).map(|_| ())
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Mp4Error> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, Mp4Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Result<u32, Mp4Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self) -> Result<u64, Mp4Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A full box's version and flags.
    pub fn version_flags(&mut self) -> Result<(u8, u32), Mp4Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }
}

/// The header of a box: its type, header length and whole size (`None`:
/// to the end of the enclosing space, size 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Box type.
    pub kind: FourCc,
    /// Header bytes (8 or 16).
    pub header_len: u64,
    /// Size of header and payload; `None` when the box runs to the end.
    pub size: Option<u64>,
}

impl Header {
    /// Parses a header from the first 8 (or 16) bytes of `b`; `Ok(None)`
    /// when `b` holds fewer bytes than the header needs.
    pub fn parse(b: &[u8]) -> Result<Option<Header>, Mp4Error> {
        if b.len() < 8 {
            return Ok(None);
        }
        let size32 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let kind = [b[4], b[5], b[6], b[7]];
        let (header_len, size) = match size32 {
            0 => (8, None),
            1 => {
                if b.len() < 16 {
                    return Ok(None);
                }
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[8..16]);
                (16, Some(u64::from_be_bytes(a)))
            }
            n => (8, Some(u64::from(n))),
        };
        if let Some(s) = size {
            if s < header_len {
                return Err(Mp4Error::NotMp4("a box size smaller than its header"));
            }
        }
        Ok(Some(Header {
            kind,
            header_len,
            size,
        }))
    }
}

/// Iterates over the child boxes of a payload: `(type, payload)`.
pub struct Children<'a> {
    buf: &'a [u8],
}

/// The child boxes of `payload`.
pub fn children(payload: &[u8]) -> Children<'_> {
    Children { buf: payload }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<(FourCc, &'a [u8]), Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let h = match Header::parse(self.buf) {
            Ok(Some(h)) => h,
            Ok(None) => {
                self.buf = &[];
                return Some(Err(Mp4Error::Truncated("box header")));
            }
            Err(e) => {
                self.buf = &[];
                return Some(Err(e));
            }
        };
        let size = h.size.unwrap_or(self.buf.len() as u64);
        if size > self.buf.len() as u64 {
            self.buf = &[];
            return Some(Err(Mp4Error::Truncated("box past its parent")));
        }
        let size = size as usize;
        let payload = &self.buf[h.header_len as usize..size];
        self.buf = &self.buf[size..];
        Some(Ok((h.kind, payload)))
    }
}

/// The payload of the first child of type `kind`, if any.
pub fn find<'a>(payload: &'a [u8], kind: &FourCc) -> Result<Option<&'a [u8]>, Mp4Error> {
    for c in children(payload) {
        let (k, p) = c?;
        if &k == kind {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The payload of the first child of type `kind`, or an error naming it.
pub fn need<'a>(payload: &'a [u8], kind: &FourCc) -> Result<&'a [u8], Mp4Error> {
    find(payload, kind)?.ok_or(Mp4Error::Missing(*kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_children() {
        let mut b = Vec::new();
        b.extend_from_slice(&12u32.to_be_bytes());
        b.extend_from_slice(b"free");
        b.extend_from_slice(&[1, 2, 3, 4]);
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(b"mdat");
        b.extend_from_slice(&17u64.to_be_bytes());
        b.push(9);
        let kids: Vec<_> = children(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], (*b"free", &[1u8, 2, 3, 4][..]));
        assert_eq!(kids[1], (*b"mdat", &[9u8][..]));
        assert_eq!(need(&b, b"mdat").unwrap(), &[9u8]);
        assert!(matches!(need(&b, b"moov"), Err(Mp4Error::Missing(_))));
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        let mut b = Vec::new();
        b.extend_from_slice(&4u32.to_be_bytes());
        b.extend_from_slice(b"free");
        assert!(children(&b).next().unwrap().is_err());
        let mut b = Vec::new();
        b.extend_from_slice(&100u32.to_be_bytes());
        b.extend_from_slice(b"free");
        assert!(children(&b).next().unwrap().is_err());
        assert!(Cursor::new(&[1, 2]).u32().is_err());
    }
}
