//! The holes an outside probe found (issue 25, §2), each test performing
//! the attack against real processes and showing it no longer works while
//! normal use still does. See docs/security.md and docs/reliability.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::common::{self, random_bytes, Backend, Proxy, Setup, BMETA};

/// Opening the embedded store from another process (a second proxy,
/// `bmeta -bucket`, `bindex -check`) used to delete every temp file, so a
/// running upload failed with a misleading 404. Now only provably abandoned
/// temp files go: those of a process that no longer runs.
#[test]
fn opening_the_store_keeps_another_process_uploads_in_flight() {
    if common::backend() != Backend::Local {
        eprintln!("SKIPPED: the embedded store's temp files only (Elliptics has none)");
        return;
    }
    let p = Proxy::start(Setup::default());
    let tmp = p.dir.path().join("store/group-1/tmp");
    // A temp file left by a process that died (pid beyond pid_max).
    let orphan = tmp.join("4294967295.0123456789abcdef.0000000000000001");
    std::fs::write(&orphan, b"leftover").unwrap();

    let body = random_bytes(2 << 20, 77);
    let (first, rest) = body.split_at(1 << 20);
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /upload/b1/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(first).unwrap();
    s.flush().unwrap();
    common::wait_for("the upload's temp file", Duration::from_secs(10), || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .any(|e| e.path() != orphan)
    });

    // Other processes open the same store while the upload runs.
    let out = Command::new(BMETA)
        .arg("-config")
        .arg(&p.config_path)
        .args(["-bucket", "b1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_bindex"))
        .arg("-config")
        .arg(&p.config_path)
        .args(["-check", "b1"])
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!orphan.exists(), "a dead process's temp file is removed");

    s.write_all(rest).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let r = p.get("b1", "inflight");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().unwrap()[..] == body[..]);
}

/// Two proxies on one embedded store each counted the group's size limit
/// against their own tally (40M groups took 60 MiB). The used figure now
/// lives in the store, so both enforce one limit and report one figure.
#[test]
fn two_proxies_on_one_store_share_the_size_limit() {
    if common::backend() != Backend::Local {
        eprintln!(
            "SKIPPED: the embedded store's size limit only (Elliptics' backends count their own)"
        );
        return;
    }
    let limit: u64 = 6 << 20;
    let mut setup = Setup::default();
    for g in &mut setup.groups {
        g.size_limit = limit;
    }
    let a = Proxy::start(setup);
    let b = a.beside(serde_json::json!({}));
    let body = random_bytes(1 << 20, 5);
    let mut stored = 0u64;
    for i in 0..12 {
        let p = if i % 2 == 0 { &a } else { &b };
        let r = p.upload("b1", &format!("fill-{i}"), body.clone());
        match r.status().as_u16() {
            200 => stored += 1,
            // Out of space in both groups of b1: every later write fails too.
            507 | 503 => {}
            s => panic!("upload {i}: {s}: {}", r.text().unwrap_or_default()),
        }
    }
    let used_on_disk = |g: u32| -> u64 {
        let mut files = Vec::new();
        common::files_under(
            &a.dir.path().join(format!("store/group-{g}/data")),
            &mut files,
        );
        files.iter().map(|f| f.metadata().unwrap().len()).sum()
    };
    for g in [1, 2] {
        let on_disk = used_on_disk(g);
        assert!(
            on_disk <= limit,
            "group {g}: {on_disk} bytes above the limit {limit}"
        );
    }
    assert!(
        (4..=6).contains(&stored),
        "{stored} MiB objects stored in 6 MiB groups"
    );
    // Both proxies report the same used bytes: the store's.
    let used = |p: &Proxy| -> Vec<u64> {
        let st = p.json("/stat/");
        let mut v: Vec<u64> = st["Buckets"]["b1"]["Group"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|g| g["Backends"].as_array().unwrap().clone())
            .map(|b| {
                b["Stat"]["VFS"]["BackendUsedSize"]
                    .as_u64()
                    .unwrap_or(u64::MAX)
            })
            .collect();
        v.sort();
        v
    };
    common::wait_for(
        "both proxies' /stat/ to agree",
        Duration::from_secs(10),
        || used(&a) == used(&b),
    );
    let mut want = vec![used_on_disk(1), used_on_disk(2)];
    want.sort();
    assert_eq!(used(&a), want);
}
