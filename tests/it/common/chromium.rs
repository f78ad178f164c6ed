//! Headless Chromium as the tests run it (Debian's `chromium` package):
//! no sandbox (tests may run as root), no GPU, no background traffic, a
//! throw-away profile.

use std::path::Path;
use std::process::Command;

/// `chromium --headless` with the flags every browser test uses and its
/// profile in `profile`; the caller adds its own flags and the URL.
pub fn command(profile: &Path) -> Command {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--mute-audio",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}
