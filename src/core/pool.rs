//! Storage work on the blocking pool.

use super::error::ObjectError;

/// Runs blocking storage work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ObjectError> {
    actix_web::rt::task::spawn_blocking(f)
        .await
        .map_err(|e| ObjectError::Internal(format!("storage task: {e}")))
}
