#!/usr/bin/env python3
"""Who reaches what through S3 (tests/it/s3_access.rs):
    access_client.py ENDPOINT
The proxy of tests/it/s3_clients.rs: admin bucket `s3-users` (admin has
flag 4 there, plain has flag 0), bobs-bucket (bob writes). Every check
raises on failure; the last line printed is "OK <checks>".
"""

import sys

import boto3
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
print("OK", checks)
