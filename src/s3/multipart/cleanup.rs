//! Removing uploads: the removal AbortMultipartUpload and
//! CompleteMultipartUpload start (state, parts, their sidecars, the part
//! list and the upload-list entry), and the cleanup of uploads abandoned
//! longer than `proxy.s3-multipart-max-age`.

use std::time::Duration;

use actix_web::web;
use futures_util::StreamExt;

use super::upload::{now_secs, part_key, uploads_ctx};
use super::upload_lists;
use crate::s3::cluster_doc;
use crate::s3::error::S3Error;
use crate::s3::object::meta;
use crate::state::AppState;
use crate::storage::Context;

/// Part objects removed at once.
const PARALLEL_REMOVALS: usize = 16;

/// Removes an upload: its state first (so no part or completion is taken
/// any more), then the parts (those named, or those its part list holds),
/// their sidecars, the part list and the bucket's upload-list entry.
/// Failures are logged; the entry stays listed so the cleanup retries.
pub async fn remove_upload(
    app: web::Data<AppState>,
    uctx: Context,
    id: String,
    numbers: Option<Vec<u32>>,
) {
    let objects = &app.objects;
    let result = async {
        cluster_doc::remove(objects, &uctx, &id).await?;
        let listed = upload_lists::part_numbers(&app, &uctx, &id).await?;
        let mut all = numbers.unwrap_or_default();
        all.extend(listed);
        all.sort_unstable();
        all.dedup();
        let sidecars = meta::sidecar_ctx(&uctx);
        let removals = futures_util::stream::iter(all.iter())
            .map(|n| {
                let key = part_key(&id, *n);
                let (uctx, sidecars) = (&uctx, &sidecars);
                async move {
                    cluster_doc::remove(objects, uctx, &key).await?;
                    cluster_doc::remove(objects, sidecars, &key).await
                }
            })
            .buffer_unordered(PARALLEL_REMOVALS)
            .collect::<Vec<_>>()
            .await;
        removals.into_iter().collect::<Result<(), S3Error>>()?;
        upload_lists::remove_upload(&app, &uctx, &id).await
    }
    .await;
    if let Err(e) = result {
        log::warn!("s3 upload {}/{id}: removing it: {e}", uctx.namespace);
    }
}

/// Aborts the uploads of every loaded bucket older than
/// `proxy.s3-multipart-max-age` seconds; answers how many.
pub async fn clean_abandoned(app: &web::Data<AppState>) -> usize {
    let snap = app.snapshot();
    let max_age = snap.config.proxy.s3_multipart_max_age;
    let now = now_secs();
    let mut removed = 0;
    for bucket in snap.buckets.all() {
        let ctx = Context::new(bucket.name.clone(), bucket.groups.clone());
        let uctx = uploads_ctx(&ctx);
        let uploads = match upload_lists::uploads(app, &uctx).await {
            Ok(u) => u,
            Err(e) => {
                log::warn!("s3 uploads of bucket {}: {e}", bucket.name);
                continue;
            }
        };
        for (id, u) in uploads {
            if now.saturating_sub(u.initiated) >= max_age {
                log::info!(
                    "s3 upload {id} of {}/{} is {} s old: removed (proxy.s3-multipart-max-age {max_age})",
                    bucket.name,
                    u.key,
                    now.saturating_sub(u.initiated)
                );
                remove_upload(app.clone(), uctx.clone(), id, None).await;
                removed += 1;
            }
        }
    }
    removed
}

/// The cleanup of abandoned uploads, a loop for the runtime to spawn:
/// while the S3 API is on and `proxy.s3-multipart-max-age` is not 0, every
/// max-age/4 (1 s to 1 h, re-read each round) [`clean_abandoned`] runs.
pub async fn clean_periodically(app: web::Data<AppState>) {
    loop {
        let snap = app.snapshot();
        let p = &snap.config.proxy;
        let on = !(p.s3_address.is_empty() && p.s3_https_address.is_empty())
            && p.s3_multipart_max_age > 0;
        let period = Duration::from_secs((p.s3_multipart_max_age / 4).clamp(1, 3600));
        drop(snap);
        actix_web::rt::time::sleep(period).await;
        if on {
            clean_abandoned(&app).await;
        }
    }
}
