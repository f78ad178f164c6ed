//! Logging through the config: access lines with Backrunner's fields go to
//! `elliptics.log-file` with `log-prefix`, and SIGHUP reopens the file after
//! logrotate moved it away.

use std::time::Duration;

use crate::common;
use crate::common::{wait_for, Proxy, Setup};

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Restarts the proxy with the log settings merged into `elliptics`.
fn with_log_file(p: &mut Proxy, file: &std::path::Path, level: &str, prefix: &str) {
    if let Some(mut c) = p.child.take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p.config_path).unwrap()).unwrap();
    cfg["elliptics"]["log-file"] = file.to_str().unwrap().into();
    cfg["elliptics"]["log-level"] = level.into();
    cfg["elliptics"]["log-prefix"] = prefix.into();
    std::fs::write(&p.config_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    p.spawn();
}

#[test]
fn access_lines_go_to_the_log_file_and_sighup_reopens_it() {
    let mut p = Proxy::start(Setup::default());
    let log = p.dir.path().join("logs/backrunner.log");
    with_log_file(&mut p, &log, "info", "br-test: ");

    let r = p
        .client
        .get(p.url("/ping/"))
        .header("X-Forwarded-For", "192.0.2.10")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(p.get("b1", "no-such-key").status(), 404);
    wait_for("access lines", Duration::from_secs(20), || {
        read(&log).contains("no-such-key")
    });

    let text = read(&log);
    let ping = text
        .lines()
        .find(|l| l.contains("x-fwd: 192.0.2.10"))
        .unwrap_or_else(|| panic!("no ping line in {text}"));
    assert!(ping.starts_with("br-test: "), "{ping}");
    for field in [
        "method: GET",
        "client: 127.0.0.1:",
        "path: /ping/",
        "status: 200",
        "error: -",
    ] {
        assert!(ping.contains(field), "{field:?} missing: {ping}");
    }
    assert!(ping.contains(" ms,"), "{ping}");
    let miss = text.lines().find(|l| l.contains("no-such-key")).unwrap();
    assert!(miss.contains("status: 404"), "{miss}");
    assert!(!miss.ends_with("error: -"), "the error is logged: {miss}");
    assert!(
        !p.log().contains("path: /ping/"),
        "access lines went to stderr too: {}",
        p.log()
    );

    // logrotate: move the file away, SIGHUP, the proxy writes a new file.
    let rotated = p.dir.path().join("logs/backrunner.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    p.signal("HUP");
    wait_for("the reopened log file", Duration::from_secs(20), || {
        log.exists()
    });
    let r = p
        .client
        .get(p.url("/ping/"))
        .header("X-Forwarded-For", "192.0.2.77")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for(
        "the access line in the new file",
        Duration::from_secs(20),
        || read(&log).contains("x-fwd: 192.0.2.77"),
    );
    assert!(!read(&rotated).contains("192.0.2.77"));
    assert!(read(&rotated).contains("192.0.2.10"));
}

#[test]
fn log_level_error_silences_access_lines() {
    let mut p = Proxy::start(Setup::default());
    let log = p.dir.path().join("quiet.log");
    if let Some(mut c) = p.child.take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&p.config_path).unwrap()).unwrap();
    cfg["elliptics"]["log-file"] = log.to_str().unwrap().into();
    cfg["elliptics"]["log-level"] = "error".into();
    std::fs::write(&p.config_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    // The harness sets RUST_LOG=info, which overrides log-level: start without it.
    let child = std::process::Command::new(common::BACKRUNNER)
        .arg("-config")
        .arg(&p.config_path)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    p.child = Some(child);
    wait_for("the proxy", Duration::from_secs(20), || {
        p.client
            .get(p.url("/ping/"))
            .send()
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    });
    assert_eq!(p.get("b1", "missing").status(), 404);
    assert_eq!(p.get_path("/ping/").status(), 200);
    // A 404 is not an error-level event; nothing at info level reaches the file.
    std::thread::sleep(Duration::from_millis(300));
    let text = read(&log);
    assert!(!text.contains("method: GET"), "{text}");
    assert!(log.exists(), "the log file is created at start");
}
