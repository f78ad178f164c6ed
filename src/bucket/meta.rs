//! Bucket metadata and its MessagePack form, byte-compatible with Backrunner:
//! `[version=1, name, acl, groups, flags, max-size, max-key-num, r0, r1, r2]`,
//! `acl` a map `user -> [version, user, token, flags]`.

use std::collections::BTreeMap;

use rmpv::Value;
use serde::{Deserialize, Serialize};

/// ACL flag: the user needs no signature.
pub const ACL_NO_TOKEN: u64 = 1;
/// ACL flag: the user may write and delete.
pub const ACL_WRITE: u64 = 2;
/// ACL flag: admin (reserved).
pub const ACL_ADMIN: u64 = 4;

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// Entry format version (1).
    #[serde(default = "one")]
    pub version: u64,
    /// User name; `*` is anyone without a valid `Authorization` header.
    pub user: String,
    /// HMAC key of the user.
    #[serde(default)]
    pub token: String,
    /// `ACL_*` bits.
    #[serde(default)]
    pub flags: u64,
}

fn one() -> u64 {
    1
}

/// A bucket's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketMeta {
    /// Format version (1).
    pub version: u64,
    /// Bucket name, also the storage namespace.
    pub name: String,
    /// user -> entry; empty allows everything.
    pub acl: BTreeMap<String, AclEntry>,
    /// Replica groups.
    pub groups: Vec<u32>,
    /// Bucket flags (kept, not interpreted).
    pub flags: u64,
    /// Maximum size: an upload declaring a larger object is refused (413)
    /// before its body is read; 0 = none.
    pub max_size: u64,
    /// Maximum number of keys (kept, not enforced, as in Backrunner).
    pub max_key_num: u64,
    /// The three reserved trailing integers.
    pub reserved: [u64; 3],
}

/// Why bytes are not bucket metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bucket metadata: {0}")]
pub struct MetaError(String);

fn err(msg: impl Into<String>) -> MetaError {
    MetaError(msg.into())
}

fn as_u64(v: &Value, what: &str) -> Result<u64, MetaError> {
    v.as_u64()
        .ok_or_else(|| err(format!("{what} must be an unsigned integer, got {v}")))
}

fn as_str(v: &Value, what: &str) -> Result<String, MetaError> {
    match v {
        Value::String(s) => s
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| err(format!("{what} is not UTF-8"))),
        Value::Binary(b) => {
            String::from_utf8(b.clone()).map_err(|_| err(format!("{what} is not UTF-8")))
        }
        _ => Err(err(format!("{what} must be a string, got {v}"))),
    }
}

impl BucketMeta {
    /// Adds (or replaces) the ACL entry of `user`, format version 1.
    pub fn grant(&mut self, user: &str, token: &str, flags: u64) -> &mut Self {
        self.acl.insert(
            user.to_string(),
            AclEntry {
                version: 1,
                user: user.to_string(),
                token: token.to_string(),
                flags,
            },
        );
        self
    }

    /// Decodes Backrunner's MessagePack form; any integer width is accepted.
    pub fn from_msgpack(mut data: &[u8]) -> Result<BucketMeta, MetaError> {
        let v = rmpv::decode::read_value(&mut data).map_err(|e| err(e.to_string()))?;
        let items = v.as_array().ok_or_else(|| err("not an array"))?;
        if items.len() < 7 {
            return Err(err(format!("array of {} items, want 10", items.len())));
        }
        let version = as_u64(&items[0], "version")?;
        let name = as_str(&items[1], "name")?;
        let mut acl = BTreeMap::new();
        match &items[2] {
            Value::Map(entries) => {
                for (k, e) in entries {
                    let key = as_str(k, "acl user")?;
                    let fields = e.as_array().filter(|a| a.len() >= 4).ok_or_else(|| {
                        err(format!(
                            "acl entry of {key} must be [version, user, token, flags]"
                        ))
                    })?;
                    acl.insert(
                        key,
                        AclEntry {
                            version: as_u64(&fields[0], "acl version")?,
                            user: as_str(&fields[1], "acl user")?,
                            token: as_str(&fields[2], "acl token")?,
                            flags: as_u64(&fields[3], "acl flags")?,
                        },
                    );
                }
            }
            Value::Nil => {}
            other => return Err(err(format!("acl must be a map, got {other}"))),
        }
        let groups = match &items[3] {
            Value::Array(gs) => gs
                .iter()
                .map(|g| {
                    as_u64(g, "group").and_then(|g| {
                        u32::try_from(g).map_err(|_| err(format!("group {g} is out of range")))
                    })
                })
                .collect::<Result<Vec<u32>, _>>()?,
            Value::Nil => Vec::new(),
            other => return Err(err(format!("groups must be an array, got {other}"))),
        };
        let opt = |i: usize, what: &str| -> Result<u64, MetaError> {
            match items.get(i) {
                None | Some(Value::Nil) => Ok(0),
                Some(v) => as_u64(v, what),
            }
        };
        Ok(BucketMeta {
            version,
            name,
            acl,
            groups,
            flags: opt(4, "flags")?,
            max_size: opt(5, "max-size")?,
            max_key_num: opt(6, "max-key-num")?,
            reserved: [
                opt(7, "reserved")?,
                opt(8, "reserved")?,
                opt(9, "reserved")?,
            ],
        })
    }

    /// Encodes as Backrunner does (compact integers).
    pub fn to_msgpack(&self) -> Vec<u8> {
        let acl = self
            .acl
            .iter()
            .map(|(user, e)| {
                (
                    Value::from(user.as_str()),
                    Value::Array(vec![
                        Value::from(e.version),
                        Value::from(e.user.as_str()),
                        Value::from(e.token.as_str()),
                        Value::from(e.flags),
                    ]),
                )
            })
            .collect();
        let v = Value::Array(vec![
            Value::from(self.version),
            Value::from(self.name.as_str()),
            Value::Map(acl),
            Value::Array(self.groups.iter().map(|&g| Value::from(g)).collect()),
            Value::from(self.flags),
            Value::from(self.max_size),
            Value::from(self.max_key_num),
            Value::from(self.reserved[0]),
            Value::from(self.reserved[1]),
            Value::from(self.reserved[2]),
        ]);
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = rmpv::encode::write_value(&mut out, &v);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        groups: Vec<u32>,
        acl: Vec<AclEntry>,
        flags: u64,
        #[serde(rename = "max-size")]
        max_size: u64,
        #[serde(rename = "max-key-num")]
        max_key_num: u64,
        msgpack_hex: String,
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Vectors made by Backrunner's own encoder (shared/testdata).
    #[test]
    fn backrunner_vectors_round_trip() {
        #[derive(Deserialize)]
        struct File {
            vectors: Vec<Vector>,
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/bucket-msgpack.json"
        );
        let f: File = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert!(f.vectors.len() >= 3);
        for v in f.vectors {
            let bytes = unhex(&v.msgpack_hex);
            let m = BucketMeta::from_msgpack(&bytes).unwrap();
            assert_eq!(m.name, v.name);
            assert_eq!(m.groups, v.groups);
            assert_eq!(m.flags, v.flags);
            assert_eq!(m.max_size, v.max_size);
            assert_eq!(m.max_key_num, v.max_key_num);
            let acl: BTreeMap<String, AclEntry> =
                v.acl.into_iter().map(|a| (a.user.clone(), a)).collect();
            assert_eq!(m.acl, acl);
            assert_eq!(m.to_msgpack(), bytes, "bucket {}", m.name);
        }
    }

    #[test]
    fn wide_integers_and_garbage() {
        // groups written as uint64, flags as uint16
        let v = Value::Array(vec![
            Value::from(1u8),
            Value::from("b"),
            Value::Map(vec![]),
            Value::Array(vec![Value::from(3u64)]),
            Value::from(7u16),
            Value::from(0),
            Value::from(0),
            Value::from(0),
            Value::from(0),
            Value::from(0),
        ]);
        let mut buf = Vec::new();
        rmpv::encode::write_value(&mut buf, &v).unwrap();
        let m = BucketMeta::from_msgpack(&buf).unwrap();
        assert_eq!(m.groups, vec![3]);
        assert_eq!(m.flags, 7);
        assert!(BucketMeta::from_msgpack(b"\x93\x01\x02\x03").is_err());
        assert!(BucketMeta::from_msgpack(b"").is_err());
        assert!(BucketMeta::from_msgpack(b"\xa1x").is_err());
    }
}
