#!/usr/bin/env bash
# The name index (docs/index.md): what an update costs per write, and the
# proxy's memory while a listing pages through a large bucket. Starts the
# proxy (BIN, default the release build) on the embedded store (GROUPS
# groups, default 2, under DIR, default a temp dir in /dev/shm), uploads KEYS
# objects (default 100,000, 100 bytes each, random key order) through
# /upload/ on THREADS keep-alive connections (default 8), prints the index
# counters per write (store calls, bytes, CAS attempts) from /proxy_stat/,
# then pages through ListObjectsV2 (max-keys 1000) and prints the proxy's RSS
# at rest, its peak (VmHWM) during the listing, and the listing's time.
# Usage: [BIN=...] [KEYS=100000] [NGROUPS=2] [SHARD=256] [THREADS=8] [LIST=0] bench/index.sh
# (LIST=0: the write counters only, no listing.)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/backrunner}
bmeta=${BMETA:-$(dirname "$bin")/bmeta}
keys=${KEYS:-100000}
ngroups=${NGROUPS:-2}
shard=${SHARD:-256}
threads=${THREADS:-8}
dir=$(mktemp -d "${DIR:-/dev/shm}/index-bench.XXXXXX")
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port)
s3=$(port)
groups=$(seq -s, 1 "$ngroups")
group_cfg=$(for g in $(seq "$ngroups"); do printf '{"group": %d},' "$g"; done | sed 's/,$//')
cat > "$dir/config.json" <<JSON
{"elliptics": {"metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$http", "s3-address": "127.0.0.1:$s3", "index-shard-entries": $shard},
 "local": {"path": "$dir/store", "groups": [$group_cfg]}}
JSON
echo "{\"buckets\": {\"b1\": {\"groups\": [$groups], \"acl\": [{\"user\": \"*\", \"token\": \"\", \"flags\": 3}]}}}" > "$dir/buckets.json"
printf 'b1\n' > "$dir/buckets.txt"
"$bmeta" -config "$dir/config.json" -upload "$dir/buckets.json" >/dev/null
RUST_LOG=warn "$bin" -config "$dir/config.json" -buckets "$dir/buckets.txt" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/ping/" >/dev/null && break; sleep 0.1; done
python3 - "$http" "$s3" "$pid" "$keys" "$threads" "$ngroups" "$shard" <<'PY'
import http.client, json, os, random, re, sys, threading, time
port, s3, pid, nkeys, nthreads, ngroups, shard = (int(a) for a in sys.argv[1:])
def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
def reset_peak():
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
keys = [f"dir{i % 100:02d}/obj-{i:07d}" for i in range(nkeys)]
random.seed(1)
random.shuffle(keys)
def upload(part):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for k in part:
        c.request("POST", f"/upload/b1/{k}", b"x" * 100)
        r = c.getresponse(); r.read()
        assert r.status == 200, (k, r.status)
t0 = time.time()
ts = [threading.Thread(target=upload, args=(keys[i::nthreads],)) for i in range(nthreads)]
for t in ts: t.start()
for t in ts: t.join()
took = time.time() - t0
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("GET", "/proxy_stat/")
idx = json.loads(c.getresponse().read())["index"]
u = idx.get("entries", idx["updates"])  # "entries" since group commit
print(f"{nkeys} uploads of 100 bytes, {ngroups} groups, shards split past {shard} entries: {took:.1f} s ({nkeys / took:.0f}/s on {nthreads} connections)")
print(f"index per write: {idx['calls'] / u:.2f} store calls, {idx['bytes_written'] / u / 1024:.1f} KiB written (all groups), "
      f"{idx['attempts'] / u:.3f} CAS attempts; {u / idx['updates']:.2f} writes per shard update (group commit); "
      f"{idx['splits']} splits, {idx['failures']} failures")
print(f"at rest: RSS {status('VmRSS'):.1f} MiB")
def list_all(extra=""):
    reset_peak()
    c = http.client.HTTPConnection("127.0.0.1", s3, timeout=60)
    token, n, pages, t0 = None, 0, 0, time.time()
    while True:
        q = f"/b1?list-type=2&max-keys=1000{extra}" + (f"&continuation-token={token}" if token else "")
        c.request("GET", q)
        r = c.getresponse(); body = r.read().decode()
        assert r.status == 200, body
        n += body.count("<Key>") + body.count("<CommonPrefixes>")
        pages += 1
        m = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
        if not m:
            return n, pages, time.time() - t0, status("VmHWM")
        token = m.group(1)
if os.environ.get("LIST", "1") == "0":
    sys.exit(0)
n, pages, t, peak = list_all()
assert n == nkeys, (n, nkeys)
print(f"ListObjectsV2 of {n} keys: {pages} pages in {t:.2f} s ({t / pages * 1000:.1f} ms/page), peak RSS {peak:.1f} MiB")
n, pages, t, peak = list_all("&delimiter=/")
print(f"ListObjectsV2 with delimiter /: {n} common prefixes, {pages} page(s) in {t:.3f} s, peak RSS {peak:.1f} MiB")
print(f"after: RSS {status('VmRSS'):.1f} MiB")
PY
