#!/usr/bin/env python3
"""ListObjectVersions of a bucket without versioning, and listing edge
cases ceph/s3-tests found, through boto3 (tests/it/s3_versions.rs):
    versions_client.py ENDPOINT
User alice writes bucket b1, which starts empty. The bucket is emptied the
way ceph/s3-tests, Terraform and cleanup scripts do it: pages of
list_object_versions, KeyMarker/VersionIdMarker, delete_objects with
VersionId. Every check raises on failure; the last line printed is
"OK <checks>".
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


s3 = boto3.client(
    "s3", endpoint_url=ENDPOINT, aws_access_key_id="alice", aws_secret_access_key="alice-secret",
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

keys = ["a", "d/1", "d/2", "d/sub/3", "e f+g", "z\u20ac"]
etags = {k: s3.put_object(Bucket="b1", Key=k, Body=k.encode() + b"!")["ETag"] for k in keys}

# Every object is its one version, "null", the latest.
r = s3.list_object_versions(Bucket="b1")
vs = r.get("Versions", [])
check([v["Key"] for v in vs] == keys, f"versions: {vs}")
check(all(v["VersionId"] == "null" and v["IsLatest"] for v in vs), f"null versions: {vs}")
check(all(v["ETag"] == etags[v["Key"]] and v["Size"] == len(v["Key"].encode()) + 1 for v in vs),
      "ETag and size")
check(not r["IsTruncated"] and "DeleteMarkers" not in r, f"one page: {r}")

# Prefix and delimiter, as ListObjects.
r = s3.list_object_versions(Bucket="b1", Prefix="d/", Delimiter="/")
check([v["Key"] for v in r["Versions"]] == ["d/1", "d/2"], f"d/ versions: {r}")
check([p["Prefix"] for p in r["CommonPrefixes"]] == ["d/sub/"], f"d/ prefixes: {r}")

# Pages of 2 with both markers.
seen, kw = [], {"Bucket": "b1", "MaxKeys": 2}
for _ in range(10):
    r = s3.list_object_versions(**kw)
    page = [v["Key"] for v in r.get("Versions", [])]
    check(len(page) <= 2, f"page of 2: {page}")
    seen += page
    if not r["IsTruncated"]:
        break
    check(r["NextKeyMarker"] == page[-1] and r["NextVersionIdMarker"] == "null", f"markers: {r}")
    kw["KeyMarker"], kw["VersionIdMarker"] = r["NextKeyMarker"], r["NextVersionIdMarker"]
check(seen == keys, f"paged versions: {seen}")

# A version id other than null is no version of this bucket.
try:
    s3.list_object_versions(Bucket="b1", KeyMarker="a", VersionIdMarker="3HL4kqtJlcpXroDTDmJ")
    check(False, "unknown version-id-marker accepted")
except ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidArgument", f"bad marker: {e.response}")

# GetObject, HeadObject and DeleteObject take versionId=null.
r = s3.get_object(Bucket="b1", Key="a", VersionId="null")
check(r["Body"].read() == b"a!", "get of the null version")
check(s3.head_object(Bucket="b1", Key="d/1", VersionId="null")["ContentLength"] == 4, "head null")
s3.delete_object(Bucket="b1", Key="d/1", VersionId="null")

# max-keys=0: nothing, not truncated (V1 and V2).
for r in (s3.list_objects(Bucket="b1", MaxKeys=0), s3.list_objects_v2(Bucket="b1", MaxKeys=0),
          s3.list_object_versions(Bucket="b1", MaxKeys=0)):
    check(not r["IsTruncated"] and "Contents" not in r and "Versions" not in r, f"max-keys 0: {r}")

# A prefix boto3 sends url-encoded comes back as it was (V1 and V2).
check(s3.list_objects(Bucket="b1", Prefix="\n")["Prefix"] == "\n", "V1 prefix")
check(s3.list_objects_v2(Bucket="b1", Prefix="\n")["Prefix"] == "\n", "V2 prefix")
check(s3.list_objects(Bucket="b1", Prefix="e f")["Contents"][0]["Key"] == "e f+g", "V1 key")

# Emptied as the cleanup scripts do.
while True:
    r = s3.list_object_versions(Bucket="b1", MaxKeys=2)
    objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in r.get("Versions", [])]
    if not objs:
        break
    d = s3.delete_objects(Bucket="b1", Delete={"Objects": objs, "Quiet": True})
    check(not d.get("Errors"), f"delete errors: {d}")
check(s3.list_objects_v2(Bucket="b1")["KeyCount"] == 0, "bucket emptied")
print("OK", checks)
