//! A title's sample index as it is kept in the cluster beside the title
//! (namespace `BUCKET/vod`, the title's key; see `media::source`), so a
//! restarted proxy or another one does not parse the `moov` again. It
//! names the ETag and size of the object it was parsed from and is used
//! only for that object.
//!
//! Laid out to be read by range: a fixed prefix (magic, format, the
//! head's length), the head (MessagePack: the tracks without their
//! samples, and where each block lies), then the blocks: each track's
//! samples cut into the segments of the target the record was written
//! for, one block per track and segment, stored by column ([`columns`]).
//! A segment is served from the head and its one block ([`read_part`]),
//! without reading the rest, and the next ones from the head kept in
//! memory ([`Layout`]) and their block; [`decode`] reads the whole record
//! back into a [`Movie`]. Whatever is read back is checked as a parse
//! would be: a damaged or foreign record is no index.

mod columns;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::identity::Identity;
use super::mp4::{track_index_bytes, Codec, Kind, Movie, Track};
use super::segment::{cuts, Cuts, Span};

/// First bytes of a record.
const MAGIC: &[u8; 4] = b"BRVI";
/// The record layout written by this version (1 was one MessagePack
/// value, read whole; it is no index to this version).
const FORMAT: u32 = 2;
/// Magic, format, head length.
const PREFIX: usize = 12;
/// Bytes [`read_part`] reads first: the prefix and, for titles up to a
/// few hours, the whole head.
const FIRST_READ: usize = 64 << 10;

#[derive(Debug, Serialize, Deserialize)]
struct Head {
    etag: String,
    size: u64,
    timescale: u32,
    /// Segment target (seconds) the blocks are cut at.
    target: u32,
    /// Segments at that target (0: the record has one block per track).
    segments: u32,
    tracks: Vec<TrackHead>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TrackHead {
    id: u32,
    kind: Kind,
    codec: Codec,
    sample_entry: Vec<u8>,
    timescale: u32,
    shift: i64,
    /// The first sample of each block, then the track's sample count.
    bounds: Vec<u32>,
    /// Where each block ends, in bytes past the head (blocks follow one
    /// another, track after track).
    ends: Vec<u64>,
}

/// The samples of one track in one segment, read without the rest of
/// the record: a [`Track`] holding only them, and their span in it.
pub struct Part {
    /// The track, its samples those of the segment.
    pub track: Track,
    /// All of `track`'s samples.
    pub span: Span,
    /// Bytes the title's whole index takes in memory
    /// ([`Movie::index_bytes`]).
    pub index_bytes: usize,
}

/// The first sample of each block of `t`, then its sample count: the
/// segments' first samples at `c`, or one block without segments.
fn bounds(t: &Track, c: &Cuts) -> Vec<usize> {
    match c.firsts_of(t) {
        Some(f) if !c.is_empty() => f.to_vec(),
        _ => vec![0, t.samples.len()],
    }
}

/// The record of `movie`, parsed from the object `identity` names, its
/// blocks the segments of `c` (the movie's cuts at `target` seconds).
pub fn encode(movie: &Movie, identity: &Identity, target: u32, c: &Cuts) -> Vec<u8> {
    let mut blocks = Vec::new();
    let mut tracks = Vec::new();
    for t in &movie.tracks {
        let b = bounds(t, c);
        let mut ends = Vec::with_capacity(b.len());
        for w in b.windows(2) {
            let cols = columns::encode(&t.samples[w[0]..w[1]]);
            // Plain data: serializing it into a Vec cannot fail.
            let _ = rmp_serde::encode::write(&mut blocks, &cols);
            ends.push(blocks.len() as u64);
        }
        tracks.push(TrackHead {
            id: t.id,
            kind: t.kind,
            codec: t.codec.clone(),
            sample_entry: t.sample_entry.clone(),
            timescale: t.timescale,
            shift: t.shift,
            bounds: b.iter().map(|&x| x as u32).collect(),
            ends,
        });
    }
    let head = Head {
        etag: identity.etag.clone(),
        size: identity.size,
        timescale: movie.timescale,
        target,
        segments: c.len() as u32,
        tracks,
    };
    let head = rmp_serde::to_vec(&head).unwrap_or_default();
    let mut out = Vec::with_capacity(PREFIX + head.len() + blocks.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&blocks);
    out
}

/// The head's length, if `prefix` starts a record of this format.
fn head_len(prefix: &[u8]) -> Option<usize> {
    let p = prefix.get(..PREFIX)?;
    if &p[..4] != MAGIC || p[4..8] != FORMAT.to_be_bytes() {
        return None;
    }
    usize::try_from(u32::from_be_bytes([p[8], p[9], p[10], p[11]])).ok()
}

/// The head in `head`, if it is sound and for the object `identity` names.
fn head(head: &[u8], identity: &Identity) -> Option<Head> {
    let h: Head = rmp_serde::from_slice(head).ok()?;
    let sound = h.etag == identity.etag
        && h.size == identity.size
        && h.tracks.iter().all(|t| {
            t.timescale != 0
                && t.bounds.len() == t.ends.len() + 1
                && t.bounds.first() == Some(&0)
                && t.bounds.windows(2).all(|w| w[0] <= w[1])
                && t.ends.windows(2).all(|w| w[0] <= w[1])
                && (h.segments == 0 || t.bounds.len() == h.segments as usize + 1)
        })
        && h.tracks
            .windows(2)
            .all(|w| match (w[0].ends.last(), w[1].ends.first()) {
                (Some(a), Some(b)) => a <= b,
                _ => true,
            });
    sound.then_some(h)
}

/// Where the last block of `tracks` ends (tracks may have none), in bytes
/// past the head.
fn last_end(tracks: &[TrackHead]) -> u64 {
    tracks
        .iter()
        .rev()
        .find_map(|t| t.ends.last().copied())
        .unwrap_or(0)
}

/// Bytes of all blocks of `h`: a record of another length is damaged.
fn blocks_len(h: &Head) -> u64 {
    last_end(&h.tracks)
}

/// Where block `n` of track `k` of `h` lies, in bytes past the head.
fn block(h: &Head, k: usize, n: usize) -> Option<(u64, u64)> {
    let end = *h.tracks[k].ends.get(n)?;
    let start = if n > 0 {
        h.tracks[k].ends[n - 1]
    } else {
        last_end(&h.tracks[..k])
    };
    (start <= end).then_some((start, end))
}

/// Block `n` of track `k` of `h` decoded from `bytes`, if it holds the
/// samples the head says.
fn samples(h: &Head, k: usize, n: usize, bytes: &[u8]) -> Option<Vec<super::mp4::Sample>> {
    let cols: columns::Columns = rmp_serde::from_slice(bytes).ok()?;
    let s = columns::decode(&cols, h.size)?;
    let b = &h.tracks[k].bounds;
    (s.len() as u64 == u64::from(b[n + 1]) - u64::from(b[n])).then_some(s)
}

fn track_of(t: &TrackHead, samples: Vec<super::mp4::Sample>) -> Track {
    Track {
        id: t.id,
        kind: t.kind,
        codec: t.codec.clone(),
        sample_entry: t.sample_entry.clone(),
        timescale: t.timescale,
        shift: t.shift,
        samples,
    }
}

/// The index in `bytes` and its cuts at `target`, if it is a sound record
/// for the object `identity` names; `None` for anything else (another
/// object, another format, damage), which the caller parses again. The
/// cuts are made again and must be those the blocks were cut at when
/// `target` is the record's.
pub fn decode(bytes: &[u8], identity: &Identity, target: u32) -> Option<(Movie, Cuts)> {
    let len = head_len(bytes)?;
    let h = head(bytes.get(PREFIX..PREFIX.checked_add(len)?)?, identity)?;
    let blocks = &bytes[PREFIX + len..];
    if blocks.len() as u64 != blocks_len(&h) {
        return None;
    }
    let mut tracks = Vec::with_capacity(h.tracks.len());
    for (k, t) in h.tracks.iter().enumerate() {
        // the head's sample count, bounded by the blocks' bytes (at least
        // one a sample) so a damaged head cannot ask for a huge table
        let count = t.bounds.last().map_or(0, |&n| n as usize);
        let mut all: Vec<super::mp4::Sample> = Vec::with_capacity(count.min(blocks.len()));
        for n in 0..t.ends.len() {
            let (a, b) = block(&h, k, n)?;
            let bytes = blocks.get(usize::try_from(a).ok()?..usize::try_from(b).ok()?)?;
            let s = samples(&h, k, n, bytes)?;
            // decode times run on from block to block
            let next = all.last().map_or(0, |x| x.dts + u64::from(x.duration));
            if s.first().is_some_and(|x| x.dts != next) {
                return None;
            }
            all.extend(s);
        }
        tracks.push(track_of(t, all));
    }
    let movie = Movie {
        timescale: h.timescale,
        tracks,
    };
    let c = cuts(&movie, target);
    if target == h.target {
        let cut_alike = c.len() == h.segments as usize
            && movie.tracks.iter().zip(&h.tracks).all(|(t, s)| {
                let b: Vec<u32> = bounds(t, &c).iter().map(|&x| x as u32).collect();
                b == s.bounds
            });
        if !cut_alike {
            return None;
        }
    }
    Some((movie, c))
}

/// A record's head as read back, and where it lies: what a segment read
/// by range needs besides its one block. Kept in memory
/// ([`super::index_cache::IndexCache::layout`]) beside the indexes held
/// whole, so later segments of a title not held read only their block.
#[derive(Debug)]
pub struct Layout {
    head: Head,
    /// Where the blocks start in the record.
    head_end: u64,
    /// The record (the object holding it): its ETag and size.
    record: Identity,
}

impl Layout {
    /// The object the layout was read from: a record of another identity
    /// (written again meanwhile) has its own.
    pub fn record(&self) -> &Identity {
        &self.record
    }

    /// About the bytes the layout takes in memory.
    pub fn bytes(&self) -> usize {
        let tracks: usize = self
            .head
            .tracks
            .iter()
            .map(|t| {
                std::mem::size_of::<TrackHead>()
                    + t.bounds.len() * 4
                    + t.ends.len() * 8
                    + t.sample_entry.len()
            })
            .sum();
        std::mem::size_of::<Layout>() + tracks + self.head.etag.len() + self.record.etag.len()
    }

    /// Segment `n` (from 0) of the first `kind` track at `target` seconds,
    /// its block read by `read` (offset in the record, length): `None` when
    /// the record is cut at another target, has no such track or segment,
    /// or the block is not what the head says.
    pub fn part<E>(
        &self,
        (kind, n, target): (Kind, usize, u32),
        mut read: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
    ) -> Result<Option<Part>, E> {
        let h = &self.head;
        if h.target != target || n >= h.segments as usize {
            return Ok(None);
        }
        let Some(k) = h.tracks.iter().position(|t| t.kind == kind) else {
            return Ok(None);
        };
        let Some((a, b)) = block(h, k, n) else {
            return Ok(None);
        };
        let Ok(len) = usize::try_from(b - a) else {
            return Ok(None);
        };
        let bytes = read(self.head_end + a, len)?;
        let Some(s) = samples(h, k, n, &bytes) else {
            return Ok(None);
        };
        let track = track_of(&h.tracks[k], s);
        let span = Span::of(&track, 0, track.samples.len());
        let index_bytes = h
            .tracks
            .iter()
            .map(|t| {
                let samples = t.bounds.last().map_or(0, |&n| n as usize);
                track_index_bytes(samples, t.sample_entry.len())
            })
            .sum();
        Ok(Some(Part {
            track,
            span,
            index_bytes,
        }))
    }
}

/// Segment `n` (from 0) of the first `kind` track at `target` seconds,
/// read from the record `record` names (its size and ETag) by `read`
/// (offset, length) without the rest of it, and the record's [`Layout`]
/// for the next segments: `None` when the record is not a sound one for
/// the object `identity` names, or is cut at another target, or has no
/// such track or segment (the caller then loads the title whole).
pub fn read_part<E>(
    record: &Identity,
    identity: &Identity,
    target: u32,
    (kind, n): (Kind, usize),
    mut read: impl FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<Option<(Part, Layout)>, E> {
    let size = record.size;
    let first = read(
        0,
        usize::try_from(size).unwrap_or(usize::MAX).min(FIRST_READ),
    )?;
    let Some(len) = head_len(&first) else {
        return Ok(None);
    };
    let Some(head_end) = PREFIX.checked_add(len) else {
        return Ok(None);
    };
    if head_end as u64 > size {
        return Ok(None);
    }
    // The head, and whatever of the blocks the first read holds.
    let (head_bytes, tail): (Cow<[u8]>, &[u8]) = match first.get(PREFIX..head_end) {
        Some(h) => (Cow::Borrowed(h), &first[head_end..]),
        None => {
            let rest = read(first.len() as u64, head_end - first.len())?;
            let mut h = first[PREFIX..].to_vec();
            h.extend_from_slice(&rest);
            (Cow::Owned(h), &[])
        }
    };
    let Some(h) = head(&head_bytes, identity) else {
        return Ok(None);
    };
    if size - head_end as u64 != blocks_len(&h) {
        return Ok(None);
    }
    let layout = Layout {
        head: h,
        head_end: head_end as u64,
        record: record.clone(),
    };
    let part = layout.part((kind, n, target), |at, l| {
        let held = usize::try_from(at)
            .ok()
            .and_then(|a| a.checked_sub(head_end))
            .and_then(|a| tail.get(a..a.checked_add(l)?));
        match held {
            Some(b) => Ok(b.to_vec()),
            None => read(at, l),
        }
    })?;
    Ok(part.map(|p| (p, layout)))
}

#[cfg(test)]
mod tests;
