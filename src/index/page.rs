//! One page of a listing, as S3 defines it, over any ordered source of
//! entries: prefix, delimiter (common prefixes), a marker to start after,
//! at most `max_keys` items (keys and common prefixes together).

use super::shard::Entry;
use crate::storage::StorageError;

/// Entries in key order, from some starting point on.
pub trait EntrySource {
    /// The next entry, `None` at the end.
    fn next_entry(&mut self) -> Result<Option<Entry>, StorageError>;
    /// Skips every remaining entry whose key starts with `prefix` (a
    /// source may jump over whole shards).
    fn skip_prefix(&mut self, prefix: &str) -> Result<(), StorageError>;
}

/// What a page asks for.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only keys starting with it.
    pub prefix: String,
    /// Keys whose rest (after `prefix`) holds it are rolled up to a common
    /// prefix ending with its first occurrence; empty = none.
    pub delimiter: String,
    /// Start after this key or common prefix.
    pub after: Option<String>,
    /// At most this many keys and common prefixes.
    pub max_keys: usize,
}

impl Query {
    /// Where a source must start: after `after`, and not before `prefix`.
    /// `Some(k)`: entries with keys greater than k; the prefix gives a
    /// lower bound, expressed as "after the largest key below it".
    pub fn start(&self) -> Start {
        match &self.after {
            Some(a) if a.as_str() >= self.prefix.as_str() => Start::After(a.clone()),
            _ => Start::From(self.prefix.clone()),
        }
    }

    /// The common prefix `key` rolls up to, if any.
    pub fn common_prefix<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.delimiter.is_empty() {
            return None;
        }
        let rest = key.get(self.prefix.len()..)?;
        rest.find(&self.delimiter)
            .map(|pos| &key[..self.prefix.len() + pos + self.delimiter.len()])
    }
}

/// Where a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Keys greater than this.
    After(String),
    /// Keys from this on (included).
    From(String),
}

/// One page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Keys, in order.
    pub contents: Vec<Entry>,
    /// Common prefixes, in order.
    pub prefixes: Vec<String>,
    /// Whether more items follow.
    pub truncated: bool,
    /// The last item of the page (a key or a common prefix): where the
    /// next page starts after. Set when truncated.
    pub next_after: Option<String>,
}

/// Builds a page from `source`, which must start where [`Query::start`] says.
pub fn page(source: &mut dyn EntrySource, q: &Query) -> Result<Page, StorageError> {
    let mut out = Page::default();
    let mut count = 0usize;
    let mut last_item: Option<String> = None;
    // `max-keys=0` asks for nothing: an empty page, not truncated (as S3
    // answers; a truncated page without a next item would loop a client).
    if q.max_keys == 0 {
        return Ok(out);
    }
    // Continuing after a common prefix skips the rest of it.
    if let Some(a) = &q.after {
        if a.starts_with(&q.prefix) && q.common_prefix(a) == Some(a.as_str()) {
            source.skip_prefix(a)?;
        }
    }
    while let Some(e) = source.next_entry()? {
        if !e.key.starts_with(&q.prefix) {
            if e.key.as_str() > q.prefix.as_str() {
                break;
            }
            continue;
        }
        let item = q.common_prefix(&e.key).map(str::to_string);
        if count >= q.max_keys {
            out.truncated = true;
            break;
        }
        count += 1;
        match item {
            Some(p) => {
                source.skip_prefix(&p)?;
                last_item = Some(p.clone());
                out.prefixes.push(p);
            }
            None => {
                last_item = Some(e.key.clone());
                out.contents.push(e);
            }
        }
    }
    if out.truncated {
        out.next_after = last_item;
    }
    Ok(out)
}

/// An in-memory source, for tests and small lists.
pub struct VecSource {
    entries: Vec<Entry>,
    pos: usize,
}

impl VecSource {
    /// Entries sorted by key, positioned at `start`.
    pub fn new(mut entries: Vec<Entry>, start: &Start) -> VecSource {
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let pos = match start {
            Start::After(k) => entries.partition_point(|e| e.key.as_str() <= k.as_str()),
            Start::From(k) => entries.partition_point(|e| e.key.as_str() < k.as_str()),
        };
        VecSource { entries, pos }
    }
}

impl EntrySource for VecSource {
    fn next_entry(&mut self) -> Result<Option<Entry>, StorageError> {
        let e = self.entries.get(self.pos).cloned();
        self.pos += usize::from(e.is_some());
        Ok(e)
    }

    fn skip_prefix(&mut self, prefix: &str) -> Result<(), StorageError> {
        while self
            .entries
            .get(self.pos)
            .is_some_and(|e| e.key.starts_with(prefix))
        {
            self.pos += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[&str]) -> Vec<Entry> {
        keys.iter()
            .map(|k| Entry {
                key: k.to_string(),
                size: 1,
                mtime_ns: 0,
                etag: "\"x\"".into(),
                owner: None,
                content_type: None,
                recorded_ns: 0,
            })
            .collect()
    }

    fn run(keys: &[&str], q: &Query) -> Page {
        page(&mut VecSource::new(entries(keys), &q.start()), q).unwrap()
    }

    fn names(p: &Page) -> (Vec<&str>, Vec<&str>) {
        (
            p.contents.iter().map(|e| e.key.as_str()).collect(),
            p.prefixes.iter().map(String::as_str).collect(),
        )
    }

    const KEYS: &[&str] = &[
        "a", "b/1", "b/2", "b/c/3", "c", "d/1", "d/2", "e", "ee/1", "f",
    ];

    #[test]
    fn prefix_and_delimiter() {
        let q = |prefix: &str, delimiter: &str| Query {
            prefix: prefix.into(),
            delimiter: delimiter.into(),
            after: None,
            max_keys: 1000,
        };
        let p = run(KEYS, &q("", "/"));
        assert_eq!(
            names(&p),
            (vec!["a", "c", "e", "f"], vec!["b/", "d/", "ee/"])
        );
        assert!(!p.truncated && p.next_after.is_none());
        assert_eq!(
            names(&run(KEYS, &q("b/", "/"))),
            (vec!["b/1", "b/2"], vec!["b/c/"])
        );
        assert_eq!(
            names(&run(KEYS, &q("b", ""))),
            (vec!["b/1", "b/2", "b/c/3"], vec![])
        );
        assert_eq!(names(&run(KEYS, &q("e", "/"))), (vec!["e"], vec!["ee/"]));
        assert_eq!(names(&run(KEYS, &q("zz", "/"))), (vec![], vec![]));
        // A delimiter of several characters.
        assert_eq!(
            names(&run(&["x--1", "x--2", "y"], &q("", "--"))),
            (vec!["y"], vec!["x--"])
        );
    }

    #[test]
    fn pages_continue_after_keys_and_prefixes() {
        let mut all = (Vec::new(), Vec::new());
        let mut after = None;
        let mut pages = 0;
        loop {
            let q = Query {
                prefix: String::new(),
                delimiter: "/".into(),
                after: after.clone(),
                max_keys: 2,
            };
            let p = run(KEYS, &q);
            pages += 1;
            let (k, c) = names(&p);
            all.0.extend(k.iter().map(|s| s.to_string()));
            all.1.extend(c.iter().map(|s| s.to_string()));
            assert!(p.contents.len() + p.prefixes.len() <= 2);
            if !p.truncated {
                break;
            }
            after = p.next_after.clone();
        }
        assert_eq!(pages, 4);
        assert_eq!(all.0, ["a", "c", "e", "f"]);
        assert_eq!(all.1, ["b/", "d/", "ee/"]);
        // Without a delimiter every key comes once; start-after a key not
        // present starts after where it would be.
        let q = Query {
            prefix: String::new(),
            delimiter: String::new(),
            after: Some("b/10".into()),
            max_keys: 3,
        };
        let p = run(KEYS, &q);
        assert_eq!(names(&p).0, ["b/2", "b/c/3", "c"]);
        assert_eq!(p.next_after.as_deref(), Some("c"));
        // A page that ends exactly at the last key is not truncated.
        let q = Query {
            prefix: "d/".into(),
            delimiter: String::new(),
            after: None,
            max_keys: 2,
        };
        assert!(!run(KEYS, &q).truncated);
        // max-keys 0: nothing, and not truncated (as S3 and MinIO answer).
        let q = Query {
            max_keys: 0,
            ..Query::default()
        };
        let p = run(KEYS, &q);
        assert!(!p.truncated && p.contents.is_empty() && p.prefixes.is_empty());
        assert_eq!(p.next_after, None);
    }

    #[test]
    fn start_is_the_later_of_marker_and_prefix() {
        let q = Query {
            prefix: "m".into(),
            after: Some("a".into()),
            ..Query::default()
        };
        assert_eq!(q.start(), Start::From("m".into()));
        let q = Query {
            prefix: "m".into(),
            after: Some("mz".into()),
            ..Query::default()
        };
        assert_eq!(q.start(), Start::After("mz".into()));
    }
}
