//! The sample tables of one `stbl` (stts, ctts, stss, stsc, stsz,
//! stco/co64) turned into the per-sample index. Entry counts are checked
//! against the bytes present before anything is allocated for them.

use super::boxes::{find, need, Cursor};
use super::error::Mp4Error;
use super::movie::Sample;

/// Most samples one track may have (a day of 60 fps video, or 48 kHz AAC
/// for over 4 days): the index of a longer track would not be compact.
pub const MAX_SAMPLES: usize = 20_000_000;

/// A full box's entry table: its count, checked against the bytes left.
fn table<'a>(payload: &'a [u8], entry: usize) -> Result<(Cursor<'a>, usize), Mp4Error> {
    let mut c = Cursor::new(payload);
    c.version_flags()?;
    let n = c.u32()? as usize;
    if n.checked_mul(entry).map_or(true, |b| b > c.remaining()) {
        return Err(Mp4Error::Truncated(
            "sample table shorter than its entry count",
        ));
    }
    Ok((c, n))
}

/// Builds the sample index of `stbl`; every sample must lie inside the file.
pub fn samples(stbl: &[u8], file_size: u64) -> Result<Vec<Sample>, Mp4Error> {
    let stsz = find(stbl, b"stsz")?.ok_or_else(|| {
        if matches!(find(stbl, b"stz2"), Ok(Some(_))) {
            Mp4Error::Unsupported("compact sample sizes (stz2)".into())
        } else {
            Mp4Error::Missing(*b"stsz")
        }
    })?;
    let mut c = Cursor::new(stsz);
    c.version_flags()?;
    let fixed = c.u32()?;
    let count = c.u32()? as usize;
    if count > MAX_SAMPLES {
        return Err(Mp4Error::Unsupported(format!("a track of {count} samples")));
    }
    if fixed == 0 && count.saturating_mul(4) > c.remaining() {
        return Err(Mp4Error::Truncated("stsz shorter than its sample count"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let size = if fixed == 0 { c.u32()? } else { fixed };
        out.push(Sample {
            offset: 0,
            dts: 0,
            size,
            duration: 0,
            cto: 0,
            sync: true,
        });
    }
    times(stbl, &mut out)?;
    offsets(stbl, &mut out, file_size)?;
    if let Some(stss) = find(stbl, b"stss")? {
        let (mut c, n) = table(stss, 4)?;
        for s in out.iter_mut() {
            s.sync = false;
        }
        for _ in 0..n {
            let i = c.u32()? as usize;
            if i == 0 || i > count {
                return Err(Mp4Error::Invalid("stss names a sample that does not exist"));
            }
            out[i - 1].sync = true;
        }
    }
    Ok(out)
}

/// Decode times (stts) and composition offsets (ctts).
fn times(stbl: &[u8], out: &mut [Sample]) -> Result<(), Mp4Error> {
    let (mut c, n) = table(need(stbl, b"stts")?, 8)?;
    let mut i = 0usize;
    let mut dts = 0u64;
    for _ in 0..n {
        let run = c.u32()? as usize;
        let delta = c.u32()?;
        for _ in 0..run {
            let Some(s) = out.get_mut(i) else {
                return Err(Mp4Error::Invalid("stts has more samples than stsz"));
            };
            s.dts = dts;
            s.duration = delta;
            dts += u64::from(delta);
            i += 1;
        }
    }
    if i != out.len() {
        return Err(Mp4Error::Invalid("stts has fewer samples than stsz"));
    }
    if let Some(ctts) = find(stbl, b"ctts")? {
        let (mut c, n) = table(ctts, 8)?;
        let mut i = 0usize;
        for _ in 0..n {
            let run = c.u32()? as usize;
            // version 0 is unsigned on paper; ffmpeg reads it signed, as here
            let off = c.u32()? as i32;
            for _ in 0..run {
                let Some(s) = out.get_mut(i) else {
                    return Err(Mp4Error::Invalid("ctts has more samples than stsz"));
                };
                s.cto = off;
                i += 1;
            }
        }
    }
    Ok(())
}

/// File offsets from the chunk offsets (stco/co64) and the sample-to-chunk
/// runs (stsc).
fn offsets(stbl: &[u8], out: &mut [Sample], file_size: u64) -> Result<(), Mp4Error> {
    let chunks: Vec<u64> = if let Some(stco) = find(stbl, b"stco")? {
        let (mut c, n) = table(stco, 4)?;
        (0..n)
            .map(|_| c.u32().map(u64::from))
            .collect::<Result<_, _>>()?
    } else if let Some(co64) = find(stbl, b"co64")? {
        let (mut c, n) = table(co64, 8)?;
        (0..n).map(|_| c.u64()).collect::<Result<_, _>>()?
    } else {
        return Err(Mp4Error::Missing(*b"stco"));
    };
    let (mut c, n) = table(need(stbl, b"stsc")?, 12)?;
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let first = c.u32()?;
        let per = c.u32()?;
        let desc = c.u32()?;
        if desc != 1 {
            return Err(Mp4Error::Unsupported(
                "more than one sample description".into(),
            ));
        }
        if first == 0 || runs.last().is_some_and(|&(f, _)| first <= f) {
            return Err(Mp4Error::Invalid("stsc chunks out of order"));
        }
        runs.push((first, per));
    }
    let mut i = 0usize;
    for (r, &(first, per)) in runs.iter().enumerate() {
        let end = runs
            .get(r + 1)
            .map_or(chunks.len(), |&(f, _)| (f - 1) as usize);
        let from = ((first - 1) as usize).min(chunks.len());
        for &chunk in &chunks[from..end.clamp(from, chunks.len())] {
            let mut at = chunk;
            for _ in 0..per {
                let Some(s) = out.get_mut(i) else {
                    return Err(Mp4Error::Invalid("stsc has more samples than stsz"));
                };
                s.offset = at;
                at = at
                    .checked_add(u64::from(s.size))
                    .ok_or(Mp4Error::Invalid("sample offset"))?;
                if at > file_size {
                    return Err(Mp4Error::Truncated(
                        "a sample lies past the end of the file",
                    ));
                }
                i += 1;
            }
        }
    }
    if i != out.len() {
        return Err(Mp4Error::Invalid("stsc has fewer samples than stsz"));
    }
    Ok(())
}
