//! Who sent a request and whether its bytes are the ones signed: Signature
//! V4 in the Authorization header ([`sigv4`]) or the query ([`presign`])
//! against the ACL users ([`access`]), chosen in [`auth`]; aws-chunked body
//! framing ([`chunked`]) and its chunk signature chain ([`chunksig`]); the
//! payload digests ([`digest`]) and S3's checksum algorithms ([`checksum`])
//! a body is checked against as it streams; which headers a signature
//! covers ([`coverage`]).

pub mod access;
pub(super) mod auth;
pub mod checksum;
pub mod chunked;
pub mod chunksig;
pub mod coverage;
pub mod digest;
pub mod presign;
pub mod sigv2;
pub mod sigv4;
