//! Storage work on the blocking pool.

use super::error::ObjectError;
use crate::storage::Storage;

/// Runs blocking storage work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ObjectError> {
    actix_web::rt::task::spawn_blocking(f)
        .await
        .map_err(|e| ObjectError::Internal(format!("storage task: {e}")))
}

/// Runs read-only storage work on this thread when the store can serve it
/// without waiting (the embedded store's page cache: no hop, no thread
/// switch), else on the blocking pool.
pub(crate) async fn cached_or_blocking<T, F>(
    storage: &dyn Storage,
    mut f: F,
) -> Result<T, ObjectError>
where
    T: Send + 'static,
    F: FnMut() -> T + Send + 'static,
{
    let mut out = None;
    if storage.without_waiting(&mut || out = Some(f())) {
        if let Some(v) = out {
            return Ok(v);
        }
    }
    blocking(f).await
}
