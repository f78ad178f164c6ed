//! The REST API's router: every request goes through [`dispatch`], which picks the
//! handler for its [`Endpoint`] and then [`finish`]es the reply (errors to
//! replies, `proxy.headers`, statistics, the access line).

use std::time::Instant;

use actix_web::http::header::ALLOW;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::endpoint::Endpoint;
use super::error::ApiError;
use super::request::Req;
use super::{config_update, delete, files, get, lookup, metrics, redirect, stat, upload};
use crate::http::message::{
    add_proxy_headers, declared_length, header_bytes, reply_bytes, MAX_HEADER_BYTES,
};
use crate::state::AppState;

async fn handle(ep: &Endpoint, req: &Req, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    match ep {
        Endpoint::Upload { bucket, key } => upload::upload(req, Some(bucket), key, payload).await,
        Endpoint::NobucketUpload { key } => upload::upload(req, None, key, payload).await,
        Endpoint::Get { bucket, key } => get::get(req, bucket, key).await,
        Endpoint::Lookup { bucket, key } => lookup::lookup(req, bucket, key).await,
        Endpoint::Redirect { bucket, key } => redirect::redirect(req, bucket, key).await,
        Endpoint::Delete { bucket, key } => delete::delete(req, bucket, key).await,
        Endpoint::BulkDelete { bucket } => delete::bulk_delete(req, bucket, payload).await,
        Endpoint::Ping | Endpoint::Stat { .. } => stat::stat(req, ep).await,
        Endpoint::ProxyStat => stat::proxy_stat(req).await,
        Endpoint::UpdateLocalConfig => config_update::update_local_config(req, payload).await,
        Endpoint::Metrics => metrics::metrics(req).await,
        Endpoint::Status => {
            Ok(crate::status::page(&req.state, &req.snap, req.http.query_string()).await)
        }
        Endpoint::Static { path } => files::serve(req, path).await,
    }
}

/// Every request comes here: [`route`] it, then [`finish`] the reply.
pub(super) async fn dispatch(
    http: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    if let Some(conn) = http.conn_data::<crate::connections::ConnectionGuard>() {
        conn.mark_served();
    }
    let snap = state.snapshot();
    let endpoint = Endpoint::parse(http.uri().path());
    let req = Req {
        query: crate::encoding::parse_query(http.uri().query().unwrap_or("")),
        http,
        state,
        snap,
    };
    let name = endpoint.as_ref().map(Endpoint::name).unwrap_or("invalid");
    let routed = route(&endpoint, &req, payload).await;
    finish(routed, &req, name, started)
}

/// What routing produced: the handler's reply or error, and whether the
/// request was refused because the connection cap was reached.
struct Routed {
    result: Result<HttpResponse, ApiError>,
    over_cap: bool,
}

/// The checks every request passes (header size, path, OPTIONS and HEAD
/// probes, the connection cap, the method) and then its handler.
async fn route(endpoint: &Result<Endpoint, ApiError>, req: &Req, payload: web::Payload) -> Routed {
    let method = req.http.method();
    let headers_size = header_bytes(&req.http);
    let connections = &req.state.connections;
    let mut over_cap = false;
    let result = match endpoint {
        _ if headers_size > MAX_HEADER_BYTES => Err(ApiError::HeadersTooLarge(format!(
            "request headers are {headers_size} bytes, more than {MAX_HEADER_BYTES}"
        ))),
        Err(_) if method == Method::HEAD => Ok(HttpResponse::Ok().body("OK")),
        Err(e) => Err(ApiError::BadRequest(e.to_string())),
        Ok(ep) if method == Method::OPTIONS => Ok(HttpResponse::NoContent()
            .insert_header((ALLOW, allow_header(ep.methods())))
            .finish()),
        // Load balancers probe with HEAD: every path but /get/ answers OK, as Backrunner does.
        Ok(ep) if method == Method::HEAD && !matches!(ep, Endpoint::Get { .. }) => {
            Ok(HttpResponse::Ok().body("OK"))
        }
        Ok(ep) if !ep.is_health_check() && connections.over_cap() => {
            over_cap = true;
            Err(ApiError::Unavailable(connections.refusal()))
        }
        Ok(ep) if !ep.methods().contains(method) => Err(ApiError::WrongMethod {
            method: method.clone(),
            allow: ep.methods(),
        }),
        Ok(ep) => handle(ep, req, payload).await,
    };
    Routed { result, over_cap }
}

/// Turns an error into its reply (and records it), adds `proxy.headers`,
/// records the request's statistics and writes the access line.
fn finish(routed: Routed, req: &Req, name: &str, started: Instant) -> HttpResponse {
    let url = req.http.uri().to_string();
    let method = req.http.method();
    let state = &req.state;
    let mut error = String::new();
    let mut resp = match routed.result {
        Ok(r) => r,
        Err(e) => {
            error = e.to_string();
            let resp = e.response(&url);
            let peer = req
                .http
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            state.stats.record_error(
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
    if routed.over_cap {
        // Free the slot at once.
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    let status = resp.status().as_u16();
    let bytes = reply_bytes(&resp);
    let bytes_in = declared_length(req.http.headers()).unwrap_or(0);
    state
        .stats
        .record_request(name, status, bytes, bytes_in, started.elapsed());
    // Backrunner's access line: method, client, X-Forwarded-For, path, status, size, time, error.
    log::info!(
        target: "access",
        "method: {}, client: {}, x-fwd: {}, path: {}, status: {}, size: {}, time: {:.3} ms, error: {}",
        method,
        req.http.peer_addr().map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
        req.header("x-forwarded-for").unwrap_or("-"),
        url,
        status,
        bytes,
        started.elapsed().as_secs_f64() * 1e3,
        if error.is_empty() { "-" } else { error.as_str() }
    );
    resp
}

fn allow_header(methods: &[Method]) -> String {
    let mut v: Vec<&str> = methods.iter().map(Method::as_str).collect();
    v.push("OPTIONS");
    v.join(", ")
}
