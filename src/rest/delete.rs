//! `/delete/BUCKET/KEY` and `/bulk_delete/BUCKET`.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::ApiError;
use super::Req;
use crate::http::body::read_body;

/// Most keys one `/bulk_delete/` may name, as Swift's bulk delete allows;
/// more is 413 (docs/api.md).
pub const MAX_BULK_KEYS: usize = 10_000;
/// Largest `bulk_delete` body: [`MAX_BULK_KEYS`] keys of up to 1 KiB each
/// as JSON (quotes, escapes and comma included); more is 413.
pub const BULK_BODY_LIMIT: usize = MAX_BULK_KEYS * 1024;

/// Handles `/delete/`: removes the key from every group of the bucket.
pub async fn delete(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let (_, ctx) = req.bucket_session(bucket, true).await?;
    req.state.objects.remove(ctx, key).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Why a bulk_delete body is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum KeysError {
    /// Not `{"keys": [non-empty strings]}` (400).
    Invalid(String),
    /// More than [`MAX_BULK_KEYS`] keys (413).
    TooMany(usize),
}

impl From<KeysError> for ApiError {
    fn from(e: KeysError) -> Self {
        match e {
            KeysError::Invalid(m) => ApiError::BadRequest(m),
            KeysError::TooMany(n) => ApiError::PayloadTooLarge(format!(
                "{n} keys in one bulk_delete, more than {MAX_BULK_KEYS}: split the request"
            )),
        }
    }
}

/// The `keys` array as parsed: at most `MAX_BULK_KEYS` keys are kept; the
/// rest are only counted, and the first bad element is remembered, so a huge
/// body never becomes a huge tree of values.
#[derive(Default)]
struct Keys {
    keys: Vec<String>,
    total: usize,
    bad: Option<String>,
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of keys")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                let mut out = Keys::default();
                loop {
                    let i = out.total;
                    if out.keys.len() >= MAX_BULK_KEYS || out.bad.is_some() {
                        if seq.next_element::<IgnoredAny>()?.is_none() {
                            return Ok(out);
                        }
                    } else {
                        match seq.next_element::<serde_json::Value>()? {
                            None => return Ok(out),
                            Some(serde_json::Value::String(s)) if s.is_empty() => {
                                out.bad = Some(format!("keys[{i}] is empty"));
                            }
                            Some(serde_json::Value::String(s)) => out.keys.push(s),
                            Some(v) => {
                                out.bad = Some(format!("keys[{i}] is not a string: {v}"));
                            }
                        }
                    }
                    out.total += 1;
                }
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
struct BulkBody {
    keys: Keys,
}

/// Parses `{"keys": ["k1", ...]}`; every key must be a non-empty string,
/// and there must be between 1 and [`MAX_BULK_KEYS`] of them.
pub fn parse_keys(body: &[u8]) -> Result<Vec<String>, KeysError> {
    let parsed: BulkBody = serde_json::from_slice(body).map_err(|e| {
        KeysError::Invalid(if e.is_data() {
            format!("bulk_delete: there is no 'keys' array in the body: {e}")
        } else {
            format!("bulk_delete: could not parse input json: {e}")
        })
    })?;
    let k = parsed.keys;
    if let Some(bad) = k.bad {
        return Err(KeysError::Invalid(bad));
    }
    if k.total > MAX_BULK_KEYS {
        return Err(KeysError::TooMany(k.total));
    }
    if k.keys.is_empty() {
        return Err(KeysError::Invalid(
            "bulk_delete: 'keys' array is empty".into(),
        ));
    }
    Ok(k.keys)
}

/// Handles `/bulk_delete/`: answers `{key: error}` for the keys that failed.
pub async fn bulk_delete(
    req: &Req,
    bucket: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (_, ctx) = req.bucket_session(bucket, true).await?;
    let declared = crate::http::message::declared_length(req.http.headers());
    if declared.is_some_and(|n| n > BULK_BODY_LIMIT as u64) {
        return Err(ApiError::PayloadTooLarge(format!(
            "bulk_delete body of {} bytes is larger than {BULK_BODY_LIMIT} \
             ({MAX_BULK_KEYS} keys of up to 1 KiB): split the request",
            declared.unwrap_or(0)
        )));
    }
    let body = read_body(payload, &req.snap.config.proxy, BULK_BODY_LIMIT).await?;
    let keys = parse_keys(&body)?;
    drop(body);
    let failed: BTreeMap<String, String> = req
        .state
        .objects
        .bulk_remove(ctx, keys)
        .await?
        .into_iter()
        .map(|(key, e)| (key, e.to_string()))
        .collect();
    let reply = serde_json::to_vec(&failed)
        .map_err(|e| ApiError::Internal(format!("encoding the reply: {e}")))?;
    drop(failed);
    // Up to 10,000 keys left many small blocks free in the allocator's
    // per-thread arenas; give them back to the system now.
    super::blocking(crate::memory::release_free_memory).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_keys() {
        assert_eq!(
            parse_keys(br#"{"keys": ["a", "b/c"]}"#).unwrap(),
            vec!["a", "b/c"]
        );
        assert!(matches!(parse_keys(br#"{"keys": ["a", 1]}"#),
            Err(KeysError::Invalid(m)) if m.contains("keys[1]")));
        assert!(parse_keys(br#"{"keys": [""]}"#).is_err());
        assert!(parse_keys(br#"{"key": []}"#).is_err());
        assert!(parse_keys(b"not json").is_err());
        assert_eq!(
            parse_keys(br#"{"keys": []}"#),
            Err(KeysError::Invalid(
                "bulk_delete: 'keys' array is empty".into()
            ))
        );
        let many = format!(
            "{{\"keys\": [{}]}}",
            vec!["\"k\""; MAX_BULK_KEYS + 5].join(",")
        );
        assert_eq!(
            parse_keys(many.as_bytes()),
            Err(KeysError::TooMany(MAX_BULK_KEYS + 5))
        );
        let max = format!("{{\"keys\": [{}]}}", vec!["\"k\""; MAX_BULK_KEYS].join(","));
        assert_eq!(parse_keys(max.as_bytes()).unwrap().len(), MAX_BULK_KEYS);
    }
}
