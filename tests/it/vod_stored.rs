//! A title's index kept in the cluster, read by range (issue 27, warm
//! first byte): a restarted proxy serves a segment from the stored
//! index's head and that segment's block, without parsing the `moov` or
//! reading the whole index, byte for byte as before the restart; the
//! whole index then reaches memory in the background, or, when it does
//! not fit the index cache, the head alone stays there.

use std::time::Duration;

use serde_json::json;

use crate::common::{eventually, free_port, installed, Proxy, Setup};
use crate::vod::{extinf, title, vod_get};

/// A proxy with a VOD listener (and `proxy` merged into its config) and
/// a 20-second title stored as `b1/t.mp4`.
struct Stored {
    p: Proxy,
    base: String,
}

impl Stored {
    fn start(proxy: serde_json::Value) -> Stored {
        let port = free_port();
        let mut cfg = json!({"vod-address": format!("127.0.0.1:{port}")});
        for (k, v) in proxy.as_object().into_iter().flatten() {
            cfg[k] = v.clone();
        }
        let p = Proxy::start(Setup {
            proxy: cfg,
            ..Setup::default()
        });
        let file = title(p.dir.path(), "a.mp4", "20");
        assert!(p
            .upload("b1", "t.mp4", std::fs::read(&file).unwrap())
            .status()
            .is_success());
        Stored {
            p,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `path` from the VOD listener: 200 and its body.
    fn get(&self, path: &str) -> bytes::Bytes {
        let r = vod_get(&self.p, &self.base, path);
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().unwrap()
    }

    fn vod(&self) -> serde_json::Value {
        self.p.json("/proxy_stat/")["VOD"].clone()
    }

    /// The video media playlist and the paths of every segment of both
    /// tracks, in playing order.
    fn segments(&self) -> (bytes::Bytes, Vec<String>) {
        let media = self.get("/hls/b1/t.mp4/v0/index.m3u8");
        let n = extinf(std::str::from_utf8(&media).unwrap()).len();
        assert!(n >= 3, "{}", String::from_utf8_lossy(&media));
        let paths = (1..=n)
            .flat_map(|i| {
                [
                    format!("/hls/b1/t.mp4/v0/seg-{i}.m4s"),
                    format!("/hls/b1/t.mp4/a0/seg-{i}.m4s"),
                ]
            })
            .collect();
        (media, paths)
    }
}

#[test]
fn a_restarted_proxy_serves_segments_from_the_stored_index_by_range() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let mut s = Stored::start(json!({}));
    let second = title(s.p.dir.path(), "b.mp4", "11");
    // Every segment of both tracks, parsed once and served from memory.
    let (media, paths) = s.segments();
    let before: Vec<_> = paths.iter().map(|x| s.get(x)).collect();
    assert_eq!(s.vod()["Parses"], 1);
    // The index reaches the cluster in the background: a restarted proxy
    // asked for a segment first reads it there, by range.
    let mut by_range = false;
    for _ in 0..50 {
        s.p.restart();
        let seg = s.get(&paths[2]);
        let v = s.vod();
        if v["Parses"] == 0 {
            assert_eq!(seg, before[2], "segment 2 read by range");
            assert_eq!(v["IndexClusterHits"], 1, "{v}");
            assert_eq!(v["IndexRangeReads"], 1, "{v}");
            by_range = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        by_range,
        "the index never reached the cluster: {}",
        s.p.log()
    );
    for (path, bytes) in paths.iter().zip(&before) {
        assert_eq!(&s.get(path), bytes, "{path} after a restart");
    }
    // Read by range until the whole index, loaded in the background for
    // the next requests, is in memory.
    let v = s.vod();
    assert_eq!(v["IndexRangeReads"], v["IndexClusterHits"], "{v}");
    assert!(
        eventually(Duration::from_secs(10), || s.vod()["IndexCacheEntries"]
            == 1),
        "{}",
        s.vod()
    );
    let hits = s.vod()["IndexMemoryHits"].as_u64().unwrap();
    assert_eq!(s.get("/hls/b1/t.mp4/v0/index.m3u8"), media);
    let v = s.vod();
    assert_eq!(v["IndexMemoryHits"].as_u64(), Some(hits + 1), "{v}");
    assert_eq!(v["Parses"], 0, "{v}");
    assert_eq!(
        v["IndexClusterHits"].as_u64().unwrap() + v["IndexMemoryHits"].as_u64().unwrap(),
        paths.len() as u64 + 2,
        "{v}"
    );
    // A replaced title: its old index in the cluster names the old
    // object, so a restarted proxy parses the new one and never serves a
    // segment cut from the old index.
    assert!(s
        .p
        .upload("b1", "t.mp4", std::fs::read(&second).unwrap())
        .status()
        .is_success());
    s.p.restart();
    s.get("/hls/b1/t.mp4/v0/seg-1.m4s");
    let v = s.vod();
    assert_eq!(
        (v["Parses"].as_u64(), v["IndexClusterHits"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    let media = s.get("/hls/b1/t.mp4/v0/index.m3u8");
    let total: f64 = extinf(std::str::from_utf8(&media).unwrap()).iter().sum();
    assert!(
        (total - 11.0).abs() < 0.1,
        "{}",
        String::from_utf8_lossy(&media)
    );
}

/// With an index cache too small for the title's whole index but not for
/// its head, a restarted proxy serves every segment by range, byte for
/// byte, holding only the head: one entry of a few KiB, never the index.
#[test]
fn a_title_too_big_for_the_index_cache_is_served_by_range_from_its_head() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let mut s = Stored::start(json!({"vod-index-cache-size": 32768}));
    let (_, paths) = s.segments();
    let before: Vec<_> = paths.iter().map(|x| s.get(x)).collect();
    let mut stored = false;
    for _ in 0..50 {
        s.p.restart();
        s.get(&paths[0]);
        if s.vod()["Parses"] == 0 {
            stored = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(stored, "the index never reached the cluster: {}", s.p.log());
    for (path, bytes) in paths.iter().zip(&before) {
        assert_eq!(&s.get(path), bytes, "{path} by range");
    }
    let v = s.vod();
    assert_eq!(v["Parses"], 0, "{v}");
    assert_eq!(v["IndexMemoryHits"], 0, "{v}");
    assert_eq!(
        v["IndexRangeReads"].as_u64(),
        Some(paths.len() as u64 + 1),
        "{v}"
    );
    // What is held is the head alone.
    assert_eq!(v["IndexCacheEntries"], 1, "{v}");
    let held = v["IndexCacheBytes"].as_u64().unwrap();
    assert!(held > 0 && held <= 32768 / 16, "{v}");
}
