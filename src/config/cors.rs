//! `proxy.s3-cors` and `proxy.vod-cors`: the CORS rules of the S3 and VOD
//! listeners, as the config holds and checks them (`http::cors` applies
//! them to requests). Here, not in an API, so the config does not depend
//! on the layers above it.

use serde::{Deserialize, Serialize};

use super::InvalidConfig;

/// Methods a rule may allow (S3's list).
pub const METHODS: &[&str] = &["GET", "PUT", "HEAD", "POST", "DELETE"];

/// One rule of `proxy.s3-cors` or `proxy.vod-cors`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsRule {
    /// Origins (`scheme://host[:port]`), each with at most one `*` wildcard;
    /// `*` alone allows any origin.
    #[serde(rename = "allowed-origins")]
    pub allowed_origins: Vec<String>,
    /// Methods among [`METHODS`].
    #[serde(rename = "allowed-methods")]
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for (any case, one `*` wildcard each).
    #[serde(rename = "allowed-headers")]
    pub allowed_headers: Vec<String>,
    /// Reply headers the browser may show the page (`Access-Control-Expose-Headers`).
    #[serde(rename = "expose-headers")]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age` of preflight answers, seconds.
    #[serde(rename = "max-age-seconds", skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// Checks the rules of config key `key` (config validation): every rule
/// names origins and methods, methods are S3's, and no pattern has two
/// wildcards.
pub fn validate(rules: &[CorsRule], key: &str) -> Result<(), InvalidConfig> {
    for (i, r) in rules.iter().enumerate() {
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(InvalidConfig(format!(
                "{key}[{i}]: allowed-origins and allowed-methods must not be empty"
            )));
        }
        if let Some(m) = r
            .allowed_methods
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(InvalidConfig(format!(
                "{key}[{i}]: method {m:?} is not one of {}",
                METHODS.join(", ")
            )));
        }
        if let Some(p) = r
            .allowed_origins
            .iter()
            .chain(&r.allowed_headers)
            .find(|p| p.matches('*').count() > 1)
        {
            return Err(InvalidConfig(format!(
                "{key}[{i}]: {p:?} has more than one '*' wildcard"
            )));
        }
    }
    Ok(())
}
