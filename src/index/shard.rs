//! What the index stores: entries, shards of sorted entries, the root
//! naming the shards, their MessagePack encoding, and the pure algorithms
//! over them (insert, remove, split, routing). No storage here.

use serde::{Deserialize, Serialize};

use crate::storage::{Context, ReplicaInfo, StorageError};

/// One object as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The object key.
    #[serde(rename = "k")]
    pub key: String,
    /// Size in bytes.
    #[serde(rename = "s")]
    pub size: u64,
    /// Last modification, nanoseconds since the epoch.
    #[serde(rename = "t")]
    pub mtime_ns: u64,
    /// The ETag as HeadObject answers it (quoted).
    #[serde(rename = "e")]
    pub etag: String,
    /// The user who wrote it, when known (an S3 access key id).
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Its Content-Type, when stored with it (S3 PutObject).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// When a proxy recorded the write (nanoseconds since the epoch, its
    /// clock; 0 when unknown): orders it against other changes of the key
    /// arriving from several proxies' logs ([`Entry::order`]).
    #[serde(rename = "w", default, skip_serializing_if = "is_zero")]
    pub recorded_ns: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Entry {
    /// The entry of `key` stored as `replica`, with the ETag S3 answers for
    /// an object without an MD5 ([`ReplicaInfo::s3_etag`]; S3 writes set
    /// theirs).
    pub fn of_replica(key: &str, replica: &ReplicaInfo) -> Entry {
        Entry {
            key: key.to_string(),
            size: replica.size,
            mtime_ns: u64::try_from(crate::time::since_epoch(replica.mtime).as_nanos())
                .unwrap_or(u64::MAX),
            etag: replica.s3_etag(),
            owner: None,
            content_type: None,
            recorded_ns: 0,
        }
    }

    /// The time that orders this write against other changes of its key:
    /// when a proxy recorded it, else the object's modification time.
    pub fn order(&self) -> u64 {
        if self.recorded_ns != 0 {
            self.recorded_ns
        } else {
            self.mtime_ns
        }
    }
}

/// A shard: the entries with keys in `[lower, upper)`, sorted by key, and
/// the shard holding the keys from `upper` on (a right link, as in a
/// B-link tree: a writer routed here by a stale root follows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Smallest key this shard may hold ("" for the first shard).
    #[serde(rename = "lo")]
    pub lower: String,
    /// First key it does not hold; `None` for the last shard.
    #[serde(rename = "hi", default)]
    pub upper: Option<String>,
    /// The shard holding keys from `upper` on.
    #[serde(rename = "n", default)]
    pub next: Option<u64>,
    /// Sorted by key, one per key.
    #[serde(rename = "es", default)]
    pub entries: Vec<Entry>,
    /// Keys removed lately and when (nanoseconds since the epoch), sorted
    /// by key: a write of the key recorded before that time, arriving later
    /// from another proxy's log (src/index/logs.rs), must not bring its
    /// entry back. Kept [`MARKER_TTL`].
    #[serde(rename = "gn", default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<(String, u64)>,
}

/// How long a removal marker stays in its shard: far longer than a
/// change waits in a proxy's log before it reaches the shards.
pub const MARKER_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Now, in nanoseconds since the epoch: the time of a removal.
pub fn now_ns() -> u64 {
    u64::try_from(crate::time::since_epoch(std::time::SystemTime::now()).as_nanos())
        .unwrap_or(u64::MAX)
}

/// What a shard does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The key belongs here.
    Here,
    /// The key is at or past `upper`: look in the next shard.
    Next(Option<u64>),
    /// The key is below `lower`: the routing that led here is wrong.
    Below,
}

impl Shard {
    /// The shard every bucket starts with (id 0, all keys): what an absent
    /// first shard means.
    pub fn first() -> Shard {
        Shard {
            lower: String::new(),
            upper: None,
            next: None,
            entries: Vec::new(),
            gone: Vec::new(),
        }
    }

    /// Where `key` goes, seen from this shard.
    pub fn route(&self, key: &str) -> Route {
        if key < self.lower.as_str() {
            Route::Below
        } else if self.upper.as_deref().is_some_and(|u| key >= u) {
            Route::Next(self.next)
        } else {
            Route::Here
        }
    }

    /// Inserts or replaces the entry of its key; whether anything changed.
    pub fn upsert(&mut self, entry: Entry) -> bool {
        match self.entries.binary_search_by(|e| e.key.cmp(&entry.key)) {
            Ok(i) if self.entries[i] == entry => false,
            Ok(i) => {
                self.entries[i] = entry;
                true
            }
            Err(i) => {
                self.entries.insert(i, entry);
                true
            }
        }
    }

    /// Removes the entry of `key`; whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries.binary_search_by(|e| e.key.as_str().cmp(key)) {
            Ok(i) => {
                self.entries.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Records a write made at [`Entry::order`] unless the shard knows of a
    /// later one of its key (an entry or a removal marker at or after that
    /// time); whether anything changed. Changes arriving out of order (from
    /// the logs of several proxies) thus end as their times say.
    pub fn put_if_newer(&mut self, entry: Entry) -> bool {
        let mut changed = false;
        if let Ok(i) = self.gone.binary_search_by(|(k, _)| k.cmp(&entry.key)) {
            if self.gone[i].1 >= entry.order() {
                return false;
            }
            self.gone.remove(i);
            changed = true;
        }
        match self.entries.binary_search_by(|e| e.key.cmp(&entry.key)) {
            Ok(i) if self.entries[i].order() > entry.order() => changed,
            _ => self.upsert(entry) || changed,
        }
    }

    /// Records a removal of `key` made at `at`, leaving a marker, unless
    /// its entry was written after that; `(changed, an entry was removed)`.
    pub fn remove_at(&mut self, key: &str, at: u64) -> (bool, bool) {
        let i = self.entries.binary_search_by(|e| e.key.as_str().cmp(key));
        if let Ok(i) = i {
            if self.entries[i].order() > at {
                return (false, false);
            }
        }
        let removed = self.remove(key);
        let changed = match self.gone.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(j) if self.gone[j].1 >= at => false,
            Ok(j) => {
                self.gone[j].1 = at;
                true
            }
            Err(j) => {
                self.gone.insert(j, (key.to_string(), at));
                true
            }
        };
        (changed || removed, removed)
    }

    /// The removal marker of `key`, if any: when it was removed.
    pub fn gone_at(&self, key: &str) -> Option<u64> {
        self.gone
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.gone[i].1)
    }

    /// Drops the removal markers older than `before`; whether there were any.
    pub fn purge_gone(&mut self, before: u64) -> bool {
        let n = self.gone.len();
        self.gone.retain(|(_, t)| *t >= before);
        self.gone.len() != n
    }

    /// When the shard holds more than `bound` entries, moves its upper half
    /// into a new shard `new_id` (answered) and links to it.
    pub fn split_if_over(&mut self, bound: usize, new_id: u64) -> Option<Shard> {
        if self.entries.len() <= bound.max(2) {
            return None;
        }
        let right_entries = self.entries.split_off(self.entries.len() / 2);
        let lower = right_entries[0].key.clone();
        let at = self.gone.partition_point(|(k, _)| *k < lower);
        let right = Shard {
            lower,
            upper: self.upper.take(),
            next: self.next.take(),
            entries: right_entries,
            gone: self.gone.split_off(at),
        };
        self.upper = Some(right.lower.clone());
        self.next = Some(new_id);
        Some(right)
    }

    /// The index of the first entry after `key` (all entries when `None`).
    pub fn after(&self, key: Option<&str>) -> usize {
        match key {
            None => 0,
            Some(k) => self.entries.partition_point(|e| e.key.as_str() <= k),
        }
    }
}

/// The root: each shard's lower bound and id, sorted by bound; the first
/// bound is "" (shard 0). It is a routing hint: a shard missing here is
/// still reached through the right links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// `(lower, id)` per shard.
    #[serde(rename = "sh")]
    pub shards: Vec<(String, u64)>,
}

impl Default for Root {
    fn default() -> Self {
        Root {
            shards: vec![(String::new(), 0)],
        }
    }
}

impl Root {
    /// The shard to start looking for `key` in: the one with the largest
    /// lower bound not above it.
    pub fn route(&self, key: &str) -> u64 {
        let i = self.shards.partition_point(|(lo, _)| lo.as_str() <= key);
        self.shards
            .get(i.saturating_sub(1))
            .map_or(0, |&(_, id)| id)
    }

    /// Records shard `id` starting at `lower`; whether it was new.
    pub fn add(&mut self, lower: String, id: u64) -> bool {
        match self.shards.binary_search_by(|(lo, _)| lo.cmp(&lower)) {
            Ok(i) if self.shards[i].1 == id => false,
            Ok(i) => {
                self.shards[i].1 = id;
                true
            }
            Err(i) => {
                self.shards.insert(i, (lower, id));
                true
            }
        }
    }
}

fn bad(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::new(-libc::EILSEQ, format!("index {what}: {e}"))
}

/// MessagePack of `v` (struct fields by their short names).
pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    rmp_serde::to_vec_named(v).map_err(|e| StorageError::new(-libc::EINVAL, format!("index: {e}")))
}

/// Reads a shard.
pub fn decode_shard(data: &[u8]) -> Result<Shard, StorageError> {
    rmp_serde::from_slice(data).map_err(|e| bad("shard", e))
}

/// Reads the root.
pub fn decode_root(data: &[u8]) -> Result<Root, StorageError> {
    let root: Root = rmp_serde::from_slice(data).map_err(|e| bad("root", e))?;
    if root.shards.first().map(|(lo, _)| lo.as_str()) != Some("") {
        return Err(bad("root", "does not start with the first shard"));
    }
    Ok(root)
}

/// The index namespace of a bucket's context.
pub fn index_ctx(bucket: &Context) -> Context {
    Context {
        namespace: format!("{}/index", bucket.namespace),
        ..bucket.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(key: &str) -> Entry {
        Entry {
            key: key.into(),
            size: key.len() as u64,
            mtime_ns: 1_700_000_000_000_000_000,
            etag: format!("\"{key}\""),
            owner: None,
            content_type: None,
            recorded_ns: 0,
        }
    }

    #[test]
    fn upsert_remove_keep_order() {
        let mut s = Shard::first();
        for k in ["m", "a", "z", "c"] {
            assert!(s.upsert(entry(k)));
        }
        assert!(!s.upsert(entry("c")), "same entry: no change");
        let mut bigger = entry("c");
        bigger.size = 99;
        assert!(s.upsert(bigger));
        let keys: Vec<&str> = s.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "c", "m", "z"]);
        assert_eq!(s.entries[1].size, 99);
        assert!(s.remove("m") && !s.remove("m"));
        assert_eq!(s.after(Some("a")), 1);
        assert_eq!(s.after(Some("b")), 1);
        assert_eq!(s.after(None), 0);
        assert_eq!(s.after(Some("zz")), 3);
    }

    #[test]
    fn split_moves_the_upper_half_and_links() {
        let mut s = Shard::first();
        for i in 0..9 {
            s.upsert(entry(&format!("k{i}")));
        }
        assert!(s.split_if_over(9, 7).is_none());
        s.upsert(entry("k9"));
        let right = s.split_if_over(9, 7).unwrap();
        assert_eq!((s.entries.len(), right.entries.len()), (5, 5));
        assert_eq!(s.upper.as_deref(), Some("k5"));
        assert_eq!(
            (s.next, right.next, right.upper.clone()),
            (Some(7), None, None)
        );
        assert_eq!(right.lower, "k5");
        assert_eq!(s.route("k4"), Route::Here);
        assert_eq!(s.route("k5"), Route::Next(Some(7)));
        assert_eq!(right.route("k5"), Route::Here);
        assert_eq!(right.route("k4"), Route::Below);
        // A second split of the left half links through the new shard.
        let mut left = s.clone();
        for i in 0..6 {
            left.upsert(entry(&format!("j{i}")));
        }
        let mid = left.split_if_over(9, 8).unwrap();
        assert_eq!((left.next, mid.next), (Some(8), Some(7)));
        assert_eq!(mid.upper.as_deref(), Some("k5"));
    }

    #[test]
    fn changes_end_as_their_times_say_whatever_their_order() {
        let at = |k: &str, t: u64| Entry {
            mtime_ns: t,
            ..entry(k)
        };
        // A write, then its removal, arriving in that order or the other.
        let mut a = Shard::first();
        assert!(a.put_if_newer(at("k", 10)));
        assert_eq!(a.remove_at("k", 20), (true, true));
        let mut b = Shard::first();
        assert_eq!(b.remove_at("k", 20), (true, false));
        assert!(!b.put_if_newer(at("k", 10)), "the marker is newer");
        assert_eq!((a.entries.len(), b.entries.len()), (0, 0));
        assert_eq!((a.gone_at("k"), b.gone_at("k")), (Some(20), Some(20)));
        // A later write replaces the marker; an earlier removal is ignored.
        assert!(b.put_if_newer(at("k", 30)));
        assert_eq!(b.gone_at("k"), None);
        assert_eq!(b.remove_at("k", 25), (false, false));
        assert!(!b.put_if_newer(at("k", 28)), "an older write");
        assert_eq!(b.entries[0].mtime_ns, 30);
        // Markers go once old; splits take the markers of their keys.
        let mut c = Shard::first();
        for i in 0..10 {
            c.put_if_newer(at(&format!("k{i}"), 5));
        }
        c.remove_at("a", 1);
        c.remove_at("k7x", 9);
        let right = c.split_if_over(9, 3).unwrap();
        assert_eq!(c.gone, vec![("a".to_string(), 1)]);
        assert_eq!(right.gone, vec![("k7x".to_string(), 9)]);
        assert!(c.purge_gone(2) && c.gone.is_empty() && !c.purge_gone(2));
        let back = decode_shard(&encode(&right).unwrap()).unwrap();
        assert_eq!(back, right);
    }

    #[test]
    fn root_routes_by_lower_bound() {
        let mut r = Root::default();
        assert_eq!(r.route("anything"), 0);
        assert!(r.add("m".into(), 5));
        assert!(r.add("f".into(), 3));
        assert!(!r.add("f".into(), 3));
        assert_eq!(r.route(""), 0);
        assert_eq!(r.route("a"), 0);
        assert_eq!(r.route("f"), 3);
        assert_eq!(r.route("l"), 3);
        assert_eq!(r.route("m"), 5);
        assert_eq!(r.route("zzz"), 5);
        let back = decode_root(&encode(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(decode_root(&encode(&Root { shards: vec![] }).unwrap()).is_err());
        assert!(decode_shard(b"\xc1garbage").is_err());
    }

    #[test]
    fn encoding_round_trips_and_is_compact() {
        let mut s = Shard::first();
        s.upsert(entry("photos/2026/a.jpg"));
        let mut e = entry("b");
        e.owner = Some("writer".into());
        e.content_type = Some("text/plain".into());
        s.upsert(e);
        let bytes = encode(&s).unwrap();
        assert_eq!(decode_shard(&bytes).unwrap(), s);
        // Key, size, time and a 34-byte ETag cost about 30 bytes more.
        let one = encode(&Shard {
            entries: vec![entry("k")],
            ..Shard::first()
        })
        .unwrap();
        let none = encode(&Shard::first()).unwrap();
        assert!(one.len() - none.len() < 40, "{}", one.len() - none.len());
    }
}
