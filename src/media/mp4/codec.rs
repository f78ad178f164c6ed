//! The sample description (`stsd`): which codec a track uses, its RFC 6381
//! codec string (`avc1.64001f`, `hvc1.1.6.L93.B0`, `mp4a.40.2`, `ac-3`)
//! and the picture or audio parameters the playlists name.

use super::boxes::{children, find, Cursor, FourCc};
use super::error::Mp4Error;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// A `vide` track.
    Video,
    /// A `soun` track.
    Audio,
}

/// A track's codec and parameters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Codec {
    /// H.264 (`avc1`/`avc3`).
    H264 {
        /// RFC 6381 codec string.
        codecs: String,
        /// Picture width.
        width: u16,
        /// Picture height.
        height: u16,
    },
    /// H.265 (`hvc1`/`hev1`).
    H265 {
        /// RFC 6381 codec string.
        codecs: String,
        /// Picture width.
        width: u16,
        /// Picture height.
        height: u16,
    },
    /// AAC, AC-3 or E-AC-3.
    Audio {
        /// RFC 6381 codec string (`mp4a.40.2`, `ac-3`, `ec-3`).
        codecs: String,
        /// Channels.
        channels: u16,
        /// Sample rate in Hz.
        rate: u32,
    },
}

impl Codec {
    /// The RFC 6381 codec string.
    pub fn codecs(&self) -> &str {
        match self {
            Codec::H264 { codecs, .. }
            | Codec::H265 { codecs, .. }
            | Codec::Audio { codecs, .. } => codecs,
        }
    }

    /// Picture size of a video codec.
    pub fn resolution(&self) -> Option<(u16, u16)> {
        match self {
            Codec::H264 { width, height, .. } | Codec::H265 { width, height, .. } => {
                Some((*width, *height))
            }
            Codec::Audio { .. } => None,
        }
    }
}

/// Parses `stsd`: its first entry's codec, and that entry verbatim.
pub fn parse_stsd(stsd: &[u8], kind: Kind) -> Result<(Codec, Vec<u8>), Mp4Error> {
    let mut c = Cursor::new(stsd);
    c.version_flags()?;
    if c.u32()? == 0 {
        return Err(Mp4Error::Invalid("stsd without entries"));
    }
    let rest = &stsd[8..];
    let (fourcc, entry) = children(rest).next().ok_or(Mp4Error::Missing(*b"stsd"))??;
    // the whole entry box, header included, for the init segment
    let whole = &rest[..rest.len() - children_tail(rest)?];
    let codec = match (kind, &fourcc) {
        (Kind::Video, b"avc1" | b"avc3") => video(entry, &fourcc, true)?,
        (Kind::Video, b"hvc1" | b"hev1") => video(entry, &fourcc, false)?,
        (Kind::Audio, b"mp4a") => audio(entry, Aac)?,
        (Kind::Audio, b"ac-3") => audio(entry, Plain("ac-3"))?,
        (Kind::Audio, b"ec-3") => audio(entry, Plain("ec-3"))?,
        _ => {
            return Err(Mp4Error::Unsupported(format!(
                "codec {}",
                String::from_utf8_lossy(&fourcc).trim()
            )))
        }
    };
    Ok((codec, whole.to_vec()))
}

/// Bytes after the first box of `buf`.
fn children_tail(buf: &[u8]) -> Result<usize, Mp4Error> {
    let h = super::boxes::Header::parse(buf)?.ok_or(Mp4Error::Truncated("stsd entry"))?;
    let size = h.size.unwrap_or(buf.len() as u64) as usize;
    Ok(buf.len().saturating_sub(size))
}

/// Bytes of a VisualSampleEntry before its child boxes.
const VISUAL_ENTRY: usize = 78;

fn video(entry: &[u8], fourcc: &FourCc, avc: bool) -> Result<Codec, Mp4Error> {
    let mut c = Cursor::new(entry);
    c.skip(24)?;
    let width = c.u16()?;
    let height = c.u16()?;
    let boxes = entry
        .get(VISUAL_ENTRY..)
        .ok_or(Mp4Error::Truncated("visual sample entry"))?;
    let tag = String::from_utf8_lossy(fourcc).into_owned();
    if avc {
        let mut a = Cursor::new(find(boxes, b"avcC")?.ok_or(Mp4Error::Missing(*b"avcC"))?);
        a.skip(1)?;
        let (p, k, l) = (a.u8()?, a.u8()?, a.u8()?);
        let codecs = format!("{tag}.{p:02x}{k:02x}{l:02x}");
        Ok(Codec::H264 {
            codecs,
            width,
            height,
        })
    } else {
        let codecs = format!(
            "{tag}.{}",
            hevc(find(boxes, b"hvcC")?.ok_or(Mp4Error::Missing(*b"hvcC"))?)?
        );
        Ok(Codec::H265 {
            codecs,
            width,
            height,
        })
    }
}

/// The HEVC part of a codec string (ISO/IEC 14496-15 annex E).
fn hevc(hvcc: &[u8]) -> Result<String, Mp4Error> {
    let mut c = Cursor::new(hvcc);
    c.skip(1)?;
    let b = c.u8()?;
    let space = ["", "A", "B", "C"][usize::from(b >> 6)];
    let tier = if b & 0x20 != 0 { 'H' } else { 'L' };
    let profile = b & 0x1f;
    let compat = c.u32()?.reverse_bits();
    let constraints = c.take(6)?;
    let level = c.u8()?;
    let mut s = format!("{space}{profile}.{compat:x}.{tier}{level}");
    let used = constraints
        .iter()
        .rposition(|&x| x != 0)
        .map_or(0, |i| i + 1);
    for x in &constraints[..used.max(1)] {
        s.push_str(&format!(".{x:X}"));
    }
    Ok(s)
}

/// Which audio codec string to derive.
enum AudioKind {
    Aac,
    Plain(&'static str),
}
use AudioKind::{Aac, Plain};

fn audio(entry: &[u8], kind: AudioKind) -> Result<Codec, Mp4Error> {
    let mut c = Cursor::new(entry);
    c.skip(8)?;
    let version = c.u16()?;
    c.skip(6)?;
    let mut channels = c.u16()?;
    c.skip(6)?;
    let rate = c.u32()? >> 16;
    let extra = match version {
        0 => 0,
        1 => 16,
        2 => 36,
        _ => return Err(Mp4Error::Unsupported("audio sample entry version".into())),
    };
    let boxes = entry
        .get(28 + extra..)
        .ok_or(Mp4Error::Truncated("audio sample entry"))?;
    let codecs = match kind {
        Plain(s) => s.to_string(),
        Aac => {
            let esds = find(boxes, b"esds")?.ok_or(Mp4Error::Missing(*b"esds"))?;
            let (oti, aot, ch) = esds_config(esds)?;
            if oti != 0x40 {
                return Err(Mp4Error::Unsupported(format!(
                    "mp4a object type 0x{oti:02x} (not AAC)"
                )));
            }
            if ch != 0 {
                channels = u16::from(ch);
            }
            format!("mp4a.40.{aot}")
        }
    };
    Ok(Codec::Audio {
        codecs,
        channels,
        rate,
    })
}

/// An MPEG-4 descriptor's tag and body.
fn descriptor<'a>(c: &mut Cursor<'a>) -> Result<(u8, &'a [u8]), Mp4Error> {
    let tag = c.u8()?;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = c.u8()?;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, c.take(len)?))
}

/// From `esds`: object type indication, audio object type, channel config.
fn esds_config(esds: &[u8]) -> Result<(u8, u8, u8), Mp4Error> {
    let mut c = Cursor::new(esds);
    c.version_flags()?;
    let (tag, es) = descriptor(&mut c)?;
    if tag != 3 {
        return Err(Mp4Error::Invalid("esds without an ES descriptor"));
    }
    let mut c = Cursor::new(es);
    c.skip(2)?;
    let flags = c.u8()?;
    if flags & 0x80 != 0 {
        c.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = c.u8()?;
        c.skip(usize::from(n))?;
    }
    if flags & 0x20 != 0 {
        c.skip(2)?;
    }
    let (tag, dc) = descriptor(&mut c)?;
    if tag != 4 {
        return Err(Mp4Error::Invalid("esds without a decoder config"));
    }
    let mut c = Cursor::new(dc);
    let oti = c.u8()?;
    c.skip(12)?;
    if c.remaining() == 0 {
        return Ok((oti, 2, 0));
    }
    let (tag, asc) = descriptor(&mut c)?;
    if tag != 5 || asc.len() < 2 {
        return Ok((oti, 2, 0));
    }
    // AudioSpecificConfig: 5 bits object type (31: 6 more), 4 bits rate
    // index (15: 24 bits of rate), 4 bits channel configuration
    let bits = asc
        .iter()
        .take(8)
        .fold(0u64, |a, &b| (a << 8) | u64::from(b))
        << (8 * (8 - asc.len().min(8)));
    let mut pos = 0u32;
    let mut take = |n: u32| {
        let v = (bits >> (64 - pos - n)) & ((1 << n) - 1);
        pos += n;
        v
    };
    let mut aot = take(5);
    if aot == 31 {
        aot = 32 + take(6);
    }
    if take(4) == 15 {
        take(24);
    }
    let ch = take(4);
    Ok((oti, aot as u8, ch as u8))
}

/// The channels of an AC-3 or E-AC-3 track as the 16-bit mask of Dolby's
/// DASH scheme (`tag:dolby.com,2014:dash:audio_channel_configuration:2011`:
/// from the top bit L, C, R, Ls, Rs, Lc/Rc, Lrs/Rrs, Cs, Ts, Lsd/Rsd,
/// Lw/Rw, Vhl/Vhr, Vhc, Lts/Rts, LFE2, LFE), read from the `dac3` or
/// `dec3` box of its sample entry (`entry`, header included). For E-AC-3,
/// the first independent substream with its dependent substreams'
/// channels. `None` for another codec or a box too short.
pub fn dolby_channel_mask(entry: &[u8]) -> Option<u16> {
    let kind: FourCc = entry.get(4..8)?.try_into().ok()?;
    let payload = entry.get(8..)?;
    let version = u16::from_be_bytes(payload.get(8..10)?.try_into().ok()?);
    let extra = match version {
        0 => 0,
        1 => 16,
        2 => 36,
        _ => return None,
    };
    let boxes = payload.get(28 + extra..)?;
    let mut bits = match &kind {
        b"ac-3" => Bits::new(find(boxes, b"dac3").ok()??),
        b"ec-3" => Bits::new(find(boxes, b"dec3").ok()??),
        _ => return None,
    };
    let (acmod, lfe, chan_loc) = if &kind == b"ac-3" {
        bits.skip(2 + 5 + 3)?;
        (bits.take(3)?, bits.take(1)?, 0)
    } else {
        bits.skip(13 + 3 + 2 + 5 + 1 + 1 + 3)?;
        let (acmod, lfe) = (bits.take(3)?, bits.take(1)?);
        bits.skip(3)?;
        let deps = bits.take(4)?;
        (acmod, lfe, if deps > 0 { bits.take(9)? } else { 0 })
    };
    // acmod: 1+1, C, L R, L C R, L R S, L C R S, L R Ls Rs, L C R Ls Rs.
    const ACMOD: [u16; 8] = [
        0xA000, 0x4000, 0xA000, 0xE000, 0xA100, 0xE100, 0xB800, 0xF800,
    ];
    let mut mask = ACMOD[acmod as usize & 7] | lfe as u16;
    // chan_loc bits 0-7: Lc/Rc .. Vhc (mask bits 10-3); bit 8: LFE2.
    for bit in 0..8 {
        if chan_loc & (1 << bit) != 0 {
            mask |= 1 << (10 - bit);
        }
    }
    if chan_loc & (1 << 8) != 0 {
        mask |= 1 << 1;
    }
    Some(mask)
}

/// Reads big-endian bit fields.
struct Bits<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Bits { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.buf.get(self.pos / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n.min(32)).map(|_| ())?;
        if n > 32 {
            self.skip(n - 32)?;
        }
        Some(())
    }
}
