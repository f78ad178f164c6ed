//! Packaged segments played back by ffmpeg: the packets of init + media
//! segments are the source's, with the source's timestamps.

use super::*;
use crate::media::mp4::tests::{ffmpeg, h264_aac};
use crate::media::mp4::{locate, parse_moov, LocateError, Movie};
use crate::media::segment::{cuts, span};
use std::path::Path;
use std::process::Command;

fn movie(data: &[u8]) -> Movie {
    let moov = match locate(data.len() as u64, |at, len| {
        let at = at as usize;
        Ok::<_, ()>(data[at..(at + len).min(data.len())].to_vec())
    }) {
        Ok(m) => m,
        Err(LocateError::Mp4(e)) => panic!("{e}"),
        Err(LocateError::Read(())) => unreachable!(),
    };
    parse_moov(&moov, data.len() as u64).unwrap()
}

/// ffmpeg's framemd5 of one stream: `(dts, pts, duration, size, md5)`;
/// side data (the skip-samples ffmpeg derives from an MP4's edit list) is
/// left out. Times as read (`-copyts`) less `offset` ticks: the same
/// times for audio and video mean the same sync as the source.
fn framemd5(file: &Path, map: &str, offset: i64) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(file)
        .args(["-map", map, "-copyts", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let t = |i: usize| f[i].parse::<i64>().unwrap() - offset;
            format!("{},{},{}", t(1), t(2), f[3..6].join(","))
        })
        .collect()
}

/// Writes init + every media segment of track `i` into one file.
fn package(dir: &Path, data: &[u8], m: &Movie, i: usize, name: &str) -> std::path::PathBuf {
    let c = cuts(m, 2);
    let t = &m.tracks[i];
    let mut out = init(t);
    for n in 0..c.len() {
        let s = span(t, &c, n).unwrap();
        let pieces = media(t, &s, n as u32 + 1);
        let before = out.len();
        for p in &pieces {
            match p {
                Piece::Literal(b) => out.extend_from_slice(b),
                Piece::Object { start, end } => {
                    out.extend_from_slice(&data[*start as usize..*end as usize])
                }
            }
        }
        assert_eq!((out.len() - before) as u64, length(&pieces));
    }
    let f = dir.join(name);
    std::fs::write(&f, out).unwrap();
    f
}

#[test]
fn segments_carry_the_source_packets_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let Some(src) = h264_aac(dir.path(), "s.mp4", "7", &["-g", "25"]) else {
        return;
    };
    let data = std::fs::read(&src).unwrap();
    let m = movie(&data);
    assert!(cuts(&m, 2).len() >= 3);
    let off = |i: usize| i64::from(OFFSET_SECS) * i64::from(m.tracks[i].timescale);
    let v = package(dir.path(), &data, &m, 0, "v.mp4");
    assert_eq!(framemd5(&v, "0:v", off(0)), framemd5(&src, "0:v", 0));
    let a = package(dir.path(), &data, &m, 1, "a.mp4");
    let (mut ours, mut theirs) = (framemd5(&a, "0:a", off(1)), framemd5(&src, "0:a", 0));
    // the source's edit list also trims the last AAC frame's duration (its
    // padding), which the segments do not carry: all else is equal
    let last = |v: &mut Vec<String>| {
        v.pop()
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (o, t) = (last(&mut ours), last(&mut theirs));
    assert_eq!(ours, theirs);
    assert_eq!((&o[..2], &o[3..]), (&t[..2], &t[3..]));
}

#[test]
fn hevc_segments_too() {
    let dir = tempfile::tempdir().unwrap();
    let Some(src) = ffmpeg(
        dir.path(),
        "h.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "5",
            "-c:v",
            "libx265",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error:keyint=25",
        ],
    ) else {
        return;
    };
    let data = std::fs::read(&src).unwrap();
    let m = movie(&data);
    let v = package(dir.path(), &data, &m, 0, "v.mp4");
    let off = i64::from(OFFSET_SECS) * i64::from(m.tracks[0].timescale);
    assert_eq!(framemd5(&v, "0:v", off), framemd5(&src, "0:v", 0));
}

#[test]
fn slices_of_a_body() {
    let pieces = vec![
        Piece::Literal(Bytes::from_static(b"abcd")),
        Piece::Object {
            start: 100,
            end: 110,
        },
        Piece::Object {
            start: 200,
            end: 205,
        },
    ];
    assert_eq!(slice(&pieces, 0, 19), pieces);
    assert_eq!(
        slice(&pieces, 2, 16),
        vec![
            Piece::Literal(Bytes::from_static(b"cd")),
            Piece::Object {
                start: 100,
                end: 110
            },
            Piece::Object {
                start: 200,
                end: 202
            },
        ]
    );
    assert_eq!(
        slice(&pieces, 5, 6),
        vec![Piece::Object {
            start: 101,
            end: 102
        }]
    );
    assert_eq!(length(&slice(&pieces, 3, 18)), 15);
}
