//! The HTTP layer: [`server`] binds the listeners, [`router`] sends every
//! request to its handler and finishes the reply (errors to replies,
//! `proxy.headers`, statistics, the access line), [`request::Req`] is the
//! context every handler gets; one file per operation beside them.

pub mod body;
pub mod conditional;
pub mod config_update;
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
pub mod vod;

pub use body::read_body;
pub use request::{blocking, parse_u64, Req, MAX_HEADER_BYTES};
pub(crate) use server::set_nodelay;
pub use server::{bind, listen_addr, reload_tls, Listeners, SHUTDOWN_GRACE};
