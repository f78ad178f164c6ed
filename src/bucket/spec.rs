//! The JSON that `bmeta -upload` takes:
//! `{"generic": {acl, flags, max-size, max-key-num}, "buckets": {"b1": {"groups": [1,2]}, ...}}`.
//! Every bucket inherits `generic` and overrides what it names.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::meta::{AclEntry, BucketMeta};

#[derive(Debug, Default, Deserialize, Clone)]
struct Fields {
    acl: Option<Vec<AclEntry>>,
    groups: Option<Vec<u32>>,
    flags: Option<u64>,
    #[serde(rename = "max-size")]
    max_size: Option<u64>,
    #[serde(rename = "max-key-num")]
    max_key_num: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct SpecFile {
    #[serde(default)]
    generic: Fields,
    buckets: BTreeMap<String, Fields>,
}

/// Why an upload JSON describes no usable buckets.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not JSON of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `"buckets"` names none.
    #[error("\"buckets\" is empty")]
    NoBuckets,
    /// A bucket called "".
    #[error("a bucket has an empty name")]
    EmptyName,
    /// A bucket without groups, and none in `generic`.
    #[error("bucket {0}: no groups")]
    NoGroups(String),
}

/// Parses the upload JSON into the buckets it describes, sorted by name.
pub fn parse_bucket_spec(data: &[u8]) -> Result<Vec<BucketMeta>, SpecError> {
    let spec: SpecFile = serde_json::from_slice(data)?;
    if spec.buckets.is_empty() {
        return Err(SpecError::NoBuckets);
    }
    spec.buckets
        .into_iter()
        .map(|(name, b)| {
            if name.is_empty() {
                return Err(SpecError::EmptyName);
            }
            let g = &spec.generic;
            let groups = b.groups.or_else(|| g.groups.clone()).unwrap_or_default();
            if groups.is_empty() {
                return Err(SpecError::NoGroups(name));
            }
            let acl = b.acl.or_else(|| g.acl.clone()).unwrap_or_default();
            Ok(BucketMeta {
                version: 1,
                acl: acl.into_iter().map(|a| (a.user.clone(), a)).collect(),
                groups,
                flags: b.flags.or(g.flags).unwrap_or(0),
                max_size: b.max_size.or(g.max_size).unwrap_or(0),
                max_key_num: b.max_key_num.or(g.max_key_num).unwrap_or(0),
                reserved: [0; 3],
                name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_inherit_generic() {
        let j = br#"{"generic": {"acl": [{"user": "w", "token": "t", "flags": 2}], "flags": 1, "max-size": 10},
                     "buckets": {"b1": {"groups": [1, 2]}, "b2": {"groups": [3], "flags": 4, "acl": []}}}"#;
        let b = parse_bucket_spec(j).unwrap();
        assert_eq!(b[0].name, "b1");
        assert_eq!(b[0].groups, vec![1, 2]);
        assert_eq!(b[0].flags, 1);
        assert_eq!(b[0].max_size, 10);
        assert_eq!(b[0].acl["w"].token, "t");
        assert_eq!(b[0].acl["w"].version, 1);
        assert_eq!(b[1].flags, 4);
        assert!(b[1].acl.is_empty());
        assert!(parse_bucket_spec(br#"{"buckets": {"b": {}}}"#)
            .unwrap_err()
            .to_string()
            .contains("no groups"));
        assert!(parse_bucket_spec(b"[]").is_err());
    }
}
