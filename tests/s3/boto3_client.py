#!/usr/bin/env python3
"""Drives the proxy's S3 API with boto3, the real AWS SDK for Python.

Called by tests/it/s3.rs:
    boto3_client.py ENDPOINT BACKRUNNER_URL WORKDIR
WORKDIR holds `from-backrunner.bin` (an object uploaded through /upload/
as b1/from-backrunner.bin); the script leaves `from-s3.bin` there after
putting it as b1/from-s3.bin, so the Rust side reads it back through /get/.

Users (see tests/it/s3.rs): alice may write b1 and read b2; reader may read
b1; b2 lets `*` read. Every check raises on failure; the last line printed
is "OK <checks>".
"""

import datetime
import hashlib
import hmac
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, BACKRUNNER, WORKDIR = sys.argv[1], sys.argv[2], sys.argv[3]
REGION = "us-east-1"
# Elliptics refuses zero-length writes (docs/s3.md).
ELLIPTICS = os.environ.get("BACKRUNNER_TEST_BACKEND") == "elliptics"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def client(key, secret, **cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


def error_of(fn, *args, **kwargs):
    """Runs a call that must fail; answers (code, status, response)."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response
    raise AssertionError(f"{fn.__name__}{args} {kwargs} succeeded, an error was expected")


alice = client("alice", "alice-secret")
reader = client("reader", "reader-secret")

# PutObject / GetObject / HeadObject, small and larger than one store chunk.
for key, size in [("small.txt", 11), ("dir/sub/two chunks+.bin", (1 << 20) + 3), ("empty", 0)]:
    body = os.urandom(size)
    if size == 0 and ELLIPTICS:
        code, status, _ = error_of(alice.put_object, Bucket="b1", Key=key, Body=body)
        check((code, status) == ("NotImplemented", 501), f"empty PUT on Elliptics: {code} {status}")
        continue
    put = alice.put_object(Bucket="b1", Key=key, Body=body)
    check(put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), f"PUT {key} ETag {put['ETag']}")
    check(put["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"), "x-amz-request-id on PUT")
    got = alice.get_object(Bucket="b1", Key=key)
    check(got["Body"].read() == body, f"GET {key} returns the bytes put")
    check(got["ContentLength"] == size, f"GET {key} ContentLength")
    head = reader.head_object(Bucket="b1", Key=key)
    check(head["ContentLength"] == size, f"HEAD {key} ContentLength {head['ContentLength']}")
    check(head["ETag"] == got["ETag"] == put["ETag"], "PUT, GET and HEAD agree on the MD5 ETag")
    check(isinstance(head["LastModified"], datetime.datetime), "HEAD LastModified")

# Metadata kept per object (a sidecar, docs/s3.md).
alice.put_object(Bucket="b1", Key="meta.bin", Body=b"with metadata", ContentType="application/x-test",
                 CacheControl="max-age=60", ContentDisposition="inline", ContentEncoding="identity",
                 Metadata={"color": "blue", "Shape": "round"})
for h in (alice.head_object(Bucket="b1", Key="meta.bin"), alice.get_object(Bucket="b1", Key="meta.bin")):
    check(h["ContentType"] == "application/x-test", f"stored Content-Type: {h['ContentType']}")
    check(h["CacheControl"] == "max-age=60", "stored Cache-Control")
    check(h["ContentDisposition"] == "inline", "stored Content-Disposition")
    check(h["ContentEncoding"] == "identity", "stored Content-Encoding")
    check(h["Metadata"] == {"color": "blue", "shape": "round"}, f"x-amz-meta-*: {h['Metadata']}")
big = {"k": "v" * 2100}
code, status, _ = error_of(alice.put_object, Bucket="b1", Key="meta-big", Body=b"x", Metadata=big)
check((code, status) == ("MetadataTooLarge", 400), f"2 KiB metadata limit: {code} {status}")
# Rewritten through Backrunner's /upload/, the object no longer carries the S3 metadata.
def riftv1(method, path, body=None):
    sig = hmac.new(b"alice-secret", f"{method}\n{path}\n".encode(), hashlib.sha512).hexdigest()
    req = urllib.request.Request(BACKRUNNER + path, data=body, method=method,
                                 headers={"Authorization": f"riftv1 alice:{sig}"})
    with urllib.request.urlopen(req) as resp:
        return resp.status, resp.read()
status, _ = riftv1("POST", "/upload/b1/meta.bin", b"rewritten by backrunner")
check(status == 200, "/upload/ over an S3 object")
h = alice.head_object(Bucket="b1", Key="meta.bin")
check(h.get("Metadata") == {} and h["ContentType"] == "application/octet-stream",
      f"stale metadata is not served: {h.get('Metadata')} {h['ContentType']}")
check(h["ETag"] != '"%s"' % hashlib.md5(b"with metadata").hexdigest(), "stale ETag is not served")
check(alice.get_object(Bucket="b1", Key="meta.bin")["Body"].read() == b"rewritten by backrunner",
      "/upload/ bytes read through S3")

# Keys that need escaping in a URL path.
for key in ["a b/c+d=e&f?g#h", "тест/ключ 🦀.txt", "100% ~done!*'()", "trailing/"]:
    alice.put_object(Bucket="b1", Key=key, Body=key.encode())
    check(alice.get_object(Bucket="b1", Key=key)["Body"].read() == key.encode(), f"key {key!r}")

# Ranged GET.
body = bytes(range(256)) * 4
alice.put_object(Bucket="b1", Key="ranged", Body=body)
r = alice.get_object(Bucket="b1", Key="ranged", Range="bytes=0-9")
check(r["Body"].read() == body[:10], "Range bytes=0-9")
check(r["ContentRange"] == "bytes 0-9/1024", f"ContentRange {r['ContentRange']}")
check(r["ResponseMetadata"]["HTTPStatusCode"] == 206, "206 on a range")
r = alice.get_object(Bucket="b1", Key="ranged", Range="bytes=-100")
check(r["Body"].read() == body[-100:], "suffix range")
r = alice.get_object(Bucket="b1", Key="ranged", Range="bytes=1000-")
check(r["Body"].read() == body[1000:], "open range")
code, status, resp = error_of(alice.get_object, Bucket="b1", Key="ranged", Range="bytes=2000-")
check((code, status) == ("InvalidRange", 416), f"unsatisfiable range: {code} {status}")

# Conditional GET.
etag = alice.head_object(Bucket="b1", Key="ranged")["ETag"]
code, status, _ = error_of(alice.get_object, Bucket="b1", Key="ranged", IfMatch='"nope"')
check((code, status) == ("PreconditionFailed", 412), f"If-Match: {code} {status}")
check(alice.get_object(Bucket="b1", Key="ranged", IfMatch=etag)["Body"].read() == body, "If-Match ok")
code, status, _ = error_of(alice.get_object, Bucket="b1", Key="ranged", IfNoneMatch=etag)
check(status == 304, f"If-None-Match: {status}")
future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
code, status, _ = error_of(alice.get_object, Bucket="b1", Key="ranged", IfModifiedSince=future)
check(status == 304, f"If-Modified-Since: {status}")
code, status, _ = error_of(alice.get_object, Bucket="b1", Key="ranged", IfUnmodifiedSince=past)
check((code, status) == ("PreconditionFailed", 412), f"If-Unmodified-Since: {code} {status}")

# response-* overrides.
r = alice.get_object(Bucket="b1", Key="ranged", ResponseContentType="text/x-test",
                     ResponseContentDisposition="attachment; filename=r.bin")
check(r["ContentType"] == "text/x-test", f"response-content-type: {r['ContentType']}")
check(r["ContentDisposition"] == "attachment; filename=r.bin", "response-content-disposition")

# The object Backrunner's /upload/ stored, byte for byte.
with open(os.path.join(WORKDIR, "from-backrunner.bin"), "rb") as f:
    expected = f.read()
check(alice.get_object(Bucket="b1", Key="from-backrunner.bin")["Body"].read() == expected,
      "an object uploaded through /upload/ reads back through S3")
# ...and one for /get/ to read.
with open(os.path.join(WORKDIR, "from-s3.src"), "rb") as f:
    alice.put_object(Bucket="b1", Key="from-s3.bin", Body=f.read())

# DeleteObject.
alice.put_object(Bucket="b1", Key="doomed", Body=b"x")
d = alice.delete_object(Bucket="b1", Key="doomed")
check(d["ResponseMetadata"]["HTTPStatusCode"] == 204, "DELETE answers 204")
code, status, resp = error_of(alice.get_object, Bucket="b1", Key="doomed")
check((code, status) == ("NoSuchKey", 404), f"GET after DELETE: {code} {status}")
check(resp["Error"].get("Resource") == "/b1/doomed", f"Resource {resp['Error']}")
check(len(resp["ResponseMetadata"].get("RequestId", "")) == 16, f"RequestId of the error {resp['ResponseMetadata']}")
code, status, _ = error_of(alice.head_object, Bucket="b1", Key="doomed")
check(status == 404, f"HEAD after DELETE: {status}")
check(alice.delete_object(Bucket="b1", Key="doomed")["ResponseMetadata"]["HTTPStatusCode"] == 204,
      "DELETE of a missing key is 204 as S3")

# Buckets.
check(alice.head_bucket(Bucket="b1")["ResponseMetadata"]["HTTPStatusCode"] == 200, "HeadBucket")
code, status, _ = error_of(alice.head_bucket, Bucket="no-such-bucket")
check(status == 404, f"HeadBucket of a missing bucket: {status}")
code, status, _ = error_of(alice.get_object, Bucket="no-such-bucket", Key="k")
check((code, status) == ("NoSuchBucket", 404), f"missing bucket: {code} {status}")
names = [b["Name"] for b in alice.list_buckets()["Buckets"]]
check(names == ["b1", "b2"], f"ListBuckets for alice: {names}")
names = [b["Name"] for b in reader.list_buckets()["Buckets"]]
check(names == ["b1"], f"ListBuckets for reader: {names}")
loc = alice.get_bucket_location(Bucket="b1")
check(loc.get("LocationConstraint") in (None, ""), f"GetBucketLocation {loc}")

# Rights and credentials.
code, status, _ = error_of(reader.put_object, Bucket="b1", Key="nope", Body=b"x")
check((code, status) == ("AccessDenied", 403), f"reader PUT: {code} {status}")
code, status, _ = error_of(reader.delete_object, Bucket="b1", Key="small.txt")
check((code, status) == ("AccessDenied", 403), f"reader DELETE: {code} {status}")
code, status, _ = error_of(alice.put_object, Bucket="b2", Key="nope", Body=b"x")
check((code, status) == ("AccessDenied", 403), f"alice PUT to read-only b2: {code} {status}")
code, status, _ = error_of(client("alice", "wrong").get_object, Bucket="b1", Key="small.txt")
check((code, status) == ("SignatureDoesNotMatch", 403), f"wrong secret: {code} {status}")
code, status, _ = error_of(client("mallory", "x").get_object, Bucket="b1", Key="small.txt")
check((code, status) == ("InvalidAccessKeyId", 403), f"unknown key: {code} {status}")

# Anonymous: only where the ACL lets `*` read.
anon = client(None, None, signature_version=botocore.UNSIGNED)
alice_b2 = b"public bytes"
code, status, _ = error_of(anon.get_object, Bucket="b1", Key="small.txt")
check((code, status) == ("AccessDenied", 403), f"anonymous GET from b1: {code} {status}")
code, status, _ = error_of(anon.get_object, Bucket="b2", Key="missing")
check((code, status) == ("NoSuchKey", 404), f"anonymous GET from public b2: {code} {status}")
code, status, _ = error_of(anon.put_object, Bucket="b2", Key="x", Body=b"x")
check((code, status) == ("AccessDenied", 403), f"anonymous PUT to b2: {code} {status}")

# Listing (tests/s3/list_client.py checks it in depth).
listed = [o["Key"] for o in alice.list_objects_v2(Bucket="b1").get("Contents", [])]
check("from-backrunner.bin" in listed, f"ListObjectsV2: {listed}")


# Requests boto3 would never send, signed here with a small independent
# SigV4 implementation (hashlib/hmac).
def raw(method, path, body=b"", payload_hash=None, when=None, region=REGION,
        key="alice", secret="alice-secret"):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    host = urllib.parse.urlparse(ENDPOINT).netloc
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method, urllib.parse.quote(path, safe="/~"), "",
        "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload_hash])
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={key}/{scope},SignedHeaders={signed},Signature={sig}"
    req = urllib.request.Request(ENDPOINT + urllib.parse.quote(path, safe="/~"), data=body if method == "PUT" else None,
                                 method=method, headers={k: v for k, v in headers.items() if k != "host"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


status, _ = raw("PUT", "/b1/raw-ok", b"raw body")
check(status == 200, f"independently signed PUT: {status}")
check(alice.get_object(Bucket="b1", Key="raw-ok")["Body"].read() == b"raw body", "raw PUT stored")
status, _ = raw("PUT", "/b1/raw-unsigned", b"unsigned body", payload_hash="UNSIGNED-PAYLOAD")
check(status == 200, f"UNSIGNED-PAYLOAD PUT: {status}")
status, text = raw("PUT", "/b1/raw-bad-sha", b"the real body", payload_hash=hashlib.sha256(b"another").hexdigest())
check(status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in text, f"SHA-256 mismatch: {status} {text}")
code, status, _ = error_of(alice.head_object, Bucket="b1", Key="raw-bad-sha")
check(status == 404, "a body that does not match its SHA-256 is not stored")
big = os.urandom(3 << 20)
status, text = raw("PUT", "/b1/raw-bad-sha-big", big, payload_hash=hashlib.sha256(big[:-1]).hexdigest())
check(status == 400 and b"XAmzContentSHA256Mismatch" in text, f"SHA-256 mismatch, 3 MiB: {status}")
code, status, _ = error_of(alice.head_object, Bucket="b1", Key="raw-bad-sha-big")
check(status == 404, "a 3 MiB body that does not match its SHA-256 is not stored")
# A failed write never makes its bytes visible. The embedded store keeps the
# previous object; so does Elliptics for a body that fits one store write
# (1 MiB), while a larger one has overwritten the old record in place by the
# time the mismatch shows, so the key then reads as missing (docs/s3.md).
for size in (100, 3 << 20):
    alice.put_object(Bucket="b1", Key="keep", Body=b"the old bytes")
    new = os.urandom(size)
    status, _ = raw("PUT", "/b1/keep", new, payload_hash=hashlib.sha256(b"not it").hexdigest())
    check(status == 400, f"mismatched overwrite of {size} bytes: {status}")
    if ELLIPTICS and size > (1 << 20):
        code, status, _ = error_of(alice.get_object, Bucket="b1", Key="keep")
        check((code, status) == ("NoSuchKey", 404), f"Elliptics, mismatched {size}-byte overwrite: {code}")
        continue
    check(alice.get_object(Bucket="b1", Key="keep")["Body"].read() == b"the old bytes",
          f"a mismatched {size}-byte overwrite keeps the old object")
    h = alice.head_object(Bucket="b1", Key="keep")
    check(h["ETag"] == '"%s"' % hashlib.md5(b"the old bytes").hexdigest(), "and its metadata")
stale = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)
status, text = raw("GET", "/b1/raw-ok", when=stale)
check(status == 403 and b"<Code>RequestTimeTooSkewed</Code>" in text, f"skewed clock: {status} {text}")
near = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=14)
status, text = raw("GET", "/b1/raw-ok", when=near)
check(status == 200 and text == b"raw body", f"14 minutes of skew is allowed: {status}")
status, text = raw("GET", "/b1/raw-ok", secret="nope")
check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in text, f"raw bad secret: {status}")

print(f"OK {checks}")
