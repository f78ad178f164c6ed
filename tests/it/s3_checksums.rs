//! Checksums of multipart uploads (docs/s3.md "Checksums"): FULL_OBJECT and
//! COMPOSITE, declared at CreateMultipartUpload, checked on UploadPart and
//! CompleteMultipartUpload, answered on HEAD/GET with ChecksumMode=ENABLED.
//! Driven by boto3 with awscrt over HTTPS (tests/s3/checksum_client.py,
//! every expected value computed by the client from the bytes) and by
//! aws-cli `s3 cp --checksum-algorithm`.

use std::path::Path;

use crate::common::{aws_cli, free_port, installed, random_bytes, self_signed, Proxy};
use crate::s3_wire::{get_signed, python, setup, ALICE};
use serde_json::json;

fn b64(raw: &[u8]) -> String {
    openssl::base64::encode_block(raw)
}

/// boto3 ≥ 1.36 with awscrt: `upload_file` multipart with its default
/// checksum (CRC32, composite), with ChecksumAlgorithm CRC32C / SHA256
/// (composite) and CRC64NVME (full object), with a full-object value that
/// Complete verifies (a wrong one stores nothing), the low-level calls'
/// answers and error cases, and UploadPartCopy; the objects read back
/// through `/get/` byte for byte.
#[test]
fn boto3_multipart_checksums() {
    if !crate::common::awscrt() {
        return;
    }
    let (https_port, dir) = (free_port(), tempfile::tempdir().unwrap());
    let (cert, key) = self_signed(dir.path());
    let p = Proxy::start(setup(json!({
        "s3-https-address": format!("127.0.0.1:{https_port}"),
        "cert_file": cert, "key_file": key})));
    // Three parts of the client's 5 MiB chunks, the last one short.
    let data = random_bytes((10 << 20) + 123_457, 71);
    std::fs::write(p.dir.path().join("data.bin"), &data).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/checksum_client.py");
    let out = python(
        &p,
        &[
            script.to_str().unwrap(),
            &format!("https://127.0.0.1:{https_port}"),
            cert.to_str().unwrap(),
            p.dir.path().to_str().unwrap(),
        ],
        &[],
    );
    let checks: u32 = out
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("OK "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OK line: {out}"));
    assert!(checks >= 100, "{out}");
    for k in [
        "ck/default",
        "ck/alg-CRC64NVME",
        "ck/full-CRC32C",
        "ck/sha",
        "ck/copy",
    ] {
        let r = get_signed(&p, k);
        assert_eq!(r.status(), 200, "{k}");
        assert!(r.bytes().unwrap() == data, "{k}: /get/ differs");
    }
    assert_eq!(get_signed(&p, "ck/full-wrong").status(), 404);
}

/// aws-cli `s3 cp --checksum-algorithm CRC32C` of a multipart file (three
/// 8 MiB parts): stored as S3 stores it, a COMPOSITE CRC32C that `s3api
/// head-object --checksum-mode ENABLED` answers; computed here from the
/// bytes.
#[test]
fn aws_cli_multipart_crc32c() {
    if !crate::common::awscrt() {
        return;
    }
    if !installed("aws", "--version") {
        return;
    }
    let port = free_port();
    let p = Proxy::start(setup(json!({"s3-address": format!("127.0.0.1:{port}")})));
    let endpoint = format!("http://127.0.0.1:{port}");
    let data = random_bytes((20 << 20) + 5, 72);
    let file = p.dir.path().join("cli.bin");
    std::fs::write(&file, &data).unwrap();
    let file = file.display().to_string();
    let aws = |args: &[&str]| aws_cli(&p, &endpoint, "alice", ALICE, args);
    aws(&[
        "s3",
        "cp",
        &file,
        "s3://b1/ck/cli.bin",
        "--checksum-algorithm",
        "CRC32C",
    ]);
    let part_sums: Vec<u8> = data
        .chunks(8 << 20)
        .flat_map(|c| crc32c::crc32c(c).to_be_bytes())
        .collect();
    let want = format!("{}-3", b64(&crc32c::crc32c(&part_sums).to_be_bytes()));
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "b1",
        "--key",
        "ck/cli.bin",
        "--checksum-mode",
        "ENABLED",
    ]);
    let v: serde_json::Value = serde_json::from_str(&head).unwrap();
    assert_eq!(v["ChecksumCRC32C"], want.as_str(), "{head}");
    assert_eq!(v["ChecksumType"], "COMPOSITE", "{head}");
    assert_eq!(v["ContentLength"], data.len() as u64, "{head}");
    let r = get_signed(&p, "ck/cli.bin");
    assert!(r.bytes().unwrap() == data, "/get/ differs");
}
