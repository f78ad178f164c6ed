//! One group: a directory, its switches, space accounting and counters.

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::header::Header;
use super::usage::Usage;
use crate::config::LocalGroupConfig;
use crate::encoding::hex;
use crate::storage::{CommandStat, DefragState, GroupId, ReplicaInfo, StorageError};

/// Address reported for replicas of the embedded store.
pub const LOCAL_ADDRESS: &str = "localhost:0:2";

/// Age past which a temp file is an orphan of a dead write.
const STALE_TEMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default)]
pub(super) struct Switches {
    pub(super) size_limit: u64,
    pub(super) read_only: bool,
    pub(super) delay: Duration,
}

impl From<&LocalGroupConfig> for Switches {
    fn from(g: &LocalGroupConfig) -> Self {
        Switches {
            size_limit: g.size_limit,
            read_only: g.read_only,
            delay: Duration::from_millis(g.delay_ms),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Space {
    /// Bytes promised to this process's writes in progress (committed
    /// bytes are shared by every process: [`Usage`]).
    pub(super) reserved: u64,
}

/// Elliptics command names the local store counts.
const COMMANDS: [&str; 4] = ["WRITE", "READ", "LOOKUP", "DEL"];
pub(super) const CMD_WRITE: usize = 0;
pub(super) const CMD_READ: usize = 1;
pub(super) const CMD_LOOKUP: usize = 2;
pub(super) const CMD_DEL: usize = 3;

/// Requests, failures and bytes of each command in [`COMMANDS`].
#[derive(Debug, Default)]
pub(super) struct Counters([[AtomicU64; 3]; 4]);

impl Counters {
    pub(super) fn count<T>(&self, cmd: usize, r: &Result<T, StorageError>, bytes: u64) {
        if super::nowait::gave_up() {
            return; // redone on the blocking pool, counted there
        }
        let c = &self.0[cmd];
        c[0].fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(_) => c[2].fetch_add(bytes, Ordering::Relaxed),
            Err(_) => c[1].fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(super) fn snapshot(&self) -> BTreeMap<String, CommandStat> {
        COMMANDS
            .iter()
            .zip(self.0.iter())
            .map(|(name, c)| {
                let failures = c[1].load(Ordering::Relaxed);
                let stat = CommandStat::counters(
                    c[0].load(Ordering::Relaxed).saturating_sub(failures),
                    failures,
                    c[2].load(Ordering::Relaxed),
                );
                (name.to_string(), stat)
            })
            .collect()
    }
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One group: a directory with its switches and bookkeeping.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) id: GroupId,
    pub(super) data: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) switches: RwLock<Switches>,
    pub(super) space: Mutex<Space>,
    /// Committed bytes and records, shared with other processes.
    pub(super) usage: Usage,
    pub(super) removed_records: AtomicU64,
    pub(super) removed_bytes: AtomicU64,
    pub(super) last_error: AtomicI32,
    pub(super) commands: Counters,
    pub(super) defrag_state: AtomicU32,
    pub(super) defrag_runs: AtomicU64,
    /// Seconds since the epoch when the last defragmentation started / finished.
    pub(super) defrag_started: AtomicU64,
    pub(super) defrag_completed: AtomicU64,
    pub(super) checksum_errors: AtomicU64,
    /// `cas.lock` in the group's directory: compare-and-swap writes hold its
    /// `flock` (other processes on the same directory) and this mutex (other
    /// threads) from the version check to the rename.
    pub(super) cas_lock: Mutex<File>,
}

impl Group {
    pub(super) fn open(root: &Path, cfg: &LocalGroupConfig) -> io::Result<Group> {
        let dir = root.join(format!("group-{}", cfg.group));
        let data = dir.join("data");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&data)?;
        fs::create_dir_all(&tmp)?;
        let cas_lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("cas.lock"))?;
        let usage = Usage::open(&dir.join("usage"), || {
            let (mut used, mut records) = (0, 0);
            for sub in fs::read_dir(&data)? {
                let sub = sub?;
                if !sub.file_type()?.is_dir() {
                    continue;
                }
                for f in fs::read_dir(sub.path())? {
                    let meta = f?.metadata()?;
                    if meta.is_file() {
                        used += meta.len();
                        records += 1;
                    }
                }
            }
            Ok((used, records))
        })?;
        let group = Group {
            id: cfg.group,
            data,
            tmp,
            switches: RwLock::new(cfg.into()),
            space: Mutex::new(Space::default()),
            usage,
            removed_records: AtomicU64::new(0),
            removed_bytes: AtomicU64::new(0),
            last_error: AtomicI32::new(0),
            commands: Counters::default(),
            defrag_state: AtomicU32::new(DefragState::NotStarted.code()),
            defrag_runs: AtomicU64::new(0),
            defrag_started: AtomicU64::new(0),
            defrag_completed: AtomicU64::new(0),
            checksum_errors: AtomicU64::new(0),
            cas_lock: Mutex::new(cas_lock),
        };
        // Leftovers of writes interrupted by a crash are never visible;
        // another live process's writes in flight are not leftovers.
        group.sweep_stale_temp_files();
        Ok(group)
    }

    /// The name of a new temp file: the writing process's id first, so
    /// another process opening the store knows whose it is.
    pub(super) fn temp_name(&self, id: &[u8]) -> PathBuf {
        let pid = std::process::id();
        self.tmp
            .join(format!("{pid}.{}.{:016x}", hex(id), rand::random::<u64>()))
    }

    /// An I/O error of a write: a temp file or directory gone from under
    /// the write is a failed write (EIO), never "no such object".
    pub(super) fn write_err(&self, what: &str, err: &io::Error) -> StorageError {
        if err.kind() == io::ErrorKind::NotFound {
            return self.fail(StorageError::new(
                libc::EIO,
                format!(
                    "group {}: {what}: {err} (removed during the write)",
                    self.id
                ),
            ));
        }
        self.io_err(what, err)
    }

    pub(super) fn switches(&self) -> Switches {
        self.switches.read().clone()
    }

    pub(super) fn space(&self) -> MutexGuard<'_, Space> {
        self.space.lock()
    }

    /// Removes the temp files of writes that provably died: those of a
    /// process that no longer runs (the pid their name starts with), and
    /// any older than [`STALE_TEMP`] (no write lasts that long without
    /// touching its file). A live process's writes in flight are kept.
    pub(super) fn sweep_stale_temp_files(&self) {
        let Ok(dir) = fs::read_dir(&self.tmp) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name();
            let writer_gone = name
                .to_str()
                .and_then(|n| n.split_once('.'))
                .and_then(|(pid, _)| pid.parse::<u32>().ok())
                .is_some_and(|pid| !crate::sys::process_alive(pid));
            let stale = writer_gone
                || entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMP);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Sleeps the configured delay: every operation on the group pays it.
    pub(super) fn delay(&self) {
        let d = self.switches().delay;
        if !d.is_zero() && super::nowait::active() {
            super::nowait::give_up();
        } else if !d.is_zero() {
            std::thread::sleep(d);
        }
    }

    pub(super) fn path_of(&self, id: &[u8; 64]) -> PathBuf {
        let h = hex(id);
        self.data.join(&h[..2]).join(h)
    }

    pub(super) fn fail(&self, e: StorageError) -> StorageError {
        if !super::nowait::gave_up() {
            self.last_error.store(e.errno, Ordering::Relaxed);
        }
        e
    }

    pub(super) fn io_err(&self, what: &str, err: &io::Error) -> StorageError {
        self.fail(StorageError::io(format!("group {}: {what}", self.id), err))
    }

    pub(super) fn replica(&self, path: &Path, id: &[u8; 64], h: &Header) -> ReplicaInfo {
        ReplicaInfo {
            group: self.id,
            backend: self.id,
            address: LOCAL_ADDRESS.to_string(),
            id: hex(id),
            filename: path.display().to_string(),
            offset: h.data_offset(),
            size: h.size,
            mtime: h.mtime,
            csum: h.csum.to_vec(),
        }
    }

    /// Counts a replica whose bytes failed their checksum.
    pub(super) fn corrupt(&self, path: &Path, why: &str) -> StorageError {
        self.checksum_errors.fetch_add(1, Ordering::Relaxed);
        log::error!("group {}: {}: {why}", self.id, path.display());
        self.fail(StorageError::new(
            libc::EILSEQ,
            format!("group {}: {}: {why}", self.id, path.display()),
        ))
    }

    /// Reads the header of an object; `ENOENT` when it does not exist.
    pub(super) fn stat(&self, id: &[u8; 64]) -> Result<(File, PathBuf, Header), StorageError> {
        let path = self.path_of(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::not_found(format!(
                    "group {}: no such object",
                    self.id
                )))
            }
            Err(e) => return Err(self.io_err("open", &e)),
        };
        let header = Header::read(&file).map_err(|e| {
            self.fail(StorageError::new(
                libc::EILSEQ,
                format!("group {}: {}: {e}", self.id, path.display()),
            ))
        })?;
        Ok((file, path, header))
    }
}
