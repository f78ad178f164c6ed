//! A group's committed bytes and record count, kept in the store itself
//! (`group-N/usage`: two little-endian u64) so that every process opening
//! the store (two proxies, `bmeta`, `bindex`) sees and enforces the same
//! figure. Updated under an exclusive `flock`, in the same critical
//! section as the rename or unlink it accounts for.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::sys::{flock_exclusive, FlockGuard};

/// The shared counters of one group.
#[derive(Debug)]
pub(super) struct Usage {
    file: File,
}

/// Held while a change and its accounting happen together.
pub(super) struct UsageLock<'a> {
    usage: &'a Usage,
    _flock: FlockGuard<'a>,
}

fn decode(b: &[u8; 16]) -> (u64, u64) {
    let (used, records) = b.split_at(8);
    (
        u64::from_le_bytes(used.try_into().unwrap_or_default()),
        u64::from_le_bytes(records.try_into().unwrap_or_default()),
    )
}

impl Usage {
    /// Opens `path`; when it does not hold the counters yet (a store made
    /// before it, or new), sets them from `scan`, under the lock so two
    /// processes starting together count once.
    pub(super) fn open(
        path: &Path,
        scan: impl FnOnce() -> io::Result<(u64, u64)>,
    ) -> io::Result<Usage> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        let usage = Usage { file };
        {
            let _flock = flock_exclusive(&usage.file)?;
            if usage.file.metadata()?.len() < 16 {
                let (used, records) = scan()?;
                usage.write(used, records)?;
                usage.file.sync_data()?;
            }
        }
        Ok(usage)
    }

    /// Committed bytes and records now, as every process sees them.
    pub(super) fn read(&self) -> (u64, u64) {
        let mut b = [0u8; 16];
        match self.file.read_exact_at(&mut b, 0) {
            Ok(()) => decode(&b),
            Err(_) => (0, 0),
        }
    }

    fn write(&self, used: u64, records: u64) -> io::Result<()> {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&used.to_le_bytes());
        b[8..].copy_from_slice(&records.to_le_bytes());
        self.file.write_all_at(&b, 0)
    }

    /// Locks the counters against other processes (threads of this one
    /// hold the group's space mutex as well).
    pub(super) fn lock(&self) -> io::Result<UsageLock<'_>> {
        Ok(UsageLock {
            usage: self,
            _flock: flock_exclusive(&self.file)?,
        })
    }
}

impl UsageLock<'_> {
    /// Accounts a file of `added` bytes replacing one of `removed` bytes
    /// (`None`: there was none, a new record).
    pub(super) fn replace(&self, removed: Option<u64>, added: u64) -> io::Result<()> {
        let (used, records) = self.usage.read();
        let records = if removed.is_none() {
            records + 1
        } else {
            records
        };
        self.usage
            .write(used.saturating_sub(removed.unwrap_or(0)) + added, records)
    }

    /// Accounts a removed file of `len` bytes.
    pub(super) fn remove(&self, len: u64) -> io::Result<()> {
        let (used, records) = self.usage.read();
        self.usage
            .write(used.saturating_sub(len), records.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_opens_share_the_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage");
        let a = Usage::open(&path, || Ok((100, 2))).unwrap();
        // The second open finds them set: its scan is not used.
        let b = Usage::open(&path, || Ok((999, 9))).unwrap();
        assert_eq!(b.read(), (100, 2));
        a.lock().unwrap().replace(None, 50).unwrap();
        assert_eq!(b.read(), (150, 3));
        b.lock().unwrap().replace(Some(50), 10).unwrap();
        assert_eq!(a.read(), (110, 3));
        a.lock().unwrap().remove(10).unwrap();
        assert_eq!(b.read(), (100, 2));
    }
}
