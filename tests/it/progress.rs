//! Progress of the long commands: plain periodic lines when standard error
//! is not a terminal, a bar with rate and time left on one (a pseudo
//! terminal from `script`), and Ctrl-C stopping `bindex -add`,
//! `bindex -check` and `bmeta -upload` with a summary.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Proxy, Setup, BMETA};

const BINDEX: &str = env!("CARGO_BIN_EXE_bindex");

/// Sends SIGINT (a Ctrl-C) to `child` and waits for it to exit, at most
/// 10 s; `what` names it in the failure.
fn interrupt(child: &mut Child, what: &str) -> ExitStatus {
    let started = Instant::now();
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `bmeta -upload` spec of `n` buckets `m0`.. in groups [1, 2], in the
/// proxy's directory.
fn many_buckets(p: &Proxy, n: usize) -> std::path::PathBuf {
    let spec = p.dir.path().join("many.json");
    let buckets: serde_json::Map<String, serde_json::Value> = (0..n)
        .map(|i| (format!("m{i}"), serde_json::json!({"groups": [1, 2]})))
        .collect();
    std::fs::write(&spec, serde_json::json!({ "buckets": buckets }).to_string()).unwrap();
    spec
}

fn keys_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let path = dir.join("keys.txt");
    let text: String = (0..n).map(|i| format!("absent/{i:05}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bindex_add_prints_plain_progress_lines_off_a_terminal() {
    let p = Proxy::start(Setup::default());
    let keys = keys_file(p.dir.path(), 3000);
    let out = Command::new(BINDEX)
        .arg("-config")
        .arg(&p.config_path)
        .args(["-add", "b1", "-progress", "0.01"])
        .stdin(std::fs::File::open(&keys).unwrap())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.ends_with("bucket b1: 0 added, 3000 missing, 0 failed\n"),
        "{stdout}"
    );
    // The total is known from the file: done/total, rate, time left.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("bindex -add b1: "))
        .collect();
    assert!(!lines.is_empty(), "no progress lines: {stderr}");
    for l in &lines {
        assert!(
            l.contains("/3000 keys, ") && l.contains("/s") && l.ends_with("s left"),
            "{l}"
        );
    }
    assert!(
        !stderr.contains("\u{1b}["),
        "no terminal codes off a terminal"
    );
    // -progress 0: no lines.
    let out = Command::new(BINDEX)
        .arg("-config")
        .arg(&p.config_path)
        .args(["-add", "b1", "-progress", "0"])
        .stdin(std::fs::File::open(&keys).unwrap())
        .output()
        .unwrap();
    // (Standard error may hold the Elliptics client's log.)
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("bindex -add b1: "), "{stderr}");
}

#[test]
fn bindex_check_and_bmeta_upload_report_progress() {
    // Shards of at most 4 entries: the check reads about 15 of them and
    // estimates the time left from the shards the root lists.
    let p = Proxy::start(Setup {
        proxy: serde_json::json!({"index-shard-entries": 4}),
        ..Setup::default()
    });
    for i in 0..40 {
        assert_eq!(p.upload("b1", &format!("k{i}"), vec![1; 10]).status(), 200);
    }
    let out = Command::new(BINDEX)
        .arg("-config")
        .arg(&p.config_path)
        .args(["-check", "b1", "-progress", "0.001"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("bindex -check b1: ") && l.contains(" entries, ")),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("bindex -check b1: ")
            && l.contains(" entries, ")
            && l.contains(", part ")
            && l.ends_with("s left")),
        "no time left in the check's lines: {stderr}"
    );

    let spec = many_buckets(&p, 150);
    let out = Command::new(BMETA)
        .arg("-config")
        .arg(&p.config_path)
        .arg("-upload")
        .arg(&spec)
        .args(["-progress", "0.001"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.matches("uploaded bucket m").count(), 150);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("bmeta -upload: ") && l.contains("/150 buckets")),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_stops_bindex_add_with_a_summary() {
    let p = Proxy::start(Setup::default());
    let mut child = Command::new(BINDEX)
        .arg("-config")
        .arg(&p.config_path)
        .args(["-add", "b1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ten keys, then a quiet pipe: bindex waits for more.
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..10 {
        writeln!(stdin, "absent/{i}").unwrap();
    }
    stdin.flush().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "{seen:?}");
        seen.push(line);
    }
    let status = interrupt(&mut child, "bindex");
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert_eq!(
        rest,
        "bucket b1: 0 added, 10 missing, 0 failed; interrupted before the end of the key list\n"
    );
}

#[test]
fn a_terminal_gets_a_bar() {
    if !common::installed("script", "--version") {
        return;
    }
    let p = Proxy::start(Setup::default());
    let keys = keys_file(p.dir.path(), 20_000);
    // `script` gives bindex a pseudo terminal and records what it draws.
    let cmd = format!(
        "{BINDEX} -config {} -add b1 < {} > /dev/null",
        p.config_path.display(),
        keys.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("bindex -add b1"), "{screen}");
    assert!(screen.contains("/20,000 keys"), "{screen}");
    assert!(screen.contains("ETA"), "{screen}");
    assert!(
        screen.contains('\u{1b}'),
        "drawn with terminal codes: {screen}"
    );
}

/// Ctrl-C during `bindex -check`: it stops after the entry in hand, prints
/// the summary of what it checked and exits 130. The check is slowed by
/// 40 ms per store operation (`Proxy::slowed`), so it is still running
/// when the signal comes.
#[test]
fn ctrl_c_stops_bindex_check_with_a_summary() {
    let p = Proxy::start(Setup::default());
    for i in 0..60 {
        assert_eq!(p.upload("b1", &format!("k{i}"), vec![1; 10]).status(), 200);
    }
    let slow = p.slowed(40);
    let mut child = Command::new(BINDEX)
        .arg("-config")
        .arg(&slow)
        .args(["-check", "b1", "-progress", "0.001"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line: the check is under way.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("bindex -check b1: ") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no progress line");
    }
    let status = interrupt(&mut child, "bindex -check");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(130), "{out}");
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("bucket b1: ") && summary.ends_with("; interrupted before the end"),
        "{out}"
    );
    let checked: u64 = summary["bucket b1: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(checked > 0 && checked < 60, "{summary}");
}

/// Ctrl-C during `bmeta -upload` of many buckets: it stops after the bucket
/// in hand, says how many it wrote and exits 130; every bucket it said it
/// uploaded is readable. Slowed as the check above.
#[test]
fn ctrl_c_stops_bmeta_upload_with_a_summary() {
    let p = Proxy::start(Setup::default());
    let spec = many_buckets(&p, 150);
    let slow = p.slowed(40);
    let mut child = Command::new(BMETA)
        .arg("-config")
        .arg(&slow)
        .arg("-upload")
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    assert!(out.read_line(&mut line).unwrap() > 0, "no bucket uploaded");
    assert!(line.starts_with("uploaded bucket m"), "{line}");
    let status = interrupt(&mut child, "bmeta -upload");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let all = format!("{line}{rest}");
    assert_eq!(status.code(), Some(130), "{all}");
    let uploaded: Vec<&str> = all
        .lines()
        .filter_map(|l| l.strip_prefix("uploaded bucket "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let summary = all.lines().last().unwrap_or_default();
    assert_eq!(
        summary,
        format!(
            "interrupted: {} of 150 buckets uploaded, the rest not written",
            uploaded.len()
        ),
        "{all}"
    );
    assert!(uploaded.len() < 150, "{all}");
    let last = uploaded.last().unwrap();
    let out = p.bmeta(&["-bucket", last]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("\"name\": \"{last}\"")));
}
