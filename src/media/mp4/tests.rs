//! The reader against files ffmpeg makes at test time, checked sample by
//! sample against what ffprobe reports for the same file.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs ffmpeg with `args` writing `name` in `dir`; `None` (SKIPPED) when
/// ffmpeg is not installed.
pub(crate) fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> Option<PathBuf> {
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&out)
        .status();
    match st {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("ffmpeg {args:?} failed: {s}"),
        Err(_) => {
            eprintln!("SKIPPED: ffmpeg is not installed");
            None
        }
    }
}

/// An H.264 (B-frames) + stereo AAC file of `secs` seconds, moov at the end
/// unless `extra` says `-movflags +faststart`.
pub(crate) fn h264_aac(dir: &Path, name: &str, secs: &str, extra: &[&str]) -> Option<PathBuf> {
    let mut a = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-ac",
        "2",
        "-t",
        secs,
        "-c:v",
        "libx264",
        "-bf",
        "2",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
    ];
    a.extend_from_slice(extra);
    ffmpeg(dir, name, &a)
}

/// Reads a file's moov the way the proxy does, counting reads and bytes.
pub(crate) fn movie_of(data: &[u8]) -> (Result<Movie, Mp4Error>, usize) {
    let mut reads = 0;
    let moov = locate(data.len() as u64, |at, len| {
        reads += 1;
        let at = at as usize;
        Ok::<_, ()>(data[at..(at + len).min(data.len())].to_vec())
    });
    match moov {
        Ok(m) => (parse_moov(&m, data.len() as u64), reads),
        Err(LocateError::Mp4(e)) => (Err(e), reads),
        Err(LocateError::Read(())) => unreachable!(),
    }
}

/// ffprobe's packets of one stream: (pts, dts, size, pos, key).
fn probe(file: &Path, stream: usize) -> Vec<(i64, i64, u32, u64, bool)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &stream.to_string()])
        .args([
            "-show_entries",
            "packet=pts,dts,size,pos,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(','))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].starts_with('K'),
            )
        })
        .collect()
}

fn ours(t: &Track) -> Vec<(i64, i64, u32, u64, bool)> {
    (0..t.samples.len())
        .map(|i| {
            let s = &t.samples[i];
            (t.pts(i), s.dts as i64 + t.shift, s.size, s.offset, s.sync)
        })
        .collect()
}

#[test]
fn h264_aac_moov_at_the_end_matches_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let Some(f) = h264_aac(dir.path(), "a.mp4", "4", &[]) else {
        return;
    };
    let data = std::fs::read(&f).unwrap();
    let (m, reads) = movie_of(&data);
    let m = m.unwrap();
    // the head, the header after the mdat, the moov
    assert_eq!(reads, 3, "reads to find a trailing moov");
    let v = m.track(Kind::Video).unwrap();
    let a = m.track(Kind::Audio).unwrap();
    assert!(
        v.codec.codecs().starts_with("avc1.64"),
        "{}",
        v.codec.codecs()
    );
    assert_eq!(v.codec.resolution(), Some((320, 240)));
    assert_eq!(
        a.codec,
        Codec::Audio {
            codecs: "mp4a.40.2".into(),
            channels: 2,
            rate: 48000
        }
    );
    assert!(
        v.samples.iter().any(|s| s.cto != 0),
        "B-frames give composition offsets"
    );
    assert!(
        v.shift < 0,
        "ffmpeg's edit list starts after the B-frame delay"
    );
    assert_eq!(ours(v), probe(&f, 0));
    assert_eq!(ours(a), probe(&f, 1));
    assert_eq!(v.samples.len(), 100);
    assert!((v.seconds() - 4.0).abs() < 0.05);
    // the sample entry is the stsd's first box, verbatim
    assert_eq!(&v.sample_entry[4..8], b"avc1");
    let n = u32::from_be_bytes(v.sample_entry[..4].try_into().unwrap()) as usize;
    assert_eq!(n, v.sample_entry.len());
}

#[test]
fn faststart_gives_the_same_index_with_the_moov_in_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let Some(f) = h264_aac(dir.path(), "b.mp4", "2", &["-movflags", "+faststart"]) else {
        return;
    };
    let data = std::fs::read(&f).unwrap();
    let (m, reads) = movie_of(&data);
    let m = m.unwrap();
    assert_eq!(reads, 1);
    assert_eq!(ours(&m.tracks[0]), probe(&f, 0));
    assert_eq!(ours(&m.tracks[1]), probe(&f, 1));
}

#[test]
fn hevc_and_dolby_audio() {
    let dir = tempfile::tempdir().unwrap();
    let Some(f) = ffmpeg(
        dir.path(),
        "h.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-ac",
            "2",
            "-t",
            "1",
            "-c:v",
            "libx265",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "eac3",
        ],
    ) else {
        return;
    };
    let data = std::fs::read(&f).unwrap();
    let m = movie_of(&data).0.unwrap();
    let v = m.track(Kind::Video).unwrap();
    assert!(
        v.codec.codecs().starts_with("hvc1.1.6.L"),
        "{}",
        v.codec.codecs()
    );
    assert_eq!(ours(v), probe(&f, 0));
    let a = m.track(Kind::Audio).unwrap();
    assert_eq!(a.codec.codecs(), "ec-3");
    // stereo: L R
    assert_eq!(dolby_channel_mask(&a.sample_entry), Some(0xA000));
    let Some(f) = ffmpeg(
        dir.path(),
        "ac3.mp4",
        &["-f", "lavfi", "-i", "sine", "-t", "1", "-c:a", "ac3"],
    ) else {
        return;
    };
    let m = movie_of(&std::fs::read(&f).unwrap()).0.unwrap();
    assert_eq!(m.tracks.len(), 1);
    assert_eq!(m.tracks[0].codec.codecs(), "ac-3");
    // mono: C
    assert_eq!(dolby_channel_mask(&m.tracks[0].sample_entry), Some(0x4000));
    // 5.1 (L C R Ls Rs and LFE) in both codecs
    for (codec, name) in [("ac3", "ac3-51.mp4"), ("eac3", "eac3-51.mp4")] {
        let args = [
            "-f", "lavfi", "-i", "sine", "-ac", "6", "-t", "1", "-c:a", codec,
        ];
        let Some(f) = ffmpeg(dir.path(), name, &args) else {
            return;
        };
        let m = movie_of(&std::fs::read(&f).unwrap()).0.unwrap();
        assert_eq!(
            dolby_channel_mask(&m.tracks[0].sample_entry),
            Some(0xF801),
            "{codec}"
        );
    }
    // not Dolby: no mask
    assert_eq!(
        dolby_channel_mask(&[0, 0, 0, 8, b'm', b'p', b'4', b'a']),
        None
    );
    assert_eq!(dolby_channel_mask(&[]), None);
}

#[test]
fn bad_files_are_named_errors() {
    let (e, _) = movie_of(&[]);
    assert_eq!(e.unwrap_err(), Mp4Error::NotMp4("empty file"));
    let noise: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(matches!(movie_of(&noise).0, Err(Mp4Error::NotMp4(_))));
    let dir = tempfile::tempdir().unwrap();
    let Some(f) = h264_aac(dir.path(), "t.mp4", "2", &[]) else {
        return;
    };
    let data = std::fs::read(&f).unwrap();
    // moov at the end, file cut short: no moov
    let e = movie_of(&data[..data.len() / 2]).0.unwrap_err();
    assert!(matches!(e, Mp4Error::Truncated(_)), "{e}");
    let Some(f) = h264_aac(dir.path(), "u.mp4", "2", &["-movflags", "+faststart"]) else {
        return;
    };
    let data = std::fs::read(&f).unwrap();
    // moov at the start, samples cut off
    let e = movie_of(&data[..data.len() - 1000]).0.unwrap_err();
    assert_eq!(
        e,
        Mp4Error::Truncated("a sample lies past the end of the file")
    );
    // every prefix is an error or a movie, never a panic
    for cut in (0..data.len()).step_by(97) {
        let _ = movie_of(&data[..cut]);
    }
    // a video codec we do not handle
    let Some(f) = ffmpeg(
        dir.path(),
        "m.mp4",
        &["-f", "lavfi", "-i", "testsrc2", "-t", "1", "-c:v", "mpeg4"],
    ) else {
        return;
    };
    let e = movie_of(&std::fs::read(&f).unwrap()).0.unwrap_err();
    assert_eq!(e, Mp4Error::Unsupported("codec mp4v".into()));
}
