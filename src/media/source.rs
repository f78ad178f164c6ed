//! Reading a title through the core object path ([`Objects`]): replica
//! order from placement, failover and corrupt blocks refused by the
//! store's reader, as on `/get/`. [`load`] takes the title's index from
//! memory ([`IndexCache`]), else from the cluster ([`stored_index`], in
//! the namespace `BUCKET/vod`), else reads only the `moov` (see
//! [`locate`]) and parses it; [`store_index`] then keeps the parse in the
//! cluster. [`segment`] opens the object again and streams the segment's
//! header and sample ranges with the core's bounded read-ahead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::fmp4;
use super::identity::Identity;
use super::index_cache::{IndexCache, Indexed};
use super::mp4::{locate, parse_moov, Kind, LocateError, Movie, Mp4Error};
use super::segment::{span, Cuts};
use super::stored_index::{self, Part};
use crate::core::{blocking, Download, ObjectError, Objects, OpenObject, Piece, ReadOptions};
use crate::storage::{read_full, Context, ObjectReader, ReplicaInfo, StorageError};

/// Largest stored index read back (a two-hour title's is ~2 MiB).
const MAX_STORED_INDEX: u64 = 64 << 20;

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
    /// The sample index as the cache holds it (the movie and its cuts).
    pub index: Indexed,
    /// The replica the title was looked up on.
    pub info: ReplicaInfo,
    /// Where the index came from.
    pub found: Found,
}

/// Where [`load`] found a title's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The proxy's memory.
    Memory,
    /// The cluster, stored there by an earlier parse.
    Cluster,
    /// Nowhere: the `moov` was read and parsed, taking this long (its
    /// reads not included).
    Parsed(Duration),
}

/// The session of the side namespace where titles' indexes are kept.
fn index_ctx(ctx: &Context) -> Context {
    let mut c = ctx.clone();
    c.namespace = format!("{}/{}", ctx.namespace, crate::core::VOD_INDEX);
    c
}

/// The object `key` opened for its index and segments.
async fn open_title(objects: &Objects, ctx: Context, key: &str) -> Result<OpenObject, VodError> {
    let opts = ReadOptions {
        prefetch_from: None,
        recover_rate: None,
    };
    Ok(objects.open(ctx, key, opts).await?)
}

/// The index of `key`: from `cache`, else from the cluster, else parsed
/// from its `moov`; kept in `cache` for the object it was read from (with
/// its cuts at `target` seconds when read from the cluster).
pub async fn load(
    objects: &Objects,
    cache: &IndexCache,
    ctx: Context,
    key: &str,
    target: u32,
) -> Result<Title, VodError> {
    let open = open_title(objects, ctx.clone(), key).await?;
    load_opened(objects, cache, ctx, key, target, open).await
}

/// [`load`] once the title is open.
async fn load_opened(
    objects: &Objects,
    cache: &IndexCache,
    ctx: Context,
    key: &str,
    target: u32,
    open: OpenObject,
) -> Result<Title, VodError> {
    let namespace = ctx.namespace.clone();
    let info = open.info().clone();
    let identity = Identity::of(&info);
    if let Some(index) = cache.get(&namespace, key, &identity) {
        return Ok(Title {
            index,
            info,
            found: Found::Memory,
        });
    }
    let _slot = cache.load_slot(&namespace, key).await;
    // Loaded by another request while this one waited.
    if let Some(index) = cache.get(&namespace, key, &identity) {
        return Ok(Title {
            index,
            info,
            found: Found::Memory,
        });
    }
    let (index, found) = match read_stored(objects, &ctx, key, &identity, target).await {
        Some((movie, c)) => (
            Indexed::with_cuts(Arc::new(movie), target, c),
            Found::Cluster,
        ),
        None => {
            let size = info.size;
            let mut reader = open.into_reader();
            blocking(move || -> Result<(Indexed, Found), VodError> {
                let moov = locate(size, |at, len| {
                    read_full(reader.as_mut(), at, len).map(|b| b.to_vec())
                })
                .map_err(|e| match e {
                    LocateError::Mp4(e) => VodError::Mp4(e),
                    LocateError::Read(e) => VodError::from(e),
                })?;
                let started = Instant::now();
                let movie = parse_moov(&moov, size)?;
                let index = Indexed::new(Arc::new(movie));
                Ok((index, Found::Parsed(started.elapsed())))
            })
            .await??
        }
    };
    cache.insert(&namespace, key, identity, index.clone());
    Ok(Title { index, info, found })
}

/// The index of `key` kept in the cluster: the identity of the object
/// holding it (its size among them) and a reader of it; `None` when there
/// is none, or it could not be opened (logged).
async fn open_stored(
    objects: &Objects,
    ctx: &Context,
    key: &str,
) -> Option<(Identity, Box<dyn ObjectReader>)> {
    // No prefetch: the caller reads what it needs itself.
    let opts = ReadOptions {
        prefetch_from: None,
        recover_rate: None,
    };
    let open = match objects.open(index_ctx(ctx), key, opts).await {
        Ok(o) => o,
        Err(ObjectError::Storage(e)) if e.is_not_found() => return None,
        Err(e) => {
            log::warn!("vod index of {}/{key}: {e}", ctx.namespace);
            return None;
        }
    };
    let record = Identity::of(open.info());
    (record.size <= MAX_STORED_INDEX).then(|| (record, open.into_reader()))
}

/// What reading a stored index found: `None` for no sound index, or a
/// read that failed (logged).
fn found<T>(
    ctx: &Context,
    key: &str,
    done: Result<Result<Option<T>, StorageError>, ObjectError>,
) -> Option<T> {
    match done
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(found) => found,
        Err(e) => {
            log::warn!("vod index of {}/{key}: {e}", ctx.namespace);
            None
        }
    }
}

/// The index of `key` kept in the cluster and its cuts at `target`, if
/// there is a sound one for the object `identity` names: read whole and
/// decoded on the blocking pool.
async fn read_stored(
    objects: &Objects,
    ctx: &Context,
    key: &str,
    identity: &Identity,
    target: u32,
) -> Option<(Movie, Cuts)> {
    let (record, mut reader) = open_stored(objects, ctx, key).await?;
    let identity = identity.clone();
    let done = blocking(move || {
        let bytes = read_full(reader.as_mut(), 0, record.size as usize)?;
        Ok(stored_index::decode(&bytes, &identity, target))
    })
    .await;
    found(ctx, key, done)
}

/// Segment `n` of the `kind` track of `key` at `target` seconds from the
/// index kept in the cluster, read by range (its head, unless `cache`
/// holds it, and the one block; on this thread when the store has them in
/// memory), if there is a sound one for `identity` cut at that target. A
/// head read is kept in `cache` for the next ones.
async fn read_stored_part(
    objects: &Objects,
    cache: &IndexCache,
    ctx: &Context,
    key: &str,
    identity: &Identity,
    (kind, n, target): (Kind, usize, u32),
) -> Option<Part> {
    let (record, mut reader) = open_stored(objects, ctx, key).await?;
    let held = cache
        .layout(&ctx.namespace, key, identity)
        .filter(|l| *l.record() == record);
    let id = identity.clone();
    let done = objects
        .cached_reads(move || {
            let read = |at, len| read_full(reader.as_mut(), at, len).map(|b| b.to_vec());
            match &held {
                Some(layout) => Ok(layout.part((kind, n, target), read)?.map(|p| (p, None))),
                None => Ok(
                    stored_index::read_part(&record, &id, target, (kind, n), read)?
                        .map(|(p, l)| (p, Some(l))),
                ),
            }
        })
        .await;
    let (part, layout) = found(ctx, key, done)?;
    if let Some(layout) = layout {
        cache.insert_layout(&ctx.namespace, key, identity.clone(), layout);
    }
    Some(part)
}

/// Keeps the index of `title` (just parsed) in the cluster beside `key`,
/// its blocks cut at `target` seconds, for other proxies and later
/// starts; a failure only costs them a parse.
pub async fn store_index(objects: &Objects, ctx: Context, key: &str, title: &Title, target: u32) {
    let identity = Identity::of(&title.info);
    let index = title.index.clone();
    let encode = move || {
        let c = index.cuts(target);
        stored_index::encode(&index.movie, &identity, target, &c)
    };
    let Ok(body) = blocking(encode).await else {
        return;
    };
    let size = body.len() as u64;
    let stream = futures_util::stream::iter([Ok::<_, ObjectError>(Bytes::from(body))]);
    let namespace = ctx.namespace.clone();
    if let Err(e) = objects
        .put(index_ctx(&ctx), key, None, size, stream, None)
        .await
    {
        log::warn!("vod index of {namespace}/{key} not stored: {e}");
    }
}

/// The body of a segment of the title `info` names made of `pieces` (from
/// [`segment_pieces`], cut to the bytes `range` when given: a range the
/// caller resolved against their whole length): its length and the body,
/// streamed from the store.
pub async fn segment(
    objects: &Objects,
    ctx: Context,
    key: &str,
    info: &ReplicaInfo,
    mut pieces: Vec<Piece>,
    range: Option<(u64, u64)>,
) -> Result<(u64, Download), VodError> {
    if let Some((a, b)) = range {
        pieces = fmp4::slice(&pieces, a, b);
    }
    let len = fmp4::length(&pieces);
    let start = pieces.iter().find_map(|p| match p {
        Piece::Object { start, .. } => Some(*start),
        Piece::Literal(_) => None,
    });
    let opts = ReadOptions {
        prefetch_from: start,
        recover_rate: None,
    };
    let open = objects.open(ctx, key, opts).await?;
    if open.info().etag() != info.etag() || open.info().size != info.size {
        return Err(VodError::Changed);
    }
    Ok((len, open.body(pieces)))
}

/// The pieces of segment `n` (from 0) of the `kind` track of `title` at
/// `target` seconds: its `moof` and `mdat` header, then its samples'
/// byte ranges ([`fmp4::length`] gives the segment's length).
pub fn segment_pieces(
    title: &Title,
    kind: Kind,
    n: usize,
    target: u32,
) -> Result<Vec<Piece>, VodError> {
    let m = &title.index.movie;
    let t = m.track(kind).ok_or(VodError::NoSuch("no such track"))?;
    let c = title.index.cuts(target);
    let s = span(t, &c, n).ok_or(VodError::NoSuch("no such segment"))?;
    Ok(fmp4::media(t, &s, n as u32 + 1))
}

/// What a segment request needs of its title.
pub struct SegmentOf {
    /// The replica the title was looked up on (its validators).
    pub info: ReplicaInfo,
    /// Where the index came from.
    pub found: Found,
    /// The segment ([`segment_pieces`]), or why the title has no such
    /// segment (found all the same).
    pub pieces: Result<Vec<Piece>, VodError>,
    /// The title, when it was loaded whole; `None` when the segment was
    /// read by range from the index in the cluster, which then is not in
    /// memory yet.
    pub title: Option<Title>,
    /// When read by range: the bytes the whole index would take in memory
    /// ([`Movie::index_bytes`]), 0 otherwise.
    pub index_bytes: usize,
}

/// Segment `n` (from 0) of the `kind` track of `key` at `target` seconds:
/// from the index in `cache`; else, without loading the whole index, from
/// the head and the one block of the index kept in the cluster; else from
/// the title loaded whole ([`load`]).
pub async fn load_segment(
    objects: &Objects,
    cache: &IndexCache,
    ctx: Context,
    key: &str,
    (kind, n, target): (Kind, usize, u32),
) -> Result<SegmentOf, VodError> {
    let open = open_title(objects, ctx.clone(), key).await?;
    let info = open.info().clone();
    let identity = Identity::of(&info);
    let title = match cache.get(&ctx.namespace, key, &identity) {
        Some(index) => Title {
            index,
            info,
            found: Found::Memory,
        },
        None => {
            let wanted = (kind, n, target);
            if let Some(p) = read_stored_part(objects, cache, &ctx, key, &identity, wanted).await {
                return Ok(SegmentOf {
                    info,
                    found: Found::Cluster,
                    pieces: Ok(fmp4::media(&p.track, &p.span, n as u32 + 1)),
                    title: None,
                    index_bytes: p.index_bytes,
                });
            }
            load_opened(objects, cache, ctx, key, target, open).await?
        }
    };
    Ok(SegmentOf {
        info: title.info.clone(),
        found: title.found,
        pieces: segment_pieces(&title, kind, n, target),
        title: Some(title),
        index_bytes: 0,
    })
}
