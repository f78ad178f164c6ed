#!/usr/bin/env bash
# Memory of /bulk_delete/ bursts: starts the proxy (BIN, default the release
# build) on the embedded store and, ROUNDS times (default 5), sends two
# concurrent bodies of KEYS keys of KEYLEN bytes each (default 10,000 x 1000
# bytes: the largest body accepted), then the issue-13 attack (two 14 MiB
# bodies of 1.75M short keys). Prints the proxy's RSS at rest, its peak
# (VmHWM) and its RSS 3 s after each burst.
# Usage: [BIN=path/to/backrunner] [ROUNDS=5] bench/bulk-delete-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/backrunner}
bmeta=${BMETA:-$(dirname "$bin")/bmeta}
rounds=${ROUNDS:-5}
keys=${KEYS:-10000}
keylen=${KEYLEN:-1000}
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/config.json" <<JSON
{"elliptics": {"metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$http"},
 "local": {"path": "$dir/store", "groups": [{"group": 1}]}}
JSON
echo '{"buckets": {"b1": {"groups": [1]}}}' > "$dir/buckets.json"
printf 'b1\n' > "$dir/buckets.txt"
"$bmeta" -config "$dir/config.json" -upload "$dir/buckets.json" >/dev/null
RUST_LOG=warn "$bin" -config "$dir/config.json" -buckets "$dir/buckets.txt" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/ping/" >/dev/null && break; sleep 0.1; done
python3 - "$http" "$pid" "$rounds" "$keys" "$keylen" <<'PY'
import http.client, json, sys, threading, time
port, pid, rounds, nkeys, keylen = (int(a) for a in sys.argv[1:])
def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
def reset_peak():
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
def post(body, out, i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/bulk_delete/b1", body)
    r = c.getresponse()
    out[i] = (r.status, len(r.read()))
def burst(bodies):
    reset_peak()
    out = [None] * len(bodies)
    ts = [threading.Thread(target=post, args=(b, out, i)) for i, b in enumerate(bodies)]
    t0 = time.time()
    for t in ts: t.start()
    for t in ts: t.join()
    took = time.time() - t0
    peak = status("VmHWM")
    time.sleep(3)
    return out, took, peak, status("VmRSS")
big = [json.dumps({"keys": [f"{w}-{i:06d}-" + "k" * (keylen - 9) for i in range(nkeys)]}).encode()
       for w in range(2)]
attack = [json.dumps({"keys": [f"{i:x}" for i in range(1_750_000)]}).encode() for _ in range(2)]
print(f"at rest: RSS {status('VmRSS'):.1f} MiB")
print(f"max bodies: 2 x {len(big[0]) / 2**20:.1f} MiB ({nkeys} keys); attack: 2 x {len(attack[0]) / 2**20:.1f} MiB (1.75M keys)")
for r in range(rounds):
    for name, bodies in (("max", big), ("attack", attack)):
        out, took, peak, after = burst(bodies)
        print(f"round {r + 1} {name:6}: replies {out} in {took:.2f}s, peak RSS {peak:.1f} MiB, 3 s later {after:.1f} MiB")
PY
