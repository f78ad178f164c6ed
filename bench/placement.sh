#!/usr/bin/env bash
# Cost of automatic placement: small uploads per second through
# /nobucket_upload/ (pain model, cost feedback) against /upload/BUCKET/ on the
# same proxy, side by side, interleaved runs; prints requests/s and the ratio.
# Also prints /metrics scrape time with 3 backends. The store lives on
# /dev/shm when it exists, so disk flushes do not drown the difference.
# Needs a release build (cargo build --release --bins) and python3.
# Usage: bench/placement.sh [REQUESTS_PER_RUN] [RUNS] [BODY_BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
runs=${2:-3}
body=${3:-1024}
bin=target/release
base=/tmp
[ -d /dev/shm ] && base=/dev/shm
dir=$(mktemp -d -p "$base")
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/config.json" <<JSON
{"elliptics": {"metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$port", "bucket-stat-update-interval": 1},
 "local": {"path": "$dir/store", "groups": [
   {"group": 1, "size-limit": "1G"}, {"group": 2, "size-limit": "1G"}, {"group": 3, "size-limit": "1G"}]}}
JSON
echo '{"buckets": {"b1": {"groups": [1]}, "b2": {"groups": [2]}, "b3": {"groups": [3]}}}' > "$dir/buckets.json"
printf 'b1\nb2\nb3\n' > "$dir/buckets.txt"
"$bin/bmeta" -config "$dir/config.json" -upload "$dir/buckets.json" >/dev/null
RUST_LOG=warn "$bin/backrunner" -config "$dir/config.json" -buckets "$dir/buckets.txt" 2>"$dir/log" &
pid=$!
python3 - "$port" "$n" "$runs" "$body" <<'PY'
import http.client, sys, time
port, n, runs, size = (int(a) for a in sys.argv[1:])
for _ in range(100):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/ping/"); c.getresponse().read(); break
    except OSError:
        time.sleep(0.1)
body = b"x" * size
def run(path):
    c = http.client.HTTPConnection("127.0.0.1", port)
    t = time.perf_counter()
    for i in range(n):
        c.request("POST", f"{path}k{i}", body=body)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
    return n / (time.perf_counter() - t)
rates = {"upload": [], "nobucket_upload": []}
for _ in range(runs):
    rates["upload"].append(run("/upload/b1/"))
    rates["nobucket_upload"].append(run("/nobucket_upload/"))
for k, v in rates.items():
    print(f"{k:16s} {sum(v)/len(v):8.0f} req/s  (runs: {', '.join(f'{x:.0f}' for x in v)})")
print(f"nobucket_upload / upload = {sum(rates['nobucket_upload'])/sum(rates['upload']):.3f}")
c = http.client.HTTPConnection("127.0.0.1", port)
t = time.perf_counter()
for _ in range(200):
    c.request("GET", "/metrics"); r = c.getresponse(); r.read()
print(f"/metrics scrape: {(time.perf_counter() - t) / 200 * 1e3:.2f} ms")
PY
