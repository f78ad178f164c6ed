//! Build facts only: the commit and date shown by `/proxy_stat/`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let date = Command::new("date")
        // Backrunner's Makefile form: 2026-12-01/09:00:00/+0000.
        .args(["-u", "+%Y-%m-%d/%H:%M:%S/%z"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=BACKRUNNER_COMMIT={commit}");
    println!("cargo:rustc-env=BACKRUNNER_BUILD_DATE={date}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    // With the `elliptics` feature: elliptics-sys reports where the client
    // libraries are; binaries and tests find them there at run time.
    if let Ok(dirs) = std::env::var("DEP_ELLIPTICS_CPP_RPATH") {
        for dir in std::env::split_paths(&dirs) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
}
