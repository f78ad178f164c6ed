#!/usr/bin/env bash
# Memory and throughput of S3 multipart uploads: starts the proxy (BIN,
# default the release build) on the embedded store (one group, bucket b1
# in it) with the S3 listener, and CLIENTS (default 8) boto3 processes
# each upload_file a SIZE_MIB (default 1024) MiB file at once (multipart,
# boto3's defaults: 8 MiB parts, 10 threads per client, so 80 parts in
# flight), then complete (the proxy assembles the parts into the object).
# Samples the proxy's RSS every 0.2 s and prints its peak (VmHWM), the
# upload time and the rate; then downloads one object back and compares.
# Needs python3 with boto3, curl, and SIZE_MIB * (CLIENTS * 2 + 2) of disk
# (parts and objects, the source file and one download).
# Usage: [BIN=...] [CLIENTS=8] [SIZE_MIB=1024] bench/multipart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/backrunner}
bmeta=${BMETA:-$(dirname "$bin")/bmeta}
clients=${CLIENTS:-8}
size_mib=${SIZE_MIB:-1024}
dir=$(mktemp -d -p "${TMPDIR_BENCH:-/tmp}")
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port)
s3=$(port)
cat > "$dir/config.json" <<JSON
{"elliptics": {"metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$http", "s3-address": "127.0.0.1:$s3"},
 "local": {"path": "$dir/store", "groups": [{"group": 1}]}}
JSON
echo '{"buckets": {"b1": {"groups": [1], "acl": [{"user": "bench", "token": "bench-secret", "flags": 2}]}}}' > "$dir/buckets.json"
printf 'b1\n' > "$dir/buckets.txt"
"$bmeta" -config "$dir/config.json" -upload "$dir/buckets.json" >/dev/null
RUST_LOG=warn "$bin" -config "$dir/config.json" -buckets "$dir/buckets.txt" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/ping/" >/dev/null && break; sleep 0.1; done
head -c $((size_mib << 20)) /dev/urandom > "$dir/src.bin"
python3 - "$s3" "$pid" "$clients" "$dir" <<'PY'
import filecmp, multiprocessing, os, sys, threading, time
import boto3
from botocore.config import Config
port, pid, clients, work = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def client():
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="bench",
                        aws_secret_access_key="bench-secret", region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, read_timeout=120))
def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
def upload(i):
    client().upload_file(os.path.join(work, "src.bin"), "b1", f"obj{i}")
samples = []
done = threading.Event()
def sample():
    while not done.is_set():
        samples.append(status("VmRSS"))
        time.sleep(0.2)
with open(f"/proc/{pid}/clear_refs", "w") as f:
    f.write("5")
rest = status("VmRSS")
t = threading.Thread(target=sample)
t.start()
t0 = time.time()
with multiprocessing.Pool(clients) as pool:
    pool.map(upload, range(clients))
took = time.time() - t0
done.set()
t.join()
size = os.path.getsize(os.path.join(work, "src.bin"))
print(f"{clients} clients x {size >> 20} MiB: {took:.1f} s, {clients * size / took / 2**20:.0f} MiB/s total "
      f"(parts and assembly); RSS at rest {rest:.1f} MiB, peak sampled {max(samples):.1f} MiB, "
      f"VmHWM {status('VmHWM'):.1f} MiB")
client().download_file("b1", "obj0", os.path.join(work, "back.bin"))
print("read back:", "same bytes" if filecmp.cmp(os.path.join(work, "src.bin"), os.path.join(work, "back.bin"), shallow=False) else "DIFFERENT")
PY
