//! DeleteObjects (`POST /BUCKET?delete`): up to 1,000 keys named in an XML
//! body, removed through [`crate::core::Objects::bulk_remove`] (the path
//! Backrunner's `/bulk_delete/` takes), each answered as `<Deleted>` or
//! `<Error>`; quiet mode answers only the errors.

use std::fmt::Write as _;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpResponse};

use crate::bucket::BucketMeta;
use crate::s3::error::S3Error;
use crate::s3::object::xml_body::{parse_delete, MAX_DELETE_KEYS};
use crate::s3::xml::{self, escape};
use crate::s3::{object::body, object::meta, S3Req};

/// Largest DeleteObjects body: 1,000 keys of 1,024 bytes, escaped, with room.
const MAX_BODY: usize = 8 << 20;

/// DeleteObjects. A key that did not exist counts as deleted, as S3 answers.
pub async fn delete_objects(
    req: &S3Req,
    bucket: &BucketMeta,
    payload: web::Payload,
) -> Result<HttpResponse, S3Error> {
    let data = body::read(req, payload, MAX_BODY, "DeleteObjects").await?;
    let request = parse_delete(&data)?;
    debug_assert!(request.keys.len() <= MAX_DELETE_KEYS);
    let ctx = req.storage_ctx(bucket, true);
    let objects = &req.state.objects;
    let failed = objects
        .bulk_remove(ctx.clone(), request.keys.clone())
        .await?;
    let errors: std::collections::BTreeMap<&str, S3Error> = failed
        .iter()
        .filter(|(_, e)| !e.is_not_found())
        .map(|(k, e)| (k.as_str(), S3Error::from(e.clone())))
        .collect();
    let deleted: Vec<String> = request
        .keys
        .iter()
        .filter(|k| !errors.contains_key(k.as_str()))
        .cloned()
        .collect();
    // The sidecars of the deleted keys; one left behind is never served
    // (its object is gone), so a failure here is only logged.
    if !deleted.is_empty() {
        match objects
            .bulk_remove(meta::sidecar_ctx(&ctx), deleted.clone())
            .await
        {
            Ok(left) => {
                for (k, e) in left.iter().filter(|(_, e)| !e.is_not_found()) {
                    log::warn!("s3 metadata of {}/{k}: not removed: {e}", bucket.name);
                }
            }
            Err(e) => log::warn!("s3 metadata of bucket {}: not removed: {e}", bucket.name),
        }
    }
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"{}\">",
        xml::NS
    );
    for key in &request.keys {
        match errors.get(key.as_str()) {
            Some(e) => {
                let _ = write!(
                    out,
                    "<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>",
                    escape(key),
                    e.code.as_str(),
                    escape(&e.message)
                );
            }
            None if !request.quiet => {
                let _ = write!(out, "<Deleted><Key>{}</Key></Deleted>", escape(key));
            }
            None => {}
        }
    }
    out.push_str("</DeleteResult>");
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/xml"))
        .body(out))
}
