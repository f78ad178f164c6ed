//! Buckets: their metadata in the metadata groups (namespace `bucket`), the
//! list of writable buckets, and a cache of every bucket used by name.

pub mod meta;
pub mod spec;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use meta::{AclEntry, BucketMeta};

use crate::storage::{read_small, write_small, Context, Storage, StorageError};

/// Namespace of bucket metadata objects.
pub const META_NAMESPACE: &str = "bucket";
/// Bucket metadata larger than this is refused as corrupt.
const META_LIMIT: u64 = 1 << 20;

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
}

/// Parses a bucket list: one name per line; blank lines and `#` comments skipped.
pub fn parse_bucket_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Reads one bucket's metadata from the metadata groups.
pub fn read_meta(
    storage: &dyn Storage,
    meta_groups: &[u32],
    name: &str,
) -> Result<BucketMeta, BucketError> {
    let ctx = Context::new(META_NAMESPACE, meta_groups.to_vec());
    let data = read_small(storage, &ctx, name, META_LIMIT).map_err(|e| {
        if e.is_not_found() {
            BucketError::Unknown(name.to_string())
        } else {
            BucketError::Storage(name.to_string(), e)
        }
    })?;
    BucketMeta::from_msgpack(&data)
        .map_err(|e| BucketError::Corrupt(name.to_string(), e.to_string()))
}

/// Writes one bucket's metadata into every metadata group; fails unless all succeed.
pub fn write_meta(
    storage: &dyn Storage,
    meta_groups: &[u32],
    meta: &BucketMeta,
) -> Result<(), StorageError> {
    let ctx = Context::new(META_NAMESPACE, meta_groups.to_vec());
    let results = write_small(storage, &ctx, &meta.name, &meta.to_msgpack())?;
    match results.into_iter().find_map(|r| r.result.err()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The buckets the proxy knows: the listed (writable) ones, loaded up front,
/// and any other bucket, loaded on first use.
pub struct Buckets {
    storage: Arc<dyn Storage>,
    meta_groups: Vec<u32>,
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
        list: Vec<String>,
        previous: Option<&Buckets>,
        forget_back: bool,
    ) -> (Buckets, Vec<String>) {
        let old: HashMap<String, Arc<BucketMeta>> = previous
            .and_then(|p| p.cache.read().ok().map(|c| c.clone()))
            .unwrap_or_default();
        let mut names = list.clone();
        if !forget_back {
            names.extend(old.keys().cloned());
        }
        names.sort();
        names.dedup();
        let mut cache = HashMap::new();
        let mut errors = Vec::new();
        for name in names {
            match read_meta(storage.as_ref(), &meta_groups, &name) {
                Ok(m) => {
                    cache.insert(name, Arc::new(m));
                }
                // A back bucket that was removed is simply forgotten.
                Err(BucketError::Unknown(_)) if !list.contains(&name) => {}
                Err(e) => {
                    match old.get(&name) {
                        Some(m) => {
                            errors.push(format!("{e}; keeping its previous metadata"));
                            cache.insert(name, m.clone());
                        }
                        None => errors.push(e.to_string()),
                    };
                }
            }
        }
        let b = Buckets {
            storage,
            meta_groups,
            list: RwLock::new(list),
            cache: RwLock::new(cache),
        };
        (b, errors)
    }

    /// The names in the bucket list, in list order.
    pub fn list(&self) -> Vec<String> {
        self.list.read().map(|l| l.clone()).unwrap_or_default()
    }

    fn insert(&self, m: BucketMeta) -> Arc<BucketMeta> {
        let m = Arc::new(m);
        if let Ok(mut c) = self.cache.write() {
            c.insert(m.name.clone(), m.clone());
        }
        m
    }

    /// The bucket called `name` if its metadata is loaded. Never blocks on storage.
    pub fn cached(&self, name: &str) -> Option<Arc<BucketMeta>> {
        self.cache.read().ok().and_then(|c| c.get(name).cloned())
    }

    /// The bucket called `name`, from the cache or the metadata groups.
    pub fn get(&self, name: &str) -> Result<Arc<BucketMeta>, BucketError> {
        if let Some(m) = self.cached(name) {
            return Ok(m);
        }
        let m = read_meta(self.storage.as_ref(), &self.meta_groups, name)?;
        Ok(self.insert(m))
    }

    /// The listed buckets whose metadata is loaded, in list order.
    pub fn listed(&self) -> Vec<Arc<BucketMeta>> {
        let list = self.list.read().map(|l| l.clone()).unwrap_or_default();
        let cache = match self.cache.read() {
            Ok(c) => c,
            Err(_) => return Vec::new(),
        };
        list.iter().filter_map(|n| cache.get(n).cloned()).collect()
    }

    /// Every loaded bucket, sorted by name.
    pub fn all(&self) -> Vec<Arc<BucketMeta>> {
        let mut v: Vec<_> = self
            .cache
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a: &Arc<BucketMeta>, b| a.name.cmp(&b.name));
        v
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
        let (first, errs) =
            Buckets::reload(storage.clone(), vec![1], vec!["listed".into()], None, true);
        assert!(errs.is_empty(), "{errs:?}");
        first.get("back").unwrap();
        // Metadata groups that hold nothing: every read fails.
        let (b, errs) = Buckets::reload(
            storage.clone(),
            vec![2],
            vec!["listed".into()],
            Some(&first),
            false,
        );
        assert_eq!(b.listed().len(), 1, "listed bucket kept");
        assert_eq!(b.all().len(), 2, "back bucket kept on a read error");
        assert_eq!(errs.len(), 2, "{errs:?}");
        let (b, errs) = Buckets::reload(storage, vec![1], vec!["listed".into()], Some(&b), true);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(b.all().len(), 1, "back bucket forgotten");
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
