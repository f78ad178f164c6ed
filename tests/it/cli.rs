//! Start-up failures: a missing, unreadable or invalid config exits non-zero
//! with one line naming the file and the problem.

use std::process::Command;

use crate::common::{BACKRUNNER, BMETA};

fn run(bin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configs_exit_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"proxy\": ").unwrap();
    let ellipt = dir.path().join("elliptics.json");
    std::fs::write(
        &ellipt,
        r#"{"elliptics": {"remote": ["127.0.0.1:1025:2"], "metadata-groups": [1]}, "proxy": {"address": "127.0.0.1:0"}}"#,
    )
    .unwrap();
    let nostore = dir.path().join("nostore.json");
    std::fs::write(
        &nostore,
        r#"{"elliptics": {"metadata-groups": [1]}, "proxy": {"address": "127.0.0.1:0"}}"#,
    )
    .unwrap();
    for (path, needle) in [
        (&missing, "cannot read"),
        (&broken, "invalid JSON"),
        (&nostore, "no store selected"),
    ] {
        for bin in [BACKRUNNER, BMETA] {
            let p = path.to_str().unwrap();
            let (ok, err) = run(bin, &["-config", p, "-bucket", "b"]);
            let err = if bin == BACKRUNNER {
                run(bin, &["-config", p]).1
            } else {
                err
            };
            assert!(!ok, "{bin} {p} succeeded");
            assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
            assert!(err.contains(p) && err.contains(needle), "{err:?}");
        }
    }
    let (ok, err) = run(BACKRUNNER, &["--config", ellipt.to_str().unwrap()]);
    assert!(!ok);
    if !cfg!(feature = "elliptics") {
        assert!(err.contains("--features elliptics"), "{err}");
    }
    let (ok, err) = run(BACKRUNNER, &[]);
    assert!(!ok && err.contains("--config"), "{err}");
}

#[test]
fn bmeta_prints_a_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(
        &cfg,
        serde_json::to_vec(&serde_json::json!({
            "elliptics": {"metadata-groups": [1]},
            "proxy": {"address": "127.0.0.1:0"},
            "local": {"path": dir.path().join("s"), "groups": [{"group": 1}]}
        }))
        .unwrap(),
    )
    .unwrap();
    let spec = dir.path().join("b.json");
    std::fs::write(
        &spec,
        r#"{"generic": {"acl": [{"user": "w", "token": "t", "flags": 2}]}, "buckets": {"bk": {"groups": [1, 2]}}}"#,
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let (ok, err) = run(BMETA, &["-config", c, "-upload", spec.to_str().unwrap()]);
    assert!(ok, "{err}");
    let out = Command::new(BMETA)
        .args(["-config", c, "-bucket", "bk"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["groups"], serde_json::json!([1, 2]));
    assert_eq!(v["acl"][0]["user"], "w");
    let (ok, err) = run(BMETA, &["-config", c, "-bucket", "nope"]);
    assert!(!ok && err.contains("nope"), "{err}");
}
