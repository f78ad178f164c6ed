#!/usr/bin/env python3
"""Who reaches what through S3 (tests/it/s3_access.rs):
    access_client.py ENDPOINT
The proxy of tests/it/s3_clients.rs: admin bucket `s3-users` (admin has
flag 4 there, plain has flag 0), bobs-bucket (bob writes). Every check
raises on failure; the last line printed is "OK <checks>".
"""

import sys

import urllib.request

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def client(user):
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id=user,
        aws_secret_access_key=f"{user}-secret", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def error_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} {kw} succeeded")


admin, plain, bob = client("admin"), client("plain"), client("bob")

# The admin bucket is listed to admins only.
names = lambda c: [b["Name"] for b in c.list_buckets()["Buckets"]]
check("s3-users" in names(admin), f"admin sees it: {names(admin)}")
check("s3-users" not in names(plain), f"plain does not: {names(plain)}")

# Only admins read or write it.
admin.put_object(Bucket="s3-users", Key="note", Body=b"registry")
check(admin.get_object(Bucket="s3-users", Key="note")["Body"].read() == b"registry", "admin reads")
for fn, kw in [(plain.get_object, {"Key": "note"}), (plain.head_object, {"Key": "note"}),
               (plain.put_object, {"Key": "x", "Body": b"x"}), (plain.list_objects_v2, {}),
               (plain.delete_object, {"Key": "note"}), (plain.head_bucket, {})]:
    code = error_code(fn, Bucket="s3-users", **kw)
    check(code[1] == 403, f"plain {fn.__name__}: {code}")
check(admin.get_object(Bucket="s3-users", Key="note")["Body"].read() == b"registry", "kept")

# Other buckets are as before.
bob.put_object(Bucket="bobs-bucket", Key="k", Body=b"bob's")
check(bob.get_object(Bucket="bobs-bucket", Key="k")["Body"].read() == b"bob's", "bob")
# Public buckets: CreateBucket with x-amz-acl public-read opens anonymous
# reads (as a `*` entry with flag 1); PutBucketAcl private closes them.
anon = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                    config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                                  retries={"max_attempts": 1}))
admin.create_bucket(Bucket="pub-bkt", ACL="public-read")
admin.put_object(Bucket="pub-bkt", Key="page.html", Body=b"<p>hello</p>")
check(anon.get_object(Bucket="pub-bkt", Key="page.html")["Body"].read() == b"<p>hello</p>",
      "anonymous GET of a public-read bucket")
check(anon.head_object(Bucket="pub-bkt", Key="page.html")["ContentLength"] == 12, "anonymous HEAD")
with urllib.request.urlopen(f"{ENDPOINT}/pub-bkt/page.html") as r:
    check(r.status == 200 and r.read() == b"<p>hello</p>", "plain HTTP GET")
check(error_code(anon.put_object, Bucket="pub-bkt", Key="x", Body=b"x")[1] == 403,
      "anonymous PUT refused")
grants = admin.get_bucket_acl(Bucket="pub-bkt")["Grants"]
check({(g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"]) for g in grants}
      == {("admin", "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")},
      f"public grants {grants}")
check(len(admin.get_object_acl(Bucket="pub-bkt", Key="page.html")["Grants"]) == 2, "object ACL")
check(error_code(admin.get_object_acl, Bucket="pub-bkt", Key="missing") == ("NoSuchKey", 404),
      "ACL of a missing key")
admin.put_object_acl(Bucket="pub-bkt", Key="page.html", ACL="public-read")
code = error_code(admin.put_object_acl, Bucket="pub-bkt", Key="page.html", ACL="private")
check(code == ("NotImplemented", 501), f"object ACL unlike its bucket's: {code}")
code = error_code(bob.put_bucket_acl, Bucket="pub-bkt", ACL="private")
check(code[1] == 403, f"not the owner: {code}")
admin.put_bucket_acl(Bucket="pub-bkt", ACL="private")
check(error_code(anon.get_object, Bucket="pub-bkt", Key="page.html") == ("AccessDenied", 403),
      "anonymous GET of a private bucket")
grants = admin.get_bucket_acl(Bucket="pub-bkt")["Grants"]
check([g["Permission"] for g in grants] == ["FULL_CONTROL"], f"private grants {grants}")
check(error_code(anon.get_object, Bucket="bobs-bucket", Key="k")[1] == 403, "bob's is private")
code = error_code(admin.put_bucket_acl, Bucket="pub-bkt", ACL="public-read-write")
check(code == ("NotImplemented", 501), f"other canned ACL: {code}")
admin.put_bucket_acl(Bucket="pub-bkt", ACL="public-read")
check(anon.get_object(Bucket="pub-bkt", Key="page.html")["Body"].read() == b"<p>hello</p>",
      "public again")
# SignatureDoesNotMatch says, as S3 does, what the server signed.
wrong = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="bob",
                     aws_secret_access_key="not-bobs-secret", region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
try:
    wrong.get_object(Bucket="bobs-bucket", Key="k")
    check(False, "a wrong secret was accepted")
except ClientError as e:
    err = e.response["Error"]
    check(err["Code"] == "SignatureDoesNotMatch" and err["Message"].startswith(
        "The request signature we calculated does not match"), f"{err}")
    sts, canonical = err.get("StringToSign", ""), err.get("CanonicalRequest", "")
    check(sts.startswith("AWS4-HMAC-SHA256\n") and "/us-east-1/s3/aws4_request\n" in sts, sts)
    check(canonical.startswith("GET\n/bobs-bucket/k\n"), canonical)
    check(bytes.fromhex(err["StringToSignBytes"].replace(" ", "")).decode() == sts, "bytes")
    check(err["AWSAccessKeyId"] == "bob" and len(err["SignatureProvided"]) == 64, f"{err}")
print("OK", checks)
