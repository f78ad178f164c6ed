//! `/redirect/BUCKET/KEY`: 302 to the storage node holding the bytes, with a
//! URL its streaming module can verify (SPEC.md, Redirect; docs/redirect.md).

use std::time::SystemTime;

use actix_web::http::header::{HeaderValue, AUTHORIZATION, LOCATION, RANGE};
use actix_web::HttpResponse;

use super::error::ApiError;
use super::Req;
use crate::http::range;
use crate::redirect_sign::{address_host, SignedRedirect};
use crate::time::unix_secs;

/// Handles `/redirect/`.
pub async fn redirect(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let proxy = &req.snap.config.proxy;
    let port = u16::try_from(proxy.redirect_port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "redirect is not configured: proxy.redirect-port is {} (must be 1..65535)",
                proxy.redirect_port
            ))
        })?;
    let (_, ctx) = req.bucket_session(bucket, false).await?;
    let found = req.state.objects.lookup(ctx, key, None).await?;
    let replica =
        req.state.objects.choose_replica(&found).ok_or_else(|| {
            ApiError::Internal("lookup found replicas but none was chosen".into())
        })?;
    if replica.filename.is_empty() {
        return Err(ApiError::Unavailable(format!(
            "lookup of group {} gave no data file name",
            replica.group
        )));
    }
    let host = address_host(&replica.address).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "storage node address {:?} of group {} has no host",
            replica.address, replica.group
        ))
    })?;
    let (offset, size) = requested_span(req, replica.size)?;
    let file = match replica.filename.strip_prefix(proxy.redirect_root.as_str()) {
        Some(rest) if !proxy.redirect_root.is_empty() => rest.to_string(),
        _ => replica.filename.clone(),
    };
    let target = SignedRedirect {
        scheme: "http".into(),
        host: host.to_string(),
        port,
        file,
        object_offset: replica.offset,
        offset,
        size,
        total_size: replica.size,
        mtime: unix_secs(replica.mtime),
        signtime: unix_secs(SystemTime::now()),
        timeout: proxy.redirect_signature_timeout,
    };
    let mut resp = HttpResponse::Found();
    for (name, value) in target.headers() {
        let value = HeaderValue::from_str(&value).map_err(|_| {
            ApiError::Unavailable(format!("{name} value {value:?} cannot be sent in a header"))
        })?;
        resp.insert_header((name, value));
    }
    resp.insert_header((AUTHORIZATION, target.signature(&proxy.redirect_token)?))
        .insert_header((LOCATION, target.url()));
    Ok(resp.finish())
}

/// The requested `(offset, size)` within an object of `total` bytes: one
/// `Range` (a redirect carries one span; several are a 400), else the
/// `offset`/`size` parameters (size 0 or past the end: up to the end).
fn requested_span(req: &Req, total: u64) -> Result<(u64, u64), ApiError> {
    if let Some(raw) = req.header(RANGE.as_str()) {
        let specs = range::parse(raw).ok_or_else(|| {
            ApiError::BadRequest(format!("redirect: Range {raw:?} is not a byte range"))
        })?;
        let [spec] = specs.as_slice() else {
            return Err(ApiError::BadRequest(format!(
                "redirect: {} ranges requested, a redirect carries one; use /get/ for several",
                specs.len()
            )));
        };
        let span =
            range::span(*spec, total).ok_or(ApiError::RangeNotSatisfiable { size: total })?;
        return Ok((span.start, span.len()));
    }
    let offset = req.num_param("offset")?.unwrap_or(0);
    if offset >= total && !(offset == 0 && total == 0) {
        return Err(ApiError::BadRequest(format!(
            "redirect: offset {offset} is beyond the object's end ({total} bytes)"
        )));
    }
    let size = match req.num_param("size")? {
        Some(s) if s > 0 => s.min(total - offset),
        _ => total - offset,
    };
    Ok((offset, size))
}
