//! `/hls/BUCKET/KEY/…` (GET and HEAD): the packager of `src/media` behind
//! the read ACL, validators and error mapping of `/get/`. KEY may be a
//! nginx-vod-module urlset, `PREFIX,A,B,SUFFIX.urlset`. Files under the
//! title: `master.m3u8`, and per track `v{r}/` or `a{r}/` with
//! `index.m3u8`, `init.mp4`, `seg-{n}.m4s`, and `v{r}/iframes.m3u8`.

use actix_web::body::SizedStream;
use actix_web::http::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::error::ApiError;
use super::Req;
use crate::core::Download;
use crate::http::conditional::Validators;
use crate::http::range::{self, Ranges};
use crate::media::mp4::Kind;
use crate::media::segment::DEFAULT_TARGET_SECS;
use crate::media::source::{self, Title, VodError};
use crate::media::{fmp4, playlist};

impl From<VodError> for ApiError {
    fn from(e: VodError) -> Self {
        match e {
            VodError::Object(e) => e.into(),
            VodError::Mp4(e) => ApiError::UnsupportedMedia(e.to_string()),
            VodError::NoSuch(why) => ApiError::NotFound(why.into()),
            e @ VodError::Changed => ApiError::Unavailable(e.to_string()),
        }
    }
}

/// What a `/hls/` path names.
#[derive(Debug, PartialEq, Eq)]
enum File {
    Master,
    Media(Kind, usize),
    Iframes(usize),
    Init(Kind, usize),
    Segment(Kind, usize, usize),
}

/// Splits `BUCKET/KEY/FILE` into bucket, keys (one, or a urlset's) and file.
fn parse(rest: &str) -> Result<(String, Vec<String>, File), ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("VOD path {rest}: {why}"));
    let (bucket, path) = rest.split_once('/').ok_or_else(|| bad("no key"))?;
    let (key, file) = if let Some(k) = path.strip_suffix("/master.m3u8") {
        (k, File::Master)
    } else {
        let (before, name) = path.rsplit_once('/').ok_or_else(|| bad("no file"))?;
        let (key, dir) = before.rsplit_once('/').ok_or_else(|| bad("no track"))?;
        let kind = match dir.as_bytes().first() {
            Some(b'v') => Kind::Video,
            Some(b'a') => Kind::Audio,
            _ => return Err(bad("unknown track")),
        };
        let r: usize = dir[1..].parse().map_err(|_| bad("unknown track"))?;
        let file = match name {
            "index.m3u8" => File::Media(kind, r),
            "iframes.m3u8" if kind == Kind::Video => File::Iframes(r),
            "init.mp4" => File::Init(kind, r),
            _ => {
                let n = name
                    .strip_prefix("seg-")
                    .and_then(|s| s.strip_suffix(".m4s"))
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("unknown file"))?;
                File::Segment(kind, r, n - 1)
            }
        };
        (key, file)
    };
    if bucket.is_empty() || key.is_empty() {
        return Err(bad("empty bucket or key"));
    }
    let keys = match key.strip_suffix(".urlset") {
        Some(set) => {
            let parts: Vec<&str> = set.split(',').collect();
            if parts.len() < 3 {
                return Err(bad("a urlset needs PREFIX,A,…,SUFFIX"));
            }
            let (prefix, suffix) = (parts[0], parts[parts.len() - 1]);
            parts[1..parts.len() - 1]
                .iter()
                .map(|m| format!("{prefix}{m}{suffix}"))
                .collect()
        }
        None => vec![key.to_string()],
    };
    Ok((bucket.to_string(), keys, file))
}

/// Handles `/hls/…` (`path` without the leading `hls/`).
pub async fn hls(req: &Req, path: &str) -> Result<HttpResponse, ApiError> {
    let (bucket, keys, file) = parse(path)?;
    let (_, ctx) = req.bucket_session(&bucket, false).await?;
    let objects = &req.state.objects;
    let target = DEFAULT_TARGET_SECS;
    let query = match req.http.uri().query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    };
    let rendition = match file {
        File::Master => None,
        File::Media(_, r) | File::Iframes(r) | File::Init(_, r) | File::Segment(_, r, _) => Some(r),
    };
    let mut titles: Vec<Title> = Vec::new();
    for (r, key) in keys.iter().enumerate() {
        if rendition.map_or(true, |x| x == r) {
            titles.push(source::load(objects, ctx.clone(), key).await?);
        }
    }
    let first = titles
        .first()
        .ok_or_else(|| ApiError::NotFound("no such rendition".into()))?;
    let validators = Validators {
        etag: if titles.len() == 1 {
            first.info.etag()
        } else {
            let tags: Vec<String> = titles
                .iter()
                .map(|t| t.info.etag().trim_matches('"').to_string())
                .collect();
            format!("\"{}\"", tags.join("-"))
        },
        last_modified: titles
            .iter()
            .map(|t| t.info.mtime)
            .max()
            .unwrap_or(first.info.mtime),
    };
    if let Some(not_modified) = validators
        .precheck(req.http.headers())
        .map_err(ApiError::PreconditionFailed)?
    {
        return Ok(not_modified);
    }
    let mut resp = validators.reply();
    let m3u8 = "application/vnd.apple.mpegurl";
    let mime = |k: Kind| {
        if k == Kind::Video {
            "video/mp4"
        } else {
            "audio/mp4"
        }
    };
    let track = |k: Kind| {
        first
            .movie
            .track(k)
            .ok_or_else(|| ApiError::NotFound("no such track".into()))
    };
    let head = req.http.method() == Method::HEAD;
    let (ctype, body) = match file {
        File::Master => {
            let movies: Vec<_> = titles.iter().map(|t| (*t.movie).clone()).collect();
            (m3u8, Bytes::from(playlist::master(&movies, target, &query)))
        }
        File::Media(k, _) => (
            m3u8,
            Bytes::from(playlist::media(&first.movie, track(k)?, target, &query)),
        ),
        File::Iframes(_) => (
            m3u8,
            Bytes::from(playlist::iframes(
                &first.movie,
                track(Kind::Video)?,
                target,
                &query,
            )),
        ),
        File::Init(k, _) => (mime(k), Bytes::from(fmp4::init(track(k)?))),
        File::Segment(k, r, n) => {
            let whole = source::segment_len(first, k, n, target)?;
            // one range (RFC 9110 §14.2); several are answered whole
            let range = match req.header(RANGE.as_str()).filter(|_| !head) {
                None => None,
                Some(r) => match range::resolve(r, whole) {
                    Ranges::Unsatisfiable => {
                        return Err(ApiError::RangeNotSatisfiable { size: whole })
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
                ctx,
                &keys[r],
                first,
                k,
                n,
                target,
                range.map(|s| (s.start, s.end)),
            )
            .await?;
            resp.insert_header((CONTENT_TYPE, mime(k)));
            if head {
                let empty = futures_util::stream::empty::<Result<Bytes, ApiError>>();
                return Ok(resp.body(SizedStream::new(len, empty)));
            }
            return Ok(match download {
                Download::Ready(b) => resp.body(b),
                Download::Stream(s) => resp.body(SizedStream::new(len, s.map_err(ApiError::from))),
            });
        }
    };
    resp.insert_header((CONTENT_TYPE, ctype));
    if head {
        let empty = futures_util::stream::empty::<Result<Bytes, ApiError>>();
        return Ok(resp.body(SizedStream::new(body.len() as u64, empty)));
    }
    Ok(resp.body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let (b, k, f) = parse("b1/dir/movie.mp4/master.m3u8").unwrap();
        assert_eq!(
            (b.as_str(), k, f),
            ("b1", vec!["dir/movie.mp4".to_string()], File::Master)
        );
        let (_, k, f) = parse("b1/m_,360,720,.mp4.urlset/v1/seg-3.m4s").unwrap();
        assert_eq!(k, vec!["m_360.mp4".to_string(), "m_720.mp4".to_string()]);
        assert_eq!(f, File::Segment(Kind::Video, 1, 2));
        assert_eq!(
            parse("b1/k/a0/init.mp4").unwrap().2,
            File::Init(Kind::Audio, 0)
        );
        assert!(parse("b1/k/v0/seg-0.m4s").is_err());
        assert!(parse("b1/k/x0/index.m3u8").is_err());
        assert!(parse("b1/master.m3u8").is_err());
    }
}
