//! A static root over the proxy's own files (issue 22): Backrunner's btest
//! writes its config, the server's data and the proxy's files inside the
//! directory it names as `proxy.root`, so such a config must start; the
//! static handler then never serves the config, the store, TLS files, the
//! `-buckets` file or the log file, whatever path leads to them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{self, wait_for, Proxy, Setup, BACKRUNNER};
use serde_json::{json, Value};

/// What Go's `json.Marshal` makes of Backrunner's config (see compat.rs).
const GO_CONFIG: &str = include_str!("../data/go-marshal-proxy-config.json");

/// The status of a GET of `path` sent byte for byte (no client-side
/// normalisation of `..` or `%2e`).
fn raw_status(port: u16, path: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    s.read_to_end(&mut head).unwrap();
    let text = String::from_utf8_lossy(&head);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {path}: {text}"))
}

#[test]
fn a_btest_shaped_config_starts_and_serves_none_of_its_secrets() {
    let mut p = Proxy::prepare(Setup::default());
    let dir = p.dir.path().canonicalize().unwrap();
    let (cert, key) = common::self_signed(&dir);
    let log_file = dir.join("backrunner.log");
    let ours = p.config();
    let mut go: Value = serde_json::from_str(GO_CONFIG).unwrap();
    go["proxy"]["address"] = json!(format!("127.0.0.1:{}", p.port));
    go["proxy"]["root"] = json!(dir);
    go["proxy"]["cert_file"] = json!(cert);
    go["proxy"]["key_file"] = json!(key);
    go["elliptics"]["log-file"] = json!(log_file);
    go["elliptics"]["metadata-groups"] = ours["elliptics"]["metadata-groups"].clone();
    match ours.get("local") {
        Some(local) => go["local"] = local.clone(),
        None => go["elliptics"]["remote"] = ours["elliptics"]["remote"].clone(),
    }
    p.write_config(&go);

    // --check-config warns instead of failing.
    let out = std::process::Command::new(BACKRUNNER)
        .arg("--check-config")
        .arg(&p.config_path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning") && err.contains("the config file"),
        "{err}"
    );

    p.spawn();
    let log = std::fs::read_to_string(&log_file).unwrap();
    let warn: Vec<&str> = log.lines().filter(|l| l.contains("proxy.root")).collect();
    assert_eq!(warn.len(), 1, "one WARN line: {log}");
    for what in ["WARN", "the config file", "the TLS key", "the log file"] {
        assert!(warn[0].contains(what), "{what}: {}", warn[0]);
    }

    // Harmless files are served as before.
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/index.html"), "hello").unwrap();
    assert_eq!(p.get_path("/www/index.html").text().unwrap(), "hello");
    assert_eq!(raw_status(p.port, "/www/index.html"), 200);

    // Backups and rotations of guarded files, links to them.
    std::fs::copy(&p.config_path, dir.join("config.json.bak")).unwrap();
    std::fs::write(dir.join("backrunner.log.1"), "old log").unwrap();
    std::os::unix::fs::symlink(&p.config_path, dir.join("www/conf.json")).unwrap();
    std::os::unix::fs::symlink(dir.join("store"), dir.join("www/store")).unwrap();
    std::fs::hard_link(&key, dir.join("www/innocent.txt")).unwrap();
    let mut refused = vec![
        "/config.json".to_string(),
        "/config.json.bak".into(),
        "/buckets.txt".into(),
        "/backrunner.log".into(),
        "/backrunner.log.1".into(),
        "/key.pem".into(),
        "/cert.pem".into(),
        "/www/conf.json".into(),
        "/www/innocent.txt".into(),
        "/www/../config.json".into(),
        "/www/%2e%2e/config.json".into(),
        "/www/..%2fconfig.json".into(),
        "/./config.json".into(),
        "//config.json".into(),
        "/%63onfig.json".into(),
    ];
    if dir.join("store").is_dir() {
        let mut stored = Vec::new();
        common::files_under(&dir.join("store"), &mut stored);
        assert!(!stored.is_empty(), "the store holds the bucket metadata");
        for f in stored {
            let rel = f.strip_prefix(&dir).unwrap().display().to_string();
            refused.push(format!("/{rel}"));
            refused.push(format!("/www/{rel}"));
        }
    }
    for path in &refused {
        assert_eq!(raw_status(p.port, path), 404, "{path}");
    }
    // The proxy still serves its API.
    assert_eq!(p.upload("b1", "after", b"x".to_vec()).status(), 200);
}

#[test]
fn a_root_change_over_guarded_paths_is_refused_on_reload() {
    let mut p = Proxy::prepare(Setup::default());
    let dir = p.dir.path().canonicalize().unwrap();
    let mut cfg = p.config();
    // Started over its config: accepted with a warning.
    cfg["proxy"]["root"] = json!(dir);
    p.write_config(&cfg);
    p.spawn();
    assert!(p.log().contains("proxy.root"), "{}", p.log());
    assert_eq!(p.get_path("/config.json").status(), 404);
    let errors = || p.json("/proxy_stat/")["BucketCtlStat"]["ReloadErrors"].clone();
    // SIGHUP moving the root to "/" is refused; the running config stays.
    cfg["proxy"]["root"] = json!("/");
    p.write_config(&cfg);
    p.signal("HUP");
    wait_for(
        "the refused root to be counted",
        Duration::from_secs(10),
        || errors() == 1,
    );
    assert_eq!(p.get_path("/etc/hostname").status(), 404);
    // A safe root is taken, and so is the root it started with.
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello").unwrap();
    cfg["proxy"]["root"] = json!(www);
    p.write_config(&cfg);
    p.signal("HUP");
    wait_for("the safe root", Duration::from_secs(10), || {
        p.get_path("/index.html").status() == 200
    });
    cfg["proxy"]["root"] = json!(dir);
    p.write_config(&cfg);
    p.signal("HUP");
    wait_for("the started root again", Duration::from_secs(10), || {
        p.get_path("/www/index.html").status() == 200
    });
    assert_eq!(errors(), 1);
    assert_eq!(p.get_path("/config.json").status(), 404);
}
