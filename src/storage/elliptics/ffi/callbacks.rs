//! The shim's callbacks: every reply is copied out before they return, and
//! no panic unwinds into C++.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::SystemTime;

use elliptics_sys as sys;

use super::replies::{BackendStatus, Entry, FileInfo, Replies, Route};
use crate::storage::StorageError;

pub(super) fn empty_error() -> sys::ell_error {
    sys::ell_error {
        code: 0,
        message: [0; 512],
    }
}

pub(super) fn to_error(e: &sys::ell_error, rc: i32) -> StorageError {
    // SAFETY: the shim always NUL-terminates `message` (snprintf; zeroed otherwise).
    let msg = unsafe { CStr::from_ptr(e.message.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let code = if e.code != 0 { e.code } else { rc };
    StorageError::new(
        if code == 0 { libc::EIO } else { code },
        if msg.is_empty() {
            format!("elliptics error {code}")
        } else {
            msg
        },
    )
}

/// Copies a C string the shim passed (may be NULL).
///
/// # Safety
/// `p` must be NULL or a valid NUL-terminated string.
unsafe fn string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// A timestamp from the server, clamped as every stored time is.
fn time(sec: u64, nsec: u64) -> SystemTime {
    crate::storage::stored_time(sec, nsec)
}

/// Copies one reply out of the shim.
///
/// # Safety
/// `e` and the pointers in it must be valid for the call.
unsafe fn copy_entry(e: &sys::ell_entry) -> Entry {
    let info = (e.has_info != 0).then(|| FileInfo {
        path: string(e.path),
        offset: e.offset,
        size: e.size,
        mtime: time(e.mtime_sec, e.mtime_nsec),
        csum: e.csum.to_vec(),
    });
    Entry {
        status: e.status,
        message: string(e.message),
        group: e.group as u32,
        backend: e.backend,
        address: string(e.address),
        id: e.id,
        key_index: usize::try_from(e.key_index).ok(),
        info,
        data: if e.data.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(e.data, e.data_len).to_vec()
        },
        total_size: e.total_size,
        mtime: time(e.mtime_sec, e.mtime_nsec),
    }
}

/// Collects one reply into the `Vec<Entry>` behind `priv_`.
pub unsafe extern "C" fn entry_cb(priv_: *mut c_void, e: *const sys::ell_entry) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `priv_` is the `Vec<Entry>` passed by `Session::entries`;
        // `e` and the pointers in it are valid for this call only.
        let out = &mut *(priv_ as *mut Vec<Entry>);
        out.push(copy_entry(&*e));
    }));
}

/// The state of a started command, owned by the shim's callbacks from
/// [`Session::read_started`] until `done_cb` takes it back.
pub(super) struct Started {
    pub(super) entries: Vec<Entry>,
    pub(super) tx: tokio::sync::oneshot::Sender<Replies>,
}

/// Collects one reply of a started command.
pub(super) unsafe extern "C" fn started_entry_cb(priv_: *mut c_void, e: *const sys::ell_entry) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `priv_` is the `Started` leaked by `read_started`, not yet
        // taken back (the shim calls `done_cb` last and never concurrently).
        let state = &mut *(priv_ as *mut Started);
        state.entries.push(copy_entry(&*e));
    }));
}

/// Ends a started command: hands its replies to the waiting future.
pub(super) unsafe extern "C" fn started_done_cb(
    priv_: *mut c_void,
    code: i32,
    message: *const c_char,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `started_entry_cb`; this is the one call that takes
        // the state back, so it is freed once.
        let state = Box::from_raw(priv_ as *mut Started);
        let outcome = if code == 0 {
            Ok(())
        } else {
            let msg = string(message);
            Err(StorageError::new(
                code,
                if msg.is_empty() {
                    format!("elliptics error {code}")
                } else {
                    msg
                },
            ))
        };
        // A request that went away meanwhile drops the replies.
        let _ = state.tx.send((state.entries, outcome));
    }));
}

pub(super) unsafe extern "C" fn backend_cb(priv_: *mut c_void, s: *const sys::ell_backend_status) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `entry_cb`.
        let out = &mut *(priv_ as *mut Vec<BackendStatus>);
        let s = &*s;
        out.push(BackendStatus {
            address: string(s.address),
            backend: s.backend,
            state: s.state,
            defrag_state: s.defrag_state,
            last_start_err: s.last_start_err,
            read_only: s.read_only != 0,
            delay_ms: s.delay_ms,
        });
    }));
}

pub(super) unsafe extern "C" fn route_cb(priv_: *mut c_void, r: *const sys::ell_route) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `entry_cb`.
        let out = &mut *(priv_ as *mut Vec<Route>);
        let r = &*r;
        out.push(Route {
            address: string(r.address),
            group: r.group as u32,
            backend: r.backend,
            id: r.id,
        });
    }));
}

pub(super) unsafe extern "C" fn stat_cb(
    priv_: *mut c_void,
    addr: *const c_char,
    json: *const c_char,
    len: usize,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `entry_cb`; `json` holds `len` bytes.
        let out = &mut *(priv_ as *mut Vec<(String, Vec<u8>)>);
        let data = if json.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(json as *const u8, len).to_vec()
        };
        out.push((string(addr), data));
    }));
}
