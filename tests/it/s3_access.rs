//! Who reaches what through S3 (docs/s3.md): the admin bucket is listed to
//! and reachable by admins only; public-read buckets (canned ACLs on
//! CreateBucket and PutBucketAcl) read anonymously, private ones refused;
//! SignatureDoesNotMatch naming what the server signed;
//! Get/PutBucketAcl and Get/PutObjectAcl; through boto3
//! (tests/s3/access_client.py).

use std::process::Command;

use crate::s3_clients::start_with_admin;

#[test]
fn boto3_admin_bucket_and_public_buckets() {
    let (p, endpoint) = start_with_admin("us-east-1");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/access_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&endpoint)
        .output()
        .expect("python3 (ci/install-deps.sh installs it with boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK "),
        "access_client.py failed:\n{stdout}\n{}\nproxy log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
}
