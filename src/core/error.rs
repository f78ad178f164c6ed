//! The core's error type.

use crate::cluster;
use crate::storage::StorageError;

/// Why an object operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ObjectError {
    /// From the store (when every group failed, the error that explains it best).
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// No listed bucket can take an upload (placement's reason).
    #[error("{0}")]
    NoBucket(#[from] cluster::NoBucket),
    /// The body ended before the size it announced, or ran past it.
    #[error("body has {received} bytes, Content-Length said {size}")]
    BodyLength {
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        size: u64,
    },
    /// A blocking task panicked or was cancelled.
    #[error("internal: {0}")]
    Internal(String),
}
