//! Per-key publish locks. A write's object commit, its name index entry
//! and (for S3) its metadata sidecar are three stores; two writes of one
//! key interleaving between them left the object of one write described
//! by the other's entry or sidecar. Within this process, the three happen
//! under the key's lock, from the commit until the caller drops the
//! [`Publishing`] guard, so the last write to commit is the one all three
//! describe. Bodies stream outside the lock: only the publish waits.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OwnedMutexGuard;

use crate::storage::{GroupResult, ReplicaInfo};

type Locks = Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;

/// The publish locks of one process, by (namespace, key).
#[derive(Default)]
pub struct PublishLocks {
    locks: Arc<Locks>,
}

/// Held while one write publishes; dropping it lets the next one in.
pub struct Publishing {
    guard: Option<OwnedMutexGuard<()>>,
    locks: Arc<Locks>,
    name: (String, String),
}

impl PublishLocks {
    /// Waits for `key` of `namespace` to be free and holds it.
    pub async fn lock(&self, namespace: &str, key: &str) -> Publishing {
        let name = (namespace.to_string(), key.to_string());
        let lock = self.locks.lock().entry(name.clone()).or_default().clone();
        Publishing {
            guard: Some(lock.lock_owned().await),
            locks: self.locks.clone(),
            name,
        }
    }

    /// Keys locked or waited for now.
    pub fn len(&self) -> usize {
        self.locks.lock().len()
    }

    /// Whether no key is locked or waited for.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock();
        // Only the map holds it: nobody waits, the entry can go.
        if locks
            .get(&self.name)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.name);
        }
    }
}

/// A committed write: every group's result, and the key's publish lock,
/// held until this is dropped so that what the caller stores about the
/// write next (S3's metadata sidecar) describes this write and no other.
pub struct Written {
    /// Per-group results, in the bucket's group order.
    pub results: Vec<GroupResult<ReplicaInfo>>,
    /// Held for the caller's publish steps.
    pub publishing: Publishing,
}

impl std::ops::Deref for Written {
    type Target = Vec<GroupResult<ReplicaInfo>>;
    fn deref(&self) -> &Self::Target {
        &self.results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn one_key_at_a_time_and_entries_go() {
        let locks = PublishLocks::default();
        let a = locks.lock("b", "k").await;
        let other = locks.lock("b", "other").await;
        assert_eq!(locks.len(), 2);
        let wait = std::time::Duration::from_millis(50);
        let blocked = actix_web::rt::time::timeout(wait, locks.lock("b", "k")).await;
        assert!(blocked.is_err(), "a second writer of b/k got in");
        drop(a);
        let again = actix_web::rt::time::timeout(wait, locks.lock("b", "k")).await;
        assert!(again.is_ok(), "b/k still locked after its writer left");
        drop((again, other));
        assert!(locks.is_empty());
    }
}
