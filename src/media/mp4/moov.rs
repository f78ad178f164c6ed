//! Parsing a `moov` payload ([`parse_moov`]) into a [`Movie`]: the
//! audio and video tracks, their codecs, sample tables and edit lists.

use super::boxes::{children, find, need, Cursor};
use super::codec::{self, Kind};
use super::error::Mp4Error;
use super::movie::{Movie, Track, OFFSET_SECS};
use super::tables;

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
    if shift < -i64::from(OFFSET_SECS) * i64::from(media_scale) {
        return Err(Mp4Error::Unsupported(
            "an edit list starting over 10 s into the media".into(),
        ));
    }
    Ok(shift)
}
