//! Static files under `proxy.root`: no listing, never outside the root,
//! never a guarded path (the config, the store, keys, logs: config::Guarded).

use std::path::{Component, Path, PathBuf};

use actix_files::NamedFile;
use actix_web::HttpResponse;

use super::error::ApiError;
use super::Req;

/// Maps a raw request path to a file under `root`, refusing anything that
/// could leave it (`..`, absolute parts, NUL, backslashes).
pub fn resolve(root: &Path, raw_path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Serves a static file, or 404.
pub async fn serve(req: &Req, raw_path: &str) -> Result<HttpResponse, ApiError> {
    let root = &req.snap.config.proxy.root;
    let not_found = || ApiError::NotFound("no such file".into());
    if root.is_empty() {
        return Err(not_found());
    }
    let root = PathBuf::from(root);
    let path = resolve(&root, raw_path).ok_or_else(not_found)?;
    let guarded = req.snap.guarded.clone();
    let file = super::blocking(move || -> Option<NamedFile> {
        // Symlinks must not lead out of the root either.
        let real_root = root.canonicalize().ok()?;
        let real = path.canonicalize().ok()?;
        if !real.starts_with(&real_root) {
            return None;
        }
        let file = std::fs::File::open(&real).ok()?;
        // Checked on the opened file, so a swap after the check changes nothing.
        let meta = file.metadata().ok()?;
        if !meta.is_file() || guarded.refuses(&real, &meta) {
            return None;
        }
        NamedFile::from_file(file, real).ok()
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(file
        .use_etag(true)
        .use_last_modified(true)
        .into_response(&req.http))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused() {
        let r = Path::new("/srv/www");
        assert_eq!(
            resolve(r, "/a/b.txt"),
            Some(PathBuf::from("/srv/www/a/b.txt"))
        );
        assert_eq!(
            resolve(r, "/a/./b.txt"),
            Some(PathBuf::from("/srv/www/a/b.txt"))
        );
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/%2e%2e/etc",
            "/a/..%2f..%2fetc",
            "/%00",
            "/a\\b",
        ] {
            assert_eq!(resolve(r, bad), None, "{bad}");
        }
    }
}
