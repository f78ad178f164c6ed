//! The seam between the proxy and its storage: a trait shaped like an
//! Elliptics session, implemented by the embedded local store and (with the
//! `elliptics` feature) by the Elliptics client.
//!
//! Every call blocks, and the core runs it on the blocking pool, except
//! reads a store can make without waiting (the embedded store's page cache:
//! [`Storage::without_waiting`]) or answer as a future (Elliptics:
//! [`Storage::start_open_read`], [`Storage::start_lookup`]).

pub mod backend;
pub mod cas;
#[cfg(feature = "elliptics")]
pub mod elliptics;
pub mod error;
pub mod local;
mod open;
pub mod replicas;
pub mod suspect;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use backend::{BackendCommand, BackendStat, CommandStat, DefragOutcome, DefragState};
pub use cas::Version;
pub use error::StorageError;
pub use open::{open, OpenError};
pub use replicas::Replicas;

/// Bytes per read of a download unless a store overrides [`Storage::read_chunk`].
pub const DEFAULT_READ_CHUNK: usize = 256 * 1024;

/// A replica group id, as Elliptics numbers them.
pub type GroupId = u32;

/// Per-request session parameters, mirroring an Elliptics session.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The namespace: the bucket name, or `bucket` for bucket metadata.
    pub namespace: String,
    /// Groups to write to and read from, in the order they are tried.
    pub groups: Vec<GroupId>,
    /// Elliptics io flags (passed through; the local store ignores them).
    pub ioflags: u64,
    /// Elliptics command flags (passed through; the local store ignores them).
    pub cflags: u64,
    /// Trace id logged with the request.
    pub trace_id: u64,
    /// Operation timeout, when the backend supports one.
    pub timeout: Option<Duration>,
    /// The modification time a write stores instead of the current time:
    /// a recovery copy keeps its source's, so the replicas compare equal.
    pub timestamp: Option<SystemTime>,
    /// Ask every group, also those a hang made suspect
    /// ([`suspect::SkipSuspects`]): for checks where a group not asked
    /// would read as "nothing there" (a delete's tombstone).
    pub every_group: bool,
}

impl Context {
    /// A context for `namespace` over `groups` with default flags.
    pub fn new(namespace: impl Into<String>, groups: Vec<GroupId>) -> Self {
        Context {
            namespace: namespace.into(),
            groups,
            ..Default::default()
        }
    }
}

/// Where one replica of an object lives and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Replica group.
    pub group: GroupId,
    /// Backend id inside the storage node.
    pub backend: u32,
    /// Storage node address, `host:port:family`.
    pub address: String,
    /// Object id (hex).
    pub id: String,
    /// Data file holding the object.
    pub filename: String,
    /// Offset of the object's first byte within `filename`.
    pub offset: u64,
    /// Object size in bytes.
    pub size: u64,
    /// Last modification time.
    pub mtime: SystemTime,
    /// Stored checksum (all zeros when the backend keeps none).
    pub csum: Vec<u8>,
}

impl ReplicaInfo {
    fn has_csum(&self) -> bool {
        self.csum.iter().any(|&b| b != 0)
    }

    /// Whether two replicas hold different data: sizes differ, or checksums
    /// differ (when both have one), or, without checksums, modification times differ.
    pub fn differs_from(&self, other: &ReplicaInfo) -> bool {
        if self.size != other.size {
            return true;
        }
        if self.has_csum() && other.has_csum() {
            return self.csum != other.csum;
        }
        self.mtime != other.mtime
    }
}

impl ReplicaInfo {
    /// The strong ETag of the replica (docs/http-caching.md): the first 128
    /// bits of its stored checksum; when the backend keeps none (all zeros,
    /// as plain Elliptics 3.0 lookups answer), the object id, size and mtime
    /// in ns.
    pub fn etag(&self) -> String {
        if !self.csum.is_empty() && self.csum.iter().any(|&b| b != 0) {
            return format!(
                "\"{}\"",
                crate::encoding::hex(&self.csum[..self.csum.len().min(16)])
            );
        }
        self.identity_etag()
    }

    /// The ETag S3 answers for an object without an MD5 (written through
    /// Backrunner's API): the first 256 bits of the stored checksum (64 hex
    /// digits; [`ReplicaInfo::etag`]'s 32 would pass for an MD5 with S3
    /// clients that compare ETags to files), else the identity tag.
    pub fn s3_etag(&self) -> String {
        if self.has_csum() {
            let bits = &self.csum[..self.csum.len().min(32)];
            return format!("\"{}\"", crate::encoding::hex(bits));
        }
        self.identity_etag()
    }

    /// The object id, size and mtime in ns.
    fn identity_etag(&self) -> String {
        let ns = crate::time::since_epoch(self.mtime).as_nanos();
        let id: String = self.id.chars().take(32).collect();
        format!("\"{id}-{:x}-{ns:x}\"", self.size)
    }
}

/// The outcome of an operation on one group.
#[derive(Debug, Clone)]
pub struct GroupResult<T> {
    /// The group the result is for.
    pub group: GroupId,
    /// What happened there.
    pub result: Result<T, StorageError>,
}

/// A streaming write into every group of a context.
///
/// Dropping it without `commit` aborts the write: nothing becomes visible.
pub trait ObjectWriter: Send {
    /// Appends the next chunk of the body. Fails only once every group has
    /// failed, so the caller can stop reading the body early.
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError>;
    /// Makes the object visible and reports the replica written in each group.
    fn commit(self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>>;
}

/// An open object, read in chunks.
pub trait ObjectReader: Send {
    /// The replica being read.
    fn info(&self) -> &ReplicaInfo;
    /// Reads up to `len` bytes at `offset` (relative to the object's start).
    /// Bytes that fail the store's checksum are never returned: the reader
    /// reads them from another group's replica of the same object, or fails.
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError>;
    /// [`ObjectReader::read_at`] on the calling thread if it can be done
    /// without waiting for a device or the network (the embedded store's
    /// page cache); `None`: call `read_at` where waiting is allowed.
    fn read_at_without_waiting(
        &mut self,
        offset: u64,
        len: usize,
    ) -> Option<Result<Bytes, StorageError>> {
        let _ = (offset, len);
        None
    }
    /// Groups whose replica failed a checksum since the last call (each
    /// once), so the caller can repair them.
    fn take_corrupt(&mut self) -> Vec<GroupId> {
        Vec::new()
    }
}

/// What [`Storage::open_read`] answers: the reader and the bytes read.
pub type OpenedRead = Result<(Box<dyn ObjectReader>, Bytes), StorageError>;

/// A read started by [`Storage::start_open_read`].
pub type OpeningRead = Pin<Box<dyn Future<Output = StartedRead> + Send>>;

/// A lookup started by [`Storage::start_lookup`].
pub type LookingUp = Pin<Box<dyn Future<Output = Vec<GroupResult<ReplicaInfo>>> + Send>>;

/// How a started read ended.
pub enum StartedRead {
    /// Its outcome.
    Done(OpenedRead),
    /// The reply needs storage work that waits (a lookup, a read of another
    /// replica): run this where waiting is allowed.
    Then(Box<dyn FnOnce() -> OpenedRead + Send>),
}

/// Storage as the proxy sees it. Every method blocks but the `start_` ones.
pub trait Storage: Send + Sync + 'static {
    /// Starts writing `size` bytes of `key` in every group of `ctx`.
    /// `offset` `None`: the bytes replace the object. `Some(n)` (a partial
    /// upload, `Range: bytes=n-`, n = 0 included): they overwrite the object
    /// from n on and its bytes outside `[n, n + size)` are kept; n must not
    /// be past its end, and an object that does not exist is written anew
    /// only for n = 0.
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StorageError>;

    /// Bytes a download reads per step. Each read costs the store a round
    /// trip or a system call; a download holds 4 chunks (docs/object-path.md).
    fn read_chunk(&self) -> usize {
        DEFAULT_READ_CHUNK
    }

    /// Opens `key` for reading, trying the groups of `ctx` in order.
    fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError>;

    /// Opens `key` and reads up to `len` bytes at `at` (fewer at the
    /// object's end, none past it). A store that learns an object's size and
    /// time from a read overrides this to save the separate lookup.
    fn open_read(
        &self,
        ctx: &Context,
        key: &str,
        at: u64,
        len: usize,
    ) -> Result<(Box<dyn ObjectReader>, Bytes), StorageError> {
        open_then_read(self, ctx, key, at, len)
    }

    /// [`Storage::open_read`] without blocking, for a store whose client
    /// answers by callback: the future waits for the reply with no thread
    /// parked on it. `None`: this store can't (or not for this read); call
    /// `open_read` where waiting is allowed.
    fn start_open_read(
        &self,
        ctx: &Context,
        key: &str,
        at: u64,
        len: usize,
    ) -> Option<OpeningRead> {
        let _ = (ctx, key, at, len);
        None
    }

    /// [`Storage::lookup`] without blocking, as [`Storage::start_open_read`]
    /// starts a read; `None`: call `lookup` where waiting is allowed.
    fn start_lookup(&self, ctx: &Context, key: &str) -> Option<LookingUp> {
        let _ = (ctx, key);
        None
    }

    /// Runs `f`, which only reads this store, on the calling thread if it
    /// can without waiting for a device or the network; `false` when it did
    /// not run or gave up part way (whatever it produced is void: redo it
    /// where waiting is allowed). The embedded store serves the page cache
    /// this way; stores that always wait answer `false` at once.
    fn without_waiting(&self, f: &mut dyn FnMut()) -> bool {
        let _ = f;
        false
    }

    /// Looks `key` up in every group of `ctx`.
    fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>>;

    /// Removes `key` from every group of `ctx`.
    fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>>;

    /// Removes many keys; answers, for each key in order, the per-group outcome.
    fn bulk_remove(&self, ctx: &Context, keys: &[String]) -> Vec<Vec<GroupResult<()>>> {
        keys.iter().map(|k| self.remove(ctx, k)).collect()
    }

    /// Compare-and-swap: writes `data` (not empty) as `key` in each group of
    /// `ctx` whose stored object still has version `expected`
    /// ([`Version::of`] its bytes, or [`Version::Absent`]); the check and the
    /// write are one atomic step per group, against writers in any process.
    /// A group where the version differs answers an error for which
    /// [`StorageError::is_conflict`] holds and keeps its object. On
    /// Elliptics a group where the key is absent takes any `expected` (the
    /// server's rule): callers never remove objects they update this way.
    /// [`cas`] builds replicated read-modify-write updates on it.
    fn write_if(
        &self,
        ctx: &Context,
        key: &str,
        data: &[u8],
        expected: &Version,
    ) -> Vec<GroupResult<ReplicaInfo>>;

    /// Whether [`Storage::write_if`] takes any `expected` where the key is
    /// absent (Elliptics). Then a compare-and-swap against a version known
    /// from an earlier write is unsafe: on a primary that came back empty
    /// it would overwrite what other processes wrote since, so
    /// [`cas::update_known`] reads first.
    fn write_if_takes_absent(&self) -> bool {
        false
    }

    /// Statistics of every backend the store knows.
    fn backend_stats(&self) -> Vec<BackendStat>;

    /// Asks backend `backend` of `group` to compact away removed records.
    /// Unsupported unless a store implements it.
    fn defragment(&self, group: GroupId, backend: u32) -> Result<DefragOutcome, StorageError> {
        Err(StorageError::new(
            libc::ENOTSUP,
            format!("group {group} backend {backend}: defragmentation is not supported"),
        ))
    }

    /// Sends a control command to one backend. Unsupported unless a store implements it.
    fn backend_control(
        &self,
        group: GroupId,
        backend: u32,
        cmd: BackendCommand,
    ) -> Result<(), StorageError> {
        Err(StorageError::new(
            libc::ENOTSUP,
            format!("group {group} backend {backend}: {cmd:?} is not supported"),
        ))
    }

    /// Re-reads tunable settings (the local store's switches); a no-op by default.
    fn reconfigure(&self, _local: Option<&crate::config::LocalConfig>) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Latest time kept for an object: 9999-12-31T23:59:59Z, the last an HTTP
/// date can express.
pub const MAX_MTIME_SECS: u64 = 253_402_300_799;

/// A stored timestamp as a `SystemTime`. Stores may hold any value (any
/// Elliptics client can write one, a damaged file can hold one), so a time
/// past year 9999, which `SystemTime` addition or HTTP date formatting would
/// panic on, is clamped to the last second of 9999.
pub fn stored_time(sec: u64, nsec: u64) -> SystemTime {
    let d = if sec > MAX_MTIME_SECS {
        Duration::from_secs(MAX_MTIME_SECS)
    } else {
        Duration::new(sec, (nsec % 1_000_000_000) as u32)
    };
    std::time::UNIX_EPOCH + d
}

/// [`Storage::open_read`] as `open` followed by reads.
pub fn open_then_read<S: Storage + ?Sized>(
    storage: &S,
    ctx: &Context,
    key: &str,
    at: u64,
    len: usize,
) -> OpenedRead {
    then_read(storage.open(ctx, key)?, at, len)
}

/// An opened `reader` and up to `len` of its bytes at `at` (fewer at the
/// object's end, none past it).
pub fn then_read(mut reader: Box<dyn ObjectReader>, at: u64, len: usize) -> OpenedRead {
    let size = reader.info().size;
    let data = if at < size {
        let want = (size - at).min(len as u64) as usize;
        read_full(reader.as_mut(), at, want)?
    } else {
        Bytes::new()
    };
    Ok((reader, data))
}

/// Reads `len` bytes at `at`, in as many reads as the store needs; fewer
/// only if the object ends first.
pub fn read_full(r: &mut dyn ObjectReader, at: u64, len: usize) -> Result<Bytes, StorageError> {
    let first = r.read_at(at, len)?;
    if first.len() >= len || first.is_empty() {
        return Ok(first);
    }
    let mut buf = bytes::BytesMut::with_capacity(len);
    buf.extend_from_slice(&first);
    while buf.len() < len {
        let more = r.read_at(at + buf.len() as u64, len - buf.len())?;
        if more.is_empty() {
            break;
        }
        buf.extend_from_slice(&more);
    }
    Ok(buf.freeze())
}

/// Reads a whole object into memory; only for small objects such as bucket
/// metadata. Fails with `EFBIG` past `limit` bytes.
pub fn read_small(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
) -> Result<Vec<u8>, StorageError> {
    let mut reader = storage.open(ctx, key)?;
    let size = reader.info().size;
    if size > limit {
        return Err(StorageError::new(
            libc::EFBIG,
            format!("object {key} is {size} bytes, more than {limit}"),
        ));
    }
    let out = read_full(reader.as_mut(), 0, size as usize)?;
    if (out.len() as u64) < size {
        return Err(StorageError::new(
            libc::EIO,
            format!("object {key} ended early"),
        ));
    }
    Ok(out.to_vec())
}

/// Writes a small object in one piece to every group of `ctx`.
pub fn write_small(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    data: &[u8],
) -> Result<Vec<GroupResult<ReplicaInfo>>, StorageError> {
    let mut writer = storage.write(ctx, key, None, data.len() as u64)?;
    writer.write(data)?;
    Ok(writer.commit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn command_rates_are_differences_over_the_interval() {
        let prev = CommandStat::counters(10, 2, 1000);
        let mut now = CommandStat::counters(30, 3, 5000);
        now.set_rates(&prev, 2.0);
        assert_eq!(
            (now.rps_success, now.rps_failures, now.bps),
            (10.0, 0.5, 2000.0)
        );
        assert_eq!(now.requests(), 33);
        // A counter that went back (the node restarted) or no time: no rate.
        let mut reset = CommandStat::counters(1, 0, 10);
        reset.set_rates(&prev, 2.0);
        assert_eq!((reset.rps_success, reset.bps), (0.0, 0.0));
        now.set_rates(&prev, 0.0);
        assert_eq!(now.rps_success, 0.0);
    }

    #[test]
    fn stored_times_never_panic() {
        assert_eq!(stored_time(5, 7), UNIX_EPOCH + Duration::new(5, 7));
        assert_eq!(
            stored_time(5, 1_000_000_001),
            UNIX_EPOCH + Duration::new(5, 1)
        );
        for sec in [MAX_MTIME_SECS, MAX_MTIME_SECS + 1, u64::MAX] {
            let t = stored_time(sec, 999_999_999);
            assert_eq!(
                httpdate::fmt_http_date(t),
                "Fri, 31 Dec 9999 23:59:59 GMT",
                "{sec}"
            );
        }
    }
}
