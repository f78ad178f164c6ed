//! The embedded store's state: its root and open groups, object ids and
//! the object file helpers tools and tests use.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::RwLock;

use openssl::sha::{sha512, Sha512};

use super::group::Group;
use super::header::Header;
use crate::config::LocalConfig;
use crate::encoding::hex;
use crate::storage::{Context, GroupId, GroupResult, Storage, StorageError};

/// The object id: SHA-512 over the namespace's length, the namespace and the key.
pub fn object_id(namespace: &str, key: &str) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(&(namespace.len() as u32).to_le_bytes());
    h.update(namespace.as_bytes());
    h.update(key.as_bytes());
    h.finish()
}

/// The embedded store.
#[derive(Debug)]
pub struct LocalStore {
    pub(super) root: PathBuf,
    pub(super) groups: RwLock<BTreeMap<GroupId, Arc<Group>>>,
}

impl LocalStore {
    /// Opens (creating as needed) the store described by `cfg`.
    pub fn open(cfg: &LocalConfig) -> Result<LocalStore, StorageError> {
        fs::create_dir_all(&cfg.path)
            .map_err(|e| StorageError::io(format!("local store {}", cfg.path.display()), &e))?;
        let store = LocalStore {
            root: cfg.path.clone(),
            groups: RwLock::new(BTreeMap::new()),
        };
        store.reconfigure(Some(cfg))?;
        Ok(store)
    }

    pub(super) fn group(&self, id: GroupId) -> Result<Arc<Group>, StorageError> {
        self.groups
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| StorageError::new(libc::ENXIO, format!("group {id}: no such group")))
    }

    pub(super) fn per_group<T>(
        &self,
        ctx: &Context,
        mut f: impl FnMut(&Group) -> Result<T, StorageError>,
    ) -> Vec<GroupResult<T>> {
        ctx.groups
            .iter()
            .map(|&g| GroupResult {
                group: g,
                result: self.group(g).and_then(|grp| f(&grp)),
            })
            .collect()
    }

    pub(super) fn remove_one(&self, g: &Group, id: &[u8; 64]) -> Result<(), StorageError> {
        g.delay();
        if g.switches().read_only {
            return Err(StorageError::new(
                libc::EROFS,
                format!("group {}: read-only", g.id),
            ));
        }
        let path = g.path_of(id);
        let _space = g.space();
        let usage = g.usage.lock().map_err(|e| g.io_err("lock usage", &e))?;
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::not_found(format!(
                    "group {}: no such object",
                    g.id
                )))
            }
            Err(e) => return Err(g.io_err("stat", &e)),
        };
        fs::remove_file(&path).map_err(|e| g.io_err("remove", &e))?;
        usage
            .remove(len)
            .map_err(|e| g.io_err("account the removal", &e))?;
        g.removed_records.fetch_add(1, Ordering::Relaxed);
        g.removed_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

/// A store in `dir` with groups of (id, size limit, read-only), for the
/// unit tests of this store and of the layers above.
#[cfg(test)]
pub fn test_store(dir: &Path, groups: &[(u32, u64, bool)]) -> LocalStore {
    LocalStore::open(&LocalConfig {
        path: dir.to_path_buf(),
        groups: groups
            .iter()
            .map(
                |&(group, size_limit, read_only)| crate::config::LocalGroupConfig {
                    group,
                    size_limit,
                    read_only,
                    delay_ms: 0,
                },
            )
            .collect(),
    })
    .unwrap()
}

/// The file holding `key` of `namespace` in `group` of the store at `root`;
/// for tests and tools.
pub fn object_path(root: &Path, group: GroupId, namespace: &str, key: &str) -> PathBuf {
    let h = hex(&object_id(namespace, key));
    root.join(format!("group-{group}"))
        .join("data")
        .join(&h[..2])
        .join(h)
}

/// Reads a whole object file as the local store laid it out; for tests and tools.
pub fn read_object_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let h = Header::read(&f)?;
    f.seek(SeekFrom::Start(h.data_offset()))?;
    let mut out = Vec::new();
    f.take(h.size).read_to_end(&mut out)?;
    Ok(out)
}

/// The SHA-512 checksum the local store records for `data`.
pub fn checksum(data: &[u8]) -> [u8; 64] {
    sha512(data)
}
