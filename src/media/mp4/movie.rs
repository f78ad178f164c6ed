//! The compact index a parsed `moov` becomes: a [`Movie`] of [`Track`]s,
//! each with its [`Sample`]s, and the fixed time offset the packager adds.

use super::codec::{Codec, Kind};

/// Seconds added to every presentation and decode time the packager
/// writes (see `media::fmp4`); an edit list starting later is refused.
pub const OFFSET_SECS: u32 = 10;

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
            .map(|t| track_index_bytes(t.samples.len(), t.sample_entry.len()))
            .sum()
    }
}

/// Bytes a track of `samples` samples and a sample entry of
/// `sample_entry` bytes takes in an index ([`Movie::index_bytes`]).
pub fn track_index_bytes(samples: usize, sample_entry: usize) -> usize {
    samples * std::mem::size_of::<Sample>() + sample_entry
}
