//! The mixed load of the cluster-fault tests and what it must find at the
//! end: clients writing, reading and deleting their own keys over REST and
//! S3 through two proxies, each keeping a ledger of what was acknowledged,
//! then a check of every key of every ledger against reads and listings.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::escape;

/// The bucket every client writes.
pub const BUCKET: &str = "faults";
/// Keys each client cycles over (writes, overwrites, deletes).
const KEYS_PER_CLIENT: u64 = 40;
/// One write in this many is a 16 MiB object; the others 1 B to 64 KiB.
const BIG_EVERY: u64 = 25;
const BIG: usize = 16 << 20;
/// Requests smaller than this count in the latency bound (a 16 MiB body
/// takes its transfer time on top, measured apart).
const SMALL: usize = 1 << 20;

/// What a client was last told about a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A write answered 200: these bytes (see [`body`]) must be readable and listed.
    Written { seed: u64, size: usize },
    /// A delete answered 200/204: the key must stay absent.
    Deleted,
    /// A request failed or was cut: the key may hold anything; not judged.
    Unknown,
}

/// Which API a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Rest,
    S3,
}

/// The figures a load run collects.
#[derive(Default, Debug)]
pub struct Figures {
    pub requests: u64,
    /// Failed requests by `METHOD api status` (or `transport`).
    pub errors: BTreeMap<String, u64>,
    /// Worst latency of a request with a body under 1 MiB, and which.
    pub worst_small: (Duration, String),
    /// Worst latency of a 16 MiB request.
    pub worst_big: (Duration, String),
    /// Worst latency of a read under 1 MiB (reads route around a hung
    /// node; writes wait for every group).
    pub worst_read: (Duration, String),
    /// Reads of an acknowledged key that answered other bytes.
    pub mismatches_during: u64,
    /// Reads of an acknowledged delete that answered 200.
    pub resurrected_during: u64,
    /// Reads of an acknowledged write that answered 404.
    pub lost_during: u64,
    /// The first failed reads: key, proxy, status and when they were sent.
    pub failed_reads: Vec<String>,
}

impl Figures {
    fn latency(&mut self, took: Duration, size: usize, what: &str) {
        let slot = if size >= SMALL {
            &mut self.worst_big
        } else {
            &mut self.worst_small
        };
        if took > slot.0 {
            *slot = (took, format!("{what}, sent at {}", started_at(took)));
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Failed requests in all.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The bytes of a write: `seed` and the block number in the first 8 bytes
/// of each 64 KiB block, pseudo-random bytes of `seed` after them, so a
/// block from another object or another offset never matches.
pub fn body(seed: u64, size: usize) -> Vec<u8> {
    const BLOCK: usize = 64 << 10;
    let base = crate::common::random_bytes(BLOCK, seed);
    let mut out = Vec::with_capacity(size);
    let mut n = 0u32;
    while out.len() < size {
        let mut block = base.clone();
        block[..4].copy_from_slice(&(seed as u32).to_le_bytes());
        block[4..8].copy_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&block);
        n += 1;
    }
    out.truncate(size);
    out
}

/// Where the clients send requests: the REST and S3 base URLs of each proxy.
#[derive(Clone)]
pub struct Targets {
    pub rest: Vec<String>,
    pub s3: Vec<String>,
    /// The proxy killed (no more requests go there), or `usize::MAX`.
    pub down: Arc<std::sync::atomic::AtomicUsize>,
}

impl Targets {
    /// Whether proxy `i` still runs.
    pub fn live(&self, i: usize) -> bool {
        self.down.load(Ordering::Relaxed) != i
    }

    /// The URL of `key` through `proxy`; `op` is the REST operation
    /// (`upload`, `get`, `delete`). Keys here are plain ASCII.
    fn url(&self, api: Api, proxy: usize, op: &str, key: &str) -> String {
        match api {
            Api::Rest => format!("{}/{op}/{BUCKET}/{}", self.rest[proxy], escape(key)),
            Api::S3 => format!("{}/{BUCKET}/{key}", self.s3[proxy]),
        }
    }
}

/// One client: its API, its keys and its ledger.
pub struct Client {
    pub id: u64,
    pub api: Api,
    pub ledger: BTreeMap<String, State>,
    pub figures: Figures,
    rng: u64,
}

impl Client {
    pub fn new(id: u64, api: Api) -> Client {
        Client {
            id,
            api,
            ledger: BTreeMap::new(),
            figures: Figures::default(),
            rng: id.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1,
        }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Runs requests until `stop`, alternating the proxies.
    pub fn run(&mut self, targets: &Targets, stop: &AtomicBool) {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let mut turn = 0usize;
        while !stop.load(Ordering::Relaxed) {
            turn += 1;
            let mut proxy = turn % targets.rest.len();
            if !targets.live(proxy) {
                proxy = (proxy + 1) % targets.rest.len();
            }
            let n = self.next() % KEYS_PER_CLIENT;
            let key = format!("c{}-k{n}", self.id);
            let dice = self.next() % 10;
            let state = self.ledger.get(&key).copied();
            match (dice, state) {
                (0..=4, _) | (_, None) => self.write(&http, targets, proxy, &key),
                (5..=7, Some(s)) => self.read(&http, targets, proxy, &key, s),
                (_, Some(State::Written { .. })) => self.delete(&http, targets, proxy, &key),
                (_, Some(s)) => self.read(&http, targets, proxy, &key, s),
            }
        }
    }

    fn write(&mut self, http: &reqwest::blocking::Client, t: &Targets, proxy: usize, key: &str) {
        let seed = self.next() >> 8;
        let size = if self.next() % BIG_EVERY == 0 {
            BIG
        } else {
            1 + (self.next() % (64 << 10)) as usize
        };
        let data = body(seed, size);
        let url = t.url(self.api, proxy, "upload", key);
        let req = match self.api {
            Api::Rest => http.post(url),
            Api::S3 => http.put(url),
        };
        let start = Instant::now();
        let r = req.body(data).send();
        let ok = self.outcome("write", r.map(|r| r.status().as_u16()), start, size);
        self.ledger.insert(
            key.to_string(),
            if ok {
                State::Written { seed, size }
            } else {
                State::Unknown
            },
        );
    }

    fn delete(&mut self, http: &reqwest::blocking::Client, t: &Targets, proxy: usize, key: &str) {
        let url = t.url(self.api, proxy, "delete", key);
        let req = match self.api {
            Api::Rest => http.post(url),
            Api::S3 => http.delete(url),
        };
        let start = Instant::now();
        let ok = self.outcome("delete", req.send().map(|r| r.status().as_u16()), start, 0);
        let s = if ok { State::Deleted } else { State::Unknown };
        self.ledger.insert(key.to_string(), s);
    }

    fn read(
        &mut self,
        http: &reqwest::blocking::Client,
        t: &Targets,
        proxy: usize,
        key: &str,
        state: State,
    ) {
        let url = t.url(self.api, proxy, "get", key);
        let start = Instant::now();
        let r = http.get(url).send().and_then(|r| {
            let status = r.status().as_u16();
            r.bytes().map(|b| (status, b))
        });
        let size = match state {
            State::Written { size, .. } => size,
            _ => 0,
        };
        self.figures.requests += 1;
        let took = start.elapsed();
        let what = format!("GET {:?} {key} ({size} B)", self.api);
        self.figures.latency(took, size, &what);
        if size < SMALL && took > self.figures.worst_read.0 {
            self.figures.worst_read = (took, what.clone());
        }
        match (r, state) {
            (Err(e), _) => {
                self.figures
                    .error(format!("read {:?} transport: {}", self.api, kind(&e)))
            }
            (Ok((200, got)), State::Written { seed, size }) => {
                if got.len() != size || got[..] != body(seed, size)[..] {
                    self.figures.mismatches_during += 1;
                }
            }
            (Ok((404, _)), State::Written { .. }) => self.figures.lost_during += 1,
            (Ok((200, _)), State::Deleted) => self.figures.resurrected_during += 1,
            (Ok((404, _)), State::Deleted) | (Ok((200 | 404, _)), State::Unknown) => {}
            (Ok((status, _)), _) => {
                self.figures.error(format!("read {:?} {status}", self.api));
                if self.figures.failed_reads.len() < 10 {
                    self.figures.failed_reads.push(format!(
                        "{what} via proxy {proxy}: {status}, sent at {}",
                        started_at(took)
                    ));
                }
            }
        }
    }

    /// Counts a write or delete; answers whether it was acknowledged.
    fn outcome(
        &mut self,
        what: &str,
        r: reqwest::Result<u16>,
        start: Instant,
        size: usize,
    ) -> bool {
        self.figures.requests += 1;
        let took = start.elapsed();
        self.figures
            .latency(took, size, &format!("{what} {:?} ({size} B)", self.api));
        match r {
            Ok(200 | 204) => true,
            Ok(status) => {
                self.figures
                    .error(format!("{what} {:?} {status}", self.api));
                false
            }
            Err(e) => {
                self.figures
                    .error(format!("{what} {:?} transport: {}", self.api, kind(&e)));
                false
            }
        }
    }
}

/// When a request that took `took` was sent, as the proxies' log lines
/// write time (UTC `HH:MM:SS.mmm`), to find what it waited for there.
pub fn started_at(took: Duration) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(took)
        .as_millis()
        % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body cut"
    } else {
        "other"
    }
}

/// Runs `clients` (4 REST, 4 S3 unless told otherwise) on threads until
/// `stop` is set; answers them with their ledgers.
pub fn start(
    clients: Vec<Client>,
    targets: Targets,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Client>> {
    clients
        .into_iter()
        .map(|mut c| {
            let (t, stop) = (targets.clone(), stop.clone());
            std::thread::spawn(move || {
                c.run(&t, &stop);
                c
            })
        })
        .collect()
}

/// What the final check found, after the settle time.
#[derive(Debug, Default, Clone)]
pub struct Final {
    pub written: usize,
    pub deleted: usize,
    /// Acknowledged writes that do not read back (404 or error).
    pub unreadable: Vec<String>,
    /// Acknowledged writes that read back other bytes.
    pub mismatched: Vec<String>,
    /// Acknowledged writes missing from the S3 listing.
    pub unlisted: Vec<String>,
    /// Acknowledged deletes that read back (200).
    pub resurrected: Vec<String>,
    /// Acknowledged deletes still listed.
    pub still_listed: Vec<String>,
}

impl Final {
    /// Whether everything holds.
    pub fn clean(&self) -> bool {
        self.unreadable.is_empty()
            && self.mismatched.is_empty()
            && self.unlisted.is_empty()
            && self.resurrected.is_empty()
            && self.still_listed.is_empty()
    }
}

/// Checks every key of `ledger`: acknowledged writes read back byte for
/// byte through both proxies and are listed; acknowledged deletes answer
/// 404 and are not listed. Retries until everything holds or `settle`
/// passes; answers the last check and how long it took to hold.
pub fn verify(
    targets: &Targets,
    ledger: &BTreeMap<String, State>,
    settle: Duration,
) -> (Final, Duration) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let start = Instant::now();
    loop {
        let f = check_once(&http, targets, ledger);
        if f.clean() || start.elapsed() >= settle {
            return (f, start.elapsed());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn check_once(
    http: &reqwest::blocking::Client,
    t: &Targets,
    ledger: &BTreeMap<String, State>,
) -> Final {
    let mut f = Final::default();
    let listed: Vec<Option<std::collections::BTreeSet<String>>> =
        t.s3.iter().map(|s3| list(http, s3)).collect();
    for (key, state) in ledger {
        match *state {
            State::Written { seed, size } => {
                f.written += 1;
                for (i, rest) in t.rest.iter().enumerate().filter(|(i, _)| t.live(*i)) {
                    let url = format!("{rest}/get/{BUCKET}/{}", escape(key));
                    let got = http.get(url).send().and_then(|r| {
                        let s = r.status().as_u16();
                        r.bytes().map(|b| (s, b))
                    });
                    match got {
                        Ok((200, b)) if b.len() == size && b[..] == body(seed, size)[..] => {}
                        Ok((200, _)) => f.mismatched.push(format!("{key} via proxy {i}")),
                        Ok((status, _)) => {
                            f.unreadable.push(format!("{key} via proxy {i}: {status}"))
                        }
                        Err(e) => f.unreadable.push(format!("{key} via proxy {i}: {e}")),
                    }
                }
                for (i, l) in listed.iter().enumerate().filter(|(i, _)| t.live(*i)) {
                    if !l.as_ref().is_some_and(|l| l.contains(key)) {
                        f.unlisted.push(format!("{key} via proxy {i}"));
                    }
                }
            }
            State::Deleted => {
                f.deleted += 1;
                for (i, rest) in t.rest.iter().enumerate().filter(|(i, _)| t.live(*i)) {
                    let url = format!("{rest}/get/{BUCKET}/{}", escape(key));
                    let status = http.get(url).send().map(|r| r.status().as_u16());
                    if !matches!(status, Ok(404)) {
                        f.resurrected
                            .push(format!("{key} via proxy {i}: {status:?}"));
                    }
                }
                for (i, l) in listed.iter().enumerate().filter(|(i, _)| t.live(*i)) {
                    if !l.as_ref().is_some_and(|l| !l.contains(key)) {
                        f.still_listed.push(format!("{key} via proxy {i}"));
                    }
                }
            }
            State::Unknown => {}
        }
    }
    f
}

/// Every key of the bucket by anonymous ListObjectsV2 (the bucket is
/// public-read), page by page; `None` when a page fails.
fn list(http: &reqwest::blocking::Client, s3: &str) -> Option<std::collections::BTreeSet<String>> {
    let mut keys = std::collections::BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{s3}/{BUCKET}?list-type=2&max-keys=1000");
        if let Some(t) = &token {
            url.push_str(&format!("&continuation-token={}", escape(t)));
        }
        let r = http.get(url).send().ok()?;
        if r.status() != 200 {
            return None;
        }
        let doc = r.text().ok()?;
        for k in tags(&doc, "Key") {
            keys.insert(k.to_string());
        }
        match tags(&doc, "NextContinuationToken").first() {
            Some(t) if doc.contains("<IsTruncated>true</IsTruncated>") => {
                token = Some(t.to_string())
            }
            _ => return Some(keys),
        }
    }
}

fn tags<'a>(doc: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}
