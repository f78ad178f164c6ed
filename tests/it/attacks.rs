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
