#!/usr/bin/env python3
"""Object and bucket tagging, GetBucketVersioning, UploadPartCopy's
InvalidRange and a PutObject of unknown length through boto3/botocore
(tests/it/s3_tagging.rs):
    tagging_client.py ENDPOINT
User alice writes bucket b1, which holds "from-backrunner.bin" (put
through /upload/, so without S3 metadata). Every check raises on failure;
the last line printed is "OK <checks>".
"""

import hashlib
import http.client
import sys
import urllib.parse

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def error_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} {kw} succeeded")


s3 = boto3.client(
    "s3", endpoint_url=ENDPOINT, aws_access_key_id="alice", aws_secret_access_key="alice-secret",
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def tagset(d):
    return [{"Key": k, "Value": v} for k, v in d.items()]


def tags_of(key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket="b1", Key=key)["TagSet"]}


# PutObject with x-amz-tagging; GET/HEAD count the tags.
s3.put_object(Bucket="b1", Key="t1", Body=b"tagged", Tagging="color=blue&size=a%20b&empty=",
              ContentType="text/x-tagged")
check(tags_of("t1") == {"color": "blue", "size": "a b", "empty": ""}, f"tags: {tags_of('t1')}")
r = s3.get_object(Bucket="b1", Key="t1")
check(r["TagCount"] == 3 and r["Body"].read() == b"tagged", f"get TagCount: {r.get('TagCount')}")
h = s3.head_object(Bucket="b1", Key="t1")
check(h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count") == "3", f"head: {h}")
etag = h["ETag"]

# PutObjectTagging replaces the set; the object, its ETag and type stay.
s3.put_object_tagging(Bucket="b1", Key="t1", Tagging={"TagSet": tagset({"k": "v<&>", "é": "ü"})})
check(tags_of("t1") == {"k": "v<&>", "é": "ü"}, f"replaced: {tags_of('t1')}")
h = s3.head_object(Bucket="b1", Key="t1")
check(h["ETag"] == etag and h["ContentType"] == "text/x-tagged", f"metadata kept: {h}")
check(s3.get_object(Bucket="b1", Key="t1")["Body"].read() == b"tagged", "bytes kept")

# AWS's limits: InvalidTag, and nothing changes.
for bad in [{f"k{i}": "v" for i in range(11)}, {"k" * 129: "v"}, {"k": "v" * 257}]:
    code = error_code(s3.put_object_tagging, Bucket="b1", Key="t1", Tagging={"TagSet": tagset(bad)})
    check(code == ("InvalidTag", 400), f"limits: {code}")
dup = [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]
check(error_code(s3.put_object_tagging, Bucket="b1", Key="t1",
                 Tagging={"TagSet": dup}) == ("InvalidTag", 400), "duplicate key")
check(error_code(s3.put_object, Bucket="b1", Key="t2", Body=b"x",
                 Tagging="&".join(f"k{i}=v" for i in range(11)))[0] == "InvalidTag", "11 on PUT")
check(error_code(s3.head_object, Bucket="b1", Key="t2")[1] == 404, "refused PUT stored nothing")
ten = {f"k{i}": "v" * 256 for i in range(10)}
s3.put_object_tagging(Bucket="b1", Key="t1", Tagging={"TagSet": tagset(ten)})
check(tags_of("t1") == ten, "10 tags of 256 characters")

# A key that does not exist is NoSuchKey for all three.
for fn, kw in [(s3.get_object_tagging, {}), (s3.delete_object_tagging, {}),
               (s3.put_object_tagging, {"Tagging": {"TagSet": []}})]:
    check(error_code(fn, Bucket="b1", Key="missing", **kw) == ("NoSuchKey", 404), fn.__name__)

# DeleteObjectTagging; a PutObject without x-amz-tagging has none.
s3.delete_object_tagging(Bucket="b1", Key="t1")
check(tags_of("t1") == {}, "deleted")
check("TagCount" not in s3.get_object(Bucket="b1", Key="t1"), "no TagCount")
s3.put_object_tagging(Bucket="b1", Key="t1", Tagging={"TagSet": tagset({"a": "1"})})
s3.put_object(Bucket="b1", Key="t1", Body=b"new")
check(tags_of("t1") == {}, "overwritten object has no tags")

# An object written through Backrunner's /upload/ takes tags too.
before = s3.head_object(Bucket="b1", Key="from-backrunner.bin")
s3.put_object_tagging(Bucket="b1", Key="from-backrunner.bin",
                      Tagging={"TagSet": tagset({"origin": "upload"})})
check(tags_of("from-backrunner.bin") == {"origin": "upload"}, "tags on an /upload/ object")
after = s3.head_object(Bucket="b1", Key="from-backrunner.bin")
check(after["ETag"] == before["ETag"] and after["ContentLength"] == before["ContentLength"]
      and after["ContentType"] == before["ContentType"], f"{before} -> {after}")

# CopyObject: COPY keeps the source's tags, REPLACE takes the request's.
s3.put_object(Bucket="b1", Key="src", Body=b"source", Tagging="from=src")
s3.copy_object(Bucket="b1", Key="c1", CopySource="b1/src")
check(tags_of("c1") == {"from": "src"}, f"copy: {tags_of('c1')}")
s3.copy_object(Bucket="b1", Key="c2", CopySource="b1/src", TaggingDirective="REPLACE",
               Tagging="new=1")
check(tags_of("c2") == {"new": "1"}, f"replace: {tags_of('c2')}")
s3.copy_object(Bucket="b1", Key="src", CopySource="b1/src", MetadataDirective="REPLACE",
               ContentType="text/y")
check(tags_of("src") == {"from": "src"}, "self copy keeps the tags")
check(error_code(s3.copy_object, Bucket="b1", Key="c3", CopySource="b1/src",
                 TaggingDirective="REPLACE", Tagging="a=1&a=2")[0] == "InvalidTag", "copy limits")

# CreateMultipartUpload with tags: the completed object has them.
up = s3.create_multipart_upload(Bucket="b1", Key="mp", Tagging="mp=yes")["UploadId"]
part = s3.upload_part(Bucket="b1", Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 1000)
s3.complete_multipart_upload(Bucket="b1", Key="mp", UploadId=up, MultipartUpload={
    "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
check(tags_of("mp") == {"mp": "yes"}, f"multipart tags: {tags_of('mp')}")

# UploadPartCopy: a well-formed range past the source's end is InvalidRange,
# a malformed one InvalidArgument.
up = s3.create_multipart_upload(Bucket="b1", Key="mp2")["UploadId"]
for rng, want in [("bytes=0-6", ("InvalidRange", 416)), ("bytes=10-20", ("InvalidRange", 416)),
                  ("bytes=3-1", ("InvalidArgument", 400)), ("bytes=0-", ("InvalidArgument", 400))]:
    got = error_code(s3.upload_part_copy, Bucket="b1", Key="mp2", UploadId=up, PartNumber=1,
                     CopySource="b1/src", CopySourceRange=rng)
    check(got == want, f"{rng}: {got}")
r = s3.upload_part_copy(Bucket="b1", Key="mp2", UploadId=up, PartNumber=1, CopySource="b1/src",
                        CopySourceRange="bytes=0-5")
check(r["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(b"source").hexdigest(), "range in bounds")
s3.abort_multipart_upload(Bucket="b1", Key="mp2", UploadId=up)

# Bucket tagging: none yet is NoSuchTagSet; put, get, delete.
check(error_code(s3.get_bucket_tagging, Bucket="b1") == ("NoSuchTagSet", 404), "no bucket tags")
s3.put_bucket_tagging(Bucket="b1", Tagging={"TagSet": tagset({"team": "storage", "env": "ci"})})
got = s3.get_bucket_tagging(Bucket="b1")["TagSet"]
check(got == tagset({"team": "storage", "env": "ci"}), f"bucket tags: {got}")
many = {f"k{i}": "v" for i in range(51)}
check(error_code(s3.put_bucket_tagging, Bucket="b1",
                 Tagging={"TagSet": tagset(many)})[0] == "InvalidTag", "51 bucket tags")
s3.delete_bucket_tagging(Bucket="b1")
check(error_code(s3.get_bucket_tagging, Bucket="b1")[0] == "NoSuchTagSet", "bucket tags deleted")

# GetBucketVersioning: an unversioned bucket; enabling it is NotImplemented.
v = s3.get_bucket_versioning(Bucket="b1")
check("Status" not in v and v["ResponseMetadata"]["HTTPStatusCode"] == 200, f"versioning: {v}")
code = error_code(s3.put_bucket_versioning, Bucket="b1",
                  VersioningConfiguration={"Status": "Enabled"})
check(code == ("NotImplemented", 501), f"enable versioning: {code}")

# PutObject with Transfer-Encoding: chunked, no Content-Length and no
# x-amz-decoded-content-length: SHA-256 signed, sent in pieces.
body = bytes(range(256)) * 12289  # 3 MiB and 256 bytes
u = urllib.parse.urlsplit(ENDPOINT)


def chunked_put(key, data, signed_as=None):
    """Signed with the SHA-256 of `signed_as` (default: the body)."""
    url = f"{ENDPOINT}/b1/{key}"
    req = AWSRequest(method="PUT", url=url, data=data if signed_as is None else signed_as,
                     headers={"Transfer-Encoding": "chunked"})
    S3SigV4Auth(Credentials("alice", "alice-secret"), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    sent = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
    assert sent["X-Amz-Content-SHA256"] != "UNSIGNED-PAYLOAD"
    conn.request("PUT", f"/b1/{key}", body=(data[i:i + 100_000]
                 for i in range(0, len(data), 100_000)), headers=sent, encode_chunked=True)
    r = conn.getresponse()
    return r.status, r.getheaders(), r.read()


status, hdrs, text = chunked_put("chunked.bin", body)
check(status == 200, f"chunked PUT: {status} {text}")
check(dict((k.lower(), v) for k, v in hdrs)["etag"] == '"%s"' % hashlib.md5(body).hexdigest(),
      "chunked ETag")
got = s3.get_object(Bucket="b1", Key="chunked.bin")
check(got["ContentLength"] == len(body) and got["Body"].read() == body, "chunked bytes")
status, _, text = chunked_put("chunked-bad.bin", body, signed_as=b"other")
check(status == 400 and b"XAmzContentSHA256Mismatch" in text, f"bad sha: {status} {text}")
check(error_code(s3.head_object, Bucket="b1", Key="chunked-bad.bin")[1] == 404, "nothing stored")
print("OK", checks)
