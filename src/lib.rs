//! Backrunner-compatible HTTP proxy for the Elliptics distributed object store.
//!
//! Layers: [`http`] (actix-web handlers) over the proxy core ([`bucket`],
//! [`auth`], [`stats`]) over the [`storage::Storage`] trait.

pub mod auth;
pub mod bucket;
pub mod cli;
pub mod config;
pub mod encoding;
pub mod http;
pub mod limits;
pub mod logging;
pub mod memory;
pub mod placement;
pub mod redirect_sign;
pub mod reload;
pub mod state;
pub mod stats;
pub mod storage;
pub mod tls;

/// Build facts shown by `/proxy_stat/`.
pub mod build_info {
    /// Crate version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// Git commit the binary was built from.
    pub const COMMIT: &str = env!("BACKRUNNER_COMMIT");
    /// Build date (UTC).
    pub const DATE: &str = env!("BACKRUNNER_BUILD_DATE");
}
