//! `bindex -config FILE -check BUCKET [-drop-dangling]`: checks a bucket's
//! name index (docs/index.md) against its objects in the store the config
//! selects: every entry is looked up; entries whose object no group holds
//! are reported (`dangling: KEY`), and removed with `-drop-dangling`.
//! Exit status 0 when nothing is dangling (or everything dangling was
//! dropped), 1 when dangling entries remain, 2 on errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use backrunner::bucket::{check_name, read_meta, reserved_keys};
use backrunner::cli::normalize_args;
use backrunner::config::Config;
use backrunner::index::Index;
use backrunner::storage::{self, Context};

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
    #[arg(long, value_name = "BUCKET")]
    check: String,
    /// Remove the dangling entries found.
    #[arg(long)]
    drop_dangling: bool,
}

fn run(args: Args) -> Result<bool, String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    check_name(&args.check, &reserved_keys(&config.elliptics)).map_err(|e| e.to_string())?;
    let storage = storage::open(&config).map_err(|e| e.to_string())?;
    let meta = read_meta(
        storage.as_ref(),
        &config.elliptics.metadata_groups,
        &args.check,
    )
    .map_err(|e| format!("bucket {}: {e}", args.check))?;
    let index = Index::new(storage, config.proxy.index_shard_entries);
    let ctx = Context::new(meta.name.clone(), meta.groups.clone());
    let report = index
        .check(&ctx, args.drop_dangling, |k| println!("dangling: {k}"))
        .map_err(|e| format!("index of {}: {e}", args.check))?;
    for (k, e) in &report.unknown {
        println!("unknown: {k}: {e}");
    }
    println!(
        "bucket {}: {} entries, {} dangling, {} dropped, {} unknown ({} shards read)",
        args.check,
        report.entries,
        report.dangling.len(),
        report.dropped,
        report.unknown.len(),
        report.shards
    );
    Ok(report.dangling.len() as u64 == report.dropped && report.unknown.is_empty())
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
