//! Compare-and-swap on Elliptics: the client's `write_cas` (`Storage::write_if`).
//!
//! The server (3.0, `dnet_cas_local`) hashes the stored record with its
//! backend's checksum callback (eblob: SHA-512 of the record's bytes) and
//! refuses the write with `-EBADFD` unless that equals the checksum sent;
//! commands on one key are serialized by the node's request queue, so the
//! check and the write are one step. A key that is absent takes the write
//! whatever checksum was sent. [`Version::checksum`] of a version read by
//! `storage::cas::read_versioned` is that SHA-512 (computed by the client
//! from the bytes it read: 3.0 lookups answer all-zero checksums), and all
//! zeros for "absent", which refuses the write wherever a record exists.

use std::ffi::{c_char, c_void};

use elliptics_sys as sys;

use super::ffi::{entry_cb, Entry, Session};
use super::store::{per_group, replica, EllipticsStore};
use crate::storage::{Context, GroupResult, ReplicaInfo, StorageError, Version};

impl Session {
    /// Compare-and-swap write of the whole object (`data`) in every group
    /// whose record hashes to `old_csum`; the others answer `-EBADFD`.
    pub fn write_cas(
        &self,
        key: &str,
        data: &[u8],
        old_csum: &[u8; 64],
    ) -> (Vec<Entry>, Result<(), StorageError>) {
        self.entries(|s, p, e| {
            // SAFETY: key, data and old_csum (ELL_ID_SIZE bytes) outlive the
            // call; `p` is the entry vector `entry_cb` fills.
            unsafe {
                sys::ell_write_cas(
                    s,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    data.as_ptr() as *const c_void,
                    data.len(),
                    old_csum.as_ptr(),
                    Some(entry_cb),
                    p,
                    e,
                )
            }
        })
    }
}

/// [`crate::storage::Storage::write_if`] on Elliptics.
pub(super) fn write_if(
    store: &EllipticsStore,
    ctx: &Context,
    key: &str,
    data: &[u8],
    expected: &Version,
) -> Vec<GroupResult<ReplicaInfo>> {
    if data.is_empty() {
        // Elliptics refuses empty records, and an empty one would hash to zeros.
        return GroupResult::fail_all(
            &ctx.groups,
            &StorageError::invalid("compare-and-swap of an empty object"),
        );
    }
    match store.session(ctx) {
        Ok(s) => {
            let (entries, overall) = s.write_cas(key, data, &expected.checksum());
            per_group(&ctx.groups, &entries, &overall, replica)
        }
        Err(e) => GroupResult::fail_all(&ctx.groups, &e),
    }
}
