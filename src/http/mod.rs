//! HTTP mechanics every API shares and none owns: listeners (plain, TLS,
//! the connection cap) in [`listen`], RFC 9110 ranges ([`range`]) and
//! conditional requests ([`conditional`]), request bodies read under
//! deadlines ([`body`]), `multipart/byteranges` replies ([`multipart`]),
//! CORS from a config list of rules ([`cors`]),
//! header and size limits ([`message`]) and Content-Types of keys
//! ([`content_type`]). It imports no API module (`rest`, `s3`,
//! `vod`): the APIs sit beside each other on top of it, and what two of
//! them need moves down here or into the core (`tests/it/structure.rs`).

pub mod body;
pub mod conditional;
pub mod content_type;
pub mod cors;
pub mod listen;
pub mod message;
pub mod multipart;
pub mod range;

pub use listen::{listen_addr, reload_tls, set_nodelay, Listener, Listeners, SHUTDOWN_GRACE};
pub use message::MAX_HEADER_BYTES;
