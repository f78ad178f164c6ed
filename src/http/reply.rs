//! JSON shapes of upload and lookup replies (SPEC.md, Routes).

use serde::Serialize;

use crate::encoding::hex;
use crate::stats::format_time;
use crate::storage::{GroupId, GroupResult, ReplicaInfo, StorageError};

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
    /// Modification time as Go's `time.Time.String()` writes it, in UTC.
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
            mtime: go_time_string(r.mtime),
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

/// A time as Go's `time.Time.String()` writes it in UTC:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction without trailing
/// zeros, none when whole), which Backrunner sends as a replica's `mtime`.
pub fn go_time_string(t: std::time::SystemTime) -> String {
    // format_time: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
    let rfc = format_time(t);
    let (date, rest) = rfc.split_once('T').unwrap_or((&rfc, ""));
    let rest = rest.trim_end_matches('Z');
    let (clock, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{date} {clock} +0000 UTC")
    } else {
        format!("{date} {clock}.{frac} +0000 UTC")
    }
}

/// The error to answer when no group succeeded.
pub fn first_errors(results: &[GroupResult<ReplicaInfo>]) -> impl Iterator<Item = &StorageError> {
    results.iter().filter_map(|r| r.result.as_ref().err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn go_time_strings() {
        let t = UNIX_EPOCH + Duration::new(1_764_587_488, 123_450_000);
        assert_eq!(go_time_string(t), "2025-12-01 11:11:28.12345 +0000 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_764_587_488);
        assert_eq!(go_time_string(t), "2025-12-01 11:11:28 +0000 UTC");
    }

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
