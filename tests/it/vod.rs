//! The VOD listener over the running proxy (issue 27, docs/vod.md):
//! ffmpeg-made titles stored with `/upload/`, read back by ffmpeg through
//! the HLS master playlist and the DASH manifest.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{eventually, free_port, installed, random_bytes, Proxy, Setup};

/// A proxy with the VOD API on its own port, and that port's base URL.
fn vod_proxy(extra: Value) -> (Proxy, String) {
    let port = free_port();
    let mut proxy = json!({"vod-address": format!("127.0.0.1:{port}")});
    if let (Some(p), Some(e)) = (proxy.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let p = Proxy::start(Setup {
        proxy,
        ..Setup::default()
    });
    (p, format!("http://127.0.0.1:{port}"))
}

/// GET of `path` on the VOD listener.
pub(crate) fn vod_get(p: &Proxy, base: &str, path: &str) -> reqwest::blocking::Response {
    p.client.get(format!("{base}{path}")).send().unwrap()
}

/// Runs ffmpeg with `args`, writing `name` in `dir`.
pub(crate) fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg {args:?}");
    out
}

/// Makes an H.264 (B-frames) + stereo AAC file, moov at the end.
pub(crate) fn title(dir: &Path, name: &str, secs: &str) -> std::path::PathBuf {
    ffmpeg(
        dir,
        name,
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
        ],
    )
}

/// `ffmpeg -i INPUT -map MAP -c copy -f framemd5`: (size, md5) per packet.
pub(crate) fn packets(input: &str, map: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", input])
        .args(["-map", map, "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .skip(4)
                .take(2)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn hls_packets_are_the_sources() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy(json!({}));
    let f = title(p.dir.path(), "t.mp4", "13");
    let r = p.upload("b1", "films/t.mp4", std::fs::read(&f).unwrap());
    assert!(r.status().is_success(), "{}", r.status());
    let master = vod_get(&p, &base, "/hls/b1/films/t.mp4/master.m3u8");
    assert_eq!(master.status(), 200);
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let etag = master.headers()["etag"].to_str().unwrap().to_string();
    let text = master.text().unwrap();
    assert!(text.contains("#EXT-X-MEDIA:TYPE=AUDIO"), "{text}");
    let url = format!("{base}/hls/b1/films/t.mp4/master.m3u8");
    let src = f.to_str().unwrap();
    // every packet of both tracks, byte for byte
    assert_eq!(packets(&url, "0:v"), packets(src, "0:v"));
    assert_eq!(packets(&url, "0:a"), packets(src, "0:a"));
    // validators of the source object
    let r = p
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    let seg = vod_get(&p, &base, "/hls/b1/films/t.mp4/v0/seg-2.m4s");
    assert_eq!(seg.status(), 200);
    assert_eq!(seg.headers()["content-type"], "video/mp4");
    let len = seg.bytes().unwrap().len();
    let head = p
        .client
        .head(format!("{base}/hls/b1/films/t.mp4/v0/seg-2.m4s"))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        len.to_string()
    );
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/films/t.mp4/v0/seg-99.m4s").status(),
        404
    );
}

/// DASH over the same CMAF segments: ffmpeg reads the MPD and gets the
/// source's packets, and a segment under `/dash/` is the `/hls/` one.
#[test]
fn dash_packets_are_the_sources() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy(json!({}));
    let f = title(p.dir.path(), "d.mp4", "13");
    let r = p.upload("b1", "films/d.mp4", std::fs::read(&f).unwrap());
    assert!(r.status().is_success(), "{}", r.status());
    let mpd = vod_get(&p, &base, "/dash/b1/films/d.mp4/manifest.mpd");
    assert_eq!(mpd.status(), 200);
    assert_eq!(mpd.headers()["content-type"], "application/dash+xml");
    let text = mpd.text().unwrap();
    assert!(text.contains("<SegmentTimeline>"), "{text}");
    assert!(
        text.contains("audio_channel_configuration:2011\" value=\"2\""),
        "{text}"
    );
    let url = format!("{base}/dash/b1/films/d.mp4/manifest.mpd");
    let src = f.to_str().unwrap();
    assert_eq!(packets(&url, "0:v"), packets(src, "0:v"));
    assert_eq!(packets(&url, "0:a"), packets(src, "0:a"));
    for seg in ["v0/init.mp4", "v0/seg-2.m4s", "a0/seg-1.m4s"] {
        let d = vod_get(&p, &base, &format!("/dash/b1/films/d.mp4/{seg}"));
        assert_eq!(d.status(), 200, "{seg}");
        let h = vod_get(&p, &base, &format!("/hls/b1/films/d.mp4/{seg}"));
        assert_eq!(d.bytes().unwrap(), h.bytes().unwrap(), "{seg}");
    }
    // HLS playlists are not DASH files
    assert_eq!(
        vod_get(&p, &base, "/dash/b1/films/d.mp4/v0/index.m3u8").status(),
        400
    );
}

/// The EXTINF durations of a media playlist.
pub(crate) fn extinf(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect()
}

/// `proxy.vod-segment-seconds`, `proxy.vod-cors` and the Cache-Control
/// keys, over HTTP on `/hls/` and `/dash/`.
#[test]
fn segment_seconds_cors_and_cache_control_from_config() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy(json!({
        "vod-segment-seconds": 2,
        "vod-cache-control": "public, max-age=86400",
        "vod-playlist-cache-control": "max-age=60",
        "vod-cors": [{
            "allowed-origins": ["https://*.player.test"],
            "allowed-methods": ["GET", "HEAD"],
            "allowed-headers": ["range"],
            "expose-headers": ["Content-Length", "Content-Range"],
            "max-age-seconds": 600
        }]
    }));
    let f = title(p.dir.path(), "c.mp4", "13");
    assert!(p
        .upload("b1", "c.mp4", std::fs::read(&f).unwrap())
        .status()
        .is_success());
    // keyframes every 2 s: 2 s segments instead of the default 6 s
    let r = vod_get(&p, &base, "/hls/b1/c.mp4/v0/index.m3u8");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "max-age=60");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    // the target is part of the validator: another target is another playlist
    assert!(etag.ends_with("-s2\""), "{etag}");
    let d = extinf(&r.text().unwrap());
    assert_eq!(d.len(), 7, "{d:?}");
    assert!(d.iter().take(6).all(|&x| (x - 2.0).abs() < 0.01), "{d:?}");
    let r = vod_get(&p, &base, "/dash/b1/c.mp4/manifest.mpd");
    assert_eq!(r.headers()["cache-control"], "max-age=60");
    let seg = vod_get(&p, &base, "/dash/b1/c.mp4/v0/seg-7.m4s");
    assert_eq!(seg.status(), 200);
    assert_eq!(seg.headers()["cache-control"], "public, max-age=86400");
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/c.mp4/a0/init.mp4").headers()["cache-control"],
        "public, max-age=86400"
    );
    // a revalidation keeps the playlist's Cache-Control
    let r = p
        .client
        .get(format!("{base}/hls/b1/c.mp4/v0/index.m3u8"))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["cache-control"], "max-age=60");
    // preflights from proxy.vod-cors, on both formats
    for path in ["/hls/b1/c.mp4/v0/seg-1.m4s", "/dash/b1/c.mp4/manifest.mpd"] {
        let r = p
            .client
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("Origin", "https://www.player.test")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "Range")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://www.player.test");
        assert_eq!(h["access-control-allow-methods"], "GET, HEAD");
        assert_eq!(h["access-control-allow-headers"], "Range");
        assert_eq!(h["access-control-max-age"], "600");
        let r = p
            .client
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("Origin", "https://evil.test")
            .header("Access-Control-Request-Method", "GET")
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body = r.text().unwrap();
        assert!(body.contains("no proxy.vod-cors rule allows"), "{body}");
    }
    // actual replies carry the headers for an allowed origin, errors too
    let r = p
        .client
        .get(format!("{base}/hls/b1/c.mp4/master.m3u8"))
        .header("Origin", "https://www.player.test")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://www.player.test"
    );
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "Content-Length, Content-Range"
    );
    assert_eq!(r.headers()["vary"], "Origin");
    let r = p
        .client
        .get(format!("{base}/dash/b1/missing.mp4/manifest.mpd"))
        .header("Origin", "https://www.player.test")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("access-control-allow-origin"));
    assert!(!r.headers().contains_key("cache-control"));
    let r = p
        .client
        .get(format!("{base}/hls/b1/c.mp4/master.m3u8"))
        .header("Origin", "https://evil.test")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // without rules a preflight is refused, naming the key
    let (q, qbase) = vod_proxy(json!({}));
    let r = q
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{qbase}/hls/b1/c.mp4/master.m3u8"),
        )
        .header("Origin", "https://www.player.test")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .unwrap()
        .contains("CORS is not enabled on this listener (proxy.vod-cors)"));
}

/// The VOD counters in `/proxy_stat/` and `/metrics` (REST listener).
#[test]
fn counters_in_proxy_stat_and_metrics() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy(json!({}));
    let f = title(p.dir.path(), "n.mp4", "4");
    assert!(p
        .upload("b1", "n.mp4", std::fs::read(&f).unwrap())
        .status()
        .is_success());
    for (path, status) in [
        ("/hls/b1/n.mp4/master.m3u8", 200),
        ("/dash/b1/n.mp4/manifest.mpd", 200),
        ("/hls/b1/n.mp4/v0/init.mp4", 200),
        ("/dash/b1/n.mp4/a0/seg-1.m4s", 200),
        ("/hls/b1/n.mp4/v0/seg-1.m4s", 200),
        ("/hls/b1/n.mp4/v0/seg-99.m4s", 404),
        ("/hls/b1/none.mp4/master.m3u8", 404),
    ] {
        assert_eq!(vod_get(&p, &base, path).status(), status, "{path}");
    }
    let stat = p.json("/proxy_stat/");
    let vod = &stat["VOD"];
    assert_eq!(vod["Playlists"], 2, "{vod}");
    assert_eq!(vod["Segments"], 3, "{vod}");
    // The first request that found the title parsed its moov; the five
    // after it took the index from memory.
    assert_eq!(vod["Parses"], 1, "{vod}");
    assert!(vod["ParseSeconds"].as_f64().unwrap() > 0.0, "{vod}");
    assert_eq!(vod["IndexMemoryHits"], 5, "{vod}");
    assert_eq!(vod["IndexClusterHits"], 0, "{vod}");
    assert_eq!(vod["IndexCacheEntries"], 1, "{vod}");
    assert!(vod["IndexCacheBytes"].as_u64().unwrap() > 0, "{vod}");
    assert_eq!(
        stat["handlers"]["hls"]["RS"]["2xx"]["Requests"], 3,
        "{stat}"
    );
    assert_eq!(
        stat["handlers"]["dash"]["RS"]["2xx"]["Requests"], 2,
        "{stat}"
    );
    let s = crate::metrics::scrape(&p);
    let v = |name: &str| {
        crate::metrics::find(&s, name, &[])
            .map(crate::metrics::value)
            .unwrap_or_else(|| panic!("{name} not scraped"))
    };
    assert_eq!(v("backrunner_vod_playlists_total"), 2.0);
    assert_eq!(v("backrunner_vod_segments_total"), 3.0);
    assert_eq!(v("backrunner_vod_parse_seconds"), 1.0);
    assert_eq!(v("backrunner_vod_index_memory_hits_total"), 5.0);
    assert_eq!(v("backrunner_vod_index_cluster_hits_total"), 0.0);
}

/// A title's index is parsed once: kept in memory, and in the cluster
/// beside the title, where a restarted proxy (nothing in memory) reads it
/// instead of parsing the moov again, and serves the same bytes. A
/// replaced title is parsed again, in memory and after a restart, and
/// served as the new file; with `vod-index-cache-size: 0` nothing stays in
/// memory and every load reads the cluster's copy.
#[test]
fn index_is_parsed_once_and_kept_in_memory_and_in_the_cluster() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (mut p, base) = vod_proxy(json!({}));
    let first = title(p.dir.path(), "a.mp4", "7");
    let second = title(p.dir.path(), "b.mp4", "13");
    assert!(p
        .upload("b1", "t.mp4", std::fs::read(&first).unwrap())
        .status()
        .is_success());
    let vod = |p: &Proxy| p.json("/proxy_stat/")["VOD"].clone();
    let get = |p: &Proxy, path: &str| {
        let r = vod_get(p, &base, path);
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().unwrap()
    };
    let paths = [
        "/hls/b1/t.mp4/master.m3u8",
        "/hls/b1/t.mp4/v0/index.m3u8",
        "/hls/b1/t.mp4/v0/seg-1.m4s",
        "/dash/b1/t.mp4/manifest.mpd",
    ];
    let before: Vec<_> = paths.iter().map(|x| get(&p, x)).collect();
    let v = vod(&p);
    assert_eq!(
        (v["Parses"].as_u64(), v["IndexMemoryHits"].as_u64()),
        (Some(1), Some(3)),
        "{v}"
    );
    // The index reaches the cluster in the background: a restarted proxy
    // finds it there.
    let mut stored = false;
    for _ in 0..50 {
        p.restart();
        let again: Vec<_> = paths.iter().map(|x| get(&p, x)).collect();
        assert_eq!(again, before, "the same bytes after a restart");
        let v = vod(&p);
        if v["IndexClusterHits"] == 1 {
            assert_eq!(
                (v["Parses"].as_u64(), v["IndexMemoryHits"].as_u64()),
                (Some(0), Some(3)),
                "{v}"
            );
            stored = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(stored, "the index never reached the cluster: {}", p.log());
    // A replaced title: parsed again, served as the new file, its own
    // index stored for the next start.
    assert!(p
        .upload("b1", "t.mp4", std::fs::read(&second).unwrap())
        .status()
        .is_success());
    let total = |playlist: &[u8]| {
        extinf(std::str::from_utf8(playlist).unwrap())
            .iter()
            .sum::<f64>()
    };
    let media = get(&p, "/hls/b1/t.mp4/v0/index.m3u8");
    assert!(
        (total(&media) - 13.0).abs() < 0.1,
        "{}",
        String::from_utf8_lossy(&media)
    );
    let v = vod(&p);
    assert_eq!(
        (v["Parses"].as_u64(), v["IndexClusterHits"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let url = format!("{base}/hls/b1/t.mp4/master.m3u8");
    assert_eq!(
        packets(&url, "0:v"),
        packets(second.to_str().unwrap(), "0:v")
    );
    let mut cfg = p.config();
    cfg["proxy"]["vod-index-cache-size"] = json!(0);
    p.write_config(&cfg);
    let mut from_cluster = false;
    for _ in 0..50 {
        p.restart();
        assert_eq!(get(&p, "/hls/b1/t.mp4/v0/index.m3u8"), media);
        get(&p, "/hls/b1/t.mp4/v0/index.m3u8");
        let v = vod(&p);
        assert_eq!(v["IndexMemoryHits"], 0, "{v}");
        assert_eq!(v["IndexCacheEntries"], 0, "{v}");
        if v["IndexClusterHits"] == 2 {
            assert_eq!(v["Parses"], 0, "{v}");
            from_cluster = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        from_cluster,
        "the new index never reached the cluster: {}",
        p.log()
    );
}

/// A title's index stored in the cluster goes with the title: deleted by
/// `/delete/` (and by S3 DeleteObject, which goes the same way).
#[test]
fn deleting_a_title_removes_its_stored_index() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy(json!({}));
    let src = ffmpeg(
        p.dir.path(),
        "t.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=4:size=160x120:rate=25",
            "-c:v",
            "libx264",
            "-g",
            "25",
        ],
    );
    assert!(p
        .upload("b1", "t.mp4", std::fs::read(&src).unwrap())
        .status()
        .is_success());
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/t.mp4/master.m3u8").status(),
        200
    );
    let store = p.store();
    let vod = backrunner::storage::Context::new("b1/vod", vec![1, 2]);
    let stored = |store: &dyn backrunner::storage::Storage| {
        store
            .lookup(&vod, "t.mp4")
            .iter()
            .filter(|r| r.result.is_ok())
            .count()
    };
    assert!(
        eventually(Duration::from_secs(10), || stored(store.as_ref()) == 2),
        "the index never reached the cluster: {}",
        p.log()
    );
    let r = p.client.post(p.url("/delete/b1/t.mp4")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || stored(store.as_ref()) == 0),
        "the index outlived its title: {}",
        p.log()
    );
}

#[test]
fn not_mp4_is_415_with_one_line() {
    let (p, base) = vod_proxy(json!({}));
    assert!(p
        .upload("b1", "x.mp4", random_bytes(100_000, 7))
        .status()
        .is_success());
    let r = vod_get(&p, &base, "/hls/b1/x.mp4/master.m3u8");
    assert_eq!(r.status(), 415);
    let body = r.text().unwrap();
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    assert!(body.contains("not an MP4 file"), "{body}");
    // an ftyp and nothing else: no moov
    let mut ftyp = vec![0, 0, 0, 20];
    ftyp.extend_from_slice(b"ftypisom\0\0\0\0isom");
    assert!(p.upload("b1", "short.mp4", ftyp).status().is_success());
    let r = vod_get(&p, &base, "/hls/b1/short.mp4/v0/index.m3u8");
    assert_eq!(r.status(), 415);
    assert!(r.text().unwrap().contains("MP4 without a moov box"));
    assert_eq!(
        vod_get(&p, &base, "/hls/b1/missing.mp4/master.m3u8").status(),
        404
    );
}

#[test]
fn urlset_master_lists_each_rendition() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = vod_proxy(json!({}));
    for (name, size) in [("360", "320x180"), ("540", "480x270"), ("720", "640x360")] {
        let out = p.dir.path().join(format!("m_{name}.mp4"));
        let st = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc2=size={size}:rate=25"))
            .args(["-t", "4", "-c:v", "libx264", "-g", "50"])
            .arg(&out)
            .status()
            .expect("ffmpeg");
        assert!(st.success());
        let body = std::fs::read(&out).unwrap();
        assert!(p
            .upload("b1", &format!("m_{name}.mp4"), body)
            .status()
            .is_success());
    }
    let r = vod_get(&p, &base, "/hls/b1/m_,360,540,720,.mp4.urlset/master.m3u8");
    assert_eq!(r.status(), 200);
    let text = r.text().unwrap();
    assert_eq!(text.matches("#EXT-X-STREAM-INF:").count(), 3, "{text}");
    for (r, size) in ["320x180", "480x270", "640x360"].iter().enumerate() {
        assert!(text.contains(&format!("RESOLUTION={size}")), "{text}");
        assert!(text.contains(&format!("\nv{r}/index.m3u8\n")), "{text}");
    }
    let seg = vod_get(&p, &base, "/hls/b1/m_,360,540,720,.mp4.urlset/v2/seg-1.m4s");
    assert_eq!(seg.status(), 200);
    let r = vod_get(
        &p,
        &base,
        "/dash/b1/m_,360,540,720,.mp4.urlset/manifest.mpd",
    );
    assert_eq!(r.status(), 200);
    let mpd = r.text().unwrap();
    for (r, size) in ["320x180", "480x270", "640x360"].iter().enumerate() {
        let (w, h) = size.split_once('x').unwrap();
        assert!(
            mpd.contains(&format!("<Representation id=\"v{r}\" bandwidth="))
                && mpd.contains(&format!("width=\"{w}\" height=\"{h}\"")),
            "{mpd}"
        );
    }
    // keyframes every 2 s in each: the renditions are cut alike
    assert!(mpd.contains("segmentAlignment=\"true\""), "{mpd}");
}
