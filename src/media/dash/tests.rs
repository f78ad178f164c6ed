//! The MPD of synthetic titles, read back with an XML parser: its
//! structure, the channel count of stereo AAC, and timelines that cover
//! the same segments as the HLS playlists.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::*;
use crate::media::mp4::Sample;

fn track(kind: Kind, scale: u32, n: usize, dur: u32, gop: usize, shift: i64) -> Track {
    let samples = (0..n)
        .map(|i| Sample {
            offset: i as u64 * 10,
            dts: i as u64 * u64::from(dur),
            size: 1000,
            duration: dur,
            cto: 0,
            sync: i % gop == 0,
        })
        .collect();
    let codec = match kind {
        Kind::Video => Codec::H264 {
            codecs: "avc1.64000d".into(),
            width: 320,
            height: 240,
        },
        Kind::Audio => Codec::Audio {
            codecs: "mp4a.40.2".into(),
            channels: 2,
            rate: 48000,
        },
    };
    Track {
        id: 1,
        kind,
        codec,
        sample_entry: Vec::new(),
        timescale: scale,
        shift,
        samples,
    }
}

/// An element: its name, attributes and path of ancestors.
#[derive(Debug)]
struct El {
    path: String,
    attrs: Vec<(String, String)>,
}

impl El {
    fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Every element of `xml` in document order (the parser refuses
/// malformed XML).
fn elements(xml: &str) -> Vec<El> {
    let mut r = Reader::from_str(xml);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        let (e, empty) = match r.read_event().unwrap() {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        stack.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect();
        out.push(El {
            path: stack.join("/"),
            attrs,
        });
        if empty {
            stack.pop();
        }
    }
    assert!(stack.is_empty(), "{stack:?}");
    out
}

/// The (t, d) of every segment a SegmentTimeline under `rep` names.
fn segments(els: &[El], rep: &str) -> Vec<(i64, u64)> {
    let mut in_rep = false;
    let mut out: Vec<(i64, u64)> = Vec::new();
    for e in els {
        if e.path.ends_with("/Representation") {
            in_rep = e.get("id") == Some(rep);
        }
        if in_rep && e.path.ends_with("/SegmentTimeline/S") {
            let d: u64 = e.get("d").unwrap().parse().unwrap();
            let r: usize = e.get("r").map_or(0, |r| r.parse().unwrap());
            let mut t: i64 = match e.get("t") {
                Some(t) => t.parse().unwrap(),
                None => out.last().map(|&(t, d)| t + d as i64).unwrap(),
            };
            for _ in 0..=r {
                out.push((t, d));
                t += d as i64;
            }
        }
    }
    out
}

#[test]
fn mpd_of_video_and_stereo_aac() {
    // 25 fps with a keyframe every 2 s, 20 s; AAC at 48 kHz with priming
    let v = track(Kind::Video, 12800, 500, 512, 50, 0);
    let a = track(Kind::Audio, 48000, 938, 1024, 1, -1024);
    let m = Movie {
        timescale: 1000,
        tracks: vec![v, a],
    };
    let xml = manifest(&[&m], 6, "?tok=a&b=$1");
    let els = elements(&xml);
    let mpd = &els[0];
    assert_eq!(mpd.path, "MPD");
    assert_eq!(mpd.get("type"), Some("static"));
    assert_eq!(
        mpd.get("profiles"),
        Some("urn:mpeg:dash:profile:isoff-live:2011")
    );
    assert_eq!(mpd.get("mediaPresentationDuration"), Some("PT20.000S"));
    let sets: Vec<&El> = els
        .iter()
        .filter(|e| e.path == "MPD/Period/AdaptationSet")
        .collect();
    assert_eq!(sets.len(), 2, "{xml}");
    assert_eq!(sets[0].get("contentType"), Some("video"));
    assert_eq!(sets[1].get("mimeType"), Some("audio/mp4"));
    let reps: Vec<&El> = els
        .iter()
        .filter(|e| e.path.ends_with("AdaptationSet/Representation"))
        .collect();
    assert_eq!(reps[0].get("id"), Some("v0"));
    assert_eq!(reps[0].get("frameRate"), Some("25"));
    assert_eq!(reps[0].get("width"), Some("320"));
    assert_eq!(reps[1].get("audioSamplingRate"), Some("48000"));
    // stereo AAC is two channels (nginx-vod-module says 1)
    let ch = els
        .iter()
        .find(|e| e.path.ends_with("Representation/AudioChannelConfiguration"))
        .unwrap();
    assert_eq!(ch.get("value"), Some("2"));
    assert_eq!(
        ch.get("schemeIdUri"),
        Some("urn:mpeg:dash:23003:3:audio_channel_configuration:2011")
    );
    // the templates name the HLS segments, the query carried on ($ doubled)
    let tpl: Vec<&El> = els
        .iter()
        .filter(|e| e.path.ends_with("Representation/SegmentTemplate"))
        .collect();
    assert_eq!(tpl[0].get("media"), Some("v0/seg-$Number$.m4s?tok=a&b=$$1"));
    assert_eq!(
        tpl[1].get("initialization"),
        Some("a0/init.mp4?tok=a&b=$$1")
    );
    assert_eq!(tpl[0].get("startNumber"), Some("1"));
    assert_eq!(tpl[0].get("presentationTimeOffset"), Some("128000"));
    assert_eq!(tpl[1].get("presentationTimeOffset"), Some("480000"));
    // video: the cuts at 0, 6, 12, 18 s, contiguous, to the end
    let off = 10 * 12800;
    let vs = segments(&els, "v0");
    assert_eq!(
        vs,
        vec![
            (off, 6 * 12800),
            (off + 6 * 12800, 6 * 12800),
            (off + 12 * 12800, 6 * 12800),
            (off + 18 * 12800, 2 * 12800)
        ]
    );
    // audio: as many segments as the HLS playlist, each starting where
    // the previous ends, at its own sample times (priming before 0)
    let c = cuts(&m, 6);
    let aud = &m.tracks[1];
    let as_ = segments(&els, "a0");
    assert_eq!(as_.len(), 4);
    assert_eq!(as_[0].0, 10 * 48000 - 1024);
    for (n, w) in as_.iter().enumerate() {
        let s = span(aud, &c, n).unwrap();
        assert_eq!(*w, (s.start + 10 * 48000, s.duration));
    }
    for w in as_.windows(2) {
        assert_eq!(w[0].0 + w[0].1 as i64, w[1].0);
    }
}

#[test]
fn urlset_alignment_and_audio_only() {
    let r0 = Movie {
        timescale: 1000,
        tracks: vec![track(Kind::Video, 12800, 250, 512, 50, 0)],
    };
    let r1 = Movie {
        timescale: 1000,
        tracks: vec![track(Kind::Video, 90000, 250, 3600, 50, 0)],
    };
    let xml = manifest(&[&r0, &r1], 6, "");
    let els = elements(&xml);
    let set = els
        .iter()
        .find(|e| e.path == "MPD/Period/AdaptationSet")
        .unwrap();
    assert_eq!(set.get("segmentAlignment"), Some("true"), "{xml}");
    assert_eq!(segments(&els, "v1").len(), 2);
    assert!(!xml.contains("contentType=\"audio\""));
    // keyframes every 2.8 s in the second (cuts at 0, 8.4 s): not aligned
    let r2 = Movie {
        timescale: 1000,
        tracks: vec![track(Kind::Video, 12800, 250, 512, 70, 0)],
    };
    let xml = manifest(&[&r0, &r2], 6, "");
    assert!(xml.contains("segmentAlignment=\"false\""), "{xml}");
    // audio only
    let a = Movie {
        timescale: 1000,
        tracks: vec![track(Kind::Audio, 48000, 470, 1024, 1, 0)],
    };
    let xml = manifest(&[&a], 6, "");
    let els = elements(&xml);
    assert!(!xml.contains("contentType=\"video\""));
    let segs = segments(&els, "a0");
    assert_eq!(segs.len(), 2, "{xml}");
    assert_eq!(segs[0].0 + segs[0].1 as i64, segs[1].0);
}

/// An `ac-3` sample entry (header included) whose `dac3` says 5.1.
fn ac3_entry() -> Vec<u8> {
    let mut payload = vec![0u8; 28];
    payload[7] = 1; // data reference index
    payload[17] = 6; // channel count
    payload[24..28].copy_from_slice(&(48000u32 << 16).to_be_bytes());
    // dac3: fscod 0, bsid 8, bsmod 0, acmod 7, lfeon 1, bit rate code 14
    payload.extend_from_slice(&[0, 0, 0, 11, b'd', b'a', b'c', b'3', 0x10, 0x3D, 0xC0]);
    let mut entry = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    entry.extend_from_slice(b"ac-3");
    entry.extend_from_slice(&payload);
    entry
}

#[test]
fn dolby_audio_gets_dolby_channel_mask_and_sets_their_role() {
    let mut audio = track(Kind::Audio, 48000, 470, 1536, 1, 0);
    audio.codec = Codec::Audio {
        codecs: "ac-3".into(),
        channels: 6,
        rate: 48000,
    };
    audio.sample_entry = ac3_entry();
    let m = Movie {
        timescale: 1000,
        tracks: vec![track(Kind::Video, 12800, 250, 512, 50, 0), audio],
    };
    let xml = manifest(&[&m], 6, "");
    let els = elements(&xml);
    let ch = els
        .iter()
        .find(|e| e.path.ends_with("Representation/AudioChannelConfiguration"))
        .unwrap();
    assert_eq!(
        ch.get("schemeIdUri"),
        Some("tag:dolby.com,2014:dash:audio_channel_configuration:2011"),
        "{xml}"
    );
    assert_eq!(ch.get("value"), Some("F801"));
    let roles: Vec<&El> = els
        .iter()
        .filter(|e| e.path == "MPD/Period/AdaptationSet/Role")
        .collect();
    assert_eq!(roles.len(), 2, "{xml}");
    // each set is labelled, the label before the role (the schema's order)
    assert!(xml.contains("<Label>video</Label>\n      <Role"), "{xml}");
    assert!(xml.contains("<Label>audio</Label>\n      <Role"), "{xml}");
    let labels = els
        .iter()
        .filter(|e| e.path == "MPD/Period/AdaptationSet/Label")
        .count();
    assert_eq!(labels, 2, "{xml}");
    for r in roles {
        assert_eq!(r.get("schemeIdUri"), Some("urn:mpeg:dash:role:2011"));
        assert_eq!(r.get("value"), Some("main"));
    }
}
