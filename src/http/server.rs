//! Server bootstrap: listeners (plain and TLS, with the SIGHUP certificate
//! reload), TCP_NODELAY on every connection and the connection cap.

use std::time::Duration;

use actix_web::{web, App, HttpServer};

use super::router::dispatch;
use crate::connections;
use crate::state::AppState;
use crate::tls::TlsReloader;

/// How long SIGTERM/SIGINT wait for requests in flight before the process exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The bound listeners and the certificates their TLS listeners re-read on
/// SIGHUP.
pub struct Listeners {
    servers: Vec<actix_web::dev::Server>,
    /// One per TLS listener, named for the reload log line.
    pub tls: Vec<(&'static str, TlsReloader)>,
}

impl Listeners {
    /// Adds another listener (the S3 API's) and its certificate reloader.
    pub fn add(
        &mut self,
        server: actix_web::dev::Server,
        tls: Option<(&'static str, TlsReloader)>,
    ) {
        self.servers.push(server);
        self.tls.extend(tls);
    }

    /// Serves until stopped; the listeners stop together.
    pub async fn run(self) -> std::io::Result<()> {
        futures_util::future::try_join_all(self.servers)
            .await
            .map(|_| ())
    }
}

/// Binds the REST listeners (`proxy.address`, `proxy.https-address`).
/// Call it inside the actix system.
pub fn bind(state: &web::Data<AppState>) -> std::io::Result<Listeners> {
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
    let mut tls = Vec::new();
    if !proxy.https_address.is_empty() {
        let config_path = state.sources().config_path.display().to_string();
        let (acceptor, reloader) = TlsReloader::new(&proxy.cert_file, &proxy.key_file)
            .map_err(|e| std::io::Error::other(format!("config {config_path}: {e}")))?;
        server = server.bind_openssl(listen_addr(&proxy.https_address), acceptor)?;
        tls.push(("tls", reloader));
    }
    for addr in server.addrs_with_scheme() {
        log::info!("listening on {}://{}", addr.1, addr.0);
    }
    log::info!(
        "connections: {cap} served in full (proxy.max-connections), {} more for health checks",
        per_worker * workers - cap
    );
    Ok(Listeners {
        servers: vec![server.run()],
        tls,
    })
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
pub fn reload_tls(state: &AppState, reloader: &TlsReloader) {
    let snap = state.snapshot();
    let p = &snap.config.proxy;
    match reloader.reload(&p.cert_file, &p.key_file) {
        Ok(()) => log::info!("tls: reloaded certificate {}", p.cert_file),
        Err(e) => state
            .reload
            .status
            .fail(&format_args!("tls: {e}; keeping the previous certificate")),
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
