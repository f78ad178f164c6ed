//! The names S3 CreateBucket accepts: S3's naming rules for general purpose
//! buckets plus the names Backrunner reserves ([`crate::bucket::check_name`]).
//! Buckets made by `bmeta` may have other names; they are served, only S3
//! cannot create them.

use crate::s3::error::{S3Error, S3ErrorCode};

/// Prefixes S3 reserves.
const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes S3 reserves.
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Why `name` cannot be a new bucket, if it cannot.
fn rule(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Some("a bucket name has 3 to 63 characters");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Some("a bucket name has only lower-case letters, digits, '.' and '-'");
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Some("a bucket name begins and ends with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Some("a bucket name has no '..', '.-' or '-.' (each label is a DNS label)");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("a bucket name is not an IP address");
    }
    if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
    {
        return Some("S3 reserves that prefix or suffix");
    }
    None
}

/// Checks a CreateBucket name: `InvalidBucketName` naming the broken rule.
pub fn check_new(name: &str, reserved: &[String]) -> Result<(), S3Error> {
    if let Some(why) = rule(name) {
        return Err(S3Error::new(
            S3ErrorCode::InvalidBucketName,
            format!("bucket name {name:?}: {why}"),
        ));
    }
    crate::bucket::check_name(name, reserved).map_err(S3Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_rules_and_reserved_names() {
        for ok in ["abc", "my-bucket.1", "a.b.c", "0aa", &"a".repeat(63)] {
            assert!(check_new(ok, &[]).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "-ab",
            "ab-",
            ".ab",
            "a..b",
            "a.-b",
            "a-.b",
            "192.168.5.4",
            "xn--abc",
            "abc-s3alias",
            "a b",
            "a/b",
        ] {
            assert_eq!(
                check_new(bad, &[]).unwrap_err().code,
                S3ErrorCode::InvalidBucketName,
                "{bad}"
            );
        }
        // Backrunner's own: the metadata namespace and the reserved keys.
        assert!(check_new("bucket", &[]).is_err());
        assert!(check_new("list-key", &["list-key".into()]).is_err());
    }
}
