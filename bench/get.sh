#!/usr/bin/env bash
# GET throughput and latency of the proxy as clients use it (keep-alive
# connections, many requests per connection), side by side with a reference
# serving the same bytes, alternating runs, and printed as ratios:
#
#   * embedded store: the release proxy against nginx reading the same
#     object files from disk (sendfile);
#   * Elliptics (when ELLIPTICS_PREFIX or /opt/elliptics has dnet_ioserv):
#     the proxy on a loopback dnet_ioserv against the raw client reading the
#     same objects in a tight loop (examples/raw_read.rs, no HTTP), and
#     against the Go Backrunner on the same node when it is installed
#     (GO_BACKRUNNER, default /opt/backrunner-go/bin/backrunner, built by
#     hand from bioothod/backrunner: not in this repository).
#
#   bench/get.sh                          # 4 KiB and 64 MiB, 1/64/256 connections
#   DURATION=3 DURATION_BIG=8 CONNS="1 64" bench/get.sh  # a quicker run
#   STORES=local bench/get.sh             # skip Elliptics
#   NGROUPS=2 bench/get.sh                # the bucket in 2 groups (default 1)
#   ELL_BIN=DIR/backrunner STORES=elliptics bench/get.sh  # another build
#   ELL_CHUNKS="65536 262144 1048576" bench/get.sh   # also: raw Elliptics
#                                         # 64 MiB reads by chunk size
#
# Every run prints the 1-minute load average before and after it and is
# INVALID when either was above 1.5 (bench/load.sh: runs wait for the load
# to settle first); rows use only valid runs, or say INVALID
# (SHOW_INVALID=1: the best runs anyway, the row marked INVALID).
#
# Needs: wrk and nginx (apt-get install wrk nginx-light), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/load.sh
. bench/ioserv.sh

DURATION=${DURATION:-5}
DURATION_BIG=${DURATION_BIG:-15}
CONNS=${CONNS:-"1 64 256"}
SIZES=${SIZES:-"4096 67108864"}
ROUNDS=${ROUNDS:-2}
[ "$ROUNDS" -ge 2 ] || { echo "ROUNDS must be at least 2 (alternating runs of each side)" >&2; exit 2; }
STORES=${STORES:-"local elliptics"}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/br-get.XXXXXX")}
ELL=${ELLIPTICS_PREFIX:-/opt/elliptics}
GO_BACKRUNNER=${GO_BACKRUNNER:-/opt/backrunner-go/bin/backrunner}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# wrk run: prints "req/s MB/s p99_ms". Large objects run longer, so that
# every connection completes several requests.
run_wrk() {
  local url=$1 c=$2 d=$DURATION out before after v
  [[ $url == *obj-67108864 ]] && d=$DURATION_BIG
  settle
  before=$(load1)
  out=$(wrk -t1 -c"$c" -d"${d}s" --timeout 60s --latency "$url")
  after=$(load1)
  v=$(verdict "$before" "$after")
  echo "  $url, $c conns: load $before -> $after ($v)" >&2
  python3 - "$out" "$v" <<'PY'
import re, sys
t = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", t)
mb = float(tr.group(1)) * {"B": 1e-6, "KB": 1024/1e6, "MB": 1024**2/1e6, "GB": 1024**3/1e6}[tr.group(2)]
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if errs:
    sys.exit("non-2xx answers: " + errs.group(1))
print(f"{rps:.0f} {mb:.0f} {p99:.2f} {sys.argv[2]}")
PY
}

# Whether a run result may be used: valid, or SHOW_INVALID=1.
usable() { [[ $1 != *INVALID ]] || [ "${SHOW_INVALID:-0}" = 1 ]; }
# " INVALID" when any of the results is.
mark() { [[ "$*" == *INVALID* ]] && echo " INVALID" || true; }

# Second word (MB/s) of a run result, for picking the best run.
mbs() { local x=${1#* }; echo "${x%% *}"; }

# Best of ROUNDS runs of A and B, alternating; prints one table row.
compare() {
  local label=$1 url_a=$2 url_b=$3 c=$4 best_a="0 -1 0 INVALID" best_b="0 -1 0 INVALID" r a b
  for r in $(seq "$ROUNDS"); do
    a=$(run_wrk "$url_a" "$c"); b=$(run_wrk "$url_b" "$c")
    usable "$a" && [ "$(mbs "$a")" -gt "$(mbs "$best_a")" ] && best_a=$a
    usable "$b" && [ "$(mbs "$b")" -gt "$(mbs "$best_b")" ] && best_b=$b
  done
  python3 - "$label" "$c" "$best_a" "$best_b" "$(mark "$best_a" "$best_b")" <<'PY'
import sys
label, c, a, b, mark = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), sys.argv[5]
ra, ma, pa = map(float, a[:3]); rb, mb, pb = map(float, b[:3])
if ma < 0 or mb < 0:
    print(f"| {label} | {c} | INVALID: no run at load <= 1.5 | | | |")
    sys.exit()
ratio = ra / rb if label.startswith("4") else ma / mb
print(f"| {label} | {c} | {ra:.0f} req/s, {ma:.0f} MB/s, p99 {pa:.2f} ms | {rb:.0f} req/s, {mb:.0f} MB/s, p99 {pb:.2f} ms | {ratio:.2f}{mark} | {pa/pb if pb else 0:.2f} |")
PY
}

header() {
  echo
  echo "$1"
  echo
  echo "| object | conns | $2 | $3 | rate ratio | p99 ratio |"
  echo "|---|---|---|---|---|---|"
}

human() { case $1 in 4096) echo "4 KiB";; 67108864) echo "64 MiB";; *) echo "$1 B";; esac; }

start_proxy() { # config-file features
  RUST_LOG=warn "$1" -config "$2" -buckets "$WORK/buckets.txt" 2>>"$WORK/proxy.log" &
  pids+=($!)
}

echo "GET benchmark: $DURATION s per run, best of $ROUNDS, wrk -t1; $(nproc) cores; ${NGROUPS:-1} group(s); $(date -u +%FT%TZ)"
# NGROUPS=2: the bucket in two groups (replicas), as deployments run it;
# a read then also checks the other replica's version (docs/reliability.md).
NGROUPS=${NGROUPS:-1}
GROUP_IDS=$(seq -s, 1 "$NGROUPS")
LOCAL_GROUPS=$(seq 1 "$NGROUPS" | sed 's/.*/{"group": &}/' | paste -sd,)
echo "{\"buckets\": {\"b\": {\"groups\": [$GROUP_IDS]}}}" >"$WORK/buckets.json"
echo b >"$WORK/buckets.txt"

if [[ " $STORES " == *" local "* ]]; then
  # BIN=path: that build of the proxy (and its bmeta) instead of a release build.
  if [ -n "${BIN:-}" ]; then BMETA=$(dirname "$BIN")/bmeta; else
    cargo build --release --quiet --bins; BIN=target/release/backrunner; BMETA=target/release/bmeta; fi
  PORT=$(free_port)
  mkdir -p "$WORK/store"
  cat >"$WORK/local.json" <<EOF
{"elliptics": {"log-file": "/dev/null", "log-level": "error", "metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$PORT", "idle-timeout": 60},
 "local": {"path": "$WORK/store", "groups": [$LOCAL_GROUPS]}}
EOF
  "$BMETA" -config "$WORK/local.json" -upload "$WORK/buckets.json" >/dev/null
  start_proxy "$BIN" "$WORK/local.json"
  wait_http "http://127.0.0.1:$PORT/ping/"

  NPORT=$(free_port)
  mkdir -p "$WORK/www"
  cat >"$WORK/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NPORT; location /www/ { root $WORK; } }
}
EOF
  nginx -c "$WORK/nginx.conf" &
  pids+=($!)
  wait_http "http://127.0.0.1:$NPORT/"

  header "Embedded store (proxy: 2 actix workers; nginx: 1 worker, sendfile)" proxy nginx
  for size in $SIZES; do
    head -c "$size" /dev/urandom >"$WORK/www/obj-$size"
    curl -sf -o /dev/null -X POST --data-binary "@$WORK/www/obj-$size" "http://127.0.0.1:$PORT/upload/b/obj-$size"
    for c in $CONNS; do
      compare "$(human "$size")" "http://127.0.0.1:$PORT/get/b/obj-$size" "http://127.0.0.1:$NPORT/www/obj-$size" "$c"
    done
  done
fi

if [[ " $STORES " == *" elliptics "* ]]; then
  if [ ! -x "$ELL/bin/dnet_ioserv" ]; then
    echo
    echo "Elliptics part skipped: $ELL/bin/dnet_ioserv not found"
    exit 0
  fi
  export ELLIPTICS_PREFIX=$ELL
  cargo build --release --quiet --features elliptics --bins --examples
  # ELL_BIN=path: that build of the proxy (with the elliptics feature).
  ELL_BIN=${ELL_BIN:-target/release/backrunner}
  EPORT=$(free_port)
  mkdir -p "$WORK/ell"
  ioserv_start "$WORK/ell" "$NGROUPS"
  pids+=("$IOSERV_PID")
  IPORT=$IOSERV_PORT
  cat >"$WORK/ell.json" <<EOF
{"elliptics": {"log-file": "/dev/null", "log-level": "error", "metadata-groups": [1],
   "remote": ["127.0.0.1:$IPORT:2"], "node-config": {"wait-timeout": 30}},
 "proxy": {"address": "127.0.0.1:$EPORT", "idle-timeout": 60}}
EOF
  target/release/bmeta -config "$WORK/ell.json" -upload "$WORK/buckets.json" >/dev/null
  start_proxy "$ELL_BIN" "$WORK/ell.json"
  wait_http "http://127.0.0.1:$EPORT/ping/"
  GO=
  if [ -x "$GO_BACKRUNNER" ]; then
    GO=$(free_port)
    cat >"$WORK/go.json" <<EOF
{"elliptics": {"log-file": "/dev/null", "log-level": "error", "metadata-groups": [1],
   "remote": ["127.0.0.1:$IPORT:2"]},
 "proxy": {"address": "127.0.0.1:$GO", "idle-timeout": 60}}
EOF
    "$GO_BACKRUNNER" -config "$WORK/go.json" -buckets "$WORK/buckets.txt" >>"$WORK/go.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$GO/ping/"
  fi

  echo
  echo "Elliptics (loopback dnet_ioserv, $NGROUPS eblob backend(s), one a group${GO:+; Go Backrunner $GO_BACKRUNNER})"
  echo
  echo "| object | conns | proxy over HTTP | raw client (FFI reads, no HTTP) | proxy / raw | Go Backrunner | proxy / Go |"
  echo "|---|---|---|---|---|---|---|"
  for size in $SIZES; do
    head -c "$size" /dev/urandom >"$WORK/obj-$size"
    curl -sf -o /dev/null -X POST --data-binary "@$WORK/obj-$size" "http://127.0.0.1:$EPORT/upload/b/obj-$size"
    for c in $CONNS; do
      best="0 -1 0 INVALID"; raw_best="0 -1 INVALID"; go_best="0 -1 0 INVALID"
      d=$DURATION; [ "$size" -gt 1048576 ] && d=$DURATION_BIG
      for r in $(seq "$ROUNDS"); do
        a=$(run_wrk "http://127.0.0.1:$EPORT/get/b/obj-$size" "$c")
        usable "$a" && [ "$(mbs "$a")" -gt "$(mbs "$best")" ] && best=$a
        if [ -n "$GO" ]; then
          g=$(run_wrk "http://127.0.0.1:$GO/get/b/obj-$size" "$c")
          usable "$g" && [ "$(mbs "$g")" -gt "$(mbs "$go_best")" ] && go_best=$g
        fi
        settle; before=$(load1)
        raw=$(target/release/examples/raw_read "$WORK/ell.json" b "obj-$size" "$c" "$d")
        after=$(load1); v=$(verdict "$before" "$after")
        echo "  raw_read obj-$size, $c threads: load $before -> $after ($v)" >&2
        raw="$raw $v"
        usable "$raw" && [ "$(mbs "$raw")" -gt "$(mbs "$raw_best")" ] && raw_best=$raw
      done
      python3 - "$(human "$size")" "$c" "$best" "$raw_best" "$(mark "$best" "$raw_best")" "${GO:+$go_best}" <<'PY'
import sys
label, c, a, raw, mark, go = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), sys.argv[5], sys.argv[6].split()
ra, ma, pa = map(float, a[:3]); rr, mr = map(float, raw[:2])
if ma < 0 or mr < 0:
    print(f"| {label} | {c} | INVALID: no run at load <= 1.5 | | | | |")
    sys.exit()
small = label.startswith("4")
ratio = ra / rr if small else ma / mr
go_cells = "not installed | |"
if go:
    rg, mg, pg = map(float, go[:3])
    if mg < 0:
        go_cells = "INVALID | |"
    else:
        go_ratio = ra / rg if small else ma / mg
        go_cells = f"{rg:.0f} req/s, {mg:.0f} MB/s, p99 {pg:.2f} ms | {go_ratio:.2f}"
print(f"| {label} | {c} | {ra:.0f} req/s, {ma:.0f} MB/s, p99 {pa:.2f} ms | {rr:.0f} req/s, {mr:.0f} MB/s | {ratio:.2f}{mark} | {go_cells} |")
PY
    done
  done
  if [ -n "${ELL_CHUNKS:-}" ]; then
    echo
    echo "Raw client, 64 MiB object, by read size ($DURATION_BIG s each)"
    echo
    echo "| chunk | 1 thread | 8 threads |"
    echo "|---|---|---|"
    [ -f "$WORK/obj-67108864" ] || { head -c 67108864 /dev/urandom >"$WORK/obj-67108864";
      curl -sf -o /dev/null -X POST --data-binary "@$WORK/obj-67108864" "http://127.0.0.1:$EPORT/upload/b/obj-67108864"; }
    for chunk in $ELL_CHUNKS; do
      one=$(CHUNK=$chunk target/release/examples/raw_read "$WORK/ell.json" b obj-67108864 1 "$DURATION_BIG")
      eight=$(CHUNK=$chunk target/release/examples/raw_read "$WORK/ell.json" b obj-67108864 8 "$DURATION_BIG")
      echo "| $chunk | $(mbs "$one") MB/s | $(mbs "$eight") MB/s |"
    done
  fi
fi
