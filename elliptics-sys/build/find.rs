//! Finding an installed Elliptics client, in the order openssl-sys uses:
//! explicit directories, a prefix, pkg-config, then standard prefixes.

use std::env;
use std::path::{Path, PathBuf};

/// Where the headers and libraries are.
pub struct Install {
    pub include_dirs: Vec<PathBuf>,
    pub lib_dirs: Vec<PathBuf>,
}

const VARS: [&str; 4] = [
    "ELLIPTICS_LIB_DIR",
    "ELLIPTICS_INCLUDE_DIR",
    "ELLIPTICS_PREFIX",
    "PKG_CONFIG_PATH",
];

fn var(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn has_headers(include: &Path) -> bool {
    include.join("elliptics/session.hpp").is_file()
}

fn has_libs(lib: &Path) -> bool {
    ["so", "a"]
        .iter()
        .any(|ext| lib.join(format!("libelliptics_cpp.{ext}")).is_file())
}

fn from_prefix(prefix: &Path) -> Option<Install> {
    let include = prefix.join("include");
    let lib = [
        prefix.join("lib"),
        prefix.join("lib/x86_64-linux-gnu"),
        prefix.join("lib64"),
    ]
    .into_iter()
    .find(|d| has_libs(d))?;
    has_headers(&include).then(|| Install {
        include_dirs: vec![include],
        lib_dirs: vec![lib],
    })
}

/// Finds Elliptics or explains how to make it findable.
pub fn find() -> Result<Install, String> {
    for v in VARS {
        println!("cargo:rerun-if-env-changed={v}");
    }
    if let (Some(lib), Some(include)) = (var("ELLIPTICS_LIB_DIR"), var("ELLIPTICS_INCLUDE_DIR")) {
        if !has_headers(&include) || !has_libs(&lib) {
            return Err(format!(
                "ELLIPTICS_INCLUDE_DIR={} / ELLIPTICS_LIB_DIR={} do not hold elliptics/session.hpp and libelliptics_cpp",
                include.display(),
                lib.display()
            ));
        }
        return Ok(Install {
            include_dirs: vec![include],
            lib_dirs: vec![lib],
        });
    }
    if let Some(prefix) = var("ELLIPTICS_PREFIX") {
        return from_prefix(&prefix).ok_or_else(|| {
            format!(
                "ELLIPTICS_PREFIX={} holds no include/elliptics/session.hpp and lib/libelliptics_cpp",
                prefix.display()
            )
        });
    }
    if let Ok(lib) = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("elliptics")
    {
        if lib.include_paths.iter().any(|p| has_headers(p)) {
            return Ok(Install {
                include_dirs: lib.include_paths,
                lib_dirs: lib.link_paths,
            });
        }
    }
    for prefix in ["/usr", "/usr/local"] {
        if let Some(i) = from_prefix(Path::new(prefix)) {
            return Ok(i);
        }
    }
    Err(
        "elliptics-sys: could not find the Elliptics C++ client (elliptics/session.hpp and \
         libelliptics_cpp). Install the `elliptics-dev` and `elliptics-client` packages, or point \
         the build at an install with ELLIPTICS_PREFIX=/opt/elliptics, or ELLIPTICS_LIB_DIR and \
         ELLIPTICS_INCLUDE_DIR, or PKG_CONFIG_PATH holding elliptics.pc."
            .to_string(),
    )
}
