//! The S3-compatible API on its own listener (`proxy.s3-address`), over the
//! same buckets and objects as Backrunner's routes, in parts:
//!
//! - routing: a request's target (bucket, key) is parsed in [`target`],
//!   its operation in [`op`], and [`server`]'s dispatcher serves it as an
//!   [`S3Req`] ([`request`]); CORS in [`cors`];
//! - [`sign`]: signing and body framing (SigV4 headers and presigned URLs
//!   against the ACL users, aws-chunked bodies, payload digests, checksums);
//! - the operations: [`object`] (Get/Head/Put/Delete, copies, metadata
//!   sidecars, DeleteObjects), [`bucket`] (list, location, create,
//!   delete), [`list`] (ListObjects V1/V2, ListObjectVersions) and
//!   [`multipart`] (uploads, parts, their lists and checksums);
//! - replies: the one error type ([`error`]) and the XML documents ([`xml`]).

pub mod acl;
pub mod admin_bucket;
pub mod bucket;
pub mod cluster_doc;
pub mod cors;
pub mod error;
pub mod list;
pub mod multipart;
pub mod object;
pub mod op;
pub mod request;
mod server;
pub mod sign;
pub mod spool;
pub mod tagging_ops;
pub mod target;
pub mod versioning;
pub mod xml;

pub use op::{parse_op, Op};
pub use request::S3Req;
pub use server::server;
pub use target::{parse_target, Target};
