//! Buckets: their metadata in the metadata groups (namespace `bucket`), the
//! list of writable buckets, and a cache of every bucket used by name.

pub mod cluster_list;
pub mod meta;
pub mod spec;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

pub use meta::{AclEntry, BucketMeta};

use crate::storage::{read_small, write_small, Context, Replicas, Storage, StorageError};

/// Namespace of bucket metadata objects.
pub const META_NAMESPACE: &str = "bucket";
/// Bucket metadata larger than this is refused as corrupt.
const META_LIMIT: u64 = 1 << 20;
/// Largest config or bucket list object read from the metadata groups.
const OBJECT_LIMIT: u64 = 16 << 20;

/// Why a bucket cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BucketError {
    /// No metadata exists under that name.
    #[error("bucket {0} does not exist")]
    Unknown(String),
    /// The metadata is there but cannot be decoded.
    #[error("bucket {0}: {1}")]
    Corrupt(String, String),
    /// The metadata groups could not be read.
    #[error("bucket {0}: {1}")]
    Storage(String, StorageError),
    /// The name can never be a bucket's (see [`check_name`]).
    #[error("bucket name {0:?} is reserved: {1}")]
    Reserved(String, String),
}

/// A bucket a reload could not read, and whether its previous metadata is kept.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}{}", if *.kept_previous { "; keeping its previous metadata" } else { "" })]
pub struct BucketReloadError {
    /// Why it could not be read.
    pub error: BucketError,
    /// Whether the registry keeps the metadata the previous one had.
    pub kept_previous: bool,
}

/// Whether `name` may name a bucket. Bucket metadata objects live in
/// namespace [`META_NAMESPACE`] under the bucket's name, beside the
/// `reserved` keys (`elliptics.backrunner-config-key` and
/// `elliptics.bucket-list-key`), and a bucket's objects live in the
/// namespace of its name. So a bucket called `bucket` could overwrite every
/// bucket's metadata, one called like a reserved key would read that object
/// as its metadata, and a NUL would let a namespace run into its key (Elliptics
/// hashes namespace, NUL, key). All of these are refused.
pub fn check_name(name: &str, reserved: &[String]) -> Result<(), BucketError> {
    let refuse = |why: &str| Err(BucketError::Reserved(name.to_string(), why.to_string()));
    if name.is_empty() {
        return refuse("a bucket needs a name");
    }
    if name == META_NAMESPACE {
        return refuse("bucket metadata lives in that namespace");
    }
    if name.contains('\0') {
        return refuse("a bucket name may not contain NUL");
    }
    if reserved.iter().any(|k| k == name) {
        return refuse(
            "the metadata groups keep the proxy config or the bucket list under that key \
             (elliptics.backrunner-config-key, elliptics.bucket-list-key)",
        );
    }
    Ok(())
}

/// The keys beside bucket metadata in namespace [`META_NAMESPACE`]: the
/// config key and the bucket list key, where set.
pub fn reserved_keys(e: &crate::config::EllipticsConfig) -> Vec<String> {
    [&e.backrunner_config_key, &e.bucket_list_key]
        .into_iter()
        .filter(|k| !k.is_empty())
        .cloned()
        .collect()
}

/// Copies of bucket metadata found undecodable since start (a later group's
/// copy was used when one was good).
static BAD_META_COPIES: AtomicU64 = AtomicU64::new(0);

/// How many metadata copies failed to decode since start.
pub fn bad_meta_copies() -> u64 {
    BAD_META_COPIES.load(Ordering::Relaxed)
}

/// Parses a bucket list: one name per line; blank lines and `#` comments skipped.
pub fn parse_bucket_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Reads one bucket's metadata from the metadata groups, one group after
/// the other: a copy that cannot be read or decoded is logged (and counted,
/// see [`bad_meta_copies`]) and the next group's copy is tried.
pub fn read_meta(
    storage: &dyn Storage,
    meta_groups: &[u32],
    name: &str,
) -> Result<BucketMeta, BucketError> {
    check_name(name, &[])?;
    let mut corrupt: Option<String> = None;
    let mut errors = Vec::new();
    for &g in meta_groups {
        let ctx = Context::new(META_NAMESPACE, vec![g]);
        let data = match read_small(storage, &ctx, name, META_LIMIT) {
            Ok(d) => d,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match BucketMeta::from_msgpack(&data) {
            Ok(m) => {
                if corrupt.is_some() || !errors.is_empty() {
                    log::info!("bucket {name}: metadata read from group {g}");
                }
                return Ok(m);
            }
            Err(e) => {
                BAD_META_COPIES.fetch_add(1, Ordering::Relaxed);
                log::error!("bucket {name}: bad metadata copy in group {g}: {e}");
                corrupt.get_or_insert_with(|| format!("group {g}: {e}"));
            }
        }
    }
    if let Some(c) = corrupt {
        return Err(BucketError::Corrupt(name.to_string(), c));
    }
    let e = StorageError::pick(&errors);
    Err(if e.is_not_found() {
        BucketError::Unknown(name.to_string())
    } else {
        BucketError::Storage(name.to_string(), e)
    })
}

/// Writes one bucket's metadata into every metadata group; fails unless all succeed.
pub fn write_meta(
    storage: &dyn Storage,
    meta_groups: &[u32],
    meta: &BucketMeta,
) -> Result<(), StorageError> {
    write_meta_object(storage, meta_groups, &meta.name, &meta.to_msgpack())
}

/// Reads a small object of namespace [`META_NAMESPACE`] other than a
/// bucket's metadata (the stored proxy config, the bucket list) from the
/// metadata groups.
pub fn read_meta_object(
    storage: &dyn Storage,
    meta_groups: &[u32],
    key: &str,
) -> Result<Vec<u8>, StorageError> {
    let ctx = Context::new(META_NAMESPACE, meta_groups.to_vec());
    read_small(storage, &ctx, key, OBJECT_LIMIT)
}

/// Writes a small object of namespace [`META_NAMESPACE`] into every
/// metadata group; fails unless all succeed (the error names the group).
pub fn write_meta_object(
    storage: &dyn Storage,
    meta_groups: &[u32],
    key: &str,
    data: &[u8],
) -> Result<(), StorageError> {
    let ctx = Context::new(META_NAMESPACE, meta_groups.to_vec());
    write_small(storage, &ctx, key, data)?.all_ok()
}

/// The buckets the proxy knows: the listed (writable) ones, loaded up front,
/// and any other bucket, loaded on first use.
pub struct Buckets {
    storage: Arc<dyn Storage>,
    meta_groups: Vec<u32>,
    /// Keys beside the metadata that no bucket may be named ([`reserved_keys`]).
    reserved: Vec<String>,
    list: RwLock<Vec<String>>,
    cache: RwLock<HashMap<String, Arc<BucketMeta>>>,
}

impl Buckets {
    /// Builds the registry for a reload: reads every bucket of `list` and,
    /// unless `forget_back`, every "back" bucket `previous` had loaded by name.
    /// A bucket that fails to read keeps its metadata from `previous` (a
    /// listed one stays listed), except a back bucket that no longer exists;
    /// the failures are returned, one line each.
    pub fn reload(
        storage: Arc<dyn Storage>,
        meta_groups: Vec<u32>,
        reserved: Vec<String>,
        list: Vec<String>,
        previous: Option<&Buckets>,
        forget_back: bool,
    ) -> (Buckets, Vec<BucketReloadError>) {
        let old: HashMap<String, Arc<BucketMeta>> =
            previous.map(|p| p.cache.read().clone()).unwrap_or_default();
        let mut names = list.clone();
        if !forget_back {
            names.extend(old.keys().cloned());
        }
        names.sort();
        names.dedup();
        let mut cache = HashMap::new();
        let mut errors = Vec::new();
        for name in names {
            let read = check_name(&name, &reserved)
                .and_then(|_| read_meta(storage.as_ref(), &meta_groups, &name));
            let failed = |error, kept_previous| BucketReloadError {
                error,
                kept_previous,
            };
            match read {
                Err(e @ BucketError::Reserved(..)) => errors.push(failed(e, false)),
                Ok(m) => {
                    cache.insert(name, Arc::new(m));
                }
                // A back bucket that was removed is simply forgotten.
                Err(BucketError::Unknown(_)) if !list.contains(&name) => {}
                Err(e) => {
                    match old.get(&name) {
                        Some(m) => {
                            errors.push(failed(e, true));
                            cache.insert(name, m.clone());
                        }
                        None => errors.push(failed(e, false)),
                    };
                }
            }
        }
        let b = Buckets {
            storage,
            meta_groups,
            reserved,
            list: RwLock::new(list),
            cache: RwLock::new(cache),
        };
        (b, errors)
    }

    /// The names in the bucket list, in list order.
    pub fn list(&self) -> Vec<String> {
        self.list.read().clone()
    }

    fn insert(&self, m: BucketMeta) -> Arc<BucketMeta> {
        let m = Arc::new(m);
        self.cache.write().insert(m.name.clone(), m.clone());
        m
    }

    /// The bucket called `name` if its metadata is loaded. Never blocks on storage.
    pub fn cached(&self, name: &str) -> Option<Arc<BucketMeta>> {
        self.cache.read().get(name).cloned()
    }

    /// The bucket called `name`, from the cache or the metadata groups.
    pub fn get(&self, name: &str) -> Result<Arc<BucketMeta>, BucketError> {
        if let Some(m) = self.cached(name) {
            return Ok(m);
        }
        check_name(name, &self.reserved)?;
        let m = read_meta(self.storage.as_ref(), &self.meta_groups, name)?;
        Ok(self.insert(m))
    }

    /// Every loaded bucket, sorted by name (S3 ListBuckets).
    pub fn all(&self) -> Vec<Arc<BucketMeta>> {
        let mut v: Vec<_> = self.cache.read().values().cloned().collect();
        v.sort_by(|a: &Arc<BucketMeta>, b| a.name.cmp(&b.name));
        v
    }

    /// The listed buckets whose metadata is loaded, in list order.
    pub fn listed(&self) -> Vec<Arc<BucketMeta>> {
        let list = self.list.read().clone();
        let cache = self.cache.read();
        list.iter().filter_map(|n| cache.get(n).cloned()).collect()
    }

    /// Adds a bucket just created (S3 CreateBucket) to this registry, loaded
    /// and listed, so it is served before the next reload reads it back.
    pub fn add_listed(&self, m: BucketMeta) -> Arc<BucketMeta> {
        {
            let mut l = self.list.write();
            if !l.contains(&m.name) {
                l.push(m.name.clone());
            }
        }
        self.insert(m)
    }

    /// Puts the metadata of a bucket just rewritten (S3 PutBucketAcl) in
    /// place of what was loaded, so it is served before the next reload.
    pub fn replace(&self, m: BucketMeta) -> Arc<BucketMeta> {
        self.insert(m)
    }

    /// Forgets a bucket just deleted (S3 DeleteBucket).
    pub fn forget(&self, name: &str) {
        self.list.write().retain(|n| n != name);
        self.cache.write().remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_keeps_previous_metadata_and_forgets_back_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let local = crate::config::LocalConfig {
            path: dir.path().to_path_buf(),
            groups: vec![crate::config::LocalGroupConfig {
                group: 1,
                ..Default::default()
            }],
        };
        let storage: Arc<dyn Storage> =
            Arc::new(crate::storage::local::LocalStore::open(&local).unwrap());
        let meta = |name: &str| BucketMeta {
            name: name.into(),
            groups: vec![1],
            ..Default::default()
        };
        for n in ["listed", "back"] {
            write_meta(storage.as_ref(), &[1], &meta(n)).unwrap();
        }
        let (first, errs) = Buckets::reload(
            storage.clone(),
            vec![1],
            Vec::new(),
            vec!["listed".into()],
            None,
            true,
        );
        assert!(errs.is_empty(), "{errs:?}");
        first.get("back").unwrap();
        // Metadata groups that hold nothing: every read fails.
        let (b, errs) = Buckets::reload(
            storage.clone(),
            vec![2],
            Vec::new(),
            vec!["listed".into()],
            Some(&first),
            false,
        );
        assert_eq!(b.listed().len(), 1, "listed bucket kept");
        assert!(
            b.cached("back").is_some(),
            "back bucket kept on a read error"
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        let (b, errs) = Buckets::reload(
            storage,
            vec![1],
            Vec::new(),
            vec!["listed".into()],
            Some(&b),
            true,
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert!(b.cached("back").is_none(), "back bucket forgotten");
        assert!(b.cached("listed").is_some(), "listed bucket kept");
        assert_eq!(b.list(), vec!["listed"]);
    }

    #[test]
    fn bucket_list_lines() {
        assert_eq!(
            parse_bucket_list("b1\n\n  b2 \r\n# comment\nb3"),
            vec!["b1", "b2", "b3"]
        );
    }
}
