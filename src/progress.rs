//! Progress of the long commands (`bindex -add`, `bindex -check`, `bmeta
//! -upload`): on a terminal a bar (a spinner when the total is unknown)
//! with the rate and, with a total, the time left (indicatif), on standard
//! error; otherwise one plain line every `interval` on standard error.
//! Report lines (`dangling: KEY`...) go to standard output either way.
//!
//! [`stop_on_interrupt`] makes Ctrl-C (SIGINT) and SIGTERM ask the command
//! to stop after the item in hand: the loops poll [`interrupted`], then
//! print their summary; a second Ctrl-C exits at once.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;

/// Exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT: u8 = 130;

/// Default time between plain progress lines.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Catches SIGINT and SIGTERM: the first asks the command to stop
/// ([`interrupted`] turns true), the second exits with [`INTERRUPTED_EXIT`].
pub fn stop_on_interrupt() -> Result<(), String> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(INTERRUPTED_EXIT));
        }
        eprintln!("interrupted: stopping after the current item (again to quit at once)");
    })
    .map_err(|e| format!("cannot catch Ctrl-C: {e}"))
}

/// Whether Ctrl-C (or SIGTERM) asked the command to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Parses a `-progress` interval in seconds (fractions allowed).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds"))
}

/// The progress of one command.
pub struct Progress {
    what: String,
    unit: &'static str,
    total: Option<u64>,
    done: AtomicU64,
    started: Instant,
    bar: Option<ProgressBar>,
    interval: Duration,
    last_line: Mutex<Instant>,
    /// Parts done of parts known, when the items' total is not known but
    /// the work comes in parts of about the same size (index shards).
    parts: Mutex<Option<(u64, u64)>>,
}

impl Progress {
    /// Progress of `what` (`bindex -add b1`) over `total` items (when
    /// known) named `unit` (`keys`); plain lines every `interval` when
    /// standard error is not a terminal (never with a zero interval).
    pub fn new(what: &str, unit: &'static str, total: Option<u64>, interval: Duration) -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress::with_terminal(what, unit, total, interval, tty)
    }

    fn with_terminal(
        what: &str,
        unit: &'static str,
        total: Option<u64>,
        interval: Duration,
        tty: bool,
    ) -> Progress {
        let bar = tty.then(|| {
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::new(n),
                    format!("{{msg}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} {{per_sec}} ETA {{eta}}"),
                ),
                None => (
                    ProgressBar::new_spinner(),
                    format!("{{spinner}} {{msg}} [{{elapsed_precise}}] {{human_pos}} {unit} {{per_sec}}"),
                ),
            };
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            what: what.to_string(),
            unit,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            bar,
            interval,
            last_line: Mutex::new(Instant::now()),
            parts: Mutex::new(None),
        }
    }

    /// Counts `n` more items done.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if self.interval.is_zero() {
            return;
        }
        let mut last = self.last_line.lock();
        if last.elapsed() >= self.interval {
            *last = Instant::now();
            eprintln!("{}", self.line(done, self.started.elapsed()));
        }
    }

    /// Sets how many of the work's `known` parts are done: without a
    /// total of items, the time left is estimated from the parts.
    pub fn set_parts(&self, done: u64, known: u64) {
        let mut parts = self.parts.lock();
        if *parts == Some((done, known)) {
            return;
        }
        *parts = Some((done, known));
        if let (Some(bar), Some(left)) = (
            &self.bar,
            left_by_parts(done, known, self.started.elapsed()),
        ) {
            bar.set_message(format!(
                "{} (part {done}/{known}, ~{left:.0}s left)",
                self.what
            ));
        }
    }

    /// Items done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// One plain progress line: `bindex -add b1: 1200/5000 keys, 400/s, 10s left`.
    fn line(&self, done: u64, elapsed: Duration) -> String {
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        let mut s = format!("{}: {done}", self.what);
        if let Some(t) = self.total {
            s.push_str(&format!("/{t}"));
        }
        s.push_str(&format!(" {}, {rate:.0}/s", self.unit));
        if let Some(t) = self.total {
            if rate > 0.0 {
                let left = t.saturating_sub(done) as f64 / rate;
                s.push_str(&format!(", {left:.0}s left"));
            }
        } else if let Some((d, k)) = *self.parts.lock() {
            if let Some(left) = left_by_parts(d, k, elapsed) {
                s.push_str(&format!(", part {d}/{k}, {left:.0}s left"));
            }
        }
        s
    }

    /// Prints a report line on standard output, above the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Removes the bar (the caller prints its summary next).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Seconds left when `done` of `known` equal parts took `elapsed` (the
/// part in progress counted as half done); `None` before any part.
fn left_by_parts(done: u64, known: u64, elapsed: Duration) -> Option<f64> {
    if done == 0 || known == 0 {
        return None;
    }
    let finished = (done as f64 - 0.5).max(0.5);
    let per_part = elapsed.as_secs_f64() / finished;
    Some((known.max(done) as f64 - finished) * per_part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_rate_and_time_left() {
        let p = Progress::with_terminal(
            "bindex -add b1",
            "keys",
            Some(5000),
            DEFAULT_INTERVAL,
            false,
        );
        assert_eq!(
            p.line(1200, Duration::from_secs(3)),
            "bindex -add b1: 1200/5000 keys, 400/s, 10s left"
        );
        let p =
            Progress::with_terminal("bindex -check b1", "entries", None, DEFAULT_INTERVAL, false);
        assert_eq!(
            p.line(50, Duration::from_secs(2)),
            "bindex -check b1: 50 entries, 25/s"
        );
        // Shards of about the same size give the time left: 2.5 of 10
        // done in 5 s.
        p.set_parts(3, 10);
        assert_eq!(
            p.line(50, Duration::from_secs(5)),
            "bindex -check b1: 50 entries, 10/s, part 3/10, 15s left"
        );
        p.inc(3);
        p.inc(4);
        assert_eq!(p.done(), 7);
        assert_eq!(parse_interval("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_interval("-1").is_err());
        assert!(parse_interval("x").is_err());
    }
}
