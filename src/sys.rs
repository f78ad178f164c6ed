//! Safe wrappers of the few libc calls made outside the Elliptics FFI
//! (`storage/elliptics/ffi.rs`): every `unsafe` block of the crate that is
//! not FFI to Elliptics lives here, each with the reason it is sound.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Total and available bytes of the file system holding `path` (`statvfs`);
/// `None` when it cannot be asked.
pub fn fs_space(path: &Path) -> Option<(u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data, for which all zero bytes are valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// The soft and hard `RLIMIT_NOFILE` (`getrlimit`).
pub fn fd_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some((lim.rlim_cur, lim.rlim_max))
}

/// Sets the soft and hard `RLIMIT_NOFILE` (`setrlimit`); whether the kernel
/// took them.
pub fn set_fd_limit(soft: u64, hard: u64) -> bool {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit; the kernel checks its values.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// Shuts both directions of the socket `fd` (`shutdown(SHUT_RDWR)`): its
/// owner then reads end-of-file and closes it. Errors (a peer already
/// gone) are of no interest.
pub fn shutdown_socket(fd: std::os::fd::BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    // SAFETY: `fd` is an open descriptor for the borrow's lifetime;
    // shutdown touches no memory.
    unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) };
}

/// The machine's host name (`gethostname`); empty when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Sets glibc's mmap threshold (`mallopt(M_MMAP_THRESHOLD)`): allocations of
/// `bytes` or more get their own mapping. A no-op on other C libraries.
pub fn set_mmap_threshold(bytes: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// Returns the free memory of every glibc arena to the system
/// (`malloc_trim`). A no-op on other C libraries.
pub fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// An exclusive `flock` on a file, released when dropped. `flock` locks
/// belong to the open file: two opens of one path exclude each other, in one
/// process or several; one open shared by threads does not (callers add a
/// mutex for that).
pub struct FlockGuard<'a>(&'a std::fs::File);

/// Takes an exclusive `flock` on `file`, waiting for it.
pub fn flock_exclusive(file: &std::fs::File) -> std::io::Result<FlockGuard<'_>> {
    use std::os::unix::io::AsRawFd;
    loop {
        // SAFETY: the descriptor is open for as long as `file` lives.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(FlockGuard(file));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Drop for FlockGuard<'_> {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: as in `flock_exclusive`; unlocking cannot harm the descriptor.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Whether a process with this id runs (`kill(pid, 0)`: delivered, or
/// refused for want of permission, both mean it exists).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Ignores SIGHUP until the proxy's reload handler takes it over
/// (`runtime::run`): its default action ends the process, so a reload sent
/// while the proxy starts (`systemctl reload` right after start) would
/// stop it instead.
pub fn ignore_sighup_while_starting() {
    // SAFETY: sets a standard disposition; called first thing in main,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_answer() {
        let (total, avail) = fs_space(Path::new("/")).unwrap();
        assert!(total > 0 && avail <= total);
        assert!(fs_space(Path::new("/no/such/dir")).is_none());
        assert!(fs_space(Path::new("a\0b")).is_none());
        let (soft, hard) = fd_limit().unwrap();
        assert!(soft <= hard);
        assert!(set_fd_limit(soft, hard));
        assert_eq!(fd_limit(), Some((soft, hard)));
        assert!(!hostname().is_empty());
    }
}
