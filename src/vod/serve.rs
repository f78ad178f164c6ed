//! Serving a parsed VOD path (GET and HEAD): the titles' indexes loaded
//! through `media::source`, the source objects' validators (304s), the
//! manifests written by `media`, segments streamed from the store with
//! one `Range` honoured.

use actix_web::body::SizedStream;
use actix_web::http::header::HeaderValue;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::error::VodHttpError;
use super::path::{File, Target};
use super::request::VodReq;
use crate::core::Download;
use crate::http::conditional::Validators;
use crate::http::range::{self, Ranges};
use crate::media::mp4::{Kind, Movie};
use crate::media::source::{self, Found, Title};
use crate::media::{dash, fmp4, playlist};
use crate::storage::{Context, ReplicaInfo};

/// Answers a GET or HEAD of `target`, counting the playlists and segments
/// answered (200, 206, 304) in the VOD counters.
pub async fn serve(req: &VodReq, target: Target) -> Result<HttpResponse, VodHttpError> {
    let file = target.file;
    let resp = answer(req, target).await?;
    let status = resp.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let counters = &req.state.stats.vod;
        match file {
            File::Init(..) | File::Segment(..) => counters.segments.inc(),
            _ => counters.playlists.inc(),
        };
    }
    Ok(resp)
}

async fn answer(req: &VodReq, target: Target) -> Result<HttpResponse, VodHttpError> {
    let Target {
        bucket,
        keys,
        file,
        title: title_path,
        ..
    } = target;
    let ctx = req.read_session(&bucket, &title_path).await?;
    let objects = &req.state.objects;
    let proxy = &req.snap.config.proxy;
    let target = proxy.vod_segment_seconds;
    let cache_control = match file {
        File::Init(..) | File::Segment(..) => &proxy.vod_cache_control,
        _ => &proxy.vod_playlist_cache_control,
    };
    let query = match req.http.uri().query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    };
    let index = &req.state.vod_index;
    // The titles asked for: a segment's, else every rendition's.
    let mut titles: Vec<Title> = Vec::new();
    let mut segment = None;
    if let File::Segment(k, r, n) = file {
        let key = keys
            .get(r)
            .ok_or_else(|| VodHttpError::NotFound("no such rendition".into()))?;
        let s = source::load_segment(objects, index, ctx.clone(), key, (k, n, target)).await?;
        note_found(req, &ctx, key, s.found, s.title.as_ref(), target);
        if s.title.is_none() {
            req.state.stats.vod.index_range_reads.inc();
        }
        segment = Some((k, r, s));
    } else {
        let rendition = file.rendition();
        for (r, key) in keys.iter().enumerate() {
            if rendition.map_or(true, |x| x == r) {
                let title = source::load(objects, index, ctx.clone(), key, target).await?;
                note_found(req, &ctx, key, title.found, Some(&title), target);
                titles.push(title);
            }
        }
    }
    let infos: Vec<&ReplicaInfo> = match &segment {
        Some((_, _, s)) => vec![&s.info],
        None => titles.iter().map(|t| &t.info).collect(),
    };
    let first = *infos
        .first()
        .ok_or_else(|| VodHttpError::NotFound("no such rendition".into()))?;
    // The sources' tags (a urlset joins them) and the target duration,
    // which changes every playlist and segment of the same sources.
    let tags: Vec<String> = infos
        .iter()
        .map(|i| i.etag().trim_matches('"').to_string())
        .collect();
    // Playlists carry the query (a title token) into the URLs they list:
    // another query is another body, so another tag.
    let carried = match file {
        File::Init(..) | File::Segment(..) => String::new(),
        _ if query.is_empty() => String::new(),
        _ => format!("-q{:08x}", crc32fast::hash(query.as_bytes())),
    };
    let validators = Validators {
        etag: format!("\"{}-s{target}{carried}\"", tags.join("-")),
        last_modified: infos.iter().map(|i| i.mtime).max().unwrap_or(first.mtime),
    };
    if let Some(mut not_modified) = validators
        .precheck(req.http.headers())
        .map_err(VodHttpError::PreconditionFailed)?
    {
        if let Ok(v) = HeaderValue::from_str(cache_control) {
            if !cache_control.is_empty() {
                not_modified.headers_mut().insert(CACHE_CONTROL, v);
            }
        }
        return Ok(not_modified);
    }
    let mut resp = validators.reply();
    if !cache_control.is_empty() {
        resp.insert_header((CACHE_CONTROL, cache_control.as_str()));
    }
    let m3u8 = "application/vnd.apple.mpegurl";
    let mime = |k: Kind| {
        if k == Kind::Video {
            "video/mp4"
        } else {
            "audio/mp4"
        }
    };
    let track = |k: Kind| {
        titles
            .first()
            .and_then(|t| t.index.movie.track(k))
            .ok_or_else(|| VodHttpError::NotFound("no such track".into()))
    };
    let movie = || {
        titles
            .first()
            .map(|t| t.index.movie.as_ref())
            .ok_or_else(|| VodHttpError::NotFound("no such rendition".into()))
    };
    let head = req.http.method() == Method::HEAD;
    let (ctype, body) = match file {
        File::Master => {
            let movies: Vec<&Movie> = titles.iter().map(|t| t.index.movie.as_ref()).collect();
            (m3u8, Bytes::from(playlist::master(&movies, target, &query)))
        }
        File::Manifest => {
            let movies: Vec<&Movie> = titles.iter().map(|t| t.index.movie.as_ref()).collect();
            (
                "application/dash+xml",
                Bytes::from(dash::manifest(&movies, target, &query)),
            )
        }
        File::Media(k, _) => (
            m3u8,
            Bytes::from(playlist::media(movie()?, track(k)?, target, &query)),
        ),
        File::Iframes(_) => (
            m3u8,
            Bytes::from(playlist::iframes(
                movie()?,
                track(Kind::Video)?,
                target,
                &query,
            )),
        ),
        File::Init(k, _) => (mime(k), Bytes::from(fmp4::init(track(k)?))),
        File::Segment(..) => {
            let Some((k, r, s)) = segment else {
                return Err(VodHttpError::NotFound("no such segment".into()));
            };
            let pieces = s.pieces?;
            let whole = fmp4::length(&pieces);
            // one range (RFC 9110 §14.2); several are answered whole
            let range = match req.header(RANGE.as_str()).filter(|_| !head) {
                None => None,
                Some(r) => match range::resolve(r, whole) {
                    Ranges::Unsatisfiable => {
                        return Err(VodHttpError::RangeNotSatisfiable { size: whole })
                    }
                    Ranges::Partial(spans) if spans.len() == 1 => Some(spans[0]),
                    _ => None,
                },
            };
            if let Some(span) = range {
                resp.status(StatusCode::PARTIAL_CONTENT)
                    .insert_header((CONTENT_RANGE, span.content_range(whole)));
            }
            let (len, download) = source::segment(
                objects,
                ctx.clone(),
                &keys[r],
                &s.info,
                pieces,
                range.map(|s| (s.start, s.end)),
            )
            .await?;
            if s.title.is_none() {
                load_in_background(req, &ctx, &keys[r], target, s.index_bytes);
            }
            resp.insert_header((CONTENT_TYPE, mime(k)));
            if head {
                let empty = futures_util::stream::empty::<Result<Bytes, VodHttpError>>();
                return Ok(resp.body(SizedStream::new(len, empty)));
            }
            return Ok(match download {
                Download::Ready(b) => resp.body(b),
                Download::Stream(s) => {
                    resp.body(SizedStream::new(len, s.map_err(VodHttpError::from)))
                }
            });
        }
    };
    resp.insert_header((CONTENT_TYPE, ctype));
    if head {
        let empty = futures_util::stream::empty::<Result<Bytes, VodHttpError>>();
        return Ok(resp.body(SizedStream::new(body.len() as u64, empty)));
    }
    Ok(resp.body(body))
}

/// Counts where a title's index was found; one just parsed is kept in the
/// cluster (its blocks cut at `target`) in the background.
fn note_found(
    req: &VodReq,
    ctx: &Context,
    key: &str,
    found: Found,
    title: Option<&Title>,
    target: u32,
) {
    let counters = &req.state.stats.vod;
    match found {
        Found::Memory => {
            counters.index_memory_hits.inc();
        }
        Found::Cluster => {
            counters.index_cluster_hits.inc();
        }
        Found::Parsed(took) => {
            counters.parsed(took);
            if let Some(title) = title {
                let (state, ctx, key, title) = (
                    req.state.clone(),
                    ctx.clone(),
                    key.to_string(),
                    title.clone(),
                );
                actix_web::rt::spawn(async move {
                    source::store_index(&state.objects, ctx, &key, &title, target).await;
                });
            }
        }
    }
}

/// After a segment read by range, loads the whole index of `key` (about
/// `bytes` in memory) for the next requests, in the background: only
/// when the cache has room for it beside the indexes it holds (more
/// titles watched than it holds are served by range, rather than loaded
/// whole only to evict one another) and no other load of it is under
/// way. Started once the segment is open, so it does not hold up that
/// segment's first byte.
fn load_in_background(req: &VodReq, ctx: &Context, key: &str, target: u32, bytes: usize) {
    let index = &req.state.vod_index;
    if !index.has_room(bytes) || index.loading(&ctx.namespace, key) {
        return;
    }
    let (state, ctx, key) = (req.state.clone(), ctx.clone(), key.to_string());
    actix_web::rt::spawn(async move {
        let loaded = source::load(&state.objects, &state.vod_index, ctx, &key, target);
        if let Err(e) = loaded.await {
            log::warn!("vod index of {key} not loaded: {e}");
        }
    });
}
