//! What a `/hls/` or `/dash/` path names: the bucket, the keys (one, or a
//! nginx-vod-module urlset `PREFIX,A,B,SUFFIX.urlset`) and the file under
//! the title. The manifests differ by format (`master.m3u8` and the media
//! and I-frame playlists for HLS, `manifest.mpd` for DASH); the init and
//! media segments are the same files under both.

use crate::media::mp4::Kind;

/// The two packagings, by the path's first segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `/hls/…`.
    Hls,
    /// `/dash/…`.
    Dash,
}

impl Format {
    /// The handler name `/proxy_stat/` counts requests under.
    pub fn name(self) -> &'static str {
        match self {
            Format::Hls => "hls",
            Format::Dash => "dash",
        }
    }
}

/// A file under a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    /// HLS `master.m3u8`.
    Master,
    /// DASH `manifest.mpd`.
    Manifest,
    /// HLS `{v,a}{r}/index.m3u8`.
    Media(Kind, usize),
    /// HLS `v{r}/iframes.m3u8`.
    Iframes(usize),
    /// `{v,a}{r}/init.mp4`.
    Init(Kind, usize),
    /// `{v,a}{r}/seg-{n}.m4s`, `n` from 1 in the URL, from 0 here.
    Segment(Kind, usize, usize),
}

impl File {
    /// The rendition a track file belongs to; `None` for the manifests,
    /// which name every rendition.
    pub fn rendition(self) -> Option<usize> {
        match self {
            File::Master | File::Manifest => None,
            File::Media(_, r) | File::Iframes(r) | File::Init(_, r) | File::Segment(_, r, _) => {
                Some(r)
            }
        }
    }
}

/// A parsed path.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// HLS or DASH.
    pub format: Format,
    /// The bucket.
    pub bucket: String,
    /// The keys of the renditions, in urlset order.
    pub keys: Vec<String>,
    /// `BUCKET/KEY` (or `BUCKET/…urlset`) as sent: what a title token signs.
    pub title: String,
    /// The file asked for.
    pub file: File,
}

/// Parses a request path (`/hls/BUCKET/KEY/FILE` or `/dash/…`); the error
/// is the one line a 400 carries.
pub fn parse(path: &str) -> Result<Target, String> {
    let (format, rest) = if let Some(r) = path.strip_prefix("/hls/") {
        (Format::Hls, r)
    } else if let Some(r) = path.strip_prefix("/dash/") {
        (Format::Dash, r)
    } else {
        return Err(format!("VOD path {path}: not under /hls/ or /dash/"));
    };
    let bad = |why: &str| format!("VOD path {path}: {why}");
    let (bucket, path) = rest.split_once('/').ok_or_else(|| bad("no key"))?;
    let manifest = match format {
        Format::Hls => ("/master.m3u8", File::Master),
        Format::Dash => ("/manifest.mpd", File::Manifest),
    };
    let (key, file) = if let Some(k) = path.strip_suffix(manifest.0) {
        (k, manifest.1)
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
            "index.m3u8" if format == Format::Hls => File::Media(kind, r),
            "iframes.m3u8" if format == Format::Hls && kind == Kind::Video => File::Iframes(r),
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
    Ok(Target {
        format,
        bucket: bucket.to_string(),
        keys,
        title: format!("{bucket}/{key}"),
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse("/hls/b1/dir/movie.mp4/master.m3u8").unwrap();
        assert_eq!(
            (t.format, t.bucket.as_str(), t.keys, t.file),
            (
                Format::Hls,
                "b1",
                vec!["dir/movie.mp4".to_string()],
                File::Master
            )
        );
        let t = parse("/hls/b1/m_,360,720,.mp4.urlset/v1/seg-3.m4s").unwrap();
        assert_eq!(
            t.keys,
            vec!["m_360.mp4".to_string(), "m_720.mp4".to_string()]
        );
        assert_eq!(t.file, File::Segment(Kind::Video, 1, 2));
        assert_eq!(t.title, "b1/m_,360,720,.mp4.urlset");
        let t = parse("/dash/b1/dir/movie.mp4/v0/init.mp4").unwrap();
        assert_eq!(t.title, "b1/dir/movie.mp4");
        assert_eq!(
            parse("/hls/b1/k/a0/init.mp4").unwrap().file,
            File::Init(Kind::Audio, 0)
        );
        assert!(parse("/hls/b1/k/v0/seg-0.m4s").is_err());
        assert!(parse("/hls/b1/k/x0/index.m3u8").is_err());
        assert!(parse("/hls/b1/master.m3u8").is_err());
        assert!(parse("/get/b1/k").is_err());
        // DASH: its manifest and the same segments; no HLS playlists
        let t = parse("/dash/b1/dir/movie.mp4/manifest.mpd").unwrap();
        assert_eq!((t.format, t.file), (Format::Dash, File::Manifest));
        assert_eq!(
            parse("/dash/b1/k/v0/seg-2.m4s").unwrap().file,
            File::Segment(Kind::Video, 0, 1)
        );
        assert!(parse("/dash/b1/k/v0/index.m3u8").is_err());
        assert!(parse("/dash/b1/k/master.m3u8").is_err());
        assert!(parse("/hls/b1/k/manifest.mpd").is_err());
    }
}
