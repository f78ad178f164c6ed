//! The journal of index changes waiting for their bucket's primary, kept
//! in the cluster: the queue of [`super::pending`] lives in one proxy's
//! memory, so a proxy killed while the primary is away would lose it. Each
//! change queued there is also appended here before the write or removal
//! is acknowledged, and any proxy replays what it finds (docs/index.md,
//! "When the primary is away").
//!
//! Bucket B's journal is [`SLOTS`] objects `journal-00` ... `journal-1f`
//! in namespace `B/index`, a key's changes always in the slot its name
//! hashes to, each slot a list of records (key, nonce, change) wrapped as
//! [`cas`] keeps objects. Elliptics cannot enumerate keys, so the slots
//! have fixed names: a replay reads them all. They are written to the
//! bucket's groups after the first (the primary is the group that is
//! away), each group by its own compare-and-swap, so appends and removals
//! of any number of proxies never lose a record; an append holds when one
//! group took it. A replay applies a record only as the object still
//! stands (`pending::apply`), so replaying a record twice, by
//! two proxies, or after a newer change of its key, writes nothing wrong.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::pending::{self, Apply, Change};
use super::shard::{encode, index_ctx, Entry};
use crate::storage::cas::{self, Retry};
use crate::storage::{Context, GroupId, Storage, StorageError};

/// Slots of a bucket's journal.
pub const SLOTS: u32 = 32;
/// The largest slot: an append past it fails (the change then waits in
/// its proxy's memory only, and is logged).
const SLOT_LIMIT: u64 = 8 << 20;

/// One waiting change, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The object key.
    #[serde(rename = "k")]
    pub key: String,
    /// Names this change among the key's: the queue's sequence number of
    /// the proxy that made it (random start, so proxies do not collide).
    #[serde(rename = "n")]
    pub nonce: u64,
    /// The entry to record, or `None` for a removal.
    #[serde(rename = "e", default)]
    pub entry: Option<Entry>,
}

impl Record {
    /// The record of `change` of `key`.
    pub fn new(key: &str, nonce: u64, change: &Change) -> Record {
        Record {
            key: key.to_string(),
            nonce,
            entry: match change {
                Change::Put(e) => Some(e.clone()),
                Change::Remove => None,
            },
        }
    }

    /// Its key, nonce and change, as a replay applies them.
    fn into_change(self) -> (String, u64, Change) {
        let change = match self.entry {
            Some(e) => Change::Put(e),
            None => Change::Remove,
        };
        (self.key, self.nonce, change)
    }
}

/// The slot of `key`.
fn slot_of(key: &str) -> u32 {
    crc32c::crc32c(key.as_bytes()) % SLOTS
}

/// The object name of `slot`.
pub fn slot_key(slot: u32) -> String {
    format!("journal-{slot:02x}")
}

/// The groups holding `bucket`'s journal: all but the primary (a bucket of
/// one group keeps it there).
fn journal_groups(bucket: &Context) -> Vec<GroupId> {
    match bucket.groups.as_slice() {
        [only] => vec![*only],
        [_, rest @ ..] => rest.to_vec(),
        [] => Vec::new(),
    }
}

fn in_group(bucket: &Context, group: GroupId) -> Context {
    let mut ctx = index_ctx(bucket);
    ctx.groups = vec![group];
    ctx
}

fn decode(data: Option<&[u8]>) -> Result<Vec<Record>, StorageError> {
    match data {
        None | Some([]) => Ok(Vec::new()),
        Some(d) => rmp_serde::from_slice(d).map_err(|e| {
            StorageError::new(-libc::EILSEQ, format!("index journal: damaged slot: {e}"))
        }),
    }
}

/// By slot.
fn by_slot<T>(items: impl IntoIterator<Item = (String, T)>) -> BTreeMap<u32, Vec<(String, T)>> {
    let mut m: BTreeMap<u32, Vec<(String, T)>> = BTreeMap::new();
    for (key, t) in items {
        m.entry(slot_of(&key)).or_default().push((key, t));
    }
    m
}

/// Read-modify-write of `slot` in each journal group; answers whether one
/// group took it, else the last error.
fn update_slot(
    storage: &dyn Storage,
    bucket: &Context,
    slot: u32,
    f: impl Fn(&mut Vec<Record>) -> bool,
) -> Result<(), StorageError> {
    let key = slot_key(slot);
    let mut last = None;
    let mut held = false;
    for g in journal_groups(bucket) {
        let r = cas::update(
            storage,
            &in_group(bucket, g),
            &key,
            SLOT_LIMIT,
            Retry::default(),
            |old| {
                let mut records = decode(old)?;
                if !f(&mut records) {
                    return Ok(cas::Change::Keep(()));
                }
                Ok(cas::Change::Write(encode(&records)?, ()))
            },
        );
        match r {
            Ok(_) => held = true,
            Err(e) => last = Some(e),
        }
    }
    match (held, last) {
        (true, _) | (false, None) => Ok(()),
        (false, Some(e)) => Err(e),
    }
}

/// Appends `records` to `bucket`'s journal, each replacing the records of
/// its key already there. Fails when a slot was taken by no group.
pub fn append(
    storage: &dyn Storage,
    bucket: &Context,
    records: Vec<Record>,
) -> Result<(), StorageError> {
    let slots = by_slot(records.into_iter().map(|r| (r.key.clone(), r)));
    for (slot, new) in slots {
        let keys: BTreeSet<&str> = new.iter().map(|(k, _)| k.as_str()).collect();
        update_slot(storage, bucket, slot, |records| {
            records.retain(|r| !keys.contains(r.key.as_str()));
            records.extend(new.iter().map(|(_, r)| r.clone()));
            true
        })?;
    }
    Ok(())
}

/// Drops the records `done` (key, nonce) from `bucket`'s journal; a newer
/// record of the key stays. Failures are logged: a record left behind is
/// replayed again later, which writes nothing wrong.
pub fn forget(storage: &dyn Storage, bucket: &Context, done: &[(String, u64)]) {
    let slots = by_slot(done.iter().cloned());
    for (slot, done) in slots {
        let done: BTreeSet<(&str, u64)> = done.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        let r = update_slot(storage, bucket, slot, |records| {
            let before = records.len();
            records.retain(|r| !done.contains(&(r.key.as_str(), r.nonce)));
            records.len() != before
        });
        if let Err(e) = r {
            log::warn!(
                "name index journal of {}: {} not cleared (replayed again later): {e}",
                bucket.namespace,
                slot_key(slot)
            );
        }
    }
}

/// The records of `slot`, all journal groups together (a record one group
/// missed is in another). Fails only when no group could be read.
pub fn read(
    storage: &dyn Storage,
    bucket: &Context,
    slot: u32,
) -> Result<Vec<Record>, StorageError> {
    let key = slot_key(slot);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut last = None;
    let mut answered = false;
    for g in journal_groups(bucket) {
        match cas::read(storage, &in_group(bucket, g), &key, SLOT_LIMIT) {
            Ok(stored) => {
                answered = true;
                for r in decode(stored.as_ref().map(|s| s.payload.as_slice()))? {
                    if seen.insert((r.key.clone(), r.nonce)) {
                        out.push(r);
                    }
                }
            }
            Err(e) => last = Some(e),
        }
    }
    match (answered, last) {
        (false, Some(e)) => Err(e),
        _ => Ok(out),
    }
}

/// What a replay of one bucket's journal did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Records found.
    pub found: usize,
    /// Records written to the index (the others were superseded).
    pub applied: usize,
}

/// Replays `bucket`'s journal through `index`: each record is checked
/// against its object, written when it still holds, and dropped from the
/// journal once done. Stops at the first update that finds a group
/// unreachable (the primary still away): the rest waits for the next
/// replay. Blocking.
pub fn replay(
    storage: &dyn Storage,
    index: &dyn Apply,
    bucket: &Context,
) -> Result<Replayed, StorageError> {
    let mut out = Replayed::default();
    for slot in 0..SLOTS {
        let records = read(storage, bucket, slot)?;
        if records.is_empty() {
            continue;
        }
        out.found += records.len();
        let changes = records.into_iter().map(Record::into_change).collect();
        let a = pending::apply(index, storage, bucket, changes);
        out.applied += a.applied;
        forget(storage, bucket, &a.done);
        if let Some(e) = a.failed {
            return Err(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::page::{EntrySource, Start};
    use crate::index::Index;
    use crate::storage::local::test_store;
    use crate::storage::write_small;
    use std::sync::Arc;

    fn store(dir: &std::path::Path) -> Arc<dyn Storage> {
        Arc::new(test_store(dir, &[(1, 0, false), (2, 0, false)]))
    }

    #[test]
    fn slots_spread_keys_and_have_fixed_names() {
        assert_eq!(slot_key(0), "journal-00");
        assert_eq!(slot_key(SLOTS - 1), "journal-1f");
        let used: BTreeSet<u32> = (0..1000).map(|i| slot_of(&format!("key-{i}"))).collect();
        assert_eq!(used.len(), SLOTS as usize);
    }

    #[test]
    fn the_journal_lives_beside_the_primary() {
        assert_eq!(
            journal_groups(&Context::new("b", vec![3, 1, 2])),
            vec![1, 2]
        );
        assert_eq!(journal_groups(&Context::new("b", vec![7])), vec![7]);
    }

    #[test]
    fn records_replace_their_keys_and_forget_only_their_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let ctx = Context::new("b", vec![1, 2]);
        let rec = |k: &str, n| Record::new(k, n, &Change::Remove);
        append(s.as_ref(), &ctx, vec![rec("a", 1), rec("b", 2)]).unwrap();
        // A newer change of "a" (another proxy's) replaces the first.
        append(s.as_ref(), &ctx, vec![rec("a", 7)]).unwrap();
        let all = |s: &dyn Storage| {
            let mut v: Vec<(String, u64)> = (0..SLOTS)
                .flat_map(|slot| read(s, &ctx, slot).unwrap())
                .map(|r| (r.key, r.nonce))
                .collect();
            v.sort();
            v
        };
        assert_eq!(all(s.as_ref()), vec![("a".into(), 7), ("b".into(), 2)]);
        // Forgetting the replaced record leaves the newer one.
        forget(s.as_ref(), &ctx, &[("a".into(), 1), ("b".into(), 2)]);
        assert_eq!(all(s.as_ref()), vec![("a".into(), 7)]);
        // Not in the primary: it is the group that was away.
        let primary = in_group(&ctx, 1);
        for slot in 0..SLOTS {
            assert!(cas::read(s.as_ref(), &primary, &slot_key(slot), SLOT_LIMIT)
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn another_proxy_replays_what_a_dead_one_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new("b", vec![1, 2]);
        // The proxy that wrote: objects stored, their changes journaled
        // (as when the primary was away), then it is gone.
        {
            let s = store(dir.path());
            let mut records = Vec::new();
            for (n, key) in ["kept", "deleted", "rewritten"].iter().enumerate() {
                let r = write_small(s.as_ref(), &ctx, key, b"x").unwrap();
                let entry = Entry::of_replica(key, r[0].result.as_ref().unwrap());
                records.push(Record::new(key, n as u64, &Change::Put(entry)));
            }
            append(s.as_ref(), &ctx, records).unwrap();
            s.remove(&ctx, "deleted");
            std::thread::sleep(std::time::Duration::from_millis(5));
            write_small(s.as_ref(), &ctx, "rewritten", b"yy").unwrap();
        }
        // Another proxy, its own store handle and index.
        let s = store(dir.path());
        let index = Index::new(s.clone(), 16);
        let r = replay(s.as_ref(), &index, &ctx).unwrap();
        // "kept" listed; "deleted" became a removal (of an unlisted key);
        // "rewritten" was superseded (its newer write is another change).
        assert_eq!(
            r,
            Replayed {
                found: 3,
                applied: 2
            }
        );
        let mut scan = index.scan(&ctx, &Start::From(String::new())).unwrap();
        let mut listed = Vec::new();
        while let Some(e) = scan.next_entry().unwrap() {
            listed.push(e.key);
        }
        assert_eq!(listed, vec!["kept".to_string()]);
        // Done: nothing left to replay.
        assert_eq!(
            replay(s.as_ref(), &index, &ctx).unwrap(),
            Replayed::default()
        );
    }
}
