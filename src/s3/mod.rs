//! The S3-compatible API on its own listener (`proxy.s3-address`), over the
//! same buckets and objects as Backrunner's routes. A request's target
//! (bucket, key) is parsed in [`target`], its operation in [`op`]; it is
//! authenticated in [`auth`] (Signature V4 against the ACL users, checked
//! in [`sigv4`] and [`access`]) and served by [`server`]'s dispatcher.
//! Operations live in [`bucket`], [`object`], [`copy`], [`multipart`] and
//! [`upload_lists`]; errors in [`error`].

pub mod access;
pub mod acl;
pub mod admin_bucket;
pub mod attributes;
mod auth;
pub mod body;
pub mod bucket;
pub mod bucket_admin;
pub mod bucket_name;
pub mod checksum;
pub mod chunked;
pub mod chunksig;
pub mod cluster_doc;
pub mod complete_retry;
pub mod copy;
pub mod cors;
pub mod delete_objects;
pub mod digest;
pub mod error;
pub mod list;
pub mod list_versions;
pub mod long_reply;
pub mod meta;
pub mod mpu_checksum;
pub mod multipart;
pub mod object;
pub mod op;
pub mod parts;
pub mod presign;
pub mod request;
mod server;
pub mod sigv2;
pub mod sigv4;
pub mod spool;
pub mod tagging;
pub mod tagging_ops;
pub mod target;
pub mod upload_lists;
pub mod versioning;
pub mod write_conditions;
pub mod xml;
pub mod xml_body;

pub use op::{parse_op, Op};
pub use request::S3Req;
pub use server::server;
pub use target::{parse_target, Target};
