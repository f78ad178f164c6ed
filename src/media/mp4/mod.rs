//! The MP4 reader: finds the `moov` of a stored file with a few bounded
//! reads ([`locate`]) and parses it ([`parse_moov`]) into a [`Movie`], a
//! compact per-track sample index (offset, size, decode time, composition
//! offset, sync flag per sample) plus what the playlists and the init
//! segments need (codec, its `stsd` entry verbatim, timescale, edit list).
//!
//! Hand-written rather than a crate: the crates.io MP4 readers (`mp4`,
//! `mp4-atom`, `re_mp4`) decode every box of the file into owned structs
//! through `Read + Seek` over the whole file, where this needs only the
//! `moov`'s sample tables, read from a byte slice the caller fetched with
//! bounded reads, and turned straight into the index (see Cargo.toml).

pub mod boxes;
mod codec;
mod error;
mod locate;
mod moov;
mod movie;
mod tables;

pub use codec::{dolby_channel_mask, Codec, Kind};
pub use error::Mp4Error;
pub use locate::{locate, LocateError, MAX_MOOV};
pub use moov::parse_moov;
pub use movie::{track_index_bytes, Movie, Sample, Track, OFFSET_SECS};

#[cfg(test)]
pub(crate) mod tests;
