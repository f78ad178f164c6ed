//! `/lookup/BUCKET/KEY`: where the replicas are.

use actix_web::HttpResponse;

use super::error::ApiError;
use super::reply::{first_errors, LookupJson};
use super::{blocking, Req};
use crate::storage::pick_error;

/// Handles `/lookup/`.
pub async fn lookup(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let meta = req.bucket(bucket).await?;
    req.authorize(&meta, false)?;
    let ctx = req.storage_ctx(&meta, false)?;
    let storage = req.state.storage.clone();
    let k = key.to_string();
    let results = blocking(move || storage.lookup(&ctx, &k)).await?;
    if results.iter().all(|r| r.result.is_err()) {
        return Err(pick_error(first_errors(&results)).into());
    }
    Ok(HttpResponse::Ok().json(LookupJson::new(&results)))
}
