//! Adding and removing buckets in the bucket list held in the cluster
//! (`elliptics.bucket-list-key` in the metadata groups) and removing bucket
//! metadata: what S3 CreateBucket and DeleteBucket change, so the next
//! reload of every proxy (SIGHUP or `bucket-update-interval`) sees it.
//!
//! The list is read, edited and written back whole. Two proxies editing it
//! at the same instant can lose one edit (the later write wins); bucket
//! creation and deletion are rare admin operations, and a lost name shows
//! as the bucket missing from ListBuckets until it is created again.

use crate::config::Config;
use crate::storage::{read_small, Context, Storage, StorageError};

use super::{parse_bucket_list, write_meta, BucketMeta, META_NAMESPACE};

/// Largest bucket list read back for an edit.
const LIST_LIMIT: u64 = 16 << 20;

/// What is written when the last bucket leaves the list: Elliptics refuses
/// empty writes, and a comment parses as no bucket.
const EMPTY_LIST: &str = "# bucket list (empty)\n";

/// `text` with `name` appended as a line, or `None` when it is listed already.
pub fn with_name(text: &str, name: &str) -> Option<String> {
    if parse_bucket_list(text).iter().any(|n| n == name) {
        return None;
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(name);
    out.push('\n');
    Some(out)
}

/// `text` without the lines naming `name` (comments kept), or `None` when it
/// is not listed.
pub fn without_name(text: &str, name: &str) -> Option<String> {
    if !parse_bucket_list(text).iter().any(|n| n == name) {
        return None;
    }
    let kept: Vec<&str> = text.lines().filter(|l| l.trim() != name).collect();
    let mut out = kept.join("\n");
    out.push('\n');
    if parse_bucket_list(&out).is_empty() && out.trim().is_empty() {
        out = EMPTY_LIST.to_string();
    }
    Some(out)
}

/// The key of the cluster's bucket list, or why buckets cannot be created.
fn list_key(config: &Config) -> Result<&str, String> {
    let key = config.elliptics.bucket_list_key.as_str();
    if key.is_empty() {
        return Err(
            "elliptics.bucket-list-key is not set: there is no bucket list \
                    in the cluster to add buckets to"
                .into(),
        );
    }
    Ok(key)
}

/// Reads the list object as text; a missing one reads as `seed` (the
/// list the proxy runs with, e.g. from its `-buckets` file), one name a line.
fn read_list(
    storage: &dyn Storage,
    config: &Config,
    key: &str,
    seed: &[String],
) -> Result<String, String> {
    let ctx = Context::new(META_NAMESPACE, config.elliptics.metadata_groups.clone());
    match read_small(storage, &ctx, key, LIST_LIMIT) {
        Ok(data) => String::from_utf8(data)
            .map_err(|_| format!("bucket list key {key:?} is not UTF-8 text")),
        Err(e) if e.is_not_found() => Ok(seed.iter().map(|n| format!("{n}\n")).collect()),
        Err(e) => Err(format!("bucket list key {key:?}: {e}")),
    }
}

fn write_list(storage: &dyn Storage, config: &Config, key: &str, text: &str) -> Result<(), String> {
    crate::reload::write_meta_object(
        storage,
        &config.elliptics.metadata_groups,
        key,
        text.as_bytes(),
    )
    .map_err(|e| format!("bucket list key {key:?}: {e}"))
}

/// Checks that the cluster holds a bucket list (before anything is written).
pub fn check_list_key(config: &Config) -> Result<(), String> {
    list_key(config).map(|_| ())
}

/// Writes `meta` into the metadata groups and adds its name to the cluster's
/// bucket list. Blocking.
pub fn create(
    storage: &dyn Storage,
    config: &Config,
    meta: &BucketMeta,
    seed: &[String],
) -> Result<(), String> {
    let key = list_key(config)?;
    write_meta(storage, &config.elliptics.metadata_groups, meta)
        .map_err(|e| format!("bucket {} metadata: {e}", meta.name))?;
    let text = read_list(storage, config, key, seed)?;
    if let Some(next) = with_name(&text, &meta.name) {
        write_list(storage, config, key, &next)?;
    }
    Ok(())
}

/// Removes `name` from the cluster's bucket list, then its metadata from
/// every metadata group (a group that has none is fine). Blocking.
pub fn delete(
    storage: &dyn Storage,
    config: &Config,
    name: &str,
    seed: &[String],
) -> Result<(), String> {
    let key = list_key(config)?;
    let text = read_list(storage, config, key, seed)?;
    if let Some(next) = without_name(&text, name) {
        write_list(storage, config, key, &next)?;
    }
    let ctx = Context::new(META_NAMESPACE, config.elliptics.metadata_groups.clone());
    let failed: Vec<StorageError> = storage
        .remove(&ctx, name)
        .into_iter()
        .filter_map(|r| r.result.err())
        .filter(|e| !e.is_not_found())
        .collect();
    match failed.first() {
        Some(e) => Err(format!("bucket {name} metadata: {e}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_edits_keep_comments() {
        assert_eq!(with_name("a\n# c\nb", "n").unwrap(), "a\n# c\nb\nn\n");
        assert_eq!(with_name("", "n").unwrap(), "n\n");
        assert!(with_name("a\n n \n", "n").is_none());
        assert_eq!(
            without_name("a\n# c\n n \nb\n", "n").unwrap(),
            "a\n# c\nb\n"
        );
        assert!(without_name("a\n# n\n", "n").is_none());
        let empty = without_name("n\n", "n").unwrap();
        assert!(parse_bucket_list(&empty).is_empty() && !empty.is_empty());
    }
}
