//! Safe handles over `elliptics-sys`: an owned node and per-request
//! sessions. Every result is copied out of the C callbacks before they
//! return, and no panic unwinds into C++.

mod callbacks;
mod replies;

use std::ffi::{c_char, c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use elliptics_sys as sys;

pub(super) use self::callbacks::entry_cb;
use self::callbacks::{
    backend_cb, empty_error, route_cb, started_done_cb, started_entry_cb, stat_cb, to_error,
    Started,
};
pub use self::replies::{BackendStatus, Entry, FileInfo, Pending, Replies, Route};
use crate::storage::StorageError;

/// Node parameters (`elliptics.node-config`, `log-file`, `log-level`).
#[derive(Debug, Clone, Default)]
pub struct NodeParams {
    pub io_thread_num: i32,
    pub nonblocking_io_thread_num: i32,
    pub net_thread_num: i32,
    pub wait_timeout: i64,
    pub check_timeout: i64,
    pub flags: u64,
    pub stall_count: i64,
    pub log_file: String,
    /// 0 debug, 1 notice, 2 info, 3 warning, 4 error.
    pub log_level: i32,
}

/// Session parameters for one request.
#[derive(Debug, Clone, Default)]
pub struct SessionParams {
    pub namespace: String,
    pub groups: Vec<i32>,
    pub ioflags: u32,
    pub cflags: u64,
    pub trace_id: u64,
    /// Seconds; 0 = the node's wait timeout.
    pub timeout: i64,
    /// Modification time writes store, (seconds, nanoseconds) since the
    /// epoch; `None`: the current time.
    pub timestamp: Option<(u64, u64)>,
}

/// Backend control operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendOp {
    Status,
    ReadOnly,
    Writable,
    Delay(u32),
    Defrag,
}

/// What a write command does with its chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A whole object (or a plain write at an offset).
    Data,
    /// Reserve `size_arg` bytes, write the chunk; the object stays hidden.
    Prepare,
    /// A chunk inside the reserved space.
    Plain,
    /// The last chunk; publish `size_arg` bytes.
    Commit,
}

/// An Elliptics client node: network threads and connections to the
/// storage nodes. Thread-safe; sessions are made from it per request.
pub struct Node {
    raw: NonNull<sys::ell_node>,
}

// SAFETY: the C++ node is internally synchronised; the handle is only freed in Drop.
unsafe impl Send for Node {}
// SAFETY: as above; every shim call on a node is thread-safe.
unsafe impl Sync for Node {}

impl Node {
    /// Creates a node (no connections yet).
    pub fn new(p: &NodeParams) -> Result<Node, StorageError> {
        let log = CString::new(p.log_file.as_str())
            .map_err(|_| StorageError::invalid("elliptics.log-file contains a NUL byte"))?;
        let cfg = sys::ell_node_config {
            io_thread_num: p.io_thread_num,
            nonblocking_io_thread_num: p.nonblocking_io_thread_num,
            net_thread_num: p.net_thread_num,
            wait_timeout: p.wait_timeout as _,
            check_timeout: p.check_timeout as _,
            flags: p.flags,
            stall_count: p.stall_count as _,
            log_file: log.as_ptr(),
            log_level: p.log_level,
        };
        let mut err = empty_error();
        // SAFETY: `cfg` and the strings it points to outlive the call.
        let raw = unsafe { sys::ell_node_new(&cfg, &mut err) };
        NonNull::new(raw)
            .map(|raw| Node { raw })
            .ok_or_else(|| to_error(&err, -libc::ENOMEM))
    }

    /// Connects to storage nodes `host:port:family`; succeeds if any answered.
    pub fn add_remotes(&self, remotes: &[String]) -> Result<(), StorageError> {
        let c: Vec<CString> = remotes
            .iter()
            .map(|r| CString::new(r.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|_| StorageError::invalid("elliptics.remote contains a NUL byte"))?;
        let ptrs: Vec<*const c_char> = c.iter().map(|s| s.as_ptr()).collect();
        let mut err = empty_error();
        // SAFETY: the pointer array and strings outlive the call.
        let rc = unsafe {
            sys::ell_node_add_remotes(self.raw.as_ptr(), ptrs.as_ptr(), ptrs.len(), &mut err)
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(to_error(&err, rc))
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: the handle came from ell_node_new and is freed once; sessions hold an Arc.
        unsafe { sys::ell_node_free(self.raw.as_ptr()) }
    }
}

/// A session: namespace, groups, flags, trace id and timeout for the
/// commands of one request. Keeps its node alive.
pub struct Session {
    raw: NonNull<sys::ell_session>,
    params: SessionParams,
    _node: Arc<Node>,
}

// SAFETY: a session is used by one thread at a time (no Sync); the C++
// session may move between threads.
unsafe impl Send for Session {}

impl Session {
    /// Creates a session on `node`.
    pub fn new(node: &Arc<Node>, params: SessionParams) -> Result<Session, StorageError> {
        let cfg = sys::ell_session_config {
            ns: params.namespace.as_ptr() as *const c_char,
            ns_len: params.namespace.len(),
            groups: params.groups.as_ptr(),
            groups_len: params.groups.len(),
            ioflags: params.ioflags,
            cflags: params.cflags,
            trace_id: params.trace_id,
            timeout: params.timeout as _,
            has_timestamp: params.timestamp.is_some() as _,
            timestamp_sec: params.timestamp.map_or(0, |t| t.0),
            timestamp_nsec: params.timestamp.map_or(0, |t| t.1),
        };
        let mut err = empty_error();
        // SAFETY: the node is alive (Arc); `cfg` points into `params` for the call.
        let raw = unsafe { sys::ell_session_new(node.raw.as_ptr(), &cfg, &mut err) };
        NonNull::new(raw)
            .map(|raw| Session {
                raw,
                params,
                _node: node.clone(),
            })
            .ok_or_else(|| to_error(&err, -libc::ENOMEM))
    }

    /// The parameters the session was made with.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// A session like this one with `change` made to its parameters.
    fn with(&self, change: impl FnOnce(&mut SessionParams)) -> Result<Session, StorageError> {
        let mut params = self.params.clone();
        change(&mut params);
        Session::new(&self._node, params)
    }

    /// A session like this one over other groups.
    pub fn with_groups(&self, groups: Vec<i32>) -> Result<Session, StorageError> {
        self.with(|p| p.groups = groups)
    }

    /// A session like this one whose commands wait `seconds` for replies.
    pub fn with_timeout(&self, seconds: i64) -> Result<Session, StorageError> {
        self.with(|p| p.timeout = seconds)
    }

    /// Runs one shim call that reports entries through [`entry_cb`].
    pub(super) fn entries(
        &self,
        call: impl FnOnce(*mut sys::ell_session, *mut c_void, *mut sys::ell_error) -> i32,
    ) -> Replies {
        let mut out: Vec<Entry> = Vec::new();
        let mut err = empty_error();
        let rc = call(
            self.raw.as_ptr(),
            &mut out as *mut Vec<Entry> as *mut c_void,
            &mut err,
        );
        let res = if rc == 0 {
            Ok(())
        } else {
            Err(to_error(&err, rc))
        };
        (out, res)
    }

    /// Writes `data` as `kind` at `remote_offset`; `size_arg` is the prepare
    /// or commit size. Answers every reply and the command's own error.
    pub fn write(
        &self,
        kind: WriteKind,
        key: &str,
        data: &[u8],
        remote_offset: u64,
        size_arg: u64,
    ) -> Replies {
        let kind = match kind {
            WriteKind::Data => sys::ELL_WRITE_DATA,
            WriteKind::Prepare => sys::ELL_WRITE_PREPARE,
            WriteKind::Plain => sys::ELL_WRITE_PLAIN,
            WriteKind::Commit => sys::ELL_WRITE_COMMIT,
        } as i32;
        self.entries(|s, p, e| {
            // SAFETY: key and data outlive the call; `p` is the entry vector.
            unsafe {
                sys::ell_write(
                    s,
                    kind,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    data.as_ptr() as *const c_void,
                    data.len(),
                    remote_offset,
                    size_arg,
                    Some(entry_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// Reads `size` bytes (0 = to the end) at `offset`, trying the groups in order.
    pub fn read(&self, key: &str, offset: u64, size: u64) -> Replies {
        self.entries(|s, p, e| {
            // SAFETY: as in `write`.
            unsafe {
                sys::ell_read(
                    s,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    offset,
                    size,
                    Some(entry_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// Runs one shim call that starts a command (`ell_*_start`): the
    /// future gets its replies from the client's thread once they are all
    /// in, so no thread parks on the command. The command keeps what it
    /// needs of the session: dropping either early is harmless.
    fn started(
        &self,
        call: impl FnOnce(*mut sys::ell_session, *mut c_void, *mut sys::ell_error) -> i32,
    ) -> Result<Pending, StorageError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let state = Box::into_raw(Box::new(Started {
            entries: Vec::new(),
            tx,
        }));
        let mut err = empty_error();
        // `state` belongs to the shim's callbacks once the call answers 0
        // (`started_done_cb` frees it).
        let rc = call(self.raw.as_ptr(), state as *mut c_void, &mut err);
        if rc != 0 {
            // SAFETY: not started: no callback has or will see `state`.
            drop(unsafe { Box::from_raw(state) });
            return Err(to_error(&err, rc));
        }
        Ok(Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                let lost = StorageError::new(libc::EIO, "the client dropped a command");
                (Vec::new(), Err(lost))
            })
        }))
    }

    /// [`Session::read`], started (see [`Session::started`]).
    pub fn read_started(&self, key: &str, offset: u64, size: u64) -> Result<Pending, StorageError> {
        self.started(|s, p, e| {
            // SAFETY: the key outlives the call; `p` is the started state.
            unsafe {
                sys::ell_read_start(
                    s,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    offset,
                    size,
                    Some(started_entry_cb),
                    Some(started_done_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// [`Session::lookup`], started (see [`Session::started`]).
    pub fn lookup_started(&self, key: &str) -> Result<Pending, StorageError> {
        self.started(|s, p, e| {
            // SAFETY: as in `read_started`.
            unsafe {
                sys::ell_lookup_start(
                    s,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    Some(started_entry_cb),
                    Some(started_done_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// Looks `key` up in every group at once.
    pub fn lookup(&self, key: &str) -> Replies {
        self.entries(|s, p, e| {
            // SAFETY: as in `write`.
            unsafe {
                sys::ell_lookup(
                    s,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    Some(entry_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// Removes `key` from every group.
    pub fn remove(&self, key: &str) -> Replies {
        self.entries(|s, p, e| {
            // SAFETY: as in `write`.
            unsafe {
                sys::ell_remove(
                    s,
                    key.as_ptr() as *const c_char,
                    key.len(),
                    Some(entry_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// Removes many keys in one command; each reply names its key's index.
    pub fn bulk_remove(&self, keys: &[String]) -> Replies {
        let ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr() as *const c_char).collect();
        let lens: Vec<usize> = keys.iter().map(|k| k.len()).collect();
        self.entries(|s, p, e| {
            // SAFETY: the arrays and keys outlive the call.
            unsafe {
                sys::ell_bulk_remove(
                    s,
                    ptrs.as_ptr(),
                    lens.as_ptr(),
                    keys.len(),
                    Some(entry_cb),
                    p,
                    e,
                )
            }
        })
    }

    /// Monitor statistics (`DNET_MONITOR_*` categories) of every node: (address, JSON).
    pub fn monitor_stat(&self, categories: u64) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut err = empty_error();
        // SAFETY: `out` outlives the call; the callback copies.
        let rc = unsafe {
            sys::ell_monitor_stat(
                self.raw.as_ptr(),
                categories,
                Some(stat_cb),
                &mut out as *mut _ as *mut c_void,
                &mut err,
            )
        };
        if rc != 0 && out.is_empty() {
            return Err(to_error(&err, rc));
        }
        Ok(out)
    }

    /// Backend status or control on the node at `address`.
    pub fn backend_control(
        &self,
        address: &str,
        backend: u32,
        op: BackendOp,
    ) -> Result<Vec<BackendStatus>, StorageError> {
        let (code, delay) = match op {
            BackendOp::Status => (sys::ELL_BACKEND_STATUS, 0),
            BackendOp::ReadOnly => (sys::ELL_BACKEND_READ_ONLY, 0),
            BackendOp::Writable => (sys::ELL_BACKEND_WRITABLE, 0),
            BackendOp::Delay(ms) => (sys::ELL_BACKEND_DELAY, ms),
            BackendOp::Defrag => (sys::ELL_BACKEND_DEFRAG, 0),
        };
        let addr = CString::new(address)
            .map_err(|_| StorageError::invalid("address contains a NUL byte"))?;
        let mut out: Vec<BackendStatus> = Vec::new();
        let mut err = empty_error();
        // SAFETY: `addr` and `out` outlive the call; the callback copies.
        let rc = unsafe {
            sys::ell_backend_control(
                self.raw.as_ptr(),
                addr.as_ptr(),
                backend,
                code as i32,
                delay,
                Some(backend_cb),
                &mut out as *mut _ as *mut c_void,
                &mut err,
            )
        };
        if rc != 0 {
            return Err(to_error(&err, rc));
        }
        Ok(out)
    }

    /// The client's route table.
    pub fn routes(&self) -> Result<Vec<Route>, StorageError> {
        let mut out: Vec<Route> = Vec::new();
        let mut err = empty_error();
        // SAFETY: `out` outlives the call; the callback copies.
        let rc = unsafe {
            sys::ell_routes(
                self.raw.as_ptr(),
                Some(route_cb),
                &mut out as *mut _ as *mut c_void,
                &mut err,
            )
        };
        if rc != 0 {
            return Err(to_error(&err, rc));
        }
        Ok(out)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the handle came from ell_session_new and is freed once.
        unsafe { sys::ell_session_free(self.raw.as_ptr()) }
    }
}
