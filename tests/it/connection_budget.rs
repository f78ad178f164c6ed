//! One connection budget for every listener (issue 25, §2.1): S3
//! connections count against `proxy.max-connections` like REST ones, a
//! flood of unfinished or silent connections on either API never takes the
//! descriptors health checks need, and the proxy serves again once the
//! flood leaves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{free_port, wait_for, Proxy, Setup};
use serde_json::{json, Value};

const CAP: u64 = 8;
/// `connections::HEALTH_RESERVE`.
const RESERVE: u64 = 16;

fn open_connections(p: &Proxy) -> u64 {
    let v: Value = p.json("/proxy_stat/");
    v["BucketCtlStat"]["Connections"].as_u64().unwrap_or(0)
}

/// Sends `request` on a new connection to `port` and reads until the
/// proxy closes or `limit` passes; `None` when it could not connect.
fn exchange(port: u16, request: &[u8], limit: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    let _ = s.write_all(request);
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// `/ping/` on a fresh connection until it is answered 200; how long that took.
fn ping_answered(p: &Proxy, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        let reply = exchange(
            p.port,
            b"GET /ping/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(2),
        );
        if reply.is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn hold(port: u16, n: usize, bytes: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.write_all(bytes).ok()?;
            Some(s)
        })
        .collect()
}

/// The probe: unfinished S3 requests used every descriptor and REST
/// `/ping/` timed out for 30 s. Now S3 holds at most the cap, the rest are
/// shut at accept, and health checks are answered at once.
#[test]
fn unfinished_s3_connections_count_against_the_cap() {
    let s3_port = free_port();
    let p = Proxy::start(Setup {
        proxy: json!({"max-connections": CAP, "s3-address": format!("127.0.0.1:{s3_port}")}),
        ..Setup::default()
    });
    let held = hold(
        s3_port,
        60,
        b"PUT /b1/held HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n",
    );
    wait_for(
        "the held S3 connections to be counted",
        Duration::from_secs(10),
        || open_connections(&p) >= CAP,
    );
    // Connections past the cap were shut as they came, not queued.
    std::thread::sleep(Duration::from_millis(500));
    let open = open_connections(&p);
    assert!(
        open <= CAP + 2,
        "{open} connections open with a cap of {CAP} (60 held on S3)"
    );
    let took = ping_answered(&p, Duration::from_secs(5));
    assert!(took.is_some(), "/ping/ not answered while S3 is flooded");
    // Another S3 client is turned away at once (shut or 503), never left
    // hanging.
    let started = Instant::now();
    let reply = exchange(
        s3_port,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap_or_default();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an S3 client over the cap waited {:?}: {reply:?}",
        started.elapsed()
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 503"),
        "{reply:?}"
    );
    drop(held);
    wait_for(
        "the held connections to close",
        Duration::from_secs(10),
        || open_connections(&p) <= 2,
    );
    // S3 serves again: an anonymous ListBuckets gets its XML refusal.
    let reply = exchange(
        s3_port,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap_or_default();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply:?}");
}

/// Silent REST connections (connected, nothing sent) filled the cap and the
/// reserve, and `/ping/` waited in the listen backlog. Now the reserve
/// sheds connections that send nothing, and connections past it are shut.
#[test]
fn silent_rest_connections_cannot_keep_health_checks_out() {
    let p = Proxy::start(Setup {
        proxy: json!({"max-connections": CAP}),
        ..Setup::default()
    });
    let held = hold(p.port, 80, b"");
    wait_for(
        "the silent connections to be counted",
        Duration::from_secs(10),
        || open_connections(&p) >= CAP,
    );
    let took = ping_answered(&p, Duration::from_secs(10));
    assert!(
        took.is_some(),
        "/ping/ not answered within 10 s behind 80 silent connections"
    );
    let open = open_connections(&p);
    assert!(
        open <= CAP + RESERVE + 1,
        "{open} connections open, more than the cap {CAP} and the reserve {RESERVE}"
    );
    // Requests other than health checks still get their 503 over the cap
    // (the silent connections in the cap itself are not shed).
    let reply = exchange(
        p.port,
        b"GET /get/b1/k HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap_or_default();
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 503"),
        "{reply:?}"
    );
    drop(held);
    wait_for(
        "the silent connections to close",
        Duration::from_secs(10),
        || open_connections(&p) <= 2,
    );
    assert_eq!(p.upload("b1", "k", b"v".to_vec()).status(), 200);
}
