//! CMAF (fragmented MP4) writers: one init segment per track (`ftyp` +
//! `moov` with the source's `stsd` entry verbatim and an empty sample
//! table) and media segments (`moof` with `tfdt` and a version 1 `trun`,
//! then `mdat`). A media segment is returned as its header bytes and the
//! source byte ranges of its samples in order ([`Piece`]s), so the body is
//! streamed from the store and the samples are the source's bytes.
//!
//! Timing: every time is the source's as ffmpeg reads it (edit list
//! applied) plus [`OFFSET_SECS`]: `tfdt` is the decode time plus the
//! track's edit-list shift plus the offset, composition offsets are the
//! source's (signed, `trun` version 1). The offset keeps decode times
//! positive where an edit list starts after the first sample (B-frame
//! delay, AAC priming), is the same for every track and title, so tracks
//! and renditions stay aligned, and DASH names it as the
//! `presentationTimeOffset`.

use bytes::Bytes;

use super::mp4::{Kind, Track, OFFSET_SECS};
use super::segment::Span;
use crate::core::Piece;

/// Writes a box: size, type, then what `body` appends.
fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags first.
fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |o| {
        o.extend_from_slice(&((u32::from(version) << 24) | flags).to_be_bytes());
        body(o)
    });
}

fn u16(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}
fn u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}
fn u64(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_be_bytes());
}

/// The unity matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

/// A track's decode time `dts` as the segments carry it.
pub fn decode_time(track: &Track, dts: u64) -> u64 {
    let t = dts as i64 + track.shift + i64::from(OFFSET_SECS) * i64::from(track.timescale);
    // the parser refuses shifts larger than the offset
    t.max(0) as u64
}

/// Track id inside the packaged segments (one track per init segment).
pub const TRACK_ID: u32 = 1;

/// The init segment of one track.
pub fn init(track: &Track) -> Vec<u8> {
    let mut o = Vec::with_capacity(1024 + track.sample_entry.len());
    boxed(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"iso6");
        u32(o, 0);
        o.extend_from_slice(b"iso6cmfcdashmp41");
    });
    boxed(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            u32(o, 0);
            u32(o, 0);
            u32(o, track.timescale);
            u32(o, 0);
            u32(o, 0x10000);
            u16(o, 0x100);
            o.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|&m| u32(o, m));
            o.extend_from_slice(&[0; 24]);
            u32(o, TRACK_ID + 1);
        });
        boxed(o, b"trak", |o| trak(o, track));
        boxed(o, b"mvex", |o| {
            full(o, b"trex", 0, 0, |o| {
                u32(o, TRACK_ID);
                u32(o, 1);
                u32(o, 0);
                u32(o, 0);
                u32(o, 0);
            })
        });
    });
    o
}

fn trak(o: &mut Vec<u8>, t: &Track) {
    let (w, h) = t.codec.resolution().unwrap_or((0, 0));
    full(o, b"tkhd", 0, 3, |o| {
        u32(o, 0);
        u32(o, 0);
        u32(o, TRACK_ID);
        u32(o, 0);
        u32(o, 0);
        o.extend_from_slice(&[0; 8]);
        u16(o, 0);
        u16(o, 0);
        u16(o, if t.kind == Kind::Audio { 0x100 } else { 0 });
        u16(o, 0);
        MATRIX.iter().for_each(|&m| u32(o, m));
        u32(o, u32::from(w) << 16);
        u32(o, u32::from(h) << 16);
    });
    boxed(o, b"mdia", |o| {
        full(o, b"mdhd", 0, 0, |o| {
            u32(o, 0);
            u32(o, 0);
            u32(o, t.timescale);
            u32(o, 0);
            u16(o, 0x55c4); // "und"
            u16(o, 0);
        });
        full(o, b"hdlr", 0, 0, |o| {
            u32(o, 0);
            o.extend_from_slice(if t.kind == Kind::Video {
                b"vide"
            } else {
                b"soun"
            });
            o.extend_from_slice(&[0; 12]);
            o.extend_from_slice(if t.kind == Kind::Video {
                b"Video\0"
            } else {
                b"Audio\0"
            });
        });
        boxed(o, b"minf", |o| {
            if t.kind == Kind::Video {
                full(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
            } else {
                full(o, b"smhd", 0, 0, |o| u32(o, 0));
            }
            boxed(o, b"dinf", |o| {
                full(o, b"dref", 0, 0, |o| {
                    u32(o, 1);
                    full(o, b"url ", 0, 1, |_| {});
                })
            });
            boxed(o, b"stbl", |o| {
                full(o, b"stsd", 0, 0, |o| {
                    u32(o, 1);
                    o.extend_from_slice(&t.sample_entry);
                });
                full(o, b"stts", 0, 0, |o| u32(o, 0));
                full(o, b"stsc", 0, 0, |o| u32(o, 0));
                full(o, b"stsz", 0, 0, |o| u64(o, 0));
                full(o, b"stco", 0, 0, |o| u32(o, 0));
            });
        });
    });
}

/// `trun` flags: data offset, and per sample duration, size, flags and
/// composition offset.
const TRUN_FLAGS: u32 = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
/// Sample flags of a sync sample (depends on no other) and of others.
const SYNC: u32 = 0x0200_0000;
const NON_SYNC: u32 = 0x0101_0000;

/// Media segment `seq` (1-based fragment number) of `track` over `span`:
/// the `moof` and `mdat` header, then the samples' byte ranges (adjacent
/// samples joined into one range).
pub fn media(track: &Track, span: &Span, seq: u32) -> Vec<Piece> {
    let samples = &track.samples[span.first..span.end];
    let base = decode_time(track, samples.first().map_or(0, |s| s.dts));
    let mut o = Vec::with_capacity(128 + samples.len() * 16);
    let mut data_offset_at = 0;
    boxed(&mut o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32(o, seq));
        boxed(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x020000, |o| u32(o, TRACK_ID));
            full(o, b"tfdt", 1, 0, |o| u64(o, base));
            full(o, b"trun", 1, TRUN_FLAGS, |o| {
                u32(o, samples.len() as u32);
                data_offset_at = o.len();
                u32(o, 0);
                for s in samples {
                    u32(o, s.duration);
                    u32(o, s.size);
                    u32(o, if s.sync { SYNC } else { NON_SYNC });
                    u32(o, s.cto as u32);
                }
            });
        });
    });
    let payload: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    let large = payload + 8 > u64::from(u32::MAX);
    let mdat_header = if large { 16 } else { 8 };
    let data_offset = (o.len() + mdat_header) as u32;
    o[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    if large {
        u32(&mut o, 1);
        o.extend_from_slice(b"mdat");
        u64(&mut o, payload + 16);
    } else {
        u32(&mut o, (payload + 8) as u32);
        o.extend_from_slice(b"mdat");
    }
    let mut pieces = vec![Piece::Literal(Bytes::from(o))];
    for s in samples {
        let end = s.offset + u64::from(s.size);
        match pieces.last_mut() {
            Some(Piece::Object { end: e, .. }) if *e == s.offset => *e = end,
            _ => pieces.push(Piece::Object {
                start: s.offset,
                end,
            }),
        }
    }
    pieces
}

/// Total bytes of a segment's pieces.
pub fn length(pieces: &[Piece]) -> u64 {
    pieces.iter().map(Piece::len).sum()
}

/// The bytes `[start, end)` of a body made of `pieces` (a Range request).
pub fn slice(pieces: &[Piece], start: u64, end: u64) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut at = 0u64;
    for p in pieces {
        let len = p.len();
        let (from, to) = (start.max(at), end.min(at + len));
        if from < to {
            let (a, b) = (from - at, to - at);
            out.push(match p {
                Piece::Literal(bytes) => Piece::Literal(bytes.slice(a as usize..b as usize)),
                Piece::Object { start: s, .. } => Piece::Object {
                    start: s + a,
                    end: s + b,
                },
            });
        }
        at += len;
    }
    out
}

#[cfg(test)]
mod tests;
