//! A retried CompleteMultipartUpload. SDKs repeat a Complete whose reply
//! they did not get (a timeout): by then the upload is gone, and S3 answers
//! the first result again rather than `NoSuchUpload`. The completed
//! object's parts document ([`crate::s3::object::attributes`]) keeps the upload id, the
//! part list (numbers and ETags) and the time; a Complete of that upload id
//! with the same part list within `proxy.s3-complete-retention` seconds
//! answers the same document: same ETag, same checksum and checksum type.

use actix_web::{web, HttpResponse};

use crate::bucket::BucketMeta;
use crate::s3::cluster_doc;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::multipart;
use crate::s3::multipart::parts::CompletedPart;
use crate::s3::object::attributes::{parts_ctx, Completion, PartsDoc};
use crate::s3::object::body;
use crate::s3::sign::checksum::ObjectChecksum;
use crate::s3::xml;
use crate::s3::S3Req;

/// The completion of upload `id` with the part list `named`, now.
pub fn completion(id: &str, named: &[CompletedPart]) -> Completion {
    Completion::new(id, list(named), now_secs())
}

fn list(named: &[CompletedPart]) -> Vec<(u32, String)> {
    named
        .iter()
        .map(|p| (p.number, p.etag.trim_matches('"').to_string()))
        .collect()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The `CompleteMultipartUploadResult` document.
pub fn result_doc(
    bucket: &str,
    key: &str,
    etag: &str,
    checksum: Option<&ObjectChecksum>,
) -> String {
    format!(
        "{}<CompleteMultipartUploadResult xmlns=\"{}\"><Location>/{}/{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag>{}</CompleteMultipartUploadResult>",
        xml::DECL,
        xml::NS,
        xml::escape(&crate::encoding::query_escape(bucket)),
        xml::escape(&crate::encoding::query_escape(key)),
        xml::escape(bucket),
        xml::escape(key),
        xml::escape(etag),
        checksum
            .map(|c| crate::s3::sign::checksum::checksum_elements(c, true))
            .unwrap_or_default()
    )
}

/// A Complete whose upload is gone (`gone`, its `NoSuchUpload`): the first
/// result again when it repeats a Complete of that upload within the
/// retention, else `gone`.
pub async fn answer(
    req: &S3Req,
    bucket: &BucketMeta,
    key: &str,
    payload: web::Payload,
    gone: S3Error,
) -> Result<HttpResponse, S3Error> {
    let retention = req.snap.config.proxy.s3_complete_retention;
    if retention == 0 {
        return Err(gone);
    }
    let id = multipart::upload::upload_id(req)?;
    let ctx = req.storage_ctx(bucket, false);
    let doc: Option<PartsDoc> =
        cluster_doc::read_json(&req.state.objects, &parts_ctx(&ctx), key, 4 << 20).await?;
    let Some((doc, done)) = doc.and_then(|d| d.completed.clone().map(|c| (d, c))) else {
        return Err(gone);
    };
    if done.upload_id != id || now_secs().saturating_sub(done.at) > retention {
        return Err(gone);
    }
    let data = body::read_object_checksummed(
        req,
        payload,
        multipart::MAX_COMPLETE_BODY,
        "CompleteMultipartUpload",
    )
    .await?;
    let named = crate::s3::multipart::parts::parse_complete(&data)?;
    if list(&named) != done.parts {
        return Err(S3Error::new(
            S3ErrorCode::NoSuchUpload,
            format!("{}; it was completed with another part list", gone.message),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .body(result_doc(
            &bucket.name,
            key,
            &doc.of.etag,
            doc.of.checksum.as_ref(),
        )))
}
