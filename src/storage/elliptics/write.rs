//! Streaming writes to Elliptics: write_prepare / write_plain / write_commit.

use std::collections::BTreeMap;

use super::ffi::{Entry, Session, WriteKind};
use super::store::{per_group, replica, EllipticsStore};
use crate::storage::{Context, GroupId, GroupResult, ObjectWriter, ReplicaInfo, StorageError};

/// [`crate::storage::Storage::write`].
pub(super) fn start(
    store: &EllipticsStore,
    ctx: &Context,
    key: &str,
    partial: Option<u64>,
    size: u64,
) -> Result<Box<dyn ObjectWriter>, StorageError> {
    if ctx.groups.is_empty() {
        return Err(StorageError::new(libc::ENXIO, "no groups to write to"));
    }
    let mut session = store.session(ctx)?;
    let mut live = ctx.groups.clone();
    let mut failed = BTreeMap::new();
    // A write at an offset needs the object in that group and keeps the
    // bytes past its end: the final size is the larger of the current
    // size and offset + size (as the embedded store does).
    let offset = partial.unwrap_or(0);
    let mut total = offset.checked_add(size).ok_or_else(|| {
        StorageError::new(
            -libc::EFBIG,
            format!("offset {offset} + size {size} is too large"),
        )
    })?;
    let mut partial = partial.is_some();
    let looked_up = if partial {
        let (entries, overall) = session.lookup(key);
        per_group(&ctx.groups, &entries, &overall, replica)
    } else {
        Vec::new()
    };
    // At offset 0 an object that exists in no group is simply written.
    if offset == 0
        && looked_up
            .iter()
            .all(|r| matches!(&r.result, Err(e) if e.is_not_found()))
    {
        partial = false;
    }
    if partial {
        live.clear();
        // A group lacking the object fails: one commit size serves every
        // group, so it cannot be written whole there meanwhile.
        for r in looked_up {
            let checked = match r.result {
                Ok(info) if offset > info.size => Err(StorageError::invalid(format!(
                    "group {}: offset {offset} is past the object's end ({} bytes)",
                    r.group, info.size
                ))),
                Ok(info) => Ok(info.size),
                Err(e) if e.is_not_found() => Err(StorageError::invalid(format!(
                    "group {}: offset {offset} given but the object does not exist",
                    r.group
                ))),
                Err(e) => Err(e),
            };
            match checked {
                Ok(old) => {
                    total = total.max(old);
                    live.push(r.group);
                }
                Err(e) => {
                    failed.insert(r.group, e);
                }
            }
        }
        if live.is_empty() {
            return Err(StorageError::pick(failed.values()));
        }
        if live.len() != ctx.groups.len() {
            session = session.with_groups(live.iter().map(|&g| g as i32).collect())?;
        }
    }
    let base = ctx
        .timeout
        .map(|t| t.as_secs().max(1))
        .unwrap_or(store.wait_timeout);
    Ok(Box::new(EllipticsWriter {
        // Small records commit within the usual wait, on the same session.
        commit_timeout: (total >= COMMIT_READ_RATE).then(|| commit_timeout(base, total)),
        session,
        key: key.to_string(),
        offset,
        partial,
        size,
        total,
        written: 0,
        live,
        failed,
        last: Vec::new(),
        deferred: None,
    }))
}

/// Bytes per second eblob is assumed to read back at least when a commit
/// computes the record's footer (a CRC32 of every MiB, read from the data
/// file: 5 s for 5 GiB from the page cache, far longer from a busy disk).
const COMMIT_READ_RATE: u64 = 32 << 20;

/// Seconds a write_commit (or whole-object write_data) of a `total`-byte
/// record may take: the usual wait plus the footer's read-back at
/// [`COMMIT_READ_RATE`]. With the plain wait timeout (5 s by default) a
/// commit of a few GiB times out although it succeeds on the node.
fn commit_timeout(wait: u64, total: u64) -> i64 {
    wait.saturating_add(total / COMMIT_READ_RATE)
        .min(i64::MAX as u64) as i64
}

/// A streaming write: write_prepare (reserving the final size) /
/// write_plain / write_commit, so the new version stays invisible until
/// [`ObjectWriter::commit`]: the command that makes it visible (the last
/// chunk's write_commit, or the one write_data of a whole object in one
/// chunk) is held until then, so a writer dropped instead leaves no
/// visible object (a recovery copy that finds its source deleted meanwhile
/// once resurrected the key: its write_data had already landed). A write
/// at an offset does the same on the existing record: eblob's prepare
/// keeps the record's bytes, and the commit size keeps any tail past the
/// new bytes (a plain write_data at an offset would cut the object there).
struct EllipticsWriter {
    session: Session,
    key: String,
    offset: u64,
    /// Whether bytes outside `[offset, offset + size)` are kept.
    partial: bool,
    size: u64,
    /// The object's size once committed.
    total: u64,
    written: u64,
    /// Groups that have not failed yet.
    live: Vec<GroupId>,
    failed: BTreeMap<GroupId, StorageError>,
    /// Replies of the latest command, per live group.
    last: Vec<Entry>,
    /// Seconds the commit may take ([`commit_timeout`]), when more than the wait.
    commit_timeout: Option<i64>,
    /// The command that makes the object visible, sent by `commit`: its
    /// kind, bytes, remote offset and size argument (at most one chunk).
    deferred: Option<(WriteKind, Vec<u8>, u64, u64)>,
}

impl EllipticsWriter {
    fn send(
        &mut self,
        kind: WriteKind,
        data: &[u8],
        remote_offset: u64,
        size_arg: u64,
    ) -> Result<(), StorageError> {
        let long = self
            .commit_timeout
            .filter(|_| matches!(kind, WriteKind::Commit | WriteKind::Data));
        let (entries, overall) = if let Some(secs) = long {
            self.session
                .with_timeout(secs)?
                .write(kind, &self.key, data, remote_offset, size_arg)
        } else {
            self.session
                .write(kind, &self.key, data, remote_offset, size_arg)
        };
        let results = per_group(&self.live, &entries, &overall, |_| Ok(()));
        let before = self.live.len();
        for r in results {
            if let Err(e) = r.result {
                self.live.retain(|&g| g != r.group);
                self.failed.insert(r.group, e);
            }
        }
        self.last = entries.into_iter().filter(|e| e.status == 0).collect();
        if self.live.is_empty() {
            return Err(StorageError::pick(self.failed.values()));
        }
        if self.live.len() != before {
            self.session = self
                .session
                .with_groups(self.live.iter().map(|&g| g as i32).collect())?;
        }
        Ok(())
    }
}

impl ObjectWriter for EllipticsWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        if self.live.is_empty() {
            return Err(StorageError::pick(self.failed.values()));
        }
        let end = self.written.saturating_add(data.len() as u64);
        if end > self.size {
            return Err(StorageError::invalid(format!(
                "body is longer than the declared {} bytes",
                self.size
            )));
        }
        let remote = self.offset + self.written;
        let total = self.total;
        let (first, last) = (self.written == 0, end == self.size);
        let kind = if first && last && !self.partial {
            WriteKind::Data
        } else if first {
            WriteKind::Prepare
        } else if last {
            WriteKind::Commit
        } else {
            WriteKind::Plain
        };
        match kind {
            WriteKind::Data | WriteKind::Commit => {
                self.deferred = Some((kind, data.to_vec(), remote, total));
            }
            _ => {
                self.send(kind, data, remote, total)?;
                if first && last {
                    let at = remote + data.len() as u64;
                    self.deferred = Some((WriteKind::Commit, Vec::new(), at, total));
                }
            }
        }
        self.written = end;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>> {
        if let Some((kind, data, remote, total)) = self.deferred.take() {
            // A failure lands in `failed`, answered below.
            let _ = self.send(kind, &data, remote, total);
        }
        if self.size == 0 && self.written == 0 && !self.live.is_empty() {
            let _ = self.send(WriteKind::Data, &[], self.offset, self.offset);
        }
        if self.written < self.size {
            let e = StorageError::new(
                -libc::EIO,
                format!("body ended after {} of {} bytes", self.written, self.size),
            );
            return self
                .live
                .iter()
                .map(|&g| (g, Err(e.clone())))
                .chain(self.failed.iter().map(|(&g, e)| (g, Err(e.clone()))))
                .map(|(group, result)| GroupResult { group, result })
                .collect();
        }
        // Elliptics stores no zero-length record: over a new key the write
        // fails with ENOENT, over an existing one it "succeeds" and leaves
        // the old bytes. Both are the same failure (the object is not
        // empty afterwards), so both answer ENOENT.
        let truncate = self.size == 0 && !self.partial;
        let mut out: Vec<GroupResult<ReplicaInfo>> = self
            .live
            .iter()
            .map(|&g| GroupResult {
                group: g,
                result: self
                    .last
                    .iter()
                    .find(|e| e.group == g)
                    .ok_or_else(|| StorageError::new(libc::EIO, "no reply"))
                    .and_then(replica)
                    .and_then(|info| match info.size {
                        n if truncate && n != 0 => Err(StorageError::new(
                            -libc::ENOENT,
                            format!(
                                "group {g}: Elliptics cannot store an empty object; \
                                 the key keeps its {n} bytes"
                            ),
                        )),
                        _ => Ok(info),
                    }),
            })
            .collect();
        out.extend(self.failed.iter().map(|(&g, e)| GroupResult {
            group: g,
            result: Err(e.clone()),
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::commit_timeout;

    #[test]
    fn commit_timeout_grows_with_the_record() {
        assert_eq!(commit_timeout(5, 0), 5);
        assert_eq!(commit_timeout(5, 1 << 20), 5);
        assert_eq!(commit_timeout(5, 1 << 30), 5 + 32);
        assert_eq!(commit_timeout(60, 5 << 30), 60 + 160);
        assert_eq!(commit_timeout(u64::MAX, u64::MAX), i64::MAX);
    }
}
