//! Backrunner's JSON config file, read with the same keys, plus the embedded
//! store's `local` section. Unknown keys are ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

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

/// The `proxy` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProxyConfig {
    /// Plain HTTP listen address.
    pub address: String,
    /// HTTPS listen address.
    pub https_address: String,
    /// Certificate chain file for HTTPS.
    pub cert_file: String,
    /// Private key file for HTTPS.
    pub key_file: String,
    /// Seconds an idle connection is kept.
    #[serde(rename = "idle-timeout")]
    pub idle_timeout: u64,
    /// Below this free-space ratio a bucket is used only when nothing else is left.
    #[serde(rename = "free-space-ratio-soft")]
    pub free_space_ratio_soft: f64,
    /// Below this free-space ratio a bucket is never written.
    #[serde(rename = "free-space-ratio-hard")]
    pub free_space_ratio_hard: f64,
    /// Seconds between bucket and config reloads.
    #[serde(rename = "bucket-update-interval")]
    pub bucket_update_interval: u64,
    /// Seconds between statistics updates.
    #[serde(rename = "bucket-stat-update-interval")]
    pub bucket_stat_update_interval: u64,
    /// Port of the storage nodes' streaming module for `/redirect/`.
    #[serde(rename = "redirect-port")]
    pub redirect_port: i64,
    /// Token signing redirect URLs (Backrunner read it as `RedirectToken`).
    #[serde(rename = "redirect-token", alias = "RedirectToken")]
    pub redirect_token: String,
    /// Seconds a redirect signature stays valid.
    #[serde(rename = "redirect-signature-timeout")]
    pub redirect_signature_timeout: u64,
    /// Prefix cut from file names in redirect URLs.
    #[serde(rename = "redirect-root")]
    pub redirect_root: String,
    /// Headers added to every reply.
    #[serde(deserialize_with = "null_default")]
    pub headers: BTreeMap<String, String>,
    /// Directory of static files.
    pub root: String,
    /// Key suffix -> Content-Type.
    #[serde(rename = "content-types", deserialize_with = "null_default")]
    pub content_types: BTreeMap<String, String>,
    /// Elliptics io flags for reads.
    #[serde(rename = "reader-io-flags")]
    pub reader_io_flags: u64,
    /// Elliptics io flags for writes.
    #[serde(rename = "writer-io-flags")]
    pub writer_io_flags: u64,
    /// Seconds automatic config refresh stays off after `/update_local_config/`.
    #[serde(rename = "disable-config-update-for-seconds")]
    pub disable_config_update_for_seconds: u64,
    /// Copy the newest replica into groups found stale by reads (off: it costs I/O).
    #[serde(rename = "recover-on-read")]
    pub recover_on_read: bool,
    /// Bytes per second recovery may copy, all recoveries together.
    #[serde(rename = "recover-bytes-per-second")]
    pub recover_bytes_per_second: u64,
    /// Removed/total record ratio past which a backend is defragmented (0 = never).
    #[serde(rename = "defrag-removed-ratio")]
    pub defrag_removed_ratio: f64,
    /// Removed records a backend needs before its ratio is considered.
    #[serde(rename = "defrag-min-removed-records")]
    pub defrag_min_removed_records: u64,
    /// Listen address of the S3 API (docs/s3.md); empty = off.
    #[serde(rename = "s3-address")]
    pub s3_address: String,
    /// HTTPS listen address of the S3 API (with `cert_file`/`key_file`); empty = off.
    #[serde(rename = "s3-https-address")]
    pub s3_https_address: String,
    /// The region S3 signatures must name; empty = any region.
    #[serde(rename = "s3-region")]
    pub s3_region: String,
    /// Domain of virtual-host style S3 requests (`BUCKET.<domain>`); empty = path style only.
    #[serde(rename = "s3-domain")]
    pub s3_domain: String,
    /// Entries a shard of the name index holds before it splits (docs/index.md).
    #[serde(rename = "index-shard-entries")]
    pub index_shard_entries: usize,
    /// The user whose riftv1 signature (keyed by `admin-token`) authorizes
    /// `/update_local_config/`; empty = no admin credential.
    #[serde(rename = "admin-user")]
    pub admin_user: String,
    /// The admin user's token; never shown.
    #[serde(rename = "admin-token")]
    pub admin_token: String,
    /// Accept unsigned `/update_local_config/` from loopback callers, as
    /// Backrunner accepted it from anyone (off).
    #[serde(rename = "unsigned-config-update-from-loopback")]
    pub unsigned_config_update_from_loopback: bool,
    /// When above 0, a checked signature must also sign an `X-Ell-Signtime`
    /// (Unix seconds) at most this many seconds away from now.
    #[serde(rename = "signature-max-age")]
    pub signature_max_age: u64,
    /// Open connections served in full; above it only health checks are
    /// answered and everything else gets 503 (0 = a quarter of the fd limit).
    #[serde(rename = "max-connections")]
    pub max_connections: u64,
    /// Least average bytes per second a request body must arrive at, measured
    /// over every `body-min-rate-window` (0 = no floor).
    #[serde(rename = "body-min-bytes-per-second")]
    pub body_min_bytes_per_second: u64,
    /// Seconds over which `body-min-bytes-per-second` is averaged.
    #[serde(rename = "body-min-rate-window")]
    pub body_min_rate_window: u64,
    /// Largest object an upload may declare (offset + Content-Length), in
    /// bytes or a size string; 0 or absent = [`DEFAULT_MAX_OBJECT_SIZE`].
    #[serde(rename = "max-object-size", deserialize_with = "de_size")]
    pub max_object_size: u64,
}

/// Default of `proxy.max-object-size`: 100 GiB.
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 100 << 30;

impl ProxyConfig {
    /// `max-object-size`, with 0 meaning the default.
    pub fn max_object_size(&self) -> u64 {
        match self.max_object_size {
            0 => DEFAULT_MAX_OBJECT_SIZE,
            n => n,
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            address: String::new(),
            https_address: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            idle_timeout: 60,
            free_space_ratio_soft: 0.2,
            free_space_ratio_hard: 0.15,
            bucket_update_interval: 30,
            bucket_stat_update_interval: 10,
            redirect_port: 0,
            redirect_token: String::new(),
            redirect_signature_timeout: 60,
            redirect_root: String::new(),
            headers: BTreeMap::new(),
            root: String::new(),
            content_types: BTreeMap::new(),
            reader_io_flags: 0,
            writer_io_flags: 0,
            disable_config_update_for_seconds: 0,
            recover_on_read: false,
            recover_bytes_per_second: 32 << 20,
            defrag_removed_ratio: 0.5,
            defrag_min_removed_records: 1000,
            s3_address: String::new(),
            s3_https_address: String::new(),
            s3_region: String::new(),
            s3_domain: String::new(),
            index_shard_entries: crate::index::DEFAULT_SHARD_ENTRIES,
            admin_user: String::new(),
            admin_token: String::new(),
            unsigned_config_update_from_loopback: false,
            signature_max_age: 0,
            max_connections: 0,
            body_min_bytes_per_second: 1024,
            body_min_rate_window: 60,
            max_object_size: 0,
        }
    }
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
        config.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(config)
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

    /// Checks what serde cannot: a store is selected, listen addresses exist,
    /// ratios make sense, metadata groups exist.
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.proxy;
        if p.address.is_empty() && p.https_address.is_empty() {
            return Err("proxy.address or proxy.https_address must be set".into());
        }
        if !p.https_address.is_empty() && (p.cert_file.is_empty() || p.key_file.is_empty()) {
            return Err("proxy.https_address needs proxy.cert_file and proxy.key_file".into());
        }
        if !p.s3_https_address.is_empty() && (p.cert_file.is_empty() || p.key_file.is_empty()) {
            return Err("proxy.s3-https-address needs proxy.cert_file and proxy.key_file".into());
        }
        if !(0.0..=1.0).contains(&p.free_space_ratio_hard)
            || !(0.0..=1.0).contains(&p.free_space_ratio_soft)
        {
            return Err("proxy.free-space-ratio-soft/-hard must be between 0 and 1".into());
        }
        if !(0.0..=1.0).contains(&p.defrag_removed_ratio) {
            return Err("proxy.defrag-removed-ratio must be between 0 and 1".into());
        }
        if p.body_min_bytes_per_second > 0 && p.body_min_rate_window == 0 {
            return Err("proxy.body-min-rate-window must be above 0 when proxy.body-min-bytes-per-second is set".into());
        }
        if p.admin_user.is_empty() != p.admin_token.is_empty() {
            return Err("proxy.admin-user and proxy.admin-token must be set together".into());
        }
        if p.recover_bytes_per_second == 0 {
            return Err("proxy.recover-bytes-per-second must be above 0".into());
        }
        if self.elliptics.metadata_groups.is_empty() {
            return Err(
                "elliptics.metadata-groups is empty: bucket metadata has nowhere to live".into(),
            );
        }
        match &self.local {
            Some(local) => {
                if local.path.as_os_str().is_empty() {
                    return Err("local.path is empty".into());
                }
                if local.groups.is_empty() {
                    return Err("local.groups is empty".into());
                }
                let mut seen = std::collections::BTreeSet::new();
                for g in &local.groups {
                    if !seen.insert(g.group) {
                        return Err(format!("local.groups: group {} is listed twice", g.group));
                    }
                }
                for g in &self.elliptics.metadata_groups {
                    if !seen.contains(g) {
                        return Err(format!(
                            "elliptics.metadata-groups: group {g} is not one of local.groups"
                        ));
                    }
                }
            }
            None if self.elliptics.remote.is_empty() => {
                return Err(
                    "no store selected: add a \"local\" section or elliptics.remote nodes".into(),
                );
            }
            None => {}
        }
        Ok(())
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

    /// Refuses a `proxy.root` that would serve `/`, the config file's
    /// directory or the embedded store (over it, or inside it): static files
    /// must never expose tokens, bucket metadata or objects past their ACL.
    pub fn check_root(&self, config_path: &Path) -> Result<(), String> {
        let root = &self.proxy.root;
        if root.is_empty() {
            return Ok(());
        }
        let root_n = normalize(Path::new(root));
        if root_n.parent().is_none() {
            return Err(format!(
                "proxy.root {root:?} would serve the whole file system"
            ));
        }
        if let Some(dir) = config_path.parent() {
            let dir_n = normalize(dir);
            if dir_n.starts_with(&root_n) {
                return Err(format!(
                    "proxy.root {root:?} would serve the config file's directory {}",
                    dir_n.display()
                ));
            }
        }
        if let Some(local) = &self.local {
            let store = normalize(&local.path);
            if store.starts_with(&root_n) || root_n.starts_with(&store) {
                return Err(format!(
                    "proxy.root {root:?} would serve the store's directory local.path {}",
                    store.display()
                ));
            }
        }
        Ok(())
    }
}

/// An absolute path without `.`/`..` and with symlinks resolved as far as
/// the path exists (a missing tail is kept as written).
fn normalize(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut lexical = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                lexical.pop();
            }
            std::path::Component::CurDir => {}
            c => lexical.push(c),
        }
    }
    // Resolve the longest existing prefix, keep the rest.
    let mut head = lexical.clone();
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = head.canonicalize() {
            let mut out = real;
            for t in tail.iter().rev() {
                out.push(t);
            }
            return out;
        }
        match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                head = parent.to_path_buf();
            }
            _ => return lexical,
        }
    }
}

/// `null` as the type's default (Go writes nil maps, slices and pointers as
/// `null`); an absent key gets the default through `#[serde(default)]`.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Parses a size: a number of bytes, or a string with an optional
/// K/M/G/T suffix (powers of 1024, an optional trailing `B` or `iB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, mult) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('M') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('G') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('T') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("invalid size {s:?}: want bytes or a number with K, M, G or T"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a byte count or a size string like \"200M\"")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("a size must not be negative"))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v >= 0.0 && v.fract() == 0.0 {
                Ok(v as u64)
            } else {
                Err(E::custom("a size must be a whole number of bytes"))
            }
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            parse_size(v).map_err(E::custom)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<u64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("200M").unwrap(), 200 << 20);
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size("10gib").unwrap(), 10 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("-1M").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    const MINIMAL: &str = r#"{"elliptics": {"metadata-groups": [1]},
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
    const GO_MARSHALLED: &str = include_str!("../tests/data/go-marshal-proxy-config.json");

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
    fn static_root_must_not_expose_store_or_config() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("store/group-1")).unwrap();
        std::fs::create_dir_all(d.join("etc/www")).unwrap();
        let config_path = d.join("etc/config.json");
        let mut c = Config::from_slice(MINIMAL.as_bytes(), "t").unwrap();
        c.local.as_mut().unwrap().path = d.join("store");
        let with_root = |root: &Path| {
            let mut c = c.clone();
            c.proxy.root = root.display().to_string();
            c.check_root(&config_path)
        };
        assert!(with_root(Path::new("")).is_ok());
        assert!(with_root(&d.join("etc/www")).is_ok());
        assert!(with_root(&d.join("elsewhere")).is_ok());
        for bad in [
            PathBuf::from("/"),
            d.join("etc/www/../../.."),
            d.to_path_buf(),
            d.join("etc"),
            d.join("etc/www/.."),
            d.join("store"),
            d.join("store/group-1"),
            d.join("store/not-yet"),
        ] {
            assert!(with_root(&bad).is_err(), "{}", bad.display());
        }
        // A symlink to the store is the store.
        std::os::unix::fs::symlink(d.join("store"), d.join("link")).unwrap();
        assert!(with_root(&d.join("link")).is_err());
    }

    #[test]
    fn restart_only_keys_are_named() {
        let a = Config::from_slice(MINIMAL.as_bytes(), "t").unwrap();
        let mut b = a.clone();
        assert!(a.restart_only_changes(&b).is_empty());
        b.proxy.headers.insert("X".into(), "y".into());
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

    #[test]
    fn invalid_configs_name_the_problem() {
        let e = Config::from_slice(b"{", "f.json").unwrap_err().to_string();
        assert!(e.starts_with("config f.json: invalid JSON"), "{e}");
        let e = Config::from_slice(
            br#"{"proxy": {"address": "x"}, "elliptics": {"metadata-groups": [1]}}"#,
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no store selected"), "{e}");
        let e = Config::from_slice(
            br#"{"proxy": {"address": "x"}, "elliptics": {"metadata-groups": [3]}, "local": {"path": "/x", "groups": [{"group": 1}]}}"#,
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("group 3"), "{e}");
    }
}
