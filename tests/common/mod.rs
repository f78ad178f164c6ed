//! Test harness: starts the real `backrunner` binary on loopback with a temp
//! store, writes bucket metadata with the real `bmeta`, and talks HTTP to it.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BACKRUNNER: &str = env!("CARGO_BIN_EXE_backrunner");
pub const BMETA: &str = env!("CARGO_BIN_EXE_bmeta");

/// One group of the embedded store.
#[derive(Clone, Debug)]
pub struct Group {
    pub id: u32,
    pub size_limit: u64,
    pub read_only: bool,
    pub delay_ms: u64,
}

impl Group {
    pub fn new(id: u32) -> Group {
        Group {
            id,
            size_limit: 0,
            read_only: false,
            delay_ms: 0,
        }
    }
}

/// What a test wants running.
#[derive(Clone, Debug)]
pub struct Setup {
    pub groups: Vec<Group>,
    pub metadata_groups: Vec<u32>,
    /// The `bmeta -upload` JSON.
    pub buckets: Value,
    /// Lines of the `-buckets` file.
    pub bucket_list: Vec<String>,
    /// Merged into the `proxy` section.
    pub proxy: Value,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            groups: vec![Group::new(1), Group::new(2), Group::new(3)],
            metadata_groups: vec![1],
            buckets: json!({"buckets": {"b1": {"groups": [1, 2]}, "b2": {"groups": [2, 3]}}}),
            bucket_list: vec!["b1".into(), "b2".into()],
            proxy: json!({}),
        }
    }
}

/// A running proxy with its temp directory; killed on drop.
pub struct Proxy {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub port: u16,
    pub config_path: PathBuf,
    pub buckets_path: PathBuf,
    pub log_path: PathBuf,
    pub child: Option<Child>,
    pub client: reqwest::blocking::Client,
    pub setup: Setup,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn config_json(setup: &Setup, dir: &Path, port: u16) -> Value {
    let groups: Vec<Value> = setup
        .groups
        .iter()
        .map(|g| json!({"group": g.id, "size-limit": g.size_limit, "read-only": g.read_only, "delay-ms": g.delay_ms}))
        .collect();
    let mut proxy = json!({
        "address": format!("127.0.0.1:{port}"),
        "idle-timeout": 30,
        "bucket-update-interval": 30,
        "bucket-stat-update-interval": 1,
        "headers": {"X-Test-Header": "yes"},
    });
    if let (Some(p), Some(extra)) = (proxy.as_object_mut(), setup.proxy.as_object()) {
        for (k, v) in extra {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({
        "elliptics": {"log-file": "/dev/stderr", "log-level": "error", "metadata-groups": setup.metadata_groups},
        "proxy": proxy,
        "local": {"path": dir.join("store"), "groups": groups},
    })
}

impl Proxy {
    /// Writes config, bucket list and metadata, starts the proxy and waits for it.
    pub fn start(setup: Setup) -> Proxy {
        let mut p = Proxy::prepare(setup);
        p.spawn();
        p
    }

    /// Writes config, bucket list and metadata without starting the proxy,
    /// so a test can change them first; then call `spawn`.
    pub fn prepare(setup: Setup) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config_path = dir.path().join("config.json");
        let buckets_path = dir.path().join("buckets.txt");
        let spec_path = dir.path().join("buckets.json");
        let cfg = config_json(&setup, dir.path(), port);
        std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        std::fs::write(&buckets_path, setup.bucket_list.join("\n")).unwrap();
        std::fs::write(&spec_path, serde_json::to_vec(&setup.buckets).unwrap()).unwrap();
        let out = Command::new(BMETA)
            .args(["-config"])
            .arg(&config_path)
            .arg("-upload")
            .arg(&spec_path)
            .output()
            .expect("run bmeta");
        assert!(
            out.status.success(),
            "bmeta failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Proxy {
            base: format!("http://127.0.0.1:{port}"),
            port,
            log_path: dir.path().join("proxy.log"),
            config_path,
            buckets_path,
            dir,
            child: None,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(120))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            setup,
        }
    }

    /// The config file as JSON.
    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.config_path).unwrap()).unwrap()
    }

    /// Replaces the config file.
    pub fn write_config(&self, cfg: &Value) {
        std::fs::write(&self.config_path, serde_json::to_vec_pretty(cfg).unwrap()).unwrap();
    }

    /// Runs `bmeta -config CONFIG ARGS...`.
    pub fn bmeta(&self, args: &[&str]) -> std::process::Output {
        Command::new(BMETA)
            .arg("-config")
            .arg(&self.config_path)
            .args(args)
            .output()
            .expect("run bmeta")
    }

    /// Writes `spec` (the `bmeta -upload` JSON) with the real `bmeta`.
    pub fn upload_buckets(&self, spec: &Value) {
        let path = self.dir.path().join("buckets-update.json");
        std::fs::write(&path, serde_json::to_vec(spec).unwrap()).unwrap();
        let out = self.bmeta(&["-upload", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "bmeta failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits for the proxy to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("proxy running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "proxy did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the binary on the existing config and waits until `/ping/` answers.
    pub fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log_path).unwrap();
        let child = Command::new(BACKRUNNER)
            .arg("-config")
            .arg(&self.config_path)
            .arg("-buckets")
            .arg(&self.buckets_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start backrunner");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.client.get(self.url("/ping/")).send() {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("backrunner exited with {status}: {}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "backrunner did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} failed");
    }

    pub fn upload(&self, bucket: &str, key: &str, body: Vec<u8>) -> reqwest::blocking::Response {
        self.client
            .post(self.url(&format!("/upload/{bucket}/{}", escape(key))))
            .body(body)
            .send()
            .expect("upload")
    }

    pub fn get(&self, bucket: &str, key: &str) -> reqwest::blocking::Response {
        self.client
            .get(self.url(&format!("/get/{bucket}/{}", escape(key))))
            .send()
            .expect("get")
    }

    pub fn get_path(&self, path: &str) -> reqwest::blocking::Response {
        self.client.get(self.url(path)).send().expect("get")
    }

    pub fn json(&self, path: &str) -> Value {
        let r = self.get_path(path);
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().expect("json")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Percent-encodes a key for a URL path the way Backrunner clients do:
/// everything but unreserved characters and `/`; space as `+`.
pub fn escape(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `riftv1` signature computed independently of the proxy, with the
/// `openssl` command line tool (HMAC-SHA512).
pub fn sign(token: &str, method: &str, path: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha512", "-hmac", token, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{method}\n{path}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Polls `check` until it holds; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
