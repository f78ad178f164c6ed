//! Listeners for every API: plain and TLS binds (the TLS certificate
//! re-read on SIGHUP), TCP_NODELAY on every connection, the idle and
//! shutdown timeouts, and, where asked, the connection cap. An API gives
//! its one dispatcher ([`Listener::bind`]); the listeners it gets back are
//! served together ([`Listeners::run`]).

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpServer};

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
    /// No listener yet.
    pub fn new() -> Listeners {
        Listeners {
            servers: Vec::new(),
            tls: Vec::new(),
        }
    }

    /// Adds another listener and its certificate reloader.
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

impl Default for Listeners {
    fn default() -> Self {
        Listeners::new()
    }
}

/// A bound API: its server and, with an HTTPS address, the name and
/// certificate reloader of its TLS listener.
pub type Bound = (actix_web::dev::Server, Option<(&'static str, TlsReloader)>);

/// One API's listeners: where they bind and how they are set up.
pub struct Listener<'a> {
    /// The plain HTTP address (`:9090` allowed); empty: none.
    pub address: &'a str,
    /// The HTTPS address (the proxy's certificate); empty: none.
    pub https_address: &'a str,
    /// Starts the "listening on" log lines (`""`, `"S3 API "`).
    pub log_prefix: &'static str,
    /// The name of the TLS listener in the certificate reload log line.
    pub tls_name: &'static str,
    /// Counts connections against `proxy.max-connections` (the REST API's
    /// listener, which answers over the cap itself; see `connections`).
    pub counted: bool,
}

impl Listener<'_> {
    /// Binds the listeners, every request going to `dispatch`; `None` when
    /// both addresses are empty. Call it inside the actix system.
    pub fn bind<H>(
        &self,
        state: &web::Data<AppState>,
        dispatch: H,
    ) -> std::io::Result<Option<Bound>>
    where
        H: actix_web::Handler<(HttpRequest, web::Payload, web::Data<AppState>)>
            + Clone
            + Send
            + 'static,
        H::Output: actix_web::Responder + 'static,
    {
        if self.address.is_empty() && self.https_address.is_empty() && !self.counted {
            return Ok(None);
        }
        let snap = state.snapshot();
        let proxy = &snap.config.proxy;
        let idle = Duration::from_secs(proxy.idle_timeout.max(1));
        let data = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(dispatch.clone()))
        });
        let mut capped = None;
        if self.counted {
            let cap =
                connections::effective_cap(proxy.max_connections, connections::raise_fd_limit());
            state.connections.set_cap(cap);
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
            let per_worker = (cap + connections::HEALTH_RESERVE).div_ceil(workers);
            let counted = state.clone();
            server = server
                .workers(workers)
                .max_connections(per_worker)
                .on_connect(move |conn, ext| {
                    set_nodelay(conn, ext);
                    ext.insert(counted.connections.enter());
                });
            capped = Some((cap, per_worker * workers - cap));
        } else {
            server = server.on_connect(set_nodelay);
        }
        server = server
            .keep_alive(idle)
            .client_request_timeout(idle.min(Duration::from_secs(30)))
            .client_disconnect_timeout(Duration::from_secs(5))
            .shutdown_timeout(SHUTDOWN_GRACE.as_secs());
        if !self.address.is_empty() {
            server = server.bind(listen_addr(self.address))?;
        }
        let mut tls = None;
        if !self.https_address.is_empty() {
            let config_path = state.sources().config_path.display().to_string();
            let (acceptor, reloader) = TlsReloader::new(&proxy.cert_file, &proxy.key_file)
                .map_err(|e| std::io::Error::other(format!("config {config_path}: {e}")))?;
            server = server.bind_openssl(listen_addr(self.https_address), acceptor)?;
            tls = Some((self.tls_name, reloader));
        }
        for addr in server.addrs_with_scheme() {
            log::info!("{}listening on {}://{}", self.log_prefix, addr.1, addr.0);
        }
        if let Some((cap, reserve)) = capped {
            log::info!(
                "connections: {cap} served in full (proxy.max-connections), {reserve} more for health checks"
            );
        }
        Ok(Some((server.run(), tls)))
    }
}

/// Turns Nagle's algorithm off on every accepted connection, plain or TLS.
/// A reply leaves in several writes (head, then body chunks as the store
/// yields them); with Nagle on, a write after the first waits for the
/// client's delayed ACK, 40 ms on every keep-alive request.
pub fn set_nodelay(conn: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
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
