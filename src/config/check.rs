//! What serde cannot check: a config that parses but cannot work.

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
        if !p.vod_https_address.is_empty() && (p.cert_file.is_empty() || p.key_file.is_empty()) {
            return Err("proxy.vod-https-address needs proxy.cert_file and proxy.key_file".into());
        }
        super::cors::validate(&p.s3_cors, "proxy.s3-cors")?;
        super::cors::validate(&p.vod_cors, "proxy.vod-cors")?;
        if !(1..=60).contains(&p.vod_segment_seconds) {
            return Err("proxy.vod-segment-seconds must be between 1 and 60".into());
        }
        for (key, value) in [
            ("proxy.vod-cache-control", &p.vod_cache_control),
            (
                "proxy.vod-playlist-cache-control",
                &p.vod_playlist_cache_control,
            ),
        ] {
            if actix_web::http::header::HeaderValue::from_str(value).is_err() {
                return Err(InvalidConfig(format!(
                    "{key} {value:?} is not a header value"
                )));
            }
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
        if !(1..=super::proxy::MAX_S3_MAX_UPLOADS).contains(&p.s3_max_uploads_per_bucket) {
            return Err(InvalidConfig(format!(
                "proxy.s3-max-uploads-per-bucket must be from 1 to {}",
                super::proxy::MAX_S3_MAX_UPLOADS
            )));
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
