//! The source tree's shape (issues 14 and 23): no import cycle between the
//! top-level modules of `src/`, the APIs (`rest`, `s3`, `vod`) side by side
//! (none imports another; the shared HTTP mechanics in `http` import none),
//! one lock policy, and no source file over 600 lines. Reads the sources, not the
//! binary: every `crate::NAME` path outside comments is an edge from the
//! file's top-level module to `NAME`; a strongly connected component of
//! more than one module is a cycle.
//!
//! `cargo test --test it structure:: -- --nocapture` prints the graphs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of `text` without `//` comments (doc comments included) and
/// string literals, which may name paths they do not import.
fn code_only(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
        out.push('\n');
    }
    out
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `code` names through `crate::`, including
/// `use crate::{a, b::c}` groups.
fn targets(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `$crate::` or a longer name
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        found.insert(ident(&group[j..]).to_string());
                        start = false;
                    }
                    _ => start = false,
                }
            }
        } else {
            found.insert(ident(rest).to_string());
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// Module -> the modules it imports, for every top-level module of `src/`.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        // The binaries use the library from outside; lib.rs only declares.
        if first == "bin" || first == "main.rs" || first == "lib.rs" {
            continue;
        }
        let module = first.trim_end_matches(".rs").to_string();
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(targets(&code).into_iter().filter(|t| *t != module));
    }
    graph
}

/// Tarjan's strongly connected components with more than one member.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.graph.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on_stack.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.found.push(scc);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn top_level_modules_import_no_cycle() {
    let graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "{graph:?}");
    for (m, deps) in &graph {
        println!(
            "{m} -> {}",
            deps.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {found:?}"
    );
}

/// The API modules: each is a front door over the core, beside the others.
const APIS: [&str; 3] = ["rest", "s3", "vod"];

/// The edges from an API to another API, or from `http` to an API.
fn api_violations(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (m, deps) in graph {
        if !APIS.contains(&m.as_str()) && m != "http" {
            continue;
        }
        for d in deps
            .iter()
            .filter(|d| APIS.contains(&d.as_str()) && *d != m)
        {
            wrong.push(format!("{m} -> {d}"));
        }
    }
    wrong
}

#[test]
fn no_api_module_imports_another_and_http_imports_none() {
    let graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        graph.contains_key("rest") && graph.contains_key("s3"),
        "{graph:?}"
    );
    let wrong = api_violations(&graph);
    assert!(
        wrong.is_empty(),
        "an API imports another API (or the shared mechanics in http import an API); \
         move what both need down into http or core: {wrong:?}"
    );
}

#[test]
fn the_checker_sees_cycles_and_groups() {
    let code =
        code_only("use crate::{a::X, b};\n// use crate::c;\nlet s = \"crate::d\"; crate::e::f();");
    let t: Vec<String> = targets(&code).into_iter().collect();
    assert_eq!(t, ["a", "b", "e"]);
    let g: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), BTreeSet::from([v.to_string()])))
        .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("s3", "rest"),
        ("vod", "http"),
        ("http", "vod"),
        ("runtime", "s3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), BTreeSet::from([v.to_string()])))
    .collect();
    assert_eq!(api_violations(&g), ["http -> vod", "s3 -> rest"]);
}

/// The names `code` takes from `prefix` (`std::sync::` -> `Mutex`, ...).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    found.insert(ident(item.trim()).to_string());
                }
            }
            None => {
                found.insert(ident(rest).to_string());
            }
        }
    }
    found
}

#[test]
fn one_lock_policy_parking_lot_everywhere() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut std_locks = Vec::new();
    for file in files {
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let names = names_after(&code, "std::sync::");
        if names.contains("Mutex") || names.contains("RwLock") {
            std_locks.push(file.display().to_string());
        }
    }
    assert!(
        std_locks.is_empty(),
        "std locks poison; use parking_lot (src/lib.rs): {std_locks:?}"
    );
    let seen = names_after("use std::sync::{Arc, Mutex};", "std::sync::");
    assert!(seen.contains("Mutex"), "{seen:?}");
}

/// No source file of the crate or of elliptics-sys passes 600 lines: a
/// file that grows past it holds more than its name says (split it).
#[test]
fn no_source_file_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("elliptics-sys/src"), &mut files);
    assert!(files.len() > 50, "{files:?}");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 600).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "source files over 600 lines: {long:?}");
}
