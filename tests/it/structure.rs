//! The source tree's shape (issues 14 and 23): no import cycle between the
//! top-level modules of `src/`, the APIs (`rest`, `s3`, `vod`) side by side
//! (none imports another; the shared HTTP mechanics in `http` import none),
//! no import cycle between the parts of any folder of `src/s3/`, one lock
//! policy, and no source file over 600 lines. Reads the sources, not the
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

/// The source tree checked: `src/`, or `STRUCTURE_SRC` (another checkout's
/// `src/`, to print the graph of an older tree: `git worktree add
/// /tmp/old COMMIT && STRUCTURE_SRC=/tmp/old/src cargo test --test it
/// structure::top_level -- --nocapture`).
fn src_dir() -> PathBuf {
    std::env::var_os("STRUCTURE_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn top_level_modules_import_no_cycle() {
    let graph = import_graph(&src_dir());
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
        graph.contains_key("rest") && graph.contains_key("s3") && graph.contains_key("vod"),
        "{graph:?}"
    );
    let wrong = api_violations(&graph);
    assert!(
        wrong.is_empty(),
        "an API imports another API (or the shared mechanics in http import an API); \
         move what both need down into http or core: {wrong:?}"
    );
}

/// The paths `s` names, `s` starting just after a `crate::`, `super::` or
/// `self::`: one list of segments per path, `{a, b::c}` groups expanded,
/// a trailing `self` dropped.
fn paths(s: &str) -> Vec<Vec<String>> {
    let mut segs: Vec<String> = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut items = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[start..j]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[start..j]);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return items
                .into_iter()
                .filter(|i| !i.trim().is_empty())
                .flat_map(paths)
                .map(|p| segs.iter().cloned().chain(p).collect())
                .collect();
        }
        let id = ident(rest);
        if id.is_empty() {
            break;
        }
        if id != "self" {
            segs.push(id.to_string());
        }
        rest = &rest[id.len()..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    vec![segs]
}

/// The module paths (from the crate root) that `code`, the code of module
/// `module`, imports through `crate::`, `super::` and `self::`.
fn module_imports(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    // `child::x` in the file that declares `mod child;`
    for child in declared_children(code) {
        let prefix = format!("{child}::");
        for (i, _) in code.match_indices(&prefix) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in paths(&code[i + prefix.len()..]) {
                let mut p = module.to_vec();
                p.push(child.clone());
                p.extend(path);
                found.push(p);
            }
        }
    }
    for prefix in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(prefix) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `$crate::`, a longer name, or the second `super::`
            }
            let rest = &code[i + prefix.len()..];
            for path in paths(rest) {
                let mut base: Vec<String> = match prefix {
                    "crate::" => Vec::new(),
                    "super::" => module[..module.len().saturating_sub(1)].to_vec(),
                    _ => module.to_vec(),
                };
                let mut segs = path.into_iter().peekable();
                while segs.next_if(|s| s == "super").is_some() {
                    base.pop();
                }
                base.extend(segs);
                found.push(base);
            }
        }
    }
    found
}

/// The module path of a source file under `src/`: `s3/ops/mod.rs` is
/// `[s3, ops]`, `s3/ops/copy.rs` is `[s3, ops, copy]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut segs: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = segs.pop().unwrap_or_default();
    if last != "mod.rs" {
        segs.push(last.trim_end_matches(".rs").to_string());
    }
    segs
}

/// The items a file defines at its top level (`fn`, `struct`, `const`, ...).
fn defined_items(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.starts_with(char::is_whitespace)) {
        let mut rest = line;
        if let Some(r) = rest.strip_prefix("pub") {
            rest = r.trim_start();
            if rest.starts_with('(') {
                rest = rest.find(')').map_or("", |i| &rest[i + 1..]);
            }
        }
        let mut words = rest
            .split(|c: char| c.is_whitespace() || "(<:{;=".contains(c))
            .filter(|w| !w.is_empty())
            .skip_while(|w| ["async", "unsafe", "extern"].contains(w));
        let mut kind = words.next().unwrap_or("");
        if kind == "const" || kind == "async" {
            kind = "fn"; // `const fn`, `async fn` or a plain const: a name follows
            let next = words.next().unwrap_or("");
            if next != "fn" {
                found.insert(ident(next).to_string());
                continue;
            }
        }
        if ["fn", "struct", "enum", "static", "type", "trait"].contains(&kind) {
            if let Some(name) = words.next() {
                found.insert(ident(name).to_string());
            }
        }
    }
    found.retain(|n| !n.is_empty());
    found
}

/// The modules `code` declares (`mod NAME;`), which it names by bare paths.
fn declared_children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("pub").map_or(l, |r| {
                let r = r.trim_start();
                r.strip_prefix('(')
                    .and_then(|r| r.find(')').map(|i| &r[i + 1..]))
                    .unwrap_or(r)
                    .trim_start()
            });
            let name = ident(l.strip_prefix("mod ")?);
            l.trim_end().ends_with(';').then(|| name.to_string())
        })
        .collect()
}

/// The part a folder's own `mod.rs` is in its folder's graph: its items
/// are imported by the other parts, and it imports them.
const MOD: &str = "mod.rs";

/// For every folder under `dir` (itself included): its parts (files,
/// subfolders, and the folder's own `mod.rs` as [`MOD`]) -> the parts of
/// the same folder they import, keyed by the folder's module path. A
/// `mod.rs` imports what its `use` lines name (its `pub use` re-exports
/// are the folder's names, not imports); a part imports `mod.rs` when it
/// names an item `mod.rs` defines.
fn folder_graphs(src: &Path, dir: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    // module path -> (is a mod.rs, the items it defines, what it imports)
    let mut modules = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        // A folder's unit tests in their own file (`#[cfg(test)] mod tests;`).
        if rel.ends_with("tests.rs") {
            continue;
        }
        let module = module_path(rel);
        let text = std::fs::read_to_string(file).unwrap();
        // A file's unit tests (`#[cfg(test)] mod tests` at its end) use
        // `super::` for the file itself: they are not the module's imports.
        let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or("");
        let is_mod = rel.ends_with(MOD);
        let code: String = code_only(text)
            .lines()
            .filter(|l| !(is_mod && l.trim_start().starts_with("pub use ")))
            .map(|l| format!("{l}\n"))
            .collect();
        let items = if is_mod {
            defined_items(&code)
        } else {
            BTreeSet::new()
        };
        let imports = module_imports(&code, &module);
        modules.insert(module, (is_mod, items, imports));
    }
    let base = module_path(&dir.strip_prefix(src).unwrap().join(MOD));
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, (is_mod, _, targets)) in &modules {
        // Every folder from `dir` down that holds this module, with the
        // part of it the module is in.
        let last = module.len() + usize::from(*is_mod);
        for depth in base.len()..last {
            let folder = &module[..depth];
            let part = module
                .get(depth)
                .cloned()
                .unwrap_or_else(|| MOD.to_string());
            let folder_items = &modules.get(folder).map(|m| &m.1);
            let deps = graphs
                .entry(folder.join("::"))
                .or_default()
                .entry(part.clone())
                .or_default();
            for t in targets
                .iter()
                .filter(|t| t.len() > depth && t[..depth] == *folder)
            {
                if folder_items.is_some_and(|items| items.contains(&t[depth])) {
                    deps.insert(MOD.to_string());
                } else {
                    deps.insert(t[depth].clone());
                }
            }
            deps.remove(&part);
        }
    }
    // Only the folder's parts (not the names its mod.rs re-exports).
    for graph in graphs.values_mut() {
        let parts: BTreeSet<String> = graph.keys().cloned().collect();
        for deps in graph.values_mut() {
            deps.retain(|d| parts.contains(d));
        }
    }
    graphs
}

/// Folder (module path) -> its parts -> the parts they import.
type FolderGraphs = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The import cycles between the parts of every folder under `src/NAME`
/// (the graphs printed as they are checked).
fn folder_cycles(name: &str) -> (Vec<String>, FolderGraphs) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graphs = folder_graphs(&src, &src.join(name));
    let mut found = Vec::new();
    for (folder, graph) in &graphs {
        println!("{folder}:");
        for (m, deps) in graph {
            println!(
                "  {m} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        for cycle in cycles(graph) {
            found.push(format!("{folder}: {cycle:?}"));
        }
    }
    (found, graphs)
}

/// Inside every folder of `src/` (the parts of s3, storage, media, vod,
/// …), a folder's own `mod.rs` included: no import cycle. A part imports
/// `mod.rs` when it names an item `mod.rs` defines, so such items live in
/// a child file that `mod.rs` re-exports.
#[test]
fn no_import_cycle_inside_any_folder() {
    let (found, graphs) = folder_cycles("");
    for folder in [
        "s3::multipart",
        "storage::local",
        "core",
        "media::mp4",
        "vod",
    ] {
        assert!(graphs.contains_key(folder), "{folder} not seen: {graphs:?}");
    }
    assert!(
        found.is_empty(),
        "import cycles inside folders of src/: {found:#?}"
    );
}

#[test]
fn the_folder_checker_resolves_super_self_and_groups() {
    let m: Vec<String> = ["s3", "ops", "copy"].map(String::from).to_vec();
    let code = "use super::{multipart::Part, self as ops};\nuse super::super::xml;\n\
                use crate::s3::{error::{S3Error, Code}, sign};\nself::inner::f();";
    let got: BTreeSet<String> = module_imports(code, &m)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    for want in [
        "s3::ops::multipart::Part",
        "s3::xml",
        "s3::error::S3Error",
        "s3::error::Code",
        "s3::sign",
        "s3::ops::copy::inner::f",
    ] {
        assert!(got.contains(want), "{want} not in {got:?}");
    }
    assert_eq!(module_path(Path::new("s3/ops/mod.rs")), ["s3", "ops"]);
    let code = "pub mod parts;\nmod state;\nuse parts::Part;\nfn f() { state::open(); }\n\
                pub(in crate::s3) async fn remove() {}\npub const MAX: u32 = 1;\nstruct S;";
    let got: BTreeSet<String> = module_imports(code, &m[..2])
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    assert!(got.contains("s3::ops::parts::Part") && got.contains("s3::ops::state::open"));
    let items: Vec<String> = defined_items(code).into_iter().collect();
    assert_eq!(items, ["MAX", "S", "f", "remove"]);
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
