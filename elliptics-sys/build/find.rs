//! Finding an installed Elliptics client, in the order openssl-sys uses:
//! explicit directories, a prefix, pkg-config, then standard prefixes.

use std::env;
use std::path::{Path, PathBuf};

/// Where the headers and libraries are.
pub struct Install {
    pub include_dirs: Vec<PathBuf>,
    pub lib_dirs: Vec<PathBuf>,
}

const VARS: [&str; 5] = [
    "ELLIPTICS_LIB_DIR",
    "ELLIPTICS_INCLUDE_DIR",
    "ELLIPTICS_PREFIX",
    "ELLIPTICS_LIBS",
    "PKG_CONFIG_PATH",
];

/// The libraries linked unless `ELLIPTICS_LIBS` (colon or comma separated) says otherwise.
const DEFAULT_LIBS: [&str; 3] = ["elliptics_cpp", "elliptics_client", "blackhole"];

/// The libraries to link: `ELLIPTICS_LIBS`, else [`DEFAULT_LIBS`].
pub fn libs() -> Vec<String> {
    match env::var("ELLIPTICS_LIBS") {
        Ok(v) if !v.trim().is_empty() => v
            .split([':', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        _ => DEFAULT_LIBS.iter().map(|l| l.to_string()).collect(),
    }
}

/// The Debian multiarch directory of the target (`x86_64-linux-gnu`, ...),
/// from cargo's target description.
fn multiarch() -> Option<String> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").ok()?;
    let os = env::var("CARGO_CFG_TARGET_OS").ok()?;
    let env_ = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let arch = match arch.as_str() {
        "x86" => "i386".to_string(),
        "arm" => "arm".to_string(),
        a => a.to_string(),
    };
    let abi = match (arch.as_str(), env_.as_str()) {
        ("arm", "gnu") => "gnueabihf".to_string(),
        (_, "") => "gnu".to_string(),
        (_, e) => e.to_string(),
    };
    Some(format!("{arch}-{os}-{abi}"))
}

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
    let mut dirs = vec![prefix.join("lib")];
    dirs.extend(multiarch().map(|m| prefix.join("lib").join(m)));
    dirs.push(prefix.join("lib64"));
    let lib = dirs.into_iter().find(|d| has_libs(d))?;
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
    match (var("ELLIPTICS_LIB_DIR"), var("ELLIPTICS_INCLUDE_DIR")) {
        (Some(lib), None) => {
            return Err(format!(
                "ELLIPTICS_LIB_DIR={} is set but ELLIPTICS_INCLUDE_DIR is not: set both, or ELLIPTICS_PREFIX",
                lib.display()
            ))
        }
        (None, Some(include)) => {
            return Err(format!(
                "ELLIPTICS_INCLUDE_DIR={} is set but ELLIPTICS_LIB_DIR is not: set both, or ELLIPTICS_PREFIX",
                include.display()
            ))
        }
        _ => {}
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
