#!/usr/bin/env bash
# Peak memory and throughput of the proxy while many clients stream large
# objects, side by side with nginx serving (and, via WebDAV PUT, storing)
# the same bytes. Not part of ci/test.sh: run by hand, see bench/README.md.
#
#   bench/streaming.sh                 # 64 x 1 GiB downloads, 16 x 1 GiB uploads
#   SIZE_MB=64 DOWN=8 UP=4 bench/streaming.sh   # a quick smoke run
#
# Needs: curl, nginx (apt-get install nginx), about (UP + 2) x SIZE free disk.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
DOWN=${DOWN:-64}
UP=${UP:-16}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/br-bench.XXXXXX")}

cargo build --release --quiet --bins
BR=target/release/backrunner
BMETA=target/release/bmeta

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the proxy on the embedded store, one group -----------------------------
PORT=$(free_port)
mkdir -p "$WORK/store"
cat >"$WORK/config.json" <<EOF
{"elliptics": {"log-file": "/dev/null", "log-level": "error", "metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$PORT", "idle-timeout": 60},
 "local": {"path": "$WORK/store", "groups": [{"group": 1}]}}
EOF
echo '{"buckets": {"b": {"groups": [1]}}}' >"$WORK/buckets.json"
echo b >"$WORK/buckets.txt"
"$BMETA" -config "$WORK/config.json" -upload "$WORK/buckets.json" >/dev/null
RUST_LOG=warn "$BR" -config "$WORK/config.json" -buckets "$WORK/buckets.txt" 2>"$WORK/proxy.log" &
BR_PID=$!
pids+=("$BR_PID")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/ping/" >/dev/null && break; sleep 0.1; done

# --- nginx serving the same file, and accepting PUTs -------------------------
NPORT=$(free_port)
mkdir -p "$WORK/www" "$WORK/dav" "$WORK/nginx-tmp"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $WORK/nginx-tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$NPORT;
    location /www/ { root $WORK; }
    location /dav/ { root $WORK; dav_methods PUT; create_full_put_path on; }
  }
}
EOF
nginx -c "$WORK/nginx.conf" &
pids+=($!)
for _ in $(seq 100); do curl -s "http://127.0.0.1:$NPORT/" >/dev/null && break; sleep 0.1; done

echo "object: $SIZE_MB MiB; $DOWN downloads, $UP uploads; work dir $WORK"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$WORK/www/obj"
curl -sf -o /dev/null -X POST -T "$WORK/www/obj" "http://127.0.0.1:$PORT/upload/b/obj"

# Peak RSS of the proxy over one phase: reset VmHWM, then sample it.
reset_peak() { echo 5 >"/proc/$BR_PID/clear_refs"; }
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$BR_PID/status"; }

# Runs N copies of a curl command concurrently; prints seconds taken.
run_parallel() {
  local n=$1; shift
  local t0 t1 i p failed=0 started=()
  t0=$(date +%s.%N)
  for i in $(seq "$n"); do "$@" "$i" & started+=($!); done
  for p in "${started[@]}"; do wait "$p" || failed=$((failed + 1)); done
  t1=$(date +%s.%N)
  [ "$failed" -eq 0 ] || echo "$failed of $n transfers FAILED ($*)" >&2
  echo "$t1 - $t0" | bc -l
}

get_proxy() { curl -sf -o /dev/null "http://127.0.0.1:$PORT/get/b/obj"; }
get_nginx() { curl -sf -o /dev/null "http://127.0.0.1:$NPORT/www/obj"; }
put_proxy() { curl -sf -o /dev/null -H 'Expect:' -X POST -T "$WORK/www/obj" "http://127.0.0.1:$PORT/upload/b/up$1"; }
put_nginx() { curl -sf -o /dev/null -H 'Expect:' -T "$WORK/www/obj" "http://127.0.0.1:$NPORT/dav/up$1"; }

mib() { echo "scale=1; $1 / 1024" | bc -l; }
rate() { echo "scale=0; $1 * $SIZE_MB / $2" | bc -l; }

idle=$(peak_kib)
reset_peak
t_pd=$(run_parallel "$DOWN" get_proxy)
peak_down=$(peak_kib)
t_nd=$(run_parallel "$DOWN" get_nginx)

reset_peak
t_pu=$(run_parallel "$UP" put_proxy)
peak_up=$(peak_kib)
rm -rf "$WORK/store/group-1/data"/* 2>/dev/null || true
t_nu=$(run_parallel "$UP" put_nginx)

cat <<EOF
proxy peak RSS at rest:                $(mib "$idle") MiB
downloads ($DOWN x $SIZE_MB MiB):
  proxy peak RSS                       $(mib "$peak_down") MiB
  proxy  $(printf '%8.1f' "$t_pd") s  $(rate "$DOWN" "$t_pd") MiB/s
  nginx  $(printf '%8.1f' "$t_nd") s  $(rate "$DOWN" "$t_nd") MiB/s
  proxy/nginx throughput               $(echo "scale=2; $t_nd / $t_pd" | bc -l)
uploads ($UP x $SIZE_MB MiB):
  proxy peak RSS                       $(mib "$peak_up") MiB
  proxy  $(printf '%8.1f' "$t_pu") s  $(rate "$UP" "$t_pu") MiB/s
  nginx  $(printf '%8.1f' "$t_nu") s  $(rate "$UP" "$t_nu") MiB/s  (WebDAV PUT)
  proxy/nginx throughput               $(echo "scale=2; $t_nu / $t_pu" | bc -l)
EOF
