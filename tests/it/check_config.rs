//! `backrunner --check-config FILE`: prints the effective config with
//! secrets hidden and exits 0, or one line and exit 1. The packaged example
//! config must pass it.

use std::process::Command;

use crate::common::BACKRUNNER;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BACKRUNNER).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn valid_config_is_printed_with_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(
        &cfg,
        r#"{"elliptics": {"metadata-groups": [1], "log-level": "notice", "log-file": "/var/log/x.log"},
            "proxy": {"address": "127.0.0.1:9090", "redirect-token": "s3cr3t-token", "idle-timeout": 7},
            "local": {"path": "/var/lib/backrunner", "groups": [{"group": 1, "size-limit": "1G"}]}}"#,
    )
    .unwrap();
    for flag in ["--check-config", "-check-config"] {
        let (code, out, err) = run(&[flag, cfg.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains("s3cr3t-token"), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["proxy"]["redirect-token"], "<hidden>");
        assert_eq!(v["proxy"]["idle-timeout"], 7);
        // Defaults are filled in: the effective config, not the file.
        assert_eq!(v["proxy"]["free-space-ratio-hard"], 0.15);
        assert_eq!(v["local"]["groups"][0]["size-limit"], 1u64 << 30);
        // Nothing was created or opened by a check.
        assert!(!std::path::Path::new("/var/log/x.log").exists());
    }
}

#[test]
fn invalid_configs_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad_level = dir.path().join("level.json");
    std::fs::write(
        &bad_level,
        r#"{"elliptics": {"metadata-groups": [1], "log-level": "chatty"},
            "proxy": {"address": "127.0.0.1:9090"},
            "local": {"path": "/tmp/x", "groups": [{"group": 1}]}}"#,
    )
    .unwrap();
    let bad_cors = dir.path().join("cors.json");
    std::fs::write(
        &bad_cors,
        r#"{"elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:9090", "s3-cors": [
                {"allowed-origins": ["*"], "allowed-methods": ["GET", "PATCH"]}]},
            "local": {"path": "/tmp/x", "groups": [{"group": 1}]}}"#,
    )
    .unwrap();
    let bad_vod_cors = dir.path().join("vod-cors.json");
    std::fs::write(
        &bad_vod_cors,
        r#"{"elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:9090", "vod-cors": [
                {"allowed-origins": ["http://*.*"], "allowed-methods": ["GET"]}]},
            "local": {"path": "/tmp/x", "groups": [{"group": 1}]}}"#,
    )
    .unwrap();
    let bad_segment = dir.path().join("vod-segment.json");
    std::fs::write(
        &bad_segment,
        r#"{"elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:9090", "vod-segment-seconds": 0},
            "local": {"path": "/tmp/x", "groups": [{"group": 1}]}}"#,
    )
    .unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"proxy\": [").unwrap();
    let missing = dir.path().join("missing.json");
    // proxy.headers are checked when the config is read, not dropped per reply.
    let bad_header = dir.path().join("header.json");
    std::fs::write(
        &bad_header,
        r#"{"elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:9090", "headers": {"X-Ok": "1", "Bad Name": "v"}},
            "local": {"path": "/tmp/x", "groups": [{"group": 1}]}}"#,
    )
    .unwrap();
    let bad_value = dir.path().join("value.json");
    std::fs::write(
        &bad_value,
        r#"{"elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:9090", "headers": {"X-Line": "a\nb"}},
            "local": {"path": "/tmp/x", "groups": [{"group": 1}]}}"#,
    )
    .unwrap();
    for (path, needle) in [
        (
            &bad_header,
            "proxy.headers: \"Bad Name\" is not a valid header name",
        ),
        (&bad_value, "proxy.headers: the value of X-Line"),
        (&bad_level, "chatty"),
        (&bad_cors, "proxy.s3-cors[0]: method \"PATCH\""),
        (
            &bad_vod_cors,
            "proxy.vod-cors[0]: \"http://*.*\" has more than one '*' wildcard",
        ),
        (
            &bad_segment,
            "proxy.vod-segment-seconds must be between 1 and 60",
        ),
        (&broken, "invalid JSON"),
        (&missing, "cannot read"),
    ] {
        let p = path.to_str().unwrap();
        let (code, out, err) = run(&["--check-config", p]);
        assert_eq!(code, 1, "{p}: {out}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
        assert!(err.contains(p) && err.contains(needle), "{err:?}");
    }
    let (code, _, err) = run(&[]);
    assert_ne!(code, 0);
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn packaged_configs_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    for name in [
        "packaging/backrunner.json",
        "packaging/docker/backrunner.json",
    ] {
        let path = format!("{root}/{name}");
        let (code, out, err) = run(&["--check-config", &path]);
        assert_eq!(code, 0, "{name}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["local"]["path"], "/var/lib/backrunner", "{name}");
    }
}
