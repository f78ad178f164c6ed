//! Compare-and-swap (`Storage::write_if`, `storage::cas::update`) on the
//! store the suite runs against: the embedded store, or a real
//! `dnet_ioserv` with `BACKRUNNER_TEST_BACKEND=elliptics` (the server's
//! `write_cas` check, not a client-side one, is what refuses stale writes).
//! Two store handles stand for two proxy processes.

use std::sync::Arc;

use backrunner::storage::cas::{self, Change, Retry, Version};
use backrunner::storage::{read_small, write_small, Context, Storage};

use crate::common::{self, Backend, Group, Ioserv};

/// Two independent handles on one store, and what keeps it alive.
struct Stores {
    a: Arc<dyn Storage>,
    b: Arc<dyn Storage>,
    _dir: tempfile::TempDir,
    _ioserv: Option<Ioserv>,
}

fn stores() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let groups = [Group::new(1), Group::new(2), Group::new(3)];
    match common::backend() {
        Backend::Local => {
            let cfg = backrunner::config::LocalConfig {
                path: dir.path().join("store"),
                groups: groups
                    .iter()
                    .map(|g| backrunner::config::LocalGroupConfig {
                        group: g.id,
                        size_limit: 0,
                        read_only: false,
                        delay_ms: 0,
                    })
                    .collect(),
            };
            let open = || -> Arc<dyn Storage> {
                Arc::new(backrunner::storage::local::LocalStore::open(&cfg).unwrap())
            };
            Stores {
                a: open(),
                b: open(),
                _dir: dir,
                _ioserv: None,
            }
        }
        Backend::Elliptics => elliptics_stores(dir, &groups),
    }
}

#[cfg(feature = "elliptics")]
fn elliptics_stores(dir: tempfile::TempDir, groups: &[Group]) -> Stores {
    let io = Ioserv::start(&dir.path().join("elliptics"), groups);
    let mut cfg = backrunner::config::Config::default();
    cfg.elliptics.remote = vec![io.address.clone()];
    cfg.elliptics.node_config.wait_timeout = 5;
    let open = || -> Arc<dyn Storage> {
        Arc::new(backrunner::storage::elliptics::EllipticsStore::open(&cfg).unwrap())
    };
    Stores {
        a: open(),
        b: open(),
        _dir: dir,
        _ioserv: Some(io),
    }
}

#[cfg(not(feature = "elliptics"))]
fn elliptics_stores(_: tempfile::TempDir, _: &[Group]) -> Stores {
    panic!("BACKRUNNER_TEST_BACKEND=elliptics needs the tests built with --features elliptics")
}

#[test]
fn stale_writes_are_refused_by_the_store() {
    let s = stores();
    let ctx = Context::new("cas", vec![1, 2]);
    let all_ok = |r: &[backrunner::storage::GroupResult<_>]| r.iter().all(|g| g.result.is_ok());
    let conflicts = |r: &[backrunner::storage::GroupResult<_>]| {
        r.iter()
            .all(|g| g.result.as_ref().is_err_and(|e| e.is_conflict()))
    };
    assert!(all_ok(&s.a.write_if(&ctx, "k", b"one", &Version::Absent)));
    // "Only if absent" is refused once the object exists, through either handle.
    assert!(conflicts(&s.b.write_if(
        &ctx,
        "k",
        b"two",
        &Version::Absent
    )));
    let (data, v1) = cas::read_versioned(&*s.b, &ctx, "k", 1 << 20)
        .unwrap()
        .unwrap();
    assert_eq!((data.as_slice(), &v1), (&b"one"[..], &Version::of(b"one")));
    // Handle b moves it on; a's write with the version it read is stale.
    assert!(all_ok(&s.b.write_if(&ctx, "k", b"three", &v1)));
    assert!(conflicts(&s.a.write_if(&ctx, "k", b"stale", &v1)));
    assert_eq!(read_small(&*s.a, &ctx, "k", 100).unwrap(), b"three");
    // A plain write behind the back changes the version too.
    write_small(&*s.a, &ctx, "k", b"plain").unwrap();
    assert!(conflicts(&s.b.write_if(
        &ctx,
        "k",
        b"x",
        &Version::of(b"three")
    )));
    assert!(all_ok(&s.b.write_if(
        &ctx,
        "k",
        b"y",
        &Version::of(b"plain")
    )));
    assert_eq!(read_small(&*s.b, &ctx, "k", 100).unwrap(), b"y");
    assert!(cas::read_versioned(&*s.a, &ctx, "none", 100)
        .unwrap()
        .is_none());
}

#[test]
fn concurrent_updates_through_two_handles_lose_nothing() {
    let s = stores();
    let ctx = Context::new("cas", vec![1, 2, 3]);
    let per_thread = 15u32;
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let store = if t % 2 == 0 { s.a.clone() } else { s.b.clone() };
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let mut conflicts = 0;
                for i in 0..per_thread {
                    let item = (t * per_thread + i).to_string();
                    let (_, cost) =
                        cas::update(&*store, &ctx, "list", 1 << 20, Retry::default(), |p| {
                            let mut text = p
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .unwrap_or_default();
                            text.push_str(&item);
                            text.push('\n');
                            Ok(Change::Write(text.into_bytes(), ()))
                        })
                        .unwrap();
                    conflicts += cost.attempts - 1;
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!("{conflicts} compare-and-swap conflicts retried");
    for g in [1, 2, 3] {
        let got = cas::read(&*s.a, &Context::new("cas", vec![g]), "list", 1 << 20)
            .unwrap()
            .unwrap();
        let mut items: Vec<u32> = String::from_utf8(got.payload)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        items.sort();
        assert_eq!(items, (0..8 * per_thread).collect::<Vec<_>>(), "group {g}");
        assert_eq!(got.generation, u64::from(8 * per_thread), "group {g}");
    }
}
