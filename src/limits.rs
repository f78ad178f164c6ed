//! Limits a request is held to before any of its body is read: an upload's
//! declared size against the proxy's, the bucket's and the groups' limits
//! (docs/security.md, "Limits").

use crate::bucket::BucketMeta;
use crate::cluster::ClusterStats;
use crate::storage::GroupId;

/// Why an upload is refused before its body is read (413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TooLarge(pub String);

/// The largest object any backend of `group` can hold (its size limit, or
/// its file system's size), from the cached statistics; `None` when the
/// statistics do not know the group.
pub fn group_capacity(stats: &ClusterStats, group: GroupId) -> Option<u64> {
    stats
        .backends
        .iter()
        .filter(|b| b.group == group && b.total > 0)
        .map(|b| b.total)
        .max()
}

/// Checks an upload of `size` bytes at `offset` into `bucket`: the object's
/// end (offset + size) must not overflow, must not pass `max_object_size`
/// (`proxy.max-object-size`) nor the bucket's `max-size` (when set), and
/// must fit at least one of the bucket's groups whose capacity is known.
/// Answers the end.
pub fn check_upload(
    bucket: &BucketMeta,
    offset: u64,
    size: u64,
    max_object_size: u64,
    capacity: impl Fn(GroupId) -> Option<u64>,
) -> Result<u64, TooLarge> {
    let end = offset.checked_add(size).ok_or_else(|| {
        TooLarge(format!(
            "offset {offset} + Content-Length {size} is past any object size"
        ))
    })?;
    if end > max_object_size {
        return Err(TooLarge(format!(
            "object of {end} bytes is larger than proxy.max-object-size ({max_object_size})"
        )));
    }
    if bucket.max_size > 0 && end > bucket.max_size {
        return Err(TooLarge(format!(
            "object of {end} bytes is larger than bucket {}'s max-size ({})",
            bucket.name, bucket.max_size
        )));
    }
    let known: Vec<(GroupId, u64)> = bucket
        .groups
        .iter()
        .filter_map(|&g| capacity(g).map(|c| (g, c)))
        .collect();
    if known.len() == bucket.groups.len() && known.iter().all(|&(_, c)| end > c) {
        let largest = known.iter().map(|&(_, c)| c).max().unwrap_or(0);
        return Err(TooLarge(format!(
            "object of {end} bytes fits none of bucket {}'s groups {:?} (largest holds {largest})",
            bucket.name, bucket.groups
        )));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(max_size: u64) -> BucketMeta {
        BucketMeta {
            name: "b".into(),
            groups: vec![1, 2],
            max_size,
            ..Default::default()
        }
    }

    #[test]
    fn declared_sizes() {
        let none = |_| None;
        assert_eq!(check_upload(&bucket(0), 0, 10, 100, none), Ok(10));
        assert_eq!(check_upload(&bucket(0), 90, 10, 100, none), Ok(100));
        let e = check_upload(&bucket(0), 0, u64::MAX, 100, none).unwrap_err();
        assert!(e.0.contains("proxy.max-object-size"), "{e}");
        let e = check_upload(&bucket(0), 1, u64::MAX, u64::MAX, none).unwrap_err();
        assert!(e.0.contains("past any object size"), "{e}");
        let e = check_upload(&bucket(50), 0, 51, 100, none).unwrap_err();
        assert!(e.0.contains("max-size (50)"), "{e}");
        assert_eq!(check_upload(&bucket(50), 0, 50, 100, none), Ok(50));
    }

    #[test]
    fn groups_must_be_able_to_hold_it() {
        let small = |g| Some(if g == 1 { 10 } else { 20 });
        assert_eq!(check_upload(&bucket(0), 0, 20, 100, small), Ok(20));
        let e = check_upload(&bucket(0), 0, 21, 100, small).unwrap_err();
        assert!(e.0.contains("largest holds 20"), "{e}");
        // A group without statistics may hold it: the store decides.
        let partial = |g| (g == 1).then_some(10);
        assert_eq!(check_upload(&bucket(0), 0, 21, 100, partial), Ok(21));
    }
}
