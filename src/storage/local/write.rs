//! Writes: one temp file per group, renamed into place at commit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openssl::sha::Sha512;

use super::blocks::{BlockSums, Fault, Stored, BLOCK_SIZE};
use super::group::{Group, CMD_WRITE};
use super::header::Header;
use super::store::{object_id, LocalStore};
use crate::storage::{
    cas, Context, GroupResult, ObjectWriter, ReplicaInfo, Replicas, StorageError, Version,
};

/// Bytes of the replaced object copied at a time by a write at an offset.
const COPY_CHUNK: usize = 1 << 20;

/// Starts a write of `key` into every group of `ctx`; an error only when
/// no group can take it.
pub(super) fn start(
    store: &LocalStore,
    ctx: &Context,
    key: &str,
    offset: Option<u64>,
    size: u64,
) -> Result<Box<dyn ObjectWriter>, StorageError> {
    Ok(Box::new(start_writer(store, ctx, key, offset, size)?))
}

/// Writes `data` as `key` in each group of `ctx` whose object still has
/// version `expected` (see `Storage::write_if`).
pub(super) fn write_if(
    store: &LocalStore,
    ctx: &Context,
    key: &str,
    data: &[u8],
    expected: &Version,
) -> Vec<GroupResult<ReplicaInfo>> {
    let mut w = match start_writer(store, ctx, key, None, data.len() as u64) {
        Ok(w) => w,
        Err(e) => return GroupResult::fail_all(&ctx.groups, &e),
    };
    w.expected = Some(expected.clone());
    let mut w: Box<dyn ObjectWriter> = Box::new(w);
    if let Err(e) = w.write(data) {
        return GroupResult::fail_all(&ctx.groups, &e);
    }
    w.commit()
}

fn start_writer(
    store: &LocalStore,
    ctx: &Context,
    key: &str,
    offset: Option<u64>,
    size: u64,
) -> Result<LocalWriter, StorageError> {
    let id = object_id(&ctx.namespace, key);
    let header = Header {
        size: 0,
        mtime: UNIX_EPOCH,
        csum: [0; 64],
        namespace: ctx.namespace.as_bytes().to_vec(),
        key: key.as_bytes().to_vec(),
        block_size: BLOCK_SIZE,
    };
    let targets = store.per_group(ctx, |g| {
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
        expected: None,
        mtime: ctx.timestamp,
    };
    for t in targets {
        let result = match (store.group(t.group), t.result) {
            (Ok(g), Ok(w)) => Ok((g, w)),
            (_, Err(e)) | (Err(e), _) => Err(e),
        };
        writer.targets.push(GroupResult {
            group: t.group,
            result,
        });
    }
    writer.targets.any_ok()?;
    Ok(writer)
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
            let (used, _) = g.usage.read();
            let after = used.saturating_add(space.reserved).saturating_add(reserved);
            if sw.size_limit > 0 && after > sw.size_limit {
                return Err(g.fail(StorageError::new(
                    libc::ENOSPC,
                    format!(
                        "group {}: no space: {} of {} bytes used, {reserved} more asked",
                        g.id,
                        used + space.reserved,
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
        let tmp_path = g.temp_name(&id[..8]);
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| release(g.write_err("create temp file", &e)))?;
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
            .map_err(|e| g.write_err("write", &e))
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
                Ok(buf) => self.append(&buf).map_err(|e| g.write_err("write", &e)),
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
type Target = GroupResult<(Arc<Group>, GroupWrite)>;

/// A streaming write into the groups of one context.
struct LocalWriter {
    id: [u8; 64],
    header: Header,
    size: u64,
    written: u64,
    targets: Vec<Target>,
    /// For a compare-and-swap: the version each group's object must still
    /// have when the write is renamed into place.
    expected: Option<Version>,
    /// The modification time to store: the context's, else the time the
    /// first group committed (the same in every group).
    mtime: Option<SystemTime>,
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
        // One time for every group's replica of this write.
        header.mtime = *self.mtime.get_or_insert_with(SystemTime::now);
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
        write_header.map_err(|e| g.write_err("write header", &e))?;
        let target = g.path_of(&self.id);
        if let Some(dir) = target.parent().filter(|d| !d.is_dir()) {
            fs::create_dir_all(dir).map_err(|e| g.write_err("create dir", &e))?;
            // The new subdirectory's own entry must be durable too.
            if let Ok(d) = File::open(&g.data) {
                let _ = d.sync_all();
            }
        }
        let new_len = header.file_len_for(header.size).unwrap_or(u64::MAX);
        {
            // A compare-and-swap holds the group's CAS lock from the check to
            // the rename (taken before the space lock, never after it).
            let cas_file = self.expected.as_ref().map(|_| g.cas_lock.lock());
            let _flock = match &cas_file {
                Some(f) => Some(
                    crate::sys::flock_exclusive(f).map_err(|e| g.io_err("lock cas.lock", &e))?,
                ),
                None => None,
            };
            if let Some(expected) = &self.expected {
                let current = match g.stat(&self.id) {
                    Ok((_, _, h)) => Version::Digest(h.csum),
                    Err(e) if e.is_not_found() && e.errno == -libc::ENOENT => Version::Absent,
                    Err(e) => return Err(e),
                };
                if &current != expected {
                    return Err(cas::conflict(format!(
                        "group {}: the object changed (compare-and-swap refused)",
                        g.id
                    )));
                }
            }
            // One lock over stat + rename keeps the shared figure exact when
            // two writes race, in this process (mutex) or others (flock).
            let mut space = g.space();
            let usage = g.usage.lock().map_err(|e| g.io_err("lock usage", &e))?;
            let replaced = fs::metadata(&target).map(|m| m.len()).ok();
            fs::rename(&w.tmp_path, &target).map_err(|e| g.write_err("rename", &e))?;
            space.reserved = space.reserved.saturating_sub(w.reserved);
            w.reserved = 0;
            usage
                .replace(replaced, new_len)
                .map_err(|e| g.io_err("account the write", &e))?;
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
        for target in self.targets.iter_mut() {
            if let Ok((g, w)) = &mut target.result {
                if let Err(e) = w.append(data) {
                    let err = g.write_err("write", &e);
                    LocalWriter::abort_target(g, w);
                    target.result = Err(err);
                }
            }
        }
        self.written += data.len() as u64;
        self.targets.any_ok()?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>> {
        let targets = std::mem::take(&mut self.targets);
        targets
            .into_iter()
            .map(|GroupResult { group, result }| {
                let result = result.and_then(|(g, mut w)| {
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
        for t in &self.targets {
            if let Ok((g, w)) = &t.result {
                LocalWriter::abort_target(g, w);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::local::{checksum, test_store};
    use crate::storage::{read_small, write_small, Storage};

    #[test]
    fn partial_write_rewrites_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false)]);
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
    fn partial_write_refuses_to_copy_a_bad_old_block() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false)]);
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
}
