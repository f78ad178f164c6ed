//! Backrunner-compatible HTTP proxy for the Elliptics distributed object store.
//!
//! Layers: the APIs, [`rest`] (Backrunner's routes) and [`s3`], side by
//! side over the HTTP mechanics they share ([`http`]) and the proxy core ([`core`] for
//! the object path, [`bucket`], [`auth`], [`cluster`], [`stats`]) over the
//! [`storage::Storage`] trait.
//!
//! Locks: every lock is a `parking_lot` one, which does not poison. A panic
//! while a lock is held (none is expected: each critical section is a
//! lookup, an insert or a swap of a whole value) leaves the data as the
//! holder left it, and the next caller uses it; nothing answers "empty"
//! because a lock was poisoned.

pub mod auth;
pub mod bucket;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod connections;
pub mod core;
pub mod encoding;
pub mod history;
pub mod http;
pub mod index;
pub mod limits;
pub mod logging;
pub mod media;
pub mod memory;
pub mod progress;
pub mod redirect_sign;
pub mod reload;
pub mod rest;
pub mod runtime;
pub mod s3;
pub mod state;
pub mod stats;
pub mod status;
pub mod storage;
pub mod sys;
#[cfg(test)]
mod test_support;
pub mod time;
pub mod tls;
pub mod vod;

/// Build facts shown by `/proxy_stat/`.
pub mod build_info {
    /// Crate version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// Git commit the binary was built from.
    pub const COMMIT: &str = env!("BACKRUNNER_COMMIT");
    /// Build date (UTC), as Backrunner's Makefile writes it: `2026-12-01/09:00:00/+0000`.
    pub const DATE: &str = env!("BACKRUNNER_BUILD_DATE");
    /// Commit of the Elliptics binding compiled in (Backrunner's
    /// `EllipticsGoLastCommit`): the binding lives in this repository
    /// (`elliptics-sys`, `storage::elliptics`), so it is [`COMMIT`]; empty
    /// in a build without Elliptics support.
    #[cfg(feature = "elliptics")]
    pub const ELLIPTICS_BINDING_COMMIT: &str = COMMIT;
    /// Commit of the Elliptics binding compiled in: none in this build.
    #[cfg(not(feature = "elliptics"))]
    pub const ELLIPTICS_BINDING_COMMIT: &str = "";
}
