//! A real browser plays a video through `/get/`: headless Chromium loads a
//! page (a static file under `proxy.root`) whose `<video>` streams an MP4
//! made at test time by ffmpeg, seeks to the middle and reports, by
//! requesting a `/report/...` URL the proxy logs, that playback moved on.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Proxy, Setup};
use serde_json::json;

const PAGE: &str = r#"<!doctype html>
<html><body>
<video id="v" muted playsinline preload="auto" src="/get/b1/clip.mp4"></video>
<script>
const v = document.getElementById('v');
let done = false;
function report(s) {
  if (done) return;
  done = true;
  new Image().src = '/report/' + encodeURIComponent(s);
}
v.addEventListener('error', () => report('error-' + (v.error ? v.error.code : 'x')));
v.addEventListener('loadedmetadata', () => { v.currentTime = v.duration / 2; });
v.addEventListener('seeked', () => {
  v.play().catch(e => report('playfail-' + e.name));
});
v.addEventListener('timeupdate', () => {
  if (v.currentTime > v.duration / 2 + 0.5) {
    report('ok-' + v.currentTime.toFixed(2) + '-of-' + v.duration.toFixed(2));
  }
});
setTimeout(() => report('stuck-' + v.readyState + '-' + v.currentTime), 60000);
</script>
</body></html>
"#;

#[test]
fn chromium_seeks_a_video_served_with_ranges() {
    if !crate::common::installed("chromium", "--version")
        || !crate::common::installed("ffmpeg", "-version")
    {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("player.html"), PAGE).unwrap();
    let p = Proxy::start(Setup {
        proxy: json!({"root": root.path()}),
        ..Setup::default()
    });

    // 30 s of H.264 at a high bitrate, so the browser cannot take it in one gulp.
    let clip = root.path().join("clip.mp4");
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=duration=30:size=640x360:rate=25")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-b:v", "3M", "-g", "25", "-movflags", "+faststart"])
        .arg(&clip)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&clip).unwrap();
    assert!(bytes.len() > 4 << 20, "clip is {} bytes", bytes.len());
    assert_eq!(p.upload("b1", "clip.mp4", bytes).status(), 200);

    let profile = tempfile::tempdir().unwrap();
    let mut chrome = crate::common::chromium::command(profile.path())
        .arg("--autoplay-policy=no-user-gesture-required")
        .arg(p.url("/player.html"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");

    let deadline = Instant::now() + Duration::from_secs(90);
    let report = loop {
        let log = p.log();
        if let Some(line) = log.lines().find(|l| l.contains("/report/")) {
            break Some(line.to_string());
        }
        if Instant::now() > deadline {
            break None;
        }
        if let Ok(Some(status)) = chrome.try_wait() {
            panic!("chromium exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = chrome.kill();
    let _ = chrome.wait();
    let log = p.log();
    let report = report.unwrap_or_else(|| panic!("no report from the page; proxy log:\n{log}"));
    assert!(report.contains("/report/ok-"), "page reported: {report}");

    let gets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("/get/b1/clip.mp4"))
        .collect();
    let partial = gets.iter().filter(|l| l.contains("status: 206,")).count();
    // The first request (`bytes=0-`) and the seek to the middle are both ranges.
    assert!(partial >= 2, "too few 206 answers for the video: {gets:#?}");
    eprintln!(
        "browser: {report}; {} requests for the video, {partial} answered 206:\n{}",
        gets.len(),
        gets.join("\n")
    );
}
