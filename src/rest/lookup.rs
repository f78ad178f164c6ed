//! `/lookup/BUCKET/KEY`: where the replicas are, and which groups hold a
//! missing or stale one (`out-of-sync-groups`).

use actix_web::HttpResponse;

use super::error::ApiError;
use super::reply::LookupJson;
use super::Req;

/// Handles `/lookup/`.
pub async fn lookup(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let (_, ctx) = req.bucket_session(bucket, false).await?;
    let proxy = &req.snap.config.proxy;
    let recover = proxy
        .recover_on_read
        .then_some(proxy.recover_bytes_per_second);
    let found = req.state.objects.lookup(ctx, key, recover).await?;
    let stale = &found.out_of_sync;
    let mut reply = serde_json::to_value(LookupJson::new(&found.results))
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
    Ok(HttpResponse::Ok().json(reply))
}
