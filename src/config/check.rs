//! What serde cannot check: a config that parses but cannot work, and a
//! `proxy.root` that would expose the store or the config.

use std::path::{Path, PathBuf};

use super::Config;

/// Why a parsed config cannot be used, in one line naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub String);

impl From<&str> for InvalidConfig {
    fn from(s: &str) -> Self {
        InvalidConfig(s.to_string())
    }
}

impl Config {
    /// Checks what serde cannot: a store is selected, listen addresses exist,
    /// ratios make sense, metadata groups exist.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
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
        super::cors::validate(&p.s3_cors)?;
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
                        return Err(InvalidConfig(format!(
                            "local.groups: group {} is listed twice",
                            g.group
                        )));
                    }
                }
                for g in &self.elliptics.metadata_groups {
                    if !seen.contains(g) {
                        return Err(InvalidConfig(format!(
                            "elliptics.metadata-groups: group {g} is not one of local.groups"
                        )));
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

    /// Refuses a `proxy.root` that would serve `/`, the config file's
    /// directory or the embedded store (over it, or inside it): static files
    /// must never expose tokens, bucket metadata or objects past their ACL.
    pub fn check_root(&self, config_path: &Path) -> Result<(), InvalidConfig> {
        let root = &self.proxy.root;
        if root.is_empty() {
            return Ok(());
        }
        let root_n = normalize(Path::new(root));
        if root_n.parent().is_none() {
            return Err(InvalidConfig(format!(
                "proxy.root {root:?} would serve the whole file system"
            )));
        }
        if let Some(dir) = config_path.parent() {
            let dir_n = normalize(dir);
            if dir_n.starts_with(&root_n) {
                return Err(InvalidConfig(format!(
                    "proxy.root {root:?} would serve the config file's directory {}",
                    dir_n.display()
                )));
            }
        }
        if let Some(local) = &self.local {
            let store = normalize(&local.path);
            if store.starts_with(&root_n) || root_n.starts_with(&store) {
                return Err(InvalidConfig(format!(
                    "proxy.root {root:?} would serve the store's directory local.path {}",
                    store.display()
                )));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;

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
