//! The global connection cap (`proxy.max-connections`): the proxy keeps
//! file descriptors for health checks and storage whatever clients hold.
//!
//! Every accepted connection is counted from accept to close. Above the cap
//! a request gets 503 and its connection is closed, except health checks
//! (`/ping/`, `/stat/`, `/proxy_stat/`, `/metrics`), which are still
//! served. The budget is one for every listener (REST and S3, plain and
//! TLS): a REST connection that would pass the cap plus [`HEALTH_RESERVE`],
//! or an S3 connection that would pass the cap, is shut down as soon as it
//! is accepted, so descriptors never run out and the listen backlog never
//! holds a health check behind a flood. A REST connection accepted into the
//! reserve that has not sent a request within [`RESERVE_FIRST_REQUEST`] is
//! shut down too, so silent connections cannot keep health checks out.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections accepted above the cap, for health checks and the 503s.
pub const HEALTH_RESERVE: usize = 16;

/// How long a connection in the reserve may stay silent before it is shut.
pub const RESERVE_FIRST_REQUEST: Duration = Duration::from_secs(2);

/// Open connections and the cap.
#[derive(Debug, Default)]
pub struct Connections {
    open: Arc<AtomicUsize>,
    cap: AtomicUsize,
}

/// Held for the life of one connection (in its actix extensions).
pub struct ConnectionGuard {
    open: Arc<AtomicUsize>,
    served: Arc<AtomicBool>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnectionGuard {
    /// Records that a request arrived on this connection.
    pub fn mark_served(&self) {
        self.served.store(true, Ordering::Relaxed);
    }

    /// Whether a request arrived on this connection, readable after the
    /// guard is gone.
    pub fn served(&self) -> Arc<AtomicBool> {
        self.served.clone()
    }
}

impl Connections {
    /// Counts a new connection until the guard is dropped.
    pub fn enter(&self) -> ConnectionGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            open: self.open.clone(),
            served: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The cap in force (0 before the server starts: no cap).
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Sets the cap.
    pub fn set_cap(&self, cap: usize) {
        self.cap.store(cap, Ordering::Relaxed);
    }

    /// Why a request is refused over the cap, in one line naming the key.
    pub fn refusal(&self) -> String {
        format!(
            "{} connections are open, more than proxy.max-connections {}; try again later",
            self.open(),
            self.cap()
        )
    }

    /// Whether more connections are open than the cap allows.
    pub fn over_cap(&self) -> bool {
        let cap = self.cap();
        cap > 0 && self.open() > cap
    }
}

/// The cap for `configured` (`proxy.max-connections`): itself, or when 0 half
/// of the file descriptor limit (at least 64).
pub fn effective_cap(configured: u64, fd_limit: u64) -> usize {
    if configured > 0 {
        return usize::try_from(configured).unwrap_or(usize::MAX / 2);
    }
    usize::try_from((fd_limit / 2).max(64)).unwrap_or(usize::MAX / 2)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as Go's runtime does
/// for Backrunner, and returns the soft limit in force.
pub fn raise_fd_limit() -> u64 {
    let Some((soft, hard)) = crate::sys::fd_limit() else {
        return 1024;
    };
    // The kernel refuses more than fs.nr_open (1 Mi by default).
    let target = hard.min(1 << 20);
    if soft < target && crate::sys::set_fd_limit(target, hard) {
        return target;
    }
    soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_cap() {
        let c = Connections::default();
        assert!(!c.over_cap());
        c.set_cap(2);
        let a = c.enter();
        let b = c.enter();
        assert!(!c.over_cap());
        let d = c.enter();
        assert!(c.over_cap());
        drop((a, d));
        assert_eq!(c.open(), 1);
        assert!(!c.over_cap());
        drop(b);
        assert_eq!(c.open(), 0);
        assert_eq!(effective_cap(8, 1024), 8);
        assert_eq!(effective_cap(0, 1024), 512);
        assert_eq!(effective_cap(0, 20), 64);
    }
}
