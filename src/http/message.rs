//! Sizes and headers of requests and replies that every API's dispatcher
//! needs: the request header limit, the declared body length, the size of
//! a reply for the statistics, and `proxy.headers` on every reply.

use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::{HttpRequest, HttpResponse};

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
