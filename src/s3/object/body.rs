//! Small request bodies read whole (the XML of DeleteObjects and
//! CreateBucket), with a size bound, and checked as PutObject bodies are:
//! `x-amz-content-sha256`, `Content-MD5`, aws-chunked framing and chunk
//! signatures, and the `x-amz-checksum-*` newer SDKs send instead of
//! Content-MD5 (as a header or a trailer).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::object::{checked_body, decoder};
use crate::s3::sign::checksum;
use crate::s3::sign::digest::BodyDigest;
use crate::s3::S3Req;

/// Reads the whole body of `what` (an operation name for messages), at most
/// `limit` bytes, and verifies every digest the request carries.
pub async fn read(
    req: &S3Req,
    payload: web::Payload,
    limit: usize,
    what: &str,
) -> Result<Bytes, S3Error> {
    let sum = checksum::expected(req.http.headers())?;
    read_with(req, payload, limit, what, sum).await
}

/// [`read`] for CompleteMultipartUpload, whose `x-amz-checksum-*` headers
/// are the completed object's, not the body's (checked in
/// [`crate::s3::multipart::mpu_checksum`]).
pub async fn read_object_checksummed(
    req: &S3Req,
    payload: web::Payload,
    limit: usize,
    what: &str,
) -> Result<Bytes, S3Error> {
    read_with(req, payload, limit, what, None).await
}

async fn read_with(
    req: &S3Req,
    payload: web::Payload,
    limit: usize,
    what: &str,
    sum: Option<checksum::Expected>,
) -> Result<Bytes, S3Error> {
    let too_large = |n: String| {
        S3Error::new(
            S3ErrorCode::EntityTooLarge,
            format!("a {what} body takes at most {limit} bytes, this one has {n}"),
        )
    };
    let declared = crate::http::message::declared_length(req.http.headers());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        return Err(too_large(n.to_string()));
    }
    let chunked = decoder(req)?;
    let digest = BodyDigest::new(&req.payload_hash, req.header("content-md5"))?.with_checksum(sum);
    let results = (Rc::new(Cell::new(None)), Rc::new(RefCell::new(None)));
    let proxy = &req.snap.config.proxy;
    let mut body = checked_body(payload, digest, chunked, proxy, results);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(too_large(format!("more than {limit}")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
