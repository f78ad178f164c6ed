//! The storage layer's error: an Elliptics-style negative errno and a message.

use std::fmt;

/// How the HTTP layer should treat a storage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The object (or a replica) does not exist.
    NotFound,
    /// The request itself was wrong.
    InvalidArgument,
    /// Permission denied by the store.
    Forbidden,
    /// The store cannot serve now: I/O, no route, timeout, no space, read-only.
    Unavailable,
}

/// An error from a storage backend, carrying a negative errno like Elliptics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// Negative errno (`-ENOENT`, `-EIO`, ...).
    pub errno: i32,
    /// Human readable cause.
    pub message: String,
}

impl StorageError {
    /// Creates an error from a libc errno constant (`libc::EIO`); the sign
    /// does not matter: the error always holds it negative, as Elliptics
    /// reports it. Callers pass the positive constant.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        StorageError {
            errno: -errno.abs(),
            message: message.into(),
        }
    }

    /// `-ENOENT`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(libc::ENOENT, message)
    }

    /// `-EINVAL`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(libc::EINVAL, message)
    }

    /// An I/O error, keeping its errno when it has one.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Self {
        Self::new(
            err.raw_os_error().unwrap_or(libc::EIO),
            format!("{context}: {err}"),
        )
    }

    /// Whether this error means the key is absent.
    pub fn is_not_found(&self) -> bool {
        self.class() == ErrorClass::NotFound
    }

    /// Whether a compare-and-swap write found another version (`-EBADFD`,
    /// as the Elliptics server answers it).
    pub fn is_conflict(&self) -> bool {
        self.errno == -libc::EBADFD
    }

    /// Whether the store found the record damaged (`-EILSEQ`: a checksum
    /// mismatch).
    pub fn is_corrupt(&self) -> bool {
        self.errno == -libc::EILSEQ
    }

    /// The error to report when every group failed: "not found" wins, since
    /// some group answered for the key; else the first error; ENXIO when
    /// there was no group at all.
    pub fn pick<'a>(errors: impl IntoIterator<Item = &'a StorageError>) -> StorageError {
        let mut first: Option<&StorageError> = None;
        for e in errors {
            if e.is_not_found() {
                return e.clone();
            }
            first.get_or_insert(e);
        }
        first
            .cloned()
            .unwrap_or_else(|| StorageError::new(libc::ENXIO, "no groups to operate on"))
    }

    /// Whether the request caused this error (the key is absent, or the
    /// request was invalid: `EINVAL`), so it says nothing about the
    /// backend's health.
    pub fn is_request_fault(&self) -> bool {
        self.is_not_found() || -self.errno == libc::EINVAL
    }

    /// Whether this error says the backend itself is faulty. Running out of
    /// space and being read-only are not faults (placement weighs them on
    /// their own terms); a missing object, a bad request, a too large or
    /// already existing object are the client's business.
    pub fn is_backend_fault(&self) -> bool {
        ![
            libc::ENOSPC,
            libc::EROFS,
            libc::ENOENT,
            libc::EINVAL,
            libc::EFBIG,
            libc::EEXIST,
        ]
        .contains(&-self.errno)
    }

    /// Whether the group could not be reached or did not answer in time (a
    /// node down, hung, or its connection cut): waiting may cure it, unlike
    /// a refusal or damaged data.
    pub fn is_unreachable(&self) -> bool {
        [
            libc::ETIMEDOUT,
            libc::ENXIO,
            libc::ECONNRESET,
            libc::ECONNREFUSED,
            libc::ECONNABORTED,
            libc::EHOSTUNREACH,
            libc::ENOTCONN,
            libc::EPIPE,
        ]
        .contains(&-self.errno)
    }

    /// Classifies the errno as SPEC.md maps it to HTTP.
    pub fn class(&self) -> ErrorClass {
        match -self.errno {
            libc::ENOENT | libc::EILSEQ | libc::EBADFD => ErrorClass::NotFound,
            libc::EINVAL | libc::E2BIG | libc::ENAMETOOLONG => ErrorClass::InvalidArgument,
            libc::EACCES | libc::EPERM => ErrorClass::Forbidden,
            _ => ErrorClass::Unavailable,
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.message, self.errno)
    }
}

impl std::error::Error for StorageError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_spec_status_table() {
        assert_eq!(
            StorageError::new(libc::ENOENT, "").class(),
            ErrorClass::NotFound
        );
        assert_eq!(
            StorageError::new(libc::EILSEQ, "").class(),
            ErrorClass::NotFound
        );
        assert_eq!(
            StorageError::new(libc::EBADFD, "").class(),
            ErrorClass::NotFound
        );
        assert_eq!(
            StorageError::new(libc::ENXIO, "").class(),
            ErrorClass::Unavailable
        );
        assert_eq!(
            StorageError::new(libc::EIO, "").class(),
            ErrorClass::Unavailable
        );
        assert_eq!(
            StorageError::new(libc::ETIMEDOUT, "").class(),
            ErrorClass::Unavailable
        );
        assert_eq!(
            StorageError::new(libc::EINVAL, "").class(),
            ErrorClass::InvalidArgument
        );
        assert_eq!(
            StorageError::new(libc::EACCES, "").class(),
            ErrorClass::Forbidden
        );
        assert_eq!(StorageError::new(libc::EIO, "x").errno, -libc::EIO);
    }
}
