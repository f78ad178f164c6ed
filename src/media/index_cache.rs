//! The titles' sample indexes kept in memory between requests: a
//! least-recently-used cache bounded in bytes (`proxy.vod-index-cache-size`),
//! keyed by namespace and key, each entry valid only for the object it was
//! parsed from (its ETag and size): a replaced object is parsed again. A
//! title served by range from its index in the cluster is held by that
//! index's head alone ([`Layout`], a few KiB) until it is loaded whole;
//! heads have their own share of the bytes ([`HEAD_SHARE`]), so they never
//! evict a whole index nor a whole index them.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::identity::Identity;
use super::mp4::Movie;
use super::segment::{cuts, Cuts};
use super::stored_index::Layout;

/// Heads ([`Layout`]) take at most this fraction of the cache's bytes
/// (1/16: 4 MiB of the default 64 MiB, the heads of ~150 two-hour titles).
pub const HEAD_SHARE: usize = 16;

/// The cuts made of a movie: the target they are for, and the cuts.
type HeldCuts = Arc<Mutex<Option<(u32, Arc<Cuts>)>>>;

/// A title's index as held: the parsed movie and, once a segment was
/// asked for, its cuts at the target of that request (cutting walks every
/// sample, so it is done once per title and target, not per request).
#[derive(Debug, Clone)]
pub struct Indexed {
    /// The sample index.
    pub movie: Arc<Movie>,
    cuts: HeldCuts,
}

impl Indexed {
    /// `movie`, not cut yet.
    pub fn new(movie: Arc<Movie>) -> Indexed {
        Indexed {
            movie,
            cuts: Arc::default(),
        }
    }

    /// `movie` with its cuts `c` at `target` seconds already made.
    pub fn with_cuts(movie: Arc<Movie>, target: u32, c: Cuts) -> Indexed {
        Indexed {
            movie,
            cuts: Arc::new(Mutex::new(Some((target, Arc::new(c))))),
        }
    }

    /// The movie's cuts at `target` seconds, made on first use.
    pub fn cuts(&self, target: u32) -> Arc<Cuts> {
        let mut held = self.cuts.lock();
        match &*held {
            Some((t, c)) if *t == target => c.clone(),
            _ => {
                let c = Arc::new(cuts(&self.movie, target));
                *held = Some((target, c.clone()));
                c
            }
        }
    }
}

/// The in-memory index cache, shared by every worker.
#[derive(Debug)]
pub struct IndexCache {
    whole: Mutex<Lru<Indexed>>,
    heads: Mutex<Lru<Arc<Layout>>>,
    /// One load (stored index read, or parse) per title at a time: the
    /// viewers of a title that is not held wait for it instead of each
    /// building the same index.
    loads: Mutex<HashMap<(String, String), LoadLock>>,
    /// Loads running at once: a parse holds the title's whole sample
    /// table (tens of MiB for a long title) until it is cached.
    permits: tokio::sync::Semaphore,
}

/// Held while one title's index loads.
type LoadLock = Arc<tokio::sync::Mutex<()>>;

/// The right to load one title's index (see [`IndexCache::load_slot`]).
pub struct LoadSlot<'a> {
    cache: &'a IndexCache,
    id: (String, String),
    lock: LoadLock,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    permit: Option<tokio::sync::SemaphorePermit<'a>>,
}

impl Drop for LoadSlot<'_> {
    fn drop(&mut self) {
        self.permit.take();
        self.held.take();
        let mut loads = self.cache.loads.lock();
        // The map's reference and this one: no one else waits for it.
        if Arc::strong_count(&self.lock) == 2 {
            loads.remove(&self.id);
        }
    }
}

/// Entries of one kind, least recently used first out, within `limit`
/// bytes.
#[derive(Debug)]
struct Lru<T> {
    limit: usize,
    entries: HashMap<(String, String), Entry<T>>,
    bytes: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry<T> {
    identity: Identity,
    held: T,
    bytes: usize,
    used: u64,
}

impl<T: Clone> Lru<T> {
    fn new(limit: usize) -> Lru<T> {
        Lru {
            limit,
            entries: HashMap::new(),
            bytes: 0,
            clock: 0,
        }
    }

    /// The entry of `id` for `identity`; one for another is dropped.
    fn get(&mut self, id: &(String, String), identity: &Identity) -> Option<T> {
        self.clock += 1;
        let now = self.clock;
        match self.entries.get_mut(id) {
            Some(e) if e.identity == *identity => {
                e.used = now;
                return Some(e.held.clone());
            }
            Some(_) => {}
            None => return None,
        }
        self.remove(id);
        None
    }

    fn remove(&mut self, id: &(String, String)) {
        if let Some(e) = self.entries.remove(id) {
            self.bytes -= e.bytes;
        }
    }

    /// Keeps `held` for `id` at `identity`, evicting the least recently
    /// used entries it needs room from; one larger than the limit is not
    /// kept.
    fn put(&mut self, id: (String, String), identity: Identity, held: T, bytes: usize) {
        let bytes = bytes + id.0.len() + id.1.len() + identity.etag.len();
        if bytes > self.limit {
            return;
        }
        self.remove(&id);
        while self.bytes + bytes > self.limit {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.clock += 1;
        let used = self.clock;
        self.bytes += bytes;
        self.entries.insert(
            id,
            Entry {
                identity,
                held,
                bytes,
                used,
            },
        );
    }
}

impl IndexCache {
    /// A cache holding at most `limit` bytes of indexes (0 = none kept).
    pub fn new(limit: usize) -> IndexCache {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        IndexCache {
            whole: Mutex::new(Lru::new(limit)),
            heads: Mutex::new(Lru::new(limit / HEAD_SHARE)),
            loads: Mutex::default(),
            permits: tokio::sync::Semaphore::new(cores.max(2)),
        }
    }

    /// Waits until no other request loads the index of `namespace`/`key`
    /// and a load may start (at most one per core run at once); the
    /// caller then looks in the cache again, and loads only on a miss.
    pub async fn load_slot(&self, namespace: &str, key: &str) -> LoadSlot<'_> {
        let id = (namespace.to_string(), key.to_string());
        let lock = self.loads.lock().entry(id.clone()).or_default().clone();
        let mut slot = LoadSlot {
            cache: self,
            id,
            lock: lock.clone(),
            held: None,
            permit: None,
        };
        slot.held = Some(lock.lock_owned().await);
        // Never closed: the semaphore lives as long as the cache.
        slot.permit = self.permits.acquire().await.ok();
        slot
    }

    /// The index of `namespace`/`key` parsed from `identity`, if held
    /// whole; an entry for another identity (a replaced object) is dropped.
    pub fn get(&self, namespace: &str, key: &str, identity: &Identity) -> Option<Indexed> {
        let id = (namespace.to_string(), key.to_string());
        self.whole.lock().get(&id, identity)
    }

    /// The head of the stored index of `namespace`/`key` for `identity`,
    /// if that is what is held of it.
    pub fn layout(&self, namespace: &str, key: &str, identity: &Identity) -> Option<Arc<Layout>> {
        let id = (namespace.to_string(), key.to_string());
        self.heads.lock().get(&id, identity)
    }

    /// Keeps `index` as the index of `namespace`/`key` at `identity`
    /// (its head, if held, is dropped), evicting the least recently used
    /// indexes it needs room from; one larger than the whole cache is not
    /// kept.
    pub fn insert(&self, namespace: &str, key: &str, identity: Identity, index: Indexed) {
        let id = (namespace.to_string(), key.to_string());
        let bytes = index.movie.index_bytes();
        self.whole.lock().put(id.clone(), identity, index, bytes);
        self.heads.lock().remove(&id);
    }

    /// Keeps `layout` as the head of the stored index of `namespace`/`key`
    /// at `identity`, unless its whole index is held.
    pub fn insert_layout(&self, namespace: &str, key: &str, identity: Identity, layout: Layout) {
        if self.get(namespace, key, &identity).is_some() {
            return;
        }
        let id = (namespace.to_string(), key.to_string());
        let bytes = layout.bytes();
        self.heads.lock().put(id, identity, Arc::new(layout), bytes);
    }

    /// Whether the index of `namespace`/`key` is being loaded now.
    pub fn loading(&self, namespace: &str, key: &str) -> bool {
        self.loads
            .lock()
            .contains_key(&(namespace.to_string(), key.to_string()))
    }

    /// Whether an index of `bytes` fits beside those held, evicting none.
    pub fn has_room(&self, bytes: usize) -> bool {
        let whole = self.whole.lock();
        whole.bytes.saturating_add(bytes) <= whole.limit
    }

    /// Entries held (indexes and heads) and the bytes they take.
    pub fn usage(&self) -> (usize, usize) {
        let (whole, heads) = (self.whole.lock(), self.heads.lock());
        (
            whole.entries.len() + heads.entries.len(),
            whole.bytes + heads.bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::mp4::{Codec, Kind, Sample, Track};

    fn movie(samples: usize) -> Indexed {
        let s = Sample {
            offset: 0,
            dts: 0,
            size: 1,
            duration: 1,
            cto: 0,
            sync: true,
        };
        Indexed::new(Arc::new(Movie {
            timescale: 1000,
            tracks: vec![Track {
                id: 1,
                kind: Kind::Audio,
                codec: Codec::Audio {
                    codecs: "mp4a.40.2".into(),
                    channels: 2,
                    rate: 48000,
                },
                sample_entry: Vec::new(),
                timescale: 48000,
                shift: 0,
                samples: vec![s; samples],
            }],
        }))
    }

    fn id(tag: &str) -> Identity {
        Identity {
            etag: tag.into(),
            size: 10,
        }
    }

    #[test]
    fn one_load_per_title_at_a_time_and_no_more_than_the_permits() {
        use futures_util::FutureExt;
        let c = IndexCache::new(1 << 20);
        let first = c.load_slot("b1", "k").now_or_never().expect("free");
        // The same title waits; another does not.
        assert!(c.load_slot("b1", "k").now_or_never().is_none());
        let other = c.load_slot("b1", "k2").now_or_never().expect("free");
        drop(first);
        let again = c.load_slot("b1", "k").now_or_never().expect("free again");
        drop((other, again));
        assert!(c.loads.lock().is_empty(), "finished loads are forgotten");
        // At most `permits` loads at once, whatever the titles.
        let n = c.permits.available_permits();
        let held: Vec<LoadSlot> = (0..n)
            .map(|i| c.load_slot("b1", &format!("t{i}")).now_or_never().unwrap())
            .collect();
        assert!(c.load_slot("b1", "one-more").now_or_never().is_none());
        drop(held);
        assert!(c.load_slot("b1", "one-more").now_or_never().is_some());
        assert!(c.loads.lock().is_empty());
    }

    #[test]
    fn hits_only_the_same_identity() {
        let c = IndexCache::new(1 << 20);
        c.insert("b1", "k", id("a"), movie(10));
        assert!(c.get("b1", "k", &id("a")).is_some());
        assert!(c.get("b2", "k", &id("a")).is_none());
        // A replaced object: a miss, and the stale entry is gone.
        assert!(c.get("b1", "k", &id("b")).is_none());
        assert_eq!(c.usage().0, 0);
        assert!(c.get("b1", "k", &id("a")).is_none());
    }

    /// The layout of a stored index of `movie(samples)` parsed from `id(tag)`.
    fn layout(samples: usize, tag: &str) -> Layout {
        use crate::media::stored_index::{encode, read_part};
        let m = movie(samples).movie;
        let c = cuts(&m, 1);
        let bytes = encode(&m, &id(tag), 1, &c);
        let record = Identity {
            etag: "r".into(),
            size: bytes.len() as u64,
        };
        let read = |at: u64, len: usize| {
            bytes
                .get(at as usize..at as usize + len)
                .map(<[u8]>::to_vec)
                .ok_or(())
        };
        read_part(&record, &id(tag), 1, (Kind::Audio, 0), read)
            .unwrap()
            .expect("a sound record")
            .1
    }

    #[test]
    fn holds_a_head_until_the_whole_index() {
        let c = IndexCache::new(1 << 20);
        c.insert_layout("b1", "k", id("a"), layout(10, "a"));
        assert!(c.layout("b1", "k", &id("a")).is_some());
        // Not the whole index, and not dropped for asking.
        assert!(c.get("b1", "k", &id("a")).is_none());
        assert_eq!(c.usage().0, 1);
        // The whole index replaces it, and a head does not replace that.
        c.insert("b1", "k", id("a"), movie(10));
        assert!(c.layout("b1", "k", &id("a")).is_none());
        c.insert_layout("b1", "k", id("a"), layout(10, "a"));
        assert!(c.get("b1", "k", &id("a")).is_some());
        assert_eq!(c.usage().0, 1);
        // A head of a replaced object is dropped.
        c.insert_layout("b1", "k2", id("a"), layout(10, "a"));
        assert!(c.layout("b1", "k2", &id("b")).is_none());
        assert!(c.layout("b1", "k2", &id("a")).is_none());
        // A head takes far fewer bytes than the index it stands for.
        let (_, before) = c.usage();
        c.insert_layout("b1", "k3", id("a"), layout(100_000, "a"));
        let head = c.usage().1 - before;
        assert!(
            head * 100 < movie(100_000).movie.index_bytes(),
            "{head} bytes"
        );
    }

    #[test]
    fn heads_and_whole_indexes_never_evict_one_another() {
        let one = movie(1000).movie.index_bytes() + "b1".len() + 2 + 1;
        let c = IndexCache::new(2 * one);
        let head = layout(10, "a");
        assert!(head.bytes() * 2 < 2 * one / HEAD_SHARE, "{}", head.bytes());
        c.insert("b1", "w1", id("a"), movie(1000));
        c.insert("b1", "w2", id("a"), movie(1000));
        assert!(!c.has_room(1));
        // Heads of other titles fill their share, evicting only heads.
        for k in 0..100 {
            c.insert_layout("b1", &format!("h{k}"), id("a"), layout(10, "a"));
        }
        assert!(c.get("b1", "w1", &id("a")).is_some());
        assert!(c.get("b1", "w2", &id("a")).is_some());
        assert!(c.layout("b1", "h99", &id("a")).is_some());
        assert!(c.layout("b1", "h0", &id("a")).is_none());
        let heads = c.usage().0 - 2;
        assert!(heads >= 2, "{heads} heads");
        // A whole index evicts the oldest whole one, no head.
        c.insert("b1", "w3", id("a"), movie(1000));
        assert!(c.get("b1", "w1", &id("a")).is_none());
        assert_eq!(c.usage().0, 2 + heads);
        assert!(c.usage().1 <= 2 * one + 2 * one / HEAD_SHARE);
    }

    #[test]
    fn stays_within_its_bytes_evicting_the_least_recently_used() {
        let one = movie(100).movie.index_bytes() + "b1".len() + 2 + 1;
        let c = IndexCache::new(3 * one);
        for k in ["k1", "k2", "k3"] {
            c.insert("b1", k, id("a"), movie(100));
        }
        assert_eq!(c.usage(), (3, 3 * one));
        // k1 used: k2 is now the oldest and goes for k4.
        assert!(c.get("b1", "k1", &id("a")).is_some());
        c.insert("b1", "k4", id("a"), movie(100));
        assert_eq!(c.usage(), (3, 3 * one));
        assert!(c.get("b1", "k2", &id("a")).is_none());
        for k in ["k1", "k3", "k4"] {
            assert!(c.get("b1", k, &id("a")).is_some(), "{k}");
        }
        // No room beside those held without evicting one; room again once
        // a smaller cache is not full.
        assert!(!c.has_room(1));
        assert!(IndexCache::new(3 * one).has_room(3 * one));
        assert!(!IndexCache::new(0).has_room(1));
        // Larger than the whole cache: not kept, nothing evicted.
        c.insert("b1", "big", id("a"), movie(1000));
        assert_eq!(c.usage().0, 3);
        // Off.
        let off = IndexCache::new(0);
        off.insert("b1", "k", id("a"), movie(1));
        assert_eq!(off.usage(), (0, 0));
    }
}
