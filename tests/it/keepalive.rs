//! Keep-alive latency: every request on a reused connection is as fast as
//! the first (no Nagle / delayed-ACK stall between the reply's writes).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::*;

/// Highest median a small request on a reused connection may take. The
/// stall this guards against (Nagle against delayed ACK) costs about 40 ms
/// per request, every request; an unstalled one takes under 1 ms on an idle
/// machine and a few ms on a loaded 2-core one (medians of 5.5 ms seen).
pub const STALL_BOUND_MS: f64 = 20.0;

/// Sends one GET on `conn` and reads the whole reply; answers its status and body.
fn get_on(conn: &mut BufReader<TcpStream>, path: &str) -> (u16, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n");
    conn.get_mut().write_all(req.as_bytes()).unwrap();
    let (status, len) = read_head(conn);
    let mut body = vec![0; len];
    conn.read_exact(&mut body).unwrap();
    (status, body)
}

/// Median of the durations, in milliseconds.
fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

/// Times `n` sequential GETs of `path` on one connection.
fn sequential_gets(p: &Proxy, path: &str, want: &[u8], n: usize) -> Vec<Duration> {
    let stream = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = BufReader::new(stream);
    (0..n)
        .map(|i| {
            let t = Instant::now();
            let (status, body) = get_on(&mut conn, path);
            let took = t.elapsed();
            assert_eq!(status, 200, "request {i}");
            assert_eq!(body, want, "request {i}");
            took
        })
        .collect()
}

#[test]
fn sequential_small_gets_on_one_connection_do_not_stall() {
    let p = Proxy::start(Setup::default());
    let body = random_bytes(4096, 7);
    assert_eq!(p.upload("b1", "small", body.clone()).status(), 200);
    let times = sequential_gets(&p, "/get/b1/small", &body, 20);
    let med = median_ms(times.clone());
    assert!(
        med <= STALL_BOUND_MS,
        "median of 20 keep-alive GETs is {med:.1} ms (over {STALL_BOUND_MS} ms): {times:?}"
    );
    // Ranges and a multi-chunk object on the same kind of connection.
    let big = random_bytes(600 * 1024, 8);
    assert_eq!(p.upload("b1", "big", big.clone()).status(), 200);
    let times = sequential_gets(&p, "/get/b1/big", &big, 10);
    let med = median_ms(times.clone());
    assert!(
        med <= 30.0,
        "median of 10 keep-alive GETs of 600 KiB is {med:.1} ms: {times:?}"
    );
}

#[test]
fn sequential_pings_and_errors_on_one_connection_do_not_stall() {
    let p = Proxy::start(Setup::default());
    let stream = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = BufReader::new(stream);
    let mut times = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        let path = if i % 2 == 0 {
            "/ping/"
        } else {
            "/get/b1/missing"
        };
        let (status, _) = get_on(&mut conn, path);
        times.push(t.elapsed());
        assert_eq!(status, if i % 2 == 0 { 200 } else { 404 }, "{path}");
    }
    let med = median_ms(times.clone());
    assert!(med <= STALL_BOUND_MS, "median {med:.1} ms: {times:?}");
}

/// Reads one reply head from `conn`: status and Content-Length.
fn read_head(conn: &mut BufReader<TcpStream>) -> (u16, usize) {
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    // Nothing before the status line: no stray body of an earlier reply.
    assert!(line.starts_with("HTTP/1.1 "), "not a status line: {line:?}");
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut len = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            return (status, len);
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
}

/// Large body chunks go to the socket without a copy into the connection's
/// write buffer (vendor/README.md): pipelined replies of large and small
/// bodies, a HEAD and a range between them, still arrive whole and in
/// order, also to a client that reads slowly (the kernel takes each large
/// chunk in pieces).
#[test]
fn pipelined_large_and_small_replies_arrive_whole_and_in_order() {
    let p = Proxy::start(Setup::default());
    let big = random_bytes(3 * 1024 * 1024 + 17, 21);
    let small = random_bytes(100, 22);
    assert_eq!(p.upload("b1", "big", big.clone()).status(), 200);
    assert_eq!(p.upload("b1", "small", small.clone()).status(), 200);
    for slow in [false, true] {
        let stream = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut conn = BufReader::with_capacity(4096, stream);
        let h = "Host: 127.0.0.1\r\n";
        let reqs = format!(
            "GET /get/b1/big HTTP/1.1\r\n{h}\r\n\
             GET /get/b1/small HTTP/1.1\r\n{h}\r\n\
             HEAD /get/b1/big HTTP/1.1\r\n{h}\r\n\
             GET /get/b1/big HTTP/1.1\r\n{h}Range: bytes=300000-2900000\r\n\r\n\
             GET /get/b1/big HTTP/1.1\r\n{h}\r\n"
        );
        conn.get_mut().write_all(reqs.as_bytes()).unwrap();
        let want: [(u16, &[u8]); 5] = [
            (200, &big),
            (200, &small),
            (200, &[]),
            (206, &big[300000..=2900000]),
            (200, &big),
        ];
        for (i, (status, body)) in want.iter().enumerate() {
            let (got, len) = read_head(&mut conn);
            assert_eq!(got, *status, "reply {i} (slow reader: {slow})");
            let len = if i == 2 {
                assert_eq!(len, big.len(), "HEAD's Content-Length");
                0
            } else {
                len
            };
            assert_eq!(len, body.len(), "reply {i} (slow reader: {slow})");
            let mut got = vec![0; len];
            let mut at = 0;
            while at < len {
                let step = if slow { 7 * 1024 } else { len - at };
                let end = (at + step).min(len);
                conn.read_exact(&mut got[at..end]).unwrap();
                at = end;
                if slow && at % (70 * 1024) < 7 * 1024 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            assert!(
                got == *body,
                "reply {i}: bytes differ (slow reader: {slow})"
            );
        }
    }
}

/// A reply is framed for its own request, not for the last one read: a
/// HEAD answered while the next request already waits gets no body, and a
/// GET after a HEAD gets its body (actix-http framed replies by the last
/// request it had parsed, vendor/README.md).
#[test]
fn pipelined_head_and_get_replies_are_each_framed_for_their_request() {
    let p = Proxy::start(Setup::default());
    let small = random_bytes(100, 23);
    assert_eq!(p.upload("b1", "small", small.clone()).status(), 200);
    let stream = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut conn = BufReader::new(stream);
    let h = "Host: 127.0.0.1\r\n";
    let reqs = format!(
        "HEAD /get/b1/small HTTP/1.1\r\n{h}\r\n\
         GET /get/b1/small HTTP/1.1\r\n{h}\r\n\
         HEAD /ping/ HTTP/1.1\r\n{h}\r\n\
         HEAD /get/b1/small HTTP/1.1\r\n{h}\r\n\
         GET /get/b1/small HTTP/1.1\r\n{h}Connection: close\r\n\r\n"
    );
    conn.get_mut().write_all(reqs.as_bytes()).unwrap();
    for (i, head) in [true, false, true, true, false].into_iter().enumerate() {
        let (status, len) = read_head(&mut conn);
        assert_eq!(status, 200, "reply {i}");
        if i != 2 {
            assert_eq!(len, small.len(), "reply {i}: Content-Length");
        }
        if !head {
            let mut body = vec![0; len];
            conn.read_exact(&mut body).unwrap();
            assert!(body == small, "reply {i}: body differs");
        }
    }
    // The last request asked to close: nothing follows, the connection ends.
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "bytes after the last reply: {rest:?}");
}
