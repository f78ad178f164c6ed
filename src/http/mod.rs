//! The HTTP layer: one dispatcher routes every request to its handler,
//! turns errors into replies, adds `proxy.headers`, counts and logs.

pub mod body;
pub mod conditional;
pub mod config_update;
pub mod connections;
pub mod delete;
pub mod endpoint;
pub mod error;
pub mod files;
pub mod get;
pub mod lookup;
pub mod metrics;
pub mod multipart;
pub mod range;
pub mod redirect;
pub mod reply;
pub mod stat;
pub mod upload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_LENGTH};
use actix_web::http::Method;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::auth::{self, SignedRequest};
use crate::bucket::BucketMeta;
use crate::state::{AppState, Snapshot};
use crate::storage::Context;
use endpoint::Endpoint;
use error::ApiError;

/// One request being served: the HTTP request, the shared state and the
/// snapshot of config and buckets it runs on.
pub struct Req {
    /// The HTTP request.
    pub http: HttpRequest,
    /// Shared state.
    pub state: web::Data<AppState>,
    /// Config and buckets for this request.
    pub snap: Arc<Snapshot>,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl Req {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric query parameter; a malformed value is a 400.
    pub fn num_param(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.param(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_u64(v).map(Some).ok_or_else(|| {
                ApiError::BadRequest(format!("query parameter {name}={v:?} is not a number"))
            }),
        }
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Loads a bucket by name: from the registry's cache without leaving
    /// the worker, else from the metadata groups on the blocking pool.
    pub async fn bucket(&self, name: &str) -> Result<Arc<BucketMeta>, ApiError> {
        if let Some(m) = self.snap.buckets.cached(name) {
            return Ok(m);
        }
        let buckets = self.snap.buckets.clone();
        let name = name.to_string();
        Ok(web::block(move || buckets.get(&name)).await??)
    }

    /// Loads a bucket, checks its ACL (`write` for uploads and deletes) and
    /// builds the storage session for the operation.
    pub async fn bucket_session(
        &self,
        name: &str,
        write: bool,
    ) -> Result<(Arc<BucketMeta>, Context), ApiError> {
        let meta = self.bucket(name).await?;
        self.authorize(&meta, write)?;
        let ctx = self.storage_ctx(&meta, write)?;
        Ok((meta, ctx))
    }

    /// The parts of this request a riftv1 signature covers.
    pub fn signed(&self) -> SignedRequest<'_> {
        let path_and_query = self
            .http
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let headers: Vec<(&str, &str)> = self
            .http
            .headers()
            .iter()
            // `to_str` refuses any byte over 0x7f; clients sign UTF-8 values as sent.
            .filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?)))
            .collect();
        SignedRequest {
            method: self.http.method().as_str(),
            path_and_query,
            authorization: self.header("authorization"),
            headers,
            max_sign_age: self.snap.config.proxy.signature_max_age,
        }
    }

    /// Checks the bucket's ACL; `write` for uploads and deletes.
    pub fn authorize(&self, bucket: &BucketMeta, write: bool) -> Result<(), ApiError> {
        Ok(auth::check(bucket, &self.signed(), write)?)
    }

    /// A storage session for `bucket`: its groups, io/command flags from the
    /// config or the `ioflags`/`cflags` parameters, and a trace id.
    pub fn storage_ctx(&self, bucket: &BucketMeta, write: bool) -> Result<Context, ApiError> {
        let p = &self.snap.config.proxy;
        let default_io = if write {
            p.writer_io_flags
        } else {
            p.reader_io_flags
        };
        let trace = self
            .header("x-request")
            .or_else(|| self.param("trace_id"))
            .and_then(parse_u64)
            .unwrap_or_else(rand::random);
        Ok(Context {
            namespace: bucket.name.clone(),
            groups: bucket.groups.clone(),
            ioflags: self.num_param("ioflags")?.unwrap_or(default_io),
            cflags: self.num_param("cflags")?.unwrap_or(0),
            trace_id: trace,
            timeout: None,
        })
    }
}

/// Largest total size of request headers served (names and values), as
/// nginx's default `large_client_header_buffers`; larger ones get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

fn header_bytes(req: &HttpRequest) -> usize {
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

pub use body::read_body;

/// Runs blocking storage work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    Ok(web::block(f).await?)
}

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
        Endpoint::Static { path } => files::serve(req, path).await,
    }
}

/// Every request comes here.
async fn dispatch(
    http: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let snap = state.snapshot();
    let url = http.uri().to_string();
    let method = http.method().clone();
    let endpoint = Endpoint::parse(http.uri().path());
    let name = endpoint.as_ref().map(Endpoint::name).unwrap_or("invalid");
    let req = Req {
        query: auth::parse_query(http.uri().query().unwrap_or("")),
        http,
        state: state.clone(),
        snap,
    };
    let headers_size = header_bytes(&req.http);
    let mut over_cap = false;
    let result = match &endpoint {
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
        Ok(ep) if !ep.is_health_check() && state.connections.over_cap() => {
            over_cap = true;
            Err(ApiError::Unavailable(format!(
                "{} connections are open, more than proxy.max-connections {}; try again later",
                state.connections.open(),
                state.connections.cap()
            )))
        }
        Ok(ep) if !ep.methods().contains(&method) => Err(ApiError::WrongMethod {
            method: method.clone(),
            allow: ep.methods(),
        }),
        Ok(ep) => handle(ep, &req, payload).await,
    };
    let mut error = String::new();
    let mut resp = match result {
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
    for (k, v) in &req.snap.config.proxy.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    if over_cap {
        // Free the slot at once.
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    let status = resp.status().as_u16();
    let bytes = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        // Streamed bodies (SizedStream) carry their length in the body, not a header.
        .or(match actix_web::body::MessageBody::size(resp.body()) {
            actix_web::body::BodySize::Sized(n) => Some(n),
            _ => None,
        })
        .unwrap_or(0);
    let bytes_in = req
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
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

/// How long SIGTERM/SIGINT wait for requests in flight before the process exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Starts the HTTP server on the configured address and serves until stopped.
pub async fn serve(state: web::Data<AppState>) -> std::io::Result<()> {
    let snap = state.snapshot();
    let proxy = &snap.config.proxy;
    let idle = Duration::from_secs(proxy.idle_timeout.max(1));
    let cap = connections::effective_cap(proxy.max_connections, connections::raise_fd_limit());
    state.connections.set_cap(cap);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_worker = (cap + connections::HEALTH_RESERVE).div_ceil(workers);
    let data = state.clone();
    let counted = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(dispatch))
    })
    .workers(workers)
    .max_connections(per_worker)
    .on_connect(move |conn, ext| {
        set_nodelay(conn, ext);
        ext.insert(counted.connections.enter());
    })
    .keep_alive(idle)
    .client_request_timeout(idle.min(Duration::from_secs(30)))
    .client_disconnect_timeout(Duration::from_secs(5))
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs());
    if !proxy.address.is_empty() {
        server = server.bind(listen_addr(&proxy.address))?;
    }
    if !proxy.https_address.is_empty() {
        let config_path = state.sources.config_path.display().to_string();
        let (acceptor, reloader) = crate::tls::TlsReloader::new(&proxy.cert_file, &proxy.key_file)
            .map_err(|e| std::io::Error::other(format!("config {config_path}: {e}")))?;
        server = server.bind_openssl(listen_addr(&proxy.https_address), acceptor)?;
        state.on_reload("tls", Box::new(move |st| reload_tls(st, &reloader)));
    }
    for addr in server.addrs_with_scheme() {
        log::info!("listening on {}://{}", addr.1, addr.0);
    }
    log::info!(
        "connections: {cap} served in full (proxy.max-connections), {} more for health checks",
        per_worker * workers - cap
    );
    // The S3 API (docs/s3.md) on its own listener; both stop together.
    match crate::s3::server(&state)? {
        Some(s3) => futures_util::future::try_join(server.run(), s3)
            .await
            .map(|_| ()),
        None => server.run().await,
    }
}

/// Turns Nagle's algorithm off on every accepted connection, plain or TLS.
/// A reply leaves in several writes (head, then body chunks as the store
/// yields them); with Nagle on, a write after the first waits for the
/// client's delayed ACK, 40 ms on every keep-alive request.
pub(crate) fn set_nodelay(conn: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    use actix_web::rt::net::TcpStream;
    let tcp = conn.downcast_ref::<TcpStream>().or_else(|| {
        conn.downcast_ref::<actix_tls::accept::openssl::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref())
    });
    match tcp.map(|t| t.set_nodelay(true)) {
        Some(Ok(())) => {}
        Some(Err(e)) => log::warn!("TCP_NODELAY on an accepted connection: {e}"),
        None => log::warn!("TCP_NODELAY: unexpected connection type"),
    }
}

/// SIGHUP: re-reads the certificate and key named by the current config;
/// a bad pair keeps the previous one.
pub(crate) fn reload_tls(state: &AppState, reloader: &crate::tls::TlsReloader) {
    let snap = state.snapshot();
    let p = &snap.config.proxy;
    match reloader.reload(&p.cert_file, &p.key_file) {
        Ok(()) => log::info!("tls: reloaded certificate {}", p.cert_file),
        Err(e) => state
            .reload
            .fail(&format!("tls: {e}; keeping the previous certificate")),
    }
}

/// Go accepts `:9090` for every address; so do we.
pub fn listen_addr(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    }
}
