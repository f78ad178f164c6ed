//! Reads from Elliptics: the replica found first, chunk by chunk, with
//! failover to replicas of the same version on a checksum error.

use std::sync::Arc;

use bytes::Bytes;

use super::ffi::{Entry, Node, Replies, Session};
use super::store::{
    hex, per_group, replica, session_on, ChecksumErrors, EllipticsStore, IO_FLAGS_NOCSUM,
};
use crate::storage::{
    Context, GroupId, ObjectReader, OpenedRead, OpeningRead, ReplicaInfo, Replicas, StartedRead,
    StorageError,
};

/// The context of a read: the server checks every read against its
/// checksums (-EILSEQ on a mismatch), and no flag may turn that off.
fn read_context(ctx: &Context) -> Context {
    let mut rctx = ctx.clone();
    rctx.ioflags &= !IO_FLAGS_NOCSUM;
    rctx
}

/// What reads need of the store, cheap to clone into work that runs on
/// another thread after a started read's reply.
#[derive(Clone)]
pub(super) struct Reads {
    node: Arc<Node>,
    checksum_errors: ChecksumErrors,
}

impl EllipticsStore {
    /// The store's read side.
    pub(super) fn reads(&self) -> Reads {
        Reads {
            node: self.node.clone(),
            checksum_errors: self.checksum_errors.clone(),
        }
    }
}

impl Reads {
    fn session(&self, ctx: &Context) -> Result<Session, StorageError> {
        session_on(&self.node, &read_context(ctx))
    }

    /// Looks `key` up and opens the replica found first.
    pub(super) fn reader(&self, ctx: &Context, key: &str) -> Result<EllipticsReader, StorageError> {
        let s = self.session(ctx)?;
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

    /// [`Self::reader`], then `len` bytes from `at`.
    fn open_then_read(&self, ctx: &Context, key: &str, at: u64, len: usize) -> OpenedRead {
        crate::storage::then_read(Box::new(self.reader(ctx, key)?), at, len)
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
) -> OpenedRead {
    let reads = store.reads();
    if at != 0 || len == 0 {
        // Past the end a read fails where a lookup answers the size.
        return reads.open_then_read(ctx, key, at, len);
    }
    let s = reads.session(ctx)?;
    let replies = s.read(key, 0, len as u64);
    match first_reply(reads, s, ctx, key, len, replies) {
        StartedRead::Done(r) => r,
        StartedRead::Then(rest) => rest(),
    }
}

/// [`open_first`] started: the read command is sent and its reply awaited
/// without a thread parked on it. Only a reply that needs a lookup after it
/// (an object larger than `len`, a replica failing its checksum) leaves work
/// that waits. `None` where `open_first` would not start with a read.
pub(super) fn start_open_first(
    store: &EllipticsStore,
    ctx: &Context,
    key: &str,
    at: u64,
    len: usize,
) -> Option<OpeningRead> {
    if at != 0 || len == 0 {
        return None;
    }
    let reads = store.reads();
    let started = reads
        .session(ctx)
        .and_then(|s| Ok((s.read_started(key, 0, len as u64)?, s)));
    let (ctx, key) = (ctx.clone(), key.to_string());
    Some(Box::pin(async move {
        let (reply, s) = match started {
            Ok(started) => started,
            Err(e) => return StartedRead::Done(Err(e)),
        };
        first_reply(reads, s, &ctx, &key, len, reply.await)
    }))
}

/// What the first read's `replies` give: the object when the reply holds
/// all of it, a missing key, or the lookup and reads still to make.
fn first_reply(
    reads: Reads,
    s: Session,
    ctx: &Context,
    key: &str,
    len: usize,
    (entries, overall): Replies,
) -> StartedRead {
    let Some(first) = entries.iter().position(|e| e.status == 0) else {
        if entries.iter().any(|e| e.status == -libc::EILSEQ) {
            // Bad records: the lookup path counts and skips them.
            let (ctx, key) = (ctx.clone(), key.to_string());
            return StartedRead::Then(Box::new(move || reads.open_then_read(&ctx, &key, 0, len)));
        }
        // A missing key costs this one round trip, not a lookup more.
        let errors: Vec<StorageError> = entries.iter().filter_map(|e| e.result().err()).collect();
        return StartedRead::Done(Err(if errors.is_empty() {
            overall
                .err()
                .unwrap_or_else(|| StorageError::new(libc::EIO, "read returned nothing"))
        } else {
            StorageError::pick(&errors)
        }));
    };
    if (entries[first].data.len() as u64) < entries[first].total_size {
        let (ctx, key) = (ctx.clone(), key.to_string());
        return StartedRead::Then(Box::new(move || {
            let mut reader = reads.reader(&ctx, &key)?;
            reader.note_corrupt(&entries)?;
            let (i, e) = (&reader.info, &entries[first]);
            let data = if i.group == e.group && i.size == e.total_size && i.mtime == e.mtime {
                data_of(entries, first)
            } else {
                crate::storage::read_full(&mut reader, 0, len)?
            };
            Ok((Box::new(reader), data))
        }));
    }
    StartedRead::Done(whole_in_reply(&reads, &s, key, entries, first))
}

/// A reader over the object the read reply `entries[first]` holds whole.
fn whole_in_reply(
    reads: &Reads,
    s: &Session,
    key: &str,
    entries: Vec<Entry>,
    first: usize,
) -> OpenedRead {
    let e = &entries[first];
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
    let mut reader = reads.reader_in_order(s, order, key, info)?;
    reader.note_corrupt(&entries)?;
    Ok((Box::new(reader), data_of(entries, first)))
}

/// The bytes of reply `entries[first]`, without a copy.
fn data_of(entries: Vec<Entry>, first: usize) -> Bytes {
    let data = entries.into_iter().nth(first).map(|e| e.data);
    Bytes::from(data.unwrap_or_default())
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
