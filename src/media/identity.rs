//! What a title's index was made from: the object's ETag and size, the
//! key under which the index is used (in memory and in the cluster) only
//! for that object.

use crate::storage::ReplicaInfo;

/// What an index was parsed from: the object's ETag and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// [`ReplicaInfo::etag`] of the replica read.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Identity {
    /// The identity of `info`.
    pub fn of(info: &ReplicaInfo) -> Identity {
        Identity {
            etag: info.etag(),
            size: info.size,
        }
    }
}
