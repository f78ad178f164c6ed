#!/usr/bin/env bash
# Upload rate of the proxy with the name index on against the same proxy
# with it off (`proxy.name-index: false`), and S3 PutObject against
# Backrunner's /upload/ (index on), on the embedded store: keep-alive
# clients (wrk -t1, a Lua script writing each request to a new key, spread
# over the key space), object sizes SIZES (4 KiB and 16 MiB), CONNS clients
# (1, 8, 64), ROUNDS (at least 2) runs of each side, alternating.
#
# Every run prints the load average before and after it and is marked
# INVALID when either was above 1.5 (bench/load.sh); a table row uses only
# valid runs and says INVALID when it has none. Rates are the best valid run
# of each side; the ratio is index-on over index-off (and S3 over /upload/).
#
#   bench/upload.sh                                  # release build, 10 s runs
#   BIN=target/debug/backrunner DURATION=3 CONNS=8 SIZES=4096 bench/upload.sh
#   NGROUPS=1 DIR=/dev/shm bench/upload.sh           # one group, on tmpfs
#   SHOW_INVALID=1 ...                               # busy machine: best runs
#                                                    # anyway, rows marked INVALID
#
# Each proxy writes to its own store under DIR (default: a temp dir in
# TMPDIR, i.e. on disk: the store fsyncs every object). Prints the index
# counters per write at the end (/proxy_stat/ index: store calls, KiB
# written, writes per shard update). Needs wrk, curl, python3.
#
# Then, when dnet_ioserv is installed (ELLIPTICS_PREFIX, default
# /opt/elliptics; STORES="local elliptics" by default), the same on a
# loopback node with NGROUPS eblob backends, one group each: our proxy
# (built with --features elliptics) with the index on against off, and
# against the Go Backrunner on the same node when it is installed
# (GO_BACKRUNNER, default /opt/backrunner-go/bin/backrunner; neither is in
# any registry: build them by hand, ../shared/elliptics-by-hand.md names
# the versions). Each proxy writes its own key prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/load.sh
. bench/ioserv.sh

DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 8 64"}
SIZES=${SIZES:-"4096 16777216"}
ROUNDS=${ROUNDS:-2}
[ "$ROUNDS" -ge 2 ] || { echo "ROUNDS must be at least 2" >&2; exit 2; }
NGROUPS=${NGROUPS:-2}
S3=${S3:-1}
WORK=$(mktemp -d "${DIR:-${TMPDIR:-/tmp}}/br-upload.XXXXXX")
STORES=${STORES:-"local elliptics"}
ELL=${ELLIPTICS_PREFIX:-/opt/elliptics}
GO_BACKRUNNER=${GO_BACKRUNNER:-/opt/backrunner-go/bin/backrunner}
[ -n "${BIN:-}" ] && BIN_GIVEN=1
BIN=${BIN:-target/release/backrunner}
BMETA=${BMETA:-$(dirname "$BIN")/bmeta}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Servers started, one pid a line: a file, as the proxies start in the
# subshells that print their ports.
started() { echo "$1" >>"$WORK/pids"; }
cleanup() {
  [ -f "$WORK/pids" ] && while read -r p; do kill "$p" 2>/dev/null || true; done <"$WORK/pids"
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

if [ -z "${BIN_GIVEN:-}" ]; then
  if [[ " $STORES " == *" elliptics "* ]] && [ -x "$ELL/bin/dnet_ioserv" ]; then
    # one build for both stores: the embedded store is always in
    ELLIPTICS_PREFIX=$ELL cargo build --release --quiet --features elliptics --bins
  else
    cargo build --release --quiet --bins
  fi
fi

cat >"$WORK/put.lua" <<'LUA'
-- Each request writes a new key: a per-run prefix and the request number
-- scrambled (times an odd constant mod 2^32), so keys land all over the
-- bucket's key space (and its index shards) as real uploads do.
local n = 0
local body = string.rep("x", tonumber(os.getenv("BODY_SIZE")))
local prefix = os.getenv("KEY_PREFIX")
local path = os.getenv("PATH_PREFIX")
local method = os.getenv("METHOD")
request = function()
  n = n + 1
  local k = string.format("%s%08x", prefix, (n * 2654435761) % 4294967296)
  return wrk.format(method, path .. k, nil, body)
end
LUA

groups=$(seq -s, 1 "$NGROUPS")
echo "{\"buckets\": {\"b\": {\"groups\": [$groups]}}}" >"$WORK/buckets.json"
echo b >"$WORK/buckets.txt"

# start_proxy NAME INDEX(true|false): prints "HTTP_PORT S3_PORT"
start_proxy() {
  local name=$1 index=$2 http s3 gcfg
  http=$(free_port); s3=$(free_port)
  gcfg=$(for g in $(seq "$NGROUPS"); do printf '{"group": %d},' "$g"; done | sed 's/,$//')
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name.json" <<JSON
{"elliptics": {"log-file": "/dev/null", "log-level": "error", "metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$http", "s3-address": "127.0.0.1:$s3", "idle-timeout": 60,
           "name-index": $index},
 "local": {"path": "$WORK/$name/store", "groups": [$gcfg]}}
JSON
  "$BMETA" -config "$WORK/$name.json" -upload "$WORK/buckets.json" >/dev/null
  RUST_LOG=warn "$BIN" -config "$WORK/$name.json" -buckets "$WORK/buckets.txt" 2>>"$WORK/$name.log" &
  started $!
  wait_http "http://127.0.0.1:$http/ping/"
  echo "$http $s3"
}

run=0
# run_wrk LABEL URL_PREFIX METHOD SIZE CONNS: sets RESULT to
# "req/s p99_ms valid|INVALID before after" (URL_PREFIX: http://host:port/path/,
# each request appends a key of its own)
run_wrk() {
  local label=$1 base=$2 method=$3 size=$4 c=$5 before after out v host path
  run=$((run + 1))
  settle
  before=$(load1)
  host=$(echo "$base" | cut -d/ -f1-3)
  path=/$(echo "$base" | cut -d/ -f4-)
  out=$(BODY_SIZE=$size KEY_PREFIX="r$run-$$-" PATH_PREFIX="$path" METHOD=$method \
    wrk -t1 -c"$c" -d"${DURATION}s" --timeout 60s --latency -s "$WORK/put.lua" "$host") || true
  after=$(load1)
  v=$(verdict "$before" "$after")
  RESULT="$(python3 - "$out" <<'PY'
import re, sys
t = sys.argv[1]
m = re.search(r"Requests/sec:\s+([\d.]+)", t)
if not m:
    sys.exit("wrk failed:\n" + t)
rps = float(m.group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if errs:
    sys.exit("non-2xx answers: " + errs.group(1) + "\n" + t)
print(f"{rps:.1f} {p99:.2f}")
PY
) $v $before $after"
  echo "  run $run: $label, $c conns, $size B: ${RESULT%% *} req/s; load $before -> $after ($v)" >&2
}

# ROUNDS alternating runs of A and B; one table row from the best valid run
# of each side (SHOW_INVALID=1: from the best run, the row marked INVALID,
# for a look at the direction on a busy machine).
compare() {
  local what=$1 size=$2 c=$3 a_url=$4 a_m=$5 b_url=$6 b_m=$7 r runs_a=() runs_b=()
  for r in $(seq "$ROUNDS"); do
    run_wrk "$what: A" "$a_url" "$a_m" "$size" "$c"; runs_a+=("$RESULT")
    run_wrk "$what: B" "$b_url" "$b_m" "$size" "$c"; runs_b+=("$RESULT")
  done
  python3 - "$what" "$size" "$c" "${SHOW_INVALID:-0}" "$(printf '%s;' "${runs_a[@]}")" "$(printf '%s;' "${runs_b[@]}")" <<'PY'
import sys
what, size, c, show, ra, rb = sys.argv[1:]
size = {"4096": "4 KiB", "16777216": "16 MiB"}.get(size, size + " B")
parse = lambda s: [r.split() for r in s.split(";") if r.strip()]
ra, rb = parse(ra), parse(rb)
valid = lambda runs: [r for r in runs if r[2] == "valid"]
nvalid = len(valid(ra)) + len(valid(rb))
pool_a, pool_b, mark = valid(ra), valid(rb), ""
if (not pool_a or not pool_b) and show == "1":
    pool_a, pool_b = ra, rb
    mark = f" INVALID (load up to {max(float(r[4]) for r in ra + rb):.2f})"
best = lambda runs: max(runs, key=lambda r: float(r[0])) if runs else None
a, b = best(pool_a), best(pool_b)
cell = lambda x: f"{float(x[0]):.0f} req/s, p99 {float(x[1]):.1f} ms" if x else "INVALID (no run at load <= 1.5)"
ratio = f"{float(a[0]) / float(b[0]):.2f}{mark}" if a and b else "INVALID"
print(f"| {what} | {size} | {c} | {cell(a)} | {cell(b)} | {ratio} | {nvalid}/{len(ra) + len(rb)} |", flush=True)
PY
}

# index_counters PORT: the index counters of the proxy at PORT, per write.
index_counters() {
  python3 - "$1" <<'PY'
import json, sys, urllib.request
i = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/proxy_stat/"))["index"]
n = i.get("entries") or i["updates"]
logged = i.get("logged") or 0
if logged:
    print(f"\nindex (proxy with it on) per write: {i['log_writes'] / logged:.2f} log writes "
          f"({i['log_bytes'] / logged / 1024:.1f} KiB, all groups), then merged: "
          f"{i['calls'] / n:.2f} shard store calls, {i['bytes_written'] / n / 1024:.1f} KiB; "
          f"{n / max(i['updates'], 1):.2f} writes per shard update; {i['splits']} splits, {i['failures']} failures")
else:
    print(f"\nindex (proxy with it on) per write: {i['calls'] / n:.2f} store calls, "
          f"{i['bytes_written'] / n / 1024:.1f} KiB written (all groups), "
          f"{n / i['updates']:.2f} writes per shard update; {i['splits']} splits, {i['failures']} failures")
PY
}

table_head() {
  echo
  echo "| A over B | object | conns | A | B | A / B | valid runs |"
  echo "|---|---|---|---|---|---|---|"
}

echo "Upload benchmark: $DURATION s per run, best valid of $ROUNDS alternating runs, wrk -t1; $NGROUPS group(s); $(nproc) cores; $BIN; $(date -u +%FT%TZ)"

if [[ " $STORES " == *" local "* ]]; then
  read -r ON ON_S3 < <(start_proxy on true)
  read -r OFF OFF_S3 < <(start_proxy off false)
  echo
  echo "Embedded store on $(df --output=fstype "$WORK" | tail -1)"
  table_head
  for size in $SIZES; do
    for c in $CONNS; do
      compare "/upload/, index on / off" "$size" "$c" \
        "http://127.0.0.1:$ON/upload/b/" POST "http://127.0.0.1:$OFF/upload/b/" POST
      if [ "$S3" = 1 ]; then
        compare "S3 PutObject / /upload/, index on" "$size" "$c" \
          "http://127.0.0.1:$ON_S3/b/" PUT "http://127.0.0.1:$ON/upload/b/" POST
      fi
    done
  done
  index_counters "$ON"
fi

[[ " $STORES " == *" elliptics "* ]] || exit 0
if [ ! -x "$ELL/bin/dnet_ioserv" ]; then
  echo
  echo "Elliptics part skipped: $ELL/bin/dnet_ioserv not found"
  exit 0
fi
mkdir -p "$WORK/ell"
ioserv_start "$WORK/ell" "$NGROUPS"
started "$IOSERV_PID"
IPORT=$IOSERV_PORT

# ell_config NAME PROXY_JSON: a config for the node, written to $WORK/NAME.json
ell_config() {
  cat >"$WORK/$1.json" <<JSON
{"elliptics": {"log-file": "$WORK/$1-elliptics.log", "log-level": "error", "metadata-groups": [1],
   "remote": ["127.0.0.1:$IPORT:2"]},
 "proxy": $2}
JSON
}
# start_ell NAME INDEX(true|false): our proxy on the node; prints its port
start_ell() {
  local http
  http=$(free_port)
  ell_config "$1" "{\"address\": \"127.0.0.1:$http\", \"idle-timeout\": 60, \"name-index\": $2}"
  RUST_LOG=warn "$BIN" -config "$WORK/$1.json" -buckets "$WORK/buckets.txt" 2>>"$WORK/$1.log" &
  started $!
  wait_http "http://127.0.0.1:$http/ping/"
  echo "$http"
}
ell_config meta '{"address": "127.0.0.1:1"}'
"$BMETA" -config "$WORK/meta.json" -upload "$WORK/buckets.json" >/dev/null
read -r EON < <(start_ell ell-on true)
read -r EOFF < <(start_ell ell-off false)
GO=
if [ -x "$GO_BACKRUNNER" ]; then
  GO=$(free_port)
  ell_config go "{\"address\": \"127.0.0.1:$GO\", \"idle-timeout\": 60}"
  "$GO_BACKRUNNER" -config "$WORK/go.json" -buckets "$WORK/buckets.txt" >>"$WORK/go.log" 2>&1 &
  started $!
  wait_http "http://127.0.0.1:$GO/ping/"
fi
echo
echo "Elliptics: loopback dnet_ioserv, $NGROUPS eblob backend(s), one group each${GO:+; Go Backrunner $GO_BACKRUNNER}"
table_head
for size in $SIZES; do
  for c in $CONNS; do
    compare "Elliptics /upload/, index on / off" "$size" "$c" \
      "http://127.0.0.1:$EON/upload/b/" POST "http://127.0.0.1:$EOFF/upload/b/" POST
    if [ -n "$GO" ]; then
      compare "Elliptics /upload/, index on / Go Backrunner" "$size" "$c" \
        "http://127.0.0.1:$EON/upload/b/" POST "http://127.0.0.1:$GO/upload/b/" POST
      compare "Elliptics /upload/, index off / Go Backrunner" "$size" "$c" \
        "http://127.0.0.1:$EOFF/upload/b/" POST "http://127.0.0.1:$GO/upload/b/" POST
    fi
  done
done
index_counters "$EON"
