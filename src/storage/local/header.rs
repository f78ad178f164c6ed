//! The header in front of every object's bytes, and its codec.

use std::fs::File;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

/// Format 1: header and bytes, no block checksums.
pub(super) const MAGIC_V1: &[u8; 8] = b"BRLOBJ01";
/// Format 2: header, block checksum table, bytes.
pub(super) const MAGIC_V2: &[u8; 8] = b"BRLOBJ02";
/// Fixed part of a format 1 header: magic, size, mtime (s, ns), csum,
/// namespace and key lengths. Format 2 adds the block size (u32).
const FIXED_HEADER: usize = 8 + 8 + 8 + 4 + 64 + 4 + 4;

/// The on-disk header in front of every object's bytes.
#[derive(Debug, Clone)]
pub(super) struct Header {
    pub(super) size: u64,
    pub(super) mtime: SystemTime,
    pub(super) csum: [u8; 64],
    pub(super) namespace: Vec<u8>,
    pub(super) key: Vec<u8>,
    /// Bytes per checksummed block; 0 for format 1 (no table).
    pub(super) block_size: u32,
}

fn bad_header(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad object header: {what}"),
    )
}

impl Header {
    /// Bytes of the header itself.
    pub(super) fn len(&self) -> u64 {
        let fixed = if self.block_size == 0 {
            FIXED_HEADER
        } else {
            FIXED_HEADER + 4
        };
        (fixed + self.namespace.len() + self.key.len()) as u64
    }

    /// Checksummed blocks of an object of `size` bytes.
    pub(super) fn blocks(&self, size: u64) -> u64 {
        match self.block_size {
            0 => 0,
            bs => size.div_ceil(u64::from(bs)),
        }
    }

    /// Where the block table starts (right after the header).
    pub(super) fn table_offset(&self) -> u64 {
        self.len()
    }

    /// Where the object's bytes start in a file holding `size` bytes.
    pub(super) fn data_offset_for(&self, size: u64) -> u64 {
        self.len() + 4 * self.blocks(size)
    }

    pub(super) fn data_offset(&self) -> u64 {
        self.data_offset_for(self.size)
    }

    /// The whole file's length for an object of `size` bytes; `None` past u64.
    pub(super) fn file_len_for(&self, size: u64) -> Option<u64> {
        self.blocks(size)
            .checked_mul(4)?
            .checked_add(self.len())?
            .checked_add(size)
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let d = self.mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut out = Vec::with_capacity(self.len() as usize);
        out.extend_from_slice(if self.block_size == 0 {
            MAGIC_V1
        } else {
            MAGIC_V2
        });
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&d.as_secs().to_le_bytes());
        out.extend_from_slice(&d.subsec_nanos().to_le_bytes());
        out.extend_from_slice(&self.csum);
        out.extend_from_slice(&(self.namespace.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        if self.block_size != 0 {
            out.extend_from_slice(&self.block_size.to_le_bytes());
        }
        out.extend_from_slice(&self.namespace);
        out.extend_from_slice(&self.key);
        out
    }

    pub(super) fn read(file: &File) -> io::Result<Header> {
        let mut fixed = [0u8; FIXED_HEADER];
        super::nowait::read_exact_at(file, &mut fixed, 0)?;
        let v2 = match &fixed[..8] {
            m if m == MAGIC_V1 => false,
            m if m == MAGIC_V2 => true,
            _ => return Err(bad_header("unknown magic")),
        };
        let u64_at = |o: usize| u64::from_le_bytes(fixed[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_le_bytes(fixed[o..o + 4].try_into().unwrap_or_default());
        let size = u64_at(8);
        let mtime = crate::storage::stored_time(u64_at(16), u64::from(u32_at(24)));
        let mut csum = [0u8; 64];
        csum.copy_from_slice(&fixed[28..92]);
        let ns_len = u32_at(92) as usize;
        let key_len = u32_at(96) as usize;
        if ns_len + key_len > 1 << 20 {
            return Err(bad_header("names too long"));
        }
        let mut names_at = FIXED_HEADER as u64;
        let block_size = if v2 {
            let mut b = [0u8; 4];
            super::nowait::read_exact_at(file, &mut b, names_at)?;
            names_at += 4;
            match u32::from_le_bytes(b) {
                bs @ 512..=0x0100_0000 => bs,
                bs => return Err(bad_header(&format!("block size {bs}"))),
            }
        } else {
            0
        };
        let mut names = vec![0u8; ns_len + key_len];
        super::nowait::read_exact_at(file, &mut names, names_at)?;
        let key = names.split_off(ns_len);
        let h = Header {
            size,
            mtime,
            csum,
            namespace: names,
            key,
            block_size,
        };
        let want = h.file_len_for(size).ok_or_else(|| bad_header("size"))?;
        if file.metadata()?.len() < want {
            return Err(bad_header(&format!("file shorter than its {want} bytes")));
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::os::unix::fs::FileExt;
    use std::time::Duration;

    use super::*;
    use crate::storage::local::{checksum, object_path, test_store};
    use crate::storage::{read_small, write_small, Context, Storage};

    #[test]
    fn damaged_mtime_is_clamped_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false)]);
        let ctx = Context::new("b", vec![1]);
        let info = write_small(&s, &ctx, "k", b"abc").unwrap()[0]
            .result
            .clone()
            .unwrap();
        // Seconds of the mtime sit at bytes 16..24 of the header.
        let f = OpenOptions::new().write(true).open(&info.filename).unwrap();
        f.write_all_at(&u64::MAX.to_le_bytes(), 16).unwrap();
        let found = s.lookup(&ctx, "k")[0].result.clone().unwrap();
        let secs = found.mtime.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, crate::storage::MAX_MTIME_SECS);
        assert_eq!(
            httpdate::fmt_http_date(found.mtime),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn format_1_objects_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = test_store(dir.path(), &[(1, 0, false)]);
        let h = Header {
            size: 5,
            mtime: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            csum: checksum(b"hello"),
            namespace: b"b".to_vec(),
            key: b"old".to_vec(),
            block_size: 0,
        };
        let path = object_path(dir.path(), 1, "b", "old");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut raw = h.encode();
        assert_eq!(&raw[..8], MAGIC_V1);
        raw.extend_from_slice(b"hello");
        fs::write(&path, raw).unwrap();
        let ctx = Context::new("b", vec![1]);
        assert_eq!(read_small(&s, &ctx, "old", 100).unwrap(), b"hello");
        let info = s.lookup(&ctx, "old")[0].result.clone().unwrap();
        assert_eq!(info.offset, h.len());
        // A partial upload onto it writes format 2.
        let mut w = s.write(&ctx, "old", Some(5), 1).unwrap();
        w.write(b"!").unwrap();
        w.commit();
        assert_eq!(&fs::read(&path).unwrap()[..8], MAGIC_V2);
        assert_eq!(read_small(&s, &ctx, "old", 100).unwrap(), b"hello!");
    }
}
