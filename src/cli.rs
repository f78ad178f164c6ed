//! Command lines of `backrunner` and `bmeta`. Both accept Go's single-dash
//! long options (`-config FILE`) beside the `--config FILE` form.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// Rewrites Go-style `-name` options into `--name` for clap; `-h`, `-V`,
/// `--x`, `-` and plain values are left alone.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let s = a.to_string_lossy();
            if i > 0 && s.len() > 2 && s.starts_with('-') && !s.starts_with("--") {
                let mut o = OsString::from("-");
                o.push(&a);
                o
            } else {
                a
            }
        })
        .collect()
}

/// `backrunner`: the HTTP proxy.
#[derive(Debug, Parser)]
#[command(
    name = "backrunner",
    version,
    about = "HTTP proxy for the Elliptics distributed object store (Backrunner-compatible)"
)]
pub struct ProxyArgs {
    /// Config file (JSON, Backrunner's keys).
    #[arg(long, value_name = "FILE", required_unless_present = "check_config")]
    pub config: Option<PathBuf>,
    /// Bucket list file: one writable bucket name per line.
    #[arg(long, value_name = "FILE")]
    pub buckets: Option<PathBuf>,
    /// Validate this config file, print it as the proxy sees it (secrets
    /// hidden) and exit: 0 when valid, 1 with one line naming the problem.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub check_config: Option<PathBuf>,
}

/// `bmeta`: bucket metadata tool.
#[derive(Debug, Parser)]
#[command(
    name = "bmeta",
    version,
    about = "Writes and reads bucket metadata in the metadata groups"
)]
pub struct BmetaArgs {
    /// Config file of the proxy (selects the store and the metadata groups).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Upload the buckets described by this JSON file.
    #[arg(long, value_name = "BUCKETS.json")]
    pub upload: Option<PathBuf>,
    /// Print this bucket's metadata as JSON.
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// Store this proxy config under `elliptics.backrunner-config-key`.
    #[arg(long, value_name = "FILE")]
    pub upload_backrunner_config: Option<PathBuf>,
    /// Store this bucket list under `elliptics.bucket-list-key`.
    #[arg(long, value_name = "FILE")]
    pub upload_bucket_list: Option<PathBuf>,
    /// Seconds between progress lines of `-upload` when standard error is
    /// not a terminal (0 = none).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = crate::progress::parse_interval)]
    pub progress: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        normalize_args(v.iter().map(OsString::from))
    }

    #[test]
    fn go_style_flags() {
        let a =
            ProxyArgs::try_parse_from(args(&["backrunner", "-config", "c.json", "-buckets", "b"]))
                .unwrap();
        assert_eq!(a.config, Some(PathBuf::from("c.json")));
        assert_eq!(a.buckets, Some(PathBuf::from("b")));
        let a = ProxyArgs::try_parse_from(args(&["backrunner", "--config=c.json"])).unwrap();
        assert_eq!(a.config, Some(PathBuf::from("c.json")));
        let a = ProxyArgs::try_parse_from(args(&["backrunner", "-config=c.json"])).unwrap();
        assert_eq!(a.config, Some(PathBuf::from("c.json")));
        let b =
            BmetaArgs::try_parse_from(args(&["bmeta", "-config", "c", "-bucket", "b1"])).unwrap();
        assert_eq!(b.bucket.as_deref(), Some("b1"));
        let b = BmetaArgs::try_parse_from(args(&[
            "bmeta",
            "-config",
            "c",
            "-upload-backrunner-config",
            "p.json",
            "-upload-bucket-list",
            "l.txt",
        ]))
        .unwrap();
        assert_eq!(b.upload_backrunner_config, Some(PathBuf::from("p.json")));
        assert_eq!(b.upload_bucket_list, Some(PathBuf::from("l.txt")));
        assert!(ProxyArgs::try_parse_from(args(&["backrunner"])).is_err());
    }

    #[test]
    fn check_config_needs_no_config() {
        let a =
            ProxyArgs::try_parse_from(args(&["backrunner", "-check-config", "c.json"])).unwrap();
        assert_eq!(a.check_config, Some(PathBuf::from("c.json")));
        assert_eq!(a.config, None);
        assert!(ProxyArgs::try_parse_from(args(&[
            "backrunner",
            "--check-config",
            "a",
            "--config",
            "b"
        ]))
        .is_err());
    }
}
