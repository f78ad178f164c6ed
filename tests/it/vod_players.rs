//! Real players over the VOD API (issue 27): hls.js and dash.js (npm
//! packages `hls.js` and `dashjs`, installed by ci/install-deps.sh) in
//! headless Chromium play ffmpeg-made titles from the start, seek to the
//! middle and play on with no fatal player error; the 3-rendition urlset
//! shows 3 levels in both. The page is a static file of the REST listener
//! (`proxy.root`), the VOD listener another origin allowed by
//! `proxy.vod-cors`; the page reports by requesting `/report/…`, which
//! the proxy logs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{free_port, installed, missing, Proxy, Setup};
use crate::vod::{ffmpeg, title};

const PAGE: &str = r#"<!doctype html>
<html><body>
<video id="v" muted playsinline></video>
<script src="/LIB"></script>
<script>
const v = document.getElementById('v');
const src = "SRC";
let done = false, levels = -1, errors = [];
function report(s) {
  if (done) return;
  done = true;
  new Image().src = '/report/' + encodeURIComponent(s);
}
function fail(s) { report('error-' + s); }
if ("KIND" === "hls") {
  const h = new Hls();
  h.on(Hls.Events.ERROR, (e, d) => {
    errors.push(d.details + (v.buffered.length ? '@' + v.buffered.start(0).toFixed(3) + ':' + v.currentTime.toFixed(3) : ''));
    if (d.fatal) fail('fatal-' + d.type + '-' + d.details);
  });
  h.on(Hls.Events.MANIFEST_PARSED, (e, d) => { levels = d.levels.length; });
  h.loadSource(src);
  h.attachMedia(v);
} else {
  const p = dashjs.MediaPlayer().create();
  p.on(dashjs.MediaPlayer.events.ERROR, (e) => {
    fail('dash-' + (e.error ? e.error.code + '-' + e.error.message : JSON.stringify(e)));
  });
  p.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
    levels = p.getRepresentationsByType
      ? p.getRepresentationsByType('video').length
      : p.getBitrateInfoListFor('video').length;
  });
  p.initialize(v, src, true);
}
v.addEventListener('error', () => fail('video-' + (v.error ? v.error.code + '-' + v.error.message : 'x')));
v.addEventListener('loadedmetadata', () => { v.play().catch(e => fail('play-' + e.name)); });
let phase = 0, mid = 0;
v.addEventListener('timeupdate', () => {
  if (phase === 0 && v.currentTime > 1) {
    phase = 1;
    mid = v.duration / 2;
    v.currentTime = mid;
  } else if (phase === 1 && v.currentTime > mid + 1.5) {
    phase = 2;
    report('ok-levels-' + levels + '-duration-' + v.duration.toFixed(1) + '-at-' +
      v.currentTime.toFixed(1) + '-errors-' + errors.join('+'));
  }
});
setTimeout(() => report('stuck-phase-' + phase + '-t-' + v.currentTime.toFixed(2) +
  '-rs-' + v.readyState + '-errors-' + errors.join('+')), 80000);
</script>
</body></html>
"#;

/// Where ci/install-deps.sh installs the players' npm packages
/// (`BACKRUNNER_PLAYERS_DIR` overrides it).
fn players_dir() -> PathBuf {
    std::env::var_os("BACKRUNNER_PLAYERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/local/share/backrunner-tests"))
}

/// The players' scripts, or `None` (SKIPPED, a failure under CI) when
/// they are not installed.
fn players() -> Option<(PathBuf, PathBuf)> {
    let m = players_dir().join("node_modules");
    let hls = m.join("hls.js/dist/hls.min.js");
    let dash = m.join("dashjs/dist/modern/umd/dash.all.min.js");
    if hls.is_file() && dash.is_file() {
        return Some((hls, dash));
    }
    missing("hls.js and dashjs (ci/install-deps.sh)");
    None
}

/// An H.264 rendition `name` of 24 s at `size` with AAC, a keyframe every
/// 2 s exactly (aligned across renditions), moov at the end.
fn rendition(dir: &Path, name: &str, size: &str, rate: &str) -> PathBuf {
    let source = format!("testsrc2=size={size}:rate=25");
    ffmpeg(
        dir,
        name,
        &[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-ac",
            "2",
            "-t",
            "24",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            rate,
            "-bf",
            "2",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
    )
}

/// Opens `page` in headless Chromium and waits for its `/report/` line.
fn play(p: &Proxy, page: &str) -> String {
    let before = p.log().matches("/report/").count();
    let profile = tempfile::tempdir().unwrap();
    let mut chrome = crate::common::chromium::command(profile.path())
        .arg("--autoplay-policy=no-user-gesture-required")
        .arg(p.url(page))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(100);
    let report = loop {
        let log = p.log();
        if let Some(line) = log.lines().filter(|l| l.contains("/report/")).nth(before) {
            break Some(line.to_string());
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = chrome.kill();
    let _ = chrome.wait();
    report.unwrap_or_else(|| panic!("no report from {page}; proxy log:\n{}", p.log()))
}

#[test]
fn hls_js_and_dash_js_play_seek_and_list_renditions() {
    if !installed("chromium", "--version") || !installed("ffmpeg", "-version") {
        return;
    }
    let Some((hls, dash)) = players() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(hls, root.path().join("hls.min.js")).unwrap();
    std::fs::copy(dash, root.path().join("dash.all.min.js")).unwrap();
    let vod_port = free_port();
    let p = Proxy::start(Setup {
        proxy: json!({
            "root": root.path(),
            "vod-address": format!("127.0.0.1:{vod_port}"),
            "vod-segment-seconds": 4,
            "vod-cors": [{
                "allowed-origins": ["http://127.0.0.1:*"],
                "allowed-methods": ["GET", "HEAD"],
                "allowed-headers": ["range"],
                "expose-headers": ["Content-Length", "Content-Range"],
                "max-age-seconds": 600
            }]
        }),
        ..Setup::default()
    });
    let dir = p.dir.path();
    let single = title(dir, "single.mp4", "20");
    assert!(p
        .upload("b1", "single.mp4", std::fs::read(single).unwrap())
        .status()
        .is_success());
    for (name, size, rate) in [
        ("360", "640x360", "900k"),
        ("270", "480x270", "500k"),
        ("180", "320x180", "250k"),
    ] {
        let f = rendition(dir, &format!("m_{name}.mp4"), size, rate);
        assert!(p
            .upload(
                "b1",
                &format!("set/m_{name}.mp4"),
                std::fs::read(f).unwrap()
            )
            .status()
            .is_success());
    }
    let vod = format!("http://127.0.0.1:{vod_port}");
    let urlset = "b1/set/m_,360,270,180,.mp4.urlset";
    for (kind, lib, path, levels) in [
        (
            "hls",
            "hls.min.js",
            "/hls/b1/single.mp4/master.m3u8".to_string(),
            1,
        ),
        ("hls", "hls.min.js", format!("/hls/{urlset}/master.m3u8"), 3),
        (
            "dash",
            "dash.all.min.js",
            format!("/dash/{urlset}/manifest.mpd"),
            3,
        ),
    ] {
        let page = format!("{kind}-{levels}.html");
        let html = PAGE
            .replace("LIB", lib)
            .replace("KIND", kind)
            .replace("SRC", &format!("{vod}{path}"));
        std::fs::write(root.path().join(&page), html).unwrap();
        let report = play(&p, &format!("/{page}"));
        eprintln!("{kind} {path}: {report}");
        assert!(
            report.contains(&format!("/report/ok-levels-{levels}-")),
            "{kind} {path}: the page reported {report}\n{}",
            p.log()
        );
        // No player error but one: hls.js steps over the first 80 ms (the
        // B-frame delay: a segment's tfdt is its first decode time, 2
        // frames before its first presentation time), which it reports as
        // a non-fatal bufferSeekOverHole at the start.
        let errors = report
            .split("-errors-")
            .nth(1)
            .and_then(|e| e.split(',').next())
            .unwrap_or_default()
            .replace("%40", "@")
            .replace("%3A", ":");
        for e in errors.split('+').filter(|e| !e.is_empty()) {
            assert!(
                e.starts_with("bufferSeekOverHole@0.0") || e.starts_with("bufferSeekOverHole@0.1"),
                "{kind} {path}: player error {e} in {report}"
            );
        }
    }
    // Segments were fetched cross-origin from the VOD listener.
    let log = p.log();
    assert!(
        log.lines()
            .any(|l| l.contains("vod method: GET") && l.contains("/seg-")),
        "{log}"
    );
}
