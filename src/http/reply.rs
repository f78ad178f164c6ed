//! JSON shapes of upload and lookup replies (SPEC.md, Routes).

use serde::Serialize;

use crate::encoding::hex;
use crate::stats::go_time_string;
use crate::storage::{GroupId, GroupResult, ReplicaInfo, StorageError};

/// An Elliptics-style error object.
#[derive(Debug, Serialize)]
pub struct ErrorJson {
    /// Negative errno.
    pub code: i32,
    /// Cause.
    pub message: String,
}

/// One replica in `info`.
#[derive(Debug, Serialize)]
pub struct ReplicaJson {
    /// Group.
    pub group: GroupId,
    /// Backend id.
    pub backend: u32,
    /// Object id (hex).
    pub id: String,
    /// Checksum (hex).
    pub csum: String,
    /// Data file.
    pub filename: String,
    /// Object size.
    pub size: u64,
    /// Where the object starts in `filename`.
    #[serde(rename = "offset-within-data-file")]
    pub offset: u64,
    /// Modification time, as Go's `time.Time.String()` writes it.
    pub mtime: String,
    /// Storage node address.
    pub server: String,
    /// `null`, or the error of this replica.
    pub error: Option<ErrorJson>,
}

/// The `reply` of an upload, and the whole reply of a lookup.
#[derive(Debug, Serialize)]
pub struct LookupJson {
    /// Replicas found or written.
    pub info: Vec<ReplicaJson>,
    /// Groups that succeeded.
    #[serde(rename = "success-groups")]
    pub success_groups: Vec<GroupId>,
    /// Groups that failed.
    #[serde(rename = "error-groups")]
    pub error_groups: Vec<GroupId>,
}

/// The reply of an upload.
#[derive(Debug, Serialize)]
pub struct UploadJson {
    /// Bucket written.
    pub bucket: String,
    /// Key written.
    pub key: String,
    /// Per-replica outcome.
    pub reply: LookupJson,
}

impl From<&ReplicaInfo> for ReplicaJson {
    fn from(r: &ReplicaInfo) -> Self {
        ReplicaJson {
            group: r.group,
            backend: r.backend,
            id: r.id.clone(),
            csum: hex(&r.csum),
            filename: r.filename.clone(),
            size: r.size,
            offset: r.offset,
            mtime: go_time_string(r.mtime, None),
            server: r.address.clone(),
            error: None,
        }
    }
}

impl LookupJson {
    /// Builds the reply from per-group results.
    pub fn new(results: &[GroupResult<ReplicaInfo>]) -> LookupJson {
        let mut out = LookupJson {
            info: Vec::new(),
            success_groups: Vec::new(),
            error_groups: Vec::new(),
        };
        for r in results {
            match &r.result {
                Ok(info) => {
                    out.info.push(info.into());
                    out.success_groups.push(r.group);
                }
                Err(_) => out.error_groups.push(r.group),
            }
        }
        out
    }
}

/// The error to answer when no group succeeded.
pub fn first_errors(results: &[GroupResult<ReplicaInfo>]) -> impl Iterator<Item = &StorageError> {
    results.iter().filter_map(|r| r.result.as_ref().err())
}
