//! JSON shapes of upload and lookup replies (SPEC.md, Routes).

use serde::Serialize;

use crate::encoding::hex;
use crate::storage::{GroupId, GroupResult, ReplicaInfo};
use crate::time::go_time_string;

/// The error of one replica, as Backrunner sends elliptics-go's `DnetError`
/// (no JSON tags, so Go's capitalised field names).
#[derive(Debug, Serialize)]
pub struct ErrorJson {
    /// Negative errno.
    #[serde(rename = "Code")]
    pub code: i32,
    /// Command flags of the failed reply (0: not known here).
    #[serde(rename = "Flags")]
    pub flags: u64,
    /// Cause.
    #[serde(rename = "Message")]
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
                // As Backrunner: a failed group is in `info` too, with
                // only its group and error set.
                Err(e) => {
                    out.info.push(ReplicaJson {
                        group: r.group,
                        backend: 0,
                        id: String::new(),
                        csum: String::new(),
                        filename: String::new(),
                        size: 0,
                        offset: 0,
                        mtime: String::new(),
                        server: String::new(),
                        error: Some(ErrorJson {
                            code: e.errno,
                            flags: 0,
                            message: e.message.clone(),
                        }),
                    });
                    out.error_groups.push(r.group);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    #[test]
    fn failed_groups_are_listed_in_info_with_go_error_fields() {
        let results = vec![GroupResult {
            group: 7,
            result: Err(StorageError::new(libc::ENXIO, "no route")),
        }];
        let v = serde_json::to_value(LookupJson::new(&results)).unwrap();
        assert_eq!(v["error-groups"], serde_json::json!([7]));
        let e = &v["info"][0]["error"];
        assert_eq!(v["info"][0]["group"], 7);
        assert_eq!(e["Code"], -libc::ENXIO);
        assert_eq!(e["Message"], "no route");
        assert_eq!(e["Flags"], 0);
    }
}
