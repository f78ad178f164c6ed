//! The CRC32C block table of format 2: sums gathered as an object is
//! written, every block checked as it is read.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};

use super::header::Header;

/// Bytes covered by one CRC32C in format 2.
pub const BLOCK_SIZE: u32 = 64 * 1024;
/// Block checksums gathered before they are written to the table.
const PENDING_SUMS: usize = 1024;

/// Why a verified read failed.
pub(super) enum Fault {
    /// A block's bytes do not match its checksum.
    Corrupt(String),
    /// The file could not be read.
    Io(io::Error),
}

/// A stored object: its open file, path and header.
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) header: Header,
}

/// A read error, a file shorter than its header says named as such.
fn short(e: io::Error) -> Fault {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Fault::Io(io::Error::other("file ends before the object does"))
    } else {
        Fault::Io(e)
    }
}

impl Stored {
    fn read_exact(&self, buf: &mut [u8], at: u64) -> Result<(), Fault> {
        super::nowait::read_exact_at(&self.file, buf, at).map_err(short)
    }

    /// `len` bytes at `at` in a new buffer (not zeroed first).
    fn read_new(&self, len: usize, at: u64) -> Result<BytesMut, Fault> {
        let mut buf = BytesMut::new();
        super::nowait::read_exact_append(&self.file, &mut buf, len, at).map_err(short)?;
        Ok(buf)
    }

    /// Reads `len` bytes at `offset` of the object (within its size),
    /// checking every block they touch against the block table.
    pub(super) fn read_verified(&self, offset: u64, len: usize) -> Result<Bytes, Fault> {
        let h = &self.header;
        let data = h.data_offset();
        if h.block_size == 0 || len == 0 {
            return Ok(self.read_new(len, data + offset)?.freeze());
        }
        let bs = u64::from(h.block_size);
        let end = offset.saturating_add(len as u64).min(h.size);
        let first = offset / bs;
        let last = end.div_ceil(bs);
        let start = first * bs;
        let stop = (last * bs).min(h.size);
        let buf = self.read_new((stop - start) as usize, data + start)?;
        let mut sums = vec![0u8; ((last - first) * 4) as usize];
        self.read_exact(&mut sums, h.table_offset() + first * 4)?;
        for (i, (block, sum)) in buf.chunks(bs as usize).zip(sums.chunks(4)).enumerate() {
            let want = u32::from_le_bytes(sum.try_into().unwrap_or_default());
            let got = crc32c::crc32c(block);
            if got != want {
                return Err(Fault::Corrupt(format!(
                    "block {} (bytes {}..) fails its checksum",
                    first + i as u64,
                    (first + i as u64) * bs
                )));
            }
        }
        let from = (offset - start) as usize;
        Ok(buf.freeze().slice(from..from + (end - offset) as usize))
    }
}

/// CRC32C of each block of an object as it is written, flushed into the
/// block table a batch at a time (bounded memory whatever the size).
#[derive(Debug)]
pub(super) struct BlockSums {
    block_size: usize,
    table: u64,
    written: u64,
    pending: Vec<u8>,
    cur: u32,
    fill: usize,
}

impl BlockSums {
    pub(super) fn new(header: &Header) -> BlockSums {
        BlockSums {
            block_size: header.block_size as usize,
            table: header.table_offset(),
            written: 0,
            pending: Vec::with_capacity(PENDING_SUMS * 4),
            cur: 0,
            fill: 0,
        }
    }

    pub(super) fn feed(&mut self, file: &File, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = (self.block_size - self.fill).min(data.len());
            self.cur = crc32c::crc32c_append(self.cur, &data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == self.block_size {
                self.push();
            }
        }
        if self.pending.len() >= PENDING_SUMS * 4 {
            self.flush(file)?;
        }
        Ok(())
    }

    fn push(&mut self) {
        self.pending.extend_from_slice(&self.cur.to_le_bytes());
        self.cur = 0;
        self.fill = 0;
    }

    fn flush(&mut self, file: &File) -> io::Result<()> {
        file.write_all_at(&self.pending, self.table + self.written * 4)?;
        self.written += (self.pending.len() / 4) as u64;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last (partial) block's sum; answers the blocks written.
    pub(super) fn finish(&mut self, file: &File) -> io::Result<u64> {
        if self.fill > 0 {
            self.push();
        }
        self.flush(file)?;
        Ok(self.written)
    }
}
