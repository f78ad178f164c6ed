//! Who reaches what through S3 (docs/s3.md): the admin bucket is listed to
//! and reachable by admins only; public-read buckets (canned ACLs on
//! CreateBucket and PutBucketAcl) read anonymously, private ones refused;
//! SignatureDoesNotMatch naming what the server signed;
//! Get/PutBucketAcl and Get/PutObjectAcl; through boto3
//! (tests/s3/access_client.py).

use crate::s3_clients::start_with_admin;

#[test]
fn boto3_admin_bucket_and_public_buckets() {
    if !crate::common::boto3() {
        return;
    }
    let (p, endpoint) = start_with_admin("us-east-1");
    crate::common::client_script(&p, "access_client.py", &endpoint);
}
