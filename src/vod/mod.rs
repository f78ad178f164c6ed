//! The video-on-demand API (issue 27, docs/vod.md) on its own listeners
//! (`proxy.vod-address`, `proxy.vod-https-address`): HLS under `/hls/`
//! and DASH under `/dash/`, packaged on the fly by [`crate::media`] from
//! the stored MP4s. A sibling of `rest` and `s3` over the core and the
//! shared HTTP mechanics of [`crate::http`], importing neither:
//! [`server`] binds and dispatches, [`path`] parses what a URL names,
//! [`serve`] answers it, [`request`] holds the read ACL and session, one
//! error type ([`error`]).

pub mod error;
pub mod path;
pub mod request;
pub mod serve;
pub mod server;

pub use server::server;
