//! Titles of every shape the VOD API takes (issue 27): audio-only and
//! video-only files, and a two-hour title whose segment at 1:30:00 holds
//! the source's samples of 1:30:00, read through HTTP.

use serde_json::json;

use crate::common::{free_port, installed, Proxy, Setup};
use crate::vod::{ffmpeg, packets, vod_get};

fn vod_proxy() -> (Proxy, String) {
    let port = free_port();
    let p = Proxy::start(Setup {
        proxy: json!({"vod-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    (p, format!("http://127.0.0.1:{port}"))
}

#[test]
fn audio_only_and_video_only_titles() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy();
    let dir = p.dir.path();
    let audio = ffmpeg(
        dir,
        "a.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-ac",
            "2",
            "-t",
            "20",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
    );
    let video = ffmpeg(
        dir,
        "v.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "50",
        ],
    );
    for (key, file, stream) in [("a.mp4", &audio, "0:a"), ("v.mp4", &video, "0:v")] {
        assert!(p
            .upload("b1", key, std::fs::read(file).unwrap())
            .status()
            .is_success());
        let want = packets(file.to_str().unwrap(), stream);
        for manifest in [
            format!("/hls/b1/{key}/master.m3u8"),
            format!("/dash/b1/{key}/manifest.mpd"),
        ] {
            let r = vod_get(&p, &base, &manifest);
            assert_eq!(r.status(), 200, "{manifest}");
            let text = r.text().unwrap();
            let url = format!("{base}{manifest}");
            assert_eq!(packets(&url, stream), want, "{manifest}:\n{text}");
        }
    }
    // The audio-only master names the audio codec and no picture.
    let master = vod_get(&p, &base, "/hls/b1/a.mp4/master.m3u8")
        .text()
        .unwrap();
    assert!(
        master.contains("mp4a.40.2") && !master.contains("RESOLUTION"),
        "{master}"
    );
    let master = vod_get(&p, &base, "/hls/b1/v.mp4/master.m3u8")
        .text()
        .unwrap();
    assert!(
        master.contains("RESOLUTION=320x240") && !master.contains("mp4a"),
        "{master}"
    );
}

#[test]
fn a_two_hour_title_serves_its_segment_at_1_30_00() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy();
    // Two hours, 5 fps, a keyframe every 2 s, no B-frames; mono 8 kHz AAC.
    let file = ffmpeg(
        p.dir.path(),
        "long.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x36:rate=5",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=8000",
            "-ac",
            "1",
            "-t",
            "7200",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "10",
            "-c:a",
            "aac",
            "-b:a",
            "8k",
        ],
    );
    assert!(p
        .upload("b1", "long.mp4", std::fs::read(&file).unwrap())
        .status()
        .is_success());
    let media = vod_get(&p, &base, "/hls/b1/long.mp4/v0/index.m3u8")
        .text()
        .unwrap();
    let durations = crate::vod::extinf(&media);
    assert_eq!(durations.len(), 1200, "6 s segments");
    let total: f64 = durations.iter().sum();
    assert!((total - 7200.0).abs() < 0.5, "{total}");
    // Segment 901 starts at 900 × 6 s = 1:30:00: its packets are the
    // source's from frame 27,000 (5 fps) on, byte for byte.
    let mut seg = vod_get(&p, &base, "/hls/b1/long.mp4/v0/init.mp4")
        .bytes()
        .unwrap()
        .to_vec();
    let r = vod_get(&p, &base, "/hls/b1/long.mp4/v0/seg-901.m4s");
    assert_eq!(r.status(), 200);
    seg.extend_from_slice(&r.bytes().unwrap());
    let path = p.dir.path().join("seg-901.mp4");
    std::fs::write(&path, &seg).unwrap();
    let got = packets(path.to_str().unwrap(), "0:v");
    let all = packets(file.to_str().unwrap(), "0:v");
    assert_eq!(got.len(), 30, "6 s at 5 fps");
    assert_eq!(got[..], all[27_000..27_030]);
    // The last segment too, and nothing past it.
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/long.mp4/v0/seg-1200.m4s").status(),
        200
    );
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/long.mp4/v0/seg-1201.m4s").status(),
        404
    );
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/long.mp4/a0/seg-901.m4s").status(),
        200
    );
}
