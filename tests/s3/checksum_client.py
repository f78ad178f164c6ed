#!/usr/bin/env python3
"""Checksums of multipart uploads (docs/s3.md "Checksums") driven by boto3
with awscrt, so botocore computes CRC32C and CRC64NVME itself.

Called by tests/it/s3_checksums.rs:
    checksum_client.py ENDPOINT CA_FILE WORKDIR
WORKDIR holds data.bin (3 parts of the 5 MiB chunks used here). Every
expected value is computed here from the bytes (zlib, awscrt.checksums,
hashlib), never taken from the proxy. Objects are left in b1 under ck/ for
the Rust side to read through /get/. The last line printed is "OK <checks>".
"""

import base64
import hashlib
import os
import sys
import zlib

import awscrt.checksums
import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.compat import HAS_CRT
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT, CA_FILE, WORKDIR = sys.argv[1], sys.argv[2], sys.argv[3]
MiB = 1 << 20
PART = 5 * MiB
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


check(HAS_CRT, "botocore sees awscrt")
check(tuple(int(x) for x in botocore.__version__.split(".")[:2]) >= (1, 36), botocore.__version__)


def client(**cfg):
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, verify=CA_FILE,
        aws_access_key_id="alice", aws_secret_access_key="alice-secret", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg))


def error_of(fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")
    raise AssertionError(f"{fn.__name__} succeeded, an error was expected")


RAW = {
    "CRC32": lambda b: zlib.crc32(b).to_bytes(4, "big"),
    "CRC32C": lambda b: awscrt.checksums.crc32c(b).to_bytes(4, "big"),
    "CRC64NVME": lambda b: awscrt.checksums.crc64nvme(b).to_bytes(8, "big"),
    "SHA1": lambda b: hashlib.sha1(b).digest(),
    "SHA256": lambda b: hashlib.sha256(b).digest(),
}


def b64(raw):
    return base64.b64encode(raw).decode()


def full(alg, data):
    return b64(RAW[alg](data))


def composite(alg, parts):
    return b64(RAW[alg](b"".join(RAW[alg](p) for p in parts))) + "-%d" % len(parts)


data = open(os.path.join(WORKDIR, "data.bin"), "rb").read()
parts = [data[i:i + PART] for i in range(0, len(data), PART)]
check(len(parts) == 3, f"3 parts, not {len(parts)}")
c = client()
sent = []
c.meta.events.register("before-send.s3", lambda request, event_name, **kw: sent.append(
    (event_name.split(".")[-1], {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()})))
tc = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=3)


def stored_checksum(key, alg, want, kind):
    """HEAD and GET with ChecksumMode=ENABLED answer `want` (botocore also
    verifies a full-object value against the body it reads); not without
    the mode, nor on a ranged GET."""
    field = "Checksum" + alg
    h = c.head_object(Bucket="b1", Key=key, ChecksumMode="ENABLED")
    check(h.get(field) == want and h.get("ChecksumType") == kind, f"{key}: HEAD {field} {h.get(field)} {h.get('ChecksumType')}, want {want} {kind}")
    check(h["ContentLength"] == len(data), f"{key}: size")
    g = c.get_object(Bucket="b1", Key=key, ChecksumMode="ENABLED")
    check(g["Body"].read() == data, f"{key}: GET body")
    check(g.get(field) == want and g.get("ChecksumType") == kind, f"{key}: GET {field} {g.get(field)}")
    check(field not in c.head_object(Bucket="b1", Key=key), f"{key}: no checksum without the mode")
    r = c.get_object(Bucket="b1", Key=key, ChecksumMode="ENABLED", Range="bytes=5-99")
    check(r["Body"].read() == data[5:100] and field not in r, f"{key}: none on a ranged GET")


def upload(key, **extra):
    sent.clear()
    c.upload_file(os.path.join(WORKDIR, "data.bin"), "b1", key, ExtraArgs=extra or None, Config=tc)
    creates = [h for op, h in sent if op == "CreateMultipartUpload"]
    check(len(creates) == 1, f"{key}: one CreateMultipartUpload, sent {[op for op, _ in sent]}")
    return creates[0]


# --- upload_file with boto3's default checksum: CRC32, composite as S3 makes it.
h = upload("ck/default")
check(h.get("x-amz-checksum-algorithm") == "CRC32", f"boto3's default algorithm: {h}")
part_heads = [h for op, h in sent if op == "UploadPart"]
check(len(part_heads) == 3 and all("x-amz-checksum-crc32" in h or h.get("x-amz-trailer") == "x-amz-checksum-crc32"
                                   for h in part_heads), f"every part sent its CRC32: {part_heads}")
stored_checksum("ck/default", "CRC32", composite("CRC32", parts), "COMPOSITE")

# --- ChecksumAlgorithm alone: composite for CRC32C and SHA256, full object for CRC64NVME.
for alg, kind in [("CRC32C", "COMPOSITE"), ("SHA256", "COMPOSITE"), ("CRC64NVME", "FULL_OBJECT")]:
    key = "ck/alg-" + alg
    h = upload(key, ChecksumAlgorithm=alg)
    check(h.get("x-amz-checksum-algorithm") == alg, f"{alg}: {h}")
    want = composite(alg, parts) if kind == "COMPOSITE" else full(alg, data)
    stored_checksum(key, alg, want, kind)

# --- A full-object value given to upload_file: boto3 creates the upload
# FULL_OBJECT and sends the value on Complete, where it is verified.
for alg in ["CRC32C", "CRC32", "CRC64NVME"]:
    key = "ck/full-" + alg
    h = upload(key, **{"Checksum" + alg: full(alg, data)})
    check(h.get("x-amz-checksum-type") == "FULL_OBJECT", f"{alg}: created FULL_OBJECT: {h}")
    done = [h for op, h in sent if op == "CompleteMultipartUpload"][0]
    check(done.get("x-amz-checksum-" + alg.lower()) == full(alg, data), f"{alg}: Complete names the value: {done}")
    stored_checksum(key, alg, full(alg, data), "FULL_OBJECT")
wrong = full("CRC32C", data[1:])
try:
    upload("ck/full-wrong", ChecksumCRC32C=wrong)
    raise AssertionError("a wrong full-object CRC32C was accepted on Complete")
except boto3.exceptions.S3UploadFailedError as e:
    check("BadDigest" in str(e), f"wrong full-object value: {e}")
code, _ = error_of(c.head_object, Bucket="b1", Key="ck/full-wrong")
check(code == "404", "nothing stored after BadDigest")

# --- The low-level API: what each call answers and lists.
up = c.create_multipart_upload(Bucket="b1", Key="ck/low", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
uid = up["UploadId"]
check(up.get("ChecksumAlgorithm") == "CRC32" and up.get("ChecksumType") == "FULL_OBJECT", f"Create echoes: {up}")
etags = []
for n, p in enumerate(parts, 1):
    r = c.upload_part(Bucket="b1", Key="ck/low", UploadId=uid, PartNumber=n, Body=p, ChecksumAlgorithm="CRC32")
    check(r.get("ChecksumCRC32") == full("CRC32", p), f"UploadPart {n} answers its CRC32: {r}")
    etags.append(r["ETag"])
lp = c.list_parts(Bucket="b1", Key="ck/low", UploadId=uid)
check(lp.get("ChecksumAlgorithm") == "CRC32" and lp.get("ChecksumType") == "FULL_OBJECT", f"ListParts: {lp}")
check([p.get("ChecksumCRC32") for p in lp["Parts"]] == [full("CRC32", p) for p in parts], f"ListParts parts: {lp['Parts']}")
lu = [u for u in c.list_multipart_uploads(Bucket="b1", Prefix="ck/low")["Uploads"] if u["UploadId"] == uid]
check(lu and lu[0].get("ChecksumAlgorithm") == "CRC32" and lu[0].get("ChecksumType") == "FULL_OBJECT", f"ListMultipartUploads: {lu}")
named = [{"PartNumber": n, "ETag": e, "ChecksumCRC32": full("CRC32", p)} for n, (e, p) in enumerate(zip(etags, parts), 1)]
code, msg = error_of(c.complete_multipart_upload, Bucket="b1", Key="ck/low", UploadId=uid,
                     MultipartUpload={"Parts": named}, MpuObjectSize=len(data) + 1)
check(code == "InvalidRequest", f"wrong x-amz-mp-object-size: {code} {msg}")
code, msg = error_of(c.complete_multipart_upload, Bucket="b1", Key="ck/low", UploadId=uid,
                     MultipartUpload={"Parts": named}, ChecksumType="COMPOSITE")
check(code == "BadDigest", f"another checksum type on Complete: {code} {msg}")
swapped = [dict(named[0]), dict(named[1], ChecksumCRC32=named[0]["ChecksumCRC32"]), dict(named[2])]
code, msg = error_of(c.complete_multipart_upload, Bucket="b1", Key="ck/low", UploadId=uid, MultipartUpload={"Parts": swapped})
check(code == "InvalidPart", f"a part checksum unlike the uploaded one: {code} {msg}")
r = c.complete_multipart_upload(Bucket="b1", Key="ck/low", UploadId=uid, MultipartUpload={"Parts": named},
                                ChecksumType="FULL_OBJECT", MpuObjectSize=len(data))
check(r.get("ChecksumCRC32") == full("CRC32", data) and r.get("ChecksumType") == "FULL_OBJECT", f"Complete answers: {r}")
stored_checksum("ck/low", "CRC32", full("CRC32", data), "FULL_OBJECT")

# --- COMPOSITE rules: each part needs the upload's algorithm, on UploadPart and in Complete.
up = c.create_multipart_upload(Bucket="b1", Key="ck/sha", ChecksumAlgorithm="SHA256")
uid = up["UploadId"]
check(up.get("ChecksumType") == "COMPOSITE", f"SHA256 defaults to COMPOSITE: {up}")
code, msg = error_of(c.upload_part, Bucket="b1", Key="ck/sha", UploadId=uid, PartNumber=1, Body=parts[0], ChecksumAlgorithm="CRC32")
check(code == "InvalidRequest" and "sha256" in msg, f"a part of another algorithm: {code} {msg}")
bare = client(request_checksum_calculation="when_required")
code, msg = error_of(bare.upload_part, Bucket="b1", Key="ck/sha", UploadId=uid, PartNumber=1, Body=parts[0])
check(code == "InvalidRequest" and "null" in msg, f"a part without checksum: {code} {msg}")
named = []
for n, p in enumerate(parts, 1):
    r = c.upload_part(Bucket="b1", Key="ck/sha", UploadId=uid, PartNumber=n, Body=p, ChecksumAlgorithm="SHA256")
    named.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    check(r["ChecksumSHA256"] == full("SHA256", p), f"part {n} SHA256")
without = [dict(named[0]), {"PartNumber": 2, "ETag": named[1]["ETag"]}, dict(named[2])]
code, msg = error_of(c.complete_multipart_upload, Bucket="b1", Key="ck/sha", UploadId=uid, MultipartUpload={"Parts": without})
check(code == "InvalidRequest" and "part 2" in msg, f"a part checksum missing: {code} {msg}")
code, msg = error_of(c.complete_multipart_upload, Bucket="b1", Key="ck/sha", UploadId=uid,
                     MultipartUpload={"Parts": named}, ChecksumSHA256=full("SHA256", data))
check(code == "BadDigest", f"a full-object value for a composite upload: {code} {msg}")
r = c.complete_multipart_upload(Bucket="b1", Key="ck/sha", UploadId=uid, MultipartUpload={"Parts": named},
                                ChecksumSHA256=composite("SHA256", parts))
check(r.get("ChecksumSHA256") == composite("SHA256", parts) and r.get("ChecksumType") == "COMPOSITE", f"Complete: {r}")
stored_checksum("ck/sha", "SHA256", composite("SHA256", parts), "COMPOSITE")

# --- Types S3 does not allow with an algorithm.
for alg, kind in [("CRC64NVME", "COMPOSITE"), ("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT")]:
    code, msg = error_of(c.create_multipart_upload, Bucket="b1", Key="ck/bad", ChecksumAlgorithm=alg, ChecksumType=kind)
    check(code == "InvalidRequest", f"{alg} {kind}: {code} {msg}")

# --- UploadPartCopy computes the part checksum in the upload's algorithm.
up = c.create_multipart_upload(Bucket="b1", Key="ck/copy", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT")
uid = up["UploadId"]
named = []
for n, p in enumerate(parts, 1):
    first = (n - 1) * PART
    r = c.upload_part_copy(Bucket="b1", Key="ck/copy", UploadId=uid, PartNumber=n, CopySource="b1/ck/default",
                           CopySourceRange=f"bytes={first}-{first + len(p) - 1}")["CopyPartResult"]
    check(r.get("ChecksumCRC32C") == full("CRC32C", p), f"UploadPartCopy {n}: {r}")
    named.append({"PartNumber": n, "ETag": r["ETag"]})
r = c.complete_multipart_upload(Bucket="b1", Key="ck/copy", UploadId=uid, MultipartUpload={"Parts": named})
check(r.get("ChecksumCRC32C") == full("CRC32C", data), f"Complete of copied parts: {r}")
stored_checksum("ck/copy", "CRC32C", full("CRC32C", data), "FULL_OBJECT")

print(f"OK {checks}")
