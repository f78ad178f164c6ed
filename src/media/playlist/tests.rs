//! Playlists of ffmpeg-made titles, checked for the tags players need.

use super::*;
use crate::media::mp4::tests::h264_aac;
use crate::media::mp4::{locate, parse_moov, LocateError};

fn movie(path: &std::path::Path) -> Movie {
    let data = std::fs::read(path).unwrap();
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

#[test]
fn master_media_and_iframes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(f) = h264_aac(dir.path(), "p.mp4", "13", &[]) else {
        return;
    };
    let m = movie(&f);
    let master = master(&[&m], 6, "");
    assert!(
        master.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n"),
        "{master}"
    );
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\""),
        "{master}"
    );
    assert!(master.contains("CHANNELS=\"2\""), "{master}");
    assert!(
        master.contains("RESOLUTION=320x240,FRAME-RATE=25.000,CODECS=\"avc1.64"),
        "{master}"
    );
    assert!(
        master.contains(",mp4a.40.2\",AUDIO=\"audio\"\nv0/index.m3u8\n"),
        "{master}"
    );
    assert!(master.contains("URI=\"v0/iframes.m3u8\""), "{master}");
    let v = m.track(Kind::Video).unwrap();
    let p = media(&m, v, 6, "?t=1");
    assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{p}");
    assert!(p.contains("#EXT-X-MAP:URI=\"init.mp4?t=1\"\n"), "{p}");
    assert!(p.ends_with("#EXT-X-ENDLIST\n"), "{p}");
    // keyframes every 2 s: cuts at 0, 6, 12 s
    let extinf: Vec<f64> = p
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect();
    assert_eq!(extinf.len(), 3, "{p}");
    assert!((extinf.iter().sum::<f64>() - 13.0).abs() < 0.05, "{p}");
    let target: f64 = p
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(extinf.iter().all(|&d| d.round() <= target), "{p}");
    let a = m.track(Kind::Audio).unwrap();
    let pa = media(&m, a, 6, "");
    assert_eq!(pa.matches("#EXTINF:").count(), 3, "{pa}");
    let i = iframes(&m, v, 6, "");
    assert!(i.contains("#EXT-X-I-FRAMES-ONLY\n"), "{i}");
    assert_eq!(i.matches("#EXT-X-BYTERANGE:").count(), 3, "{i}");
}
