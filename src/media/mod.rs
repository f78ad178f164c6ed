//! Video on demand (issue 27): HLS and DASH packaged on the fly from one
//! stored MP4 per rendition. This layer holds what is independent of HTTP:
//! [`mp4`] reads a file's `moov` into a compact per-track sample index,
//! [`segment`] cuts the index into segments that start on video sync
//! samples, [`fmp4`] writes CMAF init and media segments whose samples
//! are the source's bytes, [`playlist`] the HLS playlists and [`dash`]
//! the DASH manifest over the same segments; [`source`] reads a title
//! through the core object path, its index from [`index_cache`] (memory)
//! or [`stored_index`] (the cluster) when either has it, each used only
//! for the object it was made from ([`identity`]).

pub mod dash;
pub mod fmp4;
pub mod identity;
pub mod index_cache;
pub mod mp4;
pub mod playlist;
pub mod segment;
pub mod source;
pub mod stored_index;
