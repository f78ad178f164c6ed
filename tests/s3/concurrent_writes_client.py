#!/usr/bin/env python3
"""Concurrent writes of the same key through boto3 (tests/it/write_races.rs):
    concurrent_writes_client.py ENDPOINT [ROUNDS]
In each of ROUNDS rounds (default 40), 8 threads released together put
one key of bucket b1 (one of them deletes it instead, every third round),
each write with its own body, size, Content-Type and x-amz-meta. After
each round the key's object, HeadObject's metadata and listing entry must
describe the same write, or the key must be gone from all three.
Every check raises on failure; the last line printed is "OK <checks>".
"""

import hashlib
import random
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
KEYS = [f"race/k{i:02}" for i in range(12)]
WRITERS = 8


def client():
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, aws_access_key_id="alice",
        aws_secret_access_key="alice-secret", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      max_pool_connections=4))


counts = {"put": 0, "delete": 0}
lock = threading.Lock()
errors = []
start = threading.Barrier(WRITERS + 1)
done = threading.Barrier(WRITERS + 1)


def writer(n):
    s3 = client()
    rnd = random.Random(n)
    for r in range(ROUNDS):
        key = KEYS[r % len(KEYS)]
        tag = f"w{n}-r{r}"
        start.wait()
        try:
            if n == 0 and r % 3 == 2:
                s3.delete_object(Bucket="b1", Key=key)
                what = "delete"
            else:
                # Sizes differ per write, so a listing entry of another write shows.
                body = (tag.encode() + b"|") * rnd.randint(1, 4000)
                s3.put_object(Bucket="b1", Key=key, Body=body,
                              ContentType=f"application/x-{tag}", Metadata={"writer": tag})
                what = "put"
            with lock:
                counts[what] += 1
        except ClientError as e:
            with lock:
                errors.append(f"{key}: {e}")
        done.wait()


def listed(s3, key):
    page = s3.list_objects_v2(Bucket="b1", Prefix=key, MaxKeys=1)
    for o in page.get("Contents", []):
        if o["Key"] == key:
            return o
    return None


def check_key(s3, key):
    """The mismatches of `key`; (checks made, [what differs])."""
    entry = listed(s3, key)
    try:
        obj = s3.get_object(Bucket="b1", Key=key)
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
            raise
        if entry is not None:
            return 1, [f"{key}: deleted but listed ({entry['Size']} bytes)"]
        return 1, []
    body = obj["Body"].read()
    tag = body.split(b"|", 1)[0].decode()
    md5 = '"' + hashlib.md5(body).hexdigest() + '"'
    head = s3.head_object(Bucket="b1", Key=key)
    got = {
        "get etag": obj["ETag"],
        "head etag": head["ETag"],
        "content-type": head["ContentType"],
        "meta": head["Metadata"].get("writer"),
        "listed size": entry and entry["Size"],
        "listed etag": entry and entry["ETag"],
    }
    want = {
        "get etag": md5,
        "head etag": md5,
        "content-type": f"application/x-{tag}",
        "meta": tag,
        "listed size": len(body),
        "listed etag": md5,
    }
    bad = [f"{key} (body of {tag}): {k} {got[k]!r}, want {want[k]!r}"
           for k in want if got[k] != want[k]]
    return len(want), bad


threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
for t in threads:
    t.start()
s3 = client()
checks = 0
mismatches = []
for r in range(ROUNDS):
    start.wait()
    done.wait()
    n, bad = check_key(s3, KEYS[r % len(KEYS)])
    checks += n
    mismatches += bad
for t in threads:
    t.join()
if errors:
    raise AssertionError(f"{len(errors)} writes failed, first: {errors[0]}")
print(f"writes: {counts['put']} puts, {counts['delete']} deletes in {ROUNDS} rounds")
if mismatches:
    raise AssertionError(f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches))
print(f"OK {checks}")
