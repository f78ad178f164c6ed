#!/usr/bin/env python3
"""A multipart upload of SIZE bytes (5 GiB in the test) from a generated
stream, with no file of that size on disk, driven by boto3.

Called by tests/it/s3_multipart_big.rs:
    multipart_big_client.py S3_ENDPOINT HTTP_BASE MODE SIZE PART_MIB
MODE `upload`: upload_fileobj of the stream as big/huge.bin (PART_MIB MiB
parts, 4 in flight), then HeadObject (size, ETag "md5-of-part-md5s-N"
computed here from the stream), ranged GETs at the start, across part
boundaries and at the last byte through S3 (with If-Match) and through
Backrunner's /get/ with Range (riftv1-signed), and one full streaming GET
compared with the stream byte for byte. MODE `delete`: DeleteObject, then
HeadObject is 404.

User alice (secret alice-secret) writes bucket big. Every check raises on
failure; the last line printed is "OK <checks>"; timings go to stderr.
"""

import hashlib
import hmac
import random
import sys
import threading
import time
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

S3, HTTP, MODE, SIZE, PART_MIB = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
MiB = 1 << 20
PART = PART_MIB * MiB
BUCKET, KEY, USER, SECRET = "big", "huge.bin", "alice", "alice-secret"
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# The stream: MiB k is k (8 bytes, little-endian) followed by a window of a
# seeded random block shifted by k, so every MiB differs (a part or a MiB
# stored out of place changes the MD5s) and making one is two memcpys.
BASE = random.Random(16).randbytes(MiB + 4096)


def block(k):
    r = (k * 2654435761) % 4096
    return k.to_bytes(8, "little") + BASE[r + 8:r + MiB]


def read_at(offset, n):
    """n bytes of the stream from offset."""
    out = bytearray()
    while n > 0:
        k, skip = divmod(offset, MiB)
        piece = block(k)[skip:skip + n]
        out += piece
        offset += len(piece)
        n -= len(piece)
    return bytes(out)


class Stream:
    """The first SIZE bytes of the stream as a readable, non-seekable file."""

    def __init__(self):
        self.pos = 0

    def readable(self):
        return True

    def seekable(self):
        return False

    def read(self, n=-1):
        if n is None or n < 0:
            n = SIZE - self.pos
        n = min(n, SIZE - self.pos)
        data = read_at(self.pos, n)
        self.pos += len(data)
        return data


def multipart_etag():
    """The ETag of the stream uploaded in PART-sized parts."""
    parts = []
    for start in range(0, SIZE, PART):
        part = hashlib.md5()
        for off in range(start, min(start + PART, SIZE), MiB):
            part.update(read_at(off, min(MiB, SIZE - off)))
        parts.append(part.digest())
    return '"%s-%d"' % (hashlib.md5(b"".join(parts)).hexdigest(), len(parts))


s3 = boto3.client(
    "s3",
    endpoint_url=S3,
    aws_access_key_id=USER,
    aws_secret_access_key=SECRET,
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                  read_timeout=300, max_pool_connections=8),
)

if MODE == "delete":
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    try:
        s3.head_object(Bucket=BUCKET, Key=KEY)
        raise AssertionError("the object is still there after DeleteObject")
    except ClientError as e:
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, f"HEAD after delete: {e.response}")
    print(f"OK {checks}")
    sys.exit(0)

# The expected ETag, hashed on another core while the upload runs
# (hashlib lets go of the GIL on large buffers).
expected = {}
hasher = threading.Thread(target=lambda: expected.update(etag=multipart_etag()))
hasher.start()

# When CompleteMultipartUpload (the proxy's assembly of the parts) starts and ends.
times = {}
s3.meta.events.register("before-call.s3.CompleteMultipartUpload", lambda **kw: times.update(start=time.time()))
s3.meta.events.register("after-call.s3.CompleteMultipartUpload", lambda **kw: times.update(end=time.time()))

cfg = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)
# Parts read ahead of the senders; each is PART bytes of client memory.
cfg.max_in_memory_upload_chunks = 6
started = time.time()
s3.upload_fileobj(Stream(), BUCKET, KEY, Config=cfg)
up = time.time() - started
hasher.join()
parts = times["start"] - started
complete = times["end"] - times["start"]
log(f"upload of {SIZE >> 20} MiB in {PART_MIB} MiB parts: {up:.1f} s, {SIZE / MiB / up:.0f} MiB/s "
    f"(parts {parts:.1f} s, {SIZE / MiB / parts:.0f} MiB/s; CompleteMultipartUpload, the assembly, "
    f"{complete:.1f} s, {SIZE / MiB / complete:.0f} MiB/s)")

head = s3.head_object(Bucket=BUCKET, Key=KEY)
check(head["ContentLength"] == SIZE, f"HeadObject size {head['ContentLength']} != {SIZE}")
check(head["ETag"] == expected["etag"], f"HeadObject ETag {head['ETag']} != {expected['etag']}")

# Ranges as (first, last): the start, across the first and a middle part
# boundary, a MiB across the last boundary, the last byte, the last 100.
nparts = (SIZE + PART - 1) // PART
mid = (nparts // 2) * PART
last_boundary = (nparts - 1) * PART
ranges = [(0, 99), (PART - 10, PART + 9), (mid - 1, mid), (last_boundary - MiB // 2, last_boundary + MiB // 2 - 1),
          (SIZE - 1, SIZE - 1), (SIZE - 100, SIZE - 1)]
for first, last in ranges:
    want = read_at(first, last - first + 1)
    r = s3.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes={first}-{last}", IfMatch=head["ETag"])
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 206, f"S3 range {first}-{last}: status")
    check(r["ContentRange"] == f"bytes {first}-{last}/{SIZE}", f"S3 Content-Range {r['ContentRange']}")
    check(r["Body"].read() == want, f"S3 range {first}-{last}: bytes differ")
    path = f"/get/{BUCKET}/{KEY}"
    sig = hmac.new(SECRET.encode(), f"GET\n{path}\n".encode(), hashlib.sha512).hexdigest()
    req = urllib.request.Request(HTTP + path, headers={"Range": f"bytes={first}-{last}",
                                                       "Authorization": f"riftv1 {USER}:{sig}"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        check(resp.status == 206, f"/get/ range {first}-{last}: status {resp.status}")
        check(resp.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}",
              f"/get/ Content-Range {resp.headers['Content-Range']}")
        check(resp.read() == want, f"/get/ range {first}-{last}: bytes differ")

# The whole object, streamed and compared with the stream as it comes
# (byte for byte: stricter than comparing MD5s, and cheaper than hashing
# 5 GiB twice more on a loaded CI machine).
started = time.time()
body = s3.get_object(Bucket=BUCKET, Key=KEY, IfMatch=head["ETag"])["Body"]
got = 0
for chunk in body.iter_chunks(MiB):
    if chunk != read_at(got, len(chunk)):
        raise AssertionError(f"full GET: the bytes differ in {got}..{got + len(chunk)}")
    got += len(chunk)
down = time.time() - started
check(got == SIZE, f"full GET: {got} bytes of {SIZE}")
log(f"full GET of {SIZE >> 20} MiB: {down:.1f} s, {SIZE / MiB / down:.0f} MiB/s")

print(f"OK {checks}")
