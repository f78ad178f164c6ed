//! Compare-and-swap over the store: versions, versioned reads, and
//! replicated read-modify-write updates built on [`Storage::write_if`].
//!
//! A [`Version`] is the SHA-512 of an object's bytes, which is what the
//! Elliptics server compares a `write_cas` against (its eblob backend hashes
//! the record as stored) and what the embedded store keeps in each object's
//! header. Reads compute it from the bytes they got; no lookup is needed
//! (Elliptics 3.0 lookups answer all-zero checksums).
//!
//! [`update`] keeps one object consistent over several groups: the first
//! group of the context is the *primary*, where every update is a
//! compare-and-swap, so concurrent writers (threads, processes, proxies)
//! serialize there and none loses its change. The other groups get copies:
//! each copy is written by compare-and-swap too, against the version the
//! writer replaced, and an object carries a generation number that only
//! grows, so a late copy never replaces a newer one and a replica that
//! missed updates catches up at the next one. Reads ([`read`]) answer the
//! primary's copy, or the newest replica when the primary cannot answer.
//!
//! Envelope of an object kept by [`update`]: `b"BRcas001"`, the generation
//! (u64, little endian), the CRC32C of the payload (u32, little endian),
//! the caller's payload. The CRC finds a read that overlapped a write of the
//! same record (Elliptics overwrites a record in place when the new version
//! fits, so a concurrent read may see parts of both): such a read is
//! retried, never handed to the caller.

use std::time::Duration;

use openssl::sha::sha512;

use super::{Context, GroupId, Storage, StorageError};

/// The version of a stored object, for [`Storage::write_if`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// No object.
    Absent,
    /// The SHA-512 of the object's bytes.
    Digest([u8; 64]),
}

impl Version {
    /// The version of an object holding `data`.
    pub fn of(data: &[u8]) -> Version {
        Version::Digest(sha512(data))
    }

    /// The checksum an Elliptics `write_cas` expects: the digest, or all
    /// zeros for "absent" (which no stored, non-empty record hashes to).
    pub fn checksum(&self) -> [u8; 64] {
        match self {
            Version::Absent => [0; 64],
            Version::Digest(d) => *d,
        }
    }
}

/// The errno of a compare-and-swap that found another version.
pub const CONFLICT: i32 = -libc::EBADFD;

/// A conflict error, as stores answer it.
pub fn conflict(message: impl Into<String>) -> StorageError {
    StorageError::new(CONFLICT, message)
}

/// Reads `key` (at most `limit` bytes) from the first group of `ctx` that
/// holds it, with its version; `None` when no group has it.
pub fn read_versioned(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
) -> Result<Option<(Vec<u8>, Version)>, StorageError> {
    let len = usize::try_from(limit).unwrap_or(usize::MAX);
    match storage.open_read(ctx, key, 0, len) {
        Ok((reader, data)) => {
            let size = reader.info().size;
            if size > limit {
                return Err(StorageError::new(
                    libc::EFBIG,
                    format!("object {key} is {size} bytes, more than {limit}"),
                ));
            }
            if (data.len() as u64) < size {
                return Err(StorageError::new(
                    libc::EIO,
                    format!("object {key} ended early"),
                ));
            }
            // A read reply may run past the record's size: only its bytes count.
            let data = &data[..size as usize];
            let version = Version::of(data);
            Ok(Some((data.to_vec(), version)))
        }
        Err(e) if e.is_not_found() && !e.is_conflict() && !e.is_corrupt() => Ok(None),
        Err(e) => Err(e),
    }
}

mod envelope;
use envelope::TORN;
pub use envelope::{envelope, open_envelope};

/// Reads of a torn record retried before giving up.
const TORN_READS: u32 = 20;

/// An object kept by [`update`], as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The caller's bytes.
    pub payload: Vec<u8>,
    /// Updates it has seen: 1 for the first.
    pub generation: u64,
    /// The group it was read from.
    pub group: GroupId,
    /// The stored object's version (of the whole envelope).
    pub version: Version,
}

fn one_group(ctx: &Context, group: GroupId) -> Context {
    Context {
        groups: vec![group],
        ..ctx.clone()
    }
}

/// Reads `key` (kept in the `storage::cas` envelope) from `group` alone,
/// reading again while it is caught being rewritten (torn); `None` when
/// that group does not hold it.
pub fn read_group(
    storage: &dyn Storage,
    ctx: &Context,
    group: GroupId,
    key: &str,
    limit: u64,
) -> Result<Option<Stored>, StorageError> {
    let gctx = one_group(ctx, group);
    let mut attempt = 0;
    loop {
        let Some((data, version)) = read_versioned(storage, &gctx, key, limit)? else {
            return Ok(None);
        };
        match open_envelope(key, &data) {
            Ok((generation, payload)) => {
                return Ok(Some(Stored {
                    payload: payload.to_vec(),
                    generation,
                    group,
                    version,
                }))
            }
            Err(e) if e.errno == TORN && attempt < TORN_READS => {
                attempt += 1;
                pause(attempt, Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The newest copy among the groups after the primary (`None` if none has one).
fn newest_replica(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
) -> Result<Option<Stored>, StorageError> {
    let mut best: Option<Stored> = None;
    let mut first_err = None;
    for &g in ctx.groups.iter().skip(1) {
        match read_group(storage, ctx, g, key, limit) {
            Ok(Some(s)) if best.as_ref().map_or(true, |b| s.generation > b.generation) => {
                best = Some(s)
            }
            Ok(_) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match (best, first_err) {
        (Some(b), _) => Ok(Some(b)),
        (None, Some(e)) if ctx.groups.len() > 1 => Err(e),
        _ => Ok(None),
    }
}

/// Reads an object kept by [`update`]: the primary's copy, or, when the
/// primary lacks it or cannot answer, the newest copy of the other groups
/// (`None` when they all answer and none has it).
pub fn read(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
) -> Result<Option<Stored>, StorageError> {
    let Some(&primary) = ctx.groups.first() else {
        return Err(StorageError::new(libc::ENXIO, "no groups to read from"));
    };
    match read_group(storage, ctx, primary, key, limit) {
        Ok(Some(s)) => Ok(Some(s)),
        Ok(None) => newest_replica(storage, ctx, key, limit),
        // Every other group answered and none has it: absent (an index
        // listing goes on while its primary is away; an absent root only
        // costs hops along the shard links).
        Err(e) => match newest_replica(storage, ctx, key, limit) {
            Ok(Some(s)) => Ok(Some(s)),
            Ok(None) if ctx.groups.len() > 1 => Ok(None),
            _ => Err(e),
        },
    }
}

/// Writes a new object that no one else knows yet (generation 1) in every
/// group of `ctx`; fails unless the primary took it.
pub fn write_fresh(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    payload: &[u8],
) -> Result<(), StorageError> {
    let results = super::write_small(storage, ctx, key, &envelope(1, payload))?;
    for r in &results {
        if let Err(e) = &r.result {
            if Some(&r.group) == ctx.groups.first() {
                return Err(e.clone());
            }
            log::warn!("{}/{key}: group {}: {e}", ctx.namespace, r.group);
        }
    }
    Ok(())
}

/// What an update's function decided.
#[derive(Debug)]
pub enum Change<T> {
    /// Store this payload, then answer the value.
    Write(Vec<u8>, T),
    /// Store nothing; answer the value.
    Keep(T),
}

/// Tuning of [`update`].
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Compare-and-swap attempts on the primary before giving up.
    pub attempts: u32,
    /// Longest pause between attempts (the pause grows up to it, randomized).
    pub max_pause: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 64,
            max_pause: Duration::from_millis(50),
        }
    }
}

/// What an update cost, for statistics and docs/index.md.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateCost {
    /// Compare-and-swap attempts on the primary (1 without contention).
    pub attempts: u32,
    /// Store calls made (reads and writes, all groups).
    pub calls: u32,
    /// Bytes written (all groups).
    pub bytes_written: u64,
}

/// Read-modify-write of `key` kept in the groups of `ctx` (see the module
/// doc): reads the primary's copy (at most `limit` bytes), passes its
/// payload (`None` when absent) to `f`, and writes what `f` answers by
/// compare-and-swap, again from the read on a conflict; then copies it to
/// the other groups. Fails when the primary cannot be read or written (an
/// update never happens on replicas alone: they would fork), when `f`
/// fails, or after `retry.attempts` conflicts. A replica that cannot be
/// written is logged and left behind; a later update brings it up to date.
pub fn update<T>(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
    retry: Retry,
    f: impl FnMut(Option<&[u8]>) -> Result<Change<T>, StorageError>,
) -> Result<(T, UpdateCost), StorageError> {
    update_known(storage, ctx, key, limit, retry, None, f).map(|(v, cost, _)| (v, cost))
}

/// [`update`] from `known`, the primary's copy as this process last wrote
/// or read it: the first compare-and-swap goes against that version without
/// reading the primary (one store call less); when the copy changed since,
/// the store refuses it and the update goes on from a read as [`update`]
/// does. Answers also the primary's copy after the update (`None` when
/// unknown), to pass as `known` next time.
pub fn update_known<T>(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
    retry: Retry,
    mut known: Option<Stored>,
    mut f: impl FnMut(Option<&[u8]>) -> Result<Change<T>, StorageError>,
) -> Result<(T, UpdateCost, Option<Stored>), StorageError> {
    let Some(&primary) = ctx.groups.first() else {
        return Err(StorageError::new(libc::ENXIO, "no groups to write to"));
    };
    let pctx = one_group(ctx, primary);
    let mut cost = UpdateCost::default();
    // Where an absent key takes any compare-and-swap, a primary that came
    // back empty would take a write made from the known copy, stale if
    // another process wrote since: read first there.
    known = known.filter(|k| k.group == primary && !storage.write_if_takes_absent());
    let mut from_known = false;
    for attempt in 0..retry.attempts.max(1) {
        // A refused known copy is no contention: read at once.
        if attempt > 0 && !from_known {
            pause(attempt, retry.max_pause);
        }
        cost.attempts += 1;
        from_known = known.is_some();
        let read = match known.take() {
            Some(k) => Some(k),
            None => {
                cost.calls += 1;
                read_group(storage, ctx, primary, key, limit)?
            }
        };
        let (base, expected) = match read {
            Some(s) => {
                let v = s.version.clone();
                (Some(s), v)
            }
            // A primary without the object (new, or replaced): start from
            // the newest replica, if any.
            None => {
                cost.calls += ctx.groups.len().saturating_sub(1) as u32;
                (
                    newest_replica(storage, ctx, key, limit).unwrap_or(None),
                    Version::Absent,
                )
            }
        };
        let (payload, value) = match f(base.as_ref().map(|b| b.payload.as_slice()))? {
            Change::Keep(v) => return Ok((v, cost, base.filter(|b| b.group == primary))),
            Change::Write(p, v) => (p, v),
        };
        let generation = base.as_ref().map_or(0, |b| b.generation) + 1;
        let data = envelope(generation, &payload);
        if data.len() as u64 > limit {
            return Err(StorageError::new(
                libc::EFBIG,
                format!("{key}: {} bytes, more than {limit}", data.len()),
            ));
        }
        cost.calls += 1;
        cost.bytes_written += data.len() as u64;
        let r = storage.write_if(&pctx, key, &data, &expected);
        match r.into_iter().next().map(|g| g.result) {
            Some(Ok(_)) => {}
            Some(Err(e)) if e.is_conflict() => continue,
            Some(Err(e)) => return Err(e),
            None => return Err(StorageError::new(libc::EIO, "no reply from the primary")),
        }
        // The replicas normally hold what the primary held.
        let replaced = match &base {
            Some(b) if b.group == primary => b.version.clone(),
            Some(b) => envelope_version(b),
            None => Version::Absent,
        };
        replicate(
            storage, ctx, key, limit, &data, generation, replaced, &mut cost,
        );
        let now = Stored {
            version: Version::of(&data),
            payload,
            generation,
            group: primary,
        };
        return Ok((value, cost, Some(now)));
    }
    Err(conflict(format!(
        "{key}: still changing after {} attempts",
        retry.attempts
    )))
}

fn envelope_version(s: &Stored) -> Version {
    Version::of(&envelope(s.generation, &s.payload))
}

/// Copies `data` (generation `generation`) to the groups after the primary.
#[allow(clippy::too_many_arguments)]
fn replicate(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
    limit: u64,
    data: &[u8],
    generation: u64,
    replaced: Version,
    cost: &mut UpdateCost,
) {
    let others: Vec<GroupId> = ctx.groups.iter().skip(1).copied().collect();
    if others.is_empty() {
        return;
    }
    let octx = Context {
        groups: others,
        ..ctx.clone()
    };
    cost.calls += 1;
    cost.bytes_written += data.len() as u64 * octx.groups.len() as u64;
    for r in storage.write_if(&octx, key, data, &replaced) {
        match r.result {
            Ok(_) => {}
            Err(e) if e.is_conflict() => {
                catch_up(storage, ctx, r.group, key, limit, data, generation, cost)
            }
            Err(e) => log::warn!(
                "{}/{key}: copy to group {} failed (it catches up at the next update): {e}",
                ctx.namespace,
                r.group
            ),
        }
    }
}

/// A replica that did not hold the replaced version: write ours over it by
/// compare-and-swap unless it already holds a newer generation.
#[allow(clippy::too_many_arguments)]
fn catch_up(
    storage: &dyn Storage,
    ctx: &Context,
    group: GroupId,
    key: &str,
    limit: u64,
    data: &[u8],
    generation: u64,
    cost: &mut UpdateCost,
) {
    let gctx = one_group(ctx, group);
    for _ in 0..8 {
        cost.calls += 2;
        let current = match read_versioned(storage, &gctx, key, limit) {
            Ok(Some((bytes, v))) => match open_envelope(key, &bytes) {
                Ok((g, _)) if g >= generation => return,
                // Being rewritten right now: by a newer writer, or by us.
                Err(e) if e.errno == TORN => continue,
                _ => v,
            },
            Ok(None) => Version::Absent,
            Err(e) => {
                log::warn!("{}/{key}: group {group}: {e}", ctx.namespace);
                return;
            }
        };
        cost.bytes_written += data.len() as u64;
        let result = storage
            .write_if(&gctx, key, data, &current)
            .pop()
            .map(|r| r.result);
        match result {
            Some(Err(e)) if e.is_conflict() => continue,
            Some(Err(e)) => {
                log::warn!("{}/{key}: group {group}: {e}", ctx.namespace);
                return;
            }
            _ => return,
        }
    }
}

/// Sleeps a random time up to `min(max, 1 ms << attempt)`.
fn pause(attempt: u32, max: Duration) {
    let cap = Duration::from_millis(1u64 << attempt.min(16)).min(max);
    let nanos = cap.as_nanos() as u64;
    if nanos > 0 {
        std::thread::sleep(Duration::from_nanos(rand::random::<u64>() % nanos + 1));
    }
}

#[cfg(test)]
mod tests;
