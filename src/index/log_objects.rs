//! Proxies' logs of name index changes as the cluster holds them
//! (src/index/logs.rs, docs/index.md "The log"): the records, the log
//! objects `log-<owner>-<generation>` and the registry `logs` naming the
//! proxies with records not merged yet, and reading them back.

use serde::{Deserialize, Serialize};

use super::shard::{encode, now_ns, Entry};
use crate::cluster::tombstone;
use crate::storage::cas::{self, Change, Retry};
use crate::storage::{Context, Storage, StorageError};

const REGISTRY: &str = "logs";
/// The largest log object read.
pub(super) const LOG_LIMIT: u64 = 16 << 20;

/// One change as a log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The key changed.
    #[serde(rename = "k")]
    pub key: String,
    /// Its entry after a write; `None` for a removal.
    #[serde(rename = "e", default)]
    pub entry: Option<Entry>,
    /// When a proxy recorded it (nanoseconds since the epoch, its clock).
    #[serde(rename = "t")]
    pub at: u64,
    /// An *intent* (no entry): a write of the key was under way when this
    /// was logged, so the key's entry is whatever the store holds, found by
    /// a lookup when the record is read ([`resolve`]).
    #[serde(rename = "c", default, skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
    /// This proxy's copy of a settled record written again (in memory
    /// only: not counted as a change of its own).
    #[serde(skip)]
    pub correction: bool,
}

impl Record {
    /// The record of a write, stamped with the time it is recorded (the
    /// object's own time comes from the store, whose clock may differ).
    pub fn put(mut entry: Entry) -> Record {
        if entry.recorded_ns == 0 {
            entry.recorded_ns = now_ns();
        }
        Record {
            key: entry.key.clone(),
            at: entry.recorded_ns,
            entry: Some(entry),
            check: false,
            correction: false,
        }
    }

    /// The record of a removal now.
    pub fn remove(key: &str) -> Record {
        Record {
            key: key.to_string(),
            entry: None,
            at: now_ns(),
            check: false,
            correction: false,
        }
    }

    /// The intent of a write of `key` starting now, logged while the object
    /// is written so that the two overlap (see [`Record::check`]).
    pub fn intent(key: &str) -> Record {
        Record {
            check: true,
            ..Record::remove(key)
        }
    }

    /// The same change as `other`: same key, kind and time.
    pub fn same(&self, other: &Record) -> bool {
        self.key == other.key && self.at == other.at && self.check == other.check
    }
}

/// `records` with each intent replaced by what the store holds of its key
/// (tombstones applied), at the intent's time: the newest replica's entry,
/// or a removal when every group answers that the key is absent. An intent
/// no group could answer for fails the whole call when `strict` (a merge
/// tries again later), else it is left out (a listing shows what the
/// shards and other records say).
pub fn resolve(
    storage: &dyn Storage,
    bucket: &Context,
    records: Vec<Record>,
    strict: bool,
) -> Result<Vec<Record>, StorageError> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if !r.check {
            out.push(r);
            continue;
        }
        let newest = match tombstone::newest_live(storage, bucket, &r.key) {
            Ok(n) => n,
            Err(e) if strict => return Err(e),
            Err(e) => {
                log::warn!(
                    "{}: intent of {:?} unresolved: {e}",
                    bucket.namespace,
                    r.key
                );
                continue;
            }
        };
        out.push(match newest {
            Some(info) => {
                let mut entry = Entry::of_replica(&r.key, &info);
                entry.recorded_ns = r.at;
                Record::put(entry)
            }
            None => Record { check: false, ..r },
        });
    }
    Ok(out)
}

/// The proxies with records not merged yet, in `B/index/logs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Registry {
    #[serde(rename = "ls", default)]
    pub(super) owners: Vec<Owner>,
}

/// One proxy's logs of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Owner {
    /// The proxy's id.
    #[serde(rename = "id")]
    pub(super) id: u64,
    /// Its oldest generation not merged.
    #[serde(rename = "f")]
    pub(super) from: u64,
    /// When it last wrote this (nanoseconds since the epoch).
    #[serde(rename = "b")]
    pub(super) beat: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LogObject {
    #[serde(rename = "rs", default)]
    pub(super) records: Vec<Record>,
}

/// The key of generation `generation` of proxy `owner`'s log.
pub fn log_key(owner: u64, generation: u64) -> String {
    format!("log-{owner:016x}-{generation:016x}")
}

fn bad(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::new(-libc::EILSEQ, format!("index log {what}: {e}"))
}

pub(super) fn decode_registry(p: Option<&[u8]>) -> Result<Registry, StorageError> {
    match p {
        Some(p) => rmp_serde::from_slice(p).map_err(|e| bad("registry", e)),
        None => Ok(Registry::default()),
    }
}

/// The registry of a bucket's index context (empty when absent).
pub(super) fn read_registry(
    storage: &dyn Storage,
    ictx: &Context,
) -> Result<Registry, StorageError> {
    let stored = cas::read(storage, ictx, REGISTRY, LOG_LIMIT)?;
    decode_registry(stored.as_ref().map(|s| s.payload.as_slice()))
}

/// Changes the registry entry of `owner` (`None`: drops it) unless `keep`
/// says the stored one must stay. Answers what the registry held for
/// `owner` before, and whether it was changed.
pub(super) fn set_owner(
    storage: &dyn Storage,
    ictx: &Context,
    owner: u64,
    to: Option<Owner>,
    keep: impl Fn(&Owner) -> bool,
) -> Result<(Option<Owner>, bool), StorageError> {
    cas::update(storage, ictx, REGISTRY, LOG_LIMIT, Retry::default(), |p| {
        let mut reg = decode_registry(p)?;
        let before = reg.clone();
        let was = reg.owners.iter().find(|o| o.id == owner).copied();
        if was.is_some_and(|o| keep(&o)) {
            return Ok(Change::Keep((was, false)));
        }
        reg.owners.retain(|o| o.id != owner);
        reg.owners.extend(to);
        if reg == before {
            Ok(Change::Keep((was, false)))
        } else {
            Ok(Change::Write(encode(&reg)?, (was, true)))
        }
    })
    .map(|(r, _)| r)
}

/// Generation `generation` of `owner`'s log: the longest copy any group
/// holds (a group that missed a write holds an earlier one); `None` when no
/// group that answers has it.
pub(super) fn read_log(
    storage: &dyn Storage,
    ictx: &Context,
    owner: u64,
    generation: u64,
) -> Result<Option<Vec<Record>>, StorageError> {
    let key = log_key(owner, generation);
    let mut best: Option<Vec<Record>> = None;
    let mut failed = None;
    for &g in &ictx.groups {
        let records = match cas::read_group(storage, ictx, g, &key, LOG_LIMIT) {
            Ok(Some(stored)) => {
                let log: LogObject =
                    rmp_serde::from_slice(&stored.payload).map_err(|e| bad(&key, e))?;
                Some(log.records)
            }
            Ok(None) => None,
            // Still torn after the retries: as before, the read fails.
            Err(e) if e.errno == -libc::EAGAIN => return Err(e),
            Err(e) => {
                failed = Some(e);
                None
            }
        };
        if let Some(r) = records {
            if best.as_ref().map_or(true, |b| b.len() < r.len()) {
                best = Some(r);
            }
        }
    }
    if let Some(e) = failed {
        log::debug!("{}/{key}: a group did not answer: {e}", ictx.namespace);
    }
    Ok(best)
}

/// One proxy's records not merged yet: the registry's entry, the
/// generations read and their records.
pub(super) type OwnerLogs = (Owner, Vec<u64>, Vec<Record>);

/// Every record of every proxy's log of the bucket of `ictx` not merged
/// yet, and which (owner, generations) they came from.
pub(super) fn read_all(
    storage: &dyn Storage,
    ictx: &Context,
    only: impl Fn(&Owner) -> bool,
) -> Result<Vec<OwnerLogs>, StorageError> {
    let registry = read_registry(storage, ictx)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < registry.owners.len() {
        let owner = registry.owners[i];
        i += 1;
        if !only(&owner) {
            continue;
        }
        let mut records = Vec::new();
        let mut generations = Vec::new();
        let mut generation = owner.from;
        let mut rereads = 0;
        loop {
            if let Some(r) = read_log(storage, ictx, owner.id, generation)? {
                records.extend(r);
                generations.push(generation);
                generation += 1;
                continue;
            }
            // The end of the log, or its owner merged and removed what we
            // were about to read: its records are in the shards now, and
            // the registry says where its log goes on.
            if rereads == 16 {
                break;
            }
            rereads += 1;
            let now = read_registry(storage, ictx)?;
            match now.owners.iter().find(|o| o.id == owner.id) {
                Some(o) if o.from > generation => generation = o.from,
                _ => break,
            }
        }
        out.push((owner, generations, records));
    }
    Ok(out)
}

/// Of each key's records the newest (by time; a later record of the same
/// time), sorted by key.
pub fn newest_per_key(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_by(|a, b| a.key.cmp(&b.key).then(a.at.cmp(&b.at)));
    records.reverse();
    records.dedup_by(|later, kept| later.key == kept.key);
    records.reverse();
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_owner_and_generation() {
        assert_eq!(log_key(0xab, 3), "log-00000000000000ab-0000000000000003");
        let reg = Registry {
            owners: vec![Owner {
                id: 1,
                from: 2,
                beat: 3,
            }],
        };
        assert_eq!(decode_registry(Some(&encode(&reg).unwrap())).unwrap(), reg);
        assert_eq!(decode_registry(None).unwrap(), Registry::default());
    }

    fn put(key: &str, at: u64) -> Record {
        Record::put(Entry {
            key: key.into(),
            size: 1,
            mtime_ns: at,
            etag: "\"e\"".into(),
            owner: None,
            content_type: None,
            recorded_ns: at,
        })
    }

    #[test]
    fn of_a_keys_records_the_newest_stays() {
        let gone = Record {
            key: "b".into(),
            entry: None,
            at: 20,
            check: false,
            correction: false,
        };
        let out = newest_per_key(vec![put("b", 10), put("a", 5), gone.clone(), put("a", 7)]);
        assert_eq!(out, vec![put("a", 7), gone]);
    }
}
