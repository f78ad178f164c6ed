//! Test harness: starts the real `backrunner` binary on loopback with a temp
//! store, writes bucket metadata with the real `bmeta`, and talks HTTP to it.

pub mod chromium;
pub mod shape;

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

/// The size limit tests give a group unless they set one: placement then
/// sees the group's own space, not how full the machine's disk happens to be
/// (without a limit a group is as big as its file system, and a disk under
/// 15% free puts every group past `free-space-ratio-hard`).
pub const TEST_GROUP_LIMIT: u64 = 16 << 30;

impl Group {
    pub fn new(id: u32) -> Group {
        Group {
            id,
            size_limit: TEST_GROUP_LIMIT,
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
    /// The storage node, when the suite runs against Elliptics.
    pub ioserv: Option<Ioserv>,
}

/// First and last port `free_port` hands out: below the kernel's ephemeral
/// range (32768-60999 on Linux), so no outgoing connection of a test or of a
/// storage node can take a port between the check here and the server's bind.
const PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A port no other test of this process has been given and that is free now.
/// Ports are handed out in turn from a per-process starting point, so two
/// tests starting servers at once never race for the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = PORTS.end - PORTS.start;
    let _ = NEXT.compare_exchange(
        0,
        std::process::id() * 97 % span + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = (PORTS.start + NEXT.fetch_add(1, Ordering::SeqCst) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORTS:?}")
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
        Proxy::start_on(setup, backend())
    }

    /// Like `start`, on the given store.
    pub fn start_on(setup: Setup, store: Backend) -> Proxy {
        let mut p = Proxy::prepare_on(setup, store);
        p.spawn();
        p
    }

    /// Writes config, bucket list and metadata without starting the proxy,
    /// so a test can change them first; then call `spawn`.
    pub fn prepare(setup: Setup) -> Proxy {
        Proxy::prepare_on(setup, backend())
    }

    /// Like `prepare`, on the given store (a started `dnet_ioserv` for Elliptics).
    pub fn prepare_on(setup: Setup, store: Backend) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let ioserv = (store == Backend::Elliptics)
            .then(|| Ioserv::start(&dir.path().join("elliptics"), &setup.groups));
        let remotes: Vec<String> = ioserv.iter().map(|io| io.address.clone()).collect();
        Proxy::prepare_in(setup, dir, ioserv, &remotes)
    }

    /// Like `prepare`, on Elliptics nodes already running elsewhere (a
    /// cluster of several `dnet_ioserv`, tests/it/cluster_faults): the
    /// proxy's `elliptics.remote` lists every address of `nodes`.
    pub fn prepare_on_nodes(setup: Setup, nodes: &[&Ioserv]) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let remotes: Vec<String> = nodes.iter().map(|io| io.address.clone()).collect();
        Proxy::prepare_in(setup, dir, None, &remotes)
    }

    /// Writes the files in `dir`: the config (Elliptics with `remotes`
    /// when there are any, else the embedded store), the bucket list and
    /// the bucket metadata.
    fn prepare_in(
        setup: Setup,
        dir: tempfile::TempDir,
        ioserv: Option<Ioserv>,
        remotes: &[String],
    ) -> Proxy {
        let port = free_port();
        let config_path = dir.path().join("config.json");
        let buckets_path = dir.path().join("buckets.txt");
        let spec_path = dir.path().join("buckets.json");
        let mut cfg = config_json(&setup, dir.path(), port);
        if !remotes.is_empty() {
            configure_elliptics(&mut cfg, remotes);
        }
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
        let p = Proxy {
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
            ioserv,
        };
        if let Some(io) = &p.ioserv {
            io.apply_delays(&p.setup.groups);
        }
        p
    }

    /// A second proxy on this one's store (its `local.path`, or the same
    /// `dnet_ioserv`), with its own port and files, and the `proxy` keys of
    /// `extra` over this one's; started.
    pub fn beside(&self, extra: Value) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cfg = self.config();
        cfg["proxy"]["address"] = json!(format!("127.0.0.1:{port}"));
        if let (Some(p), Some(e)) = (cfg["proxy"].as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let config_path = dir.path().join("config.json");
        let buckets_path = dir.path().join("buckets.txt");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        std::fs::copy(&self.buckets_path, &buckets_path).unwrap();
        let mut p = Proxy {
            base: format!("http://127.0.0.1:{port}"),
            port,
            log_path: dir.path().join("proxy.log"),
            config_path,
            buckets_path,
            dir,
            child: None,
            client: self.client.clone(),
            setup: self.setup.clone(),
            ioserv: None,
        };
        p.spawn();
        p
    }

    /// Deletes `key`'s replica in `group` behind the proxy's back: its file
    /// in the embedded store, a remove sent to that group only on Elliptics
    /// (this proxy's own `dnet_ioserv`).
    pub fn remove_replica(&self, bucket: &str, key: &str, group: u32) {
        match &self.ioserv {
            Some(io) => io.remove(bucket, key, group),
            None => {
                let v = self.json(&format!("/lookup/{bucket}/{}", escape(key)));
                let r = v["info"]
                    .as_array()
                    .and_then(|i| i.iter().find(|r| r["group"] == group))
                    .unwrap_or_else(|| panic!("no replica in group {group}: {v}"));
                std::fs::remove_file(r["filename"].as_str().expect("a file name"))
                    .expect("remove the replica's file");
            }
        }
    }

    /// A client of the store behind this proxy, opened from its config as
    /// the proxy opens it (a second process on the embedded store's files,
    /// or another Elliptics client): to see what the proxy stored.
    pub fn store(&self) -> std::sync::Arc<dyn backrunner::storage::Storage> {
        let cfg = backrunner::config::Config::load(&self.config_path).expect("the proxy's config");
        backrunner::storage::open(&cfg).expect("open the proxy's store")
    }

    /// Slows every operation of the store behind this proxy by `ms`: the
    /// Elliptics node's backends by backend control (the proxy's config
    /// is returned as is), or, for the embedded store, a copy of the
    /// config with `delay-ms` on every group, returned for a command to
    /// run with (the running proxy keeps its speed).
    pub fn slowed(&self, ms: u32) -> PathBuf {
        if let Some(io) = &self.ioserv {
            for g in &self.setup.groups {
                io.control(g.id, Control::Delay(ms));
            }
            return self.config_path.clone();
        }
        let mut config = self.config();
        for g in config["local"]["groups"]
            .as_array_mut()
            .expect("local groups")
        {
            g["delay-ms"] = json!(ms);
        }
        let slow = self.dir.path().join("slow.conf");
        std::fs::write(&slow, config.to_string()).unwrap();
        slow
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
        let child = self.child.as_mut().expect("proxy running");
        let mut status = None;
        let exited = eventually(timeout, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        assert!(exited, "proxy did not exit in {timeout:?}");
        self.child = None;
        status.unwrap()
    }

    /// Kills the proxy process and starts it again on the same config and
    /// store (a new process: nothing kept in memory).
    pub fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    /// Kills the binary with SIGKILL (a crash: nothing flushed, no
    /// shutdown) and waits for it; it is not started again.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
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

    /// Waits until every change this proxy logged is merged into the name
    /// index's shards (about a second after the last one; docs/index.md,
    /// "The log"), and answers its index counters.
    pub fn index_merged(&self) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let index = self.json("/proxy_stat/")["index"].clone();
            if index["merged"] == index["logged"] {
                return index;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "logged changes not merged in 20 s: {index}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(io) = self.ioserv.as_mut() {
            io.kill();
        }
    }
}

/// Percent-encodes a key for a URL path the way a Backrunner client must:
/// everything but unreserved characters and `/`; space as `+`; and `+` and
/// `%` twice (`%252B`, `%2525`), since Backrunner decodes the path twice
/// (Go's `URL.Path`, then `url.QueryUnescape`).
pub fn escape(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b'+' | b'%' => out.push_str(&format!("%25{b:02X}")),
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

/// HMAC-SHA512 (lowercase hex) of `text` keyed by `token`, computed with the
/// `openssl` command line tool, independently of the proxy's code.
pub fn hmac_hex(token: &str, text: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha512", "-hmac", token, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `riftv1` signature of a request without query or `x-ell-*` headers,
/// computed independently of the proxy (see [`hmac_hex`]).
pub fn sign(token: &str, method: &str, path: &str) -> String {
    hmac_hex(token, format!("{method}\n{path}\n").as_bytes())
}

/// Polls `check` every 50 ms until it holds or `timeout` passes; answers
/// whether it held. The suite's one polling loop: callers assert on the
/// answer with the state that explains a failure, or use [`wait_for`].
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `check` until it holds; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, check: impl FnMut() -> bool) {
    assert!(eventually(timeout, check), "timed out waiting for {what}");
}

/// Which store the suite runs against: `BACKRUNNER_TEST_BACKEND=elliptics`
/// selects a real `dnet_ioserv` (needs `--features elliptics`), anything
/// else the embedded store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    Elliptics,
}

pub fn backend() -> Backend {
    match std::env::var("BACKRUNNER_TEST_BACKEND").as_deref() {
        Ok("elliptics") => Backend::Elliptics,
        _ => Backend::Local,
    }
}

/// The `dnet_ioserv` binary: `DNET_IOSERV`, else `$ELLIPTICS_PREFIX/bin`,
/// else `/opt/elliptics/bin`; `None` when it is not installed.
pub fn ioserv_binary() -> Option<PathBuf> {
    let p = std::env::var_os("DNET_IOSERV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var("ELLIPTICS_PREFIX").unwrap_or_else(|_| "/opt/elliptics".into()),
            )
            .join("bin/dnet_ioserv")
        });
    p.is_file().then_some(p)
}

/// A `dnet_ioserv` on loopback with one eblob backend per test group
/// (backend id = group id), its monitor on loopback too.
pub struct Ioserv {
    pub dir: PathBuf,
    pub port: u16,
    /// `127.0.0.1:port:2`, as `elliptics.remote` lists it.
    pub address: String,
    pub config_path: PathBuf,
    pub child: Option<Child>,
}

impl Ioserv {
    /// Writes the server config for `groups` under `dir` and starts it. A
    /// port taken between `free_port` and the server's bind (tests run in
    /// parallel) is retried on fresh ports.
    pub fn start(dir: &Path, groups: &[Group]) -> Ioserv {
        let bin = ioserv_binary().expect(
            "BACKRUNNER_TEST_BACKEND=elliptics but dnet_ioserv is not installed (set DNET_IOSERV or ELLIPTICS_PREFIX)",
        );
        assert!(bin.is_file());
        std::fs::create_dir_all(dir).unwrap();
        let mut attempt = 0;
        loop {
            let mut io = Ioserv::configure(dir, groups);
            match io.try_spawn() {
                Ok(()) => return io,
                Err(e) if attempt < 4 && e.contains("Address already in use") => attempt += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn configure(dir: &Path, groups: &[Group]) -> Ioserv {
        let port = free_port();
        let monitor_port = free_port();
        let address = format!("127.0.0.1:{port}:2");
        let backends: Vec<Value> = groups
            .iter()
            .map(|g| {
                let data = dir.join(format!("eblob.{}", g.id));
                let history = dir.join(format!("history.{}", g.id));
                std::fs::create_dir_all(&data).unwrap();
                std::fs::create_dir_all(&history).unwrap();
                json!({
                    "backend_id": g.id, "type": "blob", "group": g.id,
                    "history": history, "data": data.join("data"),
                    "sync": "-1", "blob_flags": "0", "blob_size": "10M",
                    "blob_size_limit": g.size_limit.to_string(),
                    "records_in_blob": "10000", "periodic_timeout": 1,
                    "read_only": g.read_only,
                })
            })
            .collect();
        let cfg = json!({
            "logger": {"level": "error", "root": [{"type": "blocking",
                "formatter": {"type": "string", "pattern": "{timestamp} {severity}: {message}, attrs: [{...}]"},
                "sinks": [{"type": "file", "path": dir.join("ioserv.log"), "flush": 1}]}]},
            "options": {"join": true, "flags": 4, "remote": [], "address": [address],
                "wait_timeout": 10, "check_timeout": 20, "io_thread_num": 4,
                "nonblocking_io_thread_num": 2, "net_thread_num": 2, "stall_count": 3,
                "daemon": false, "auth_cookie": "backrunner-test",
                "monitor": {"port": monitor_port, "address": "127.0.0.1"}},
            "backends": backends,
        });
        let config_path = dir.join("ioserv.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        Ioserv {
            dir: dir.to_path_buf(),
            port,
            address,
            config_path,
            child: None,
        }
    }

    /// Starts the server on its existing config and data; waits until it listens.
    pub fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            panic!("{e}");
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let bin = ioserv_binary().expect("dnet_ioserv");
        let out = std::fs::File::create(self.dir.join("ioserv.stderr")).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.config_path)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start dnet_ioserv");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Err(format!(
                    "dnet_ioserv exited with {st}: {}",
                    std::fs::read_to_string(self.dir.join("ioserv.log")).unwrap_or_default()
                ));
            }
            if Instant::now() >= deadline {
                return Err("dnet_ioserv did not listen".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Whether the server still runs; when it exited, how (and the tail
    /// of its log).
    pub fn exited(&mut self) -> Option<String> {
        let st = self.child.as_mut()?.try_wait().ok()??;
        let log = std::fs::read_to_string(self.dir.join("ioserv.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        Some(format!("{st}; log ends: {:?}", tail))
    }

    /// Restarts a killed server as a supervisor (systemd) would: started,
    /// then watched for `watch`; started again (at most twice) if it died
    /// meanwhile, which `dnet_ioserv` 3.0 now and then does while its
    /// backends initialize.
    pub fn restart(&mut self, watch: Duration) {
        for attempt in 1..=3 {
            self.spawn();
            std::thread::sleep(watch);
            match self.exited() {
                None => return,
                Some(how) => eprintln!("dnet_ioserv died after restart {attempt}: {how}"),
            }
        }
        panic!("dnet_ioserv keeps dying after a restart");
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Gives backends of groups with `delay_ms` their delay through backend control.
    pub fn apply_delays(&self, groups: &[Group]) {
        for g in groups.iter().filter(|g| g.delay_ms > 0) {
            self.control(g.id, Control::Delay(g.delay_ms as u32));
        }
    }

    /// A client of this node: the proxy's own Elliptics wrapper.
    #[cfg(feature = "elliptics")]
    fn store(&self) -> backrunner::storage::elliptics::EllipticsStore {
        let mut cfg = backrunner::config::Config::default();
        cfg.elliptics.remote = vec![self.address.clone()];
        cfg.elliptics.node_config.wait_timeout = 5;
        backrunner::storage::elliptics::EllipticsStore::open(&cfg).expect("connect to dnet_ioserv")
    }

    /// Removes `key` of `namespace` from `group` only, as a client other
    /// than the proxy would (a replica lost behind the proxy's back).
    #[cfg(feature = "elliptics")]
    pub fn remove(&self, namespace: &str, key: &str, group: u32) {
        use backrunner::storage::{Context, Storage};
        let ctx = Context::new(namespace, vec![group]);
        for r in self.store().remove(&ctx, key) {
            r.result.expect("remove the replica");
        }
    }

    /// Writes `data` as `key` of `namespace` in `groups`, as a client
    /// other than the proxy would.
    #[cfg(feature = "elliptics")]
    pub fn write(&self, namespace: &str, key: &str, groups: &[u32], data: &[u8]) {
        use backrunner::storage::{write_small, Context};
        let ctx = Context::new(namespace, groups.to_vec());
        for r in write_small(&self.store(), &ctx, key, data).expect("write") {
            r.result.expect("write the replica");
        }
    }

    #[cfg(not(feature = "elliptics"))]
    pub fn remove(&self, namespace: &str, key: &str, group: u32) {
        panic!("removing {namespace}/{key} from group {group} needs the tests built with --features elliptics");
    }

    #[cfg(not(feature = "elliptics"))]
    pub fn write(&self, namespace: &str, key: &str, groups: &[u32], _data: &[u8]) {
        panic!("writing {namespace}/{key} to groups {groups:?} needs the tests built with --features elliptics");
    }

    /// Backend control on group `group` (backend id = group id here),
    /// through the proxy's own Elliptics wrapper.
    #[cfg(feature = "elliptics")]
    pub fn control(&self, group: u32, op: Control) {
        let store = self.store();
        let res = match op {
            Control::ReadOnly(ro) => store.set_read_only(group, ro),
            Control::Delay(ms) => store.set_delay(group, ms),
            Control::Defrag => {
                use backrunner::storage::Storage;
                store.defragment(group, group).map(|_| ())
            }
        };
        res.expect("backend control");
    }

    #[cfg(not(feature = "elliptics"))]
    pub fn control(&self, group: u32, op: Control) {
        let what = match op {
            Control::ReadOnly(ro) => format!("read-only {ro}"),
            Control::Delay(ms) => format!("delay {ms} ms"),
            Control::Defrag => "defragmentation".to_string(),
        };
        panic!("backend control ({what} on group {group}) needs the tests built with --features elliptics");
    }
}

/// Replaces the `local` section of a proxy config with `elliptics.remote`
/// listing `remotes`, with short timeouts so a dead node is noticed quickly.
pub fn configure_elliptics(cfg: &mut Value, remotes: &[String]) {
    if let Some(o) = cfg.as_object_mut() {
        o.remove("local");
    }
    let e = &mut cfg["elliptics"];
    e["remote"] = json!(remotes);
    e["node-config"] = json!({"io-thread-num": 4, "nonblocking-io-thread-num": 2,
        "net-thread-num": 2, "wait-timeout": 5, "check-timeout": 2, "stall-count": 3});
}

/// Backend control operations the tests use.
#[derive(Clone, Copy, Debug)]
pub enum Control {
    ReadOnly(bool),
    Delay(u32),
    /// Starts eblob's defragmentation (removed records' space given back).
    Defrag,
}

impl Drop for Ioserv {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The host the store reports for its replicas (redirect URLs point there).
pub fn storage_host() -> &'static str {
    match backend() {
        Backend::Local => "localhost",
        Backend::Elliptics => "127.0.0.1",
    }
}

/// A path component that names the data directory of `group`.
pub fn group_dir(group: u32) -> String {
    match backend() {
        Backend::Local => format!("/group-{group}/"),
        Backend::Elliptics => format!("/eblob.{group}/"),
    }
}

/// A self-signed certificate for 127.0.0.1 and its key, written in `dir`.
pub fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// Whether the external tool `what` is here, probed by running `probe`
/// (it must exit 0). When it is not, the test says SKIPPED and which script
/// installs it, and the caller returns; under CI (`CI` set, where
/// ci/install-deps.sh installed everything) a missing tool fails the test.
pub fn tool(what: &str, probe: &[&str]) -> bool {
    let ok = Command::new(probe[0])
        .args(&probe[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        missing(what);
    }
    ok
}

/// Says a test is skipped because `what` is not installed; under CI a
/// missing tool fails the test instead (see [`tool`]).
pub fn missing(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing under CI: ci/install-deps.sh must install it"
    );
    eprintln!("SKIPPED: {what} is not installed (ci/install-deps.sh installs it)");
}

/// Whether `program` runs (`program ARG`, e.g. `--version`); see [`tool`].
pub fn installed(program: &str, arg: &str) -> bool {
    tool(program, &[program, arg])
}

/// Whether python3 can import boto3 (the S3 tests' SDK); see [`tool`].
pub fn boto3() -> bool {
    tool("python3 with boto3", &["python3", "-c", "import boto3"])
}

/// Whether python3 can import boto3 and awscrt (CRC32C, CRC64NVME); see [`tool`].
pub fn awscrt() -> bool {
    tool(
        "python3 with boto3 and awscrt",
        &["python3", "-c", "import awscrt, boto3"],
    )
}

/// Runs aws-cli against `endpoint` as `user`/`secret` with no config or
/// credentials file of the machine's, asserts it succeeded (the proxy log
/// goes into the failure message) and answers its stdout.
pub fn aws_cli(p: &Proxy, endpoint: &str, user: &str, secret: &str, args: &[&str]) -> String {
    let work = p.dir.path();
    let out = Command::new("aws")
        .args(["--endpoint-url", endpoint, "--region", "us-east-1"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", user)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_CONFIG_FILE", work.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            work.join("no-aws-credentials"),
        )
        .output()
        .expect("aws");
    assert!(
        out.status.success(),
        "aws {args:?}: {}{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Every file under `dir`, recursively, appended to `out`.
pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs the boto3 client `tests/s3/NAME` against `endpoint`, asserting it
/// exits 0 and reports `OK ` (the proxy log goes into the failure
/// message); answers its stdout.
pub fn client_script(p: &Proxy, name: &str, endpoint: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(name);
    let out = Command::new("python3")
        .arg(script)
        .arg(endpoint)
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && stdout.contains("OK "),
        "{name} failed:\n{stdout}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    stdout
}
