//! Per-group outcomes read as one: did every group fail, which succeeded,
//! and which error to report. The rule lives here and in
//! [`StorageError::pick`], nowhere else.

use super::{GroupId, GroupResult, StorageError};

/// What an operation did in every group of its context, read as a whole.
/// Implemented for `[GroupResult<T>]`, so the store's `Vec`s have it.
pub trait Replicas<T> {
    /// Whether no group succeeded (also when there were none).
    fn all_failed(&self) -> bool;

    /// The groups that succeeded, with their values.
    fn successes<'a>(&'a self) -> impl Iterator<Item = (GroupId, &'a T)>
    where
        T: 'a;

    /// The groups that failed, with their errors.
    fn failures(&self) -> impl Iterator<Item = (GroupId, &StorageError)>;

    /// The first group that failed, if any did.
    fn first_error(&self) -> Option<(GroupId, &StorageError)> {
        self.failures().next()
    }

    /// The error to report for the whole operation ([`StorageError::pick`]).
    fn error(&self) -> StorageError {
        StorageError::pick(self.failures().map(|(_, e)| e))
    }

    /// `Ok` when some group succeeded, else the error to report: reads,
    /// lookups, removes and uploads succeed when one replica does.
    fn any_ok(&self) -> Result<(), StorageError> {
        if self.all_failed() {
            Err(self.error())
        } else {
            Ok(())
        }
    }

    /// `Ok` when every group succeeded, else the first failure, with its
    /// group named: metadata writes must reach every metadata group.
    fn all_ok(&self) -> Result<(), StorageError> {
        match self.first_error() {
            Some((g, e)) => Err(StorageError::new(
                e.errno,
                format!("group {g}: {}", e.message),
            )),
            None => Ok(()),
        }
    }
}

impl<T> Replicas<T> for [GroupResult<T>] {
    fn all_failed(&self) -> bool {
        self.iter().all(|r| r.result.is_err())
    }

    fn successes<'a>(&'a self) -> impl Iterator<Item = (GroupId, &'a T)>
    where
        T: 'a,
    {
        self.iter()
            .filter_map(|r| r.result.as_ref().ok().map(|v| (r.group, v)))
    }

    fn failures(&self) -> impl Iterator<Item = (GroupId, &StorageError)> {
        self.iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (r.group, e)))
    }
}

impl<T> GroupResult<T> {
    /// The same error for every group of `groups` (the operation failed
    /// before it reached any).
    pub fn fail_all(groups: &[GroupId], e: &StorageError) -> Vec<GroupResult<T>> {
        groups
            .iter()
            .map(|&group| GroupResult {
                group,
                result: Err(e.clone()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(group: GroupId, errno: Option<i32>) -> GroupResult<u32> {
        GroupResult {
            group,
            result: match errno {
                None => Ok(group),
                Some(e) => Err(StorageError::new(e, format!("g{group}"))),
            },
        }
    }

    #[test]
    fn not_found_wins_over_the_first_error() {
        let v = [r(1, Some(libc::EIO)), r(2, Some(libc::ENOENT))];
        assert!(v.all_failed());
        assert_eq!(v.error().errno, -libc::ENOENT);
        assert_eq!(v.first_error().unwrap().0, 1);
        let v = [r(1, Some(libc::ETIMEDOUT)), r(2, Some(libc::EIO))];
        assert_eq!(v.any_ok().unwrap_err().errno, -libc::ETIMEDOUT);
    }

    #[test]
    fn one_success_is_enough_for_any_ok_but_not_all_ok() {
        let v = [r(1, Some(libc::EIO)), r(2, None)];
        assert!(!v.all_failed());
        assert!(v.any_ok().is_ok());
        assert_eq!(v.successes().collect::<Vec<_>>(), [(2, &2)]);
        let e = v.all_ok().unwrap_err();
        assert!(e.message.starts_with("group 1: "), "{e}");
    }

    #[test]
    fn no_group_at_all_is_a_failure() {
        let v: Vec<GroupResult<u32>> = Vec::new();
        assert!(v.all_failed());
        assert_eq!(v.error().errno, -libc::ENXIO);
        let f: Vec<GroupResult<u32>> = GroupResult::fail_all(&[3, 4], &StorageError::invalid("x"));
        assert_eq!(f.error().errno, -libc::EINVAL);
        assert_eq!(f.len(), 2);
    }
}
