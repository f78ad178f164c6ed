//! Backrunner's REST API (`proxy.address`, `proxy.https-address`):
//! [`server`] binds its listeners, [`router`] sends every request to its
//! handler and finishes the reply (errors to replies, `proxy.headers`,
//! statistics, the access line), [`request::Req`] is the context every
//! handler gets; one file per operation beside them, one error type
//! ([`error`]). The HTTP mechanics it shares with the other APIs are in
//! [`crate::http`].

pub mod config_update;
pub mod delete;
pub mod endpoint;
pub mod error;
pub mod files;
pub mod get;
pub mod lookup;
pub mod metrics;
pub mod redirect;
pub mod reply;
pub mod request;
pub mod router;
pub mod server;
pub mod stat;
pub mod upload;

pub use request::{blocking, parse_u64, Req};
pub use server::bind;
