//! `bmeta -config FILE -upload BUCKETS.json | -bucket NAME |
//! -upload-backrunner-config FILE | -upload-bucket-list FILE`: writes and
//! reads bucket metadata, the proxy config and the bucket list in the
//! metadata groups of the store the config selects.
//!
//! `-upload` of many buckets shows its progress (src/progress.rs): a bar on
//! a terminal, a line every `-progress SECS` (10) on standard error
//! otherwise. Ctrl-C stops after the bucket in hand, says which buckets
//! were written and exits with 130.

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use backrunner::bucket::{
    check_name, parse_bucket_list, read_meta, reserved_keys, spec::parse_bucket_spec, write_meta,
    write_meta_object,
};
use backrunner::cli::{normalize_args, BmetaArgs};
use backrunner::config::Config;
use backrunner::progress::{self, Progress};
use backrunner::storage;

/// Why bmeta stopped early.
enum Stop {
    Error(String),
    Interrupted,
}

impl From<String> for Stop {
    fn from(e: String) -> Stop {
        Stop::Error(e)
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

fn run(args: BmetaArgs) -> Result<(), Stop> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let groups = config.elliptics.metadata_groups.clone();
    let storage = storage::open(&config).map_err(|e| e.to_string())?;
    if args.upload.is_none()
        && args.bucket.is_none()
        && args.upload_backrunner_config.is_none()
        && args.upload_bucket_list.is_none()
    {
        return Err(Stop::Error(
            "nothing to do: give -upload BUCKETS.json, -bucket NAME, \
             -upload-backrunner-config FILE or -upload-bucket-list FILE"
                .into(),
        ));
    }
    if let Some(path) = &args.upload_backrunner_config {
        let key = &config.elliptics.backrunner_config_key;
        if key.is_empty() {
            return Err(Stop::Error(format!(
                "{}: elliptics.backrunner-config-key is not set",
                args.config.display()
            )));
        }
        let data = read_file(path)?;
        // Refuse what the proxy would refuse when it reads the object back.
        config
            .merge_stored(&data, &path.display().to_string())
            .map_err(|e| e.to_string())?;
        write_meta_object(storage.as_ref(), &groups, key, &data)
            .map_err(|e| format!("config key {key:?}: {e}"))?;
        println!("uploaded proxy config to key {key:?} in metadata groups {groups:?}");
    }
    if let Some(path) = &args.upload_bucket_list {
        let key = &config.elliptics.bucket_list_key;
        if key.is_empty() {
            return Err(Stop::Error(format!(
                "{}: elliptics.bucket-list-key is not set",
                args.config.display()
            )));
        }
        let data = read_file(path)?;
        let text = std::str::from_utf8(&data)
            .map_err(|_| format!("{}: the bucket list is not UTF-8 text", path.display()))?;
        let names = parse_bucket_list(text);
        let reserved = reserved_keys(&config.elliptics);
        for n in &names {
            check_name(n, &reserved).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        write_meta_object(storage.as_ref(), &groups, key, &data)
            .map_err(|e| format!("bucket list key {key:?}: {e}"))?;
        println!(
            "uploaded bucket list ({} buckets) to key {key:?} in metadata groups {groups:?}",
            names.len()
        );
    }
    if let Some(path) = &args.upload {
        let data = read_file(path)?;
        let buckets = parse_bucket_spec(&data).map_err(|e| format!("{}: {e}", path.display()))?;
        // Check every name before writing any: a refused name writes nothing.
        let reserved = reserved_keys(&config.elliptics);
        for b in &buckets {
            check_name(&b.name, &reserved).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        progress::stop_on_interrupt()?;
        let total = buckets.len() as u64;
        let bar = Progress::new("bmeta -upload", "buckets", Some(total), args.progress);
        for b in &buckets {
            if progress::interrupted() {
                bar.finish();
                println!(
                    "interrupted: {} of {total} buckets uploaded, the rest not written",
                    bar.done()
                );
                return Err(Stop::Interrupted);
            }
            write_meta(storage.as_ref(), &groups, b)
                .map_err(|e| format!("bucket {}: {e}", b.name))?;
            bar.println(&format!(
                "uploaded bucket {} (groups {:?}) to metadata groups {:?}",
                b.name, b.groups, groups
            ));
            bar.inc(1);
        }
        bar.finish();
    }
    if let Some(name) = &args.bucket {
        check_name(name, &reserved_keys(&config.elliptics)).map_err(|e| e.to_string())?;
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
        Err(Stop::Interrupted) => ExitCode::from(progress::INTERRUPTED_EXIT),
        Err(Stop::Error(e)) => {
            eprintln!("bmeta: {e}");
            ExitCode::FAILURE
        }
    }
}
