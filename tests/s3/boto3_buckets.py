#!/usr/bin/env python3
"""CreateBucket, DeleteBucket and DeleteObjects through boto3.

Called by tests/it/s3_clients.rs:
    boto3_buckets.py ENDPOINT PHASE
PHASE `create` makes bucket `made-by-s3` (and checks the refusals);
`after-restart` checks it is still there after the proxy restarted, then
exercises DeleteObjects and DeleteBucket.

Users (tests/it/s3_clients.rs): `admin` has flag 4 in the admin bucket
`s3-users`; `plain` is declared there without it. Every check raises on
failure; the last line printed is "OK <checks>".
"""

import base64
import hashlib
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, PHASE = sys.argv[1], sys.argv[2]
NEW = "made-by-s3"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def client(key, secret, region="eu-test-1"):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__}{args} {kwargs} succeeded, an error was expected")


admin = client("admin", "admin-secret")
plain = client("plain", "plain-secret")

if PHASE == "create":
    code = error_of(plain.create_bucket, Bucket="by-plain")
    check(code == ("AccessDenied", 403), f"CreateBucket without flag 4: {code}")
    for bad in ["ab", "Upper", "under_score", "bucket", "192.168.1.1", "a..b"]:
        code = error_of(admin.create_bucket, Bucket=bad)
        check(code == ("InvalidBucketName", 400), f"CreateBucket {bad!r}: {code}")
    # s3-region is eu-test-1: another LocationConstraint is refused.
    code = error_of(admin.create_bucket, Bucket="elsewhere",
                    CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    check(code == ("IllegalLocationConstraintException", 400), f"wrong location: {code}")
    r = admin.create_bucket(Bucket=NEW, CreateBucketConfiguration={"LocationConstraint": "eu-test-1"})
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, "CreateBucket 200")
    check(r["Location"] == f"/{NEW}", f"Location {r.get('Location')}")
    admin.head_bucket(Bucket=NEW)
    names = [b["Name"] for b in admin.list_buckets()["Buckets"]]
    check(NEW in names, f"ListBuckets shows the new bucket: {names}")
    code = error_of(admin.create_bucket, Bucket=NEW)
    check(code == ("BucketAlreadyOwnedByYou", 409), f"re-create by its owner: {code}")
    code = error_of(admin.create_bucket, Bucket="bobs-bucket")
    check(code == ("BucketAlreadyExists", 409), f"create of someone else's bucket: {code}")
    # The creator has full rights; another user has none.
    admin.put_object(Bucket=NEW, Key="k", Body=b"in the new bucket")
    check(admin.get_object(Bucket=NEW, Key="k")["Body"].read() == b"in the new bucket", "GET")
    code = error_of(plain.get_object, Bucket=NEW, Key="k")
    check(code == ("AccessDenied", 403), f"other user reads the new bucket: {code}")
elif PHASE == "after-restart":
    names = [b["Name"] for b in admin.list_buckets()["Buckets"]]
    check(NEW in names, f"the new bucket is listed after a restart: {names}")
    check(admin.get_object(Bucket=NEW, Key="k")["Body"].read() == b"in the new bucket",
          "the object in the new bucket")
    # DeleteObjects: existing and missing keys, results per key.
    keys = [f"d/{i}" for i in range(5)]
    for k in keys:
        admin.put_object(Bucket=NEW, Key=k, Body=k.encode())
    objs = [{"Key": k} for k in keys + ["never-was", "a&b <c>"]]
    r = admin.delete_objects(Bucket=NEW, Delete={"Objects": objs})
    deleted = sorted(d["Key"] for d in r.get("Deleted", []))
    check(deleted == sorted(keys + ["never-was", "a&b <c>"]), f"Deleted: {deleted}")
    check(not r.get("Errors"), f"Errors: {r.get('Errors')}")
    for k in keys:
        check(error_of(admin.head_object, Bucket=NEW, Key=k)[1] == 404, f"{k} is gone")
    admin.put_object(Bucket=NEW, Key="q", Body=b"q")
    r = admin.delete_objects(Bucket=NEW, Delete={"Objects": [{"Key": "q"}], "Quiet": True})
    check(not r.get("Deleted") and not r.get("Errors"), f"quiet mode answers nothing: {r}")
    check(error_of(admin.head_object, Bucket=NEW, Key="q")[1] == 404, "q is gone")
    code = error_of(admin.delete_objects, Bucket=NEW,
                    Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    check(code == ("MalformedXML", 400), f"1,001 keys: {code}")
    code = error_of(plain.delete_objects, Bucket="bobs-bucket", Delete={"Objects": [{"Key": "x"}]})
    check(code == ("AccessDenied", 403), f"DeleteObjects without write right: {code}")

    # A wrong Content-MD5 or x-amz-checksum-crc32 is BadDigest; nothing is deleted.
    admin.put_object(Bucket=NEW, Key="kept", Body=b"kept")

    def corrupt(header, value, drop=()):
        def hook(request, **_):
            # (HTTPHeaders adds a second header on assignment: drop it first.)
            for h in list(drop) + [header]:
                if h in request.headers:
                    del request.headers[h]
            request.headers[header] = value
        c = client("admin", "admin-secret")
        c.meta.events.register("before-sign.s3.DeleteObjects", hook)
        return c

    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    crc_headers = ["x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm"]
    c = corrupt("Content-MD5", wrong, drop=crc_headers)
    code = error_of(c.delete_objects, Bucket=NEW, Delete={"Objects": [{"Key": "kept"}]})
    check(code == ("BadDigest", 400), f"wrong Content-MD5: {code}")
    c = corrupt("x-amz-checksum-crc32", "AAAAAA==", drop=["Content-MD5"])
    code = error_of(c.delete_objects, Bucket=NEW, Delete={"Objects": [{"Key": "kept"}]})
    check(code == ("BadDigest", 400), f"wrong x-amz-checksum-crc32: {code}")
    check(admin.get_object(Bucket=NEW, Key="kept")["Body"].read() == b"kept", "kept survives")
    # Neither Content-MD5 nor a checksum: accepted too (older SDKs, rclone).
    admin.put_object(Bucket=NEW, Key="bare", Body=b"bare")
    c = corrupt("x-amz-meta-none", "1", drop=["Content-MD5"] + crc_headers)
    r = c.delete_objects(Bucket=NEW, Delete={"Objects": [{"Key": "bare"}]})
    check([d["Key"] for d in r.get("Deleted", [])] == ["bare"], f"bare deleted: {r}")
    # What boto3 sends by default (a CRC32 checksum in newer releases): accepted.
    r = admin.delete_objects(Bucket=NEW, Delete={"Objects": [{"Key": "kept"}]})
    check([d["Key"] for d in r.get("Deleted", [])] == ["kept"], f"kept deleted: {r}")

    # DeleteBucket: the admin bucket is never deleted through S3; a user
    # without flag 4 may not delete.
    code = error_of(plain.delete_bucket, Bucket=NEW)
    check(code[1] == 403, f"DeleteBucket by a user without rights: {code}")
    code = error_of(admin.delete_bucket, Bucket="s3-users")
    check(code[1] in (400, 403), f"DeleteBucket of the admin bucket: {code}")
    # Only an empty bucket goes (its name index says so): one object blocks it.
    admin.put_object(Bucket=NEW, Key="blocker", Body=b"b")
    code = error_of(admin.delete_bucket, Bucket=NEW)
    check(code == ("BucketNotEmpty", 409), f"DeleteBucket of a bucket with an object: {code}")
    admin.delete_object(Bucket=NEW, Key="blocker")
    left = admin.list_objects_v2(Bucket=NEW).get("Contents", [])
    for o in left:
        admin.delete_object(Bucket=NEW, Key=o["Key"])
    admin.delete_bucket(Bucket=NEW)
    code = error_of(admin.head_bucket, Bucket=NEW)
    check(code[1] == 404, f"HeadBucket after DeleteBucket: {code}")
    names = [b["Name"] for b in admin.list_buckets()["Buckets"]]
    check(NEW not in names, f"ListBuckets after DeleteBucket: {names}")
else:
    raise SystemExit(f"unknown phase {PHASE}")
print(f"OK {checks}")
