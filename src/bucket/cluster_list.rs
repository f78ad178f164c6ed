//! Adding and removing buckets in the bucket list held in the cluster
//! (`elliptics.bucket-list-key` in the metadata groups) and removing bucket
//! metadata: what S3 CreateBucket and DeleteBucket change, so the next
//! reload of every proxy (SIGHUP or `bucket-update-interval`) sees it.
//!
//! Both stay in the formats Backrunner and `bmeta` use (a plain text list,
//! plain MessagePack metadata), and both changes are compare-and-swap
//! ([`Storage::write_if`]) in the first metadata group, the *primary*:
//! two proxies editing the list at once never lose an edit (the loser
//! re-reads and retries), and of two creators of one name exactly one
//! wins. The other metadata groups then get plain copies.

use std::time::Duration;

use crate::config::Config;
use crate::storage::cas::{read_versioned, Version};
use crate::storage::{write_small, Context, GroupResult, ReplicaInfo, Storage, StorageError};

use super::{parse_bucket_list, BucketMeta, META_NAMESPACE};

/// Compare-and-swap attempts of one list edit before giving up.
const ATTEMPTS: u32 = 50;

/// Largest bucket list read back for an edit.
const LIST_LIMIT: u64 = 16 << 20;

/// What is written when the last bucket leaves the list: Elliptics refuses
/// empty writes, and a comment parses as no bucket.
const EMPTY_LIST: &str = "# bucket list (empty)\n";

/// `text` with `name` appended as a line, or `None` when it is listed already.
pub fn with_name(text: &str, name: &str) -> Option<String> {
    if parse_bucket_list(text).iter().any(|n| n == name) {
        return None;
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(name);
    out.push('\n');
    Some(out)
}

/// `text` without the lines naming `name` (comments kept), or `None` when it
/// is not listed.
pub fn without_name(text: &str, name: &str) -> Option<String> {
    if !parse_bucket_list(text).iter().any(|n| n == name) {
        return None;
    }
    let kept: Vec<&str> = text.lines().filter(|l| l.trim() != name).collect();
    let mut out = kept.join("\n");
    out.push('\n');
    if parse_bucket_list(&out).is_empty() && out.trim().is_empty() {
        out = EMPTY_LIST.to_string();
    }
    Some(out)
}

/// Why the cluster's bucket list cannot be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The config names no list key.
    #[error(
        "elliptics.bucket-list-key is not set: there is no bucket list in the cluster to add buckets to"
    )]
    NoListKey,
    /// The store failed on the list object.
    #[error("bucket list key {key:?}{what}: {source}")]
    Storage {
        key: String,
        /// `""`, or `" copy"` for the copies after the primary.
        what: &'static str,
        source: StorageError,
    },
    /// The list object holds bytes that are not text.
    #[error("bucket list key {0:?} is not UTF-8 text")]
    NotText(String),
    /// Other editors kept winning the compare-and-swap.
    #[error("bucket list key {0:?}: still changing after {ATTEMPTS} attempts")]
    Contended(String),
    /// The store failed on a bucket's metadata object.
    #[error("bucket {name} metadata: {source}")]
    Meta { name: String, source: StorageError },
}

fn storage_err<'a>(
    key: &'a str,
    what: &'static str,
) -> impl FnOnce(StorageError) -> ListError + 'a {
    move |source| ListError::Storage {
        key: key.to_string(),
        what,
        source,
    }
}

/// The key of the cluster's bucket list, or why buckets cannot be created.
fn list_key(config: &Config) -> Result<&str, ListError> {
    let key = config.elliptics.bucket_list_key.as_str();
    if key.is_empty() {
        return Err(ListError::NoListKey);
    }
    Ok(key)
}

/// Why a bucket cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// Another creator wrote metadata under that name first.
    #[error("bucket {0} was created meanwhile")]
    Exists(String),
    /// The store failed, or the list key is not set.
    #[error(transparent)]
    Failed(#[from] ListError),
}

fn first_error(results: Vec<GroupResult<ReplicaInfo>>) -> Option<StorageError> {
    results.into_iter().find_map(|r| r.result.err())
}

/// Writes `data` under `key` in the metadata groups: compare-and-swap
/// against `expected` in the primary (a conflict is answered as such),
/// then plain copies in the others.
fn write_primary_then_copies(
    storage: &dyn Storage,
    groups: &[u32],
    key: &str,
    data: &[u8],
    expected: &Version,
) -> Result<(), StorageError> {
    let (primary, rest) = groups
        .split_first()
        .ok_or_else(|| StorageError::new(libc::EINVAL, "no metadata groups"))?;
    let ctx = Context::new(META_NAMESPACE, vec![*primary]);
    if let Some(e) = first_error(storage.write_if(&ctx, key, data, expected)) {
        return Err(e);
    }
    if !rest.is_empty() {
        let ctx = Context::new(META_NAMESPACE, rest.to_vec());
        if let Some(e) = first_error(write_small(storage, &ctx, key, data)?) {
            return Err(e);
        }
    }
    Ok(())
}

/// Edits the list with `edit` (which answers `None` for "no change") by
/// compare-and-swap in the primary metadata group, retrying on conflicts.
/// A list object that does not exist yet starts as `seed`.
fn edit_list(
    storage: &dyn Storage,
    config: &Config,
    seed: &[String],
    edit: impl Fn(&str) -> Option<String>,
) -> Result<(), ListError> {
    let key = list_key(config)?;
    let groups = &config.elliptics.metadata_groups;
    let primary = Context::new(META_NAMESPACE, groups.iter().take(1).copied().collect());
    for attempt in 0..ATTEMPTS {
        let (text, version) = match read_versioned(storage, &primary, key, LIST_LIMIT)
            .map_err(storage_err(key, ""))?
        {
            Some((data, v)) => (
                String::from_utf8(data).map_err(|_| ListError::NotText(key.to_string()))?,
                v,
            ),
            None => (
                seed.iter().map(|n| format!("{n}\n")).collect(),
                Version::Absent,
            ),
        };
        // Unchanged: still write when the list does not exist yet, so the
        // cluster holds the seed.
        let next = match (edit(&text), &version) {
            (Some(next), _) => next,
            (None, Version::Absent) if !text.is_empty() => text,
            (None, _) => return Ok(()),
        };
        let primary_only = &groups[..groups.len().min(1)];
        match write_primary_then_copies(storage, primary_only, key, next.as_bytes(), &version) {
            Ok(()) => return copy_list(storage, groups, key, &primary, next),
            Err(e) if e.is_conflict() => {
                let ms = 1 + rand::random::<u64>() % (5 << attempt.min(4));
                std::thread::sleep(Duration::from_millis(ms));
            }
            Err(e) => return Err(storage_err(key, "")(e)),
        }
    }
    Err(ListError::Contended(key.to_string()))
}

/// Copies the list to the metadata groups after the primary: the
/// primary's latest text, again while the primary changes under the copy,
/// so concurrent editors that finish leave the copies equal to the primary
/// (each one's last copy is of the text it saw last, after its own edit).
fn copy_list(
    storage: &dyn Storage,
    groups: &[u32],
    key: &str,
    primary: &Context,
    mut text: String,
) -> Result<(), ListError> {
    let Some(rest) = groups.get(1..).filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let ctx = Context::new(META_NAMESPACE, rest.to_vec());
    for _ in 0..ATTEMPTS {
        let written =
            write_small(storage, &ctx, key, text.as_bytes()).map_err(storage_err(key, ""))?;
        if let Some(e) = first_error(written) {
            return Err(storage_err(key, " copy")(e));
        }
        match read_versioned(storage, primary, key, LIST_LIMIT) {
            Ok(Some((now, _))) if now != text.as_bytes() => {
                text = String::from_utf8(now).map_err(|_| ListError::NotText(key.to_string()))?;
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Checks that the cluster holds a bucket list (before anything is written).
pub fn check_list_key(config: &Config) -> Result<(), ListError> {
    list_key(config).map(|_| ())
}

/// Writes `meta` into the metadata groups, if no bucket of that name exists
/// (compare-and-swap against "absent" in the primary group), and adds its
/// name to the cluster's bucket list. Blocking.
pub fn create(
    storage: &dyn Storage,
    config: &Config,
    meta: &BucketMeta,
    seed: &[String],
) -> Result<(), CreateError> {
    list_key(config)?;
    let groups = &config.elliptics.metadata_groups;
    match write_primary_then_copies(
        storage,
        groups,
        &meta.name,
        &meta.to_msgpack(),
        &Version::Absent,
    ) {
        Ok(()) => {}
        Err(e) if e.is_conflict() => return Err(CreateError::Exists(meta.name.clone())),
        Err(source) => {
            return Err(ListError::Meta {
                name: meta.name.clone(),
                source,
            }
            .into())
        }
    }
    Ok(edit_list(storage, config, seed, |text| {
        with_name(text, &meta.name)
    })?)
}

/// Removes `name` from the cluster's bucket list, then its metadata from
/// every metadata group (a group that has none is fine). Blocking.
pub fn delete(
    storage: &dyn Storage,
    config: &Config,
    name: &str,
    seed: &[String],
) -> Result<(), ListError> {
    edit_list(storage, config, seed, |text| without_name(text, name))?;
    let ctx = Context::new(META_NAMESPACE, config.elliptics.metadata_groups.clone());
    let failed: Vec<StorageError> = storage
        .remove(&ctx, name)
        .into_iter()
        .filter_map(|r| r.result.err())
        .filter(|e| !e.is_not_found())
        .collect();
    match failed.first() {
        Some(e) => Err(ListError::Meta {
            name: name.to_string(),
            source: e.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_edits_keep_comments() {
        assert_eq!(with_name("a\n# c\nb", "n").unwrap(), "a\n# c\nb\nn\n");
        assert_eq!(with_name("", "n").unwrap(), "n\n");
        assert!(with_name("a\n n \n", "n").is_none());
        assert_eq!(
            without_name("a\n# c\n n \nb\n", "n").unwrap(),
            "a\n# c\nb\n"
        );
        assert!(without_name("a\n# n\n", "n").is_none());
        let empty = without_name("n\n", "n").unwrap();
        assert!(parse_bucket_list(&empty).is_empty() && !empty.is_empty());
    }

    fn store() -> (tempfile::TempDir, std::sync::Arc<dyn Storage>, Config) {
        let dir = tempfile::tempdir().unwrap();
        let local = crate::config::LocalConfig {
            path: dir.path().to_path_buf(),
            groups: [1, 2]
                .into_iter()
                .map(|g| crate::config::LocalGroupConfig {
                    group: g,
                    ..Default::default()
                })
                .collect(),
        };
        let storage: std::sync::Arc<dyn Storage> =
            std::sync::Arc::new(crate::storage::local::LocalStore::open(&local).unwrap());
        let mut config = Config::default();
        config.elliptics.metadata_groups = vec![1, 2];
        config.elliptics.bucket_list_key = "bucket-list".into();
        (dir, storage, config)
    }

    fn listed(storage: &dyn Storage, config: &Config) -> Vec<String> {
        let mut lists = config.elliptics.metadata_groups.iter().map(|g| {
            let ctx = Context::new(META_NAMESPACE, vec![*g]);
            let data = crate::storage::read_small(storage, &ctx, "bucket-list", LIST_LIMIT);
            parse_bucket_list(&String::from_utf8(data.unwrap()).unwrap())
        });
        let first = lists.next().unwrap();
        assert!(
            lists.all(|l| l == first),
            "every metadata group has the list"
        );
        first
    }

    #[test]
    fn concurrent_creators_lose_no_name_and_one_name_has_one_creator() {
        let (_dir, storage, config) = store();
        let meta = |name: &str, user: &str| {
            let mut m = BucketMeta {
                version: 1,
                name: name.into(),
                groups: vec![1],
                ..Default::default()
            };
            m.grant(user, "t", 6);
            m
        };
        let seed = vec!["old".to_string()];
        std::thread::scope(|s| {
            for i in 0..8 {
                let (storage, config, seed) = (storage.clone(), &config, &seed);
                s.spawn(move || {
                    create(storage.as_ref(), config, &meta(&format!("b{i}"), "u"), seed).unwrap()
                });
            }
        });
        let mut names = listed(storage.as_ref(), &config);
        names.sort();
        assert_eq!(
            names,
            ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "old"]
        );
        // Eight creators of one name: exactly one wins, its metadata stays.
        let wins: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (storage, config, seed) = (storage.clone(), &config, &seed);
                    s.spawn(move || {
                        let m = meta("same", &format!("u{i}"));
                        match create(storage.as_ref(), config, &m, seed) {
                            Ok(()) => true,
                            Err(CreateError::Exists(_)) => false,
                            Err(e) => panic!("{e}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
        let winner = format!("u{}", wins.iter().position(|w| *w).unwrap());
        for g in [1, 2] {
            let m = crate::bucket::read_meta(storage.as_ref(), &[g], "same").unwrap();
            assert!(m.acl.contains_key(&winner), "group {g}: {:?}", m.acl);
        }
        // Delete: out of the list, metadata gone from every group, and the
        // name can be created again.
        delete(storage.as_ref(), &config, "b3", &seed).unwrap();
        assert!(!listed(storage.as_ref(), &config).contains(&"b3".to_string()));
        assert!(matches!(
            crate::bucket::read_meta(storage.as_ref(), &[1, 2], "b3"),
            Err(crate::bucket::BucketError::Unknown(_))
        ));
        create(storage.as_ref(), &config, &meta("b3", "u"), &seed).unwrap();
    }
}
