//! The command-line S3 clients as users run them, unchanged: aws-cli,
//! rclone and s3cmd (ci/install-deps.sh installs all three), each making
//! its own bucket through CreateBucket and moving files in and out. A
//! client that is not installed skips its test (fails it under CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{random_bytes, Proxy};
use crate::s3_clients::{assert_ran, start_with_admin_groups};

/// The proxy of these tests: new buckets on groups 1 and 2 (placement's
/// choice is tested with boto3; here it would depend on the test machine's
/// free disk space).
pub fn start() -> (Proxy, String) {
    start_with_admin_groups("us-east-1", &[1, 2])
}

/// Runs `program args` with `env`, asserting it succeeds; answers stdout.
pub fn run(p: &Proxy, program: &str, args: &[&str], env: &[(&str, String)]) -> String {
    run_both(p, program, args, env).0
}

/// Like `run`; answers stdout and stderr (rclone reports on stderr).
pub fn run_both(
    p: &Proxy,
    program: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> (String, String) {
    let out = command(program, args, env).output().unwrap_or_else(|e| {
        panic!("{program}: {e} (ci/install-deps.sh installs aws-cli, rclone and s3cmd)")
    });
    let stdout = assert_ran(&format!("{program} {args:?}"), &out, p);
    (stdout, String::from_utf8_lossy(&out.stderr).to_string())
}

/// `program args` with `env` added to the environment.
pub fn command(program: &str, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(program);
    // The endpoint is plain HTTP; rclone's AWS SDK refuses to start when
    // AWS_CA_BUNDLE is set and its transport is rclone's own.
    cmd.args(args).env_remove("AWS_CA_BUNDLE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a command that must fail; answers its stderr and stdout.
pub fn run_failing(program: &str, args: &[&str], env: &[(&str, String)]) -> String {
    let out = command(program, args, env).output().expect(program);
    assert!(!out.status.success(), "{program} {args:?} succeeded");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

/// Writes `data` to `dir/name`, making the directories on the way.
pub fn write_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    path
}

/// The environment of aws-cli as `admin`, with no config file of the machine's.
pub fn aws_env(work: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "admin".into()),
        ("AWS_SECRET_ACCESS_KEY", "admin-secret".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        (
            "AWS_CONFIG_FILE",
            work.join("no-aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            work.join("no-aws-credentials").display().to_string(),
        ),
    ]
}

/// rclone's environment: a remote `s3t` for `endpoint` as `admin`
/// configured through environment variables, as rclone documents (provider
/// Other, path style), and a config file of its own under `work`.
pub fn rclone_env(work: &Path, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "RCLONE_CONFIG",
            work.join("rclone.conf").display().to_string(),
        ),
        ("RCLONE_CONFIG_S3T_TYPE", "s3".into()),
        ("RCLONE_CONFIG_S3T_PROVIDER", "Other".into()),
        ("RCLONE_CONFIG_S3T_ACCESS_KEY_ID", "admin".into()),
        ("RCLONE_CONFIG_S3T_SECRET_ACCESS_KEY", "admin-secret".into()),
        ("RCLONE_CONFIG_S3T_ENDPOINT", endpoint.into()),
        ("RCLONE_CONFIG_S3T_REGION", "us-east-1".into()),
        ("RCLONE_CONFIG_S3T_FORCE_PATH_STYLE", "true".into()),
    ]
}

/// An s3cmd config file under `work` for `endpoint` as `admin`, path
/// style (`host_bucket` without `%(bucket)s`), Signature V4.
pub fn s3cmd_config(work: &Path, endpoint: &str) -> String {
    let host = endpoint.trim_start_matches("http://");
    let cfg = write_file(
        work,
        "s3cfg",
        format!(
            "[default]\naccess_key = admin\nsecret_key = admin-secret\nhost_base = {host}\n\
             host_bucket = {host}\nuse_https = False\nbucket_location = us-east-1\n\
             signature_v2 = False\n"
        )
        .as_bytes(),
    );
    cfg.to_str().unwrap().to_string()
}

#[test]
fn aws_cli_mb_cp_ls_rm() {
    if !crate::common::installed("aws", "--version") {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path().join("aws");
    let env = aws_env(&work);
    let aws = |args: &[&str]| {
        let mut all = vec!["--endpoint-url", endpoint.as_str()];
        all.extend_from_slice(args);
        run(&p, "aws", &all, &env)
    };
    let data = random_bytes(1_500_000, 31);
    let up = write_file(&work, "up.bin", &data);
    let down = work.join("down.bin");
    aws(&["s3", "mb", "s3://aws-cli-bucket"]);
    // Again: as in S3's us-east-1, an owner's re-create succeeds.
    aws(&["s3", "mb", "s3://aws-cli-bucket"]);
    aws(&[
        "s3",
        "cp",
        up.to_str().unwrap(),
        "s3://aws-cli-bucket/dir/up.bin",
    ]);
    aws(&[
        "s3",
        "cp",
        "s3://aws-cli-bucket/dir/up.bin",
        down.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&down).unwrap(), data);
    let listed = aws(&["s3", "ls"]);
    assert!(listed.contains("aws-cli-bucket"), "{listed}");
    aws(&["s3", "rm", "s3://aws-cli-bucket/dir/up.bin"]);
    let gone = run_failing(
        "aws",
        &[
            "--endpoint-url",
            &endpoint,
            "s3api",
            "head-object",
            "--bucket",
            "aws-cli-bucket",
            "--key",
            "dir/up.bin",
        ],
        &env,
    );
    assert!(gone.contains("404"), "{gone}");
}

#[test]
fn rclone_mkdir_copyto_lsd_deletefile() {
    if !crate::common::installed("rclone", "version") {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path().join("rclone");
    let env = rclone_env(&work, &endpoint);
    let rclone = |args: &[&str]| run(&p, "rclone", args, &env);
    let data = random_bytes(700_000, 32);
    let up = write_file(&work, "up.bin", &data);
    rclone(&["mkdir", "s3t:rclone-bucket"]);
    rclone(&["copyto", up.to_str().unwrap(), "s3t:rclone-bucket/a/up.bin"]);
    let down = work.join("down.bin");
    rclone(&[
        "copyto",
        "s3t:rclone-bucket/a/up.bin",
        down.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&down).unwrap(), data);
    let buckets = rclone(&["lsd", "s3t:"]);
    assert!(buckets.contains("rclone-bucket"), "{buckets}");
    rclone(&["deletefile", "s3t:rclone-bucket/a/up.bin"]);
    // Gone from the listing (the name index), and nothing to copy back:
    // rclone looks the path up, then lists it as a directory, finds it
    // empty and copies nothing (exit 0 or "not found", by version).
    let listed = rclone(&["lsf", "-R", "s3t:rclone-bucket"]);
    assert!(!listed.contains("up.bin"), "{listed}");
    let again = work.join("again.bin");
    let _ = command(
        "rclone",
        &[
            "copyto",
            "s3t:rclone-bucket/a/up.bin",
            again.to_str().unwrap(),
        ],
        &env,
    )
    .output()
    .expect("rclone");
    assert!(!again.exists(), "a deleted object was copied back");
}

#[test]
fn s3cmd_mb_put_get_ls_del() {
    if !crate::common::installed("s3cmd", "--version") {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path().join("s3cmd");
    let cfg = s3cmd_config(&work, &endpoint);
    let s3cmd = |args: &[&str]| {
        let mut all = vec!["-c", cfg.as_str()];
        all.extend_from_slice(args);
        run(&p, "s3cmd", &all, &[])
    };
    let data = random_bytes(300_000, 33);
    let up = write_file(&work, "up.bin", &data);
    s3cmd(&["mb", "s3://s3cmd-bucket"]);
    s3cmd(&["put", up.to_str().unwrap(), "s3://s3cmd-bucket/d/up.bin"]);
    let down = work.join("down.bin");
    s3cmd(&[
        "get",
        "--force",
        "s3://s3cmd-bucket/d/up.bin",
        down.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&down).unwrap(), data);
    let listed = s3cmd(&["ls"]);
    assert!(listed.contains("s3://s3cmd-bucket"), "{listed}");
    let info = s3cmd(&["info", "s3://s3cmd-bucket/d/up.bin"]);
    assert!(info.contains("300000"), "{info}");
    s3cmd(&["del", "s3://s3cmd-bucket/d/up.bin"]);
    let gone = run_failing(
        "s3cmd",
        &["-c", &cfg, "info", "s3://s3cmd-bucket/d/up.bin"],
        &[],
    );
    assert!(gone.contains("404") || gone.contains("Not Found"), "{gone}");
}
