//! Compares a reply of ours with what the Go Backrunner answered
//! (`tests/data/backrunner-go-replies/`): every key path of the
//! captured reply must exist in ours with the same JSON type. Strings that
//! are times must have the same form: RFC 3339 (Go's JSON `time.Time`) or
//! Go's `time.Time.String()` (with or without its `m=+...` monotonic part).
//! Extra paths of ours are fine.
//!
//! Paths read `/Buckets/*/Group/*/Backends[]/Stat/VFS/Total`: `[]` stands for
//! every element of a list, `*` for every key of an object the caller names
//! as a map keyed by data (bucket names, groups, commands, statuses), whose
//! keys need not be the same as the captured ones. A list the caller names
//! as possibly empty (data that has no counterpart on one store, such as
//! the embedded store's empty `elliptics.remote`) may lack the paths below it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

/// Where the captured replies live, relative to the repository root.
pub const CAPTURED: &str = "tests/data/backrunner-go-replies";

fn captured_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(CAPTURED)
        .join(name)
}

/// The captured body `name`.
pub fn captured_body(name: &str) -> Vec<u8> {
    let path = captured_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The captured body `name`, parsed.
pub fn captured_json(name: &str) -> Value {
    serde_json::from_slice(&captured_body(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The status code of the captured reply `name` (first line of `name.headers`).
pub fn captured_status(name: &str) -> u16 {
    let text = String::from_utf8(captured_body(&format!("{name}.headers"))).unwrap();
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{name}.headers: no status line"))
}

/// Checks that `ours` has every key path of the captured reply `name` with
/// the same JSON type, and answered the same status. `maps` lists the
/// paths (in the form above) whose objects are keyed by data, `may_be_empty`
/// the lists whose elements ours may lack.
pub fn assert_like_captured(
    name: &str,
    status: u16,
    ours: &Value,
    maps: &[&str],
    may_be_empty: &[&str],
) {
    assert_eq!(
        status,
        captured_status(name),
        "{name}: status; ours: {ours}"
    );
    let problems = differences(&captured_json(name), ours, maps, may_be_empty);
    assert!(
        problems.is_empty(),
        "{name}: {} difference(s) from Backrunner's reply:\n  {}\nours: {ours}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// What `ours` lacks of `theirs`: paths missing, or holding another type.
pub fn differences(
    theirs: &Value,
    ours: &Value,
    maps: &[&str],
    may_be_empty: &[&str],
) -> Vec<String> {
    let theirs = shapes(theirs, maps);
    let mine = shapes(ours, maps);
    let mut problems = Vec::new();
    for (path, kinds) in &theirs {
        let Some(our_kinds) = mine.get(path) else {
            let under_empty = may_be_empty
                .iter()
                .any(|l| path.starts_with(&format!("{l}[]")) && mine.contains_key(*l));
            if under_empty {
                continue;
            }
            problems.push(format!("missing {path} ({})", join(kinds)));
            continue;
        };
        // Go writes nil maps, lists and pointers as null: any type may stand there.
        if kinds.iter().all(|k| *k == "null") {
            continue;
        }
        if our_kinds != kinds {
            problems.push(format!(
                "{path}: ours is {}, Backrunner's is {}",
                join(our_kinds),
                join(kinds)
            ));
        }
    }
    problems
}

fn join(kinds: &BTreeSet<&'static str>) -> String {
    kinds.iter().copied().collect::<Vec<_>>().join("|")
}

/// Every path of `v` with the types found there.
pub fn shapes(v: &Value, maps: &[&str]) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut out = BTreeMap::new();
    walk(v, String::new(), maps, &mut out);
    out
}

fn walk(
    v: &Value,
    path: String,
    maps: &[&str],
    out: &mut BTreeMap<String, BTreeSet<&'static str>>,
) {
    out.entry(if path.is_empty() {
        "/".into()
    } else {
        path.clone()
    })
    .or_default()
    .insert(kind(v));
    match v {
        Value::Object(o) => {
            let is_map = maps.contains(&if path.is_empty() { "/" } else { path.as_str() });
            for (k, child) in o {
                let key = if is_map { "*" } else { k.as_str() };
                walk(child, format!("{path}/{key}"), maps, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                walk(child, format!("{path}[]"), maps, out);
            }
        }
        _ => {}
    }
}

/// The JSON type of `v`; strings that are times are told apart by form.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(s) => time_form(s).unwrap_or("string"),
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// `9` in `template` matches one ASCII digit, anything else itself; the
/// rest of `s` after the match.
fn take<'a>(s: &'a str, template: &str) -> Option<&'a str> {
    if s.len() < template.len() || !s.is_char_boundary(template.len()) {
        return None;
    }
    let (head, rest) = s.split_at(template.len());
    head.bytes()
        .zip(template.bytes())
        .all(|(c, t)| {
            if t == b'9' {
                c.is_ascii_digit()
            } else {
                c == t
            }
        })
        .then_some(rest)
}

/// Drops a fraction of a second (`.` and 1 to 9 digits), if any.
fn skip_fraction(s: &str) -> Option<&str> {
    let Some(rest) = s.strip_prefix('.') else {
        return Some(s);
    };
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=9).contains(&n).then(|| &rest[n..])
}

/// `rfc3339-time` (`2026-12-01T10:52:53.15Z`), `go-time`
/// (`2026-12-01 10:52:53.15 +0000 UTC`), `go-time-monotonic` (the same
/// with ` m=+3.227690317`), or `None` for any other string.
pub fn time_form(s: &str) -> Option<&'static str> {
    let rest = take(s, "9999-99-99")?;
    if let Some(rest) = rest.strip_prefix('T') {
        let rest = skip_fraction(take(rest, "99:99:99")?)?;
        let zone_ok =
            rest == "Z" || take(rest, "+99:99") == Some("") || take(rest, "-99:99") == Some("");
        return zone_ok.then_some("rfc3339-time");
    }
    let rest = skip_fraction(take(rest.strip_prefix(' ')?, "99:99:99")?)?;
    let rest = take(rest, " +9999 ").or_else(|| take(rest, " -9999 "))?;
    let zone_len = rest.bytes().take_while(u8::is_ascii_uppercase).count();
    if zone_len == 0 {
        return None;
    }
    match &rest[zone_len..] {
        "" => Some("go-time"),
        m => {
            let m = m.strip_prefix(" m=+").or_else(|| m.strip_prefix(" m=-"))?;
            let (secs, nanos) = m.split_once('.')?;
            let digits = |d: &str| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit());
            (digits(secs) && digits(nanos) && nanos.len() == 9).then_some("go-time-monotonic")
        }
    }
}
