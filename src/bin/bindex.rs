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

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use backrunner::bucket::{check_name, read_meta, reserved_keys};
use backrunner::cli::normalize_args;
use backrunner::config::Config;
use backrunner::index::shard::Entry;
use backrunner::index::Index;
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
}

fn run(args: Args) -> Result<bool, String> {
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
    if args.add.is_some() {
        return add(storage.as_ref(), &index, &ctx);
    }
    let report = index
        .check(&ctx, args.drop_dangling, |k| println!("dangling: {k}"))
        .map_err(|e| format!("index of {bucket}: {e}"))?;
    for (k, e) in &report.unknown {
        println!("unknown: {k}: {e}");
    }
    println!(
        "bucket {bucket}: {} entries, {} dangling, {} dropped, {} unknown ({} shards read)",
        report.entries,
        report.dangling.len(),
        report.dropped,
        report.unknown.len(),
        report.shards
    );
    Ok(report.dangling.len() as u64 == report.dropped && report.unknown.is_empty())
}

/// `-add`: enters the objects named on standard input; true when all were.
fn add(storage: &dyn Storage, index: &Index, ctx: &Context) -> Result<bool, String> {
    let (mut added, mut missing, mut failed) = (0u64, 0u64, 0u64);
    for line in std::io::stdin().lock().lines() {
        let key = line.map_err(|e| format!("standard input: {e}"))?;
        if key.is_empty() {
            continue;
        }
        match entry_of(storage, ctx, &key) {
            Ok(Some(entry)) => match index.put(ctx, &entry) {
                Ok(_) => added += 1,
                Err(e) => {
                    println!("failed: {key}: {e}");
                    failed += 1;
                }
            },
            Ok(None) => {
                println!("missing: {key}");
                missing += 1;
            }
            Err(e) => {
                println!("failed: {key}: {e}");
                failed += 1;
            }
        }
    }
    println!(
        "bucket {}: {added} added, {missing} missing, {failed} failed",
        ctx.namespace
    );
    Ok(missing == 0 && failed == 0)
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
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bindex: {e}");
            ExitCode::from(2)
        }
    }
}
