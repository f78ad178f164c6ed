//! The S3-compatible API on its own listener (`proxy.s3-address`), over the
//! same buckets and objects as Backrunner's routes. A request's target
//! (bucket, key) is parsed in [`target`], its operation in [`op`]; it is
//! authenticated in [`auth`] (Signature V4 against the ACL users, checked
//! in [`sigv4`] and [`access`]) and served by [`server`]'s dispatcher.
//! Operations live in [`bucket`] and [`object`]; errors in [`error`].

pub mod access;
mod auth;
pub mod bucket;
pub mod chunked;
pub mod digest;
pub mod error;
pub mod list;
pub mod meta;
pub mod object;
pub mod op;
pub mod request;
mod server;
pub mod sigv4;
pub mod target;
pub mod xml;

pub use op::{parse_op, Op};
pub use request::S3Req;
pub use server::server;
pub use target::{parse_target, Target};
