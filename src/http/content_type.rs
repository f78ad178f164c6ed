//! The Content-Type of a stored object from its key (the `content-types`
//! map of the config, else the extension), for every API that serves objects.

use std::collections::BTreeMap;

/// The Content-Type of a key: the longest matching suffix of the
/// `content-types` map, else the type of its extension, else octet-stream.
pub fn content_type(map: &BTreeMap<String, String>, key: &str) -> String {
    map.iter()
        .filter(|(suffix, _)| key.ends_with(suffix.as_str()))
        .max_by_key(|(suffix, _)| suffix.len())
        .map(|(_, ct)| ct.clone())
        .or_else(|| mime_guess::from_path(key).first_raw().map(str::to_string))
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let mut m = BTreeMap::new();
        m.insert(".mp4".to_string(), "video/custom".to_string());
        m.insert("x.mp4".to_string(), "video/x".to_string());
        assert_eq!(content_type(&m, "a/b.mp4"), "video/custom");
        assert_eq!(content_type(&m, "ax.mp4"), "video/x");
        assert_eq!(content_type(&m, "a.png"), "image/png");
        assert_eq!(content_type(&BTreeMap::new(), "v.mp4"), "video/mp4");
        assert_eq!(
            content_type(&m, "a.unknown-ext"),
            "application/octet-stream"
        );
        assert_eq!(content_type(&m, "noext"), "application/octet-stream");
    }
}
