//! A 5 GiB object uploaded by multipart (boto3 `upload_fileobj` of a
//! generated stream, tests/s3/multipart_big_client.py: no file of that
//! size is written), read back through S3 and `/get/` with ranges and in
//! full, deleted; the store's space is checked at each step, so parts left
//! behind after CompleteMultipartUpload, or an object whose space is not
//! given back, fail the test.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{backend, eventually, free_port, Backend, Control, Group, Proxy, Setup};
use serde_json::{json, Value};

const MIB: u64 = 1 << 20;
/// Part size: 80 parts for 5 GiB.
const PART_MIB: u64 = 64;
/// Bytes a store may hold past the object: sidecars, upload lists, the
/// bucket metadata, eblob record headers and footers, the embedded store's
/// block checksums (64 bytes per 64 KiB).
const SLACK: u64 = 32 * MIB;

/// Bytes allocated under `dir` (what `du` counts: eblob files are sparse).
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        total += m.blocks() * 512;
        if m.is_dir() {
            total += du(&e.path());
        }
    }
    total
}

/// Group 1's figures in `/stat/big`: bytes of live records, bytes of
/// removed records not yet reclaimed.
fn group_space(p: &Proxy) -> (u64, u64) {
    let s: Value = p.json("/stat/big");
    let vfs = &s["Buckets"]["big"]["Group"]["1"]["Backends"][0]["Stat"]["VFS"];
    match (
        vfs["BackendUsedSize"].as_u64(),
        vfs["BackendRemovedSize"].as_u64(),
    ) {
        (Some(used), Some(removed)) => (used, removed),
        _ => panic!("no space figures in /stat/big: {s}"),
    }
}

fn client(p: &Proxy, s3: &str, mode: &str, size: u64) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/multipart_big_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args([s3, &p.base, mode, &size.to_string(), &PART_MIB.to_string()])
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "big multipart client ({mode}) failed:\n{stdout}\n{stderr}\nproxy log (tail):\n{}",
        tail(&p.log(), 4000)
    );
    eprint!("{stderr}");
    assert!(
        stdout.lines().last().is_some_and(|l| l.starts_with("OK ")),
        "{stdout}"
    );
    stdout
}

/// Bytes free for this user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("no NUL in a temp path");
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed statvfs the call fills.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    assert_eq!(rc, 0, "statvfs {}", dir.display());
    st.f_bavail as u64 * st.f_frsize as u64
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// `S3_MULTIPART_BIG_MIB` sets the size (default 5120; at least two parts).
#[test]
fn five_gib_multipart_upload_reads_back_and_gives_its_space_back() {
    if !crate::common::boto3() {
        return;
    }
    let size = std::env::var("S3_MULTIPART_BIG_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5120)
        .max(PART_MIB + 1)
        * MIB;
    let s3_port = free_port();
    // One group: the store holds one copy (parts and object, about 10 GiB
    // at the peak for 5 GiB). The group's limit leaves room for both.
    let p = Proxy::start(Setup {
        groups: vec![Group {
            size_limit: 3 * size + (1 << 30),
            ..Group::new(1)
        }],
        metadata_groups: vec![1],
        buckets: json!({"buckets": {"big": {"groups": [1], "acl": [
            {"user": "alice", "token": "alice-secret", "flags": 2}]}}}),
        bucket_list: vec!["big".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{s3_port}")}),
    });
    let s3 = format!("http://127.0.0.1:{s3_port}");
    let dir = p.dir.path().to_path_buf();
    // Parts and object side by side, plus the other tests running beside
    // this one: say so up front rather than fail mid-upload on ENOSPC.
    let need = 2 * size + (4 << 30);
    let free = free_bytes(&dir);
    assert!(
        free >= need,
        "{} has {} MiB free; this test needs {} MiB (set S3_MULTIPART_BIG_MIB lower to try a smaller object)",
        dir.display(),
        free / MIB,
        need / MIB
    );
    let started = Instant::now();
    let disk_before = du(&dir);
    let (used_before, removed_before) = group_space(&p);

    client(&p, &s3, "upload", size);
    let uploaded = started.elapsed();

    // Completion removes the parts (in the background, after its reply):
    // the group's live bytes come down to the object's.
    let mut space = (0, 0);
    let parts_gone = eventually(Duration::from_secs(120), || {
        space = group_space(&p);
        space.0 < used_before + size + SLACK
    });
    assert!(
        parts_gone,
        "parts still stored after completion: {} live bytes (before {used_before}, object {size})",
        space.0
    );
    assert!(
        space.0 >= used_before + size,
        "the object is not stored whole: {space:?}"
    );
    match backend() {
        // Removed files are unlinked at once.
        Backend::Local => {
            let disk = du(&dir);
            assert!(
                disk < disk_before + size + SLACK,
                "the store takes {disk} bytes on disk with the object of {size} (before: {disk_before})"
            );
        }
        // eblob marks the parts removed; defragmentation gives their space back.
        Backend::Elliptics => assert!(
            space.1 >= removed_before + size,
            "the parts are not removed records: {space:?}"
        ),
    }

    client(&p, &s3, "delete", size);
    let live_gone = eventually(Duration::from_secs(60), || {
        space = group_space(&p);
        space.0 < used_before + SLACK
    });
    assert!(live_gone, "the deleted object is still live: {space:?}");
    if backend() == Backend::Elliptics {
        p.ioserv
            .as_ref()
            .expect("dnet_ioserv")
            .control(1, Control::Defrag);
    }
    let mut disk = 0;
    let given_back = eventually(Duration::from_secs(180), || {
        disk = du(&dir);
        disk < disk_before + SLACK
    });
    assert!(
        given_back,
        "the store still takes {disk} bytes on disk after the delete (before: {disk_before})"
    );
    eprintln!(
        "{} MiB multipart on {:?}: upload and reads {:.0} s, all {:.0} s",
        size / MIB,
        backend(),
        uploaded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
