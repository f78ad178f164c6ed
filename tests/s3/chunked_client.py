"""Hand-built aws-chunked PutObject requests against the S3 listener
(tests/it/s3_wire.rs): signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD),
signed chunks with a signed trailer (...-PAYLOAD-TRAILER), unsigned with a
trailer, and a plain body sent with Transfer-Encoding: chunked, each with
Content-Length or chunked transfer; and the same with a broken chunk
signature, trailer signature or checksum, which must store nothing.

The signer here is written from the S3 guide, independently of the Rust
one. Usage: chunked_client.py PORT ACCESS_KEY SECRET BUCKET
Prints "OK <checks>" at the end; any failure exits non-zero.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import zlib

PORT, ACCESS, SECRET, BUCKET = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
REGION = "us-east-1"
EMPTY = hashlib.sha256(b"").hexdigest()
checks = 0


def hm(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(date):
    k = hm(("AWS4" + SECRET).encode(), date)
    for part in (REGION, "s3", "aws4_request"):
        k = hm(k, part)
    return k


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def encode(body, chunk, key, amz_date, scope, seed, trailer, tamper):
    """The aws-chunked body: chunks signed in a chain from `seed`;
    `trailer` is a list of (name, value) (None: no trailer);
    `tamper` in (None, "chunk", "trailer-sig") breaks one signature."""
    out, prev = [], seed
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] + [b""]
    for n, data in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY,
                         hashlib.sha256(data).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if tamper == "chunk" and n == 1:
            sig = "0" * 64
        out.append(b"%x;chunk-signature=%s\r\n" % (len(data), sig.encode()))
        if data:
            out.append(data + b"\r\n")
    if trailer is None:
        out.append(b"\r\n")
    else:
        canonical = "".join(f"{k}:{v}\n" for k, v in trailer)
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev,
                         hashlib.sha256(canonical.encode()).hexdigest()])
        tsig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if tamper == "trailer-sig":
            tsig = "f" * 64
        for k, v in trailer:
            out.append(f"{k}:{v}\r\n".encode())
        out.append(f"x-amz-trailer-signature:{tsig}\r\n\r\n".encode())
    return b"".join(out)


def put(key, body, mode, chunked_transfer=False, chunk=65536, tamper=None, bad_checksum=False):
    """Sends one PutObject; answers (status, reply body)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = f"{date}/{REGION}/s3/aws4_request"
    path = f"/{BUCKET}/{key}"
    headers = {"host": f"127.0.0.1:{PORT}", "x-amz-date": amz_date}
    checksum = crc32_b64(body if not bad_checksum else body + b"x")
    trailer = None
    if mode == "signed":
        headers["x-amz-content-sha256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    elif mode == "signed-trailer":
        headers["x-amz-content-sha256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
        trailer = [("x-amz-checksum-crc32", checksum)]
    elif mode == "unsigned-trailer":
        headers["x-amz-content-sha256"] = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    elif mode == "plain":
        headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        headers["x-amz-checksum-crc32"] = checksum
    else:
        raise ValueError(mode)
    if mode != "plain":
        headers["content-encoding"] = "aws-chunked"
    headers["x-amz-decoded-content-length"] = str(len(body))
    key_bytes = signing_key(date)

    def make(seed, k):
        if mode in ("signed", "signed-trailer"):
            return encode(body, chunk, k, amz_date, scope, seed, trailer, tamper)
        if mode == "unsigned-trailer":
            parts = [b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
                     for i in range(0, len(body), chunk)]
            return b"".join(parts) + f"0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
        return body

    if not chunked_transfer:
        # The encoded length does not depend on the signatures' values.
        headers["content-length"] = str(len(make("0" * 64, b"k")))
    signed = sorted(headers)
    canonical = "\n".join([
        "PUT", path, "",
        "".join(f"{h}:{headers[h]}\n" for h in signed),
        ";".join(signed),
        headers["x-amz-content-sha256"],
    ])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    seed = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS}/{scope},"
        f"SignedHeaders={';'.join(signed)},Signature={seed}")
    payload = make(seed, key_bytes)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    if chunked_transfer:
        pieces = [payload[i:i + 10000] for i in range(0, len(payload), 10000)]
        headers["transfer-encoding"] = "chunked"
        conn.request("PUT", path, body=iter(pieces), headers=headers, encode_chunked=True)
    else:
        conn.request("PUT", path, body=payload, headers=headers)
    r = conn.getresponse()
    text = r.read().decode(errors="replace")
    etag = r.getheader("ETag")
    conn.close()
    return r.status, text, etag


def check(cond, what):
    global checks
    if not cond:
        sys.exit(f"FAILED: {what}")
    checks += 1


body = os.urandom(200_000 + 17)
md5 = '"%s"' % hashlib.md5(body).hexdigest()
with open(os.environ["CHUNKED_BODY_FILE"], "wb") as f:
    f.write(body)
for mode in ("signed", "signed-trailer", "unsigned-trailer", "plain"):
    for te in (False, True):
        if mode == "plain" and not te:
            continue
        key = f"chunked/{mode}/{'te' if te else 'cl'}"
        status, text, etag = put(key, body, mode, chunked_transfer=te)
        check(status == 200, f"{key}: {status} {text}")
        check(etag == md5, f"{key}: ETag {etag} != {md5}")
        print(key, "stored")

bad = [
    ("signed", dict(tamper="chunk"), 403, "SignatureDoesNotMatch"),
    ("signed-trailer", dict(tamper="chunk"), 403, "SignatureDoesNotMatch"),
    ("signed-trailer", dict(tamper="trailer-sig"), 403, "SignatureDoesNotMatch"),
    ("signed-trailer", dict(bad_checksum=True), 400, "BadDigest"),
    ("unsigned-trailer", dict(bad_checksum=True), 400, "BadDigest"),
    ("plain", dict(bad_checksum=True, chunked_transfer=True), 400, "BadDigest"),
]
for i, (mode, kw, want, code) in enumerate(bad):
    key = f"chunked/bad/{i}"
    status, text, _ = put(key, body, mode, **kw)
    check(status == want and f"<Code>{code}</Code>" in text, f"{key} {mode} {kw}: {status} {text}")
    print(key, "refused", status, code)
print("OK", checks)
