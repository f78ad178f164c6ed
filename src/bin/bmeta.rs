//! `bmeta -config FILE -upload BUCKETS.json | -bucket NAME`: writes and reads
//! bucket metadata in the metadata groups of the store the config selects.

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use backrunner::bucket::{read_meta, spec::parse_bucket_spec, write_meta};
use backrunner::cli::{normalize_args, BmetaArgs};
use backrunner::config::Config;
use backrunner::storage;

fn run(args: BmetaArgs) -> Result<(), String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let groups = config.elliptics.metadata_groups.clone();
    let storage = storage::open(&config)?;
    if args.upload.is_none() && args.bucket.is_none() {
        return Err("nothing to do: give -upload BUCKETS.json or -bucket NAME".into());
    }
    if let Some(path) = &args.upload {
        let data =
            std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let buckets = parse_bucket_spec(&data).map_err(|e| format!("{}: {e}", path.display()))?;
        for b in &buckets {
            write_meta(storage.as_ref(), &groups, b)
                .map_err(|e| format!("bucket {}: {e}", b.name))?;
            println!(
                "uploaded bucket {} (groups {:?}) to metadata groups {:?}",
                b.name, b.groups, groups
            );
        }
    }
    if let Some(name) = &args.bucket {
        let m = read_meta(storage.as_ref(), &groups, name).map_err(|e| e.to_string())?;
        let acl: Vec<_> = m.acl.values().collect();
        let out = json!({
            "version": m.version,
            "name": m.name,
            "groups": m.groups,
            "acl": acl,
            "flags": m.flags,
            "max-size": m.max_size,
            "max-key-num": m.max_key_num,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = BmetaArgs::parse_from(normalize_args(std::env::args_os()));
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bmeta: {e}");
            ExitCode::FAILURE
        }
    }
}
