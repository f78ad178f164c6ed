//! `bindex -config FILE -check BUCKET [-drop-dangling]`: checks a bucket's
//! name index (docs/index.md) against its objects in the store the config
//! selects: every entry is looked up; entries whose object no group holds
//! are reported (`dangling: KEY`), and removed with `-drop-dangling`.
//! Exit status 0 when nothing is dangling (or everything dangling was
//! dropped), 1 when dangling entries remain, 2 on errors.
//!
//! `bindex -config FILE -add BUCKET < KEYS`: indexes existing objects (one
//! key a line on standard input; written before the index, or through a
//! proxy without it): each is looked up and entered with its newest
//! replica's size and time, and the MD5 ETag and Content-Type of its S3
//! metadata when it has one. Keys no group holds are reported
//! (`missing: KEY`). Exit status 0 when every key was entered, 1 when some
//! were missing or failed, 2 on errors.
//!
//! Both show their progress (src/progress.rs): a bar on a terminal, a line
//! every `-progress SECS` (10) on standard error otherwise. Ctrl-C stops
//! after the key in hand, prints the summary so far and exits with 130.

use std::io::{BufRead, Read, Seek};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;

use backrunner::bucket::{check_name, read_meta, reserved_keys};
use backrunner::cli::normalize_args;
use backrunner::config::Config;
use backrunner::index::check::CheckEvent;
use backrunner::index::shard::Entry;
use backrunner::index::Index;
use backrunner::progress::{self, Progress};
use backrunner::s3::object::meta;
use backrunner::storage::{self, Context, Storage};

/// Arguments (Go-style single-dash flags work too).
#[derive(Debug, Parser)]
#[command(
    name = "bindex",
    about = "Checks a bucket's name index against its objects"
)]
struct Args {
    /// Config file of the proxy (selects the store and the metadata groups).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The bucket whose index is checked.
    #[arg(
        long,
        value_name = "BUCKET",
        required_unless_present = "add",
        conflicts_with = "add"
    )]
    check: Option<String>,
    /// Remove the dangling entries found.
    #[arg(long, requires = "check")]
    drop_dangling: bool,
    /// The bucket whose existing objects (keys on standard input) are indexed.
    #[arg(long, value_name = "BUCKET")]
    add: Option<String>,
    /// Seconds between progress lines when standard error is not a terminal (0 = none).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = progress::parse_interval)]
    progress: Duration,
}

/// How a run ended: everything fine, something to report, or stopped by Ctrl-C.
enum Outcome {
    Clean,
    Findings,
    Stopped,
}

impl Outcome {
    fn of(clean: bool, stopped: bool) -> Outcome {
        match (stopped, clean) {
            (true, _) => Outcome::Stopped,
            (false, true) => Outcome::Clean,
            (false, false) => Outcome::Findings,
        }
    }
}

fn run(args: Args) -> Result<Outcome, String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let bucket = args
        .check
        .as_deref()
        .or(args.add.as_deref())
        .unwrap_or_default();
    check_name(bucket, &reserved_keys(&config.elliptics)).map_err(|e| e.to_string())?;
    let storage = storage::open(&config).map_err(|e| e.to_string())?;
    let meta = read_meta(storage.as_ref(), &config.elliptics.metadata_groups, bucket)
        .map_err(|e| format!("bucket {bucket}: {e}"))?;
    let index = Index::new(storage.clone(), config.proxy.index_shard_entries);
    let ctx = Context::new(meta.name.clone(), meta.groups.clone());
    progress::stop_on_interrupt()?;
    if args.add.is_some() {
        return add(storage.as_ref(), &index, &ctx, args.progress);
    }
    let bar = Progress::new(
        &format!("bindex -check {bucket}"),
        "entries",
        None,
        args.progress,
    );
    let report = index
        .check(&ctx, args.drop_dangling, |ev| match ev {
            CheckEvent::Entry {
                shards_read,
                shards_known,
            } => {
                bar.set_parts(shards_read, shards_known);
                bar.inc(1);
                !progress::interrupted()
            }
            CheckEvent::Dangling(k) => {
                bar.println(&format!("dangling: {k}"));
                true
            }
        })
        .map_err(|e| format!("index of {bucket}: {e}"))?;
    bar.finish();
    for (k, e) in &report.unknown {
        println!("unknown: {k}: {e}");
    }
    println!(
        "bucket {bucket}: {} entries, {} dangling, {} dropped, {} unknown ({} shards read){}",
        report.entries,
        report.dangling.len(),
        report.dropped,
        report.unknown.len(),
        report.shards,
        if report.stopped {
            "; interrupted before the end"
        } else {
            ""
        }
    );
    let clean = report.dangling.len() as u64 == report.dropped && report.unknown.is_empty();
    Ok(Outcome::of(clean, report.stopped))
}

/// The keys of standard input, read by a thread (so Ctrl-C is seen while
/// a pipe is quiet), and their number when standard input is a file.
fn keys() -> Result<(mpsc::Receiver<std::io::Result<String>>, Option<u64>), String> {
    let mut total = None;
    let mut file = std::fs::File::open("/dev/stdin").ok();
    if let Some(f) = file
        .as_mut()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
    {
        let mut lines = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| format!("standard input: {e}"))?;
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        f.rewind().map_err(|e| format!("standard input: {e}"))?;
        total = Some(lines);
    }
    let (tx, rx) = mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        let input: Box<dyn BufRead> = match file {
            Some(f) if total.is_some() => Box::new(std::io::BufReader::new(f)),
            _ => Box::new(std::io::stdin().lock()),
        };
        for line in input.lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Ok((rx, total))
}

/// `-add`: enters the objects named on standard input.
fn add(
    storage: &dyn Storage,
    index: &Index,
    ctx: &Context,
    interval: Duration,
) -> Result<Outcome, String> {
    let (lines, total) = keys()?;
    let bar = Progress::new(
        &format!("bindex -add {}", ctx.namespace),
        "keys",
        total,
        interval,
    );
    let (mut added, mut missing, mut failed) = (0u64, 0u64, 0u64);
    let mut stopped = false;
    loop {
        if progress::interrupted() {
            stopped = true;
            break;
        }
        let key = match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => line.map_err(|e| format!("standard input: {e}"))?,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        bar.inc(1);
        if key.is_empty() {
            continue;
        }
        match entry_of(storage, ctx, &key) {
            Ok(Some(entry)) => match index.put(ctx, &entry) {
                Ok(_) => added += 1,
                Err(e) => {
                    bar.println(&format!("failed: {key}: {e}"));
                    failed += 1;
                }
            },
            Ok(None) => {
                bar.println(&format!("missing: {key}"));
                missing += 1;
            }
            Err(e) => {
                bar.println(&format!("failed: {key}: {e}"));
                failed += 1;
            }
        }
    }
    bar.finish();
    println!(
        "bucket {}: {added} added, {missing} missing, {failed} failed{}",
        ctx.namespace,
        if stopped {
            "; interrupted before the end of the key list"
        } else {
            ""
        }
    );
    Ok(Outcome::of(missing == 0 && failed == 0, stopped))
}

/// The index entry of an existing object: its newest replica, with the
/// ETag and Content-Type of its S3 metadata when that describes it.
/// `None` when no group holds it.
fn entry_of(
    storage: &dyn Storage,
    ctx: &Context,
    key: &str,
) -> Result<Option<Entry>, storage::StorageError> {
    let results = storage.lookup(ctx, key);
    let newest = results
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .max_by_key(|i| i.mtime);
    let Some(info) = newest else {
        let fault = results
            .into_iter()
            .filter_map(|r| r.result.err())
            .find(|e| !e.is_not_found());
        return fault.map_or(Ok(None), Err);
    };
    let mut entry = Entry::of_replica(key, info);
    if let Some(m) = meta::read_stored(storage, ctx, key)?.filter(|m| m.describes(info)) {
        entry.etag = m.etag;
        entry.content_type = m.content_type;
    }
    Ok(Some(entry))
}

fn main() -> ExitCode {
    let args = Args::parse_from(normalize_args(std::env::args_os()));
    match run(args) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Ok(Outcome::Stopped) => ExitCode::from(progress::INTERRUPTED_EXIT),
        Err(e) => {
            eprintln!("bindex: {e}");
            ExitCode::from(2)
        }
    }
}
