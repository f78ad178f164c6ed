//! Reads from Elliptics: the replica found first, chunk by chunk, with
//! failover to replicas of the same version on a checksum error.

use bytes::Bytes;

use super::ffi::{Entry, Session};
use super::store::{hex, per_group, replica, ChecksumErrors, EllipticsStore, IO_FLAGS_NOCSUM};
use crate::storage::{Context, GroupId, ObjectReader, ReplicaInfo, Replicas, StorageError};

/// The context of a read: the server checks every read against its
/// checksums (-EILSEQ on a mismatch), and no flag may turn that off.
fn read_context(ctx: &Context) -> Context {
    let mut rctx = ctx.clone();
    rctx.ioflags &= !IO_FLAGS_NOCSUM;
    rctx
}

impl EllipticsStore {
    /// Looks `key` up and opens the replica found first.
    pub(super) fn reader(&self, ctx: &Context, key: &str) -> Result<EllipticsReader, StorageError> {
        let s = self.session(&read_context(ctx))?;
        let (entries, overall) = s.lookup(key);
        let results = per_group(&ctx.groups, &entries, &overall, replica);
        let info = match results.successes().next() {
            Some((_, i)) => i.clone(),
            None => return Err(results.error()),
        };
        // Read the replica found first; the client library moves to the next
        // group on an error (a failed checksum too), so only groups holding
        // the same version follow, and a chunk never mixes versions.
        let mut order = vec![info.group as i32];
        order.extend(results.iter().filter_map(|r| match &r.result {
            Ok(other) if other.group != info.group && !other.differs_from(&info) => {
                Some(other.group as i32)
            }
            _ => None,
        }));
        self.reader_in_order(&s, order, key, info)
    }

    /// A reader of `info` that reads the groups in `order`.
    fn reader_in_order(
        &self,
        s: &Session,
        order: Vec<i32>,
        key: &str,
        info: ReplicaInfo,
    ) -> Result<EllipticsReader, StorageError> {
        Ok(EllipticsReader {
            session: s.with_groups(order.clone())?,
            order,
            key: key.to_string(),
            info,
            checksum_errors: self.checksum_errors.clone(),
            corrupt: Vec::new(),
        })
    }
}

/// From the start of an object, one read command: its reply carries the
/// record's size and time, so no lookup goes first, and a small object
/// is served by that one round trip. The replica's data file and
/// checksum are not in a read reply: the ETag then comes from id, size
/// and time, as it does for the all-zero checksums that Elliptics 3.0
/// lookups answer. An object larger than the first chunk is looked up
/// as well, so that later chunks come only from replicas of the same
/// version.
pub(super) fn open_first(
    store: &EllipticsStore,
    ctx: &Context,
    key: &str,
    at: u64,
    len: usize,
) -> Result<(Box<dyn ObjectReader>, Bytes), StorageError> {
    if at != 0 || len == 0 {
        // Past the end a read fails where a lookup answers the size.
        return crate::storage::open_then_read(store, ctx, key, at, len);
    }
    let s = store.session(&read_context(ctx))?;
    let (entries, overall) = s.read(key, 0, len as u64);
    let Some(first) = entries.iter().position(|e| e.status == 0) else {
        if entries.iter().any(|e| e.status == -libc::EILSEQ) {
            // Bad records: the lookup path counts and skips them.
            return crate::storage::open_then_read(store, ctx, key, at, len);
        }
        // A missing key costs this one round trip, not a lookup more.
        let errors: Vec<StorageError> = entries.iter().filter_map(|e| e.result().err()).collect();
        return Err(if errors.is_empty() {
            overall
                .err()
                .unwrap_or_else(|| StorageError::new(libc::EIO, "read returned nothing"))
        } else {
            StorageError::pick(&errors)
        });
    };
    let e = &entries[first];
    if (e.data.len() as u64) < e.total_size {
        let mut reader = store.reader(ctx, key)?;
        reader.note_corrupt(&entries)?;
        let i = &reader.info;
        let data = if i.group == e.group && i.size == e.total_size && i.mtime == e.mtime {
            Bytes::from(
                entries
                    .into_iter()
                    .nth(first)
                    .map(|e| e.data)
                    .unwrap_or_default(),
            )
        } else {
            crate::storage::read_full(&mut reader, 0, len)?
        };
        return Ok((Box::new(reader), data));
    }
    let info = ReplicaInfo {
        group: e.group,
        backend: e.backend,
        address: e.address.clone(),
        id: hex(&e.id),
        filename: String::new(),
        offset: 0,
        size: e.total_size,
        mtime: e.mtime,
        csum: Vec::new(),
    };
    // The whole object came in this reply: no later chunk needs an order.
    let order = vec![info.group as i32];
    let mut reader = store.reader_in_order(&s, order, key, info)?;
    reader.note_corrupt(&entries)?;
    let data = entries
        .into_iter()
        .nth(first)
        .map(|e| e.data)
        .unwrap_or_default();
    Ok((Box::new(reader), Bytes::from(data)))
}

/// Reads one replica chunk by chunk; a chunk that fails the server's
/// checksum is read from the next group holding the same version.
pub(super) struct EllipticsReader {
    session: Session,
    /// Groups of `session`, in reading order.
    order: Vec<i32>,
    key: String,
    info: ReplicaInfo,
    checksum_errors: ChecksumErrors,
    /// Groups whose replica failed a checksum, not yet taken.
    corrupt: Vec<GroupId>,
}

impl EllipticsReader {
    /// Counts every group that answered `-EILSEQ` and moves it to the end of
    /// the reading order, so later chunks go to a good replica first.
    fn note_corrupt(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let bad: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.status == -libc::EILSEQ)
            .collect();
        if bad.is_empty() {
            return Ok(());
        }
        for e in &bad {
            log::error!(
                "group {} ({} backend {}): {}: checksum mismatch",
                e.group,
                e.address,
                e.backend,
                self.key
            );
            *self
                .checksum_errors
                .lock()
                .entry((e.address.clone(), e.backend))
                .or_default() += 1;
            if !self.corrupt.contains(&e.group) {
                self.corrupt.push(e.group);
            }
        }
        // A bad record may be bad in one chunk only: its group moves to the
        // end of the order (the last resort) instead of leaving it.
        let (bad_groups, mut good): (Vec<i32>, Vec<i32>) = self
            .order
            .iter()
            .copied()
            .partition(|&g| bad.iter().any(|e| e.group as i32 == g));
        good.extend(bad_groups);
        if good != self.order {
            self.order = good;
            self.session = self.session.with_groups(self.order.clone())?;
        }
        Ok(())
    }
}

impl ObjectReader for EllipticsReader {
    fn info(&self) -> &ReplicaInfo {
        &self.info
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        if offset >= self.info.size || len == 0 {
            return Ok(Bytes::new());
        }
        let want = (len as u64).min(self.info.size - offset);
        let (entries, overall) = self.session.read(&self.key, offset, want);
        self.note_corrupt(&entries)?;
        match entries.into_iter().find(|e| e.status == 0) {
            Some(e) if e.total_size != 0 && e.total_size != self.info.size => {
                Err(StorageError::new(
                    libc::EIO,
                    format!(
                        "group {}: {} changed during the read ({} bytes, was {})",
                        e.group, self.key, e.total_size, self.info.size
                    ),
                ))
            }
            Some(e) => Ok(Bytes::from(e.data)),
            None => Err(overall
                .err()
                .unwrap_or_else(|| StorageError::new(libc::EIO, "read returned nothing"))),
        }
    }

    fn take_corrupt(&mut self) -> Vec<GroupId> {
        std::mem::take(&mut self.corrupt)
    }
}
