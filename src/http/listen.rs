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
use std::os::fd::AsFd;

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
    /// How its connections count against `proxy.max-connections`.
    pub budget: Budget,
}

/// How a listener's connections count against the one connection budget
/// (`proxy.max-connections`, see [`connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The REST API: up to the cap plus the health-check reserve (it
    /// answers only health checks above the cap); always bound.
    HealthReserve,
    /// Another API: up to the cap.
    Cap,
}

/// Connections a worker may accept past its share of the budget: they are
/// shut at once, which keeps the backlog moving, but they hold a
/// descriptor for a moment.
const ACCEPT_SLACK: usize = 64;

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
        if self.address.is_empty() && self.https_address.is_empty() && self.budget == Budget::Cap {
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
        let cap = connections::effective_cap(proxy.max_connections, connections::raise_fd_limit());
        state.connections.set_cap(cap);
        let limit = match self.budget {
            Budget::HealthReserve => cap + connections::HEALTH_RESERVE,
            Budget::Cap => cap,
        };
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per_worker = (limit + ACCEPT_SLACK).div_ceil(workers);
        let counted = state.clone();
        let budget = self.budget;
        server = server
            .workers(workers)
            .max_connections(per_worker)
            .on_connect(move |conn, ext| {
                set_nodelay(conn, ext);
                let guard = counted.connections.enter();
                if let Some(tcp) = tcp_of(conn) {
                    let open = counted.connections.open();
                    if open > limit {
                        log::debug!("connection over the budget ({open} open): shut");
                        crate::sys::shutdown_socket(tcp.as_fd());
                    } else if budget == Budget::HealthReserve && open > cap {
                        watch_reserved(tcp, &guard);
                    }
                }
                ext.insert(guard);
            });
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
        match self.budget {
            Budget::HealthReserve => log::info!(
                "connections: {cap} served in full (proxy.max-connections), {} more for health checks",
                connections::HEALTH_RESERVE
            ),
            Budget::Cap => log::info!(
                "{}connections count against the same proxy.max-connections {cap}",
                self.log_prefix
            ),
        }
        Ok(Some((server.run(), tls)))
    }
}

/// Turns Nagle's algorithm off on every accepted connection, plain or TLS.
/// A reply leaves in several writes (head, then body chunks as the store
/// yields them); with Nagle on, a write after the first waits for the
/// client's delayed ACK, 40 ms on every keep-alive request.
pub fn set_nodelay(conn: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    match tcp_of(conn).map(|t| t.set_nodelay(true)) {
        Some(Ok(())) => {}
        Some(Err(e)) => log::warn!("TCP_NODELAY on an accepted connection: {e}"),
        None => log::warn!("TCP_NODELAY: unexpected connection type"),
    }
}

/// The TCP socket under an accepted connection, plain or TLS.
fn tcp_of(conn: &dyn std::any::Any) -> Option<&actix_web::rt::net::TcpStream> {
    use actix_web::rt::net::TcpStream;
    conn.downcast_ref::<TcpStream>().or_else(|| {
        conn.downcast_ref::<actix_tls::accept::openssl::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref())
    })
}

/// A connection accepted into the health-check reserve is shut if no
/// request arrived on it within [`connections::RESERVE_FIRST_REQUEST`].
/// The watch holds a duplicate of the descriptor, so it can never shut a
/// later connection that reused the number.
fn watch_reserved(tcp: &actix_web::rt::net::TcpStream, guard: &connections::ConnectionGuard) {
    let Ok(fd) = tcp.as_fd().try_clone_to_owned() else {
        return;
    };
    let served = guard.served();
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(connections::RESERVE_FIRST_REQUEST).await;
        if !served.load(std::sync::atomic::Ordering::Relaxed) {
            log::debug!("a reserved connection sent no request: shut");
            crate::sys::shutdown_socket(fd.as_fd());
        }
    });
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
