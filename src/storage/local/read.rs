//! Reads: every block checked, a bad one served from another group's replica.

use std::sync::Arc;

use bytes::Bytes;

use super::blocks::{Fault, Stored};
use super::group::{Group, CMD_READ};
use super::store::{object_id, LocalStore};
use crate::encoding::hex;
use crate::storage::{Context, GroupId, ObjectReader, ReplicaInfo, StorageError};

/// Opens `key` in the first group of `ctx` that holds it.
pub(super) fn open(
    store: &LocalStore,
    ctx: &Context,
    key: &str,
) -> Result<Box<dyn ObjectReader>, StorageError> {
    let id = object_id(&ctx.namespace, key);
    let mut errors = Vec::new();
    for (i, &gid) in ctx.groups.iter().enumerate() {
        let attempt = store.group(gid).and_then(|g| {
            g.delay();
            let r = g.stat(&id);
            if r.is_err() {
                g.commands.count(CMD_READ, &r, 0);
            }
            let (file, path, header) = r?;
            Ok(LocalReader {
                info: g.replica(&path, &id, &header),
                cur: (g.clone(), Stored { file, path, header }),
                id,
                // Opened only if a block fails: the groups after this one.
                others: ctx.groups[i + 1..]
                    .iter()
                    .filter_map(|&g| store.group(g).ok().map(|g| (g, None)))
                    .collect(),
                corrupt: Vec::new(),
            })
        });
        match attempt {
            Ok(r) => return Ok(Box::new(r)),
            Err(e) => errors.push(e),
        }
    }
    Err(StorageError::pick(&errors))
}

/// An object opened in one group; the groups after it in the context's
/// order stand by for blocks that fail their checksum.
struct LocalReader {
    /// The replica opened first: what the reply describes.
    info: ReplicaInfo,
    /// The replica being read now.
    cur: (Arc<Group>, Stored),
    id: [u8; 64],
    /// The other groups, in order; a replica is opened the first time a
    /// block needs it (`None` until then).
    others: Vec<(Arc<Group>, Option<Stored>)>,
    /// Groups whose replica failed a checksum, not yet taken.
    corrupt: Vec<GroupId>,
}

impl ObjectReader for LocalReader {
    fn info(&self) -> &ReplicaInfo {
        &self.info
    }

    fn read_at(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        let r = self.read_chunk(offset, len);
        let n = r.as_ref().map_or(0, |b| b.len() as u64);
        self.cur.0.commands.count(CMD_READ, &r, n);
        r
    }

    fn read_at_without_waiting(
        &mut self,
        offset: u64,
        len: usize,
    ) -> Option<Result<Bytes, StorageError>> {
        super::nowait::attempt(|| self.read_at(offset, len))
    }

    fn take_corrupt(&mut self) -> Vec<GroupId> {
        std::mem::take(&mut self.corrupt)
    }
}

impl LocalReader {
    /// Reads from `stored`; a block failing its checksum is logged, counted
    /// and noted for [`ObjectReader::take_corrupt`].
    fn try_read(
        corrupt: &mut Vec<GroupId>,
        g: &Group,
        stored: &Stored,
        offset: u64,
        len: usize,
    ) -> Result<Bytes, StorageError> {
        match stored.read_verified(offset, len) {
            Ok(b) => Ok(b),
            Err(Fault::Corrupt(why)) => {
                if !corrupt.contains(&g.id) {
                    corrupt.push(g.id);
                }
                Err(g.corrupt(&stored.path, &why))
            }
            Err(Fault::Io(e)) => Err(g.io_err(&stored.path.display().to_string(), &e)),
        }
    }

    /// Reads `[offset, offset + len)` from the current replica, else from
    /// another ([`Self::read_from_any`]). When every replica has a bad block
    /// somewhere in the range, the range is read again block by block, so
    /// that each block comes from a replica where it is good.
    fn read_chunk(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        if offset >= self.info.size {
            return Ok(Bytes::new());
        }
        let len = len.min((self.info.size - offset) as usize);
        let e = match self.read_from_any(offset, len) {
            Ok(b) => return Ok(b),
            Err(e) => e,
        };
        let bs = u64::from(self.cur.1.header.block_size);
        let end = offset + len as u64;
        if e.errno != -libc::EILSEQ || bs == 0 || offset / bs == (end - 1) / bs {
            return Err(e);
        }
        let mut out = bytes::BytesMut::with_capacity(len);
        let mut pos = offset;
        while pos < end {
            let stop = ((pos / bs + 1) * bs).min(end);
            out.extend_from_slice(&self.read_from_any(pos, (stop - pos) as usize)?);
            pos = stop;
        }
        Ok(out.freeze())
    }

    /// Reads `[offset, offset + len)` (within the object) from the current
    /// replica; when that fails, from the other groups' replicas of the same
    /// object (same size and SHA-512) at the same offset, and the first that
    /// serves becomes the current one.
    fn read_from_any(&mut self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        let first = {
            let (g, stored) = &self.cur;
            match Self::try_read(&mut self.corrupt, g, stored, offset, len) {
                Ok(b) => return Ok(b),
                Err(e) => e,
            }
        };
        let mut i = 0;
        while i < self.others.len() {
            if self.others[i].1.is_none() {
                match self.open_other(&self.others[i].0) {
                    Some(st) => self.others[i].1 = Some(st),
                    None => {
                        self.others.remove(i);
                        continue;
                    }
                }
            }
            let (g, stored) = &self.others[i];
            if let Some(stored) = stored {
                if let Ok(b) = Self::try_read(&mut self.corrupt, g, stored, offset, len) {
                    log::warn!(
                        "group {}: bytes {offset}.. of object {} read from group {} instead",
                        self.cur.0.id,
                        hex(&self.id[..8]),
                        g.id
                    );
                    let (g, stored) = self.others.remove(i);
                    if let Some(stored) = stored {
                        let old = std::mem::replace(&mut self.cur, (g, stored));
                        self.others.push((old.0, Some(old.1)));
                    }
                    return Ok(b);
                }
            }
            i += 1;
        }
        Err(first)
    }

    /// Opens group `g`'s replica if it holds the same object as the one
    /// first opened.
    fn open_other(&self, g: &Group) -> Option<Stored> {
        let (file, path, header) = g.stat(&self.id).ok()?;
        (header.size == self.info.size && header.csum[..] == self.info.csum[..]).then_some(Stored {
            file,
            path,
            header,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::os::unix::fs::FileExt;

    use super::*;
    use crate::storage::local::test_store;
    use crate::storage::{write_small, Storage};

    /// Flips one bit of the replica `info` at byte `at` of the object.
    fn flip_bit(info: &ReplicaInfo, at: u64) {
        let f = OpenOptions::new()
            .write(true)
            .read(true)
            .open(&info.filename)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, info.offset + at).unwrap();
        f.write_all_at(&[b[0] ^ 1], info.offset + at).unwrap();
    }

    #[test]
    fn bad_blocks_are_read_from_another_replica() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false), (2, 0, false), (3, 0, false)]);
        let ctx = Context::new("b", vec![1, 2, 3]);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let res = write_small(&s, &ctx, "k", &data).unwrap();
        let flip = |g: usize, at: u64| flip_bit(res[g].result.as_ref().unwrap(), at);
        // Block 0 bad in group 1, block 2 bad in group 2: every block has a good copy.
        flip(0, 10);
        flip(1, 140_000);
        let mut r = s.open(&ctx, "k").unwrap();
        let mut got = Vec::new();
        while got.len() < data.len() {
            got.extend_from_slice(&r.read_at(got.len() as u64, 50_000).unwrap());
        }
        assert!(got == data);
        assert_eq!(r.take_corrupt(), vec![1, 2]);
        assert!(r.take_corrupt().is_empty());
        // Unaligned reads across block edges.
        assert_eq!(&r.read_at(65_530, 20).unwrap()[..], &data[65_530..65_550]);
        // The same block bad everywhere: an error, not bytes.
        flip(2, 10);
        flip(1, 11);
        let mut r = s.open(&ctx, "k").unwrap();
        let e = r.read_at(0, 100).unwrap_err();
        assert_eq!(e.errno, -libc::EILSEQ, "{e}");
        assert!(r.read_at(200_000, 100).is_ok(), "other blocks still read");
        let errors: u64 = s.backend_stats().iter().map(|b| b.checksum_errors).sum();
        assert!(errors >= 5, "{errors}");
    }

    #[test]
    fn a_read_across_bad_blocks_of_every_replica_takes_each_block_where_it_is_good() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false), (2, 0, false)]);
        let ctx = Context::new("b", vec![1, 2]);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let res = write_small(&s, &ctx, "k", &data).unwrap();
        let flip = |g: usize, at: u64| flip_bit(res[g].result.as_ref().unwrap(), at);
        // Blocks 1 and 2 bad in group 1, blocks 3 and 4 in group 2: one
        // read of the whole object fails in both, each block is good in one.
        flip(0, 70_000);
        flip(0, 140_000);
        flip(1, 200_000);
        flip(1, 270_000);
        let mut r = s.open(&ctx, "k").unwrap();
        let got = r.read_at(0, data.len()).unwrap();
        assert!(got[..] == data[..], "{} bytes", got.len());
        let mut corrupt = r.take_corrupt();
        corrupt.sort();
        assert_eq!(corrupt, vec![1, 2]);
        // A range inside: the same.
        let got = r.read_at(100_000, 150_000).unwrap();
        assert!(got[..] == data[100_000..250_000]);
    }
}
