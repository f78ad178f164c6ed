//! The embedded store: each group is a directory on the local disk.
//!
//! Layout of a group directory `PATH/group-N/`:
//! - `data/XX/ID`: one file per object, named by the hex SHA-512 of
//!   (namespace, key), so no key can name a path of its own. The file holds a
//!   header (see [`Header`]), then (format 2) a CRC32C of every 64 KiB block
//!   of the object, then the object's bytes, so a lookup's `offset` is where
//!   the data starts inside `filename`. Every block is checked before it is
//!   served; a block that fails is read from the next group's replica of the
//!   same object at the same offset. Files of format 1 (no block table) are
//!   still read, unverified.
//! - `tmp/`: writes in progress. A write becomes visible by `rename` after
//!   `fsync`, so a crash or a dropped client never leaves half an object.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use openssl::sha::{sha512, Sha512};

use super::{
    defrag_state, pick_error, BackendCommand, BackendStat, CommandStat, Context, DefragOutcome,
    GroupId, GroupResult, ObjectReader, ObjectWriter, ReplicaInfo, Storage, StorageError,
};
use crate::config::{LocalConfig, LocalGroupConfig};
use crate::encoding::hex;

/// Format 1: header and bytes, no block checksums.
const MAGIC_V1: &[u8; 8] = b"BRLOBJ01";
/// Format 2: header, block checksum table, bytes.
const MAGIC_V2: &[u8; 8] = b"BRLOBJ02";
/// Fixed part of a format 1 header: magic, size, mtime (s, ns), csum,
/// namespace and key lengths. Format 2 adds the block size (u32).
const FIXED_HEADER: usize = 8 + 8 + 8 + 4 + 64 + 4 + 4;
/// Bytes covered by one CRC32C in format 2.
pub const BLOCK_SIZE: u32 = 64 * 1024;
/// Block checksums gathered before they are written to the table.
const PENDING_SUMS: usize = 1024;
const COPY_CHUNK: usize = 1 << 20;
/// Age past which a temp file is an orphan of a dead write.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// The on-disk header in front of every object's bytes.
#[derive(Debug, Clone)]
struct Header {
    size: u64,
    mtime: SystemTime,
    csum: [u8; 64],
    namespace: Vec<u8>,
    key: Vec<u8>,
    /// Bytes per checksummed block; 0 for format 1 (no table).
    block_size: u32,
}

fn bad_header(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad object header: {what}"),
    )
}

impl Header {
    /// Bytes of the header itself.
    fn len(&self) -> u64 {
        let fixed = if self.block_size == 0 {
            FIXED_HEADER
        } else {
            FIXED_HEADER + 4
        };
        (fixed + self.namespace.len() + self.key.len()) as u64
    }

    /// Checksummed blocks of an object of `size` bytes.
    fn blocks(&self, size: u64) -> u64 {
        match self.block_size {
            0 => 0,
            bs => size.div_ceil(u64::from(bs)),
        }
    }

    /// Where the block table starts (right after the header).
    fn table_offset(&self) -> u64 {
        self.len()
    }

    /// Where the object's bytes start in a file holding `size` bytes.
    fn data_offset_for(&self, size: u64) -> u64 {
        self.len() + 4 * self.blocks(size)
    }

    fn data_offset(&self) -> u64 {
        self.data_offset_for(self.size)
    }

    /// The whole file's length for an object of `size` bytes; `None` past u64.
    fn file_len_for(&self, size: u64) -> Option<u64> {
        self.blocks(size)
            .checked_mul(4)?
            .checked_add(self.len())?
            .checked_add(size)
    }

    fn encode(&self) -> Vec<u8> {
        let d = self.mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut out = Vec::with_capacity(self.len() as usize);
        out.extend_from_slice(if self.block_size == 0 {
            MAGIC_V1
        } else {
            MAGIC_V2
        });
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&d.as_secs().to_le_bytes());
        out.extend_from_slice(&d.subsec_nanos().to_le_bytes());
        out.extend_from_slice(&self.csum);
        out.extend_from_slice(&(self.namespace.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        if self.block_size != 0 {
            out.extend_from_slice(&self.block_size.to_le_bytes());
        }
        out.extend_from_slice(&self.namespace);
        out.extend_from_slice(&self.key);
        out
    }

    fn read(file: &File) -> io::Result<Header> {
        let mut fixed = [0u8; FIXED_HEADER];
        file.read_exact_at(&mut fixed, 0)?;
        let v2 = match &fixed[..8] {
            m if m == MAGIC_V1 => false,
            m if m == MAGIC_V2 => true,
            _ => return Err(bad_header("unknown magic")),
        };
        let u64_at = |o: usize| u64::from_le_bytes(fixed[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_le_bytes(fixed[o..o + 4].try_into().unwrap_or_default());
        let size = u64_at(8);
        let mtime = super::stored_time(u64_at(16), u64::from(u32_at(24)));
        let mut csum = [0u8; 64];
        csum.copy_from_slice(&fixed[28..92]);
        let ns_len = u32_at(92) as usize;
        let key_len = u32_at(96) as usize;
        if ns_len + key_len > 1 << 20 {
            return Err(bad_header("names too long"));
        }
        let mut names_at = FIXED_HEADER as u64;
        let block_size = if v2 {
            let mut b = [0u8; 4];
            file.read_exact_at(&mut b, names_at)?;
            names_at += 4;
            match u32::from_le_bytes(b) {
                bs @ 512..=0x0100_0000 => bs,
                bs => return Err(bad_header(&format!("block size {bs}"))),
            }
        } else {
            0
        };
        let mut names = vec![0u8; ns_len + key_len];
        file.read_exact_at(&mut names, names_at)?;
        let key = names.split_off(ns_len);
        let h = Header {
            size,
            mtime,
            csum,
            namespace: names,
            key,
            block_size,
        };
        let want = h.file_len_for(size).ok_or_else(|| bad_header("size"))?;
        if file.metadata()?.len() < want {
            return Err(bad_header(&format!("file shorter than its {want} bytes")));
        }
        Ok(h)
    }
}

/// Why a verified read failed.
enum Fault {
    /// A block's bytes do not match its checksum.
    Corrupt(String),
    /// The file could not be read.
    Io(io::Error),
}

/// A stored object: its open file, path and header.
#[derive(Debug)]
struct Stored {
    file: File,
    path: PathBuf,
    header: Header,
}

impl Stored {
    fn read_exact(&self, buf: &mut [u8], at: u64) -> Result<(), Fault> {
        self.file.read_exact_at(buf, at).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Fault::Io(io::Error::other("file ends before the object does"))
            } else {
                Fault::Io(e)
            }
        })
    }

    /// Reads `len` bytes at `offset` of the object (within its size),
    /// checking every block they touch against the block table.
    fn read_verified(&self, offset: u64, len: usize) -> Result<Bytes, Fault> {
        let h = &self.header;
        let data = h.data_offset();
        if h.block_size == 0 || len == 0 {
            let mut buf = BytesMut::zeroed(len);
            self.read_exact(&mut buf, data + offset)?;
            return Ok(buf.freeze());
        }
        let bs = u64::from(h.block_size);
        let end = offset.saturating_add(len as u64).min(h.size);
        let first = offset / bs;
        let last = end.div_ceil(bs);
        let start = first * bs;
        let stop = (last * bs).min(h.size);
        let mut buf = BytesMut::zeroed((stop - start) as usize);
        self.read_exact(&mut buf, data + start)?;
        let mut sums = vec![0u8; ((last - first) * 4) as usize];
        self.read_exact(&mut sums, h.table_offset() + first * 4)?;
        for (i, (block, sum)) in buf.chunks(bs as usize).zip(sums.chunks(4)).enumerate() {
            let want = u32::from_le_bytes(sum.try_into().unwrap_or_default());
            let got = crc32c::crc32c(block);
            if got != want {
                return Err(Fault::Corrupt(format!(
                    "block {} (bytes {}..) fails its checksum",
                    first + i as u64,
                    (first + i as u64) * bs
                )));
            }
        }
        let from = (offset - start) as usize;
        Ok(buf.freeze().slice(from..from + (end - offset) as usize))
    }
}

/// CRC32C of each block of an object as it is written, flushed into the
/// block table a batch at a time (bounded memory whatever the size).
#[derive(Debug)]
struct BlockSums {
    block_size: usize,
    table: u64,
    written: u64,
    pending: Vec<u8>,
    cur: u32,
    fill: usize,
}

impl BlockSums {
    fn new(header: &Header) -> BlockSums {
        BlockSums {
            block_size: header.block_size as usize,
            table: header.table_offset(),
            written: 0,
            pending: Vec::with_capacity(PENDING_SUMS * 4),
            cur: 0,
            fill: 0,
        }
    }

    fn feed(&mut self, file: &File, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = (self.block_size - self.fill).min(data.len());
            self.cur = crc32c::crc32c_append(self.cur, &data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == self.block_size {
                self.push();
            }
        }
        if self.pending.len() >= PENDING_SUMS * 4 {
            self.flush(file)?;
        }
        Ok(())
    }

    fn push(&mut self) {
        self.pending.extend_from_slice(&self.cur.to_le_bytes());
        self.cur = 0;
        self.fill = 0;
    }

    fn flush(&mut self, file: &File) -> io::Result<()> {
        file.write_all_at(&self.pending, self.table + self.written * 4)?;
        self.written += (self.pending.len() / 4) as u64;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last (partial) block's sum; answers the blocks written.
    fn finish(&mut self, file: &File) -> io::Result<u64> {
        if self.fill > 0 {
            self.push();
        }
        self.flush(file)?;
        Ok(self.written)
    }
}

/// The object id: SHA-512 over the namespace's length, the namespace and the key.
pub fn object_id(namespace: &str, key: &str) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(&(namespace.len() as u32).to_le_bytes());
    h.update(namespace.as_bytes());
    h.update(key.as_bytes());
    h.finish()
}

#[derive(Debug, Clone, Default)]
struct Switches {
    size_limit: u64,
    read_only: bool,
    delay: Duration,
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
struct Space {
    /// Bytes of committed object files.
    used: u64,
    /// Bytes promised to writes in progress.
    reserved: u64,
    records: u64,
}

/// Elliptics command names the local store counts.
const COMMANDS: [&str; 4] = ["WRITE", "READ", "LOOKUP", "DEL"];
const CMD_WRITE: usize = 0;
const CMD_READ: usize = 1;
const CMD_LOOKUP: usize = 2;
const CMD_DEL: usize = 3;

/// Requests, failures and bytes of each command in [`COMMANDS`].
#[derive(Debug, Default)]
struct Counters([[AtomicU64; 3]; 4]);

impl Counters {
    fn count<T>(&self, cmd: usize, r: &Result<T, StorageError>, bytes: u64) {
        let c = &self.0[cmd];
        c[0].fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(_) => c[2].fetch_add(bytes, Ordering::Relaxed),
            Err(_) => c[1].fetch_add(1, Ordering::Relaxed),
        };
    }

    fn snapshot(&self) -> BTreeMap<String, CommandStat> {
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One group: a directory with its switches and bookkeeping.
#[derive(Debug)]
struct Group {
    id: GroupId,
    data: PathBuf,
    tmp: PathBuf,
    switches: RwLock<Switches>,
    space: Mutex<Space>,
    removed_records: AtomicU64,
    removed_bytes: AtomicU64,
    last_error: AtomicI32,
    commands: Counters,
    defrag_state: AtomicU32,
    defrag_runs: AtomicU64,
    /// Seconds since the epoch when the last defragmentation started / finished.
    defrag_started: AtomicU64,
    defrag_completed: AtomicU64,
    checksum_errors: AtomicU64,
}

impl Group {
    fn open(root: &Path, cfg: &LocalGroupConfig) -> io::Result<Group> {
        let dir = root.join(format!("group-{}", cfg.group));
        let data = dir.join("data");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&data)?;
        // Leftovers of writes interrupted by a crash are never visible: drop them.
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        let mut space = Space::default();
        for sub in fs::read_dir(&data)? {
            let sub = sub?;
            if !sub.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(sub.path())? {
                let meta = f?.metadata()?;
                if meta.is_file() {
                    space.used += meta.len();
                    space.records += 1;
                }
            }
        }
        Ok(Group {
            id: cfg.group,
            data,
            tmp,
            switches: RwLock::new(cfg.into()),
            space: Mutex::new(space),
            removed_records: AtomicU64::new(0),
            removed_bytes: AtomicU64::new(0),
            last_error: AtomicI32::new(0),
            commands: Counters::default(),
            defrag_state: AtomicU32::new(defrag_state::NOT_STARTED),
            defrag_runs: AtomicU64::new(0),
            defrag_started: AtomicU64::new(0),
            defrag_completed: AtomicU64::new(0),
            checksum_errors: AtomicU64::new(0),
        })
    }

    fn switches(&self) -> Switches {
        self.switches.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn space(&self) -> std::sync::MutexGuard<'_, Space> {
        self.space.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes temp files older than [`STALE_TEMP`]: no write lasts that long
    /// without touching its file, so they belong to writes that died.
    fn sweep_stale_temp_files(&self) {
        let Ok(dir) = fs::read_dir(&self.tmp) else {
            return;
        };
        for entry in dir.flatten() {
            let stale = entry
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
    fn delay(&self) {
        let d = self.switches().delay;
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }

    fn path_of(&self, id: &[u8; 64]) -> PathBuf {
        let h = hex(id);
        self.data.join(&h[..2]).join(h)
    }

    fn fail(&self, e: StorageError) -> StorageError {
        self.last_error.store(e.errno, Ordering::Relaxed);
        e
    }

    fn io_err(&self, what: &str, err: &io::Error) -> StorageError {
        self.fail(StorageError::io(format!("group {}: {what}", self.id), err))
    }

    fn replica(&self, path: &Path, id: &[u8; 64], h: &Header) -> ReplicaInfo {
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
    fn corrupt(&self, path: &Path, why: &str) -> StorageError {
        self.checksum_errors.fetch_add(1, Ordering::Relaxed);
        log::error!("group {}: {}: {why}", self.id, path.display());
        self.fail(StorageError::new(
            libc::EILSEQ,
            format!("group {}: {}: {why}", self.id, path.display()),
        ))
    }

    /// Reads the header of an object; `ENOENT` when it does not exist.
    fn stat(&self, id: &[u8; 64]) -> Result<(File, PathBuf, Header), StorageError> {
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

/// Address reported for replicas of the embedded store.
pub const LOCAL_ADDRESS: &str = "localhost:0:2";

/// The embedded store.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    groups: RwLock<BTreeMap<GroupId, Arc<Group>>>,
}

impl LocalStore {
    /// Opens (creating as needed) the store described by `cfg`.
    pub fn open(cfg: &LocalConfig) -> Result<LocalStore, StorageError> {
        fs::create_dir_all(&cfg.path)
            .map_err(|e| StorageError::io(format!("local store {}", cfg.path.display()), &e))?;
        let store = LocalStore {
            root: cfg.path.clone(),
            groups: RwLock::new(BTreeMap::new()),
        };
        store.reconfigure(Some(cfg))?;
        Ok(store)
    }

    fn group(&self, id: GroupId) -> Result<Arc<Group>, StorageError> {
        self.groups
            .read()
            .ok()
            .and_then(|g| g.get(&id).cloned())
            .ok_or_else(|| StorageError::new(libc::ENXIO, format!("group {id}: no such group")))
    }

    fn per_group<T>(
        &self,
        ctx: &Context,
        mut f: impl FnMut(&Group) -> Result<T, StorageError>,
    ) -> Vec<GroupResult<T>> {
        ctx.groups
            .iter()
            .map(|&g| GroupResult {
                group: g,
                result: self.group(g).and_then(|grp| f(&grp)),
            })
            .collect()
    }

    fn remove_one(&self, g: &Group, id: &[u8; 64]) -> Result<(), StorageError> {
        g.delay();
        if g.switches().read_only {
            return Err(StorageError::new(
                libc::EROFS,
                format!("group {}: read-only", g.id),
            ));
        }
        let path = g.path_of(id);
        let mut space = g.space();
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::not_found(format!(
                    "group {}: no such object",
                    g.id
                )))
            }
            Err(e) => return Err(g.io_err("stat", &e)),
        };
        fs::remove_file(&path).map_err(|e| g.io_err("remove", &e))?;
        space.used = space.used.saturating_sub(len);
        space.records = space.records.saturating_sub(1);
        g.removed_records.fetch_add(1, Ordering::Relaxed);
        g.removed_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Storage for LocalStore {
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StorageError> {
        let id = object_id(&ctx.namespace, key);
        let header = Header {
            size: 0,
            mtime: UNIX_EPOCH,
            csum: [0; 64],
            namespace: ctx.namespace.as_bytes().to_vec(),
            key: key.as_bytes().to_vec(),
            block_size: BLOCK_SIZE,
        };
        let targets = self.per_group(ctx, |g| {
            let r = GroupWrite::start(g, &id, &header, offset, size);
            if r.is_err() {
                g.commands.count(CMD_WRITE, &r, 0);
            }
            r
        });
        let mut writer = LocalWriter {
            id,
            header,
            size,
            written: 0,
            targets: Vec::new(),
        };
        for t in targets {
            let state = match (self.group(t.group), t.result) {
                (Ok(g), Ok(w)) => Ok((g, w)),
                (_, Err(e)) | (Err(e), _) => Err(e),
            };
            writer.targets.push((t.group, state));
        }
        if writer.targets.iter().all(|(_, s)| s.is_err()) {
            return Err(pick_error(
                writer.targets.iter().filter_map(|(_, s)| s.as_ref().err()),
            ));
        }
        Ok(Box::new(writer))
    }

    fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError> {
        let id = object_id(&ctx.namespace, key);
        let mut errors = Vec::new();
        for (i, &gid) in ctx.groups.iter().enumerate() {
            let attempt = self.group(gid).and_then(|g| {
                g.delay();
                let r = g.stat(&id);
                if r.is_err() {
                    g.commands.count(CMD_READ, &r, 0);
                }
                let (file, path, header) = r?;
                Ok(LocalReader {
                    info: g.replica(&path, &id, &header),
                    cur: (g.clone(), Stored { file, path, header }),
                    id,
                    // Opened only if a block fails: the groups after this one.
                    others: ctx.groups[i + 1..]
                        .iter()
                        .filter_map(|&g| self.group(g).ok().map(|g| (g, None)))
                        .collect(),
                    corrupt: Vec::new(),
                })
            });
            match attempt {
                Ok(r) => return Ok(Box::new(r)),
                Err(e) => errors.push(e),
            }
        }
        Err(pick_error(errors.iter()))
    }

    fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>> {
        let id = object_id(&ctx.namespace, key);
        self.per_group(ctx, |g| {
            g.delay();
            let r = g
                .stat(&id)
                .map(|(_, path, header)| g.replica(&path, &id, &header));
            g.commands.count(CMD_LOOKUP, &r, 0);
            r
        })
    }

    fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>> {
        let id = object_id(&ctx.namespace, key);
        self.per_group(ctx, |g| {
            let r = self.remove_one(g, &id);
            g.commands.count(CMD_DEL, &r, 0);
            r
        })
    }

    fn backend_stats(&self) -> Vec<BackendStat> {
        let groups: Vec<Arc<Group>> = match self.groups.read() {
            Ok(g) => g.values().cloned().collect(),
            Err(_) => return Vec::new(),
        };
        groups
            .iter()
            .map(|g| {
                let sw = g.switches();
                let (used, records) = {
                    let s = g.space();
                    (s.used, s.records)
                };
                let (fs_total, fs_avail) = fs_space(&g.data).unwrap_or((0, 0));
                let total = if sw.size_limit > 0 {
                    sw.size_limit
                } else {
                    fs_total
                };
                let avail = total.saturating_sub(used).min(fs_avail);
                BackendStat {
                    group: g.id,
                    address: LOCAL_ADDRESS.to_string(),
                    backend: g.id,
                    total,
                    avail,
                    size_limit: sw.size_limit,
                    used,
                    removed_size: g.removed_bytes.load(Ordering::Relaxed),
                    records_total: records,
                    records_removed: g.removed_records.load(Ordering::Relaxed),
                    read_only: sw.read_only,
                    delay_ms: sw.delay.as_millis() as u64,
                    defrag_state: g.defrag_state.load(Ordering::Relaxed),
                    error: g.last_error.load(Ordering::Relaxed),
                    commands: g.commands.snapshot(),
                    defrag_runs: g.defrag_runs.load(Ordering::Relaxed),
                    defrag_start_time: g.defrag_started.load(Ordering::Relaxed),
                    defrag_completion_time: g.defrag_completed.load(Ordering::Relaxed),
                    // A run cannot fail: it only sweeps temp files.
                    defrag_completion_status: 0,
                    // One backend per group serves the whole id ring.
                    percentage: 1.0,
                    checksum_errors: g.checksum_errors.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Objects are separate files whose space returns to the file system at
    /// removal, so there is nothing to compact: a run sweeps temp files left
    /// by interrupted writes, forgets the removed-record counters (as an
    /// Elliptics defragmentation drops removed records) and reports
    /// [`DefragOutcome::NothingToCompact`]. The state is `IN_PROGRESS` while it runs.
    fn defragment(&self, group: GroupId, backend: u32) -> Result<DefragOutcome, StorageError> {
        let g = self.group(group)?;
        if backend != g.id {
            return Err(StorageError::new(
                libc::ENXIO,
                format!("group {group}: no backend {backend}"),
            ));
        }
        if g.defrag_state
            .compare_exchange(
                defrag_state::NOT_STARTED,
                defrag_state::IN_PROGRESS,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Ok(DefragOutcome::AlreadyRunning);
        }
        g.defrag_started.store(unix_now(), Ordering::Relaxed);
        g.sweep_stale_temp_files();
        g.removed_records.store(0, Ordering::Relaxed);
        g.removed_bytes.store(0, Ordering::Relaxed);
        g.defrag_runs.fetch_add(1, Ordering::Relaxed);
        g.defrag_completed.store(unix_now(), Ordering::Relaxed);
        g.defrag_state
            .store(defrag_state::NOT_STARTED, Ordering::Release);
        Ok(DefragOutcome::NothingToCompact)
    }

    fn backend_control(
        &self,
        group: GroupId,
        backend: u32,
        cmd: BackendCommand,
    ) -> Result<(), StorageError> {
        let g = self.group(group)?;
        if backend != g.id {
            return Err(StorageError::new(
                libc::ENXIO,
                format!("group {group}: no backend {backend}"),
            ));
        }
        match cmd {
            BackendCommand::SetReadOnly(ro) => {
                if let Ok(mut sw) = g.switches.write() {
                    sw.read_only = ro;
                }
            }
        }
        Ok(())
    }

    fn reconfigure(&self, local: Option<&LocalConfig>) -> Result<(), StorageError> {
        let Some(cfg) = local else {
            return Err(StorageError::invalid("the config has no \"local\" section"));
        };
        if cfg.path != self.root {
            return Err(StorageError::invalid(format!(
                "local.path changed from {} to {}: restart to move the store",
                self.root.display(),
                cfg.path.display()
            )));
        }
        let mut groups = self
            .groups
            .write()
            .map_err(|_| StorageError::new(libc::EIO, "group table poisoned"))?;
        let mut next = BTreeMap::new();
        for gc in &cfg.groups {
            let group = match groups.get(&gc.group) {
                Some(g) => {
                    if let Ok(mut sw) = g.switches.write() {
                        *sw = gc.into();
                    }
                    g.clone()
                }
                None => Arc::new(Group::open(&self.root, gc).map_err(|e| {
                    StorageError::io(format!("local store group {}", gc.group), &e)
                })?),
            };
            next.insert(gc.group, group);
        }
        *groups = next;
        Ok(())
    }
}

/// Total and available bytes of the file system holding `path`.
fn fs_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// A write in progress in one group.
struct GroupWrite {
    tmp_path: PathBuf,
    file: File,
    hasher: Sha512,
    sums: BlockSums,
    /// The replaced object, for a write at an offset.
    old: Option<Stored>,
    offset: u64,
    /// The object's size once written: the larger of the old size and offset + size.
    final_size: u64,
    reserved: u64,
}

impl GroupWrite {
    fn start(
        g: &Group,
        id: &[u8; 64],
        header: &Header,
        partial: Option<u64>,
        size: u64,
    ) -> Result<GroupWrite, StorageError> {
        g.delay();
        let sw = g.switches();
        if sw.read_only {
            return Err(g.fail(StorageError::new(
                libc::EROFS,
                format!("group {}: read-only", g.id),
            )));
        }
        let offset = partial.unwrap_or(0);
        let old = match partial.map(|_| g.stat(id)) {
            None => None,
            // Nothing to keep: a write at 0 makes the object.
            Some(Err(e)) if e.is_not_found() && offset == 0 => None,
            Some(Err(e)) if e.is_not_found() => {
                return Err(StorageError::invalid(format!(
                    "group {}: offset {offset} given but the object does not exist",
                    g.id
                )))
            }
            Some(Err(e)) => return Err(e),
            Some(Ok((_, _, old_header))) if offset > old_header.size => {
                return Err(StorageError::invalid(format!(
                    "group {}: offset {offset} is past the object's end ({} bytes)",
                    g.id, old_header.size
                )))
            }
            Some(Ok((file, path, header))) => Some(Stored { file, path, header }),
        };
        let old_size = old.as_ref().map_or(0, |o| o.header.size);
        let too_big = || {
            StorageError::new(
                libc::EFBIG,
                format!("group {}: offset {offset} + size {size} is too large", g.id),
            )
        };
        let end = offset.checked_add(size).ok_or_else(too_big)?;
        let final_size = old_size.max(end);
        let reserved = header.file_len_for(final_size).ok_or_else(too_big)?;
        {
            let mut space = g.space();
            let after = space
                .used
                .saturating_add(space.reserved)
                .saturating_add(reserved);
            if sw.size_limit > 0 && after > sw.size_limit {
                return Err(g.fail(StorageError::new(
                    libc::ENOSPC,
                    format!(
                        "group {}: no space: {} of {} bytes used, {reserved} more asked",
                        g.id,
                        space.used + space.reserved,
                        sw.size_limit
                    ),
                )));
            }
            space.reserved += reserved;
        }
        let release = |e: StorageError| {
            let mut space = g.space();
            space.reserved = space.reserved.saturating_sub(reserved);
            e
        };
        let tmp_path = g
            .tmp
            .join(format!("{}.{:016x}", hex(&id[..8]), rand::random::<u64>()));
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| release(g.io_err("create temp file", &e)))?;
        let mut w = GroupWrite {
            tmp_path,
            file,
            hasher: Sha512::new(),
            sums: BlockSums::new(header),
            old,
            offset,
            final_size,
            reserved,
        };
        // The header and the block table are rewritten at commit; the data
        // goes after the table.
        let result = w
            .file
            .write_all(&header.encode())
            .and_then(|_| {
                w.file
                    .seek(SeekFrom::Start(header.data_offset_for(final_size)))
            })
            .map_err(|e| g.io_err("write", &e))
            .and_then(|_| w.copy_old(g, 0, offset));
        if let Err(e) = result {
            let _ = fs::remove_file(&w.tmp_path);
            return Err(release(e));
        }
        Ok(w)
    }

    /// Copies bytes `[from, to)` of the replaced object into the new one,
    /// checking them against the old block table.
    fn copy_old(&mut self, g: &Group, from: u64, to: u64) -> Result<(), StorageError> {
        let Some(old) = self.old.take() else {
            return Ok(());
        };
        let mut pos = from;
        let mut result = Ok(());
        while pos < to && result.is_ok() {
            let n = ((to - pos) as usize).min(COPY_CHUNK);
            result = match old.read_verified(pos, n) {
                Ok(buf) => self.append(&buf).map_err(|e| g.io_err("write", &e)),
                Err(Fault::Io(e)) => Err(g.io_err("read the replaced object", &e)),
                Err(Fault::Corrupt(why)) => Err(g.corrupt(
                    &old.path,
                    &format!("the replaced object's {why}; not copying it into a new version"),
                )),
            };
            pos += n as u64;
        }
        self.old = Some(old);
        result
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.hasher.update(data);
        self.sums.feed(&self.file, data)
    }
}

/// One group's part of a write: its group and temp file, or why it failed.
type Target = (GroupId, Result<(Arc<Group>, GroupWrite), StorageError>);

/// A streaming write into the groups of one context.
struct LocalWriter {
    id: [u8; 64],
    header: Header,
    size: u64,
    written: u64,
    targets: Vec<Target>,
}

impl LocalWriter {
    fn abort_target(g: &Group, w: &GroupWrite) {
        let _ = fs::remove_file(&w.tmp_path);
        let mut space = g.space();
        space.reserved = space.reserved.saturating_sub(w.reserved);
    }

    fn finish(&mut self, g: &Group, w: &mut GroupWrite) -> Result<ReplicaInfo, StorageError> {
        if self.written != self.size {
            return Err(StorageError::invalid(format!(
                "body has {} bytes, {} announced",
                self.written, self.size
            )));
        }
        // `start` checked that offset + size does not overflow.
        let end = w.offset.saturating_add(self.size);
        let old_size = w.old.as_ref().map_or(0, |o| o.header.size);
        if end < old_size {
            w.copy_old(g, end, old_size)?;
        }
        let mut header = self.header.clone();
        header.size = old_size.max(end);
        header.mtime = SystemTime::now();
        header.csum = std::mem::replace(&mut w.hasher, Sha512::new()).finish();
        let write_header = (|| {
            let blocks = w.sums.finish(&w.file)?;
            if header.size != w.final_size || blocks != header.blocks(header.size) {
                return Err(io::Error::other(format!(
                    "wrote {} bytes in {blocks} blocks, planned {}",
                    header.size, w.final_size
                )));
            }
            w.file.write_all_at(&header.encode(), 0)?;
            w.file.sync_all()
        })();
        write_header.map_err(|e| g.io_err("write header", &e))?;
        let target = g.path_of(&self.id);
        if let Some(dir) = target.parent().filter(|d| !d.is_dir()) {
            fs::create_dir_all(dir).map_err(|e| g.io_err("create dir", &e))?;
            // The new subdirectory's own entry must be durable too.
            if let Ok(d) = File::open(&g.data) {
                let _ = d.sync_all();
            }
        }
        let new_len = header.file_len_for(header.size).unwrap_or(u64::MAX);
        {
            // One lock over stat + rename keeps `used` exact when two writes race.
            let mut space = g.space();
            let replaced = fs::metadata(&target).map(|m| m.len()).ok();
            fs::rename(&w.tmp_path, &target).map_err(|e| g.io_err("rename", &e))?;
            space.reserved = space.reserved.saturating_sub(w.reserved);
            w.reserved = 0;
            space.used = space.used.saturating_sub(replaced.unwrap_or(0)) + new_len;
            if replaced.is_none() {
                space.records += 1;
            }
        }
        if let Some(dir) = target.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(g.replica(&target, &self.id, &header))
    }
}

impl ObjectWriter for LocalWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        if self.written.saturating_add(data.len() as u64) > self.size {
            return Err(StorageError::invalid(format!(
                "body is longer than the {} bytes announced",
                self.size
            )));
        }
        for (_, target) in self.targets.iter_mut() {
            if let Ok((g, w)) = target {
                if let Err(e) = w.append(data) {
                    let err = g.io_err("write", &e);
                    LocalWriter::abort_target(g, w);
                    *target = Err(err);
                }
            }
        }
        self.written += data.len() as u64;
        if self.targets.iter().all(|(_, t)| t.is_err()) {
            return Err(pick_error(
                self.targets.iter().filter_map(|(_, t)| t.as_ref().err()),
            ));
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>> {
        let targets = std::mem::take(&mut self.targets);
        targets
            .into_iter()
            .map(|(group, target)| {
                let result = target.and_then(|(g, mut w)| {
                    let r = self.finish(&g, &mut w);
                    if r.is_err() {
                        LocalWriter::abort_target(&g, &w);
                    }
                    g.commands.count(CMD_WRITE, &r, self.written);
                    r
                });
                GroupResult { group, result }
            })
            .collect()
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        for (_, t) in &self.targets {
            if let Ok((g, w)) = t {
                LocalWriter::abort_target(g, w);
            }
        }
    }
}

/// An object opened in one group; the groups after it in the context's
/// order stand by for blocks that fail their checksum.
struct LocalReader {
    /// The replica opened first: what the reply describes.
    info: ReplicaInfo,
    /// The replica being read now.
    cur: (Arc<Group>, Stored),
    id: [u8; 64],
    /// The other groups, in order; a replica is opened the first time a
    /// block needs it (`None` until then).
    others: Vec<(Arc<Group>, Option<Stored>)>,
    /// Groups whose replica failed a checksum, not yet taken.
    corrupt: Vec<GroupId>,
}

impl ObjectReader for LocalReader {
    fn info(&self) -> &ReplicaInfo {
        &self.info
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        let r = self.read_chunk(offset, len);
        let n = r.as_ref().map_or(0, |b| b.len() as u64);
        self.cur.0.commands.count(CMD_READ, &r, n);
        r
    }

    fn take_corrupt(&mut self) -> Vec<GroupId> {
        std::mem::take(&mut self.corrupt)
    }
}

impl LocalReader {
    /// Reads from `stored`; a block failing its checksum is logged, counted
    /// and noted for [`ObjectReader::take_corrupt`].
    fn try_read(
        corrupt: &mut Vec<GroupId>,
        g: &Group,
        stored: &Stored,
        offset: u64,
        len: usize,
    ) -> Result<Bytes, StorageError> {
        match stored.read_verified(offset, len) {
            Ok(b) => Ok(b),
            Err(Fault::Corrupt(why)) => {
                if !corrupt.contains(&g.id) {
                    corrupt.push(g.id);
                }
                Err(g.corrupt(&stored.path, &why))
            }
            Err(Fault::Io(e)) => Err(g.io_err(&stored.path.display().to_string(), &e)),
        }
    }

    /// Reads `[offset, offset + len)` from the current replica; when that
    /// fails, from the other groups' replicas of the same object (same size
    /// and SHA-512) at the same offset, and the first that serves becomes
    /// the current one.
    fn read_chunk(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        if offset >= self.info.size {
            return Ok(Bytes::new());
        }
        let len = len.min((self.info.size - offset) as usize);
        let first = {
            let (g, stored) = &self.cur;
            match Self::try_read(&mut self.corrupt, g, stored, offset, len) {
                Ok(b) => return Ok(b),
                Err(e) => e,
            }
        };
        let mut i = 0;
        while i < self.others.len() {
            if self.others[i].1.is_none() {
                match self.open_other(&self.others[i].0) {
                    Some(st) => self.others[i].1 = Some(st),
                    None => {
                        self.others.remove(i);
                        continue;
                    }
                }
            }
            let (g, stored) = &self.others[i];
            if let Some(stored) = stored {
                if let Ok(b) = Self::try_read(&mut self.corrupt, g, stored, offset, len) {
                    log::warn!(
                        "group {}: bytes {offset}.. of object {} read from group {} instead",
                        self.cur.0.id,
                        hex(&self.id[..8]),
                        g.id
                    );
                    let (g, stored) = self.others.remove(i);
                    if let Some(stored) = stored {
                        let old = std::mem::replace(&mut self.cur, (g, stored));
                        self.others.push((old.0, Some(old.1)));
                    }
                    return Ok(b);
                }
            }
            i += 1;
        }
        Err(first)
    }

    /// Opens group `g`'s replica if it holds the same object as the one
    /// first opened.
    fn open_other(&self, g: &Group) -> Option<Stored> {
        let (file, path, header) = g.stat(&self.id).ok()?;
        (header.size == self.info.size && header.csum[..] == self.info.csum[..]).then_some(Stored {
            file,
            path,
            header,
        })
    }
}

/// The file holding `key` of `namespace` in `group` of the store at `root`;
/// for tests and tools.
pub fn object_path(root: &Path, group: GroupId, namespace: &str, key: &str) -> PathBuf {
    let h = hex(&object_id(namespace, key));
    root.join(format!("group-{group}"))
        .join("data")
        .join(&h[..2])
        .join(h)
}

/// Reads a whole object file as the local store laid it out; for tests and tools.
pub fn read_object_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let h = Header::read(&f)?;
    f.seek(SeekFrom::Start(h.data_offset()))?;
    let mut out = Vec::new();
    f.take(h.size).read_to_end(&mut out)?;
    Ok(out)
}

/// The SHA-512 checksum the local store records for `data`.
pub fn checksum(data: &[u8]) -> [u8; 64] {
    sha512(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{read_small, write_small};

    fn store(dir: &Path, groups: &[(u32, u64, bool)]) -> LocalStore {
        LocalStore::open(&LocalConfig {
            path: dir.to_path_buf(),
            groups: groups
                .iter()
                .map(|&(group, size_limit, read_only)| LocalGroupConfig {
                    group,
                    size_limit,
                    read_only,
                    delay_ms: 0,
                })
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn write_read_lookup_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false), (2, 0, false)]);
        let ctx = Context::new("b", vec![1, 2, 9]);
        let res = write_small(&s, &ctx, "../../etc/passwd", b"hello").unwrap();
        assert!(res[0].result.is_ok() && res[1].result.is_ok());
        assert_eq!(res[2].result.as_ref().unwrap_err().errno, -libc::ENXIO);
        let info = res[0].result.as_ref().unwrap();
        assert!(info.filename.starts_with(dir.path().to_str().unwrap()));
        let raw = fs::read(&info.filename).unwrap();
        assert_eq!(&raw[info.offset as usize..], b"hello");
        assert_eq!(info.csum, checksum(b"hello").to_vec());
        assert_eq!(
            read_small(&s, &ctx, "../../etc/passwd", 100).unwrap(),
            b"hello"
        );
        let rm = s.remove(&ctx, "../../etc/passwd");
        assert!(rm[0].result.is_ok() && rm[1].result.is_ok());
        assert!(read_small(&s, &ctx, "../../etc/passwd", 100)
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn partial_write_rewrites_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false)]);
        let ctx = Context::new("b", vec![1]);
        write_small(&s, &ctx, "k", b"0123456789").unwrap();
        let mut w = s.write(&ctx, "k", Some(3), 2).unwrap();
        w.write(b"ab").unwrap();
        assert!(w.commit()[0].result.is_ok());
        assert_eq!(read_small(&s, &ctx, "k", 100).unwrap(), b"012ab56789");
        let mut w = s.write(&ctx, "k", Some(10), 3).unwrap();
        w.write(b"XYZ").unwrap();
        let info = w.commit()[0].result.clone().unwrap();
        assert_eq!(read_small(&s, &ctx, "k", 100).unwrap(), b"012ab56789XYZ");
        assert_eq!(info.csum, checksum(b"012ab56789XYZ").to_vec());
        assert_eq!(
            s.write(&ctx, "k", Some(14), 1).err().unwrap().errno,
            -libc::EINVAL
        );
        // At offset 0 too the tail is kept; a missing object is made anew.
        let mut w = s.write(&ctx, "k", Some(0), 2).unwrap();
        w.write(b"AB").unwrap();
        let info = w.commit()[0].result.clone().unwrap();
        assert_eq!(read_small(&s, &ctx, "k", 100).unwrap(), b"AB2ab56789XYZ");
        assert_eq!(info.size, 13);
        let mut w = s.write(&ctx, "new", Some(0), 2).unwrap();
        w.write(b"AB").unwrap();
        assert!(w.commit()[0].result.is_ok());
        assert_eq!(read_small(&s, &ctx, "new", 100).unwrap(), b"AB");
        assert!(s.write(&ctx, "missing", Some(1), 1).is_err());
        // Without an offset the body replaces the object.
        let mut w = s.write(&ctx, "k", None, 1).unwrap();
        w.write(b"z").unwrap();
        assert!(w.commit()[0].result.is_ok());
        assert_eq!(read_small(&s, &ctx, "k", 100).unwrap(), b"z");
    }

    #[test]
    fn limits_read_only_and_abort() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 1000, false), (2, 0, true)]);
        let ctx = Context::new("b", vec![1, 2]);
        let e = s.write(&ctx, "big", None, 2000).err().unwrap();
        assert!(e.errno == -libc::ENOSPC || e.errno == -libc::EROFS, "{e}");
        let mut w = s.write(&ctx, "k", None, 10).unwrap();
        w.write(b"01234").unwrap();
        drop(w);
        assert_eq!(
            fs::read_dir(dir.path().join("group-1/tmp"))
                .unwrap()
                .count(),
            0
        );
        assert!(s.lookup(&ctx, "k")[0]
            .result
            .as_ref()
            .unwrap_err()
            .is_not_found());
        let stats = s.backend_stats();
        assert_eq!(stats[0].used, 0);
        assert!(stats[1].read_only);
    }

    #[test]
    fn counts_commands_and_defragments() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false)]);
        let ctx = Context::new("b", vec![1]);
        write_small(&s, &ctx, "k", b"abc").unwrap();
        assert_eq!(read_small(&s, &ctx, "k", 100).unwrap(), b"abc");
        s.lookup(&ctx, "k");
        s.remove(&ctx, "k");
        s.remove(&ctx, "k");
        let st = &s.backend_stats()[0];
        let c = |n: &str| st.commands[n];
        assert_eq!(c("WRITE"), CommandStat::counters(1, 0, 3));
        assert_eq!(c("READ").bytes, 3);
        assert_eq!(c("LOOKUP").successes, 1);
        assert_eq!(c("DEL"), CommandStat::counters(1, 1, 0));
        assert_eq!(st.records_removed, 1);
        assert_eq!((st.defrag_start_time, st.defrag_completion_time), (0, 0));
        let before = unix_now();
        assert_eq!(s.defragment(1, 1).unwrap(), DefragOutcome::NothingToCompact);
        let st = &s.backend_stats()[0];
        assert_eq!(
            (st.records_removed, st.defrag_runs, st.defrag_state),
            (0, 1, 0)
        );
        assert!(st.defrag_start_time >= before, "{st:?}");
        assert!(st.defrag_completion_time >= st.defrag_start_time, "{st:?}");
        assert_eq!(st.defrag_completion_status, 0);
        assert!(s.defragment(1, 7).is_err());
    }

    #[test]
    fn damaged_mtime_is_clamped_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false)]);
        let ctx = Context::new("b", vec![1]);
        let info = write_small(&s, &ctx, "k", b"abc").unwrap()[0]
            .result
            .clone()
            .unwrap();
        // Seconds of the mtime sit at bytes 16..24 of the header.
        let f = OpenOptions::new().write(true).open(&info.filename).unwrap();
        f.write_all_at(&u64::MAX.to_le_bytes(), 16).unwrap();
        let found = s.lookup(&ctx, "k")[0].result.clone().unwrap();
        let secs = found.mtime.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, crate::storage::MAX_MTIME_SECS);
        assert_eq!(
            httpdate::fmt_http_date(found.mtime),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn format_1_objects_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false)]);
        let h = Header {
            size: 5,
            mtime: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            csum: checksum(b"hello"),
            namespace: b"b".to_vec(),
            key: b"old".to_vec(),
            block_size: 0,
        };
        let path = object_path(dir.path(), 1, "b", "old");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut raw = h.encode();
        assert_eq!(&raw[..8], MAGIC_V1);
        raw.extend_from_slice(b"hello");
        fs::write(&path, raw).unwrap();
        let ctx = Context::new("b", vec![1]);
        assert_eq!(read_small(&s, &ctx, "old", 100).unwrap(), b"hello");
        let info = s.lookup(&ctx, "old")[0].result.clone().unwrap();
        assert_eq!(info.offset, h.len());
        // A partial upload onto it writes format 2.
        let mut w = s.write(&ctx, "old", Some(5), 1).unwrap();
        w.write(b"!").unwrap();
        w.commit();
        assert_eq!(&fs::read(&path).unwrap()[..8], MAGIC_V2);
        assert_eq!(read_small(&s, &ctx, "old", 100).unwrap(), b"hello!");
    }

    #[test]
    fn bad_blocks_are_read_from_another_replica() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false), (2, 0, false), (3, 0, false)]);
        let ctx = Context::new("b", vec![1, 2, 3]);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let res = write_small(&s, &ctx, "k", &data).unwrap();
        let flip = |g: usize, at: u64| {
            let info = res[g].result.as_ref().unwrap();
            let f = OpenOptions::new()
                .write(true)
                .read(true)
                .open(&info.filename)
                .unwrap();
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, info.offset + at).unwrap();
            f.write_all_at(&[b[0] ^ 1], info.offset + at).unwrap();
        };
        // Block 0 bad in group 1, block 2 bad in group 2: every block has a good copy.
        flip(0, 10);
        flip(1, 140_000);
        let mut r = s.open(&ctx, "k").unwrap();
        let mut got = Vec::new();
        while got.len() < data.len() {
            got.extend_from_slice(&r.read_at(got.len() as u64, 50_000).unwrap());
        }
        assert!(got == data);
        assert_eq!(r.take_corrupt(), vec![1, 2]);
        assert!(r.take_corrupt().is_empty());
        // Unaligned reads across block edges.
        assert_eq!(&r.read_at(65_530, 20).unwrap()[..], &data[65_530..65_550]);
        // The same block bad everywhere: an error, not bytes.
        flip(2, 10);
        flip(1, 11);
        let mut r = s.open(&ctx, "k").unwrap();
        let e = r.read_at(0, 100).unwrap_err();
        assert_eq!(e.errno, -libc::EILSEQ, "{e}");
        assert!(r.read_at(200_000, 100).is_ok(), "other blocks still read");
        let errors: u64 = s.backend_stats().iter().map(|b| b.checksum_errors).sum();
        assert!(errors >= 5, "{errors}");
    }

    #[test]
    fn partial_write_refuses_to_copy_a_bad_old_block() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), &[(1, 0, false)]);
        let ctx = Context::new("b", vec![1]);
        let data = vec![3u8; 200_000];
        let info = write_small(&s, &ctx, "k", &data).unwrap()[0]
            .result
            .clone()
            .unwrap();
        let f = OpenOptions::new().write(true).open(&info.filename).unwrap();
        f.write_all_at(&[9], info.offset + 150_000).unwrap();
        let mut w = s.write(&ctx, "k", Some(10), 5).unwrap();
        w.write(b"abcde").unwrap();
        let e = w.commit()[0].result.clone().unwrap_err();
        assert_eq!(e.errno, -libc::EILSEQ, "{e}");
    }

    #[test]
    fn reopen_counts_existing_objects() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = store(dir.path(), &[(1, 0, false)]);
            write_small(&s, &Context::new("b", vec![1]), "k", b"abc").unwrap();
        }
        let s = store(dir.path(), &[(1, 0, false)]);
        let st = &s.backend_stats()[0];
        assert_eq!(st.records_total, 1);
        assert!(st.used > 3);
    }
}
