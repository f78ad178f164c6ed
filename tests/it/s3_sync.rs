//! The S3 command-line clients syncing a small tree as users run them:
//! `aws s3 sync` both ways with `--delete`, rclone `copy`/`check`/`sync`
//! and its listings, `s3cmd sync` and its listings. What each client
//! transfers on a second run shows whether the sizes, times and ETags the
//! listings report are the ones the clients compare against.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::{aws_cli, backend, escape, random_bytes, sign, Backend, Proxy};
use crate::metrics::{find, scrape, value};
use crate::s3_cli::{rclone_env, run, run_both, run_failing, s3cmd_config, start, write_file};

/// Relative path → content.
type Tree = BTreeMap<String, Vec<u8>>;

/// The tree the tests sync: nested directories, names with spaces,
/// non-ASCII letters and `%`, `+`, `&`, a 9 MB file (aws-cli uploads it in
/// parts) and, where the store takes one, an empty file.
fn tree() -> Tree {
    let mut t = Tree::new();
    let mut add = |name: &str, data: Vec<u8>| t.insert(name.to_string(), data);
    add("top.txt", b"at the top\n".to_vec());
    add("a/one.bin", random_bytes(20_000, 1));
    add("a/two.txt", b"two\n".to_vec());
    add("a/b/three.txt", b"three\n".to_vec());
    add("a/b/c/deep.dat", random_bytes(70_001, 2));
    add("docs/read me.txt", b"spaces in the name\n".to_vec());
    add("docs/naïve café ☕.txt", "ünïcödé\n".as_bytes().to_vec());
    add(
        "docs/100% +plus&and.txt",
        b"percent, plus, ampersand\n".to_vec(),
    );
    add("big.bin", random_bytes(9_000_000, 3));
    for i in 0..6 {
        add(&format!("z/{i}.txt"), format!("file {i}\n").into_bytes());
    }
    // Elliptics refuses zero-length writes (docs/s3.md, "Not yet supported").
    if backend() == Backend::Local {
        add("a/empty", Vec::new());
    }
    t
}

/// A proxy (`s3_cli::start`), and [`tree`] written into `WORK/src`, where
/// WORK is `name` in the proxy's directory: (proxy, endpoint, WORK, tree).
fn start_with_tree(name: &str) -> (Proxy, String, PathBuf, Tree) {
    let (p, endpoint) = start();
    let work = p.dir.path().join(name);
    let t = tree();
    for (name, data) in &t {
        write_file(&work.join("src"), name, data);
    }
    (p, endpoint, work, t)
}

/// Every file under `dir`, by relative path.
fn read_tree(dir: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, t: &mut Tree) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, t);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
                t.insert(rel.to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut t = Tree::new();
    walk(dir, dir, &mut t);
    t
}

fn names(t: &Tree) -> BTreeSet<String> {
    t.keys().cloned().collect()
}

fn sizes(t: &Tree) -> BTreeMap<String, u64> {
    t.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect()
}

/// The keys below `s3://bucket/prefix` that aws-cli's `verb:` lines name
/// (`upload: SRC to s3://B/K`, `download: s3://B/K to DEST`, `delete: s3://B/K`).
fn aws_moved(out: &str, verb: &str, bucket_prefix: &str) -> BTreeSet<String> {
    let head = format!("{verb}: ");
    out.lines()
        .filter(|l| l.starts_with(&head))
        .map(|l| {
            let at = l.find(bucket_prefix).unwrap_or_else(|| panic!("{l}"));
            let key = &l[at + bucket_prefix.len()..];
            key.split(" to ").next().unwrap().to_string()
        })
        .collect()
}

/// How many PutObject requests the proxy has answered with 2xx (its
/// `/metrics` counter).
fn puts(p: &Proxy) -> f64 {
    let s = scrape(p);
    let labels = [("handler", "s3_put_object"), ("class", "2xx")];
    find(&s, "backrunner_http_requests_total", &labels).map_or(0.0, value)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `aws s3 ls` lines: `DATE TIME SIZE KEY` → key → size; `PRE P/` → P/.
fn aws_ls(out: &str) -> (BTreeMap<String, u64>, BTreeSet<String>) {
    let (mut keys, mut pres) = (BTreeMap::new(), BTreeSet::new());
    for l in out.lines() {
        if let Some(pre) = l.trim_start().strip_prefix("PRE ") {
            pres.insert(pre.to_string());
        } else if l.len() > 19 {
            let (size, key) = l[19..].trim_start().split_once(' ').unwrap();
            keys.insert(key.to_string(), size.parse().unwrap());
        }
    }
    (keys, pres)
}

#[test]
fn aws_cli_sync_up_changes_delete_and_down() {
    if !crate::common::installed("aws", "--version") {
        return;
    }
    let (p, endpoint, work, mut t) = start_with_tree("aws-sync");
    let (src, down) = (work.join("src"), work.join("down"));
    let aws = |args: &[&str]| aws_cli(&p, &endpoint, "admin", "admin-secret", args);
    let (src_s, down_s) = (src.to_str().unwrap(), down.to_str().unwrap());
    let remote = "s3://aws-sync/tree/";
    aws(&["s3", "mb", "s3://aws-sync"]);

    let out = aws(&["s3", "sync", "--no-progress", src_s, remote]);
    assert_eq!(aws_moved(&out, "upload", remote), names(&t), "{out}");
    // Unchanged: nothing to do (the listing's sizes and LastModified are
    // not older than the local files).
    let out = aws(&["s3", "sync", "--no-progress", src_s, remote]);
    assert_eq!(out.trim(), "", "a second sync transferred:\n{out}");

    // One file changed in place (same size: only its newer mtime tells),
    // one added, one removed.
    let changed = b"TWO\n".to_vec();
    write_file(&src, "a/two.txt", &changed);
    t.insert("a/two.txt".into(), changed);
    write_file(&src, "docs/new file.txt", b"new\n");
    t.insert("docs/new file.txt".into(), b"new\n".to_vec());
    std::fs::remove_file(src.join("z/3.txt")).unwrap();
    let removed = t.remove("z/3.txt").unwrap();
    let before = puts(&p);
    let out = aws(&["s3", "sync", "--no-progress", src_s, remote]);
    let both = set(&["a/two.txt", "docs/new file.txt"]);
    assert_eq!(aws_moved(&out, "upload", remote), both, "{out}");
    assert_eq!(aws_moved(&out, "delete", remote), set(&[]), "{out}");
    assert_eq!(
        puts(&p) - before,
        2.0,
        "PutObject requests of the second sync"
    );
    let (listed, _) = aws_ls(&aws(&["s3", "ls", "--recursive", remote]));
    assert_eq!(listed.get("tree/z/3.txt"), Some(&(removed.len() as u64)));

    let out = aws(&["s3", "sync", "--no-progress", "--delete", src_s, remote]);
    assert_eq!(
        aws_moved(&out, "delete", remote),
        set(&["z/3.txt"]),
        "{out}"
    );
    assert_eq!(aws_moved(&out, "upload", remote), set(&[]), "{out}");

    // Down into an empty directory: the same tree, byte for byte; then
    // nothing more to download.
    let out = aws(&["s3", "sync", "--no-progress", remote, down_s]);
    assert_eq!(aws_moved(&out, "download", remote), names(&t), "{out}");
    assert!(read_tree(&down) == t, "the tree synced down differs");
    let out = aws(&["s3", "sync", "--no-progress", remote, down_s]);
    assert_eq!(out.trim(), "", "a second sync down transferred:\n{out}");

    let (listed, pres) = aws_ls(&aws(&["s3", "ls", "--recursive", "s3://aws-sync"]));
    let want: BTreeMap<String, u64> = sizes(&t)
        .into_iter()
        .map(|(k, v)| (format!("tree/{k}"), v))
        .collect();
    assert_eq!(listed, want);
    assert!(pres.is_empty(), "{pres:?}");
    let (listed, pres) = aws_ls(&aws(&["s3", "ls", "s3://aws-sync/tree/a/"]));
    assert_eq!(pres, set(&["b/"]));
    let files: BTreeSet<String> = listed.into_keys().collect();
    let mut want = set(&["one.bin", "two.txt"]);
    if backend() == Backend::Local {
        want.insert("empty".into());
    }
    assert_eq!(files, want);
    let (listed, pres) = aws_ls(&aws(&["s3", "ls", "s3://aws-sync/tree/"]));
    assert_eq!(pres, set(&["a/", "docs/", "z/"]));
    assert_eq!(
        listed.into_keys().collect::<BTreeSet<_>>(),
        set(&["big.bin", "top.txt"])
    );
}

/// Uploads through Backrunner's `/upload/` as `admin`, signed.
fn backrunner_upload(p: &Proxy, bucket: &str, key: &str, body: Vec<u8>) {
    let path = format!("/upload/{bucket}/{}", escape(key));
    let r = p
        .client
        .post(p.url(&path))
        .header(
            "Authorization",
            format!("riftv1 admin:{}", sign("admin-secret", "POST", &path)),
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
}

/// `rclone ls` lines (`SIZE PATH`) → path → size.
fn rclone_ls(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .map(|l| {
            let (size, name) = l.trim_start().split_once(' ').unwrap();
            (name.to_string(), size.parse().unwrap())
        })
        .collect()
}

#[test]
fn rclone_copy_check_sync() {
    if !crate::common::installed("rclone", "version") {
        return;
    }
    if !crate::common::installed("aws", "--version") {
        return;
    }
    let (p, endpoint, work, mut t) = start_with_tree("rclone-sync");
    let src = work.join("src");
    let env = rclone_env(&work, &endpoint);
    let rclone = |args: &[&str]| run_both(&p, "rclone", args, &env);
    let src_s = src.to_str().unwrap();
    let remote = "s3t:rclone-sync/tree";
    rclone(&["mkdir", "s3t:rclone-sync"]);
    rclone(&["copy", src_s, remote]);

    assert_eq!(rclone_ls(&rclone(&["ls", remote]).0), sizes(&t));
    let mut want = names(&t);
    for d in ["a/", "a/b/", "a/b/c/", "docs/", "z/"] {
        want.insert(d.to_string());
    }
    let lsf: BTreeSet<String> = rclone(&["lsf", "-R", remote])
        .0
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lsf, want);
    let dirs: BTreeSet<String> = rclone(&["lsd", remote])
        .0
        .lines()
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect();
    assert_eq!(dirs, set(&["a", "docs", "z"]));

    // Sizes and MD5s (the ETags) all agree.
    let n = t.len();
    let (_, report) = rclone(&["check", src_s, remote]);
    assert!(
        report.contains("0 differences found")
            && report.contains(&format!("{n} matching files"))
            && !report.contains("could not be checked"),
        "{report}"
    );

    // Rewritten through Backrunner's /upload/ with the same bytes: no MD5
    // is known for it, and its ETag must not pass for one (rclone compares
    // its size only).
    backrunner_upload(&p, "rclone-sync", "tree/z/0.txt", t["z/0.txt"].clone());
    let (_, report) = rclone(&["check", src_s, remote]);
    assert!(
        report.contains("0 differences found") && report.contains("1 hashes could not be checked"),
        "{report}"
    );

    // Changed remotely through two other paths: Backrunner's /upload/ (a
    // new size: such an object has no MD5, so only its size can differ for
    // rclone) and aws-cli (the same size, other bytes: the MD5 differs).
    backrunner_upload(&p, "rclone-sync", "tree/a/two.txt", b"2\n".to_vec());
    let other = work.join("other");
    write_file(&other, "top.txt", b"AT THE TOP\n");
    aws_cli(
        &p,
        &endpoint,
        "admin",
        "admin-secret",
        &[
            "s3",
            "cp",
            other.join("top.txt").to_str().unwrap(),
            "s3://rclone-sync/tree/top.txt",
        ],
    );
    let report = run_failing("rclone", &["check", src_s, remote], &env);
    assert!(
        report.contains("2 differences found")
            && report.contains("a/two.txt: sizes differ")
            && report.contains("top.txt: md5 differ"),
        "{report}"
    );

    // Sync puts both back, and removes what is gone locally.
    std::fs::remove_file(src.join("z/3.txt")).unwrap();
    t.remove("z/3.txt");
    write_file(&src, "z/new.txt", b"new\n");
    t.insert("z/new.txt".into(), b"new\n".to_vec());
    let before = puts(&p);
    rclone(&["sync", src_s, remote]);
    // The two changed remotely, the new one, and z/0.txt: its time is the
    // /upload/'s, and without an MD5 rclone cannot tell the bytes the same.
    assert_eq!(puts(&p) - before, 4.0, "PutObject requests of the sync");
    assert_eq!(rclone_ls(&rclone(&["ls", remote]).0), sizes(&t));
    let (_, report) = rclone(&["check", src_s, remote]);
    assert!(
        report.contains("0 differences found") && !report.contains("could not be checked"),
        "{report}"
    );

    // And back down: the same bytes.
    let down = work.join("down");
    rclone(&["copy", remote, down.to_str().unwrap()]);
    assert!(read_tree(&down) == t, "the tree copied down differs");
}

/// `s3cmd ls` lines → (objects: URL → size, DIR URLs).
fn s3cmd_ls(out: &str) -> (BTreeMap<String, u64>, BTreeSet<String>) {
    let (mut objects, mut dirs) = (BTreeMap::new(), BTreeSet::new());
    for l in out.lines() {
        let Some(at) = l.find("s3://") else { continue };
        let (head, url) = (l[..at].trim_end(), l[at..].to_string());
        match head.split_whitespace().last() {
            Some("DIR") => {
                dirs.insert(url);
            }
            Some(size) => {
                objects.insert(url, size.parse().unwrap());
            }
            None => {}
        }
    }
    (objects, dirs)
}

#[test]
fn s3cmd_sync_and_listings() {
    if !crate::common::installed("s3cmd", "--version") {
        return;
    }
    let (p, endpoint, work, mut t) = start_with_tree("s3cmd-sync");
    let src = work.join("src");
    let cfg = s3cmd_config(&work, &endpoint);
    let s3cmd = |args: &[&str]| {
        let mut all = vec!["-c", cfg.as_str()];
        all.extend_from_slice(args);
        run(&p, "s3cmd", &all, &[])
    };
    let src_s = format!("{}/", src.display());
    let remote = "s3://s3cmd-sync/tree/";
    s3cmd(&["mb", "s3://s3cmd-sync"]);
    s3cmd(&["sync", &src_s, remote]);
    // Unchanged (sizes and MD5s agree): nothing uploaded.
    let before = puts(&p);
    s3cmd(&["sync", &src_s, remote]);
    assert_eq!(
        puts(&p),
        before,
        "PutObject requests of a sync with no change"
    );

    let (objects, dirs) = s3cmd_ls(&s3cmd(&["ls", "s3://s3cmd-sync"]));
    assert_eq!((objects.len(), dirs), (0, set(&[remote])));
    let (objects, dirs) = s3cmd_ls(&s3cmd(&["ls", remote]));
    let dir = |d: &str| format!("{remote}{d}");
    assert_eq!(dirs, [dir("a/"), dir("docs/"), dir("z/")].into());
    assert_eq!(
        objects.into_keys().collect::<BTreeSet<_>>(),
        [dir("big.bin"), dir("top.txt")].into()
    );
    let all = s3cmd(&["la"]);
    assert!(s3cmd_ls(&all).1.contains(remote), "{all}");
    let want: BTreeMap<String, u64> = sizes(&t).into_iter().map(|(k, v)| (dir(&k), v)).collect();
    let (objects, _) = s3cmd_ls(&s3cmd(&["ls", "--recursive", "s3://s3cmd-sync"]));
    assert_eq!(objects, want);

    // A removal and a change (same size, other bytes: the MD5 tells).
    std::fs::remove_file(src.join("z/3.txt")).unwrap();
    t.remove("z/3.txt");
    write_file(&src, "a/two.txt", b"TWO\n");
    t.insert("a/two.txt".into(), b"TWO\n".to_vec());
    let before = puts(&p);
    s3cmd(&["sync", "--delete-removed", &src_s, remote]);
    assert_eq!(puts(&p) - before, 1.0, "PutObject requests of the sync");
    let (objects, _) = s3cmd_ls(&s3cmd(&["ls", "--recursive", "s3://s3cmd-sync"]));
    let want: BTreeMap<String, u64> = sizes(&t).into_iter().map(|(k, v)| (dir(&k), v)).collect();
    assert_eq!(objects, want);

    let down = work.join("down");
    s3cmd(&["sync", remote, &format!("{}/", down.display())]);
    assert!(read_tree(&down) == t, "the tree synced down differs");
}
