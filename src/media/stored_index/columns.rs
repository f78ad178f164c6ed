//! A run of consecutive samples of one track stored by column, each as
//! small as its usual values let it be: sizes; decode durations as runs;
//! composition offsets in units of their greatest common divisor (none
//! when all are 0); the gaps between sync samples (none when every sample
//! is one); chunks (runs of samples each starting where the previous one
//! ends) as their sample counts and the gap before each. Decode times are
//! the first sample's plus the durations' running sum, as in `stts`. For
//! a file ffmpeg makes (a chunk per video frame) that is 6 to 7 bytes a
//! sample.

use serde::{Deserialize, Serialize};

use crate::media::mp4::Sample;

/// Samples `[first, first + n)` of a track, by column.
#[derive(Serialize, Deserialize)]
pub struct Columns {
    /// Decode time of the first sample.
    dts: u64,
    sizes: Vec<u32>,
    /// Samples in each run of equal decode durations, and its duration.
    run_samples: Vec<u32>,
    run_durations: Vec<u32>,
    /// Composition offsets in units of `cto_unit`, one per sample; none
    /// when all are 0.
    cto_unit: u32,
    ctos: Vec<i32>,
    /// Each sync sample's index less the previous one's (the first: its
    /// index in the run); `None` when every sample is one.
    sync_gaps: Option<Vec<u32>>,
    /// Samples in each chunk, and the bytes between its start and the
    /// previous chunk's end (the first: its offset in the file).
    chunk_samples: Vec<u32>,
    chunk_gaps: Vec<i64>,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The columns of `s`.
pub fn encode(s: &[Sample]) -> Columns {
    let (mut run_samples, mut run_durations) = (Vec::<u32>::new(), Vec::new());
    let (mut chunk_samples, mut chunk_gaps) = (Vec::<u32>::new(), Vec::new());
    let mut end: Option<u64> = None;
    for x in s {
        match (run_samples.last_mut(), run_durations.last()) {
            (Some(n), Some(&d)) if d == x.duration => *n += 1,
            _ => {
                run_samples.push(1);
                run_durations.push(x.duration);
            }
        }
        match (chunk_samples.last_mut(), end) {
            (Some(n), Some(e)) if e == x.offset => *n += 1,
            _ => {
                chunk_samples.push(1);
                chunk_gaps.push(x.offset as i64 - end.unwrap_or(0) as i64);
            }
        }
        end = Some(x.offset + u64::from(x.size));
    }
    let cto_unit = s.iter().fold(0, |g, x| gcd(g, x.cto.unsigned_abs()));
    let mut last_sync = 0;
    Columns {
        dts: s.first().map_or(0, |x| x.dts),
        sizes: s.iter().map(|x| x.size).collect(),
        run_samples,
        run_durations,
        cto_unit,
        ctos: if cto_unit == 0 {
            Vec::new()
        } else {
            s.iter().map(|x| x.cto / cto_unit as i32).collect()
        },
        sync_gaps: (!s.iter().all(|x| x.sync)).then(|| {
            (0..s.len() as u32)
                .filter(|&i| s[i as usize].sync)
                .map(|i| i - std::mem::replace(&mut last_sync, i))
                .collect()
        }),
        chunk_samples,
        chunk_gaps,
    }
}

/// Expands `counts[i]` copies of `values[i]`, if the counts sum to `n`.
fn runs<T: Copy>(counts: &[u32], values: &[T], n: usize) -> Option<Vec<(T, bool)>> {
    if counts.len() != values.len()
        || counts.contains(&0)
        || counts.iter().map(|&c| c as u64).sum::<u64>() != n as u64
    {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for (&c, &v) in counts.iter().zip(values) {
        out.extend((0..c).map(|i| (v, i == 0)));
    }
    Some(out)
}

/// The samples of `c`, if they are consistent and all lie within a file
/// of `file_size` bytes; `None` for anything else.
pub fn decode(c: &Columns, file_size: u64) -> Option<Vec<Sample>> {
    let n = c.sizes.len();
    let durations = runs(&c.run_samples, &c.run_durations, n)?;
    // (gap, whether the sample starts a chunk)
    let chunks = runs(&c.chunk_samples, &c.chunk_gaps, n)?;
    if !(c.ctos.is_empty() || c.ctos.len() == n) {
        return None;
    }
    let mut sync = vec![c.sync_gaps.is_none(); n];
    let mut at = 0u64;
    for (k, &g) in c.sync_gaps.iter().flatten().enumerate() {
        if k > 0 && g == 0 {
            return None;
        }
        at = at.checked_add(u64::from(g))?;
        *sync.get_mut(usize::try_from(at).ok()?)? = true;
    }
    let mut samples = Vec::with_capacity(n);
    let (mut dts, mut end) = (c.dts, 0u64);
    for i in 0..n {
        let (gap, starts) = chunks[i];
        let offset = if starts {
            u64::try_from(i128::from(end) + i128::from(gap)).ok()?
        } else {
            end
        };
        let size = c.sizes[i];
        end = offset.checked_add(u64::from(size))?;
        if end > file_size {
            return None;
        }
        let cto = match c.ctos.get(i) {
            Some(&x) => x.checked_mul(i32::try_from(c.cto_unit).ok()?)?,
            None => 0,
        };
        let duration = durations[i].0;
        samples.push(Sample {
            offset,
            dts,
            size,
            duration,
            cto,
            sync: sync[i],
        });
        dts = dts.checked_add(u64::from(duration))?;
    }
    Some(samples)
}
