//! Signature V2, legacy (docs/s3.md): presigned URLs of s3cmd `signurl`
//! and aws-cli v1 `s3 presign` fetched with curl, s3cmd with
//! `signature_v2 = True` and boto3 with `signature_version="s3"` signing
//! `Authorization: AWS AK:SIG` headers.

use std::process::Command;

use crate::common::installed;
use crate::s3_cli::{run, start, write_file};

#[test]
fn s3cmd_signurl_and_v2_headers_then_curl() {
    if !installed("s3cmd", "--version") || !installed("curl", "--version") {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path().join("v2");
    let host = endpoint.trim_start_matches("http://");
    let cfg = write_file(
        &work,
        "s3cfg",
        format!(
            "[default]\naccess_key = bob\nsecret_key = bob-secret\nhost_base = {host}\n\
             host_bucket = {host}\nuse_https = False\nbucket_location = us-east-1\n\
             signature_v2 = True\n"
        )
        .as_bytes(),
    );
    let cfg = cfg.to_str().unwrap();
    let file = write_file(&work, "up.txt", b"signed the old way\n");
    // s3cmd signing every request with Signature V2.
    run(
        &p,
        "s3cmd",
        &[
            "-c",
            cfg,
            "put",
            file.to_str().unwrap(),
            "s3://bobs-bucket/v2/up.txt",
        ],
        &[],
    );
    let got = work.join("got.txt");
    run(
        &p,
        "s3cmd",
        &[
            "-c",
            cfg,
            "get",
            "--force",
            "s3://bobs-bucket/v2/up.txt",
            got.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(std::fs::read(&got).unwrap(), b"signed the old way\n");
    // signurl: a Signature V2 presigned URL, fetched by curl.
    let url = run(
        &p,
        "s3cmd",
        &["-c", cfg, "signurl", "s3://bobs-bucket/v2/up.txt", "+600"],
        &[],
    );
    let url = url.trim();
    assert!(
        url.contains("AWSAccessKeyId=bob") && url.contains("Signature="),
        "{url}"
    );
    let curl = |u: &str| {
        let out = Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", u])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(curl(url), "signed the old way\n\n200", "{}", p.log());
    // Tampered or expired: 403.
    let tampered = url.replace("v2/up.txt", "v2/other.txt");
    assert!(curl(&tampered).ends_with("403"));
    let expired = run(
        &p,
        "s3cmd",
        &[
            "-c",
            cfg,
            "signurl",
            "s3://bobs-bucket/v2/up.txt",
            "1000000000",
        ],
        &[],
    );
    let out = curl(expired.trim());
    assert!(out.ends_with("403") && out.contains("expired"), "{out}");
}

#[test]
fn aws_cli_v1_presign_and_boto3_v2_headers() {
    if !crate::common::boto3() {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path().join("v2");
    std::fs::create_dir_all(&work).unwrap();
    let script = r#"
import sys, urllib.request
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
endpoint = sys.argv[1]
def client(secret):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bob",
        aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(signature_version="s3", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))
c = client("bob-secret")
c.put_object(Bucket="bobs-bucket", Key="b/k 1+&.txt", Body=b"v2 body", ContentType="text/plain",
             Metadata={"color": "blue"})
r = c.get_object(Bucket="bobs-bucket", Key="b/k 1+&.txt")
assert r["Body"].read() == b"v2 body" and r["Metadata"] == {"color": "blue"}, r
assert [o["Key"] for o in c.list_objects_v2(Bucket="bobs-bucket", Prefix="b/")["Contents"]] == ["b/k 1+&.txt"]
c.put_object_tagging(Bucket="bobs-bucket", Key="b/k 1+&.txt",
                     Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
url = c.generate_presigned_url("get_object", Params={"Bucket": "bobs-bucket", "Key": "b/k 1+&.txt"})
assert "AWSAccessKeyId=bob" in url, url
assert urllib.request.urlopen(url).read() == b"v2 body"
try:
    client("wrong").get_object(Bucket="bobs-bucket", Key="b/k 1+&.txt")
    raise AssertionError("a wrong secret was accepted")
except ClientError as e:
    err = e.response["Error"]
    assert err["Code"] == "SignatureDoesNotMatch" and "StringToSign" in err, err
print("OK")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &endpoint])
        .output()
        .expect("python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{}{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    // aws-cli v1 (PyPI; v2 presigns with Signature V4): `s3 presign`.
    let v1 = Command::new("aws").arg("--version").output();
    let is_v1 = v1.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("aws-cli/1"));
    if !installed("curl", "--version") {
        return;
    }
    if !is_v1 {
        crate::common::missing("aws-cli v1 as the aws in PATH (PyPI)");
        return;
    }
    let env = [
        ("AWS_ACCESS_KEY_ID", "bob".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "bob-secret".to_string()),
        ("AWS_CONFIG_FILE", work.join("none").display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            work.join("none").display().to_string(),
        ),
    ];
    let url = run(
        &p,
        "aws",
        &[
            "--endpoint-url",
            &endpoint,
            "--region",
            "us-east-1",
            "s3",
            "presign",
            "s3://bobs-bucket/b/k 1+&.txt",
        ],
        &env,
    );
    let url = url.trim();
    assert!(
        url.contains("AWSAccessKeyId=bob"),
        "aws-cli v1 presigns with V2: {url}"
    );
    let out = Command::new("curl").args(["-sS", url]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "v2 body",
        "{}",
        p.log()
    );
}
