//! A title's index kept in the cluster, read by range (issue 27, warm
//! first byte): a restarted proxy serves a segment from the stored
//! index's head and that segment's block, without parsing the `moov` or
//! reading the whole index, byte for byte as before the restart; the
//! whole index then reaches memory in the background.

use std::time::Duration;

use serde_json::json;

use crate::common::{eventually, free_port, installed, Proxy, Setup};
use crate::vod::{extinf, title, vod_get};

#[test]
fn a_restarted_proxy_serves_segments_from_the_stored_index_by_range() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let port = free_port();
    let mut p = Proxy::start(Setup {
        proxy: json!({"vod-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    let base = format!("http://127.0.0.1:{port}");
    let first = title(p.dir.path(), "a.mp4", "20");
    let second = title(p.dir.path(), "b.mp4", "11");
    assert!(p
        .upload("b1", "t.mp4", std::fs::read(&first).unwrap())
        .status()
        .is_success());
    let get = |p: &Proxy, path: &str| {
        let r = vod_get(p, &base, path);
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().unwrap()
    };
    let vod = |p: &Proxy| p.json("/proxy_stat/")["VOD"].clone();
    // Every segment of both tracks, parsed once and served from memory.
    let media = get(&p, "/hls/b1/t.mp4/v0/index.m3u8");
    let n = extinf(std::str::from_utf8(&media).unwrap()).len();
    assert!(n >= 3, "{}", String::from_utf8_lossy(&media));
    let paths: Vec<String> = (1..=n)
        .flat_map(|i| {
            [
                format!("/hls/b1/t.mp4/v0/seg-{i}.m4s"),
                format!("/hls/b1/t.mp4/a0/seg-{i}.m4s"),
            ]
        })
        .collect();
    let before: Vec<_> = paths.iter().map(|x| get(&p, x)).collect();
    assert_eq!(vod(&p)["Parses"], 1);
    // The index reaches the cluster in the background: a restarted proxy
    // asked for a segment first reads it there, by range.
    let mut by_range = false;
    for _ in 0..50 {
        p.restart();
        let seg = get(&p, &paths[2]);
        let v = vod(&p);
        if v["Parses"] == 0 {
            assert_eq!(seg, before[2], "segment 2 read by range");
            assert_eq!(v["IndexClusterHits"], 1, "{v}");
            assert_eq!(v["IndexRangeReads"], 1, "{v}");
            by_range = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(by_range, "the index never reached the cluster: {}", p.log());
    for (path, bytes) in paths.iter().zip(&before) {
        assert_eq!(&get(&p, path), bytes, "{path} after a restart");
    }
    // Read by range until the whole index, loaded in the background for
    // the next requests, is in memory.
    let v = vod(&p);
    assert_eq!(v["IndexRangeReads"], v["IndexClusterHits"], "{v}");
    assert!(
        eventually(Duration::from_secs(10), || vod(&p)["IndexCacheEntries"]
            == 1),
        "{}",
        vod(&p)
    );
    let hits = vod(&p)["IndexMemoryHits"].as_u64().unwrap();
    assert_eq!(get(&p, "/hls/b1/t.mp4/v0/index.m3u8"), media);
    let v = vod(&p);
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
    assert!(p
        .upload("b1", "t.mp4", std::fs::read(&second).unwrap())
        .status()
        .is_success());
    p.restart();
    get(&p, "/hls/b1/t.mp4/v0/seg-1.m4s");
    let v = vod(&p);
    assert_eq!(
        (v["Parses"].as_u64(), v["IndexClusterHits"].as_u64()),
        (Some(1), Some(0)),
        "{v}"
    );
    let media = get(&p, "/hls/b1/t.mp4/v0/index.m3u8");
    let total: f64 = extinf(std::str::from_utf8(&media).unwrap()).iter().sum();
    assert!(
        (total - 11.0).abs() < 0.1,
        "{}",
        String::from_utf8_lossy(&media)
    );
}
