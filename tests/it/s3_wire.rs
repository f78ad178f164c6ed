//! What the 2025 SDKs send on the wire (docs/s3.md "Checksums",
//! "aws-chunked bodies"), driven by real clients: boto3 ≥ 1.36 and aws-cli
//! with their default checksums over HTTPS, hand-built signed aws-chunked
//! requests (tests/s3/chunked_client.py), a large upload in bounded memory.
//! Presigned URLs and CORS: tests/it/s3_presign.rs.

use std::path::Path;
use std::process::Command;

use crate::common::{free_port, installed, self_signed, sign, Proxy, Setup};
use serde_json::{json, Value};

pub(crate) const ALICE: &str = "alice-secret";

pub(crate) fn setup(proxy: Value) -> Setup {
    Setup {
        buckets: json!({"buckets": {
            "b1": {"groups": [1, 2], "acl": [
                {"user": "alice", "token": ALICE, "flags": 2},
                {"user": "reader", "token": "reader-secret", "flags": 0}]},
            "pub": {"groups": [2, 3], "acl": [{"user": "*", "token": "", "flags": 3}]},
        }}),
        bucket_list: vec!["b1".into(), "pub".into()],
        proxy,
        ..Setup::default()
    }
}

/// Backrunner's `/get/` of an S3 key of b1 (URL-safe), signed by alice.
pub(crate) fn get_signed(p: &Proxy, key: &str) -> reqwest::blocking::Response {
    let path = format!("/get/b1/{key}");
    p.client
        .get(p.url(&path))
        .header(
            "Authorization",
            format!("riftv1 alice:{}", sign(ALICE, "GET", &path)),
        )
        .send()
        .unwrap()
}

pub(crate) fn python(p: &Proxy, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("python3")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    stdout
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/s3")
        .join(name)
        .display()
        .to_string()
}

fn b64(raw: &[u8]) -> String {
    openssl::base64::encode_block(raw)
}

/// boto3's defaults over HTTPS: PutObject streams as aws-chunked
/// (STREAMING-UNSIGNED-PAYLOAD-TRAILER, no Content-Length) with a CRC32
/// trailer; the checksum is verified, stored, and answered on GET/HEAD with
/// ChecksumMode=ENABLED (not on ranged GETs); a wrong checksum stores
/// nothing; what was stored is only the payload (read back through /get/).
#[test]
fn boto3_default_checksums_over_https() {
    if !crate::common::awscrt() {
        return;
    }
    let (https_port, dir) = (free_port(), tempfile::tempdir().unwrap());
    let (cert, key) = self_signed(dir.path());
    let p = Proxy::start(setup(json!({
        "s3-https-address": format!("127.0.0.1:{https_port}"),
        "cert_file": cert, "key_file": key})));
    let body = crate::common::random_bytes(300_000 + 11, 41);
    let body_file = p.dir.path().join("body.bin");
    std::fs::write(&body_file, &body).unwrap();
    // Also computed here, independently of awscrt, and sent as given.
    let crc32c = b64(&crc32c::crc32c(&body).to_be_bytes());
    let mut d = crc64fast_nvme::Digest::new();
    d.write(&body);
    let crc64 = b64(&d.sum64().to_be_bytes());
    let code = format!(
        r#"
import boto3, botocore, hashlib, base64, zlib, sys
from botocore.config import Config
from botocore.exceptions import ClientError
assert tuple(int(x) for x in botocore.__version__.split(".")[:2]) >= (1, 36), botocore.__version__
body = open({body_file:?}, "rb").read()
c = boto3.client("s3", endpoint_url="https://127.0.0.1:{https_port}", verify={cert:?},
    aws_access_key_id="alice", aws_secret_access_key="{ALICE}", region_name="us-east-1",
    config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}}))
seen = []
def hook(request, **kw):
    seen.append({{k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}})
c.meta.events.register("before-send.s3.PutObject", hook)
crc32 = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
r = c.put_object(Bucket="b1", Key="sdk/default", Body=body)
h = seen[-1]
assert h.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", h
assert h.get("x-amz-trailer") == "x-amz-checksum-crc32", h
assert "content-length" not in h and h.get("transfer-encoding") == "chunked", h
assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), r
assert r.get("ChecksumCRC32") == crc32, r
g = c.get_object(Bucket="b1", Key="sdk/default", ChecksumMode="ENABLED")
assert g["Body"].read() == body
assert g["ChecksumCRC32"] == crc32 and g["ChecksumType"] == "FULL_OBJECT", g
hd = c.head_object(Bucket="b1", Key="sdk/default", ChecksumMode="ENABLED")
assert hd["ChecksumCRC32"] == crc32, hd
rg = c.get_object(Bucket="b1", Key="sdk/default", ChecksumMode="ENABLED", Range="bytes=10-99")
assert rg["Body"].read() == body[10:100] and "ChecksumCRC32" not in rg, rg
assert "ChecksumCRC32" not in c.head_object(Bucket="b1", Key="sdk/default")
# Other algorithms computed by boto3 (CRC32C, CRC64NVME with awscrt), and
# CRC32C/CRC64NVME values given.
import awscrt.checksums
assert base64.b64encode(awscrt.checksums.crc32c(body).to_bytes(4, "big")).decode() == "{crc32c}"
assert base64.b64encode(awscrt.checksums.crc64nvme(body).to_bytes(8, "big")).decode() == "{crc64}"
for alg, extra, field, want in [
    ("SHA1", {{}}, "ChecksumSHA1", base64.b64encode(hashlib.sha1(body).digest()).decode()),
    ("SHA256", {{}}, "ChecksumSHA256", base64.b64encode(hashlib.sha256(body).digest()).decode()),
    ("CRC32C", {{}}, "ChecksumCRC32C", "{crc32c}"),
    ("CRC64NVME", {{}}, "ChecksumCRC64NVME", "{crc64}"),
    (None, {{"ChecksumCRC32C": "{crc32c}"}}, "ChecksumCRC32C", "{crc32c}"),
    (None, {{"ChecksumCRC64NVME": "{crc64}"}}, "ChecksumCRC64NVME", "{crc64}"),
]:
    kw = dict(extra)
    if alg: kw["ChecksumAlgorithm"] = alg
    k = "sdk/" + field + ("-" + alg if alg else "")
    c.put_object(Bucket="b1", Key=k, Body=body, **kw)
    g = c.get_object(Bucket="b1", Key=k, ChecksumMode="ENABLED")
    assert g["Body"].read() == body and g[field] == want, (field, g)
# Wrong checksums: BadDigest, nothing stored.
for kw in ({{"ChecksumCRC32": "AAAAAA=="}}, {{"ChecksumCRC32C": "AAAAAA=="}},
           {{"ChecksumCRC64NVME": "AAAAAAAAAAA="}}, {{"ContentMD5": "AAAAAAAAAAAAAAAAAAAAAA=="}}):
    try:
        c.put_object(Bucket="b1", Key="sdk/bad", Body=body, **kw)
        sys.exit("a wrong checksum was accepted: %r" % kw)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "BadDigest", e.response
    try:
        c.head_object(Bucket="b1", Key="sdk/bad")
        sys.exit("a refused PUT stored the object")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "404", e.response
# A malformed value: InvalidRequest.
try:
    c.put_object(Bucket="b1", Key="sdk/bad", Body=body, ChecksumCRC32="nope")
    sys.exit("a malformed checksum was accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidRequest", e.response
print("OK")
"#,
        cert = cert.display().to_string(),
        body_file = body_file.display().to_string(),
    );
    let out = python(&p, &["-c", &code], &[]);
    assert!(out.contains("OK"), "{out}");
    // The stored object is the payload only, not the aws-chunked framing.
    for k in [
        "sdk/default",
        "sdk/ChecksumSHA1-SHA1",
        "sdk/ChecksumCRC64NVME",
        "sdk/ChecksumCRC32C-CRC32C",
    ] {
        let r = get_signed(&p, k);
        assert_eq!(r.status(), 200, "{k}");
        assert!(
            r.bytes().unwrap() == body,
            "{k}: /get/ differs from the payload"
        );
    }
    assert_eq!(get_signed(&p, "sdk/bad").status(), 404);
}

/// Signed aws-chunked bodies (every chunk signature checked, chained from
/// the seed; the trailer signature too), the unsigned trailer form, and a
/// plain body with Transfer-Encoding: chunked and
/// x-amz-decoded-content-length; broken signatures or checksums store
/// nothing. Bodies read back through /get/ byte for byte.
#[test]
fn hand_built_aws_chunked_bodies() {
    if !crate::common::boto3() {
        return;
    }
    let port = free_port();
    let p = Proxy::start(setup(json!({"s3-address": format!("127.0.0.1:{port}")})));
    let body_file = p.dir.path().join("chunked.bin");
    let out = python(
        &p,
        &[
            &script("chunked_client.py"),
            &port.to_string(),
            "alice",
            ALICE,
            "b1",
        ],
        &[("CHUNKED_BODY_FILE", body_file.to_str().unwrap())],
    );
    assert!(out.lines().last().unwrap_or("").starts_with("OK "), "{out}");
    let body = std::fs::read(&body_file).unwrap();
    let mut stored = 0;
    for mode in ["signed", "signed-trailer", "unsigned-trailer", "plain"] {
        for te in ["cl", "te"] {
            if mode == "plain" && te == "cl" {
                continue;
            }
            let k = format!("chunked/{mode}/{te}");
            let r = get_signed(&p, &k);
            assert_eq!(r.status(), 200, "{k}");
            assert!(
                r.bytes().unwrap() == body,
                "{k}: stored bytes differ from the payload"
            );
            stored += 1;
        }
    }
    assert_eq!(stored, 7);
    // Anonymous (a bucket where `*` writes): the unsigned trailer form is
    // decoded and its checksum checked as well.
    let s3 = format!("http://127.0.0.1:{port}");
    let anon = |key: &str, crc: u32| {
        let framed = format!(
            "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{}\r\n\r\n",
            b64(&crc.to_be_bytes())
        );
        p.client
            .put(format!("{s3}/pub/{key}"))
            .header("content-encoding", "aws-chunked")
            .header("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            .header("x-amz-trailer", "x-amz-checksum-crc32")
            .header("x-amz-decoded-content-length", "5")
            .body(framed)
            .send()
            .unwrap()
    };
    let r = anon("anon", crc32fast::hash(b"hello"));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    assert_eq!(p.get("pub", "anon").text().unwrap(), "hello");
    let r = anon("anon-bad", 1);
    assert_eq!(r.status(), 400);
    assert!(r.text().unwrap().contains("<Code>BadDigest</Code>"));
    assert_eq!(p.get("pub", "anon-bad").status(), 404);
    for i in 0..6 {
        assert_eq!(
            get_signed(&p, &format!("chunked/bad/{i}")).status(),
            404,
            "bad/{i}"
        );
    }
}

pub(crate) fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-S",
            "-o",
            "-",
            "-D",
            "/dev/stderr",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .expect("curl");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (text, code) = stdout.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        text.to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Memory stays bounded whatever the body size: a 256 MiB PutObject as
/// boto3 sends it over HTTPS (aws-chunked with a CRC32 trailer, no
/// Content-Length), decoded, hashed (MD5, CRC32) and checked as it streams.
#[test]
fn large_aws_chunked_upload_in_bounded_memory() {
    if !crate::common::boto3() {
        return;
    }
    let (https_port, dir) = (free_port(), tempfile::tempdir().unwrap());
    let (cert, key) = self_signed(dir.path());
    let p = Proxy::start(setup(json!({
        "s3-https-address": format!("127.0.0.1:{https_port}"),
        "cert_file": cert, "key_file": key})));
    let before = vm_hwm_kib(p.pid());
    let code = format!(
        r#"
import boto3, io, os, time
from botocore.config import Config
size = 256 << 20
class Gen(io.RawIOBase):
    # A deterministic stream the client never holds whole.
    def __init__(self): self.left = size; self.block = os.urandom(1 << 20)
    def readable(self): return True
    def readinto(self, b):
        n = min(len(b), self.left, len(self.block))
        b[:n] = self.block[:n]; self.left -= n; return n
c = boto3.client("s3", endpoint_url="https://127.0.0.1:{https_port}", verify={cert:?},
    aws_access_key_id="alice", aws_secret_access_key="{ALICE}", region_name="us-east-1",
    config=Config(s3={{"addressing_style": "path"}}, retries={{"max_attempts": 1}}))
sent = []
c.meta.events.register("before-send.s3.PutObject",
    lambda request, **kw: sent.append(request.headers.get("X-Amz-Content-SHA256")))
t = time.time()
c.put_object(Bucket="b1", Key="big", Body=Gen(), ContentLength=size)
assert sent == [b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"], sent
h = c.head_object(Bucket="b1", Key="big", ChecksumMode="ENABLED")
assert h["ContentLength"] == size and h["ChecksumCRC32"], h
print("PUT", size, "bytes in %.1f s" % (time.time() - t))
"#,
        cert = cert.display().to_string(),
    );
    let out = python(&p, &["-c", &code], &[]);
    let peak = vm_hwm_kib(p.pid());
    eprintln!("{out}proxy peak RSS {before} KiB before, {peak} KiB after");
    assert!(peak < 256 << 10, "peak RSS {peak} KiB");
}

/// aws-cli (botocore ≥ 1.36) over HTTPS: `s3 cp` up (aws-chunked with its
/// default CRC32 trailer, verified and stored) and down, `s3api
/// head-object --checksum-mode ENABLED`, and `s3 presign` used by curl.
#[test]
fn aws_cli_over_https_checksums_and_presign() {
    if !crate::common::boto3() {
        return;
    }
    if !installed("aws", "--version") {
        return;
    }
    let (https_port, dir) = (free_port(), tempfile::tempdir().unwrap());
    let (cert, key) = self_signed(dir.path());
    let p = Proxy::start(setup(json!({
        "s3-https-address": format!("127.0.0.1:{https_port}"),
        "cert_file": cert, "key_file": key})));
    let endpoint = format!("https://127.0.0.1:{https_port}");
    let work = p.dir.path();
    // Under aws-cli's 8 MiB multipart threshold: one PutObject.
    let body = crate::common::random_bytes(3_000_000 + 3, 43);
    std::fs::write(work.join("up.bin"), &body).unwrap();
    let aws = |args: &[&str]| {
        let out = Command::new("aws")
            .args(["--endpoint-url", &endpoint, "--region", "us-east-1"])
            .arg("--ca-bundle")
            .arg(&cert)
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
    aws(&["s3", "cp", &up, "s3://b1/cli/up.bin"]);
    assert!(get_signed(&p, "cli/up.bin").bytes().unwrap() == body);
    let crc = b64(&crc32fast::hash(&body).to_be_bytes());
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "b1",
        "--key",
        "cli/up.bin",
        "--checksum-mode",
        "ENABLED",
    ]);
    assert!(
        head.contains(&format!("\"ChecksumCRC32\": \"{crc}\"")),
        "{head}"
    );
    let down = work.join("down.bin").display().to_string();
    aws(&["s3", "cp", "s3://b1/cli/up.bin", &down]);
    assert!(std::fs::read(&down).unwrap() == body);
    // aws-cli v1 presigns with Signature V2 unless told s3v4: served
    // (legacy, tests/it/s3_sigv2.rs); a tampered one is refused.
    let v2 = aws(&["s3", "presign", "s3://b1/cli/up.bin"]);
    assert!(v2.contains("AWSAccessKeyId="), "{v2}");
    let (code, text, _) = curl(&["--cacert", cert.to_str().unwrap(), v2.trim()]);
    assert_eq!(code, 200);
    assert_eq!(text.len(), String::from_utf8_lossy(&body).len());
    let tampered = v2.trim().replace("up.bin", "other.bin");
    let (code, text, _) = curl(&["--cacert", cert.to_str().unwrap(), &tampered]);
    assert_eq!(code, 403, "{text}");
    assert!(
        text.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{text}"
    );
    std::fs::write(
        work.join("no-aws-config"),
        "[default]\ns3 =\n    signature_version = s3v4\n",
    )
    .unwrap();
    let url = aws(&["s3", "presign", "s3://b1/cli/up.bin", "--expires-in", "120"]);
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .arg(url.trim())
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == body,
        "presigned GET {url}: {}",
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(500)])
    );
}
