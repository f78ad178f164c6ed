#!/usr/bin/env bash
# Memory of the proxy over the Elliptics FFI: runs N (default 100000) mixed
# requests (upload 1-64 KiB, get, lookup, range get, delete; 4 keep-alive
# clients) through a release build with --features elliptics against a
# loopback dnet_ioserv (3 eblob backends), and prints the proxy's RSS
# every 10% of the run. Flat RSS after warm-up = no leak per request.
# Needs: an installed Elliptics (ELLIPTICS_PREFIX, default /opt/elliptics),
# `cargo build --release --features elliptics`, python3.
# Usage: bench/elliptics-rss.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
ell=${ELLIPTICS_PREFIX:-/opt/elliptics}
bin=target/release
dir=$(mktemp -d)
pid= ipid=
trap 'kill $pid $ipid 2>/dev/null || true; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port); ep=$(port); mp=$(port)
backends=""
for g in 1 2 3; do
  mkdir -p "$dir/eblob.$g" "$dir/history.$g"
  backends="$backends${backends:+,}{\"backend_id\": $g, \"type\": \"blob\", \"group\": $g, \"history\": \"$dir/history.$g\", \"data\": \"$dir/eblob.$g/data\", \"sync\": \"-1\", \"blob_flags\": \"0\", \"blob_size\": \"64M\", \"records_in_blob\": \"100000\", \"periodic_timeout\": 1}"
done
cat > "$dir/ioserv.json" <<JSON
{"logger": {"level": "error", "root": [{"type": "blocking", "formatter": {"type": "string", "pattern": "{message}"},
   "sinks": [{"type": "file", "path": "$dir/ioserv.log", "flush": 1}]}]},
 "options": {"join": true, "flags": 4, "remote": [], "address": ["127.0.0.1:$ep:2"], "wait_timeout": 10,
   "check_timeout": 20, "io_thread_num": 4, "nonblocking_io_thread_num": 2, "net_thread_num": 2, "daemon": false,
   "auth_cookie": "bench", "monitor": {"port": $mp, "address": "127.0.0.1"}},
 "backends": [$backends]}
JSON
"$ell/bin/dnet_ioserv" -c "$dir/ioserv.json" >/dev/null 2>&1 &
ipid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$ep) 2>/dev/null && break; sleep 0.1; done
cat > "$dir/config.json" <<JSON
{"elliptics": {"remote": ["127.0.0.1:$ep:2"], "metadata-groups": [1], "log-file": "$dir/client.log", "log-level": "error",
   "node-config": {"io-thread-num": 4, "net-thread-num": 2, "wait-timeout": 5, "check-timeout": 20}},
 "proxy": {"address": "127.0.0.1:$http", "bucket-stat-update-interval": 1}}
JSON
echo '{"buckets": {"b1": {"groups": [1, 2]}, "b2": {"groups": [2, 3]}}}' > "$dir/buckets.json"
printf 'b1\nb2\n' > "$dir/buckets.txt"
"$bin/bmeta" -config "$dir/config.json" -upload "$dir/buckets.json" >/dev/null
RUST_LOG=warn "$bin/backrunner" -config "$dir/config.json" -buckets "$dir/buckets.txt" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/ping/" >/dev/null && break; sleep 0.1; done
python3 - "$http" "$pid" "$n" <<'PY'
import http.client, random, sys, threading, time
port, pid, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
done = [0]; lock = threading.Lock(); bad = {}
def worker(wid):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    rnd = random.Random(wid); keys = []
    while True:
        with lock:
            if done[0] >= n: return
            done[0] += 1
        op = rnd.random(); b = rnd.choice(["b1", "b2"])
        if op < 0.3 or not keys:
            k = f"w{wid}-{rnd.randrange(2000)}"; body = rnd.randbytes(rnd.randrange(1024, 65536))
            c.request("POST", f"/upload/{b}/{k}", body); keys.append((b, k))
        elif op < 0.6:
            b, k = rnd.choice(keys); c.request("GET", f"/get/{b}/{k}")
        elif op < 0.75:
            b, k = rnd.choice(keys); c.request("GET", f"/get/{b}/{k}?offset=100&size=500")
        elif op < 0.9:
            b, k = rnd.choice(keys); c.request("GET", f"/lookup/{b}/{k}")
        else:
            b, k = keys.pop(rnd.randrange(len(keys))); c.request("POST", f"/delete/{b}/{k}")
        r = c.getresponse(); r.read()
        if r.status not in (200, 404):
            with lock: bad[r.status] = bad.get(r.status, 0) + 1
threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
t0 = time.time(); [t.start() for t in threads]
step = n // 10; nxt = step
print(f"{'requests':>9} {'RSS KiB':>9} {'req/s':>7}")
print(f"{0:>9} {rss():>9}")
while any(t.is_alive() for t in threads):
    time.sleep(0.2)
    if done[0] >= nxt:
        print(f"{done[0]:>9} {rss():>9} {done[0]/(time.time()-t0):>7.0f}", flush=True); nxt += step
[t.join() for t in threads]
print(f"{done[0]:>9} {rss():>9} {done[0]/(time.time()-t0):>7.0f}  non-200/404: {bad or 'none'}")
PY
