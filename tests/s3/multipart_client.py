#!/usr/bin/env python3
"""Multipart uploads, copies and conditional writes driven by boto3.

Called by tests/it/s3_multipart.rs:
    multipart_client.py ENDPOINT WORKDIR MODE
MODE `all`: WORKDIR holds big.bin (100 MiB), uploaded with upload_file as
b1/mp/big.bin (multipart at boto3's default 8 MiB threshold, parallel
parts) and downloaded back; the Rust side then reads it through /get/ with
ranges. Then the low-level multipart API, its error cases, CopyObject and
conditional writes. MODE `cleanup`: an upload is left and must be removed
by the proxy's cleanup of abandoned uploads (age 2 s).

Users as in tests/it/s3.rs: alice writes b1, reads b2; b3 is bob's only.
Every check raises on failure; the last line printed is "OK <checks>".
"""

import datetime
import hashlib
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, WORKDIR, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def client(key, secret):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      max_pool_connections=16),
    )


def error_of(fn, **kwargs):
    """Runs a call that must fail; answers (code, status)."""
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} {kwargs} succeeded, an error was expected")


def md5(b):
    return hashlib.md5(b).hexdigest()


def multipart_etag(data, part):
    md5s = [hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part)]
    return '"%s-%d"' % (hashlib.md5(b"".join(md5s)).hexdigest(), len(md5s))


alice = client("alice", "alice-secret")

if MODE == "cleanup":
    up = alice.create_multipart_upload(Bucket="b1", Key="abandoned")
    uid = up["UploadId"]
    alice.upload_part(Bucket="b1", Key="abandoned", UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    listed = alice.list_multipart_uploads(Bucket="b1").get("Uploads", [])
    check([u["UploadId"] for u in listed] == [uid], f"the upload is listed: {listed}")
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            alice.list_parts(Bucket="b1", Key="abandoned", UploadId=uid)
        except ClientError as e:
            check(e.response["Error"]["Code"] == "NoSuchUpload", f"cleaned: {e.response['Error']}")
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the abandoned upload was not removed within 20 s")
    check(alice.list_multipart_uploads(Bucket="b1").get("Uploads", []) == [], "no upload listed after cleanup")
    code, status = error_of(alice.upload_part, Bucket="b1", Key="abandoned", UploadId=uid, PartNumber=2, Body=b"y")
    check((code, status) == ("NoSuchUpload", 404), f"part after cleanup: {code} {status}")
    print(f"OK {checks}")
    sys.exit(0)

# --- upload_file / download_file of 100 MiB: multipart both ways, parallel.
src = os.path.join(WORKDIR, "big.bin")
with open(src, "rb") as f:
    data = f.read()
started = time.time()
alice.upload_file(src, "b1", "mp/big.bin", ExtraArgs={"ContentType": "application/x-big", "Metadata": {"k": "v"}})
up_secs = time.time() - started
head = alice.head_object(Bucket="b1", Key="mp/big.bin")
check(head["ContentLength"] == len(data), f"size {head['ContentLength']}")
check(head["ETag"] == multipart_etag(data, 8 * MiB), f"multipart ETag {head['ETag']} != {multipart_etag(data, 8 * MiB)}")
check(head["ContentType"] == "application/x-big", f"Content-Type from CreateMultipartUpload: {head['ContentType']}")
check(head["Metadata"] == {"k": "v"}, f"metadata from CreateMultipartUpload: {head['Metadata']}")
dst = os.path.join(WORKDIR, "big.down")
started = time.time()
alice.download_file("b1", "mp/big.bin", dst)
down_secs = time.time() - started
with open(dst, "rb") as f:
    check(f.read() == data, "download_file returns the bytes uploaded")
r = alice.get_object(Bucket="b1", Key="mp/big.bin", Range="bytes=8388600-8388700", IfMatch=head["ETag"])
check(r["Body"].read() == data[8388600:8388701], "ranged GET across a part boundary with If-Match")
code, status = error_of(alice.get_object, Bucket="b1", Key="mp/big.bin", Range="bytes=0-1", IfMatch='"other"')
check((code, status) == ("PreconditionFailed", 412), f"ranged GET with a wrong If-Match: {code} {status}")
print(f"upload_file 100 MiB: {up_secs:.1f} s, download_file: {down_secs:.1f} s", file=sys.stderr)

# --- The low-level API.
part5 = os.urandom(5 * MiB)
tail = b"the last part may be small"
up = alice.create_multipart_upload(Bucket="b1", Key="mp/low", ContentType="text/x-low", Metadata={"a": "1"})
uid = up["UploadId"]
check(up["Key"] == "mp/low" and up["Bucket"] == "b1", "InitiateMultipartUploadResult")
e1 = alice.upload_part(Bucket="b1", Key="mp/low", UploadId=uid, PartNumber=1, Body=part5)["ETag"]
check(e1 == '"%s"' % md5(part5), f"part ETag {e1}")
e2 = alice.upload_part(Bucket="b1", Key="mp/low", UploadId=uid, PartNumber=2, Body=tail)["ETag"]
# A part uploaded again replaces the earlier one.
e2 = alice.upload_part(Bucket="b1", Key="mp/low", UploadId=uid, PartNumber=2, Body=tail + b"!")["ETag"]
parts = alice.list_parts(Bucket="b1", Key="mp/low", UploadId=uid)["Parts"]
check([(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 5 * MiB, e1), (2, len(tail) + 1, e2)],
      f"ListParts: {parts}")
page = alice.list_parts(Bucket="b1", Key="mp/low", UploadId=uid, MaxParts=1)
check(page["IsTruncated"] and [p["PartNumber"] for p in page["Parts"]] == [1], f"ListParts page 1: {page}")
page = alice.list_parts(Bucket="b1", Key="mp/low", UploadId=uid, PartNumberMarker=page["NextPartNumberMarker"])
check(not page["IsTruncated"] and [p["PartNumber"] for p in page["Parts"]] == [2], "ListParts page 2")
uploads = alice.list_multipart_uploads(Bucket="b1", Prefix="mp/")["Uploads"]
check([(u["Key"], u["UploadId"]) for u in uploads] == [("mp/low", uid)], f"ListMultipartUploads: {uploads}")

# Error cases of CompleteMultipartUpload; none of them ends the upload.
def complete(parts, **kw):
    return alice.complete_multipart_upload(Bucket="b1", Key="mp/low", UploadId=uid,
                                           MultipartUpload={"Parts": parts}, **kw)

code, status = error_of(complete, parts=[{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"%s"' % md5(b"x")}])
check((code, status) == ("InvalidPart", 400), f"wrong ETag: {code} {status}")
code, status = error_of(complete, parts=[{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}])
check((code, status) == ("InvalidPart", 400), f"missing part: {code} {status}")
code, status = error_of(complete, parts=[{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}])
check((code, status) == ("InvalidPartOrder", 400), f"order: {code} {status}")
small = alice.create_multipart_upload(Bucket="b1", Key="mp/small")["UploadId"]
s1 = alice.upload_part(Bucket="b1", Key="mp/small", UploadId=small, PartNumber=1, Body=b"a" * 1000)["ETag"]
s2 = alice.upload_part(Bucket="b1", Key="mp/small", UploadId=small, PartNumber=2, Body=b"b" * 1000)["ETag"]
code, status = error_of(alice.complete_multipart_upload, Bucket="b1", Key="mp/small", UploadId=small,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s1}, {"PartNumber": 2, "ETag": s2}]})
check((code, status) == ("EntityTooSmall", 400), f"small part: {code} {status}")
code, status = error_of(alice.upload_part, Bucket="b1", Key="mp/low", UploadId="0" * 32, PartNumber=1, Body=b"x")
check((code, status) == ("NoSuchUpload", 404), f"unknown upload: {code} {status}")
code, status = error_of(alice.upload_part, Bucket="b1", Key="mp/other-key", UploadId=uid, PartNumber=1, Body=b"x")
check((code, status) == ("NoSuchUpload", 404), f"upload of another key: {code} {status}")
code, status = error_of(alice.upload_part, Bucket="b1", Key="mp/low", UploadId=uid, PartNumber=10001, Body=b"x")
check((code, status) == ("InvalidArgument", 400), f"part 10001: {code} {status}")
reader = client("reader", "reader-secret")
code, status = error_of(reader.upload_part, Bucket="b1", Key="mp/low", UploadId=uid, PartNumber=3, Body=b"x")
check((code, status) == ("AccessDenied", 403), f"UploadPart needs write rights: {code} {status}")

# If-None-Match: * on completion over an existing key.
alice.put_object(Bucket="b1", Key="mp/exists", Body=b"here")
ex = alice.create_multipart_upload(Bucket="b1", Key="mp/exists")["UploadId"]
x1 = alice.upload_part(Bucket="b1", Key="mp/exists", UploadId=ex, PartNumber=1, Body=b"new")["ETag"]
code, status = error_of(alice.complete_multipart_upload, Bucket="b1", Key="mp/exists", UploadId=ex,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": x1}]}, IfNoneMatch="*")
check((code, status) == ("PreconditionFailed", 412), f"complete with If-None-Match over a key: {code} {status}")
check(alice.get_object(Bucket="b1", Key="mp/exists")["Body"].read() == b"here", "the key kept its object")
alice.abort_multipart_upload(Bucket="b1", Key="mp/exists", UploadId=ex)

# The good completion.
done = complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}])
whole = part5 + tail + b"!"
check(done["ETag"] == multipart_etag(whole, 5 * MiB), f"complete ETag {done['ETag']}")
got = alice.get_object(Bucket="b1", Key="mp/low")
check(got["Body"].read() == whole, "the completed object")
check(got["ETag"] == done["ETag"] and got["ContentType"] == "text/x-low" and got["Metadata"] == {"a": "1"},
      f"completed object's headers: {got['ETag']} {got['ContentType']} {got['Metadata']}")
code, status = error_of(complete, parts=[{"PartNumber": 1, "ETag": e1}])
check((code, status) == ("NoSuchUpload", 404), f"completed twice: {code} {status}")
code, status = error_of(alice.list_parts, Bucket="b1", Key="mp/low", UploadId=uid)
check((code, status) == ("NoSuchUpload", 404), f"ListParts after completion: {code} {status}")

# Abort.
ab = alice.create_multipart_upload(Bucket="b1", Key="mp/aborted")["UploadId"]
alice.upload_part(Bucket="b1", Key="mp/aborted", UploadId=ab, PartNumber=1, Body=b"x" * 100)
r = alice.abort_multipart_upload(Bucket="b1", Key="mp/aborted", UploadId=ab)
check(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "abort: 204")
code, status = error_of(alice.upload_part, Bucket="b1", Key="mp/aborted", UploadId=ab, PartNumber=2, Body=b"x")
check((code, status) == ("NoSuchUpload", 404), f"part after abort: {code} {status}")
code, status = error_of(alice.abort_multipart_upload, Bucket="b1", Key="mp/aborted", UploadId=ab)
check((code, status) == ("NoSuchUpload", 404), f"abort twice: {code} {status}")
code, status = error_of(alice.get_object, Bucket="b1", Key="mp/aborted")
check(code == "NoSuchKey", f"an aborted upload leaves no object: {code}")
uploads = alice.list_multipart_uploads(Bucket="b1").get("Uploads", [])
check([u["UploadId"] for u in uploads] == [small], f"only the unfinished upload is listed: {uploads}")
alice.abort_multipart_upload(Bucket="b1", Key="mp/small", UploadId=small)

# UploadPartCopy with ranges: parts copied from the 100 MiB object.
pc = alice.create_multipart_upload(Bucket="b1", Key="mp/partcopy")["UploadId"]
c1 = alice.upload_part_copy(Bucket="b1", Key="mp/partcopy", UploadId=pc, PartNumber=1,
                            CopySource={"Bucket": "b1", "Key": "mp/big.bin"},
                            CopySourceRange="bytes=1000-%d" % (1000 + 6 * MiB - 1))["CopyPartResult"]["ETag"]
check(c1 == '"%s"' % md5(data[1000:1000 + 6 * MiB]), f"UploadPartCopy ETag {c1}")
c2 = alice.upload_part_copy(Bucket="b1", Key="mp/partcopy", UploadId=pc, PartNumber=2,
                            CopySource="b1/mp/low")["CopyPartResult"]["ETag"]
code, status = error_of(alice.upload_part_copy, Bucket="b1", Key="mp/partcopy", UploadId=pc, PartNumber=3,
                        CopySource={"Bucket": "b1", "Key": "mp/low"}, CopySourceRange="bytes=0-99999999")
# A well-formed range past the source's end is InvalidRange, as S3 answers.
check((code, status) == ("InvalidRange", 416), f"copy range past the end: {code} {status}")
alice.complete_multipart_upload(Bucket="b1", Key="mp/partcopy", UploadId=pc,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": c1}, {"PartNumber": 2, "ETag": c2}]})
got = alice.get_object(Bucket="b1", Key="mp/partcopy")["Body"].read()
check(got == data[1000:1000 + 6 * MiB] + whole, "the object of copied parts")

# --- CopyObject.
alice.put_object(Bucket="b1", Key="cp/src", Body=b"source bytes", ContentType="text/x-src", Metadata={"m": "src"})
src_head = alice.head_object(Bucket="b1", Key="cp/src")
src_etag = src_head["ETag"]
r = alice.copy_object(Bucket="b1", Key="cp/dst", CopySource={"Bucket": "b1", "Key": "cp/src"})
check(r["CopyObjectResult"]["ETag"] == src_etag, f"CopyObjectResult ETag {r['CopyObjectResult']}")
h = alice.get_object(Bucket="b1", Key="cp/dst")
check(h["Body"].read() == b"source bytes", "copied bytes")
check(h["ContentType"] == "text/x-src" and h["Metadata"] == {"m": "src"}, f"COPY keeps metadata: {h['Metadata']}")
alice.copy_object(Bucket="b1", Key="cp/dst2", CopySource="b1/cp/src", MetadataDirective="REPLACE",
                  ContentType="text/x-new", Metadata={"m": "new"})
h = alice.head_object(Bucket="b1", Key="cp/dst2")
check(h["ContentType"] == "text/x-new" and h["Metadata"] == {"m": "new"}, f"REPLACE sets metadata: {h['Metadata']}")
# A copy of a multipart object is one object with an MD5 ETag.
r = alice.copy_object(Bucket="b1", Key="cp/big", CopySource={"Bucket": "b1", "Key": "mp/big.bin"})
check(r["CopyObjectResult"]["ETag"] == '"%s"' % md5(data), "copy of the 100 MiB object: MD5 ETag")
check(alice.get_object(Bucket="b1", Key="cp/big", Range="bytes=50000000-50000099")["Body"].read()
      == data[50000000:50000100], "copied 100 MiB object, a range")
# b3 is not alice's: no read right on the source.
code, status = error_of(alice.copy_object, Bucket="b1", Key="cp/x", CopySource={"Bucket": "b3", "Key": "any"})
check((code, status) == ("AccessDenied", 403), f"copy from a bucket without read rights: {code} {status}")
code, status = error_of(alice.copy_object, Bucket="b1", Key="cp/x", CopySource={"Bucket": "b1", "Key": "cp/none"})
check((code, status) == ("NoSuchKey", 404), f"missing copy source: {code} {status}")
code, status = error_of(reader.copy_object, Bucket="b1", Key="cp/x", CopySource={"Bucket": "b1", "Key": "cp/src"})
check((code, status) == ("AccessDenied", 403), f"copy needs write rights on the destination: {code} {status}")
# x-amz-copy-source-if-*.
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
for kw in [{"CopySourceIfMatch": '"nope"'}, {"CopySourceIfNoneMatch": src_etag},
           {"CopySourceIfModifiedSince": src_head["LastModified"]}, {"CopySourceIfUnmodifiedSince": past}]:
    code, status = error_of(alice.copy_object, Bucket="b1", Key="cp/cond", CopySource="b1/cp/src", **kw)
    check((code, status) == ("PreconditionFailed", 412), f"{kw}: {code} {status}")
for kw in [{"CopySourceIfMatch": src_etag}, {"CopySourceIfNoneMatch": '"nope"'},
           {"CopySourceIfModifiedSince": past}, {"CopySourceIfUnmodifiedSince": future},
           {"CopySourceIfMatch": src_etag, "CopySourceIfUnmodifiedSince": past}]:
    alice.copy_object(Bucket="b1", Key="cp/cond", CopySource="b1/cp/src", **kw)
    check(True, f"{kw} holds")
# Onto itself: only with REPLACE (rclone sets mtimes so); the bytes stay.
code, status = error_of(alice.copy_object, Bucket="b1", Key="cp/src", CopySource="b1/cp/src")
check((code, status) == ("InvalidRequest", 400), f"self copy without REPLACE: {code} {status}")
r = alice.copy_object(Bucket="b1", Key="cp/src", CopySource="b1/cp/src", MetadataDirective="REPLACE",
                      ContentType="text/x-self", Metadata={"mtime": "1700000000.5"})
check(r["CopyObjectResult"]["ETag"] == src_etag, "self copy keeps the ETag")
h = alice.get_object(Bucket="b1", Key="cp/src")
check(h["Body"].read() == b"source bytes", "self copy keeps the bytes")
check(h["ContentType"] == "text/x-self" and h["Metadata"] == {"mtime": "1700000000.5"},
      f"self copy replaced the metadata: {h['ContentType']} {h['Metadata']}")
# Self copy of the 100 MiB multipart object (rclone does this to set an mtime).
r = alice.copy_object(Bucket="b1", Key="mp/big.bin", CopySource="b1/mp/big.bin", MetadataDirective="REPLACE",
                      Metadata={"mtime": "1"})
h = alice.head_object(Bucket="b1", Key="mp/big.bin")
check(h["Metadata"] == {"mtime": "1"} and h["ETag"] == head["ETag"] and h["ContentLength"] == len(data),
      f"self copy of a multipart object: {h['Metadata']} {h['ETag']}")

# --- Conditional writes.
code, status = error_of(alice.put_object, Bucket="b1", Key="cp/src", Body=b"x", IfNoneMatch="*")
check((code, status) == ("PreconditionFailed", 412), f"If-None-Match: * over a key: {code} {status}")
alice.put_object(Bucket="b1", Key="cond/new", Body=b"first", IfNoneMatch="*")
check(alice.get_object(Bucket="b1", Key="cond/new")["Body"].read() == b"first", "If-None-Match: * on a new key")
code, status = error_of(alice.put_object, Bucket="b1", Key="cond/new", Body=b"second", IfNoneMatch="*")
check((code, status) == ("PreconditionFailed", 412), f"second If-None-Match: *: {code} {status}")
code, status = error_of(alice.put_object, Bucket="b1", Key="cond/new", Body=b"second", IfMatch='"%s"' % md5(b"other"))
check((code, status) == ("PreconditionFailed", 412), f"If-Match with another ETag: {code} {status}")
alice.put_object(Bucket="b1", Key="cond/new", Body=b"second", IfMatch='"%s"' % md5(b"first"))
check(alice.get_object(Bucket="b1", Key="cond/new")["Body"].read() == b"second", "If-Match with the ETag")
code, status = error_of(alice.put_object, Bucket="b1", Key="cond/none", Body=b"x", IfMatch='"%s"' % md5(b"x"))
check((code, status) == ("NoSuchKey", 404), f"If-Match on a missing key: {code} {status}")

# --- Listings answer the ETag and size HeadObject answers, however the
# object was written (completed, copied, self-copied, put): aws-cli's ranged
# download of a listed object sends the listed ETag as If-Match.
for page in alice.get_paginator("list_objects_v2").paginate(Bucket="b1"):
    for o in page.get("Contents", []):
        h = alice.head_object(Bucket="b1", Key=o["Key"])
        check((o["ETag"], o["Size"]) == (h["ETag"], h["ContentLength"]),
              f"{o['Key']}: listed {o['ETag']} {o['Size']}, HeadObject {h['ETag']} {h['ContentLength']}")

print(f"OK {checks}")
