//! Cutting a movie into segments: video segments start on sync samples,
//! the first at or after each multiple of the target duration past the
//! previous cut; audio is cut at the same presentation times. A pure
//! function of the index and the target, so every proxy cuts alike.

use super::mp4::{Kind, Movie, Track};

/// One segment of one track: its samples and presentation span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First sample (decode order).
    pub first: usize,
    /// One past the last sample.
    pub end: usize,
    /// Presentation start in the track's timescale (edit list applied).
    pub start: i64,
    /// Presentation duration in the track's timescale.
    pub duration: u64,
}

impl Span {
    /// The span of samples `first..end` (decode order) of `track`.
    pub fn of(track: &Track, first: usize, end: usize) -> Span {
        let start = if first < track.samples.len() {
            track.pts(first)
        } else {
            0
        };
        let duration = track.samples[first..end]
            .iter()
            .map(|s| u64::from(s.duration))
            .sum();
        Span {
            first,
            end,
            start,
            duration,
        }
    }
}

/// The cut times of a movie in seconds as exact fractions: the
/// presentation times of its segment starts, and its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cuts {
    /// Timescale the times are in (the video track's, else the audio's).
    pub timescale: u32,
    /// Segment start times; `times[0]` is the first presentation time.
    pub times: Vec<i64>,
    /// Presentation end of the movie.
    pub end: i64,
    /// Per track of the movie cut: the first sample of each segment, then
    /// the track's sample count, so [`span`] finds a segment's samples
    /// without scanning the track.
    pub firsts: Vec<(TrackKey, Vec<usize>)>,
}

impl Cuts {
    /// Segments.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are no segments.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The first sample of each segment in `track`, then its sample
    /// count, if these cuts were made of a movie holding `track`.
    pub fn firsts_of(&self, track: &Track) -> Option<&[usize]> {
        let key = TrackKey::of(track);
        self.firsts
            .iter()
            .find(|(k, f)| *k == key && f.len() == self.len() + 1)
            .map(|(_, f)| f.as_slice())
    }

    /// Duration of segment `n` in seconds.
    pub fn seconds(&self, n: usize) -> f64 {
        let next = self.times.get(n + 1).copied().unwrap_or(self.end);
        (next - self.times[n]) as f64 / f64::from(self.timescale)
    }
}

/// Which track a table of [`Cuts::firsts`] is for: ids alone may repeat
/// in a bad file, and a table must never index another track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackKey {
    id: u32,
    kind: Kind,
    timescale: u32,
    samples: usize,
}

impl TrackKey {
    fn of(t: &Track) -> TrackKey {
        TrackKey {
            id: t.id,
            kind: t.kind,
            timescale: t.timescale,
            samples: t.samples.len(),
        }
    }
}

/// Where a movie is cut for a target of `target` seconds.
pub fn cuts(movie: &Movie, target: u32) -> Cuts {
    let Some(t) = movie
        .track(Kind::Video)
        .or_else(|| movie.track(Kind::Audio))
    else {
        return Cuts {
            timescale: 1,
            times: Vec::new(),
            end: 0,
            firsts: Vec::new(),
        };
    };
    let step = i64::from(target.max(1)) * i64::from(t.timescale);
    // presentation end: the latest presented sample's end (with B-frames
    // the last sample decoded is not the last presented)
    let end = (0..t.samples.len())
        .map(|i| t.pts(i) + i64::from(t.samples[i].duration))
        .max()
        .unwrap_or(0);
    let mut times = Vec::new();
    if t.samples.is_empty() {
        return Cuts {
            timescale: t.timescale,
            times,
            end,
            firsts: Vec::new(),
        };
    }
    let first = (0..t.samples.len()).map(|i| t.pts(i)).min().unwrap_or(0);
    times.push(first);
    let mut next = first + step;
    if t.kind == Kind::Video {
        for i in 1..t.samples.len() {
            if t.samples[i].sync {
                let p = t.pts(i);
                if p >= next {
                    times.push(p);
                    next = p + step;
                }
            }
        }
    } else {
        // audio presentation times grow with decode order: one pass
        for i in 1..t.samples.len() {
            let p = t.pts(i);
            if p >= next && p < end {
                times.push(p);
                next = p + step;
            }
        }
    }
    let mut c = Cuts {
        timescale: t.timescale,
        times,
        end,
        firsts: Vec::new(),
    };
    c.firsts = movie
        .tracks
        .iter()
        .map(|t| (TrackKey::of(t), firsts(t, &c)))
        .collect();
    c
}

/// The first sample of each segment of `cuts` in `track` (as [`span`]
/// defines it), then the track's sample count: one pass, as the first
/// samples at or after growing cut times only grow.
fn firsts(track: &Track, cuts: &Cuts) -> Vec<usize> {
    let n = cuts.len();
    let mut out = Vec::with_capacity(n + 1);
    out.push(0);
    let mut k = 1;
    for i in 0..track.samples.len() {
        if k >= n {
            break;
        }
        let p = i128::from(track.pts(i)) * i128::from(cuts.timescale);
        while k < n && p >= i128::from(cuts.times[k]) * i128::from(track.timescale) {
            out.push(i);
            k += 1;
        }
    }
    out.resize(n + 1, track.samples.len());
    out
}

/// The samples of `track` in segment `n` of `cuts`: video from the sync
/// sample at the cut, audio from the first sample presented at or after
/// the cut time (in the cuts' timescale, compared exactly).
pub fn span(track: &Track, cuts: &Cuts, n: usize) -> Option<Span> {
    if n >= cuts.len() {
        return None;
    }
    let idx = |k: usize| -> usize {
        if k == 0 {
            return 0;
        }
        let Some(&t) = cuts.times.get(k) else {
            return track.samples.len();
        };
        let at = i128::from(t) * i128::from(track.timescale);
        // samples are in decode order; the first whose presentation is at
        // or after the cut (for video this is the sync sample itself)
        track
            .samples
            .iter()
            .enumerate()
            .position(|(i, _)| i128::from(track.pts(i)) * i128::from(cuts.timescale) >= at)
            .unwrap_or(track.samples.len())
    };
    let known = cuts
        .firsts_of(track)
        .map(|f| (f[n], f[n + 1]))
        .filter(|&(a, b)| a <= b && b <= track.samples.len());
    let (first, end) = known.unwrap_or_else(|| (idx(n), idx(n + 1)));
    Some(Span::of(track, first, end))
}

/// The peak and average bit rates (bits per second) of a track's
/// segments at `c`: BANDWIDTH and AVERAGE-BANDWIDTH of HLS, `bandwidth`
/// of DASH.
pub fn bitrates(t: &Track, c: &Cuts) -> (u64, u64) {
    let (mut peak, mut bytes) = (0f64, 0u64);
    for n in 0..c.len() {
        let Some(s) = span(t, c, n) else { continue };
        let b: u64 = t.samples[s.first..s.end]
            .iter()
            .map(|x| u64::from(x.size))
            .sum();
        bytes += b;
        let secs = c.seconds(n);
        if secs > 0.0 {
            peak = peak.max(b as f64 * 8.0 / secs);
        }
    }
    let total = t.seconds();
    let avg = if total > 0.0 {
        bytes as f64 * 8.0 / total
    } else {
        0.0
    };
    (peak.ceil() as u64, avg.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::mp4::{Codec, Sample};

    fn track(kind: Kind, scale: u32, n: usize, dur: u32, gop: usize, shift: i64) -> Track {
        let samples = (0..n)
            .map(|i| Sample {
                offset: i as u64 * 10,
                dts: i as u64 * u64::from(dur),
                size: 10,
                duration: dur,
                cto: 0,
                sync: i % gop == 0,
            })
            .collect();
        let codec = Codec::Audio {
            codecs: String::new(),
            channels: 2,
            rate: scale,
        };
        Track {
            id: 1,
            kind,
            codec,
            sample_entry: Vec::new(),
            timescale: scale,
            shift,
            samples,
        }
    }

    #[test]
    fn video_cuts_on_sync_samples_and_audio_follows() {
        // 25 fps, keyframe every 2 s, 20 s; AAC at 48 kHz
        let v = track(Kind::Video, 12800, 500, 512, 50, 0);
        let a = track(Kind::Audio, 48000, 938, 1024, 1, -1024);
        let m = Movie {
            timescale: 1000,
            tracks: vec![v, a],
        };
        let c = cuts(&m, 6);
        assert_eq!(c.times, vec![0, 6 * 12800, 12 * 12800, 18 * 12800]);
        assert!((c.seconds(3) - 2.0).abs() < 1e-9);
        let (v, a) = (&m.tracks[0], &m.tracks[1]);
        let spans: Vec<_> = (0..4).map(|n| span(v, &c, n).unwrap()).collect();
        assert_eq!(spans[1].first, 150);
        assert_eq!(spans[3].end, 500);
        assert!(span(v, &c, 4).is_none());
        // audio: every sample in exactly one segment, each segment's first
        // sample presented at or after the cut
        let aspans: Vec<_> = (0..4).map(|n| span(a, &c, n).unwrap()).collect();
        assert_eq!(aspans[0].first, 0);
        for w in aspans.windows(2) {
            assert_eq!(w[0].end, w[1].first);
        }
        assert_eq!(aspans[3].end, a.samples.len());
        for (s, &t) in aspans.iter().zip(&c.times).skip(1) {
            assert!(a.pts(s.first) * 12800 >= t * 48000);
            assert!(a.pts(s.first - 1) * 12800 < t * 48000);
        }
    }

    #[test]
    fn the_segment_table_agrees_with_the_scan() {
        // B-frame-like composition offsets: presentation order differs
        // from decode order around each cut
        let mut v = track(Kind::Video, 12800, 500, 512, 50, -1024);
        for (i, s) in v.samples.iter_mut().enumerate() {
            s.cto = [1024, 2560, 512, 1536][i % 4];
        }
        let mut a = track(Kind::Audio, 48000, 938, 1024, 1, -1024);
        a.id = 2;
        let m = Movie {
            timescale: 1000,
            tracks: vec![v, a],
        };
        for target in [1, 2, 4, 6, 7, 30] {
            let c = cuts(&m, target);
            let mut scan = c.clone();
            scan.firsts.clear();
            for t in &m.tracks {
                for n in 0..=c.len() {
                    assert_eq!(
                        span(t, &c, n),
                        span(t, &scan, n),
                        "target {target}, track {}, segment {n}",
                        t.id
                    );
                }
            }
        }
    }

    #[test]
    fn long_gops_and_audio_only() {
        // keyframes every 10 s with a 6 s target: cuts every 10 s
        let v = track(Kind::Video, 1000, 300, 100, 100, 0);
        let m = Movie {
            timescale: 1000,
            tracks: vec![v],
        };
        assert_eq!(cuts(&m, 6).times, vec![0, 10_000, 20_000]);
        let a = track(Kind::Audio, 48000, 1000, 1024, 1, 0);
        let m = Movie {
            timescale: 1000,
            tracks: vec![a],
        };
        let c = cuts(&m, 6);
        assert_eq!(c.len(), 4);
        let total: usize = (0..4)
            .map(|n| span(&m.tracks[0], &c, n).unwrap())
            .map(|s| s.end - s.first)
            .sum();
        assert_eq!(total, 1000);
    }
}
