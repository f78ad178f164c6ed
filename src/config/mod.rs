//! Backrunner's JSON config file, read with the same keys, plus the embedded
//! store's `local` section. Unknown keys are ignored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod check;
pub mod cors;
mod proxy;
mod root;
mod values;

pub use check::InvalidConfig;
pub use proxy::{
    ProxyConfig, ProxyHeaders, DEFAULT_INDEX_SHARD_ENTRIES, DEFAULT_MAX_OBJECT_SIZE,
    MAX_S3_MAX_UPLOADS,
};
pub use root::Guarded;
pub use values::parse_size;
use values::{de_size, null_default};

/// Why a config could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("config {path}: {message}")]
    Parse {
        /// Where the config came from.
        path: String,
        /// serde_json's description, with line and column.
        message: String,
    },
    /// The config parsed but cannot work.
    #[error("config {path}: {message}")]
    Invalid {
        /// Where the config came from.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole config file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Elliptics client settings (also `metadata-groups` for the local store).
    #[serde(deserialize_with = "null_default")]
    pub elliptics: EllipticsConfig,
    /// HTTP proxy settings.
    #[serde(deserialize_with = "null_default")]
    pub proxy: ProxyConfig,
    /// The embedded store; when present it is used instead of Elliptics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalConfig>,
}

/// The `elliptics` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EllipticsConfig {
    /// Client log file.
    #[serde(rename = "log-file")]
    pub log_file: String,
    /// Client log level (`error`, `info`, `notice`, `debug`...).
    #[serde(rename = "log-level")]
    pub log_level: String,
    /// Prefix of every log line.
    #[serde(rename = "log-prefix")]
    pub log_prefix: String,
    /// Storage nodes, `host:port:family`.
    #[serde(deserialize_with = "null_default")]
    pub remote: Vec<String>,
    /// Groups holding bucket metadata.
    #[serde(rename = "metadata-groups", deserialize_with = "null_default")]
    pub metadata_groups: Vec<u32>,
    /// Key of the proxy config object in the metadata groups, when set.
    #[serde(rename = "backrunner-config-key")]
    pub backrunner_config_key: String,
    /// Key of the bucket list object in the metadata groups, when set.
    #[serde(rename = "bucket-list-key")]
    pub bucket_list_key: String,
    /// Elliptics node parameters.
    #[serde(rename = "node-config", deserialize_with = "null_default")]
    pub node_config: NodeConfig,
}

/// Elliptics node parameters (`elliptics.node-config`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct NodeConfig {
    /// Blocking I/O threads.
    #[serde(rename = "io-thread-num")]
    pub io_thread_num: u32,
    /// Non-blocking I/O threads.
    #[serde(rename = "nonblocking-io-thread-num")]
    pub nonblocking_io_thread_num: u32,
    /// Network threads.
    #[serde(rename = "net-thread-num")]
    pub net_thread_num: u32,
    /// Operation timeout in seconds.
    #[serde(rename = "wait-timeout")]
    pub wait_timeout: u64,
    /// Route check period in seconds.
    #[serde(rename = "check-timeout")]
    pub check_timeout: u64,
    /// Node flags.
    pub flags: u64,
    /// Transactions timed out in a row before a connection is reset.
    #[serde(rename = "stall-count")]
    pub stall_count: u64,
}

/// The embedded store (`local` section).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LocalConfig {
    /// Directory holding one subdirectory per group.
    pub path: PathBuf,
    /// The groups and their switches.
    #[serde(deserialize_with = "null_default")]
    pub groups: Vec<LocalGroupConfig>,
}

/// One group of the embedded store.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LocalGroupConfig {
    /// Group id.
    pub group: u32,
    /// Bytes the group may hold; 0 = no limit. Accepts `"200M"`, `"10G"`.
    #[serde(rename = "size-limit", deserialize_with = "de_size")]
    pub size_limit: u64,
    /// Refuse writes.
    #[serde(rename = "read-only")]
    pub read_only: bool,
    /// Delay every operation by this many milliseconds.
    #[serde(rename = "delay-ms")]
    pub delay_ms: u64,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let data = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        Self::from_slice(&data, &name)
    }

    /// Parses and validates config JSON; `origin` names it in errors.
    /// A `null` map, list or object means its default, exactly as an absent
    /// key: Go's `encoding/json` writes nil maps and slices as `null`, and
    /// Backrunner's own tools and test suite write configs that way.
    pub fn from_slice(data: &[u8], origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = serde_json::from_slice(data).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: format!("invalid JSON: {e}"),
        })?;
        config.zeros_to_defaults();
        config.validate().map_err(|e| ConfigError::Invalid {
            path: origin.to_string(),
            message: e.0,
        })?;
        Ok(config)
    }

    /// Parses a config stored in the cluster (under
    /// `elliptics.backrunner-config-key`) and merges it with `self`, the
    /// file's: the `local` section always comes from the file (it describes
    /// this machine's disks). The result is validated like a config file.
    pub fn merge_stored(&self, data: &[u8], origin: &str) -> Result<Config, ConfigError> {
        let mut c: Config = serde_json::from_slice(data).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: format!("invalid JSON: {e}"),
        })?;
        c.local = self.local.clone();
        c.validate().map_err(|e| ConfigError::Invalid {
            path: origin.to_string(),
            message: e.0,
        })?;
        Ok(c)
    }

    /// Go's `encoding/json` writes every unset number as 0. Where Backrunner
    /// gives 0 no meaning of its own the default applies: `idle-timeout`
    /// (Backrunner ignores the key) and `bucket-stat-update-interval`
    /// (Backrunner would never refresh statistics again, leaving
    /// `/nobucket_upload/` to place writes on a stale view). Other zeros
    /// keep Backrunner's meaning (docs/config.md).
    fn zeros_to_defaults(&mut self) {
        let defaults = ProxyConfig::default();
        let p = &mut self.proxy;
        if p.idle_timeout == 0 {
            p.idle_timeout = defaults.idle_timeout;
        }
        if p.bucket_stat_update_interval == 0 {
            p.bucket_stat_update_interval = defaults.bucket_stat_update_interval;
        }
    }

    /// The config as shown by `/proxy_stat/`: tokens blanked.
    pub fn without_secrets(&self) -> Config {
        let mut c = self.clone();
        for t in [&mut c.proxy.redirect_token, &mut c.proxy.admin_token] {
            if !t.is_empty() {
                *t = "<hidden>".into();
            }
        }
        c
    }

    /// Keys that differ between `self` (running) and `next` but only take
    /// effect on restart: listeners, connection limits, the store's
    /// location, the Elliptics node and logging.
    pub fn restart_only_changes(&self, next: &Config) -> Vec<&'static str> {
        let (a, b) = (&self.proxy, &next.proxy);
        let (e, f) = (&self.elliptics, &next.elliptics);
        let json = |v: &NodeConfig| serde_json::to_value(v).ok();
        let checks = [
            ("proxy.address", a.address != b.address),
            ("proxy.https_address", a.https_address != b.https_address),
            ("proxy.idle-timeout", a.idle_timeout != b.idle_timeout),
            (
                "proxy.max-connections",
                a.max_connections != b.max_connections,
            ),
            (
                "local.path",
                self.local.as_ref().map(|l| &l.path) != next.local.as_ref().map(|l| &l.path),
            ),
            ("elliptics.remote", e.remote != f.remote),
            (
                "elliptics.node-config",
                json(&e.node_config) != json(&f.node_config),
            ),
            ("elliptics.log-file", e.log_file != f.log_file),
            ("elliptics.log-level", e.log_level != f.log_level),
            ("elliptics.log-prefix", e.log_prefix != f.log_prefix),
        ];
        checks
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(k, _)| k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const MINIMAL: &str = r#"{"elliptics": {"metadata-groups": [1]},
        "proxy": {"address": "127.0.0.1:0"},
        "local": {"path": "/tmp/x", "groups": [{"group": 1, "size-limit": "1M"}, {"group": 2, "size-limit": 5}]}}"#;

    #[test]
    fn parses_local_and_defaults() {
        let c = Config::from_slice(MINIMAL.as_bytes(), "t").unwrap();
        let l = c.local.unwrap();
        assert_eq!(l.groups[0].size_limit, 1 << 20);
        assert_eq!(l.groups[1].size_limit, 5);
        assert_eq!(c.proxy.free_space_ratio_soft, 0.2);
        assert_eq!(c.proxy.free_space_ratio_hard, 0.15);
        assert_eq!(c.proxy.s3_max_uploads_per_bucket, 10_000);
        for bad in [0, MAX_S3_MAX_UPLOADS + 1] {
            let j = MINIMAL.replace(
                r#""address": "127.0.0.1:0""#,
                &format!(r#""address": "127.0.0.1:0", "s3-max-uploads-per-bucket": {bad}"#),
            );
            let e = Config::from_slice(j.as_bytes(), "t").unwrap_err();
            assert!(
                e.to_string()
                    .contains("s3-max-uploads-per-bucket must be from 1 to 20000"),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_ignored_and_backrunner_keys_parse() {
        let j = r#"{"elliptics": {"log-file": "/dev/stderr", "log-level": "error", "remote": ["a:1025:2"],
              "metadata-groups": [1,2], "node-config": {"io-thread-num": 8, "wait-timeout": 60, "stall-count": 3},
              "whatever": 1},
            "proxy": {"address": ":9090", "redirect-port": 80, "RedirectToken": "t", "headers": {"X-A": "b"},
              "content-types": {".mp4": "video/mp4"}, "reader-io-flags": 0, "idle-timeout": 5},
            "other": []}"#;
        let c = Config::from_slice(j.as_bytes(), "t").unwrap();
        assert_eq!(c.proxy.redirect_token, "t");
        assert_eq!(c.elliptics.node_config.io_thread_num, 8);
        assert!(c.local.is_none());
        assert_eq!(c.without_secrets().proxy.redirect_token, "<hidden>");
    }

    /// What Go's `json.Marshal` makes of Backrunner's `config.ProxyConfig`
    /// with only address, remote and metadata groups set.
    const GO_MARSHALLED: &str = include_str!("../../tests/data/go-marshal-proxy-config.json");

    #[test]
    fn go_written_config_nulls_and_zeros() {
        let c = Config::from_slice(GO_MARSHALLED.as_bytes(), "go.json").unwrap();
        assert!(c.local.is_none(), "remote and no local: Elliptics");
        assert_eq!(c.elliptics.remote, ["localhost:31008:2-0"]);
        assert_eq!(c.elliptics.metadata_groups, [1, 2, 3]);
        assert_eq!(c.elliptics.node_config.wait_timeout, 0);
        let p = &c.proxy;
        assert!(p.headers.is_empty() && p.content_types.is_empty());
        assert!(p.https_address.is_empty() && p.redirect_token.is_empty());
        assert_eq!(p.redirect_port, 0);
        // zeros Backrunner gives no meaning take the defaults
        assert_eq!(p.idle_timeout, 60);
        assert_eq!(p.bucket_stat_update_interval, 10);
        // zeros with a Backrunner meaning stay
        assert_eq!(p.bucket_update_interval, 0);
        assert_eq!(p.free_space_ratio_soft, 0.0);
        assert_eq!(p.redirect_signature_timeout, 0);
        // extension keys Go does not write keep their defaults
        assert_eq!(p.recover_bytes_per_second, 32 << 20);

        // a null map, list or object is as if absent, sections included
        let j = r#"{"elliptics": {"metadata-groups": [1], "remote": null, "node-config": null},
            "proxy": {"address": ":1", "headers": null, "content-types": null},
            "local": {"path": "/x", "groups": [{"group": 1}]}}"#;
        let c = Config::from_slice(j.as_bytes(), "t").unwrap();
        assert!(c.elliptics.remote.is_empty());
        assert!(c.proxy.headers.is_empty());
        assert_eq!(c.proxy.free_space_ratio_hard, 0.15);
        let j = r#"{"elliptics": {"metadata-groups": [1]}, "proxy": {"address": ":1"},
            "local": {"path": "/x", "groups": null}}"#;
        let e = Config::from_slice(j.as_bytes(), "t").unwrap_err();
        assert!(e.to_string().contains("local.groups is empty"), "{e}");
        let j =
            r#"{"elliptics": {"metadata-groups": [1]}, "proxy": {"address": ":1"}, "local": null}"#;
        let e = Config::from_slice(j.as_bytes(), "t").unwrap_err();
        assert!(e.to_string().contains("no store selected"), "{e}");
        let e = Config::from_slice(br#"{"proxy": null, "elliptics": null}"#, "t").unwrap_err();
        assert!(e.to_string().contains("proxy.address"), "{e}");
        // a real type error still names its line and column
        let e = Config::from_slice(
            b"{\"proxy\": {\"headers\": null,\n \"idle-timeout\": \"x\"}}",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn restart_only_keys_are_named() {
        let a = Config::from_slice(MINIMAL.as_bytes(), "t").unwrap();
        let mut b = a.clone();
        assert!(a.restart_only_changes(&b).is_empty());
        b.proxy.headers = ProxyHeaders::new([("X".into(), "y".into())].into()).unwrap();
        b.local.as_mut().unwrap().groups[0].read_only = true;
        assert!(a.restart_only_changes(&b).is_empty(), "switches reload");
        b.proxy.address = "127.0.0.1:1".into();
        b.elliptics.node_config.io_thread_num = 3;
        b.local.as_mut().unwrap().path = "/elsewhere".into();
        assert_eq!(
            a.restart_only_changes(&b),
            ["proxy.address", "local.path", "elliptics.node-config"]
        );
    }
}
