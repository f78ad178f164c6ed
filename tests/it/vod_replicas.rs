//! VOD reads through the core object path (issue 27): a title whose
//! replica in the bucket's first group is corrupt in the middle of its
//! samples still gives every packet through the master playlist (the
//! store's reader refuses the bad block, the read fails over to the
//! second group), so does one whose two replicas are bad in different
//! blocks (embedded store: each block from where it is good), and one
//! whose first replica is gone.

use serde_json::json;

use std::time::Duration;

use crate::common::{eventually, free_port, installed, Backend, Proxy, Setup};
use crate::hardening::{corrupted, flip_bit, replica};
use crate::vod::{packets, title};

#[test]
fn a_title_plays_through_a_corrupt_then_missing_replica() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let port = free_port();
    let setup = Setup {
        buckets: json!({"buckets": {"r": {"groups": [1, 2]}}}),
        bucket_list: vec!["r".into()],
        proxy: json!({"vod-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    };
    let mut p = Proxy::start(setup);
    let src = title(p.dir.path(), "t.mp4", "13");
    let bytes = std::fs::read(&src).unwrap();
    assert!(p.upload("r", "t.mp4", bytes.clone()).status().is_success());
    let url = format!("http://127.0.0.1:{port}/hls/r/t.mp4/master.m3u8");
    let src = src.to_str().unwrap();
    let (want_v, want_a) = (packets(src, "0:v"), packets(src, "0:a"));
    // Every video and audio packet through the master playlist, as in the file.
    let plays = |what: &str| {
        assert_eq!(packets(&url, "0:v"), want_v, "video {what}");
        assert_eq!(packets(&url, "0:a"), want_a, "audio {what}");
    };
    // Read order follows write costs, and the first parse stores the
    // title's index in the background (a write): until a proxy finds the
    // index in the cluster, restart, so the one that reads the title below
    // has written nothing and tries the bucket's groups in order, 1 first.
    let vod = |p: &Proxy| p.json("/proxy_stat/")["VOD"]["IndexClusterHits"].clone();
    let mut from_cluster = false;
    for _ in 0..50 {
        p.restart();
        assert_eq!(p.client.get(&url).send().unwrap().status(), 200);
        if vod(&p) == 1 {
            from_cluster = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(from_cluster, "the title's index never reached the cluster");
    // Group 1's samples bad in the middle and three quarters in (the moov
    // is at the end): every read meets them and takes those blocks from
    // group 2.
    let (f1, o1) = replica(&p, "r", "t.mp4", 1);
    let size = bytes.len() as u64;
    flip_bit(&f1, o1, size / 2);
    flip_bit(&f1, o1, size * 3 / 4);
    plays("through a corrupt replica");
    assert!(
        eventually(Duration::from_secs(10), || corrupted(&p, "r", 1) >= 1),
        "group 1's bad blocks were never read: {}",
        p.json("/stat/r")
    );
    if crate::common::backend() == Backend::Local {
        // Group 2 bad too, in the block after group 1's first bad one: a
        // sample read across both takes each block where it is good (it
        // failed in both replicas before).
        const BLOCK: u64 = 64 << 10;
        let next = (size / 2 / BLOCK + 1) * BLOCK;
        assert_ne!(
            next / BLOCK,
            size * 3 / 4 / BLOCK,
            "a block good in one replica"
        );
        let (f2, o2) = replica(&p, "r", "t.mp4", 2);
        flip_bit(&f2, o2, next + 100);
        plays("through two replicas bad in different blocks");
        // Group 2 good again.
        flip_bit(&f2, o2, next + 100);
        // The embedded store keeps a file per replica: group 1's is gone.
        std::fs::remove_file(&f1).unwrap();
        p.restart();
        plays("without group 1's replica");
    }
}
