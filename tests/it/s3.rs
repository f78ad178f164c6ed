//! The S3 API (docs/s3.md) driven by real clients against the running
//! proxy: boto3 (tests/s3/boto3_client.py) and, when installed, aws-cli.
//! Objects are Backrunner's: what S3 puts, /get/ reads byte for byte, and
//! the reverse.

use std::path::Path;
use std::process::Command;

use crate::common::{free_port, installed, random_bytes, self_signed, sign, Proxy, Setup};
use serde_json::json;

const ALICE: &str = "alice-secret";

/// b1: alice writes, reader reads; b2: alice reads, anyone reads; b3: other users only.
fn start() -> (Proxy, String) {
    let port = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [
                {"user": "alice", "token": ALICE, "flags": 2},
                {"user": "reader", "token": "reader-secret", "flags": 0}]},
            "b2": {"groups": [2, 3], "acl": [
                {"user": "alice", "token": ALICE, "flags": 0},
                {"user": "*", "token": "", "flags": 1}]},
            "b3": {"groups": [3], "acl": [{"user": "bob", "token": "bob-secret", "flags": 2}]},
        }}),
        bucket_list: vec!["b1".into(), "b2".into(), "b3".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}")}),
        ..Setup::default()
    });
    (p, format!("http://127.0.0.1:{port}"))
}

fn upload_signed(p: &Proxy, bucket: &str, key: &str, body: Vec<u8>) {
    let path = format!("/upload/{bucket}/{key}");
    let r = p
        .client
        .post(p.url(&path))
        .header(
            "Authorization",
            format!("riftv1 alice:{}", sign(ALICE, "POST", &path)),
        )
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
}

fn get_signed(p: &Proxy, bucket: &str, key: &str) -> Vec<u8> {
    let path = format!("/get/{bucket}/{key}");
    let r = p
        .client
        .get(p.url(&path))
        .header(
            "Authorization",
            format!("riftv1 alice:{}", sign(ALICE, "GET", &path)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().unwrap().to_vec()
}

fn python_script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn boto3_against_the_s3_listener() {
    if !crate::common::boto3() {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path();
    let from_backrunner = random_bytes(300_000, 15);
    std::fs::write(work.join("from-backrunner.bin"), &from_backrunner).unwrap();
    upload_signed(&p, "b1", "from-backrunner.bin", from_backrunner);
    let from_s3 = random_bytes((1 << 20) + 77, 16);
    std::fs::write(work.join("from-s3.src"), &from_s3).unwrap();

    let out = Command::new("python3")
        .arg(python_script("boto3_client.py"))
        .arg(&endpoint)
        .arg(&p.base)
        .arg(work)
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boto3 client failed:\n{stdout}\n{stderr}\nproxy log:\n{}",
        p.log()
    );
    let checks: u32 = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("OK "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OK line: {stdout}"));
    assert!(checks > 60, "only {checks} checks ran");

    // What S3 put, Backrunner's /get/ serves byte for byte.
    assert_eq!(get_signed(&p, "b1", "from-s3.bin"), from_s3);
    // The S3 requests show in /proxy_stat/ under their own handler names.
    let stat = p.json("/proxy_stat/");
    assert!(
        stat["handlers"]["s3_put_object"]["RS"]["200"].is_object(),
        "{}",
        stat["handlers"]
    );
}

#[test]
fn every_reply_has_a_request_id_and_errors_are_s3_xml() {
    let (p, endpoint) = start();
    let c = &p.client;
    // Unsigned, to a bucket that does not let `*` read.
    let r = c.get(format!("{endpoint}/b1/k")).send().unwrap();
    assert_eq!(r.status(), 403);
    let id = r.headers()["x-amz-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(r.headers()["x-test-header"], "yes", "proxy.headers apply");
    assert_eq!(r.headers()["content-type"], "application/xml");
    let body = r.text().unwrap();
    assert!(
        body.contains("<Error><Code>AccessDenied</Code><Message>")
            && body.contains("<Resource>/b1/k</Resource>")
            && body.contains(&format!("<RequestId>{id}</RequestId></Error>")),
        "{body}"
    );
    // Anonymous read from the public bucket: the key is missing.
    let r = c.get(format!("{endpoint}/b2/missing")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("<Code>NoSuchKey</Code>"));
    // HEAD errors carry no body.
    let r = c.head(format!("{endpoint}/b2/missing")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-amz-request-id"));
    // A malformed Authorization header.
    let r = c
        .get(format!("{endpoint}/b2/k"))
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .unwrap()
        .contains("<Code>AuthorizationHeaderMalformed</Code>"));
    // Signature V2 (legacy, tests/it/s3_sigv2.rs): a wrong signature is
    // SignatureDoesNotMatch, one without a date AccessDenied.
    let r = c
        .get(format!("{endpoint}/b2/k"))
        .header("Authorization", "AWS alice:c2lnbmF0dXJl")
        .header(
            "Date",
            httpdate::fmt_http_date(std::time::SystemTime::now()),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r
        .text()
        .unwrap()
        .contains("<Code>SignatureDoesNotMatch</Code>"));
    let r = c
        .get(format!("{endpoint}/b2/k"))
        .header("Authorization", "AWS alice:c2lnbmF0dXJl")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("needs a Date"));
    // Anyone may list b2 (its ACL lets `*` read): ListObjectsV2 (tests/it/s3_list.rs).
    let r = c.get(format!("{endpoint}/b2?list-type=2")).send().unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    assert!(
        body.contains("<ListBucketResult") && body.contains("<Name>b2</Name>"),
        "{body}"
    );
    // A wrong method.
    let r = c.patch(format!("{endpoint}/b2/k")).send().unwrap();
    assert_eq!(r.status(), 405);
    // Backrunner's own routes are not on the S3 listener: /get/ is a bucket there.
    let r = c.get(format!("{endpoint}/get/b2/k")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("<Code>NoSuchBucket</Code>"));
    // ...and the S3 API is not on Backrunner's listener.
    let r = c.get(p.url("/b2/k")).send().unwrap();
    assert!(r.headers().get("x-amz-request-id").is_none());
}

#[test]
fn region_is_enforced_when_configured() {
    if !crate::common::boto3() {
        return;
    }
    let port = free_port();
    let _proxy = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1], "acl": [{"user": "alice", "token": ALICE, "flags": 2}]}}}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}"), "s3-region": "eu-test-1"}),
        ..Setup::default()
    });
    let script = format!(
        r#"
import boto3, sys
from botocore.config import Config
from botocore.exceptions import ClientError
def c(region):
    return boto3.client("s3", endpoint_url="http://127.0.0.1:{port}", aws_access_key_id="alice",
        aws_secret_access_key="{ALICE}", region_name=region,
        config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}}))
c("eu-test-1").put_object(Bucket="b1", Key="k", Body=b"v")
assert c("eu-test-1").get_bucket_location(Bucket="b1")["LocationConstraint"] == "eu-test-1"
try:
    c("us-east-1").get_object(Bucket="b1", Key="k")
    sys.exit("a signature for another region was accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "AuthorizationHeaderMalformed", e.response
print("OK")
"#
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn virtual_host_style_under_s3_domain() {
    if !crate::common::boto3() {
        return;
    }
    let port = free_port();
    let p = Proxy::start(Setup {
        buckets: json!({"buckets": {"pub": {"groups": [1, 2], "acl": [{"user": "*", "token": "", "flags": 3}]}}}),
        bucket_list: vec!["pub".into()],
        proxy: json!({"s3-address": format!("127.0.0.1:{port}"), "s3-domain": "s3.test"}),
        ..Setup::default()
    });
    let base = format!("http://127.0.0.1:{port}");
    let c = &p.client;
    // Anonymous writes are allowed by `*` with flags 1+2 (no signature needed).
    let r = c
        .put(format!("{base}/dir/k%20v"))
        .header("Host", format!("pub.s3.test:{port}"))
        .body("virtual")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    // The same object path style, on both hosts, and through /get/.
    for host in ["127.0.0.1", "s3.test"] {
        let r = c
            .get(format!("{base}/pub/dir/k%20v"))
            .header("Host", host)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "Host {host}");
        assert_eq!(r.text().unwrap(), "virtual");
    }
    let r = c
        .get(format!("{base}/dir/k%20v"))
        .header("Host", "PUB.s3.test")
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "virtual");
    assert_eq!(p.get("pub", "dir/k v").text().unwrap(), "virtual");
    // Outside the domain, the first path segment is the bucket.
    let r = c
        .get(format!("{base}/dir/k%20v"))
        .header("Host", "pub.elsewhere")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("<Code>NoSuchBucket</Code>"));
}

/// `s3-https-address`: the proxy's certificate, boto3 verifying it. Over
/// HTTPS boto3 sends PutObject as aws-chunked with a CRC32 trailer
/// (its default) or, with checksums only when required, UNSIGNED-PAYLOAD.
#[test]
fn boto3_over_https() {
    if !crate::common::boto3() {
        return;
    }
    let (https_port, dir) = (free_port(), tempfile::tempdir().unwrap());
    let (cert, key) = self_signed(dir.path());
    let _proxy = Proxy::start(Setup {
        buckets: json!({"buckets": {"b1": {"groups": [1, 2], "acl": [{"user": "alice", "token": ALICE, "flags": 2}]}}}),
        bucket_list: vec!["b1".into()],
        proxy: json!({"s3-https-address": format!("127.0.0.1:{https_port}"),
                      "cert_file": cert, "key_file": key}),
        ..Setup::default()
    });
    let script = format!(
        r#"
import boto3, os
from botocore.config import Config
import hashlib
for when in ("when_supported", "when_required"):
    c = boto3.client("s3", endpoint_url="https://127.0.0.1:{https_port}", verify="{cert}",
        aws_access_key_id="alice", aws_secret_access_key="{ALICE}", region_name="us-east-1",
        config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}},
                      request_checksum_calculation=when))
    # Elliptics refuses empty objects (docs/s3.md).
    sizes = (0, 300000, (3 << 20) + 5)[os.environ.get("BACKRUNNER_TEST_BACKEND") == "elliptics":]
    for size in sizes:
        body = os.urandom(size)
        key = f"tls/{{when}}/{{size}}"
        r = c.put_object(Bucket="b1", Key=key, Body=body, ContentEncoding="identity")
        assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), (when, size, r["ETag"])
        got = c.get_object(Bucket="b1", Key=key)
        assert got["Body"].read() == body, (when, size)
        assert got["ContentEncoding"] == "identity", got["ContentEncoding"]
    assert c.get_object(Bucket="b1", Key=key, Range="bytes=5-9")["Body"].read() == body[5:10]
print("OK")
"#,
        cert = cert.display()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// aws-cli, when installed (`pip install awscli`): `s3 cp` both ways and
/// `s3api head-object`.
#[test]
fn aws_cli_cp_and_head_object() {
    if !installed("aws", "--version") {
        return;
    }
    let (p, endpoint) = start();
    let work = p.dir.path();
    let body = random_bytes(2_000_000, 17);
    std::fs::write(work.join("up.bin"), &body).unwrap();
    let aws = |args: &[&str]| {
        let out = Command::new("aws")
            .args(["--endpoint-url", &endpoint, "--region", "us-east-1"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "alice")
            .env("AWS_SECRET_ACCESS_KEY", ALICE)
            .env("AWS_CONFIG_FILE", work.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                work.join("no-aws-credentials"),
            )
            .output()
            .expect("aws");
        assert!(
            out.status.success(),
            "aws {args:?}: {}{}\nproxy log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            p.log()
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let up = work.join("up.bin").display().to_string();
    let down = work.join("down.bin").display().to_string();
    aws(&["s3", "cp", &up, "s3://b1/cli/up.bin"]);
    assert_eq!(get_signed(&p, "b1", "cli/up.bin"), body);
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "b1",
        "--key",
        "cli/up.bin",
    ]);
    assert!(head.contains("\"ContentLength\": 2000000"), "{head}");
    aws(&["s3", "cp", "s3://b1/cli/up.bin", &down]);
    assert_eq!(std::fs::read(work.join("down.bin")).unwrap(), body);
}
