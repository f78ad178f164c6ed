//! The VOD listeners (`proxy.vod-address`, `proxy.vod-https-address`):
//! every request goes through [`dispatch`], which answers CORS preflights
//! from `proxy.vod-cors`, checks the method and path,
//! [`serve`](super::serve::serve)s it and finishes the reply (errors to
//! replies, `proxy.headers`, CORS headers, statistics, the access line).

use std::time::Instant;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::VodHttpError;
use super::path;
use super::request::VodReq;
use super::serve::serve;
use crate::http::cors;
use crate::http::listen::{Bound, Budget, Listener};
use crate::http::message::{add_proxy_headers, declared_length, header_bytes, reply_bytes};
use crate::http::MAX_HEADER_BYTES;
use crate::state::AppState;

/// Routes one request: header size, method, path, then [`serve`].
async fn route(req: &VodReq) -> (&'static str, Result<HttpResponse, VodHttpError>) {
    let http = &req.http;
    let target = path::parse(http.uri().path());
    let name = target.as_ref().map_or("vod_invalid", |t| t.format.name());
    let headers_size = header_bytes(http);
    if headers_size > MAX_HEADER_BYTES {
        return (
            name,
            Err(VodHttpError::HeadersTooLarge(format!(
                "request headers are {headers_size} bytes, more than {MAX_HEADER_BYTES}"
            ))),
        );
    }
    let method = http.method();
    if method == Method::OPTIONS {
        let rules = &req.snap.config.proxy.vod_cors;
        let answer = cors::preflight(http.headers(), rules, "proxy.vod-cors");
        return ("vod_cors_preflight", answer.map_err(VodHttpError::from));
    }
    if method != Method::GET && method != Method::HEAD {
        return (name, Err(VodHttpError::WrongMethod(method.to_string())));
    }
    match target {
        Ok(t) => (name, serve(req, t).await),
        Err(why) => (name, Err(VodHttpError::BadRequest(why))),
    }
}

/// Every VOD request comes here.
async fn dispatch(
    http: HttpRequest,
    _payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let snap = state.snapshot();
    let req = VodReq { http, state, snap };
    let (name, result) = route(&req).await;
    let http = &req.http;
    let url = http.uri().to_string();
    let method = http.method().clone();
    let peer = http
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    let mut error = String::new();
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            error = e.to_string();
            let resp = e.response(&url);
            req.state.stats.record_error(
                method.as_str(),
                &peer,
                &url,
                resp.status().as_u16(),
                &e.line(&url),
            );
            resp
        }
    };
    add_proxy_headers(&mut resp, &req.snap.config.proxy.headers);
    cors::decorate(
        &mut resp,
        http.headers(),
        method.as_str(),
        &req.snap.config.proxy.vod_cors,
    );
    let status = resp.status().as_u16();
    let bytes = reply_bytes(&resp);
    let bytes_in = declared_length(http.headers()).unwrap_or(0);
    req.state
        .stats
        .record_request(name, status, bytes, bytes_in, started.elapsed());
    log::info!(
        target: "access",
        "vod method: {}, client: {}, x-fwd: {}, path: {}, status: {}, size: {}, time: {:.3} ms, error: {}",
        method,
        peer,
        http.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("-"),
        url,
        status,
        bytes,
        started.elapsed().as_secs_f64() * 1e3,
        if error.is_empty() { "-" } else { error.as_str() }
    );
    resp
}

/// The VOD listeners on `proxy.vod-address` (HTTP) and
/// `proxy.vod-https-address` (HTTPS with the proxy's certificate, re-read
/// on SIGHUP), or `None` when both are unset.
pub fn server(state: &web::Data<AppState>) -> std::io::Result<Option<Bound>> {
    let snap = state.snapshot();
    let proxy = &snap.config.proxy;
    Listener {
        address: &proxy.vod_address,
        https_address: &proxy.vod_https_address,
        log_prefix: "VOD API ",
        tls_name: "vod tls",
        budget: Budget::Cap,
    }
    .bind(state, dispatch)
}
