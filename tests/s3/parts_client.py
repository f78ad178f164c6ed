#!/usr/bin/env python3
"""GetObject/HeadObject with PartNumber, GetObjectAttributes and a retried
CompleteMultipartUpload through boto3 (tests/it/s3_parts.rs):
    parts_client.py ENDPOINT
User alice writes bucket b1. Every check raises on failure; the last line
printed is "OK <checks>".
"""

import base64
import sys
import zlib

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

MIB = 1 << 20
bodies = [bytes([65 + i]) * (5 * MIB) for i in range(2)] + [b"tail" * 300]
crc = [base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode() for b in bodies]

# A 3-part upload with CRC32 checksums.
up = s3.create_multipart_upload(Bucket="b1", Key="three", ChecksumAlgorithm="CRC32")["UploadId"]
parts = []
for i, b in enumerate(bodies, 1):
    r = s3.upload_part(Bucket="b1", Key="three", UploadId=up, PartNumber=i, Body=b,
                       ChecksumAlgorithm="CRC32")
    check(r["ChecksumCRC32"] == crc[i - 1], f"part {i} checksum")
    parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
done = s3.complete_multipart_upload(Bucket="b1", Key="three", UploadId=up,
                                    MultipartUpload={"Parts": parts})
etag = done["ETag"]
check(etag.endswith('-3"'), f"multipart ETag {etag}")

# A retry of the same Complete (an SDK retrying after a timeout) answers
# the first result again; another part list is NoSuchUpload.
again = s3.complete_multipart_upload(Bucket="b1", Key="three", UploadId=up,
                                     MultipartUpload={"Parts": parts})
check(again["ETag"] == etag and again.get("ChecksumCRC32") == done.get("ChecksumCRC32")
      and again.get("ChecksumType") == done.get("ChecksumType"), f"retry: {again} vs {done}")
check(error_code(s3.complete_multipart_upload, Bucket="b1", Key="three", UploadId=up,
                 MultipartUpload={"Parts": parts[:2]})[0] == "NoSuchUpload", "other part list")
check(error_code(s3.upload_part, Bucket="b1", Key="three", UploadId=up, PartNumber=4,
                 Body=b"x")[0] == "NoSuchUpload", "no part after completion")

# GetObject/HeadObject with PartNumber: that part, as a range.
start = 0
for i, b in enumerate(bodies, 1):
    r = s3.get_object(Bucket="b1", Key="three", PartNumber=i)
    check(r["Body"].read() == b, f"part {i} bytes")
    check(r["PartsCount"] == 3 and r["ETag"] == etag, f"part {i}: {r.get('PartsCount')}")
    check(r["ContentRange"] == f"bytes {start}-{start + len(b) - 1}/{sum(map(len, bodies))}",
          f"part {i} range {r['ContentRange']}")
    h = s3.head_object(Bucket="b1", Key="three", PartNumber=i)
    check(h["ContentLength"] == len(b) and h["PartsCount"] == 3, f"head part {i}: {h}")
    start += len(b)
check(error_code(s3.get_object, Bucket="b1", Key="three", PartNumber=4)[0] == "InvalidPart",
      "part 4 of 3")

# GetObjectAttributes: ETag, Checksum, ObjectParts (paged), StorageClass, ObjectSize.
attrs = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
a = s3.get_object_attributes(Bucket="b1", Key="three", ObjectAttributes=attrs)
check(a["ETag"] == etag.strip('"'), f"attributes ETag {a['ETag']}")
check(a["ObjectSize"] == sum(map(len, bodies)) and a["StorageClass"] == "STANDARD", f"{a}")
check(a["Checksum"]["ChecksumCRC32"] == done["ChecksumCRC32"], f"checksum {a['Checksum']}")
op = a["ObjectParts"]
check(op["TotalPartsCount"] == 3 and not op["IsTruncated"], f"parts {op}")
check([(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in op["Parts"]]
      == [(i + 1, len(b), crc[i]) for i, b in enumerate(bodies)], f"parts {op['Parts']}")
page = s3.get_object_attributes(Bucket="b1", Key="three", ObjectAttributes=["ObjectParts"],
                                MaxParts=2)["ObjectParts"]
check(page["IsTruncated"] and [p["PartNumber"] for p in page["Parts"]] == [1, 2]
      and page["NextPartNumberMarker"] == 2, f"page 1 {page}")
page = s3.get_object_attributes(Bucket="b1", Key="three", ObjectAttributes=["ObjectParts"],
                                MaxParts=2, PartNumberMarker=2)["ObjectParts"]
check(not page["IsTruncated"] and [p["PartNumber"] for p in page["Parts"]] == [3], f"page 2 {page}")

# A plain object has one part: 1 is the whole object, 2 InvalidPart.
s3.put_object(Bucket="b1", Key="plain", Body=b"plain object")
r = s3.get_object(Bucket="b1", Key="plain", PartNumber=1)
check(r["Body"].read() == b"plain object", "part 1 of a plain object")
check(error_code(s3.get_object, Bucket="b1", Key="plain", PartNumber=2)[0] == "InvalidPart",
      "part 2 of a plain object")
a = s3.get_object_attributes(Bucket="b1", Key="plain", ObjectAttributes=["ETag", "ObjectSize"])
check(a["ObjectSize"] == 12 and "ObjectParts" not in a, f"plain attributes {a}")

# Overwritten by a PutObject, the former multipart key is one part.
s3.put_object(Bucket="b1", Key="three", Body=b"now plain")
check(error_code(s3.get_object, Bucket="b1", Key="three", PartNumber=2)[0] == "InvalidPart",
      "rewritten object has one part")

# A missing key is NoSuchKey before any part check.
check(error_code(s3.get_object, Bucket="b1", Key="missing", PartNumber=7) == ("NoSuchKey", 404),
      "missing key with a part")
check(error_code(s3.get_object_attributes, Bucket="b1", Key="missing",
                 ObjectAttributes=["ETag"]) == ("NoSuchKey", 404), "missing key attributes")
print("OK", checks)
