//! `/delete/BUCKET/KEY` and `/bulk_delete/BUCKET`.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::{read_body, Req};

/// Largest `bulk_delete` body accepted.
pub const BULK_BODY_LIMIT: usize = 16 << 20;

/// Handles `/delete/`: removes the key from every group of the bucket.
pub async fn delete(req: &Req, bucket: &str, key: &str) -> Result<HttpResponse, ApiError> {
    let (_, ctx) = req.bucket_session(bucket, true).await?;
    req.state.objects.remove(ctx, key).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Parses `{"keys": ["k1", ...]}`; every key must be a non-empty string and
/// the list must not be empty (messages as Backrunner words them).
pub fn parse_keys(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!("bulk_delete: could not parse input json: {e}"))
    })?;
    let keys = v.get("keys").and_then(|k| k.as_array()).ok_or_else(|| {
        ApiError::BadRequest("bulk_delete: there is no 'keys' array in the body".into())
    })?;
    if keys.is_empty() {
        return Err(ApiError::BadRequest(
            "bulk_delete: 'keys' array is empty".into(),
        ));
    }
    keys.iter()
        .enumerate()
        .map(|(i, k)| match k.as_str() {
            Some("") => Err(ApiError::BadRequest(format!("keys[{i}] is empty"))),
            Some(s) => Ok(s.to_string()),
            None => Err(ApiError::BadRequest(format!(
                "keys[{i}] is not a string: {k}"
            ))),
        })
        .collect()
}

/// Handles `/bulk_delete/`: answers `{key: error}` for the keys that failed.
pub async fn bulk_delete(
    req: &Req,
    bucket: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (_, ctx) = req.bucket_session(bucket, true).await?;
    let keys = parse_keys(&read_body(payload, &req.snap.config.proxy, BULK_BODY_LIMIT).await?)?;
    let failed: BTreeMap<String, String> = req
        .state
        .objects
        .bulk_remove(ctx, keys)
        .await?
        .into_iter()
        .map(|(key, e)| (key, e.to_string()))
        .collect();
    Ok(HttpResponse::Ok().json(failed))
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
        assert!(parse_keys(br#"{"keys": ["a", 1]}"#)
            .unwrap_err()
            .to_string()
            .contains("keys[1]"));
        assert!(parse_keys(br#"{"keys": [""]}"#).is_err());
        assert!(parse_keys(br#"{"key": []}"#).is_err());
        assert_eq!(
            parse_keys(br#"{"keys": []}"#).unwrap_err().to_string(),
            "bulk_delete: 'keys' array is empty"
        );
        assert!(parse_keys(b"not json").is_err());
    }
}
