//! Attacks against a running proxy (issue 13): each test performs one and
//! shows it no longer works while normal use still does. See docs/security.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{hmac_hex, random_bytes, sign, wait_for, Proxy, Setup};
use serde_json::{json, Value};

const ADMIN: &str = "ops-admin";
const ADMIN_TOKEN: &str = "adm1n-t0ken-s3cret";
const REDIRECT_TOKEN: &str = "redir3ct-t0ken-s3cret";

fn admin_setup(extra: Value) -> Setup {
    let mut proxy =
        json!({"admin-user": ADMIN, "admin-token": ADMIN_TOKEN, "redirect-token": REDIRECT_TOKEN});
    for (k, v) in extra.as_object().unwrap() {
        proxy[k] = v.clone();
    }
    Setup {
        proxy,
        ..Setup::default()
    }
}

fn post_config(p: &Proxy, cfg: &Value, auth: Option<String>) -> (u16, String) {
    let mut r = p
        .client
        .post(p.url("/update_local_config/"))
        .body(cfg.to_string());
    if let Some(a) = auth {
        r = r.header("Authorization", a);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn admin_auth() -> Option<String> {
    Some(format!(
        "riftv1 {ADMIN}:{}",
        sign(ADMIN_TOKEN, "POST", "/update_local_config/")
    ))
}

fn test_header(p: &Proxy) -> String {
    p.get_path("/ping/").headers()["x-test-header"]
        .to_str()
        .unwrap()
        .to_string()
}

/// Sends raw bytes on a new connection; returns the stream.
pub(crate) fn raw(p: &Proxy, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// Reads until the peer closes or `limit` passes; returns what came and when
/// the first byte did.
pub(crate) fn read_reply(s: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    read_until(s, None, limit)
}

/// [`read_reply`] that also stops once what came holds `end`.
pub(crate) fn read_until(
    s: &mut TcpStream,
    end: Option<&str>,
    limit: Duration,
) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit
        && !end.is_some_and(|e| String::from_utf8_lossy(&out).contains(e))
    {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                first.get_or_insert(started.elapsed());
                out.extend_from_slice(&buf[..n]);
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), first)
}

#[test]
fn config_update_needs_the_admin_credential() {
    let p = Proxy::start(admin_setup(json!({})));
    let mut cfg = p.config();
    cfg["proxy"]["headers"]["X-Test-Header"] = json!("changed");
    // Unsigned: 403 naming the keys a drop-in user can set.
    let (status, text) = post_config(&p, &cfg, None);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("proxy.admin-user"), "{text}");
    assert!(
        text.contains("proxy.unsigned-config-update-from-loopback"),
        "{text}"
    );
    assert_eq!(text.trim().lines().count(), 1);
    // Another user's signature, or the admin's over another request: 403.
    let other = format!(
        "riftv1 someone:{}",
        sign(ADMIN_TOKEN, "POST", "/update_local_config/")
    );
    assert_eq!(post_config(&p, &cfg, Some(other)).0, 403);
    let wrong = format!("riftv1 {ADMIN}:{}", sign(ADMIN_TOKEN, "POST", "/other/"));
    let (status, text) = post_config(&p, &cfg, Some(wrong));
    assert_eq!(status, 403);
    assert!(text.contains("does not match"), "{text}");
    assert_eq!(test_header(&p), "yes");
    // The admin's signature: accepted, and the reply hides every secret.
    let (status, text) = post_config(&p, &cfg, admin_auth());
    assert_eq!(status, 200, "{text}");
    assert_eq!(test_header(&p), "changed");
    assert!(
        !text.contains(ADMIN_TOKEN) && !text.contains(REDIRECT_TOKEN),
        "{text}"
    );
    // A config copied from /proxy_stat/ ("<hidden>" tokens) keeps the credential.
    let stat = p.json("/proxy_stat/");
    let mut copied = stat["BucketCtlStat"]["ProxyConfig"].clone();
    assert_eq!(copied["proxy"]["admin-token"], "<hidden>");
    copied["proxy"]["headers"]["X-Test-Header"] = json!("copied");
    assert_eq!(post_config(&p, &copied, admin_auth()).0, 200);
    assert_eq!(test_header(&p), "copied");
    assert_eq!(
        post_config(&p, &cfg, admin_auth()).0,
        200,
        "admin still works"
    );
    // Neither token nor signature shows up in replies or the log.
    let sig = sign(ADMIN_TOKEN, "POST", "/update_local_config/");
    let stat = p.get_path("/proxy_stat/").text().unwrap();
    let log = p.log();
    for secret in [ADMIN_TOKEN, REDIRECT_TOKEN, sig.as_str()] {
        assert!(!stat.contains(secret), "/proxy_stat/ shows {secret}");
        assert!(!log.contains(secret), "log shows {secret}");
    }
}

#[test]
fn config_update_cannot_expose_files_or_change_restart_only_keys() {
    let p = Proxy::start(admin_setup(json!({})));
    let store = p.dir.path().join("store");
    let config_dir = p
        .config_path
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Even the admin cannot move the static root over the config file
    // (tokens) or the store (metadata and objects past their ACL).
    let mut roots = vec![
        (json!("/"), "the config file"),
        (json!("/etc/.."), "the config file"),
        (json!(config_dir), "the config file"),
        (json!(p.dir.path()), "the config file"),
    ];
    if !p.config()["local"].is_null() {
        roots.push((json!(store), "local.path"));
        roots.push((json!(store.join("group-1")), "local.path"));
    }
    for (root, want) in roots {
        let mut cfg = p.config();
        cfg["proxy"]["root"] = root.clone();
        let (status, text) = post_config(&p, &cfg, admin_auth());
        assert_eq!(status, 400, "{root}: {text}");
        assert!(text.contains(want), "{root}: {text}");
        let r = p.get_path("/etc/passwd");
        assert_eq!(r.status(), 404, "{root}");
        assert_eq!(p.get_path("/config.json").status(), 404);
    }
    // Keys that need a restart are named and nothing changes.
    let mut cfg = p.config();
    cfg["proxy"]["idle-timeout"] = json!(5);
    cfg["proxy"]["address"] = json!("127.0.0.1:1");
    cfg["proxy"]["headers"]["X-Test-Header"] = json!("changed");
    let (status, text) = post_config(&p, &cfg, admin_auth());
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("proxy.address") && text.contains("proxy.idle-timeout"),
        "{text}"
    );
    assert_eq!(test_header(&p), "yes");
    // A harmless root still works.
    let www = p.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello").unwrap();
    let mut cfg = p.config();
    cfg["proxy"]["root"] = json!(www);
    assert_eq!(post_config(&p, &cfg, admin_auth()).0, 200);
    assert_eq!(p.get_path("/index.html").text().unwrap(), "hello");
    assert_eq!(p.get_path("/etc/passwd").status(), 404);
}

#[test]
fn loopback_open_mode_restores_backrunner_behaviour_for_loopback_only() {
    let p = Proxy::start(Setup {
        proxy: json!({"unsigned-config-update-from-loopback": true}),
        ..Setup::default()
    });
    let mut cfg = p.config();
    cfg["proxy"]["headers"]["X-Test-Header"] = json!("open");
    assert_eq!(post_config(&p, &cfg, None).0, 200);
    assert_eq!(test_header(&p), "open");
    // Through a reverse proxy on the same host the caller is not loopback.
    cfg["proxy"]["headers"]["X-Test-Header"] = json!("forwarded");
    let r = p
        .client
        .post(p.url("/update_local_config/"))
        .header("X-Forwarded-For", "203.0.113.9")
        .body(cfg.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(test_header(&p), "open");
    // Attack: root at / then read /etc/passwd.
    cfg["proxy"]["root"] = json!("/");
    let (status, text) = post_config(&p, &cfg, None);
    assert_eq!(status, 400, "{text}");
    assert_eq!(p.get_path("/etc/passwd").status(), 404);
}

#[test]
fn signature_max_age_requires_a_fresh_signed_signtime() {
    let p = Proxy::start(Setup {
        proxy: json!({"signature-max-age": 60, "admin-user": ADMIN, "admin-token": ADMIN_TOKEN}),
        buckets: json!({"generic": {"acl": [{"user": "w", "token": "wt", "flags": 2}]},
                        "buckets": {"b1": {"groups": [1, 2]}}}),
        bucket_list: vec!["b1".into()],
        ..Setup::default()
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let upload = |signtime: Option<u64>| {
        let path = "/upload/b1/k";
        let mut text = format!("POST\n{path}\n");
        if let Some(t) = signtime {
            text.push_str(&format!("x-ell-signtime:{t}\n"));
        }
        let mut r = p
            .client
            .post(p.url(path))
            .header(
                "Authorization",
                format!("riftv1 w:{}", hmac_hex("wt", text.as_bytes())),
            )
            .body("data");
        if let Some(t) = signtime {
            r = r.header("X-Ell-Signtime", t.to_string());
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, text) = upload(None);
    assert_eq!(status, 403);
    assert!(
        text.contains("X-Ell-Signtime") && text.contains("signature-max-age"),
        "{text}"
    );
    let (status, text) = upload(Some(now - 3600));
    assert_eq!(status, 403, "a replayed old signature: {text}");
    assert_eq!(upload(Some(now)).0, 200);
    // The admin credential is held to it too.
    let cfg = p.config();
    assert_eq!(post_config(&p, &cfg, admin_auth()).0, 403);
    let text = format!("POST\n/update_local_config/\nx-ell-signtime:{now}\n");
    let r = p
        .client
        .post(p.url("/update_local_config/"))
        .header(
            "Authorization",
            format!("riftv1 {ADMIN}:{}", hmac_hex(ADMIN_TOKEN, text.as_bytes())),
        )
        .header("X-Ell-Signtime", now.to_string())
        .body(cfg.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn stalled_small_bodies_get_408_within_the_idle_timeout() {
    let p = Proxy::start(Setup {
        proxy: json!({"idle-timeout": 2, "unsigned-config-update-from-loopback": true}),
        ..Setup::default()
    });
    let mut streams: Vec<(&str, TcpStream)> = [
        "POST /bulk_delete/b1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",
        "POST /update_local_config/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",
        "POST /upload/b1/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{",
    ]
    .into_iter()
    .map(|req| (req, raw(&p, req.as_bytes())))
    .collect();
    for (req, s) in &mut streams {
        let (reply, first) = read_reply(s, Duration::from_secs(10));
        assert!(reply.starts_with("HTTP/1.1 408"), "{req}: {reply:?}");
        assert!(reply.contains("proxy.idle-timeout"), "{reply}");
        assert!(first.unwrap() < Duration::from_secs(6), "{req}: {first:?}");
    }
    assert_eq!(p.get_path("/ping/").status(), 200);
}

#[test]
fn an_upload_below_the_throughput_floor_is_cut() {
    let p = Proxy::start(Setup {
        proxy: json!({"body-min-bytes-per-second": 1000, "body-min-rate-window": 2}),
        ..Setup::default()
    });
    // At full speed the floor changes nothing.
    let body = random_bytes(3 << 20, 7);
    assert_eq!(p.upload("b1", "fast", body.clone()).status(), 200);
    assert_eq!(p.get("b1", "fast").bytes().unwrap()[..], body[..]);
    // 5 bytes per second, each byte well within the idle timeout (30 s).
    let mut s = raw(
        &p,
        b"POST /upload/b1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
    );
    let mut w = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if w.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (reply, first) = read_reply(&mut s, Duration::from_secs(15));
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
    assert!(reply.contains("proxy.body-min-bytes-per-second"), "{reply}");
    let first = first.unwrap();
    assert!(
        first >= Duration::from_millis(1900) && first < Duration::from_secs(6),
        "{first:?}"
    );
    drop(s);
    trickle.join().unwrap();
    assert_eq!(p.get("b1", "slow").status(), 404, "no half upload visible");
}

#[test]
fn the_connection_cap_keeps_health_checks_served() {
    let p = Proxy::start(Setup {
        proxy: json!({"max-connections": 8}),
        ..Setup::default()
    });
    assert_eq!(p.upload("b1", "k", b"v".to_vec()).status(), 200);
    // 8 connections hold their slots with a request head that never ends.
    let held: Vec<TcpStream> = (0..8)
        .map(|_| raw(&p, b"GET /get/b1/k HTTP/1.1\r\nHost: x\r\n"))
        .collect();
    wait_for(
        "the held connections to be counted",
        Duration::from_secs(10),
        || p.json("/proxy_stat/")["BucketCtlStat"]["Connections"].as_u64() >= Some(9),
    );
    assert_eq!(p.json("/proxy_stat/")["BucketCtlStat"]["MaxConnections"], 8);
    // A 9th client gets 503 naming the key, and its connection is closed...
    let mut s = raw(&p, b"GET /get/b1/k HTTP/1.1\r\nHost: x\r\n\r\n");
    let (reply, _) = read_reply(&mut s, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply:?}");
    assert!(reply.contains("proxy.max-connections"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );
    // ...while health checks are still answered.
    assert_eq!(p.get_path("/ping/").status(), 200);
    assert_eq!(p.get_path("/stat/").status(), 200);
    // When the holders leave, everything is served again.
    drop(held);
    wait_for(
        "the held connections to close",
        Duration::from_secs(10),
        || p.json("/proxy_stat/")["BucketCtlStat"]["Connections"].as_u64() <= Some(3),
    );
    assert_eq!(p.get("b1", "k").status(), 200);
}

#[test]
fn proxy_stat_errors_stay_small() {
    let p = Proxy::start(Setup::default());
    let long = "a".repeat(8000);
    for _ in 0..200 {
        let r = p.get_path(&format!("/get/nosuchbucket/{long}?q={long}"));
        assert_eq!(r.status(), 400);
    }
    let stat = p.get_path("/proxy_stat/").text().unwrap();
    assert!(stat.len() < 200 * 1024, "{} bytes", stat.len());
    let v: Value = serde_json::from_str(&stat).unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 128);
    assert!(errors
        .iter()
        .all(|e| e["URL"].as_str().unwrap().len() <= 256));
}

#[test]
fn a_bad_request_after_a_good_one_says_it_closes() {
    let p = Proxy::start(Setup::default());
    let mut s = raw(
        &p,
        b"GET /ping/ HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE \x01\r\n\r\nGET /ping/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let (reply, _) = read_reply(&mut s, Duration::from_secs(10));
    let second = reply
        .match_indices("HTTP/1.1 ")
        .nth(1)
        .map(|(i, _)| &reply[i..])
        .unwrap_or_else(|| panic!("no second reply: {reply:?}"));
    assert!(second.starts_with("HTTP/1.1 400"), "{second:?}");
    let head = &second[..second.find("\r\n\r\n").unwrap_or(second.len())];
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head:?}"
    );
    assert_eq!(
        reply.matches("HTTP/1.1 ").count(),
        2,
        "nothing after the 400"
    );
    // The first request on a connection already said so.
    let mut s = raw(&p, b"GARBAGE \x01\r\n\r\n");
    let (reply, _) = read_reply(&mut s, Duration::from_secs(10));
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:?}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );
}
