//! What the static root (`proxy.root`) must never serve: the config file,
//! the embedded store, TLS keys and certificates, the `-buckets` file and
//! the log file. Backrunner starts whatever its root covers (its own test
//! suite puts the config inside the root), so a covering root is accepted
//! at start with a warning and those paths are refused file by file; a
//! reload may not *change* the root to one that covers them.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::{Config, InvalidConfig};

/// How one guarded path matches a served file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// A file, and any file beside it whose name starts with its name
    /// (`config.json.bak`, `proxy.log.1`: backups and rotations).
    File,
    /// A directory and everything under it.
    Dir,
}

/// One path the static handler refuses.
#[derive(Debug, Clone)]
struct Guard {
    /// What it is, for the warning ("the config file").
    what: &'static str,
    /// Absolute, symlinks resolved as far as the path exists.
    path: PathBuf,
    shape: Shape,
    /// Device and inode of the file at start, so a hard link to it is refused too.
    id: Option<(u64, u64)>,
}

/// The paths the static handler must never serve, built from a config and
/// where it was read from.
#[derive(Debug, Clone, Default)]
pub struct Guarded {
    guards: Vec<Guard>,
}

impl Guarded {
    /// The sensitive paths of `config`, read from `config_path`, with the
    /// `-buckets` file `buckets_path`.
    pub fn new(config: &Config, config_path: &Path, buckets_path: Option<&Path>) -> Guarded {
        let mut guards = Vec::new();
        let mut file = |what: &'static str, p: &Path| {
            if p.as_os_str().is_empty() {
                return;
            }
            let path = normalize(p);
            let id = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
            guards.push(Guard {
                what,
                path,
                shape: Shape::File,
                id,
            });
        };
        file("the config file", config_path);
        if let Some(b) = buckets_path {
            file("the -buckets file", b);
        }
        file(
            "the TLS certificate proxy.cert_file",
            Path::new(&config.proxy.cert_file),
        );
        file(
            "the TLS key proxy.key_file",
            Path::new(&config.proxy.key_file),
        );
        let log = config.elliptics.log_file.trim();
        if !matches!(log, "" | "/dev/stderr" | "/dev/stdout") {
            file("the log file elliptics.log-file", Path::new(log));
        }
        if let Some(local) = &config.local {
            if !local.path.as_os_str().is_empty() {
                guards.push(Guard {
                    what: "the store local.path",
                    path: normalize(&local.path),
                    shape: Shape::Dir,
                    id: None,
                });
            }
        }
        Guarded { guards }
    }

    /// Whether the file at `real` (a canonical path, as `canonicalize`
    /// gives) must not be served.
    pub fn refuses(&self, real: &Path, meta: &std::fs::Metadata) -> bool {
        let id = (meta.dev(), meta.ino());
        self.guards.iter().any(|g| {
            if g.id == Some(id) {
                return true;
            }
            match g.shape {
                Shape::Dir => real.starts_with(&g.path),
                Shape::File => {
                    real.parent() == g.path.parent()
                        && match (real.file_name(), g.path.file_name()) {
                            (Some(r), Some(n)) => {
                                r.as_encoded_bytes().starts_with(n.as_encoded_bytes())
                            }
                            _ => false,
                        }
                }
            }
        })
    }

    /// What a static root at `root` covers, one phrase each ("the config
    /// file /x/proxy.conf"); empty when it covers nothing guarded. A root
    /// inside the store covers the store too.
    pub fn covered_by(&self, root: &str) -> Vec<String> {
        if root.is_empty() {
            return Vec::new();
        }
        let root = normalize(Path::new(root));
        self.guards
            .iter()
            .filter(|g| {
                g.path.starts_with(&root) || (g.shape == Shape::Dir && root.starts_with(&g.path))
            })
            .map(|g| format!("{} {}", g.what, g.path.display()))
            .collect()
    }
}

impl Config {
    /// The warning to log at start when `proxy.root` covers guarded paths:
    /// one line naming them, or `None`.
    pub fn root_warning(&self, guarded: &Guarded) -> Option<String> {
        let covered = guarded.covered_by(&self.proxy.root);
        (!covered.is_empty()).then(|| {
            format!(
                "proxy.root {:?} covers {}: the static handler never serves them",
                self.proxy.root,
                covered.join(", ")
            )
        })
    }

    /// Refuses a change of `proxy.root` to one that covers guarded paths;
    /// keeping one of the `accepted` roots (the running one, the one the
    /// proxy started with) is always allowed.
    pub fn check_root_change(
        &self,
        accepted: &[&str],
        guarded: &Guarded,
    ) -> Result<(), InvalidConfig> {
        let new = &self.proxy.root;
        if new.is_empty() || accepted.iter().any(|old| same_path(old, new)) {
            return Ok(());
        }
        let covered = guarded.covered_by(new);
        if covered.is_empty() {
            return Ok(());
        }
        Err(InvalidConfig(format!(
            "proxy.root {new:?} would serve {}",
            covered.join(", ")
        )))
    }
}

/// Whether two roots name the same directory.
fn same_path(a: &str, b: &str) -> bool {
    !a.is_empty() && normalize(Path::new(a)) == normalize(Path::new(b))
}

/// An absolute path without `.`/`..` and with symlinks resolved as far as
/// the path exists (a missing tail is kept as written).
pub fn normalize(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut lexical = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            c => lexical.push(c),
        }
    }
    // Resolve the longest existing prefix, keep the rest.
    let mut head = lexical.clone();
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = head.canonicalize() {
            let mut out = real;
            for t in tail.iter().rev() {
                out.push(t);
            }
            return out;
        }
        match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                head = parent.to_path_buf();
            }
            _ => return lexical,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;

    struct Fixture {
        _dir: tempfile::TempDir,
        d: PathBuf,
        config: Config,
        config_path: PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(d.join("store/group-1")).unwrap();
        std::fs::create_dir_all(d.join("etc/www")).unwrap();
        let config_path = d.join("etc/config.json");
        std::fs::write(&config_path, "{}").unwrap();
        let mut config = Config::from_slice(MINIMAL.as_bytes(), "t").unwrap();
        config.local.as_mut().unwrap().path = d.join("store");
        config.proxy.key_file = d.join("etc/key.pem").display().to_string();
        config.elliptics.log_file = d.join("log/proxy.log").display().to_string();
        Fixture {
            _dir: dir,
            d,
            config,
            config_path,
        }
    }

    #[test]
    fn a_root_covers_what_lies_under_it() {
        let f = fixture();
        let g = Guarded::new(&f.config, &f.config_path, None);
        let d = &f.d;
        assert!(g.covered_by("").is_empty());
        assert!(g
            .covered_by(&d.join("etc/www").display().to_string())
            .is_empty());
        assert!(g
            .covered_by(&d.join("elsewhere").display().to_string())
            .is_empty());
        let all = g.covered_by("/");
        assert_eq!(all.len(), 4, "{all:?}");
        for (root, what) in [
            (d.join("etc"), "the config file"),
            (d.join("etc/www/.."), "the TLS key"),
            (d.join("store"), "the store"),
            (d.join("store/group-1"), "the store"),
            (d.join("store/not-yet"), "the store"),
            (d.join("log"), "the log file"),
        ] {
            let c = g.covered_by(&root.display().to_string());
            assert!(c.iter().any(|c| c.starts_with(what)), "{root:?}: {c:?}");
        }
        // A symlink to the store is the store.
        std::os::unix::fs::symlink(d.join("store"), d.join("link")).unwrap();
        assert!(!g
            .covered_by(&d.join("link").display().to_string())
            .is_empty());
    }

    #[test]
    fn guarded_files_and_their_siblings_are_refused() {
        let f = fixture();
        let d = &f.d;
        std::fs::create_dir_all(d.join("log")).unwrap();
        for name in [
            "etc/config.json.bak",
            "log/proxy.log.1",
            "etc/www/page.html",
            "etc/key.pem",
        ] {
            std::fs::write(d.join(name), "x").unwrap();
        }
        std::fs::write(d.join("store/group-1/obj"), "x").unwrap();
        std::fs::hard_link(&f.config_path, d.join("etc/www/innocent.txt")).unwrap();
        let g = Guarded::new(&f.config, &f.config_path, None);
        let refused = |p: &str| {
            let real = d.join(p).canonicalize().unwrap();
            g.refuses(&real, &std::fs::metadata(&real).unwrap())
        };
        for p in [
            "etc/config.json",
            "etc/config.json.bak",
            "etc/key.pem",
            "log/proxy.log.1",
            "store/group-1/obj",
            "etc/www/innocent.txt",
        ] {
            assert!(refused(p), "{p}");
        }
        assert!(!refused("etc/www/page.html"));
    }

    #[test]
    fn only_a_change_to_a_covering_root_is_refused() {
        let f = fixture();
        let g = Guarded::new(&f.config, &f.config_path, None);
        let with_root = |root: &Path| {
            let mut c = f.config.clone();
            c.proxy.root = root.display().to_string();
            c
        };
        let safe = with_root(&f.d.join("etc/www"));
        let covering = with_root(&f.d.join("etc"));
        assert!(covering.root_warning(&g).is_some());
        assert!(safe.root_warning(&g).is_none());
        let e = covering
            .check_root_change(&[&safe.proxy.root], &g)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the config file"), "{e}");
        assert!(with_root(Path::new("/"))
            .check_root_change(&[&safe.proxy.root], &g)
            .is_err());
        // Keeping a covering root (accepted at start) is not a change.
        let same = with_root(&f.d.join("etc/www/.."));
        assert!(same.check_root_change(&[&covering.proxy.root], &g).is_ok());
        assert!(safe.check_root_change(&[&covering.proxy.root], &g).is_ok());
        assert!(with_root(Path::new(""))
            .check_root_change(&[&covering.proxy.root], &g)
            .is_ok());
    }
}
