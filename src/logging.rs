//! Logging set up from the config's `elliptics.log-level`, `log-file` and
//! `log-prefix`, as Backrunner did: one line per event, the access log
//! included, into a file that SIGHUP reopens (for logrotate).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use log::LevelFilter;

use crate::config::EllipticsConfig;

/// Why logging cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `elliptics.log-level` names no level.
    #[error("elliptics.log-level {0:?} is not one of error, warning, notice, info, debug")]
    Level(String),
    /// `elliptics.log-file` cannot be opened.
    #[error("elliptics.log-file {path}: cannot open: {source}")]
    Open {
        /// The file.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// A logger is installed already.
    #[error("cannot install the logger: {0}")]
    Install(#[from] log::SetLoggerError),
}

/// Maps a Backrunner/Elliptics log level to a `log` filter. Empty means
/// `info`; unknown names are an error naming the accepted ones.
pub fn parse_level(level: &str) -> Result<LevelFilter, LogError> {
    Ok(match level.trim().to_ascii_lowercase().as_str() {
        "" | "info" | "notice" => LevelFilter::Info,
        "error" => LevelFilter::Error,
        "warning" | "warn" => LevelFilter::Warn,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        "off" | "none" => LevelFilter::Off,
        other => return Err(LogError::Level(other.to_string())),
    })
}

/// Where log lines go: stderr, stdout, or a file reopened on demand.
pub enum Sink {
    /// Standard error (`""` or `/dev/stderr`).
    Stderr,
    /// Standard output (`/dev/stdout`).
    Stdout,
    /// A file, appended to.
    File(Arc<LogFile>),
}

/// A log file that can be reopened by path after logrotate moved it away.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    /// Opens (creates, appends to) `path`, creating its directory if needed.
    pub fn open(path: &Path) -> io::Result<LogFile> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Mutex::new(open_append(path)?),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again and writes there from now on; on failure the
    /// old file stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open_append(&self.path)?;
        let mut f = self.file.lock();
        let _ = f.flush();
        *f = fresh;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The `Write` handed to env_logger; each record arrives as one write.
struct SharedFile(Arc<LogFile>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.file.lock().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.file.lock().flush()
    }
}

/// Picks the sink for `elliptics.log-file`.
pub fn open_sink(log_file: &str) -> Result<Sink, LogError> {
    match log_file.trim() {
        "" | "/dev/stderr" => Ok(Sink::Stderr),
        "/dev/stdout" => Ok(Sink::Stdout),
        path => LogFile::open(Path::new(path))
            .map(|f| Sink::File(Arc::new(f)))
            .map_err(|source| LogError::Open {
                path: path.to_string(),
                source,
            }),
    }
}

/// Checks the log settings without opening anything (for `--check-config`).
pub fn check(cfg: &EllipticsConfig) -> Result<(), LogError> {
    parse_level(&cfg.log_level).map(|_| ())
}

/// Installs the global logger: level from `log-level` unless `RUST_LOG` is
/// set, lines `PREFIX<time> LEVEL target: message` into `log-file`.
/// Returns the log file when there is one to reopen on SIGHUP.
pub fn init(cfg: &EllipticsConfig) -> Result<Option<Arc<LogFile>>, LogError> {
    let level = parse_level(&cfg.log_level)?;
    let sink = open_sink(&cfg.log_file)?;
    let env = env_logger::Env::default().default_filter_or(level.as_str());
    let mut builder = env_logger::Builder::from_env(env);
    let prefix = cfg.log_prefix.clone();
    builder.format(move |buf, record| {
        writeln!(
            buf,
            "{prefix}{} {} {}: {}",
            buf.timestamp_millis(),
            record.level(),
            record.target(),
            record.args()
        )
    });
    let file = match sink {
        Sink::Stderr => {
            builder.target(env_logger::Target::Stderr);
            None
        }
        Sink::Stdout => {
            builder.target(env_logger::Target::Stdout);
            None
        }
        Sink::File(f) => {
            builder.target(env_logger::Target::Pipe(Box::new(SharedFile(f.clone()))));
            Some(f)
        }
    };
    builder.try_init()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backrunner_levels_map() {
        assert_eq!(parse_level("error").unwrap(), LevelFilter::Error);
        assert_eq!(parse_level("warning").unwrap(), LevelFilter::Warn);
        assert_eq!(parse_level("notice").unwrap(), LevelFilter::Info);
        assert_eq!(parse_level("INFO").unwrap(), LevelFilter::Info);
        assert_eq!(parse_level("").unwrap(), LevelFilter::Info);
        assert_eq!(parse_level("debug").unwrap(), LevelFilter::Debug);
        let e = parse_level("loud").unwrap_err().to_string();
        assert!(e.contains("\"loud\""), "{e}");
    }

    #[test]
    fn reopen_follows_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/proxy.log");
        let f = Arc::new(LogFile::open(&path).unwrap());
        let mut w = SharedFile(f.clone());
        w.write_all(b"one\n").unwrap();
        let moved = dir.path().join("proxy.log.1");
        std::fs::rename(&path, &moved).unwrap();
        w.write_all(b"two\n").unwrap();
        f.reopen().unwrap();
        w.write_all(b"three\n").unwrap();
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }
}
