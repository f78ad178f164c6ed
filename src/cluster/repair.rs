//! Recover-on-read in the background: replicas found missing, stale or
//! corrupt get the newest good replica copied over them, at most `rate`
//! bytes/s, counted in [`super::Cluster::recovery`].

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use actix_web::web;

use super::{consistency, tombstone, Cluster};
use crate::storage::{
    Context, GroupId, GroupResult, ObjectReader, ReplicaInfo, Storage, StorageError,
};

/// One key of one bucket to keep in sync: the store, the cluster's
/// counters, where the key lives and how fast to copy.
#[derive(Clone)]
pub struct RepairJob {
    /// The store.
    pub storage: Arc<dyn Storage>,
    /// Recovery counters and out-of-sync statistics.
    pub cluster: Arc<Cluster>,
    /// The bucket's namespace.
    pub namespace: String,
    /// The bucket's groups.
    pub groups: Vec<GroupId>,
    /// The object.
    pub key: String,
    /// Copy rate limit, bytes/s.
    pub rate: u64,
}

impl RepairJob {
    /// Looks the key up in every group in the background, counts the
    /// replicas out of sync and copies the newest replica over them. Used
    /// after reads.
    /// Replicas a tombstone buries (deleted data a node brought back)
    /// count as missing: the newest live replica is copied over them, or,
    /// when there is none, they are removed.
    pub fn check_in_background(self) {
        background(move || {
            self.check();
        });
    }

    /// The check of [`Self::check_in_background`], here and now
    /// (blocking); the groups found out of sync.
    pub fn check(&self) -> Vec<GroupId> {
        let mut results = self.lookup();
        let tomb = tombstone::find(self.storage.as_ref(), &self.ctx(), &self.key);
        let buried = tombstone::bury(tomb, &mut results);
        let stale = consistency::out_of_sync_groups(&results);
        self.cluster.note_out_of_sync(&self.namespace, &stale);
        match consistency::newest(&results) {
            Some(source) => self.recover(source, &stale),
            None => self.remove_buried(&buried),
        }
        stale
    }

    fn ctx(&self) -> Context {
        Context::new(self.namespace.clone(), self.groups.clone())
    }

    fn one(&self, group: GroupId) -> Context {
        Context::new(self.namespace.clone(), vec![group])
    }

    /// Removes the key from each of `groups` whose replica, looked up right
    /// before, matches `doomed`; answers (group, removal succeeded) per
    /// removal made.
    fn remove_where(
        &self,
        groups: &[GroupId],
        doomed: impl Fn(&ReplicaInfo) -> bool,
    ) -> Vec<(GroupId, bool)> {
        let mut removed = Vec::new();
        for &group in groups {
            let ctx = self.one(group);
            let lookup = self.storage.lookup(&ctx, &self.key);
            if lookup.iter().any(|r| r.result.as_ref().is_ok_and(&doomed)) {
                let done = self.storage.remove(&ctx, &self.key);
                removed.push((group, done.iter().all(|r| r.result.is_ok())));
            }
        }
        removed
    }

    /// Completes a delete that `groups` missed (their replica is older than
    /// the key's tombstone).
    ///
    /// The lookup that found them may be seconds old (a hung group makes
    /// it wait its timeout), and the key may have been written since: a
    /// removal on its word once erased an acknowledged write from every
    /// group. So each group is looked up again right before its removal,
    /// and only a replica the newest tombstone still buries is removed. A
    /// write landing in a group between that lookup and the removal (one
    /// round trip) is the window left; docs/reliability.md.
    fn remove_buried(&self, groups: &[GroupId]) {
        if groups.is_empty() {
            return;
        }
        let tomb = tombstone::find(self.storage.as_ref(), &self.ctx(), &self.key);
        let removed = self.remove_where(groups, |i| tombstone::buries(tomb, i));
        log::info!(
            "recover: {}/{}: removed deleted replicas (group, done) {removed:?} of {groups:?}",
            self.namespace,
            self.key,
        );
    }

    /// Copies `source` over the `stale` groups in the background (a lookup
    /// already found them).
    pub fn recover_in_background(self, source: ReplicaInfo, stale: Vec<GroupId>) {
        background(move || self.recover(&source, &stale));
    }

    /// Wraps a reader so that replicas it finds corrupt (their bytes failed
    /// the store's checksum; the reader served the bytes from another
    /// replica) are repaired from a good replica in the background.
    pub fn repair_corrupt(self, reader: Box<dyn ObjectReader>) -> Box<dyn ObjectReader> {
        let mut r = Repairing { reader, job: self };
        // Reads made before the wrap (the open's first chunk) count too.
        r.repair_found();
        Box::new(r)
    }

    fn lookup(&self) -> Vec<GroupResult<ReplicaInfo>> {
        self.storage.lookup(&self.ctx(), &self.key)
    }

    fn recover(&self, source: &ReplicaInfo, stale: &[GroupId]) {
        if stale.is_empty() {
            return;
        }
        // Never copy deleted data back (a replica a node kept while down).
        let tomb = tombstone::find(self.storage.as_ref(), &self.ctx(), &self.key);
        if tombstone::buries(tomb, source) {
            log::info!(
                "recover: {}/{}: group {} holds a deleted replica: not copied",
                self.namespace,
                self.key,
                source.group
            );
            return;
        }
        let Some(_slot) = self.cluster.recovery.slot() else {
            return;
        };
        let (ns, key) = (&self.namespace, &self.key);
        let copied =
            self.cluster
                .recovery
                .copy(self.storage.as_ref(), ns, key, source, stale, self.rate);
        match copied {
            Ok(n) => log::info!(
                "recover: {ns}/{key}: copied {n} bytes from group {} to {stale:?}",
                source.group
            ),
            Err(e) => log::warn!("recover: {ns}/{key}: groups {stale:?}: {e}"),
        }
        self.undo_if_deleted(source, stale);
    }

    /// After a copy: when the key was deleted while it ran (the source
    /// replica is gone, or a tombstone buries it), removes the copies that
    /// are still the source's version, so that the copy brings no
    /// acknowledged delete back.
    fn undo_if_deleted(&self, source: &ReplicaInfo, copied: &[GroupId]) {
        let gone = self
            .storage
            .lookup(&self.one(source.group), &self.key)
            .iter()
            .all(|r| r.result.as_ref().is_err_and(|e| e.is_not_found()));
        let tomb = tombstone::find(self.storage.as_ref(), &self.ctx(), &self.key);
        if !gone && !tombstone::buries(tomb, source) {
            return;
        }
        let removed = self.remove_where(copied, |i| !i.differs_from(source));
        log::info!(
            "recover: {}/{}: deleted while copied: copies removed (group, done) {removed:?}",
            self.namespace,
            self.key
        );
    }
}

struct Repairing {
    reader: Box<dyn ObjectReader>,
    job: RepairJob,
}

impl Repairing {
    /// Starts copying a good replica over those the reader found corrupt.
    fn repair_found(&mut self) {
        let bad = self.reader.take_corrupt();
        if bad.is_empty() {
            return;
        }
        let job = self.job.clone();
        // Reads run on the blocking pool, outside the actix runtime: the
        // repair gets a thread of its own (recover() bounds how many copy).
        let spawned = std::thread::Builder::new()
            .name("repair".into())
            .spawn(move || {
                let good: Vec<GroupResult<ReplicaInfo>> = job
                    .lookup()
                    .into_iter()
                    .filter(|r| !bad.contains(&r.group))
                    .collect();
                match consistency::newest(&good) {
                    Some(source) => job.recover(source, &bad),
                    None => log::warn!(
                        "recover: {}/{}: no good replica to repair {bad:?}",
                        job.namespace,
                        job.key
                    ),
                }
            });
        if let Err(e) = spawned {
            log::warn!("recover: cannot start a repair: {e}");
        }
    }
}

impl ObjectReader for Repairing {
    fn info(&self) -> &ReplicaInfo {
        self.reader.info()
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<bytes::Bytes, StorageError> {
        let r = self.reader.read_at(offset, len);
        self.repair_found();
        r
    }

    fn read_at_without_waiting(
        &mut self,
        offset: u64,
        len: usize,
    ) -> Option<Result<bytes::Bytes, StorageError>> {
        let r = self.reader.read_at_without_waiting(offset, len)?;
        self.repair_found();
        Some(r)
    }
}

/// What the background repair passes did (src/core/repair_pass.rs).
#[derive(Default)]
pub struct PassCounters {
    /// Passes finished.
    pub runs: AtomicU64,
    /// Keys checked.
    pub keys: AtomicU64,
    /// Keys found with a replica out of sync.
    pub out_of_sync: AtomicU64,
    /// Buckets whose keys could not be listed (index read failed).
    pub errors: AtomicU64,
}

fn background(f: impl FnOnce() + Send + 'static) {
    actix_web::rt::spawn(async move {
        if let Err(e) = web::block(f).await {
            log::error!("replica check failed: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::storage::{read_small, write_small};

    fn job(storage: Arc<dyn Storage>) -> RepairJob {
        RepairJob {
            storage,
            cluster: Arc::new(Cluster::default()),
            namespace: "b".into(),
            groups: vec![1, 2, 3],
            key: "k".into(),
            rate: u64::MAX,
        }
    }

    fn in_group(s: &dyn Storage, group: GroupId) -> Option<Vec<u8>> {
        read_small(s, &Context::new("b", vec![group]), "k", 1 << 20).ok()
    }

    #[test]
    fn removing_deleted_replicas_spares_a_write_made_since_the_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Storage> = Arc::new(tombstone::tests::store(dir.path()));
        let all = Context::new("b", vec![1, 2, 3]);
        let tick = || std::thread::sleep(Duration::from_millis(5));
        write_small(s.as_ref(), &all, "k", b"old").unwrap();
        tick();
        // A delete that group 1 missed, and its tombstone.
        s.remove(&Context::new("b", vec![2, 3]), "k");
        assert!(tombstone::write(s.as_ref(), &all, "k"));
        tick();
        // A check looked up "old" in every group before that delete ended
        // (so it judges all three buried); the client then wrote again.
        write_small(s.as_ref(), &all, "k", b"new").unwrap();
        job(s.clone()).remove_buried(&[1, 2, 3]);
        for g in 1..=3 {
            assert_eq!(
                in_group(s.as_ref(), g).as_deref(),
                Some(&b"new"[..]),
                "group {g}"
            );
        }
        // Without the new write, the replica group 1 kept is removed.
        tick();
        s.remove(&Context::new("b", vec![2, 3]), "k");
        write_small(s.as_ref(), &Context::new("b", vec![1]), "k", b"kept").unwrap();
        tick();
        assert!(tombstone::write(s.as_ref(), &all, "k"));
        job(s.clone()).remove_buried(&[1, 2, 3]);
        assert!((1..=3).all(|g| in_group(s.as_ref(), g).is_none()));
    }

    #[test]
    fn a_copy_of_a_key_deleted_meanwhile_is_removed_and_a_newer_write_spared() {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Storage> = Arc::new(tombstone::tests::store(dir.path()));
        let all = Context::new("b", vec![1, 2, 3]);
        let one = |g| Context::new("b", vec![g]);
        let tick = || std::thread::sleep(Duration::from_millis(5));
        write_small(s.as_ref(), &one(1), "k", b"source").unwrap();
        let lookup = s.lookup(&one(1), "k");
        let source = lookup[0].result.as_ref().unwrap().clone();
        let j = job(s.clone());
        j.recover(&source, &[2, 3]);
        assert!((1..=3).all(|g| in_group(s.as_ref(), g).as_deref() == Some(&b"source"[..])));
        // Still there: the copies stay.
        j.undo_if_deleted(&source, &[2, 3]);
        assert!((2..=3).all(|g| in_group(s.as_ref(), g).is_some()));
        // A delete that reached only the source's group while the copy ran,
        // then a client's new write to group 3.
        tick();
        s.remove(&one(1), "k");
        assert!(tombstone::write(s.as_ref(), &all, "k"));
        tick();
        write_small(s.as_ref(), &one(3), "k", b"newer").unwrap();
        j.undo_if_deleted(&source, &[2, 3]);
        assert_eq!(in_group(s.as_ref(), 2), None, "the copy is undone");
        assert_eq!(in_group(s.as_ref(), 3).as_deref(), Some(&b"newer"[..]));
    }
}
