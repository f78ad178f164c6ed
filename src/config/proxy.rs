//! The `proxy` section: listeners, placement ratios, intervals, the
//! headers added to every reply, limits and credentials.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::Deserializer;

use super::values::{de_size, null_default};
use super::InvalidConfig;

/// `proxy.headers`: names and values as written, and as HTTP headers. A
/// name or value that is not valid HTTP makes the whole config invalid
/// (the error names it), so replies never drop one silently.
#[derive(Debug, Clone, Default)]
pub struct ProxyHeaders {
    text: BTreeMap<String, String>,
    parsed: Vec<(HeaderName, HeaderValue)>,
}

impl ProxyHeaders {
    /// Checks and keeps `text`; the error names the first bad header.
    pub fn new(text: BTreeMap<String, String>) -> Result<ProxyHeaders, InvalidConfig> {
        let mut parsed = Vec::with_capacity(text.len());
        for (k, v) in &text {
            let name = HeaderName::try_from(k.as_str()).map_err(|_| {
                InvalidConfig(format!("proxy.headers: {k:?} is not a valid header name"))
            })?;
            let value = HeaderValue::try_from(v.as_str()).map_err(|_| {
                InvalidConfig(format!(
                    "proxy.headers: the value of {k} ({v:?}) is not a valid header value"
                ))
            })?;
            parsed.push((name, value));
        }
        Ok(ProxyHeaders { text, parsed })
    }

    /// The headers, ready to insert into a reply.
    pub fn iter(&self) -> impl Iterator<Item = &(HeaderName, HeaderValue)> {
        self.parsed.iter()
    }

    /// The value configured for `name`, as written.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.text.get(name).map(String::as_str)
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl PartialEq for ProxyHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for ProxyHeaders {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProxyHeaders {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(d)?;
        ProxyHeaders::new(text).map_err(serde::de::Error::custom)
    }
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
    /// Headers added to every reply, checked when the config is read.
    #[serde(deserialize_with = "null_default")]
    pub headers: ProxyHeaders,
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
    /// Seconds between the end of one background repair pass and the start
    /// of the next (0 = no pass): every key the name index lists in a
    /// bucket of several groups is checked as recover-on-read checks a key
    /// read (docs/reliability.md).
    #[serde(rename = "repair-pass-interval")]
    pub repair_pass_interval: u64,
    /// Keys per second the repair pass checks at most.
    #[serde(rename = "repair-pass-keys-per-second")]
    pub repair_pass_keys_per_second: u64,
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
    /// CORS rules of the S3 listener (docs/s3.md "CORS"); empty = no CORS.
    #[serde(rename = "s3-cors", deserialize_with = "null_default")]
    pub s3_cors: Vec<super::cors::CorsRule>,
    /// Listen address of the video-on-demand API, `/hls/` and `/dash/`
    /// (docs/vod.md); empty = off.
    #[serde(rename = "vod-address")]
    pub vod_address: String,
    /// HTTPS listen address of the VOD API (with `cert_file`/`key_file`); empty = off.
    #[serde(rename = "vod-https-address")]
    pub vod_https_address: String,
    /// Target duration of VOD segments in seconds (segments start on the
    /// first video sync sample at or past it); the same on every proxy.
    #[serde(rename = "vod-segment-seconds")]
    pub vod_segment_seconds: u32,
    /// CORS rules of the VOD listener, shaped as `s3-cors` (docs/vod.md); empty = no CORS.
    #[serde(rename = "vod-cors", deserialize_with = "null_default")]
    pub vod_cors: Vec<super::cors::CorsRule>,
    /// Bytes of titles' sample indexes the VOD API keeps in memory (a size
    /// string or bytes; 0 = none); read at start.
    #[serde(rename = "vod-index-cache-size", deserialize_with = "de_size")]
    pub vod_index_cache_size: u64,
    /// `Cache-Control` of VOD init and media segments; empty = none.
    #[serde(rename = "vod-cache-control")]
    pub vod_cache_control: String,
    /// `Cache-Control` of HLS playlists and DASH manifests; empty = none.
    #[serde(rename = "vod-playlist-cache-control")]
    pub vod_playlist_cache_control: String,
    /// The bucket whose ACL declares the S3 users and who may create and
    /// delete buckets (flag 4); empty = S3 CreateBucket/DeleteBucket off.
    #[serde(rename = "s3-admin-bucket")]
    pub s3_admin_bucket: String,
    /// Groups of buckets made by S3 CreateBucket; empty = the groups of the
    /// listed bucket placement picks (as for `/nobucket_upload/`).
    #[serde(rename = "s3-default-groups")]
    pub s3_default_groups: Vec<u32>,
    /// Seconds after which an unfinished S3 multipart upload is removed
    /// with its parts (0 = never).
    #[serde(rename = "s3-multipart-max-age")]
    pub s3_multipart_max_age: u64,
    /// Most open (not yet completed or aborted) S3 multipart uploads per
    /// bucket; CreateMultipartUpload past it is refused (QuotaExceeded).
    #[serde(rename = "s3-max-uploads-per-bucket")]
    pub s3_max_uploads_per_bucket: u64,
    /// Seconds during which a repeated CompleteMultipartUpload (an SDK
    /// retrying) answers the first result again (0 = never).
    #[serde(rename = "s3-complete-retention")]
    pub s3_complete_retention: u64,
    /// Whether writes and removals keep the buckets' name index, which S3
    /// listings and DeleteBucket read (docs/index.md); read at start.
    #[serde(rename = "name-index")]
    pub name_index: bool,
    /// Entries a shard of the name index holds before it splits (docs/index.md).
    #[serde(rename = "index-shard-entries")]
    pub index_shard_entries: usize,
    /// Seconds between replays of every bucket's index journal (0 = only
    /// at start and when this proxy's own waiting changes are through):
    /// how soon the changes of a proxy that stopped while its bucket's
    /// primary was away are listed (docs/index.md).
    #[serde(rename = "index-journal-replay-interval")]
    pub index_journal_replay_interval: u64,
    /// Seconds a proxy's name index log may go without a sign of life
    /// before other proxies merge it into the shards (it stopped, or was
    /// killed); its changes are listed meanwhile (docs/index.md, "The log").
    #[serde(rename = "index-log-orphan-after")]
    pub index_log_orphan_after: u64,
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

/// Default of `vod-index-cache-size`: 64 MiB, the indexes of about four
/// two-hour titles or a few hundred short ones.
pub const DEFAULT_VOD_INDEX_CACHE_SIZE: u64 = 64 << 20;
/// Default of `s3-max-uploads-per-bucket`.
pub const DEFAULT_S3_MAX_UPLOADS: u64 = 10_000;
/// Largest `s3-max-uploads-per-bucket`: the bucket's upload list is one
/// document rewritten by every CreateMultipartUpload, Complete and Abort.
pub const MAX_S3_MAX_UPLOADS: u64 = 20_000;

/// Entries a shard of the name index holds before it splits (docs/index.md).
pub const DEFAULT_INDEX_SHARD_ENTRIES: usize = 256;

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
            headers: ProxyHeaders::default(),
            root: String::new(),
            content_types: BTreeMap::new(),
            reader_io_flags: 0,
            writer_io_flags: 0,
            disable_config_update_for_seconds: 0,
            recover_on_read: false,
            recover_bytes_per_second: 32 << 20,
            repair_pass_interval: 0,
            repair_pass_keys_per_second: 100,
            defrag_removed_ratio: 0.5,
            defrag_min_removed_records: 1000,
            s3_address: String::new(),
            s3_https_address: String::new(),
            s3_region: String::new(),
            s3_domain: String::new(),
            s3_cors: Vec::new(),
            vod_address: String::new(),
            vod_https_address: String::new(),
            vod_segment_seconds: 6,
            vod_cors: Vec::new(),
            vod_index_cache_size: DEFAULT_VOD_INDEX_CACHE_SIZE,
            vod_cache_control: String::new(),
            vod_playlist_cache_control: String::new(),
            s3_admin_bucket: String::new(),
            s3_default_groups: Vec::new(),
            s3_multipart_max_age: 7 * 24 * 3600,
            s3_max_uploads_per_bucket: DEFAULT_S3_MAX_UPLOADS,
            s3_complete_retention: 3600,
            name_index: true,
            index_shard_entries: DEFAULT_INDEX_SHARD_ENTRIES,
            index_journal_replay_interval: 60,
            index_log_orphan_after: 60,
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
