//! HLS playlists (version 7, fMP4) of one title: the master, each track's
//! media playlist and the video's I-frame playlist. URLs are relative to
//! the title's prefix (`/hls/BUCKET/KEY/`): rendition `r` (0 for one key,
//! the key's place in a urlset) has `v{r}/…` for its video and `a{r}/…`
//! for its audio, each with `index.m3u8`, `init.mp4` and `seg-{n}.m4s`
//! (n from 1), and `v{r}/iframes.m3u8`.

use std::fmt::Write;

use super::fmp4;
use super::mp4::{Kind, Movie, Track};
use super::segment::{bitrates, cuts, span, Cuts};

/// Directory of a track's files under the title's prefix.
pub fn track_dir(kind: Kind, rendition: usize) -> String {
    match kind {
        Kind::Video => format!("v{rendition}"),
        Kind::Audio => format!("a{rendition}"),
    }
}

/// The master playlist over `movies` (one per rendition); the audio of the
/// first rendition that has audio is the `EXT-X-MEDIA` group of the video
/// variants. Without video, that audio is the one variant itself (no
/// group: a player would otherwise open it twice).
pub fn master(movies: &[&Movie], target: u32, query: &str) -> String {
    let mut o = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio = movies
        .iter()
        .enumerate()
        .find_map(|(r, m)| m.track(Kind::Audio).map(|a| (r, a)));
    let has_video = movies.iter().any(|m| m.track(Kind::Video).is_some());
    let mut audio_rate = (0, 0);
    if let Some((r, a)) = audio.filter(|_| has_video) {
        let c = cuts(movies[r], target);
        audio_rate = bitrates(a, &c);
        let channels = match &a.codec {
            super::mp4::Codec::Audio { channels, .. } => *channels,
            _ => 2,
        };
        let _ = writeln!(
            o,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"{channels}\",URI=\"{}/index.m3u8{query}\"",
            track_dir(Kind::Audio, r)
        );
    }
    for (r, m) in movies.iter().enumerate() {
        let Some(v) = m.track(Kind::Video) else {
            continue;
        };
        let c = cuts(m, target);
        let (peak, avg) = bitrates(v, &c);
        let mut codecs = v.codec.codecs().to_string();
        if let Some((_, a)) = audio {
            codecs.push(',');
            codecs.push_str(a.codec.codecs());
        }
        let (w, h) = v.codec.resolution().unwrap_or((0, 0));
        let fps = if v.seconds() > 0.0 {
            v.samples.len() as f64 / v.seconds()
        } else {
            0.0
        };
        let _ = write!(
            o,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={w}x{h},FRAME-RATE={fps:.3},CODECS=\"{codecs}\"",
            peak + audio_rate.0,
            avg + audio_rate.1
        );
        if audio.is_some() {
            o.push_str(",AUDIO=\"audio\"");
        }
        let _ = writeln!(o, "\n{}/index.m3u8{query}", track_dir(Kind::Video, r));
        let _ = writeln!(
            o,
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={peak},RESOLUTION={w}x{h},CODECS=\"{}\",URI=\"{}/iframes.m3u8{query}\"",
            v.codec.codecs(),
            track_dir(Kind::Video, r)
        );
    }
    if !has_video {
        if let Some((r, a)) = audio {
            let c = cuts(movies[r], target);
            let (peak, avg) = bitrates(a, &c);
            let _ = writeln!(
                o,
                "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={avg},CODECS=\"{}\"\n{}/index.m3u8{query}",
                a.codec.codecs(),
                track_dir(Kind::Audio, r)
            );
        }
    }
    o
}

fn header(o: &mut String, durations: &[f64], iframes: bool) {
    let target = durations.iter().fold(1f64, |a, &d| a.max(d)).ceil() as u64;
    o.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(o, "#EXT-X-TARGETDURATION:{target}");
    o.push_str("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if iframes {
        o.push_str("#EXT-X-I-FRAMES-ONLY\n");
    }
}

/// Segment durations of `t` in seconds: video (or the only track) from
/// the cuts, audio from its own samples in each segment.
fn durations(m: &Movie, t: &Track, c: &Cuts) -> Vec<f64> {
    let lead = m.track(Kind::Video).unwrap_or(t);
    (0..c.len())
        .map(|n| {
            if std::ptr::eq(lead, t) {
                c.seconds(n)
            } else {
                span(t, c, n).map_or(0.0, |s| s.duration as f64 / f64::from(t.timescale))
            }
        })
        .collect()
}

/// The media playlist of track `t` of `m`.
pub fn media(m: &Movie, t: &Track, target: u32, query: &str) -> String {
    let c = cuts(m, target);
    let d = durations(m, t, &c);
    let mut o = String::new();
    header(&mut o, &d, false);
    let _ = writeln!(o, "#EXT-X-MAP:URI=\"init.mp4{query}\"");
    for (n, secs) in d.iter().enumerate() {
        let _ = writeln!(o, "#EXTINF:{secs:.6},\nseg-{}.m4s{query}", n + 1);
    }
    o.push_str("#EXT-X-ENDLIST\n");
    o
}

/// The I-frame playlist of video track `v`: each segment's first sample
/// (its sync sample) as a byte range of the segment, `moof` included.
pub fn iframes(m: &Movie, v: &Track, target: u32, query: &str) -> String {
    let c = cuts(m, target);
    let d = durations(m, v, &c);
    let mut o = String::new();
    header(&mut o, &d, true);
    let _ = writeln!(o, "#EXT-X-MAP:URI=\"init.mp4{query}\"");
    for (n, secs) in d.iter().enumerate() {
        let Some(s) = span(v, &c, n) else { continue };
        let Some(first) = v.samples.get(s.first) else {
            continue;
        };
        let pieces = fmp4::media(v, &s, n as u32 + 1);
        let header = pieces.first().map_or(0, crate::core::Piece::len);
        let len = header + u64::from(first.size);
        let _ = writeln!(
            o,
            "#EXTINF:{secs:.6},\n#EXT-X-BYTERANGE:{len}@0\nseg-{}.m4s{query}",
            n + 1
        );
    }
    o.push_str("#EXT-X-ENDLIST\n");
    o
}

#[cfg(test)]
mod tests;
