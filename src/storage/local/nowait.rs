//! Reads that never wait for the disk, so a request's worker thread can
//! serve what the page cache holds without a hop to the blocking pool.
//!
//! [`attempt`] runs store work with every read made by `preadv2(...,
//! RWF_NOWAIT)`: the kernel answers from the page cache or refuses with
//! `EAGAIN` instead of waiting for the device. The first refusal (or an
//! artificial group delay, which would sleep) makes the attempt give up:
//! its result is dropped and the caller redoes the work on the blocking
//! pool. While an attempt gives up, nothing it meets counts as an error
//! (command counters, a group's last error, the corrupt-header path).
//! Opening a file is not covered (the kernel has no such flag for it); a
//! cached directory entry makes it as quick as nginx's own `open`.
//!
//! A filesystem without `RWF_NOWAIT` for buffered reads (tmpfs answers
//! `EOPNOTSUPP`) turns attempts off for the life of the process.

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reads wait as usual (the blocking pool, background work).
    Wait,
    /// An attempt is running and nothing has blocked yet.
    NoWait,
    /// The running attempt met something that would wait.
    GaveUp,
}

thread_local! {
    static MODE: Cell<Mode> = const { Cell::new(Mode::Wait) };
}

/// Set once a filesystem refused `RWF_NOWAIT`: attempts stop.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Runs `f` on this thread with reads that never wait; `None` when one
/// would have (or the filesystem cannot tell): redo `f` where waiting is
/// allowed.
pub fn attempt<T>(f: impl FnOnce() -> T) -> Option<T> {
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return None;
    }
    let before = MODE.with(|m| m.replace(Mode::NoWait));
    let out = f();
    let mode = MODE.with(|m| m.replace(before));
    (mode == Mode::NoWait).then_some(out)
}

/// Whether the running attempt has given up: its errors are not real.
pub(super) fn gave_up() -> bool {
    MODE.with(|m| m.get()) == Mode::GaveUp
}

/// Whether reads must not wait now; a caller about to sleep or block calls
/// [`give_up`] instead.
pub(super) fn active() -> bool {
    MODE.with(|m| m.get()) != Mode::Wait
}

/// Marks the running attempt as given up.
pub(super) fn give_up() {
    MODE.with(|m| {
        if m.get() == Mode::NoWait {
            m.set(Mode::GaveUp)
        }
    });
}

/// `read_exact_at`, without waiting for the device inside an attempt.
pub(super) fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    // SAFETY: `buf` is valid for writes of its whole length.
    unsafe { read_exact_raw(file, buf.as_mut_ptr(), buf.len(), at) }
}

/// Appends `len` bytes of `file` at `at` to `buf`, as [`read_exact_at`]
/// reads them, into memory not zeroed first (zeroing a segment's buffer
/// cost as much as copying it from the page cache): only once every byte
/// was written does `buf`'s length cover them.
pub(super) fn read_exact_append(
    file: &File,
    buf: &mut BytesMut,
    len: usize,
    at: u64,
) -> io::Result<()> {
    buf.reserve(len);
    let spare = buf.spare_capacity_mut();
    // SAFETY: the spare capacity holds at least `len` bytes (reserved
    // above) and is valid for writes; the length grows only after the
    // kernel wrote all of them.
    unsafe {
        read_exact_raw(file, spare.as_mut_ptr().cast(), len, at)?;
        buf.set_len(buf.len() + len);
    }
    Ok(())
}

/// Fills `len` bytes at `ptr` from `file` at `at`: `preadv2(RWF_NOWAIT)`
/// inside an attempt (giving it up rather than waiting), else `pread`.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn read_exact_raw(file: &File, ptr: *mut u8, len: usize, at: u64) -> io::Result<()> {
    let nowait = active();
    if nowait && gave_up() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let mut done = 0;
    while done < len {
        // SAFETY (caller): `ptr + done .. ptr + len` is valid for writes.
        let rest = unsafe { ptr.add(done) };
        let offset = libc::off_t::try_from(at + done as u64)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let n = if nowait {
            let iov = libc::iovec {
                iov_base: rest.cast(),
                iov_len: len - done,
            };
            // SAFETY: one iovec over writable memory; the fd is open.
            unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) }
        } else {
            // SAFETY: writable memory of `len - done` bytes; the fd is open.
            unsafe { libc::pread(file.as_raw_fd(), rest.cast(), len - done, offset) }
        };
        match n {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n if n > 0 => done += n as usize,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) if nowait => {
                        UNSUPPORTED.store(true, Ordering::Relaxed);
                        give_up();
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    Some(libc::EAGAIN) if nowait => {
                        give_up();
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file holding "hello, cache" (and the directory that must outlive it).
    fn hello_file() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello, cache").unwrap();
        let file = File::open(&path).unwrap();
        (dir, file)
    }

    #[test]
    fn an_attempt_reads_cached_bytes_and_restores_the_mode() {
        let (_dir, file) = hello_file();
        let got = attempt(|| {
            let mut b = [0u8; 5];
            read_exact_at(&file, &mut b, 7).map(|_| b)
        });
        assert!(!active(), "the mode is restored");
        if UNSUPPORTED.load(Ordering::Relaxed) {
            eprintln!("SKIPPED: this filesystem has no RWF_NOWAIT");
            assert!(got.is_none());
            return;
        }
        assert_eq!(got.unwrap().unwrap(), *b"cache");
        // Past the end: a real error, not a give-up.
        let past = attempt(|| read_exact_at(&file, &mut [0u8; 4], 100));
        assert_eq!(
            past.unwrap().unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        // Something that would wait: the attempt answers nothing.
        assert!(attempt(give_up).is_none());
        assert!(!gave_up() && !active());
    }

    #[test]
    fn appended_reads_cover_only_what_was_read() {
        let (_dir, file) = hello_file();
        let mut buf = BytesMut::from(&b">"[..]);
        read_exact_append(&file, &mut buf, 5, 0).unwrap();
        read_exact_append(&file, &mut buf, 5, 7).unwrap();
        assert_eq!(&buf[..], b">hellocache");
        // Past the end: an error, and nothing of the short read counted.
        let err = read_exact_append(&file, &mut buf, 10, 7).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..], b">hellocache");
        // The same inside an attempt.
        if let Some(r) = attempt(|| read_exact_append(&file, &mut buf, 2, 0)) {
            r.unwrap();
            assert_eq!(&buf[..], b">hellocachehe");
        }
    }
}
