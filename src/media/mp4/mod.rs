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
mod locate;
mod tables;

pub use codec::Codec;
pub use locate::{locate, LocateError, MAX_MOOV};

use boxes::{children, find, need, Cursor, FourCc};

/// Why a file cannot be packaged: every variant is the file's fault (a
/// 4xx), with a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Error {
    /// Not an ISO BMFF file at all.
    #[error("not an MP4 file: {0}")]
    NotMp4(&'static str),
    /// A box or the file ends before its content does.
    #[error("truncated MP4: {0}")]
    Truncated(&'static str),
    /// A required box is absent.
    #[error("MP4 without a {} box", String::from_utf8_lossy(.0))]
    Missing(FourCc),
    /// A codec or box this packager does not handle.
    #[error("unsupported MP4: {0}")]
    Unsupported(String),
    /// A table or value that cannot be right.
    #[error("invalid MP4: {0}")]
    Invalid(&'static str),
}

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `vide` track.
    Video,
    /// A `soun` track.
    Audio,
}

/// One sample of a track, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Byte offset in the file.
    pub offset: u64,
    /// Decode time, in the track's timescale, from the file's first sample.
    pub dts: u64,
    /// Bytes.
    pub size: u32,
    /// Decode duration, in the track's timescale.
    pub duration: u32,
    /// Composition offset (`ctts`), signed as ffmpeg reads it.
    pub cto: i32,
    /// A sync sample (`stss`, or every sample without one).
    pub sync: bool,
}

impl Sample {
    /// Presentation time before the edit list: `dts + cto`.
    pub fn cts(&self) -> i64 {
        self.dts as i64 + i64::from(self.cto)
    }
}

/// One audio or video track and its sample index.
#[derive(Debug, Clone)]
pub struct Track {
    /// `tkhd` track id.
    pub id: u32,
    /// Audio or video.
    pub kind: Kind,
    /// The codec and its parameters.
    pub codec: Codec,
    /// The `stsd` sample entry box, header included, byte for byte.
    pub sample_entry: Vec<u8>,
    /// `mdhd` timescale (ticks per second).
    pub timescale: u32,
    /// What the edit list adds to `cts` to get the presentation time, in
    /// the track's timescale (an initial empty edit minus the first
    /// edit's media time, as ffmpeg's MOV demuxer applies it).
    pub shift: i64,
    /// The samples in decode order.
    pub samples: Vec<Sample>,
}

impl Track {
    /// Presentation time of sample `i` in the track's timescale.
    pub fn pts(&self, i: usize) -> i64 {
        self.samples[i].cts() + self.shift
    }

    /// Decode duration of the whole track in its timescale.
    pub fn duration(&self) -> u64 {
        self.samples
            .last()
            .map_or(0, |s| s.dts + u64::from(s.duration))
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.duration() as f64 / f64::from(self.timescale)
    }
}

/// A parsed `moov`: its audio and video tracks.
#[derive(Debug, Clone)]
pub struct Movie {
    /// `mvhd` timescale.
    pub timescale: u32,
    /// The audio and video tracks, in file order (others are skipped).
    pub tracks: Vec<Track>,
}

impl Movie {
    /// The first track of a kind.
    pub fn track(&self, kind: Kind) -> Option<&Track> {
        self.tracks.iter().find(|t| t.kind == kind)
    }

    /// Bytes the index holds (for the cache's bound).
    pub fn index_bytes(&self) -> usize {
        self.tracks
            .iter()
            .map(|t| t.samples.len() * std::mem::size_of::<Sample>() + t.sample_entry.len())
            .sum()
    }
}

/// Parses the payload of a `moov` box; `file_size` bounds the sample ranges
/// (a sample past the end means the file is truncated).
pub fn parse_moov(moov: &[u8], file_size: u64) -> Result<Movie, Mp4Error> {
    let mut c = Cursor::new(need(moov, b"mvhd")?);
    let (v, _) = c.version_flags()?;
    c.skip(if v == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    if timescale == 0 {
        return Err(Mp4Error::Invalid("movie timescale 0"));
    }
    let mut tracks = Vec::new();
    for child in children(moov) {
        let (kind, trak) = child?;
        if &kind == b"trak" {
            if let Some(t) = parse_trak(trak, timescale, file_size)? {
                tracks.push(t);
            }
        }
    }
    if tracks.is_empty() {
        return Err(Mp4Error::Unsupported("no audio or video track".into()));
    }
    Ok(Movie { timescale, tracks })
}

fn parse_trak(trak: &[u8], movie_scale: u32, file_size: u64) -> Result<Option<Track>, Mp4Error> {
    let mdia = need(trak, b"mdia")?;
    let mut h = Cursor::new(need(mdia, b"hdlr")?);
    h.version_flags()?;
    h.skip(4)?;
    let kind = match h.take(4)? {
        b"vide" => Kind::Video,
        b"soun" => Kind::Audio,
        _ => return Ok(None),
    };
    let mut c = Cursor::new(need(trak, b"tkhd")?);
    let (v, _) = c.version_flags()?;
    c.skip(if v == 1 { 16 } else { 8 })?;
    let id = c.u32()?;
    let mut c = Cursor::new(need(mdia, b"mdhd")?);
    let (v, _) = c.version_flags()?;
    c.skip(if v == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    if timescale == 0 {
        return Err(Mp4Error::Invalid("track timescale 0"));
    }
    let stbl = need(need(mdia, b"minf")?, b"stbl")?;
    let (codec, sample_entry) = codec::parse_stsd(need(stbl, b"stsd")?, kind)?;
    let samples = tables::samples(stbl, file_size)?;
    let shift = match find(trak, b"edts")? {
        Some(edts) => edit_shift(edts, movie_scale, timescale)?,
        None => 0,
    };
    Ok(Some(Track {
        id,
        kind,
        codec,
        sample_entry,
        timescale,
        shift,
        samples,
    }))
}

/// The presentation shift of an edit list: an initial empty edit delays
/// the track (converted from the movie's timescale), the first media edit
/// starts presentation at its media time. More than one media edit is
/// refused (ffmpeg's handling of those drops and repeats samples).
fn edit_shift(edts: &[u8], movie_scale: u32, media_scale: u32) -> Result<i64, Mp4Error> {
    let Some(elst) = find(edts, b"elst")? else {
        return Ok(0);
    };
    let mut c = Cursor::new(elst);
    let (v, _) = c.version_flags()?;
    let n = c.u32()?;
    let mut delay: i64 = 0;
    let mut start: Option<i64> = None;
    for _ in 0..n {
        let (dur, media_time) = if v == 1 {
            (c.u64()?, c.u64()? as i64)
        } else {
            (u64::from(c.u32()?), i64::from(c.u32()? as i32))
        };
        c.skip(4)?;
        if media_time == -1 {
            if start.is_some() {
                return Err(Mp4Error::Unsupported(
                    "an empty edit after a media edit".into(),
                ));
            }
            let d = i128::from(dur) * i128::from(media_scale) / i128::from(movie_scale);
            delay = delay.saturating_add(i64::try_from(d).map_err(|_| Mp4Error::Invalid("edit"))?);
        } else if start.is_some() {
            return Err(Mp4Error::Unsupported(
                "an edit list with more than one media edit".into(),
            ));
        } else {
            if media_time < 0 {
                return Err(Mp4Error::Invalid("negative edit media time"));
            }
            start = Some(media_time);
        }
    }
    let shift = delay - start.unwrap_or(0);
    // the packager's fixed offset must keep every decode time positive
    if shift < -i64::from(crate::media::fmp4::OFFSET_SECS) * i64::from(media_scale) {
        return Err(Mp4Error::Unsupported(
            "an edit list starting over 10 s into the media".into(),
        ));
    }
    Ok(shift)
}

#[cfg(test)]
pub(crate) mod tests;
