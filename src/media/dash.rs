//! DASH: the static MPD of a title (one MP4, or a urlset's renditions)
//! over the same CMAF segments the HLS playlists list, at the same URLs
//! relative to the title's prefix (`v{r}/init.mp4`, `v{r}/seg-{n}.m4s`,
//! `a{r}/…`). Profile `isoff-live` (a SegmentTemplate with `$Number$`
//! and a SegmentTimeline per Representation); every time is the
//! segments' (`tfdt` plus composition offsets), the packager's fixed
//! offset named as the `presentationTimeOffset`, so the period's time
//! is the source's presentation time.

use std::fmt::Write;

use super::mp4::{dolby_channel_mask, Codec, Kind, Movie, Track, OFFSET_SECS};
use super::playlist::track_dir;
use super::segment::{bitrates, cuts, span, Cuts};

/// `AudioChannelConfiguration` scheme of ISO/IEC 23003-3 (the value is
/// the number of channels).
const CHANNELS_SCHEME: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";

/// Dolby's `AudioChannelConfiguration` scheme, which DASH-IF's guidelines
/// ask of AC-3 and E-AC-3 (the value is a 16-bit channel mask in hex,
/// `F801` for 5.1).
const DOLBY_CHANNELS_SCHEME: &str = "tag:dolby.com,2014:dash:audio_channel_configuration:2011";

/// The `Label` of an adaptation set (what a player's track menu shows),
/// then its `Role`: each set is the title's main one of its type. The
/// schema wants `Label` first.
fn label_and_role(o: &mut String, label: &str) {
    let _ = writeln!(o, "      <Label>{label}</Label>");
    o.push_str(ROLE);
}

/// The `Role` of both adaptation sets: each is the title's main one.
const ROLE: &str = "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"main\"/>\n";

/// Escapes `s` for an XML attribute of a SegmentTemplate (`$` doubled,
/// which a template would otherwise read as an identifier).
fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('$', "$$")
}

/// The segments of track `t` as (presentation start, duration) in its
/// timescale, the packager's offset included: the cut times for the
/// track the cuts come from, the track's own samples in each cut for the
/// other. Empty segments at the end (audio ending before the video) are
/// left out.
fn timeline(m: &Movie, t: &Track, c: &Cuts) -> Vec<(i64, u64)> {
    let off = i64::from(OFFSET_SECS) * i64::from(t.timescale);
    let lead = m.track(Kind::Video).unwrap_or(t);
    let mut out: Vec<(i64, u64)> = (0..c.len())
        .filter_map(|n| {
            if std::ptr::eq(lead, t) {
                let next = c.times.get(n + 1).copied().unwrap_or(c.end);
                Some((c.times[n] + off, (next - c.times[n]).max(0) as u64))
            } else {
                span(t, c, n).map(|s| (s.start + off, s.duration))
            }
        })
        .collect();
    while out.last().is_some_and(|&(_, d)| d == 0) {
        out.pop();
    }
    out
}

/// Writes a SegmentTimeline, runs of equal contiguous segments as `r`.
fn write_timeline(o: &mut String, segs: &[(i64, u64)]) {
    o.push_str("          <SegmentTimeline>\n");
    let mut i = 0;
    while i < segs.len() {
        let (t, d) = segs[i];
        let mut r = 0;
        while i + r + 1 < segs.len()
            && segs[i + r + 1].1 == d
            && segs[i + r + 1].0 == segs[i + r].0 + d as i64
        {
            r += 1;
        }
        if r > 0 {
            let _ = writeln!(o, "            <S t=\"{t}\" d=\"{d}\" r=\"{r}\"/>");
        } else {
            let _ = writeln!(o, "            <S t=\"{t}\" d=\"{d}\"/>");
        }
        i += r + 1;
    }
    o.push_str("          </SegmentTimeline>\n");
}

/// Writes the SegmentTemplate of track `t` of rendition `r`.
fn write_template(o: &mut String, m: &Movie, t: &Track, r: usize, c: &Cuts, query: &str) {
    let dir = track_dir(t.kind, r);
    let q = attr(query);
    let _ = writeln!(
        o,
        "        <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" startNumber=\"1\" initialization=\"{dir}/init.mp4{q}\" media=\"{dir}/seg-$Number$.m4s{q}\">",
        t.timescale,
        u64::from(OFFSET_SECS) * u64::from(t.timescale),
    );
    write_timeline(o, &timeline(m, t, c));
    o.push_str("        </SegmentTemplate>\n");
}

/// The frame rate of a video track as DASH writes it (`25`,
/// `30000/1001`): its timescale over its first sample's duration.
fn frame_rate(v: &Track) -> Option<String> {
    let d = v.samples.first()?.duration;
    if d == 0 {
        return None;
    }
    let (mut a, mut b) = (v.timescale, d);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let (num, den) = (v.timescale / a, d / a);
    Some(if den == 1 {
        num.to_string()
    } else {
        format!("{num}/{den}")
    })
}

/// Whether every rendition is cut at the same times (aligned keyframes),
/// compared exactly across timescales.
fn aligned(all: &[Cuts]) -> bool {
    all.windows(2).all(|w| {
        let (a, b) = (&w[0], &w[1]);
        a.times.len() == b.times.len()
            && a.times.iter().zip(&b.times).all(|(&x, &y)| {
                i128::from(x) * i128::from(b.timescale) == i128::from(y) * i128::from(a.timescale)
            })
    })
}

/// The static MPD over `movies` (one per rendition) at `target` seconds a
/// segment; `query` (with its `?`, or empty) is carried on into every
/// segment URL. Video renditions form one AdaptationSet; the audio of the
/// first rendition that has audio is the other, as in the HLS master.
pub fn manifest(movies: &[&Movie], target: u32, query: &str) -> String {
    let all: Vec<Cuts> = movies.iter().map(|m| cuts(m, target)).collect();
    let end = all
        .iter()
        .filter(|c| c.timescale > 0)
        .map(|c| c.end as f64 / f64::from(c.timescale))
        .fold(0f64, f64::max);
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" mediaPresentationDuration=\"PT{end:.3}S\" minBufferTime=\"PT{target}S\">"
    );
    o.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
    let videos: Vec<(usize, &Track)> = movies
        .iter()
        .enumerate()
        .filter_map(|(r, m)| m.track(Kind::Video).map(|v| (r, v)))
        .collect();
    if !videos.is_empty() {
        let video_cuts: Vec<Cuts> = videos.iter().map(|&(r, _)| all[r].clone()).collect();
        let _ = writeln!(
            o,
            "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"{}\" startWithSAP=\"1\">",
            aligned(&video_cuts)
        );
        label_and_role(&mut o, "video");
        for &(r, v) in &videos {
            let (peak, _) = bitrates(v, &all[r]);
            let (w, h) = v.codec.resolution().unwrap_or((0, 0));
            let _ = write!(
                o,
                "      <Representation id=\"{}\" bandwidth=\"{peak}\" codecs=\"{}\" width=\"{w}\" height=\"{h}\"",
                track_dir(Kind::Video, r),
                attr(v.codec.codecs())
            );
            if let Some(fps) = frame_rate(v) {
                let _ = write!(o, " frameRate=\"{fps}\"");
            }
            o.push_str(">\n");
            write_template(&mut o, movies[r], v, r, &all[r], query);
            o.push_str("      </Representation>\n");
        }
        o.push_str("    </AdaptationSet>\n");
    }
    let audio = movies
        .iter()
        .enumerate()
        .find_map(|(r, m)| m.track(Kind::Audio).map(|a| (r, a)));
    if let Some((r, a)) = audio {
        let (peak, _) = bitrates(a, &all[r]);
        let (channels, rate) = match &a.codec {
            Codec::Audio { channels, rate, .. } => (*channels, *rate),
            _ => (2, a.timescale),
        };
        o.push_str("    <AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">\n");
        label_and_role(&mut o, "audio");
        let _ = writeln!(
            o,
            "      <Representation id=\"{}\" bandwidth=\"{peak}\" codecs=\"{}\" audioSamplingRate=\"{rate}\">",
            track_dir(Kind::Audio, r),
            attr(a.codec.codecs())
        );
        let (scheme, value) = match dolby_channel_mask(&a.sample_entry) {
            Some(mask) => (DOLBY_CHANNELS_SCHEME, format!("{mask:04X}")),
            None => (CHANNELS_SCHEME, channels.to_string()),
        };
        let _ = writeln!(
            o,
            "        <AudioChannelConfiguration schemeIdUri=\"{scheme}\" value=\"{value}\"/>"
        );
        write_template(&mut o, movies[r], a, r, &all[r], query);
        o.push_str("      </Representation>\n    </AdaptationSet>\n");
    }
    o.push_str("  </Period>\n</MPD>\n");
    o
}

#[cfg(test)]
mod tests;
