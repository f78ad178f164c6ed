//! The HTTP layer: [`server`] starts the listeners, [`router`] sends every
//! request to its handler and finishes the reply (errors to replies,
//! `proxy.headers`, statistics, the access line), [`request::Req`] is the
//! context every handler gets; one file per operation beside them.

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
pub mod request;
pub mod router;
pub mod server;
pub mod stat;
pub mod upload;

pub use body::read_body;
pub use request::{blocking, parse_u64, Req, MAX_HEADER_BYTES};
pub use server::{listen_addr, serve, SHUTDOWN_GRACE};
pub(crate) use server::{reload_tls, set_nodelay};
