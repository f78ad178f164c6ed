#!/usr/bin/env python3
"""Lists through the proxy's S3 API with boto3 (tests/it/s3_list.rs):
    list_client.py ENDPOINT ENDPOINT_OF_A_SECOND_PROXY
Bucket b1 (alice writes, reader reads) already holds up/from-backrunner.bin,
uploaded through Backrunner's /upload/. boto3 asks every listing with
EncodingType=url and decodes the keys, so keys with spaces and `+` check
the encoding too. Every check raises on failure; the last line printed is
"OK <checks>".
"""

import datetime
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, ENDPOINT2 = sys.argv[1], sys.argv[2]
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def client(key, secret, endpoint=ENDPOINT):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


alice = client("alice", "alice-secret")
reader = client("reader", "reader-secret")
other = client("alice", "alice-secret", ENDPOINT2)

keys = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "e f+g", "z€", "zz/x"]
etags = {}
for k in keys:
    etags[k] = alice.put_object(Bucket="b1", Key=k, Body=k.encode())["ETag"]
every = sorted(keys + ["up/from-backrunner.bin"])


def names(resp):
    return [o["Key"] for o in resp.get("Contents", [])]


def prefixes(resp):
    return [p["Prefix"] for p in resp.get("CommonPrefixes", [])]


r = alice.list_objects_v2(Bucket="b1")
check(names(r) == every, f"all keys: {names(r)}")
check(r["KeyCount"] == len(every) and not r["IsTruncated"], f"KeyCount {r['KeyCount']}")
now = datetime.datetime.now(datetime.timezone.utc)
for o in r["Contents"]:
    if o["Key"] in etags:
        check(o["ETag"] == etags[o["Key"]], f"ETag of {o['Key']}: {o['ETag']} vs {etags[o['Key']]}")
        check(o["Size"] == len(o["Key"].encode()), f"size of {o['Key']}")
    check(abs((now - o["LastModified"]).total_seconds()) < 300, f"time of {o['Key']}")
    check(o["StorageClass"] == "STANDARD", "storage class")
    check("Owner" not in o, "no owner without FetchOwner")
ups = [o for o in r["Contents"] if o["Key"] == "up/from-backrunner.bin"]
check(len(ups) == 1 and ups[0]["Size"] == 3000, f"/upload/ object listed: {ups}")

# Prefix and delimiter.
r = alice.list_objects_v2(Bucket="b1", Prefix="dir/", Delimiter="/")
check(names(r) == ["dir/1", "dir/2"] and prefixes(r) == ["dir/sub/"], f"dir/: {r}")
check(r["Prefix"] == "dir/" and r["Delimiter"] == "/", "echoed prefix and delimiter")
r = alice.list_objects_v2(Bucket="b1", Delimiter="/")
check(names(r) == ["a.txt", "e f+g", "z€"], f"top keys: {names(r)}")
check(prefixes(r) == ["dir/", "up/", "zz/"], f"top prefixes: {prefixes(r)}")
check(r["KeyCount"] == 6, f"KeyCount counts prefixes: {r['KeyCount']}")
r = alice.list_objects_v2(Bucket="b1", Prefix="nothing/")
check(r["KeyCount"] == 0 and "Contents" not in r, "empty prefix")

# Pages of 2, keys and prefixes together.
r = alice.list_objects_v2(Bucket="b1", Delimiter="/", MaxKeys=2)
check(r["IsTruncated"] and r["KeyCount"] == 2 and "NextContinuationToken" in r, f"page 1: {r}")
seen = names(r) + prefixes(r)
while r["IsTruncated"]:
    r = alice.list_objects_v2(Bucket="b1", Delimiter="/", MaxKeys=2,
                              ContinuationToken=r["NextContinuationToken"])
    check(r["KeyCount"] <= 2, "page size")
    seen += names(r) + prefixes(r)
check(sorted(seen) == sorted(["a.txt", "e f+g", "z€", "dir/", "up/", "zz/"]), f"paged: {seen}")
pages = alice.get_paginator("list_objects_v2").paginate(Bucket="b1", PaginationConfig={"PageSize": 3})
check([k for p in pages for k in names(p)] == every, "paginator")
r = alice.list_objects_v2(Bucket="b1", StartAfter="dir/2")
check(names(r) == [k for k in every if k > "dir/2"], f"StartAfter: {names(r)}")
check(r["StartAfter"] == "dir/2", "StartAfter echoed")
r = alice.list_objects_v2(Bucket="b1", MaxKeys=0)
check(r["KeyCount"] == 0 and r["IsTruncated"], "MaxKeys=0")
r = alice.list_objects_v2(Bucket="b1", FetchOwner=True, Prefix="a")
check(r["Contents"][0]["Owner"]["ID"] == "alice", f"owner: {r['Contents'][0]}")

# V1: Marker, NextMarker with a delimiter, owners always.
r = alice.list_objects(Bucket="b1", MaxKeys=2, Delimiter="/")
check(r["IsTruncated"] and r["NextMarker"] == "dir/", f"V1 page 1: {r}")
check(all("Owner" in o for o in r["Contents"]), "V1 owners")
r = alice.list_objects(Bucket="b1", Marker=r["NextMarker"], Delimiter="/")
check(names(r) == ["e f+g", "z€"] and prefixes(r) == ["up/", "zz/"], f"V1 page 2: {r}")
check(r["Marker"] == "dir/", "Marker echoed")
pages = alice.get_paginator("list_objects").paginate(Bucket="b1", PaginationConfig={"PageSize": 2})
check([k for p in pages for k in names(p)] == every, "V1 paginator (without delimiter: last key)")

# The same through another proxy on the same store, which wrote nothing.
check(names(other.list_objects_v2(Bucket="b1")) == every, "second proxy lists the same")
other.put_object(Bucket="b1", Key="from-second", Body=b"2")
check("from-second" in names(alice.list_objects_v2(Bucket="b1")), "first lists the second's write")

# Deletions leave the listing.
alice.delete_object(Bucket="b1", Key="dir/2")
check("dir/2" not in names(other.list_objects_v2(Bucket="b1")), "deleted key gone")

# Rights: reading lists; no rights, no listing; no bucket, NoSuchBucket.
check(names(reader.list_objects_v2(Bucket="b1", Prefix="dir/")) == ["dir/1", "dir/sub/3"], "reader lists")
try:
    alice.list_objects_v2(Bucket="b3")
    check(False, "alice listed b3")
except ClientError as e:
    check(e.response["Error"]["Code"] == "AccessDenied", f"b3: {e.response['Error']}")
try:
    alice.list_objects_v2(Bucket="nosuchbucket")
    check(False, "listed a missing bucket")
except ClientError as e:
    check(e.response["Error"]["Code"] == "NoSuchBucket", f"missing: {e.response['Error']}")
try:
    alice.list_objects_v2(Bucket="b1", ContinuationToken="not-a-token")
    check(False, "bad token accepted")
except ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidArgument", f"bad token: {e.response['Error']}")

print("OK", checks)
