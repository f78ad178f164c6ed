//! Index operations over a real embedded store: splits, stale roots,
//! concurrent writers through two indexes, group commit.

use super::page::{page, Query};
use super::*;

fn store(dir: &std::path::Path) -> Arc<dyn Storage> {
    Arc::new(crate::storage::local::test_store(
        dir,
        &[(1, 0, false), (2, 0, false)],
    ))
}

fn entry(key: &str) -> Entry {
    Entry {
        key: key.into(),
        size: 3,
        mtime_ns: 5,
        etag: "\"e\"".into(),
        owner: None,
        content_type: None,
        recorded_ns: 0,
    }
}

fn all_keys(index: &Index, ctx: &Context) -> Vec<String> {
    let mut s = index.scan(ctx, &Start::From(String::new())).unwrap();
    let mut out = Vec::new();
    while let Some(e) = s.next_entry().unwrap() {
        out.push(e.key);
    }
    out
}

#[test]
fn puts_split_shards_and_scans_stay_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::new(store(dir.path()), 4);
    let ctx = Context::new("b", vec![1, 2]);
    assert!(index.is_empty(&ctx).unwrap());
    let mut keys: Vec<String> = (0..60).map(|i| format!("k{:03}", (i * 37) % 60)).collect();
    for k in &keys {
        index.put(&ctx, &entry(k)).unwrap();
    }
    keys.sort();
    assert_eq!(all_keys(&index, &ctx), keys);
    let st = index.stats();
    assert!(st.splits >= 10, "{st:?}");
    let root = index.root(&index_ctx(&ctx), true).unwrap();
    assert_eq!(root.shards.len() as u64, st.splits + 1);
    // Another index (another proxy) with no cached root sees the same.
    let other = Index::new(index.storage.clone(), 4);
    assert_eq!(all_keys(&other, &ctx), keys);
    // Pages of 7 with a delimiter-free listing, then after a marker.
    let q = Query {
        after: Some("k041".into()),
        max_keys: 7,
        ..Query::default()
    };
    let mut sc = other.scan(&ctx, &q.start()).unwrap();
    let p = page(&mut sc, &q).unwrap();
    assert_eq!(p.contents[0].key, "k042");
    assert_eq!(p.contents.len(), 7);
    assert!(p.truncated);
    // Removal, many keys at once, across shards.
    let gone: Vec<String> = keys.iter().step_by(2).cloned().collect();
    assert_eq!(index.remove(&ctx, &gone).unwrap(), 30);
    assert_eq!(index.remove(&ctx, &gone).unwrap(), 0);
    let left: Vec<String> = keys.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(all_keys(&other, &ctx), left);
    assert!(!index.is_empty(&ctx).unwrap());
    index.remove(&ctx, &left).unwrap();
    assert!(other.is_empty(&ctx).unwrap());
}

#[test]
fn a_stale_root_is_followed_and_mended() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let a = Index::new(st.clone(), 4);
    let b = Index::new(st, 4);
    let ctx = Context::new("b", vec![1, 2]);
    a.put(&ctx, &entry("a")).unwrap();
    // b caches the one-shard root, then a splits many times.
    assert_eq!(all_keys(&b, &ctx), ["a"]);
    for i in 0..30 {
        a.put(&ctx, &entry(&format!("z{i:02}"))).unwrap();
    }
    b.put(&ctx, &entry("z99")).unwrap();
    b.remove(&ctx, &["z00".to_string()]).unwrap();
    let keys = all_keys(&b, &ctx);
    assert_eq!(keys.len(), 31);
    assert!(keys.contains(&"z99".to_string()) && !keys.contains(&"z00".to_string()));
    // A split whose root update never happened is still listed.
    let ictx = index_ctx(&ctx);
    cas::write_fresh(
        a.storage.as_ref(),
        &ictx,
        ROOT_KEY,
        &encode(&Root::default()).unwrap(),
    )
    .unwrap();
    let fresh = Index::new(a.storage.clone(), 4);
    assert_eq!(all_keys(&fresh, &ctx).len(), 31);
    fresh.put(&ctx, &entry("z98")).unwrap();
    assert!(fresh.root(&ictx, true).unwrap().shards.len() > 1, "mended");
}

#[test]
fn concurrent_writers_through_two_indexes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let (a, b) = (
        Arc::new(Index::new(st.clone(), 8)),
        Arc::new(Index::new(st, 8)),
    );
    let ctx = Context::new("b", vec![1, 2]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let index = if t % 2 == 0 { a.clone() } else { b.clone() };
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    index.put(&ctx, &entry(&format!("t{t}-{i:02}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(all_keys(&a, &ctx).len(), 320);
    assert!(a.stats().splits + b.stats().splits > 20);
}

#[test]
fn concurrent_writes_of_one_shard_share_compare_and_swaps() {
    let dir = tempfile::tempdir().unwrap();
    let index = Arc::new(Index::new(store(dir.path()), 256));
    let ctx = Context::new("b", vec![1, 2]);
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (index, ctx, barrier) = (index.clone(), ctx.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..20 {
                    index.put(&ctx, &entry(&format!("t{t:02}-{i:02}"))).unwrap();
                }
                index.remove(&ctx, &[format!("t{t:02}-00")]).unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 1, "each removal found its entry");
    }
    assert_eq!(all_keys(&index, &ctx).len(), 16 * 19);
    let st = index.stats();
    assert_eq!(st.entries, 16 * 21, "{st:?}");
    assert!(st.updates < st.entries, "no update was shared: {st:?}");
    assert!(st.attempts >= st.updates && st.splits >= 1, "{st:?}");
    assert_eq!(index.batches.queues(), 0);
}

#[test]
fn a_shard_this_index_wrote_last_is_updated_without_a_read() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let (a, b) = (Index::new(st.clone(), 256), Index::new(st, 256));
    let ctx = Context::new("b", vec![1, 2]);
    let calls = |i: &Index| i.stats().calls;
    // The first update reads both groups (nothing there), writes, copies.
    a.put(&ctx, &entry("k00")).unwrap();
    assert_eq!(calls(&a), 4);
    // Then: the compare-and-swap from the remembered copy, and the copy.
    for i in 1..10 {
        a.put(&ctx, &entry(&format!("k{i:02}"))).unwrap();
    }
    assert_eq!(calls(&a), 4 + 9 * 2);
    // Another writer (proxy) changes the shard: a's copy is refused, it
    // reads and writes again, and reads first for a while after that.
    b.put(&ctx, &entry("k10")).unwrap();
    let (before, attempts) = (calls(&a), a.stats().attempts);
    a.put(&ctx, &entry("k11")).unwrap();
    assert_eq!((calls(&a) - before, a.stats().attempts - attempts), (4, 2));
    a.put(&ctx, &entry("k12")).unwrap();
    assert_eq!(calls(&a) - before, 4 + 3);
    let keys: Vec<String> = (0..13).map(|i| format!("k{i:02}")).collect();
    assert_eq!(all_keys(&b, &ctx), keys);
    // A bulk removal (outside the group commit) leaves no stale copy behind.
    a.remove(&ctx, &keys[..2]).unwrap();
    a.put(&ctx, &entry("k13")).unwrap();
    assert_eq!(all_keys(&b, &ctx).len(), 12);
    assert_eq!(a.stats().failures, 0);
}

fn listed(index: &Index, ctx: &Context, q: &Query) -> Vec<String> {
    let mut s = index.list(ctx, &q.start()).unwrap();
    let p = page(&mut s, q).unwrap();
    p.contents.into_iter().map(|e| e.key).collect()
}

fn at(key: &str, t: u64) -> Entry {
    Entry {
        recorded_ns: t,
        ..entry(key)
    }
}

#[test]
fn a_logged_change_is_listed_at_once_and_merged_later() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::new(store(dir.path()), 4);
    let ctx = Context::new("b", vec![1, 2]);
    let all = Query {
        max_keys: 1000,
        ..Query::default()
    };
    for i in 0..150 {
        let k = format!("k{:03}", (i * 7) % 150);
        index.log(&ctx, vec![logs::Record::put(entry(&k))]).unwrap();
    }
    index
        .log(
            &ctx,
            vec![logs::Record::remove("k003"), logs::Record::remove("k004")],
        )
        .unwrap();
    let mut want: Vec<String> = (0..150).map(|i| format!("k{i:03}")).collect();
    want.retain(|k| k != "k003" && k != "k004");
    // In the logs only (152 records, 4 to a log object as shards hold 4).
    assert!(all_keys(&index, &ctx).is_empty());
    assert_eq!(listed(&index, &ctx, &all), want);
    let other = Index::new(index.storage.clone(), 4);
    assert_eq!(listed(&other, &ctx, &all), want, "another proxy lists them");
    let st = index.stats();
    assert_eq!((st.logged, st.log_writes, st.merged), (152, 151, 0));
    // Pages after a marker, and with a delimiter, over logs alone.
    let q = Query {
        after: Some("k140".into()),
        max_keys: 5,
        ..Query::default()
    };
    assert_eq!(
        listed(&other, &ctx, &q),
        ["k141", "k142", "k143", "k144", "k145"]
    );
    // Merged: in the shards, the logs and their registry entry gone.
    assert_eq!(index.merge_logs(true), 152);
    assert_eq!(all_keys(&index, &ctx), want);
    assert_eq!(listed(&other, &ctx, &all), want);
    assert!(index
        .logs()
        .overlay(index.storage.as_ref(), &ctx)
        .unwrap()
        .is_empty());
    let ictx = index_ctx(&ctx);
    let left = crate::storage::read_small(index.storage.as_ref(), &ictx, "log-x", 1 << 20);
    assert!(left.is_err());
    assert_eq!(index.merge_logs(true), 0, "nothing left to merge");
    // Logging goes on after a merge, in the next generation.
    index.log(&ctx, vec![logs::Record::remove("k005")]).unwrap();
    assert!(!listed(&other, &ctx, &all).contains(&"k005".to_string()));
    assert_eq!(index.merge_logs(true), 1);
    assert!(!all_keys(&other, &ctx).contains(&"k005".to_string()));
}

#[test]
fn changes_through_two_proxies_end_as_their_times_say() {
    let dir = tempfile::tempdir().unwrap();
    let a = Index::new(store(dir.path()), 4);
    let b = Index::new(a.storage.clone(), 4);
    let ctx = Context::new("b", vec![1, 2]);
    let all = Query {
        max_keys: 100,
        ..Query::default()
    };
    // Written through a, removed later through b, rewritten later through a.
    let t = now_ns();
    a.log(&ctx, vec![logs::Record::put(at("x", t + 10))])
        .unwrap();
    let gone = |k: &str, t| logs::Record {
        key: k.into(),
        entry: None,
        at: t,
        check: false,
        correction: false,
    };
    b.log(&ctx, vec![gone("x", t + 20), gone("y", t + 20)])
        .unwrap();
    a.log(&ctx, vec![logs::Record::put(at("y", t + 30))])
        .unwrap();
    assert_eq!(listed(&a, &ctx, &all), ["y"]);
    // b merges first: the removal leaves a marker the older write of x
    // merged later does not pass; the newer write of y does.
    assert_eq!(b.merge_logs(true), 2);
    assert_eq!(listed(&a, &ctx, &all), ["y"]);
    assert_eq!(a.merge_logs(true), 2);
    assert_eq!(all_keys(&b, &ctx), ["y"]);
    assert_eq!(listed(&b, &ctx, &all), ["y"]);
}

#[test]
fn a_silent_proxys_log_is_listed_then_merged_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let ctx = Context::new("b", vec![1, 2]);
    let all = Query {
        max_keys: 100,
        ..Query::default()
    };
    {
        let gone = Index::new(s.clone(), 4);
        for k in ["p", "q", "r"] {
            gone.log(&ctx, vec![logs::Record::put(entry(k))]).unwrap();
        }
        // Stops without merging (kill -9).
    }
    let other = Index::new(s.clone(), 4);
    assert_eq!(listed(&other, &ctx, &all), ["p", "q", "r"]);
    assert_eq!(
        other.adopt_logs(&ctx).unwrap(),
        0,
        "not silent for long yet"
    );
    other.logs().set_orphan_after(std::time::Duration::ZERO);
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert_eq!(other.adopt_logs(&ctx).unwrap(), 3);
    assert_eq!(all_keys(&other, &ctx), ["p", "q", "r"]);
    assert!(other.logs().overlay(s.as_ref(), &ctx).unwrap().is_empty());
    assert_eq!(other.stats().adopted, 3);
}

#[test]
fn a_change_logged_after_another_proxy_took_the_log_over_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let ctx = Context::new("b", vec![1, 2]);
    let slow = Index::new(s.clone(), 4);
    let other = Index::new(s.clone(), 4);
    slow.log(&ctx, vec![logs::Record::put(entry("p"))]).unwrap();
    // The other proxy takes it for silent (its registry beat aged while a
    // slow group held its writes up) and merges what its log holds now.
    other.logs().set_orphan_after(std::time::Duration::ZERO);
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert_eq!(other.adopt_logs(&ctx).unwrap(), 1);
    // The slow one, still fresh by its own clock, logs one more change,
    // which the other never read; then it names itself again and finds
    // its logs taken over.
    slow.log(&ctx, vec![logs::Record::put(entry("q"))]).unwrap();
    slow.logs().set_orphan_after(std::time::Duration::ZERO);
    std::thread::sleep(std::time::Duration::from_millis(2));
    slow.log(&ctx, vec![logs::Record::put(entry("r"))]).unwrap();
    let all = Query {
        max_keys: 100,
        ..Query::default()
    };
    assert_eq!(listed(&other, &ctx, &all), ["p", "q", "r"]);
    slow.merge_logs(true);
    assert_eq!(all_keys(&other, &ctx), ["p", "q", "r"]);
}

#[test]
fn an_intent_is_listed_as_the_store_holds_its_key_then_settled() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let ctx = Context::new("b", vec![1, 2]);
    let all = Query {
        max_keys: 100,
        ..Query::default()
    };
    let a = Index::new(s.clone(), 4);
    let b = Index::new(s.clone(), 4);
    let intent = logs::Record::intent("k");
    a.log(&ctx, vec![intent.clone()]).unwrap();
    // Logged before the object is stored: nothing to list yet.
    assert!(listed(&b, &ctx, &all).is_empty());
    crate::storage::write_small(s.as_ref(), &ctx, "k", b"abcd").unwrap();
    let mut s_page = b.list(&ctx, &Query::default().start()).unwrap();
    let p = page(&mut s_page, &all).unwrap();
    assert_eq!(p.contents.len(), 1);
    assert_eq!((p.contents[0].key.as_str(), p.contents[0].size), ("k", 4));
    // The write's own entry replaces the intent and is what gets merged.
    let mine = logs::Record::put(Entry {
        size: 4,
        etag: "\"mine\"".into(),
        ..entry("k")
    });
    assert!(a.logs().settle(&ctx, &intent, mine));
    assert_eq!(a.merge_logs(true), 1);
    let mut sc = b.scan(&ctx, &Start::From(String::new())).unwrap();
    let e = sc.next_entry().unwrap().unwrap();
    assert_eq!((e.key.as_str(), e.etag.as_str()), ("k", "\"mine\""));
    // Merged meanwhile: the writer is told to record its entry itself.
    let late = logs::Record::intent("late");
    a.log(&ctx, vec![late.clone()]).unwrap();
    // An intent merged unsettled is no change of its own (its write, once
    // stored, is logged again): counted neither logged nor merged.
    assert_eq!(a.merge_logs(true), 0);
    let st = a.stats();
    assert_eq!((st.logged, st.merged), (1, 1));
    assert!(!a
        .logs()
        .settle(&ctx, &late, logs::Record::put(entry("late"))));
    assert_eq!(
        all_keys(&b, &ctx),
        ["k"],
        "an intent without an object merges as nothing"
    );
}

#[test]
fn the_intents_of_a_proxy_killed_mid_write_merge_as_the_store_holds_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let ctx = Context::new("b", vec![1, 2]);
    {
        let gone = Index::new(s.clone(), 4);
        for k in ["stored", "never"] {
            gone.log(&ctx, vec![logs::Record::intent(k)]).unwrap();
        }
        crate::storage::write_small(s.as_ref(), &ctx, "stored", b"xyz").unwrap();
        // Killed before settling either.
    }
    let other = Index::new(s.clone(), 4);
    other.logs().set_orphan_after(std::time::Duration::ZERO);
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert_eq!(other.adopt_logs(&ctx).unwrap(), 2);
    let mut sc = other.scan(&ctx, &Start::From(String::new())).unwrap();
    let e = sc.next_entry().unwrap().unwrap();
    assert_eq!((e.key.as_str(), e.size), ("stored", 3));
    assert!(sc.next_entry().unwrap().is_none());
}
