//! `/lookup/BUCKET/KEY`: where the replicas are, and which groups hold a
//! missing or stale one (`out-of-sync-groups`).

use actix_web::HttpResponse;

use super::error::ApiError;
use super::reply::{first_errors, LookupJson};
use super::{blocking, Req};
use crate::placement::{self, consistency};
use crate::storage::pick_error;

/// Handles `/lookup/`.
pub async fn lookup(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let (meta, ctx) = req.bucket_session(bucket, false).await?;
    let storage = req.state.storage.clone();
    let k = key.to_string();
    let results = blocking(move || storage.lookup(&ctx, &k)).await?;
    if results.iter().all(|r| r.result.is_err()) {
        return Err(pick_error(first_errors(&results)).into());
    }
    let stale = consistency::out_of_sync_groups(&results);
    let mut reply = serde_json::to_value(LookupJson::new(&results))
        .map_err(|e| ApiError::Internal(format!("lookup reply: {e}")))?;
    // Each replica says whether it matches the newest one.
    if let Some(info) = reply.get_mut("info").and_then(|v| v.as_array_mut()) {
        for r in info {
            let group = r.get("group").and_then(|g| g.as_u64());
            let in_sync = !group.is_some_and(|g| stale.iter().any(|s| u64::from(*s) == g));
            r["in-sync"] = in_sync.into();
        }
    }
    reply["out-of-sync-groups"] = serde_json::json!(stale);
    if !stale.is_empty() {
        req.state.cluster.note_out_of_sync(&meta.name, &stale);
        let proxy = &req.snap.config.proxy;
        if proxy.recover_on_read {
            if let Some(source) = consistency::newest(&results) {
                placement::recover_in_background(
                    req.state.clone(),
                    meta.name.clone(),
                    key.to_string(),
                    source.clone(),
                    stale,
                    proxy.recover_bytes_per_second,
                );
            }
        }
    }
    Ok(HttpResponse::Ok().json(reply))
}
