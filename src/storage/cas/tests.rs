//! Compare-and-swap over real embedded stores: versions, replicated
//! updates, catching up, concurrent writers, updates from a known copy.

use super::*;
use crate::storage::local::LocalStore;
use crate::storage::write_small;
use std::sync::Arc;

fn store(dir: &std::path::Path, groups: &[u32]) -> LocalStore {
    crate::storage::local::test_store(
        dir,
        &groups.iter().map(|&g| (g, 0, false)).collect::<Vec<_>>(),
    )
}

#[test]
fn write_if_checks_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), &[1, 2]);
    let ctx = Context::new("b", vec![1, 2]);
    // Absent: the first "if absent" write wins, the second is refused.
    assert!(s
        .write_if(&ctx, "k", b"one", &Version::Absent)
        .iter()
        .all(|r| r.result.is_ok()));
    let r = s.write_if(&ctx, "k", b"two", &Version::Absent);
    assert!(r
        .iter()
        .all(|r| r.result.as_ref().unwrap_err().is_conflict()));
    let (data, v) = read_versioned(&s, &ctx, "k", 100).unwrap().unwrap();
    assert_eq!((data.as_slice(), &v), (&b"one"[..], &Version::of(b"one")));
    // A stale version is refused, the current one accepted.
    let r = s.write_if(&ctx, "k", b"x", &Version::of(b"stale"));
    assert!(r[0].result.as_ref().unwrap_err().is_conflict());
    let r = s.write_if(&ctx, "k", b"three", &v);
    assert!(r[0].result.is_ok() && r[1].result.is_ok());
    assert_eq!(
        read_versioned(&s, &ctx, "k", 100).unwrap().unwrap().0,
        b"three"
    );
    // Groups decide one by one.
    write_small(&s, &Context::new("b", vec![2]), "k", b"other").unwrap();
    let r = s.write_if(&ctx, "k", b"four", &Version::of(b"three"));
    assert!(r[0].result.is_ok());
    assert!(r[1].result.as_ref().unwrap_err().is_conflict());
    assert!(read_versioned(&s, &ctx, "missing", 10).unwrap().is_none());
}

fn add(payload: Option<&[u8]>, item: u8) -> Change<()> {
    let mut v = payload.map(|p| p.to_vec()).unwrap_or_default();
    v.push(item);
    Change::Write(v, ())
}

#[test]
fn concurrent_updates_lose_nothing_in_any_group() {
    let dir = tempfile::tempdir().unwrap();
    // Two stores on one directory stand for two proxy processes: each
    // has its own open of cas.lock, which flock tells apart.
    let s = Arc::new(store(dir.path(), &[1, 2, 3]));
    let other = Arc::new(store(dir.path(), &[1, 2, 3]));
    let ctx = Context::new("b", vec![1, 2, 3]);
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let s = if t % 2 == 0 { s.clone() } else { other.clone() };
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                for i in 0..20u8 {
                    update(&*s, &ctx, "k", 4096, Retry::default(), |p| {
                        Ok(add(p, t * 20 + i))
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for g in [1, 2, 3] {
        let got = read(&*s, &Context::new("b", vec![g]), "k", 4096)
            .unwrap()
            .unwrap();
        let mut items = got.payload.clone();
        items.sort();
        assert_eq!(items, (0..160).collect::<Vec<u8>>(), "group {g}");
        assert_eq!(got.generation, 160, "group {g}");
    }
}

#[test]
fn torn_reads_are_detected() {
    let mut data = envelope(3, b"payload");
    assert_eq!(open_envelope("k", &data).unwrap(), (3, &b"payload"[..]));
    let n = data.len();
    data[n - 1] ^= 1;
    assert_eq!(open_envelope("k", &data).unwrap_err().errno, TORN);
    assert_eq!(
        open_envelope("k", b"BRcas001").unwrap_err().errno,
        -libc::EILSEQ
    );
}

#[test]
fn a_stale_replica_catches_up_and_reads_fall_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), &[1, 2]);
    let ctx = Context::new("b", vec![1, 2]);
    update(&s, &ctx, "k", 100, Retry::default(), |p| Ok(add(p, 1))).unwrap();
    // Group 2 misses an update (written behind the updater's back).
    write_small(&s, &Context::new("b", vec![2]), "k", &envelope(0, b"")).unwrap();
    let (_, cost) = update(&s, &ctx, "k", 100, Retry::default(), |p| Ok(add(p, 2))).unwrap();
    assert_eq!(cost.attempts, 1);
    let r2 = read(&s, &Context::new("b", vec![2]), "k", 100)
        .unwrap()
        .unwrap();
    assert_eq!((r2.payload, r2.generation), (vec![1, 2], 2));
    // A primary that lost the object starts again from the newest replica.
    s.remove(&Context::new("b", vec![1]), "k");
    let got = read(&s, &ctx, "k", 100).unwrap().unwrap();
    assert_eq!((got.group, got.generation), (2, 2));
    update(&s, &ctx, "k", 100, Retry::default(), |p| Ok(add(p, 3))).unwrap();
    let got = read(&s, &ctx, "k", 100).unwrap().unwrap();
    assert_eq!(
        (got.group, got.payload, got.generation),
        (1, vec![1, 2, 3], 3)
    );
    // Keep writes nothing; a payload over the limit fails.
    let (v, cost) = update(&s, &ctx, "k", 100, Retry::default(), |_| {
        Ok(Change::Keep(7))
    })
    .unwrap();
    assert_eq!((v, cost.bytes_written), (7, 0));
    let e = update(&s, &ctx, "k", 100, Retry::default(), |_| {
        Ok(Change::Write(vec![0; 200], ()))
    })
    .unwrap_err();
    assert_eq!(e.errno, -libc::EFBIG);
}

#[test]
fn an_update_from_a_known_copy_skips_the_read_and_a_stale_one_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), &[1, 2]);
    let ctx = Context::new("b", vec![1, 2]);
    let r = Retry::default();
    let (_, _, known) = update_known(&s, &ctx, "k", 100, r, None, |p| Ok(add(p, 1))).unwrap();
    let known = known.unwrap();
    assert_eq!((known.payload.clone(), known.generation), (vec![1], 1));
    // Known and current: a compare-and-swap and a copy, no read.
    let (_, cost, known) =
        update_known(&s, &ctx, "k", 100, r, Some(known), |p| Ok(add(p, 2))).unwrap();
    assert_eq!((cost.calls, cost.attempts), (2, 1));
    assert_eq!(
        known.as_ref().unwrap(),
        &read(&s, &ctx, "k", 100).unwrap().unwrap()
    );
    // Another writer changes it: the known copy is refused, the update
    // goes on from a read and keeps both changes.
    update(&s, &ctx, "k", 100, r, |p| Ok(add(p, 3))).unwrap();
    let (_, cost, after) = update_known(&s, &ctx, "k", 100, r, known, |p| Ok(add(p, 4))).unwrap();
    assert_eq!(cost.attempts, 2);
    let got = read(&s, &ctx, "k", 100).unwrap().unwrap();
    assert_eq!((got.payload.clone(), got.generation), (vec![1, 2, 3, 4], 4));
    assert_eq!(after.unwrap(), got);
    let r2 = read(&s, &Context::new("b", vec![2]), "k", 100)
        .unwrap()
        .unwrap();
    assert_eq!(r2.payload, vec![1, 2, 3, 4], "copied");
}

#[test]
fn without_the_primary_reads_answer_what_the_other_groups_hold() {
    let dir = tempfile::tempdir().unwrap();
    // Group 1, the primary, is away: this store does not have it.
    let s = store(dir.path(), &[2, 3]);
    let ctx = Context::new("b", vec![1, 2, 3]);
    assert!(read_group(&s, &ctx, 1, "k", 100).is_err());
    // The others answer and none has it: absent, not the primary's error.
    assert_eq!(read(&s, &ctx, "k", 100).unwrap(), None);
    // One has it: its copy.
    write_small(&s, &Context::new("b", vec![3]), "k", &envelope(4, b"x")).unwrap();
    let got = read(&s, &ctx, "k", 100).unwrap().unwrap();
    assert_eq!((got.group, got.generation), (3, 4));
    // The primary alone: its error stands.
    assert!(read(&s, &Context::new("b", vec![1]), "k", 100).is_err());
}

/// The embedded store with Elliptics' compare-and-swap rule: a group where
/// the key is absent takes any expected version.
struct AbsentTakesAny(LocalStore);

impl Storage for AbsentTakesAny {
    fn write(
        &self,
        ctx: &Context,
        key: &str,
        offset: Option<u64>,
        size: u64,
    ) -> Result<Box<dyn crate::storage::ObjectWriter>, StorageError> {
        self.0.write(ctx, key, offset, size)
    }
    fn open(
        &self,
        ctx: &Context,
        key: &str,
    ) -> Result<Box<dyn crate::storage::ObjectReader>, StorageError> {
        self.0.open(ctx, key)
    }
    fn lookup(
        &self,
        ctx: &Context,
        key: &str,
    ) -> Vec<crate::storage::GroupResult<crate::storage::ReplicaInfo>> {
        self.0.lookup(ctx, key)
    }
    fn remove(&self, ctx: &Context, key: &str) -> Vec<crate::storage::GroupResult<()>> {
        self.0.remove(ctx, key)
    }
    fn write_if(
        &self,
        ctx: &Context,
        key: &str,
        data: &[u8],
        expected: &Version,
    ) -> Vec<crate::storage::GroupResult<crate::storage::ReplicaInfo>> {
        ctx.groups
            .iter()
            .flat_map(|&g| {
                let one = one_group(ctx, g);
                let absent = self.0.lookup(&one, key)[0]
                    .result
                    .as_ref()
                    .is_err_and(|e| e.is_not_found());
                let expected = if absent { &Version::Absent } else { expected };
                self.0.write_if(&one, key, data, expected)
            })
            .collect()
    }
    fn write_if_takes_absent(&self) -> bool {
        true
    }
    fn backend_stats(&self) -> Vec<crate::storage::BackendStat> {
        self.0.backend_stats()
    }
}

#[test]
fn a_primary_that_came_back_empty_takes_no_update_from_a_stale_known_copy() {
    let dir = tempfile::tempdir().unwrap();
    let s = AbsentTakesAny(store(dir.path(), &[1, 2]));
    let ctx = Context::new("b", vec![1, 2]);
    let r = Retry::default();
    // This process writes and keeps its copy; another one writes after it.
    let (_, _, known) = update_known(&s, &ctx, "k", 100, r, None, |p| Ok(add(p, 1))).unwrap();
    update(&s, &ctx, "k", 100, r, |p| Ok(add(p, 3))).unwrap();
    // The primary comes back empty (a replaced disk): only group 2 has [1, 3].
    assert!(s.remove(&Context::new("b", vec![1]), "k")[0].result.is_ok());
    // An update from the known copy ([1]) would be taken there and drop 3.
    update_known(&s, &ctx, "k", 100, r, known, |p| Ok(add(p, 4))).unwrap();
    for g in [1, 2] {
        let got = read(&s, &Context::new("b", vec![g]), "k", 100)
            .unwrap()
            .unwrap();
        assert_eq!(got.payload, vec![1, 3, 4], "group {g}");
    }
}
