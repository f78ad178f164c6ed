//! Groups that stopped answering are skipped, not waited for.
//!
//! A hung storage node (stopped, swapping, its disk stuck) accepts
//! connections and answers nothing: every call that includes its group
//! waits the whole `wait-timeout`, and a request makes several calls (the
//! object, its tombstone, S3 metadata, the name index), so one upload
//! waited 12 to 15 s. [`SkipSuspects`] wraps a store: a group whose call
//! timed out (with the full timeout) becomes *suspect*, and later calls
//! answer for it at once with the same error (`ETIMEDOUT`) instead of
//! sending it anything, as they would for a node that is down. So a
//! request pays a hang at most once, and after it no request does, while
//! the other groups serve as usual (a write succeeds when one group took
//! it; recover-on-read and the repair pass copy what the group missed).
//!
//! A group stops being suspect when a statistics round that began after it
//! timed out hears from its backends (the node answers again), or after
//! [`SUSPECT_FOR`] at most, when one call tries it again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{
    BackendCommand, BackendStat, Context, DefragOutcome, GroupId, GroupResult, LookingUp,
    ObjectReader, ObjectWriter, OpenedRead, OpeningRead, ReplicaInfo, StartedRead, Storage,
    StorageError, Version,
};

/// How long a group that timed out is skipped at most without a
/// statistics round hearing from it.
pub const SUSPECT_FOR: Duration = Duration::from_secs(30);

/// A store that skips its suspect groups (module doc).
pub struct SkipSuspects {
    inner: Arc<dyn Storage>,
    suspects: Arc<Suspects>,
}

/// When each suspect group timed out.
#[derive(Default)]
struct Suspects(Mutex<HashMap<GroupId, Instant>>);

impl Suspects {
    /// The groups of `groups` that are suspect now.
    fn among(&self, groups: &[GroupId]) -> Vec<GroupId> {
        let mut marks = self.0.lock();
        if marks.is_empty() {
            return Vec::new();
        }
        marks.retain(|_, at| at.elapsed() < SUSPECT_FOR);
        groups
            .iter()
            .copied()
            .filter(|g| marks.contains_key(g))
            .collect()
    }

    /// Marks the groups of `results` that timed out with the full timeout
    /// (`timeout` `None`; a call with a short timeout of its own, such as
    /// a read's version lookup, says nothing about the node).
    fn note<T>(&self, timeout: Option<Duration>, results: &[GroupResult<T>]) {
        if timeout.is_some() {
            return;
        }
        for r in results {
            if r.result
                .as_ref()
                .is_err_and(|e| e.errno == -libc::ETIMEDOUT)
            {
                let fresh = self.0.lock().insert(r.group, Instant::now()).is_none();
                if fresh {
                    log::warn!(
                        "group {}: timed out; skipped until it answers a statistics round (at most {}s)",
                        r.group,
                        SUSPECT_FOR.as_secs()
                    );
                }
            }
        }
    }

    /// Forgets the marks older than `since` of the groups `stats` heard from.
    fn heard(&self, since: Instant, stats: &[BackendStat]) {
        let mut marks = self.0.lock();
        marks.retain(|g, at| {
            let answered = *at < since && stats.iter().any(|s| s.group == *g);
            if answered {
                log::info!("group {g}: answers again; no longer skipped");
            }
            !answered
        });
    }
}

fn skipped(group: GroupId) -> StorageError {
    StorageError::new(
        libc::ETIMEDOUT,
        format!("group {group} skipped: it timed out and has not answered since"),
    )
}

/// `ctx` without `skip`.
fn without(ctx: &Context, skip: &[GroupId]) -> Context {
    Context {
        groups: ctx
            .groups
            .iter()
            .copied()
            .filter(|g| !skip.contains(g))
            .collect(),
        ..ctx.clone()
    }
}

/// The results of `ctx`'s groups in its order: `done`'s, and the skipped
/// error for the groups of `skip`.
fn merged<T>(ctx: &Context, skip: &[GroupId], done: Vec<GroupResult<T>>) -> Vec<GroupResult<T>> {
    if skip.is_empty() {
        return done;
    }
    let mut done: Vec<Option<GroupResult<T>>> = done.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(ctx.groups.len());
    for &g in &ctx.groups {
        if skip.contains(&g) {
            out.push(GroupResult {
                group: g,
                result: Err(skipped(g)),
            });
        } else if let Some(r) = done
            .iter_mut()
            .find(|r| r.as_ref().is_some_and(|r| r.group == g))
        {
            out.extend(r.take());
        }
    }
    // Results for groups outside `ctx` (none expected) are kept.
    out.extend(done.into_iter().flatten());
    out
}

impl SkipSuspects {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>) -> SkipSuspects {
        SkipSuspects {
            inner,
            suspects: Arc::default(),
        }
    }

    /// The groups of `ctx` to skip, and `ctx` without them.
    fn split(&self, ctx: &Context) -> (Vec<GroupId>, Context) {
        if ctx.every_group {
            return (Vec::new(), ctx.clone());
        }
        let skip = self.suspects.among(&ctx.groups);
        let live = without(ctx, &skip);
        (skip, live)
    }

    /// Runs a per-group call on the live groups of `ctx`.
    fn per_group<T>(
        &self,
        ctx: &Context,
        call: impl FnOnce(&Context) -> Vec<GroupResult<T>>,
    ) -> Vec<GroupResult<T>> {
        let (skip, live) = self.split(ctx);
        let done = if live.groups.is_empty() {
            Vec::new()
        } else {
            call(&live)
        };
        self.suspects.note(ctx.timeout, &done);
        merged(ctx, &skip, done)
    }

    /// The skipped groups of `ctx` and the context of its live ones, or
    /// the error of its first skipped group when none is live.
    fn live_split(&self, ctx: &Context) -> Result<(Vec<GroupId>, Context), StorageError> {
        let (skip, live) = self.split(ctx);
        match (live.groups.is_empty(), skip.first()) {
            (true, Some(&g)) => Err(skipped(g)),
            _ => Ok((skip, live)),
        }
    }

    /// The live groups of `ctx`, as [`Self::live_split`].
    fn live(&self, ctx: &Context) -> Result<Context, StorageError> {
        self.live_split(ctx).map(|(_, live)| live)
    }
}

/// Marks the group of a one-group open that timed out (an open of
/// several groups answers one error for all: which one hung is unknown).
fn note_open<T>(suspects: &Suspects, ctx: &Context, r: &Result<T, StorageError>) {
    if let ([group], Err(e)) = (ctx.groups.as_slice(), r) {
        let result: Result<(), StorageError> = Err(e.clone());
        suspects.note(
            ctx.timeout,
            &[GroupResult {
                group: *group,
                result,
            }],
        );
    }
}

/// A writer that marks the groups its commit found timed out.
struct Noting {
    inner: Box<dyn ObjectWriter>,
    ctx: Context,
    skip: Vec<GroupId>,
    suspects: Arc<Suspects>,
}

impl ObjectWriter for Noting {
    fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write(data)
    }

    fn commit(self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>> {
        let done = self.inner.commit();
        self.suspects.note(self.ctx.timeout, &done);
        merged(&self.ctx, &self.skip, done)
    }
}

impl Storage for SkipSuspects {
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StorageError> {
        let (skip, live) = self.live_split(ctx)?;
        let inner = self.inner.write(&live, key, offset, size)?;
        Ok(Box::new(Noting {
            inner,
            ctx: ctx.clone(),
            skip,
            suspects: self.suspects.clone(),
        }))
    }

    fn read_chunk(&self) -> usize {
        self.inner.read_chunk()
    }

    fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError> {
        let live = self.live(ctx)?;
        let r = self.inner.open(&live, key);
        note_open(&self.suspects, &live, &r);
        r
    }

    fn open_read(&self, ctx: &Context, key: &str, at: u64, len: usize) -> OpenedRead {
        let live = self.live(ctx)?;
        let r = self.inner.open_read(&live, key, at, len);
        note_open(&self.suspects, &live, &r);
        r
    }

    fn start_open_read(
        &self,
        ctx: &Context,
        key: &str,
        at: u64,
        len: usize,
    ) -> Option<OpeningRead> {
        // Without a live group, `open_read` answers the error.
        let live = self.live(ctx).ok()?;
        let opening = self.inner.start_open_read(&live, key, at, len)?;
        let suspects = self.suspects.clone();
        Some(Box::pin(async move {
            match opening.await {
                StartedRead::Done(r) => {
                    note_open(&suspects, &live, &r);
                    StartedRead::Done(r)
                }
                StartedRead::Then(rest) => StartedRead::Then(Box::new(move || {
                    let r = rest();
                    note_open(&suspects, &live, &r);
                    r
                })),
            }
        }))
    }

    fn without_waiting(&self, f: &mut dyn FnMut()) -> bool {
        self.inner.without_waiting(f)
    }

    fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>> {
        self.per_group(ctx, |live| self.inner.lookup(live, key))
    }

    fn start_lookup(&self, ctx: &Context, key: &str) -> Option<LookingUp> {
        let (skip, live) = self.split(ctx);
        // Without a live group, `lookup` answers at once.
        if live.groups.is_empty() {
            return None;
        }
        let looking = self.inner.start_lookup(&live, key)?;
        let (suspects, ctx) = (self.suspects.clone(), ctx.clone());
        Some(Box::pin(async move {
            let done = looking.await;
            suspects.note(ctx.timeout, &done);
            merged(&ctx, &skip, done)
        }))
    }

    fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>> {
        self.per_group(ctx, |live| self.inner.remove(live, key))
    }

    fn bulk_remove(&self, ctx: &Context, keys: &[String]) -> Vec<Vec<GroupResult<()>>> {
        let (skip, live) = self.split(ctx);
        if live.groups.is_empty() {
            return keys
                .iter()
                .map(|_| merged(ctx, &skip, Vec::new()))
                .collect();
        }
        self.inner
            .bulk_remove(&live, keys)
            .into_iter()
            .map(|done| {
                self.suspects.note(ctx.timeout, &done);
                merged(ctx, &skip, done)
            })
            .collect()
    }

    fn write_if(
        &self,
        ctx: &Context,
        key: &str,
        data: &[u8],
        expected: &Version,
    ) -> Vec<GroupResult<ReplicaInfo>> {
        self.per_group(ctx, |live| self.inner.write_if(live, key, data, expected))
    }

    fn backend_stats(&self) -> Vec<BackendStat> {
        let since = Instant::now();
        let stats = self.inner.backend_stats();
        self.suspects.heard(since, &stats);
        stats
    }

    fn defragment(&self, group: GroupId, backend: u32) -> Result<DefragOutcome, StorageError> {
        self.inner.defragment(group, backend)
    }

    fn backend_control(
        &self,
        group: GroupId,
        backend: u32,
        cmd: BackendCommand,
    ) -> Result<(), StorageError> {
        self.inner.backend_control(group, backend, cmd)
    }

    fn reconfigure(&self, local: Option<&crate::config::LocalConfig>) -> Result<(), StorageError> {
        self.inner.reconfigure(local)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::storage::local::{test_store, LocalStore};
    use crate::storage::{read_small, write_small};

    /// The embedded store with group 2 hung: every call including it
    /// answers `ETIMEDOUT` there; counts the calls that reached group 2.
    struct Hung {
        inner: LocalStore,
        reached: AtomicUsize,
        /// Whether group 2's node answers statistics.
        answers: std::sync::atomic::AtomicBool,
    }

    impl Hung {
        fn split(&self, ctx: &Context) -> (bool, Context) {
            let hung = ctx.groups.contains(&2);
            if hung {
                self.reached.fetch_add(1, Ordering::Relaxed);
            }
            (hung, without(ctx, &[2]))
        }

        fn timed_out<T>(
            ctx: &Context,
            hung: bool,
            done: Vec<GroupResult<T>>,
        ) -> Vec<GroupResult<T>> {
            let skip: &[GroupId] = if hung { &[2] } else { &[] };
            merged(ctx, skip, done)
                .into_iter()
                .map(|mut r| {
                    if r.group == 2 {
                        r.result = Err(StorageError::new(libc::ETIMEDOUT, "timed out"));
                    }
                    r
                })
                .collect()
        }
    }

    impl Storage for Hung {
        fn write(
            &self,
            ctx: &Context,
            key: &str,
            offset: Option<u64>,
            size: u64,
        ) -> Result<Box<dyn ObjectWriter>, StorageError> {
            let (hung, live) = self.split(ctx);
            let inner = self.inner.write(&live, key, offset, size)?;
            struct W(Box<dyn ObjectWriter>, Context, bool);
            impl ObjectWriter for W {
                fn write(&mut self, data: &[u8]) -> Result<(), StorageError> {
                    self.0.write(data)
                }
                fn commit(self: Box<Self>) -> Vec<GroupResult<ReplicaInfo>> {
                    let (ctx, hung) = (self.1.clone(), self.2);
                    Hung::timed_out(&ctx, hung, self.0.commit())
                }
            }
            Ok(Box::new(W(inner, ctx.clone(), hung)))
        }
        fn open(&self, ctx: &Context, key: &str) -> Result<Box<dyn ObjectReader>, StorageError> {
            let (hung, live) = self.split(ctx);
            if hung && live.groups.is_empty() {
                return Err(StorageError::new(libc::ETIMEDOUT, "timed out"));
            }
            self.inner.open(&live, key)
        }
        fn lookup(&self, ctx: &Context, key: &str) -> Vec<GroupResult<ReplicaInfo>> {
            let (hung, live) = self.split(ctx);
            Hung::timed_out(ctx, hung, self.inner.lookup(&live, key))
        }
        fn remove(&self, ctx: &Context, key: &str) -> Vec<GroupResult<()>> {
            let (hung, live) = self.split(ctx);
            Hung::timed_out(ctx, hung, self.inner.remove(&live, key))
        }
        fn write_if(
            &self,
            ctx: &Context,
            key: &str,
            data: &[u8],
            expected: &Version,
        ) -> Vec<GroupResult<ReplicaInfo>> {
            let (hung, live) = self.split(ctx);
            Hung::timed_out(ctx, hung, self.inner.write_if(&live, key, data, expected))
        }
        fn backend_stats(&self) -> Vec<BackendStat> {
            let mut s = self.inner.backend_stats();
            if !self.answers.load(Ordering::Relaxed) {
                s.retain(|b| b.group != 2);
            }
            s
        }
    }

    fn setup(dir: &std::path::Path) -> (Arc<Hung>, SkipSuspects) {
        let hung = Arc::new(Hung {
            inner: test_store(dir, &[(1, 0, false), (2, 0, false), (3, 0, false)]),
            reached: AtomicUsize::new(0),
            answers: std::sync::atomic::AtomicBool::new(false),
        });
        let s = SkipSuspects::new(hung.clone());
        (hung, s)
    }

    fn groups<T>(r: &[GroupResult<T>]) -> Vec<(GroupId, bool)> {
        r.iter().map(|r| (r.group, r.result.is_ok())).collect()
    }

    #[test]
    fn a_group_that_timed_out_is_skipped_until_it_answers_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let (hung, s) = setup(dir.path());
        let all = Context::new("b", vec![1, 2, 3]);
        // The first write waits for group 2 (here: answers its timeout).
        let r = write_small(&s, &all, "k", b"one").unwrap();
        assert_eq!(groups(&r), [(1, true), (2, false), (3, true)]);
        assert_eq!(hung.reached.load(Ordering::Relaxed), 1);
        // Every later call answers for group 2 at once, in group order.
        let r = write_small(&s, &all, "k", b"two").unwrap();
        assert_eq!(groups(&r), [(1, true), (2, false), (3, true)]);
        let e = r[1].result.as_ref().unwrap_err();
        assert_eq!(e.errno, -libc::ETIMEDOUT);
        assert!(e.is_unreachable(), "{e}");
        assert_eq!(
            groups(&s.lookup(&all, "k")),
            [(1, true), (2, false), (3, true)]
        );
        let only = Context::new("b", vec![2]);
        assert!(s.lookup(&only, "k")[0].result.is_err());
        assert_eq!(s.open(&only, "k").err().unwrap().errno, -libc::ETIMEDOUT);
        let v = Version::of(b"two");
        assert_eq!(
            groups(&s.write_if(&all, "k", b"three", &v)),
            [(1, true), (2, false), (3, true)]
        );
        assert_eq!(
            groups(&s.remove(&Context::new("b", vec![3, 2]), "k")),
            [(3, true), (2, false)]
        );
        assert_eq!(read_small(&s, &all, "k", 100).unwrap(), b"three");
        assert_eq!(
            hung.reached.load(Ordering::Relaxed),
            1,
            "group 2 was sent a call"
        );
        // A check that must hear every group (a tombstone lookup) asks it.
        let every = Context {
            every_group: true,
            ..Context::new("b/tombstone", vec![1, 2, 3])
        };
        s.lookup(&every, "k");
        assert_eq!(hung.reached.load(Ordering::Relaxed), 2);
        hung.reached.store(1, Ordering::Relaxed);
        // A statistics round without group 2 keeps it skipped...
        s.backend_stats();
        s.lookup(&all, "k");
        assert_eq!(hung.reached.load(Ordering::Relaxed), 1);
        // ...one that hears from it ends that.
        hung.answers.store(true, Ordering::Relaxed);
        s.backend_stats();
        s.lookup(&all, "k");
        assert_eq!(hung.reached.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_read_of_the_hung_group_alone_marks_it() {
        let dir = tempfile::tempdir().unwrap();
        let (hung, s) = setup(dir.path());
        assert!(s.open(&Context::new("b", vec![2]), "k").is_err());
        assert_eq!(hung.reached.load(Ordering::Relaxed), 1);
        assert!(s.lookup(&Context::new("b", vec![1, 2]), "k")[1]
            .result
            .is_err());
        assert_eq!(
            hung.reached.load(Ordering::Relaxed),
            1,
            "group 2 was sent a call"
        );
    }

    #[test]
    fn a_call_with_a_short_timeout_of_its_own_marks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (hung, s) = setup(dir.path());
        let short = Context {
            timeout: Some(Duration::from_secs(2)),
            ..Context::new("b", vec![1, 2])
        };
        s.lookup(&short, "k");
        s.lookup(&short, "k");
        assert_eq!(hung.reached.load(Ordering::Relaxed), 2);
    }
}
