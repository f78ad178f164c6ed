//! Reading a title through the core object path ([`Objects`]): replica
//! order from placement, failover and corrupt blocks refused by the
//! store's reader, as on `/get/`. [`load`] reads only the `moov` (see
//! [`locate`]); [`segment`] opens the object again and streams the
//! segment's header and sample ranges with the core's bounded read-ahead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fmp4;
use super::mp4::{locate, parse_moov, Kind, LocateError, Movie, Mp4Error};
use super::segment::{cuts, span};
use crate::core::{blocking, Download, ObjectError, Objects, ReadOptions};
use crate::storage::{read_full, Context, ReplicaInfo, StorageError};

/// Why a title or segment cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum VodError {
    /// The store (not found, unavailable, corrupt everywhere).
    #[error("{0}")]
    Object(#[from] ObjectError),
    /// The file is not a packageable MP4 (415 or 4xx).
    #[error("{0}")]
    Mp4(#[from] Mp4Error),
    /// A segment or track the title does not have (404).
    #[error("{0}")]
    NoSuch(&'static str),
    /// The object changed between the index and the segment read: load again.
    #[error("the object changed while it was read")]
    Changed,
}

impl From<StorageError> for VodError {
    fn from(e: StorageError) -> Self {
        VodError::Object(ObjectError::Storage(e))
    }
}

/// A parsed title: its index and the replica it was read from (its ETag
/// and mtime are the title's validators and the cache's identity).
#[derive(Debug, Clone)]
pub struct Title {
    /// The sample index.
    pub movie: Arc<Movie>,
    /// The replica the `moov` was read from.
    pub info: ReplicaInfo,
    /// How long parsing the `moov` took (its reads not included).
    pub parse_time: Duration,
}

/// Reads and parses the `moov` of `key`.
pub async fn load(objects: &Objects, ctx: Context, key: &str) -> Result<Title, VodError> {
    let opts = ReadOptions {
        prefetch_from: None,
        recover_rate: None,
    };
    let open = objects.open(ctx, key, opts).await?;
    let info = open.info().clone();
    let size = info.size;
    let mut reader = open.into_reader();
    let (movie, parse_time) = blocking(move || -> Result<(Movie, Duration), VodError> {
        let moov = locate(size, |at, len| {
            read_full(reader.as_mut(), at, len).map(|b| b.to_vec())
        })
        .map_err(|e| match e {
            LocateError::Mp4(e) => VodError::Mp4(e),
            LocateError::Read(e) => VodError::from(e),
        })?;
        let started = Instant::now();
        let movie = parse_moov(&moov, size)?;
        Ok((movie, started.elapsed()))
    })
    .await??;
    Ok(Title {
        movie: Arc::new(movie),
        info,
        parse_time,
    })
}

/// Segment `n` (from 0) of the `kind` track of `title` at `target`
/// seconds: its length and its body (the bytes `range` of it when given,
/// a range the caller resolved against the length from [`segment_len`]),
/// streamed from the store.
#[allow(clippy::too_many_arguments)]
pub async fn segment(
    objects: &Objects,
    ctx: Context,
    key: &str,
    title: &Title,
    kind: Kind,
    n: usize,
    target: u32,
    range: Option<(u64, u64)>,
) -> Result<(u64, Download), VodError> {
    let mut pieces = pieces(title, kind, n, target)?;
    if let Some((a, b)) = range {
        pieces = fmp4::slice(&pieces, a, b);
    }
    let len = fmp4::length(&pieces);
    let start = pieces.iter().find_map(|p| match p {
        crate::core::Piece::Object { start, .. } => Some(*start),
        crate::core::Piece::Literal(_) => None,
    });
    let opts = ReadOptions {
        prefetch_from: start,
        recover_rate: None,
    };
    let open = objects.open(ctx, key, opts).await?;
    if open.info().etag() != title.info.etag() || open.info().size != title.info.size {
        return Err(VodError::Changed);
    }
    Ok((len, open.body(pieces)))
}

/// The pieces of segment `n` of the `kind` track.
fn pieces(
    title: &Title,
    kind: Kind,
    n: usize,
    target: u32,
) -> Result<Vec<crate::core::Piece>, VodError> {
    let m = &title.movie;
    let t = m.track(kind).ok_or(VodError::NoSuch("no such track"))?;
    let c = cuts(m, target);
    let s = span(t, &c, n).ok_or(VodError::NoSuch("no such segment"))?;
    Ok(fmp4::media(t, &s, n as u32 + 1))
}

/// The whole length of segment `n` of the `kind` track.
pub fn segment_len(title: &Title, kind: Kind, n: usize, target: u32) -> Result<u64, VodError> {
    Ok(fmp4::length(&pieces(title, kind, n, target)?))
}
