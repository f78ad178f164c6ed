//! A title's sample index as it is kept in the cluster beside the title
//! (namespace `BUCKET/vod`, the title's key; see `media::source`), so a
//! restarted proxy or another one does not parse the `moov` again. It
//! names the ETag and size of the object it was parsed from and is used
//! only for that object.
//!
//! MessagePack, the samples stored by column, each as small as its usual
//! values let it be: sizes; decode durations as runs; composition offsets
//! in units of their greatest common divisor (none when all are 0); the
//! gaps between sync samples (none when every sample is one); chunks (runs
//! of samples each starting where the previous one ends) as their sample
//! counts and the gap before each. Decode times are the durations' running
//! sum, as in `stts`. For a file ffmpeg makes (a chunk per video frame)
//! that is 6 to 7 bytes a sample, less than the `moov` it saves
//! reading. Whatever is read back is checked as a parse would be: a
//! damaged or foreign record is no index.

use serde::{Deserialize, Serialize};

use super::index_cache::Identity;
use super::mp4::{Codec, Kind, Movie, Sample, Track};

/// The record layout written by this version.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    etag: String,
    size: u64,
    timescale: u32,
    tracks: Vec<StoredTrack>,
}

#[derive(Serialize, Deserialize)]
struct StoredTrack {
    id: u32,
    kind: Kind,
    codec: Codec,
    sample_entry: Vec<u8>,
    timescale: u32,
    shift: i64,
    sizes: Vec<u32>,
    /// Samples in each run of equal decode durations, and its duration.
    run_samples: Vec<u32>,
    run_durations: Vec<u32>,
    /// Composition offsets in units of `cto_unit`, one per sample; none
    /// when all are 0.
    cto_unit: u32,
    ctos: Vec<i32>,
    /// Each sync sample's index less the previous one's (the first: its
    /// index); `None` when every sample is one.
    sync_gaps: Option<Vec<u32>>,
    /// Samples in each chunk, and the bytes between its start and the
    /// previous chunk's end (the first: its offset).
    chunk_samples: Vec<u32>,
    chunk_gaps: Vec<i64>,
}

/// The record of `movie`, parsed from the object `identity` names.
pub fn encode(movie: &Movie, identity: &Identity) -> Vec<u8> {
    let stored = Stored {
        format: FORMAT,
        etag: identity.etag.clone(),
        size: identity.size,
        timescale: movie.timescale,
        tracks: movie.tracks.iter().map(encode_track).collect(),
    };
    // Plain data: serializing it cannot fail.
    rmp_serde::to_vec(&stored).unwrap_or_default()
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn encode_track(t: &Track) -> StoredTrack {
    let s = &t.samples;
    let (mut run_samples, mut run_durations) = (Vec::<u32>::new(), Vec::new());
    let (mut chunk_samples, mut chunk_gaps) = (Vec::<u32>::new(), Vec::new());
    let mut end: Option<u64> = None;
    for x in s {
        match (run_samples.last_mut(), run_durations.last()) {
            (Some(n), Some(&d)) if d == x.duration => *n += 1,
            _ => {
                run_samples.push(1);
                run_durations.push(x.duration);
            }
        }
        match (chunk_samples.last_mut(), end) {
            (Some(n), Some(e)) if e == x.offset => *n += 1,
            _ => {
                chunk_samples.push(1);
                chunk_gaps.push(x.offset as i64 - end.unwrap_or(0) as i64);
            }
        }
        end = Some(x.offset + u64::from(x.size));
    }
    let cto_unit = s.iter().fold(0, |g, x| gcd(g, x.cto.unsigned_abs()));
    let mut last_sync = 0;
    StoredTrack {
        id: t.id,
        kind: t.kind,
        codec: t.codec.clone(),
        sample_entry: t.sample_entry.clone(),
        timescale: t.timescale,
        shift: t.shift,
        sizes: s.iter().map(|x| x.size).collect(),
        run_samples,
        run_durations,
        cto_unit,
        ctos: if cto_unit == 0 {
            Vec::new()
        } else {
            s.iter().map(|x| x.cto / cto_unit as i32).collect()
        },
        sync_gaps: (!s.iter().all(|x| x.sync)).then(|| {
            (0..s.len() as u32)
                .filter(|&i| s[i as usize].sync)
                .map(|i| i - std::mem::replace(&mut last_sync, i))
                .collect()
        }),
        chunk_samples,
        chunk_gaps,
    }
}

/// The index in `bytes` if it is a sound record for the object `identity`
/// names; `None` for anything else (another object, another format,
/// damage), which the caller parses again.
pub fn decode(bytes: &[u8], identity: &Identity) -> Option<Movie> {
    let stored: Stored = rmp_serde::from_slice(bytes).ok()?;
    if stored.format != FORMAT || stored.etag != identity.etag || stored.size != identity.size {
        return None;
    }
    let tracks = stored
        .tracks
        .into_iter()
        .map(|t| decode_track(t, stored.size))
        .collect::<Option<Vec<_>>>()?;
    Some(Movie {
        timescale: stored.timescale,
        tracks,
    })
}

/// Expands `counts[i]` copies of `values[i]`, if the counts sum to `n`.
fn runs<T: Copy>(counts: &[u32], values: &[T], n: usize) -> Option<Vec<(T, bool)>> {
    if counts.len() != values.len()
        || counts.contains(&0)
        || counts.iter().map(|&c| c as u64).sum::<u64>() != n as u64
    {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for (&c, &v) in counts.iter().zip(values) {
        out.extend((0..c).map(|i| (v, i == 0)));
    }
    Some(out)
}

fn decode_track(t: StoredTrack, file_size: u64) -> Option<Track> {
    let n = t.sizes.len();
    let durations = runs(&t.run_samples, &t.run_durations, n)?;
    // (gap, whether the sample starts a chunk)
    let chunks = runs(&t.chunk_samples, &t.chunk_gaps, n)?;
    if !(t.ctos.is_empty() || t.ctos.len() == n) || t.timescale == 0 {
        return None;
    }
    let mut sync = vec![t.sync_gaps.is_none(); n];
    let mut at = 0u64;
    for (k, &g) in t.sync_gaps.iter().flatten().enumerate() {
        if k > 0 && g == 0 {
            return None;
        }
        at = at.checked_add(u64::from(g))?;
        *sync.get_mut(usize::try_from(at).ok()?)? = true;
    }
    let mut samples = Vec::with_capacity(n);
    let (mut dts, mut end) = (0u64, 0u64);
    for i in 0..n {
        let (gap, starts) = chunks[i];
        let offset = if starts {
            u64::try_from(i128::from(end) + i128::from(gap)).ok()?
        } else {
            end
        };
        let size = t.sizes[i];
        end = offset.checked_add(u64::from(size))?;
        if end > file_size {
            return None;
        }
        let cto = match t.ctos.get(i) {
            Some(&c) => c.checked_mul(i32::try_from(t.cto_unit).ok()?)?,
            None => 0,
        };
        let duration = durations[i].0;
        samples.push(Sample {
            offset,
            dts,
            size,
            duration,
            cto,
            sync: sync[i],
        });
        dts = dts.checked_add(u64::from(duration))?;
    }
    Some(Track {
        id: t.id,
        kind: t.kind,
        codec: t.codec,
        sample_entry: t.sample_entry,
        timescale: t.timescale,
        shift: t.shift,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::mp4::tests::{h264_aac, movie_of};

    fn id(size: u64) -> Identity {
        Identity {
            etag: "\"abc\"".into(),
            size,
        }
    }

    /// A title of two tracks with every column shape: gaps between
    /// samples (new chunks), varying durations, B-frame offsets, sparse
    /// sync samples; and a track where all take the short forms.
    fn handmade() -> Movie {
        let track = |kind, varied: bool| {
            let (mut samples, mut at, mut dts) = (Vec::new(), 100u64, 0u64);
            for i in 0..500u32 {
                at += if varied && i % 3 == 0 { 7 } else { 0 };
                let s = Sample {
                    offset: at,
                    dts,
                    size: 50 + i % 17,
                    duration: if varied { 10 + i % 3 } else { 1024 },
                    cto: if varied { [-3, 5][i as usize % 2] } else { 0 },
                    sync: !varied || i % 4 == 0,
                };
                at += u64::from(s.size);
                dts += u64::from(s.duration);
                samples.push(s);
            }
            Track {
                id: 1 + kind as u32,
                kind,
                codec: Codec::Audio {
                    codecs: "mp4a.40.2".into(),
                    channels: 2,
                    rate: 48000,
                },
                sample_entry: vec![0, 0, 0, 8, b'm', b'p', b'4', b'a'],
                timescale: 48000,
                shift: -2048,
                samples,
            }
        };
        Movie {
            timescale: 1000,
            tracks: vec![track(Kind::Video, true), track(Kind::Audio, false)],
        }
    }

    fn same(a: &Movie, b: &Movie) {
        assert_eq!(a.timescale, b.timescale);
        assert_eq!(a.tracks.len(), b.tracks.len());
        for (x, y) in a.tracks.iter().zip(&b.tracks) {
            assert_eq!(
                (
                    x.id,
                    x.kind,
                    &x.codec,
                    &x.sample_entry,
                    x.timescale,
                    x.shift
                ),
                (
                    y.id,
                    y.kind,
                    &y.codec,
                    &y.sample_entry,
                    y.timescale,
                    y.shift
                )
            );
            assert_eq!(x.samples, y.samples);
        }
    }

    #[test]
    fn round_trips_every_column_shape() {
        let movie = handmade();
        let bytes = encode(&movie, &id(1 << 20));
        same(&decode(&bytes, &id(1 << 20)).unwrap(), &movie);
    }

    #[test]
    fn round_trips_a_title_ffmpeg_made() {
        let dir = tempfile::tempdir().unwrap();
        let Some(f) = h264_aac(dir.path(), "t.mp4", "6", &[]) else {
            return;
        };
        let data = std::fs::read(f).unwrap();
        let movie = movie_of(&data).0.unwrap();
        let bytes = encode(&movie, &id(data.len() as u64));
        same(&decode(&bytes, &id(data.len() as u64)).unwrap(), &movie);
        // Smaller than the moov it saves reading.
        let moov = crate::media::mp4::locate(data.len() as u64, |at, len| {
            Ok::<_, ()>(data[at as usize..at as usize + len].to_vec())
        })
        .unwrap();
        assert!(
            bytes.len() < moov.len(),
            "{} bytes, the moov has {}",
            bytes.len(),
            moov.len()
        );
    }

    #[test]
    fn another_object_or_damage_is_no_index() {
        let movie = handmade();
        let bytes = encode(&movie, &id(1 << 20));
        let other = Identity {
            etag: "\"abd\"".into(),
            size: 1 << 20,
        };
        assert!(decode(&bytes, &other).is_none());
        assert!(decode(&bytes, &id((1 << 20) + 1)).is_none());
        // A file too short for its samples.
        assert!(decode(&encode(&movie, &id(1000)), &id(1000)).is_none());
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                decode(&bytes[..cut], &id(1 << 20)).is_none(),
                "cut at {cut}"
            );
        }
        assert!(decode(b"\x93\x01\x02\x03", &id(1 << 20)).is_none());
    }
}
