use super::*;
use crate::media::fmp4;
use crate::media::mp4::tests::{h264_aac, movie_of};
use crate::media::mp4::Sample;
use crate::media::segment::span;

fn id(size: u64) -> Identity {
    Identity {
        etag: "\"abc\"".into(),
        size,
    }
}

/// A title of two tracks with every column shape: gaps between samples
/// (new chunks), varying durations, B-frame offsets, sparse sync
/// samples; and a track where all take the short forms.
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
            timescale: if varied { 100 } else { 48000 },
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

fn record(movie: &Movie, size: u64, target: u32) -> Vec<u8> {
    encode(movie, &id(size), target, &cuts(movie, target))
}

/// Bytes read so far.
type Counter = std::rc::Rc<std::cell::Cell<usize>>;

/// Reads of `bytes` by range, counting the bytes read.
fn reader(bytes: &[u8]) -> (impl FnMut(u64, usize) -> Result<Vec<u8>, ()> + '_, Counter) {
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let counted = read.clone();
    let f = move |at: u64, len: usize| {
        counted.set(counted.get() + len);
        bytes
            .get(at as usize..at as usize + len)
            .map(<[u8]>::to_vec)
            .ok_or(())
    };
    (f, read)
}

/// The largest block of the record `bytes`.
fn biggest_block(bytes: &[u8]) -> usize {
    let len = head_len(bytes).unwrap();
    let h: Head = rmp_serde::from_slice(&bytes[PREFIX..PREFIX + len]).unwrap();
    (0..h.tracks.len())
        .flat_map(|k| (0..h.tracks[k].ends.len()).map(move |n| (k, n)))
        .map(|(k, n)| block(&h, k, n).map_or(0, |(a, b)| (b - a) as usize))
        .max()
        .unwrap_or(0)
}

/// The identity of the record `bytes` as the store would give it.
fn rec(bytes: &[u8]) -> Identity {
    Identity {
        etag: "\"record\"".into(),
        size: bytes.len() as u64,
    }
}

/// Every segment of every track read by range gives the segment the
/// whole index gives, byte for byte, reading only the head and its block
/// (every `step`th segment, and the last); with the [`Layout`] of an
/// earlier read, only its block.
fn every_part_is_the_whole_ones(movie: &Movie, size: u64, target: u32, step: usize) {
    let bytes = record(movie, size, target);
    let c = cuts(movie, target);
    assert!(c.len() > 1, "a title of several segments");
    let largest = biggest_block(&bytes);
    let (read, _) = reader(&bytes);
    let (_, layout) = read_part(
        &rec(&bytes),
        &id(size),
        target,
        (movie.tracks[0].kind, 0),
        read,
    )
    .unwrap()
    .expect("a sound record");
    assert_eq!(layout.record(), &rec(&bytes));
    for t in &movie.tracks {
        for n in (0..c.len()).step_by(step).chain([c.len() - 1]) {
            let (read, count) = reader(&bytes);
            let (part, _) = read_part(&rec(&bytes), &id(size), target, (t.kind, n), read)
                .unwrap()
                .unwrap_or_else(|| panic!("{:?} segment {n}", t.kind));
            let whole = span(t, &c, n).unwrap();
            assert_eq!(part.track.samples, t.samples[whole.first..whole.end]);
            assert_eq!(part.index_bytes, movie.index_bytes());
            let media = fmp4::media(t, &whole, n as u32 + 1);
            assert_eq!(
                fmp4::media(&part.track, &part.span, n as u32 + 1),
                media,
                "{:?} segment {n}",
                t.kind
            );
            // the first read, the rest of a longer head, one block
            let head_end = PREFIX + head_len(&bytes).unwrap();
            assert!(
                count.get() <= FIRST_READ.max(head_end) + largest,
                "{} bytes read of {}",
                count.get(),
                bytes.len()
            );
            // from the layout: the block alone
            let (read, count) = reader(&bytes);
            let part = layout
                .part((t.kind, n, target), read)
                .unwrap()
                .expect("a part");
            assert_eq!(fmp4::media(&part.track, &part.span, n as u32 + 1), media);
            assert!(count.get() <= largest, "{} bytes read", count.get());
        }
        let (read, _) = reader(&bytes);
        assert!(
            read_part(&rec(&bytes), &id(size), target, (t.kind, c.len()), read)
                .unwrap()
                .is_none()
        );
        let (read, _) = reader(&bytes);
        assert!(layout
            .part((t.kind, c.len(), target), read)
            .unwrap()
            .is_none());
        let (read, _) = reader(&bytes);
        assert!(layout
            .part((t.kind, 0, target + 1), read)
            .unwrap()
            .is_none());
    }
}

#[test]
fn round_trips_every_column_shape() {
    let movie = handmade();
    for target in [1, 2, 600] {
        let bytes = record(&movie, 1 << 20, target);
        let (back, c) = decode(&bytes, &id(1 << 20), target).unwrap();
        same(&back, &movie);
        assert_eq!(c, cuts(&movie, target));
        // Read for another target: the same movie, cut at that one.
        let (back, c) = decode(&bytes, &id(1 << 20), target + 1).unwrap();
        same(&back, &movie);
        assert_eq!(c, cuts(&movie, target + 1));
    }
}

#[test]
fn a_segment_is_read_by_range_as_the_whole_index_has_it() {
    every_part_is_the_whole_ones(&handmade(), 1 << 20, 1, 1);
}

#[test]
fn a_segment_of_another_target_or_track_is_not_read_by_range() {
    let movie = handmade();
    let bytes = record(&movie, 1 << 20, 1);
    let part = |target, kind, size: u64| {
        let (read, _) = reader(&bytes);
        read_part(&rec(&bytes), &id(size), target, (kind, 0), read)
            .unwrap()
            .map(|(p, _)| p)
    };
    assert!(part(1, Kind::Video, 1 << 20).is_some());
    assert!(part(2, Kind::Video, 1 << 20).is_none(), "another target");
    assert!(part(1, Kind::Video, 1 << 21).is_none(), "another object");
    let video_only = Movie {
        timescale: 1000,
        tracks: vec![movie.tracks[0].clone()],
    };
    let bytes = record(&video_only, 1 << 20, 1);
    let (read, _) = reader(&bytes);
    assert!(
        read_part(&rec(&bytes), &id(1 << 20), 1, (Kind::Audio, 0), read)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_head_longer_than_the_first_read_is_read_on() {
    // Ten thousand one-sample segments: a head of well over 64 KiB.
    let mut movie = handmade();
    let t = &mut movie.tracks[0];
    t.samples = (0..10_000u64)
        .map(|i| Sample {
            offset: 100 + i * 10,
            dts: i * 100,
            size: 10,
            duration: 100,
            cto: 0,
            sync: true,
        })
        .collect();
    movie.tracks.truncate(1);
    let bytes = record(&movie, 1 << 20, 1);
    assert!(head_len(&bytes).unwrap() > FIRST_READ, "{}", bytes.len());
    every_part_is_the_whole_ones(&movie, 1 << 20, 1, 997);
}

#[test]
fn round_trips_a_title_ffmpeg_made_and_reads_its_segments_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let Some(f) = h264_aac(dir.path(), "t.mp4", "13", &[]) else {
        return;
    };
    let data = std::fs::read(f).unwrap();
    let size = data.len() as u64;
    let movie = movie_of(&data).0.unwrap();
    let bytes = record(&movie, size, 6);
    same(&decode(&bytes, &id(size), 6).unwrap().0, &movie);
    every_part_is_the_whole_ones(&movie, size, 6, 1);
    // Smaller than the moov it saves reading.
    let moov = crate::media::mp4::locate(size, |at, len| {
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
    let bytes = record(&movie, 1 << 20, 1);
    let other = Identity {
        etag: "\"abd\"".into(),
        size: 1 << 20,
    };
    assert!(decode(&bytes, &other, 1).is_none());
    assert!(decode(&bytes, &id((1 << 20) + 1), 1).is_none());
    // A file too short for its samples.
    assert!(decode(&record(&movie, 1000, 1), &id(1000), 1).is_none());
    for cut in [0, 1, 11, 12, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            decode(&bytes[..cut], &id(1 << 20), 1).is_none(),
            "cut at {cut}"
        );
        let (read, _) = reader(&bytes[..cut]);
        let part = read_part(&rec(&bytes[..cut]), &id(1 << 20), 1, (Kind::Video, 3), read);
        assert!(matches!(part, Ok(None) | Err(())), "cut at {cut}");
    }
    assert!(decode(b"\x93\x01\x02\x03", &id(1 << 20), 1).is_none());
    // A block changed: its samples no longer follow the head's.
    let mut moved = bytes.clone();
    let last = moved.len() - 1;
    moved[last] ^= 0x01;
    assert!(decode(&moved, &id(1 << 20), 1).is_none());
    // Blocks cut at other times than the record's target would cut them.
    let mut c = cuts(&movie, 1);
    c.times.truncate(c.times.len() / 2);
    let other_cuts = encode(&movie, &id(1 << 20), 1, &c);
    assert!(decode(&other_cuts, &id(1 << 20), 1).is_none());
}
