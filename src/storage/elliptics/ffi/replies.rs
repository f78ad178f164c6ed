//! What commands answer, copied out of the shim's callbacks.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::storage::StorageError;

/// The replies of a started command (`Session::started`).
pub type Pending = Pin<Box<dyn Future<Output = Replies> + Send>>;

/// A command's replies and its own outcome, as the blocking calls answer them.
pub type Replies = (Vec<Entry>, Result<(), StorageError>);

/// File information carried by write and lookup replies.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub path: String,
    pub offset: u64,
    pub size: u64,
    pub mtime: SystemTime,
    pub csum: Vec<u8>,
}

/// One reply of a command, copied out of the callback.
#[derive(Debug, Clone)]
pub struct Entry {
    /// 0 or a negative errno.
    pub status: i32,
    pub message: String,
    pub group: u32,
    pub backend: u32,
    pub address: String,
    pub id: [u8; 64],
    /// For bulk remove: which key the reply is for.
    pub key_index: Option<usize>,
    pub info: Option<FileInfo>,
    pub data: Vec<u8>,
    pub total_size: u64,
    pub mtime: SystemTime,
}

impl Entry {
    /// The reply as a result.
    pub fn result(&self) -> Result<(), StorageError> {
        if self.status == 0 {
            Ok(())
        } else {
            Err(StorageError::new(
                self.status,
                if self.message.is_empty() {
                    format!("elliptics error {}", self.status)
                } else {
                    self.message.clone()
                },
            ))
        }
    }
}

/// One backend's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    pub address: String,
    pub backend: u32,
    pub state: i32,
    pub defrag_state: u32,
    pub last_start_err: i32,
    pub read_only: bool,
    pub delay_ms: u32,
}

/// One entry of the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub address: String,
    pub group: u32,
    pub backend: u32,
    pub id: [u8; 64],
}
