//! Tombstones: a delete that did not reach every group of a bucket (a node
//! down or hung) leaves a small marker of the key in the bucket's
//! `B/tombstone` namespace, in every group that takes it. When the missed
//! node returns with its old replica, reads and recover-on-read compare
//! that replica's modification time with the tombstone's: a replica not
//! newer than the tombstone is deleted data. Reads skip it (404 when no
//! newer replica exists), and repair removes it instead of copying it
//! back. A later write of the key is newer than its tombstone and wins.
//!
//! A tombstone counts for [`LIFETIME`] (a node away longer than that must
//! come back empty, docs/reliability.md); an older one is ignored and
//! removed when a read finds it.

use std::time::{Duration, SystemTime};

use crate::storage::{Context, GroupResult, ReplicaInfo, Replicas, Storage};

/// How long a tombstone outlives its delete.
pub const LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a tombstone lookup waits for a group: a hung node must not
/// cost a read the whole storage timeout (a group that does not answer in
/// time holds no tombstone for this read; the others do).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The namespace holding the tombstones of `namespace`.
pub fn namespace(namespace: &str) -> String {
    format!("{namespace}/tombstone")
}

/// The context of the tombstones of the key `ctx` is for: [`find`] looks
/// them up there, and so does a caller that makes the lookup itself (then
/// [`newest`] reads what it found).
pub fn tomb_ctx(ctx: &Context) -> Context {
    Context {
        namespace: namespace(&ctx.namespace),
        timeout: Some(LOOKUP_TIMEOUT),
        timestamp: None,
        // Never skipped as suspect: a group not asked would read as "no
        // tombstone", and the deleted replica another group kept as live.
        every_group: true,
        ..ctx.clone()
    }
}

/// Whether a delete's per-group results leave a replica that may come
/// back: a group failed other than with "not found".
pub fn needed(results: &[GroupResult<()>]) -> bool {
    results
        .iter()
        .any(|r| r.result.as_ref().is_err_and(|e| !e.is_not_found()))
}

/// Writes the tombstone of `key` into every group of `ctx`. Blocking.
/// Answers whether at least one group took it.
pub fn write(storage: &dyn Storage, ctx: &Context, key: &str) -> bool {
    let mut tctx = tomb_ctx(ctx);
    tctx.timeout = None;
    // A suspect group missed the delete too; the others' tombstones,
    // always looked up, bury what it kept.
    tctx.every_group = false;
    // The delete's time, not the time a group gets to it: a hung node
    // that stores the tombstone only when it resumes would otherwise date
    // it after a write of the key acknowledged meanwhile, and bury it.
    tctx.timestamp = Some(SystemTime::now());
    let written = crate::storage::write_small(storage, &tctx, key, b"deleted")
        .and_then(|results| results.any_ok());
    match written {
        Ok(_) => true,
        Err(e) => {
            log::error!("tombstone of {}/{key} not written: {e}", ctx.namespace);
            false
        }
    }
}

/// The time of the newest live tombstone of `key` in the groups of `ctx`,
/// if any. Blocking; each group waits at most [`LOOKUP_TIMEOUT`].
pub fn find(storage: &dyn Storage, ctx: &Context, key: &str) -> Option<SystemTime> {
    if ctx.groups.len() < 2 {
        return None;
    }
    let tctx = tomb_ctx(ctx);
    match newest(&storage.lookup(&tctx, key)) {
        Found::Expired => {
            storage.remove(&tctx, key);
            None
        }
        found => found.live(),
    }
}

/// The newest tombstone that lookups of a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// None in any group that answered.
    Nothing,
    /// One, written at this time, that still counts.
    Live(SystemTime),
    /// One older than [`LIFETIME`]: ignored, and to be removed.
    Expired,
}

impl Found {
    /// The time of a live tombstone.
    pub fn live(self) -> Option<SystemTime> {
        match self {
            Found::Live(t) => Some(t),
            _ => None,
        }
    }
}

/// What the tombstone lookups `found` of a key answer.
pub fn newest(found: &[GroupResult<ReplicaInfo>]) -> Found {
    let Some(newest) = found
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .map(|r| r.mtime)
        .max()
    else {
        return Found::Nothing;
    };
    let age = SystemTime::now().duration_since(newest).unwrap_or_default();
    if age > LIFETIME {
        Found::Expired
    } else {
        Found::Live(newest)
    }
}

/// Whether `replica` is data a tombstone of time `tomb` deleted.
pub fn buries(tomb: Option<SystemTime>, replica: &ReplicaInfo) -> bool {
    tomb.is_some_and(|t| replica.mtime <= t)
}

/// Replaces the replicas of `results` that `tomb` buries by "not found",
/// so consistency and repair see them as missing; answers their groups.
pub fn bury(
    tomb: Option<SystemTime>,
    results: &mut [GroupResult<ReplicaInfo>],
) -> Vec<crate::storage::GroupId> {
    let mut buried = Vec::new();
    for r in results.iter_mut() {
        if r.result.as_ref().is_ok_and(|i| buries(tomb, i)) {
            r.result = Err(crate::storage::StorageError::not_found(
                "deleted (tombstone)",
            ));
            buried.push(r.group);
        }
    }
    buried
}

/// The newest replica of `key` no tombstone buries: `Ok(None)` when every
/// group says absent or holds only deleted data; `Err` when no group
/// answered with a live replica and one at least did not answer, as then
/// a group out of reach may hold the only live replica and what the store
/// holds cannot be told now.
pub fn newest_live(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
) -> Result<Option<ReplicaInfo>, crate::storage::StorageError> {
    let tomb = find(storage, ctx, key);
    let mut found = storage.lookup(ctx, key);
    bury(tomb, &mut found);
    if found.iter().all(|g| g.result.is_err()) {
        let mut failed = found.iter().filter_map(|g| g.result.as_ref().err());
        if let Some(e) = failed.find(|e| !e.is_not_found()) {
            return Err(e.clone());
        }
    }
    Ok(super::consistency::newest(&found).cloned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::storage::local::{test_store, LocalStore};
    use crate::storage::{write_small, StorageError};

    /// An embedded store of groups 1 to 3 in `dir`.
    pub(crate) fn store(dir: &std::path::Path) -> LocalStore {
        test_store(dir, &[(1, 0, false), (2, 0, false), (3, 0, false)])
    }

    #[test]
    fn only_a_partial_delete_needs_one() {
        let ok = |group| GroupResult {
            group,
            result: Ok(()),
        };
        let gone = GroupResult {
            group: 2,
            result: Err(StorageError::not_found("gone")),
        };
        assert!(!needed(&[ok(1), gone.clone()]));
        let down = GroupResult {
            group: 3,
            result: Err(StorageError::new(-libc::ETIMEDOUT, "timeout")),
        };
        assert!(needed(&[ok(1), gone, down]));
    }

    #[test]
    fn a_tombstone_buries_older_replicas_not_newer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let all = Context::new("b", vec![1, 2, 3]);
        write_small(&s, &all, "k", b"old").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(find(&s, &all, "k").is_none());
        assert!(write(&s, &Context::new("b", vec![2, 3]), "k"));
        let tomb = find(&s, &all, "k");
        assert!(tomb.is_some());
        let mut found = s.lookup(&all, "k");
        assert_eq!(bury(tomb, &mut found), vec![1, 2, 3]);
        assert!(found.iter().all(|r| r.result.is_err()));
        std::thread::sleep(Duration::from_millis(5));
        write_small(&s, &Context::new("b", vec![1]), "k", b"new").unwrap();
        let mut found = s.lookup(&all, "k");
        assert_eq!(bury(tomb, &mut found), vec![2, 3]);
        assert!(found[0].result.is_ok());
        // A bucket of one group has no replica to come back.
        assert!(find(&s, &Context::new("b", vec![2]), "k").is_none());
    }

    #[test]
    fn newest_live_tells_absent_from_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        // Group 9 is out of reach (the store has no such group).
        let (both, reachable) = (Context::new("b", vec![1, 9]), Context::new("b", vec![1, 2]));
        assert!(
            newest_live(&s, &both, "k").is_err(),
            "absent in 1, 9 unknown"
        );
        assert_eq!(newest_live(&s, &reachable, "k").unwrap(), None);
        write_small(&s, &Context::new("b", vec![1]), "k", b"v").unwrap();
        let live = newest_live(&s, &both, "k").unwrap().unwrap();
        assert_eq!((live.group, live.size), (1, 1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(write(&s, &reachable, "k"));
        assert_eq!(newest_live(&s, &reachable, "k").unwrap(), None, "buried");
        assert!(
            newest_live(&s, &both, "k").is_err(),
            "buried in 1, 9 unknown"
        );
    }

    #[test]
    fn the_newest_tombstone_found_is_live_or_expired() {
        let at = |group, age: Duration| GroupResult {
            group,
            result: Ok(ReplicaInfo {
                group,
                backend: 0,
                address: String::new(),
                id: String::new(),
                filename: String::new(),
                offset: 0,
                size: 7,
                mtime: SystemTime::now() - age,
                csum: Vec::new(),
            }),
        };
        let lost = GroupResult {
            group: 3,
            result: Err(StorageError::new(-libc::ETIMEDOUT, "timeout")),
        };
        assert_eq!(newest(&[]), Found::Nothing);
        assert_eq!(newest(std::slice::from_ref(&lost)), Found::Nothing);
        let hour = Duration::from_secs(3600);
        let found = [at(1, LIFETIME + hour), at(2, hour), lost.clone()];
        let live = newest(&found).live().expect("the group 2 one counts");
        assert!(live < SystemTime::now() - hour + Duration::from_secs(60));
        assert_eq!(newest(&[at(1, LIFETIME + hour), lost]), Found::Expired);
        assert_eq!(Found::Expired.live(), None);
    }
}
