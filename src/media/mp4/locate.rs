//! Finding the `moov` with a few bounded reads: the first [`HEAD`] bytes,
//! then one 16-byte header read per top-level box beyond them (an `mdat`
//! before the `moov` is skipped by its size), then the `moov` itself.

use super::boxes::Header;
use super::error::Mp4Error;

/// Bytes read from the start of the file first.
pub const HEAD: u64 = 64 * 1024;
/// Largest `moov` read (about ten hours of 30 fps video with audio).
pub const MAX_MOOV: u64 = 64 * 1024 * 1024;
/// Most top-level box headers read past the head before giving up.
const MAX_HOPS: usize = 16;

/// Why the `moov` could not be had: the file, or the read.
#[derive(Debug)]
pub enum LocateError<E> {
    /// The file is not a packageable MP4.
    Mp4(Mp4Error),
    /// A read failed.
    Read(E),
}

impl<E> From<Mp4Error> for LocateError<E> {
    fn from(e: Mp4Error) -> Self {
        LocateError::Mp4(e)
    }
}

/// Top-level boxes an MP4 may start with.
const FIRST: [&[u8; 4]; 7] = [
    b"ftyp", b"styp", b"moov", b"free", b"skip", b"wide", b"mdat",
];

/// Reads the `moov` payload of a file of `size` bytes through
/// `read(offset, len)`, which returns exactly `len` bytes (or fewer at
/// the end of the file).
pub fn locate<E>(
    size: u64,
    mut read: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, LocateError<E>> {
    if size < 8 {
        return Err(Mp4Error::NotMp4(if size == 0 { "empty file" } else { "too short" }).into());
    }
    let head = read(0, HEAD.min(size) as usize).map_err(LocateError::Read)?;
    let first = Header::parse(&head)?.ok_or(Mp4Error::NotMp4("too short"))?;
    if !FIRST.contains(&&first.kind) {
        return Err(Mp4Error::NotMp4("no ftyp box at the start").into());
    }
    let mut pos = 0u64;
    let mut hops = 0;
    while pos < size {
        let at_head = (pos < head.len() as u64).then(|| &head[pos as usize..]);
        let h = match at_head.map(Header::parse).transpose()?.flatten() {
            Some(h) => h,
            None => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(Mp4Error::Unsupported(
                        "too many top-level boxes before the moov".into(),
                    )
                    .into());
                }
                let b = read(pos, 16.min(size - pos) as usize).map_err(LocateError::Read)?;
                Header::parse(&b)?.ok_or(Mp4Error::Truncated("top-level box header"))?
            }
        };
        let whole = h.size.unwrap_or(size - pos);
        let end = pos
            .checked_add(whole)
            .ok_or(Mp4Error::Invalid("box size"))?;
        if end > size {
            return Err(Mp4Error::Truncated(if &h.kind == b"moov" {
                "the moov runs past the end of the file"
            } else {
                "a box runs past the end of the file"
            })
            .into());
        }
        if &h.kind == b"moov" {
            if whole > MAX_MOOV {
                return Err(Mp4Error::Unsupported(format!("a moov of {whole} bytes")).into());
            }
            let body = pos + h.header_len;
            let len = (whole - h.header_len) as usize;
            if end <= head.len() as u64 {
                return Ok(head[body as usize..end as usize].to_vec());
            }
            let m = read(body, len).map_err(LocateError::Read)?;
            if m.len() != len {
                return Err(Mp4Error::Truncated("moov").into());
            }
            return Ok(m);
        }
        if &h.kind == b"moof" {
            return Err(
                Mp4Error::Unsupported("a fragmented MP4 (moof before any moov)".into()).into(),
            );
        }
        pos = end;
    }
    Err(Mp4Error::Missing(*b"moov").into())
}
