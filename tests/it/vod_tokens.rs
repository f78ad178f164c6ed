//! Private titles (issue 27, docs/vod.md "Title tokens"): players cannot
//! sign riftv1, so a bucket user signs a token for a whole title, expiring,
//! that every playlist carries on into the URLs it lists. ffmpeg plays a
//! private title through the master playlist with only the token; an
//! expired, tampered or foreign token is 403 with one line.

use serde_json::json;

use crate::common::{free_port, hmac_hex, installed, Proxy, Setup};
use crate::vod::{packets, title, vod_get};

const VIEWER: &str = "viewer-secret";

/// A proxy with the VOD listener and `priv`, a bucket only its ACL's
/// users may read: `viewer` with a signature, `up` (writes) by name.
fn private_proxy() -> (Proxy, String) {
    let port = free_port();
    let mut s = Setup {
        proxy: json!({"vod-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    };
    s.buckets["buckets"]["priv"] = json!({"groups": [1, 2], "acl": [
        {"user": "viewer", "token": VIEWER, "flags": 0},
        {"user": "up", "token": "up-secret", "flags": 3}]});
    s.bucket_list.push("priv".into());
    (Proxy::start(s), format!("http://127.0.0.1:{port}"))
}

/// `token=USER:EXPIRES:SIGNATURE` for `title`, signed with `secret` by the
/// `openssl` tool (docs/vod.md shows the same command).
fn token(user: &str, secret: &str, title: &str, expires: u64) -> String {
    let sig = hmac_hex(secret, format!("vod\n{title}\n{expires}\n").as_bytes());
    format!("token={user}:{expires}:{sig}")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_title_token_opens_a_private_title_and_nothing_else() {
    if !installed("ffmpeg", "-version") {
        return;
    }
    let (p, base) = private_proxy();
    let f = title(p.dir.path(), "t.mp4", "7");
    let r = p
        .client
        .post(p.url("/upload/priv/films/t.mp4"))
        .header("Authorization", "riftv1 up:x")
        .body(std::fs::read(&f).unwrap())
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // No token: the bucket's ACL, as /get/.
    let r = vod_get(&p, &base, "/hls/priv/films/t.mp4/master.m3u8");
    assert_eq!(r.status(), 403);
    let text = r.text().unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    let good = token("viewer", VIEWER, "priv/films/t.mp4", now() + 600);
    let master = vod_get(
        &p,
        &base,
        &format!("/hls/priv/films/t.mp4/master.m3u8?{good}"),
    );
    assert_eq!(master.status(), 200);
    let etag = master.headers()["etag"].to_str().unwrap().to_string();
    let text = master.text().unwrap();
    assert!(text.contains(&format!("v0/index.m3u8?{good}")), "{text}");
    // ffmpeg follows the master to the media playlists, init and media
    // segments with nothing but the carried token.
    let url = format!("{base}/hls/priv/films/t.mp4/master.m3u8?{good}");
    let src = f.to_str().unwrap();
    assert_eq!(packets(&url, "0:v"), packets(src, "0:v"));
    assert_eq!(packets(&url, "0:a"), packets(src, "0:a"));
    // The same token opens the title's DASH manifest and segments.
    let mpd = vod_get(
        &p,
        &base,
        &format!("/dash/priv/films/t.mp4/manifest.mpd?{good}"),
    );
    assert_eq!(mpd.status(), 200);
    assert!(mpd.text().unwrap().contains("token=viewer"));
    let seg = vod_get(
        &p,
        &base,
        &format!("/dash/priv/films/t.mp4/v0/seg-1.m4s?{good}"),
    );
    assert_eq!(seg.status(), 200);
    // A playlist's tag names the query it carries: another token, another
    // tag; the same one revalidates.
    let other = token("viewer", VIEWER, "priv/films/t.mp4", now() + 1200);
    let r = vod_get(
        &p,
        &base,
        &format!("/hls/priv/films/t.mp4/master.m3u8?{other}"),
    );
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);
    let r = p
        .client
        .get(format!("{base}/hls/priv/films/t.mp4/master.m3u8?{good}"))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    // Refused, each with one line naming why.
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    for (what, query, why) in [
        (
            "expired",
            token("viewer", VIEWER, "priv/films/t.mp4", now() - 5),
            "expired",
        ),
        ("tampered", tampered, "does not match"),
        (
            "another title",
            token("viewer", VIEWER, "priv/films/u.mp4", now() + 600),
            "does not match",
        ),
        (
            "another secret",
            token("viewer", "guess", "priv/films/t.mp4", now() + 600),
            "does not match",
        ),
        (
            "a stranger",
            token("nobody", VIEWER, "priv/films/t.mp4", now() + 600),
            "not allowed",
        ),
        (
            "malformed",
            "token=viewer".to_string(),
            "USER:EXPIRES:SIGNATURE",
        ),
    ] {
        for path in [
            "/hls/priv/films/t.mp4/master.m3u8",
            "/hls/priv/films/t.mp4/v0/seg-1.m4s",
        ] {
            let r = vod_get(&p, &base, &format!("{path}?{query}"));
            assert_eq!(r.status(), 403, "{what} {path}");
            let text = r.text().unwrap();
            assert!(
                text.contains(why) && text.trim_end().lines().count() == 1,
                "{what}: {text}"
            );
        }
    }
    // A token for one title does not open the bucket's objects on /get/.
    let r = p
        .client
        .get(p.url(&format!("/get/priv/films/t.mp4?{good}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// The VOD listener over HTTPS (`proxy.vod-https-address`, the proxy's
/// certificate): curl verifies the certificate and gets the master with a
/// title token; ffmpeg reads a private title's packets over TLS.
#[test]
fn a_private_title_over_https() {
    if !installed("ffmpeg", "-version") || !installed("curl", "--version") {
        return;
    }
    let (https_port, certs) = (free_port(), tempfile::tempdir().unwrap());
    let (cert, key) = crate::common::self_signed(certs.path());
    let mut s = Setup {
        proxy: json!({
            "vod-https-address": format!("127.0.0.1:{https_port}"),
            "cert_file": cert, "key_file": key}),
        ..Setup::default()
    };
    s.buckets["buckets"]["priv"] = json!({"groups": [1, 2], "acl": [
        {"user": "viewer", "token": VIEWER, "flags": 0},
        {"user": "up", "token": "up-secret", "flags": 3}]});
    s.bucket_list.push("priv".into());
    let p = Proxy::start(s);
    let f = title(p.dir.path(), "t.mp4", "7");
    let r = p
        .client
        .post(p.url("/upload/priv/t.mp4"))
        .header("Authorization", "riftv1 up:x")
        .body(std::fs::read(&f).unwrap())
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let good = token("viewer", VIEWER, "priv/t.mp4", now() + 600);
    let url = format!("https://127.0.0.1:{https_port}/hls/priv/t.mp4/master.m3u8?{good}");
    let (code, text, _) = crate::s3_wire::curl(&["--cacert", cert.to_str().unwrap(), &url]);
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("#EXT-X-STREAM-INF"), "{text}");
    let (code, _, _) = crate::s3_wire::curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        &format!("https://127.0.0.1:{https_port}/hls/priv/t.mp4/master.m3u8"),
    ]);
    assert_eq!(code, 403, "no token over HTTPS either");
    let src = f.to_str().unwrap();
    assert_eq!(packets(&url, "0:v"), packets(src, "0:v"));
}
