//! Sizes and headers of requests and replies that every API's dispatcher
//! needs: the request header limit, the declared body length, the size of
//! a reply for the statistics, `proxy.headers` on every reply, the parts
//! of a request a riftv1 signature covers, and the status of a store error.

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use crate::auth::SignedRequest;
use crate::storage::error::ErrorClass;
use crate::storage::StorageError;

/// Largest total size of request headers served (names and values), as
/// nginx's default `large_client_header_buffers`; larger ones get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The size of a request's headers as [`MAX_HEADER_BYTES`] counts them.
pub fn header_bytes(req: &HttpRequest) -> usize {
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// The body size a request's `Content-Length` declares, if it declares one
/// that is a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The reply body's size: its Content-Length, else the size a streamed
/// body (SizedStream) carries, else 0.
pub fn reply_bytes(resp: &HttpResponse) -> u64 {
    resp.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(match actix_web::body::MessageBody::size(resp.body()) {
            actix_web::body::BodySize::Sized(n) => Some(n),
            _ => None,
        })
        .unwrap_or(0)
}

/// Adds `proxy.headers` (checked when the config was read) to a reply, on
/// every listener.
pub fn add_proxy_headers(resp: &mut HttpResponse, headers: &crate::config::ProxyHeaders) {
    for (k, v) in headers.iter() {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
}

/// The parts of `http` a riftv1 signature covers (the bucket ACL check of
/// every API that takes riftv1); `max_sign_age` is `proxy.signature-max-age`.
pub fn signed(http: &HttpRequest, max_sign_age: u64) -> SignedRequest<'_> {
    let path_and_query = http
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let headers: Vec<(&str, &str)> = http
        .headers()
        .iter()
        // `to_str` refuses any byte over 0x7f; clients sign UTF-8 values as sent.
        .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
        .collect();
    SignedRequest {
        method: http.method().as_str(),
        path_and_query,
        authorization: http
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        headers,
        max_sign_age,
    }
}

/// The status a store error gets on a read or write (SPEC.md, Status codes).
pub fn storage_status(e: &StorageError) -> StatusCode {
    match e.class() {
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The one-line body of a plain-text error reply (without its newline),
/// worded as Backrunner's: `url: URL: error status: N, returned data:
/// 'CAUSE'`; `/proxy_stat/` keeps it as the error's `Error`.
pub fn error_line(url: &str, status: StatusCode, cause: &dyn std::fmt::Display) -> String {
    format!(
        "url: {url}: error status: {}, returned data: '{cause}'",
        status.as_u16()
    )
    .replace(['\n', '\r'], " ")
}

/// A plain-text error reply with the headers of Go's `http.Error`; the
/// caller adds what its error needs (`Allow`, `Content-Range`) and the
/// body, [`error_line`] and a newline.
pub fn plain_error(status: StatusCode) -> actix_web::HttpResponseBuilder {
    use actix_web::http::header::{HeaderValue, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
    let mut resp = HttpResponse::build(status);
    resp.insert_header((
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    ))
    .insert_header((X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
    resp
}
