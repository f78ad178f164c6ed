#!/usr/bin/env bash
# VOD packaging (issue 27) side by side with Kaltura's nginx-vod-module on
# the same MP4 bytes: ours reading them from the embedded store through the
# VOD listener, nginx-vod-module reading them from local disk (vod_mode
# local), alternating runs, printed as ratios.
#
# The reference is not in any registry; build it by hand, outside this
# repository, and point NGINX_VOD at it (default /opt/nginx-vod/sbin/nginx):
#   nginx 1.26.3 (github.com/nginx/nginx, tag release-1.26.3) with
#   kaltura/nginx-vod-module 26f0687 (1.33-13), configured as
#   ./auto/configure --prefix=/opt/nginx-vod --add-module=/opt/src/nginx-vod-module \
#     --with-threads --with-file-aio --with-cc-opt=-O2
#   (needs libpcre2-dev zlib1g-dev libssl-dev; no patch, no extra flag).
# Without it, only our side runs.
#
# What it measures:
#   1. segments: 16 keep-alive clients (wrk -t2 -c16, bench/vod-walk.lua)
#      fetching every video and audio segment of a 10-minute 640x360 title
#      in turn: segments/s, MB/s, and the server's CPU time (user+system,
#      from /proc; nginx: its master and workers) per segment;
#   2. first byte of segment 1 and of the segment at 1:30:00 of a two-hour
#      title: cold (ours: a key never asked for, so no index in memory or
#      in the cluster; nginx: just restarted, its metadata cache empty; the
#      file is in the page cache for both), and ours warm (the index stored
#      in the cluster by an earlier request, the proxy restarted) against a
#      plain /get/ of an object of the same bytes;
#   3. memory: 200 viewers (keep-alive) of 50 different two-hour titles,
#      each walking video and audio segments from a random point for
#      VIEW_SECONDS: the proxy's peak RSS (VmHWM) and CPU a segment; then
#      the same titles with each request another title (wrk -t1 -c200,
#      bench/vod-titles.lua), more titles at once than the index cache
#      holds: segments/s and CPU a segment.
#
# Every run prints the 1-minute load average before and after it and is
# INVALID when either was above 1.5 (bench/load.sh).
#
#   bench/vod.sh                    # everything, 2 rounds
#   DURATION=5 VIEW_SECONDS=10 bench/vod.sh   # quicker
#
# Needs: ffmpeg, wrk, curl, python3 (apt-get install ffmpeg wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/load.sh

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
VIEW_SECONDS=${VIEW_SECONDS:-30}
NGINX_VOD=${NGINX_VOD:-/opt/nginx-vod/sbin/nginx}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/br-vod.XXXXXX")}
[ "$ROUNDS" -ge 2 ] || { echo "ROUNDS must be at least 2 (alternating runs of each side)" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
proxy_pid= nginx_pid=
cleanup() {
  kill $proxy_pid $nginx_pid 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_http() { for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
have_nginx() { [ -x "$NGINX_VOD" ]; }

if [ -n "${BIN:-}" ]; then BMETA=$(dirname "$BIN")/bmeta; else
  cargo build --release --quiet --bins; BIN=target/release/backrunner; BMETA=target/release/bmeta; fi

echo "VOD benchmark: $(nproc) cores; $DURATION s per segment run, best of $ROUNDS; $(date -u +%FT%TZ)"
have_nginx && echo "reference: $("$NGINX_VOD" -V 2>&1 | head -1), nginx-vod-module" ||
  echo "reference: none ($NGINX_VOD not found): only our side runs"

# --- media --------------------------------------------------------------
# MEDIA=dir: short.mp4 and long.mp4 made by an earlier run (kept with KEEP_MEDIA=dir).
mkdir -p "$WORK/media"
chmod 755 "$WORK" "$WORK/media" # nginx's workers run as nobody
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
if [ -n "${MEDIA:-}" ]; then
  cp "$MEDIA/short.mp4" "$MEDIA/long.mp4" "$WORK/media/"
else
echo "making the titles (ffmpeg)..." >&2
# 10 minutes, 640x360, 25 fps, 2 Mbit/s H.264 with B-frames, a keyframe
# every 2 s; stereo AAC.
ff -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 -t 600 \
  -c:v libx264 -preset ultrafast -bf 2 -g 50 -b:v 2M -c:a aac -b:a 128k \
  -movflags +faststart "$WORK/media/short.mp4"
# Two hours, 25 fps (a real title's sample count), tiny picture; AAC.
ff -f lavfi -i testsrc2=size=64x36:rate=25 -f lavfi -i sine=frequency=440 -t 7200 \
  -c:v libx264 -preset ultrafast -g 50 -c:a aac -b:a 32k "$WORK/media/long.mp4"
fi
[ -n "${KEEP_MEDIA:-}" ] && mkdir -p "$KEEP_MEDIA" && cp "$WORK/media/"*.mp4 "$KEEP_MEDIA/"
chmod 644 "$WORK/media/"*.mp4
ls -l "$WORK/media" >&2

# --- our proxy ------------------------------------------------------------
PORT=$(free_port); VPORT=$(free_port)
mkdir -p "$WORK/store"
cat >"$WORK/config.json" <<EOF
{"elliptics": {"log-file": "/dev/null", "log-level": "error", "metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$PORT", "vod-address": "127.0.0.1:$VPORT", "idle-timeout": 120},
 "local": {"path": "$WORK/store", "groups": [{"group": 1}]}}
EOF
echo '{"buckets": {"b": {"groups": [1]}}}' >"$WORK/buckets.json"
echo b >"$WORK/buckets.txt"
"$BMETA" -config "$WORK/config.json" -upload "$WORK/buckets.json" >/dev/null
start_proxy() {
  RUST_LOG=warn "$BIN" -config "$WORK/config.json" -buckets "$WORK/buckets.txt" 2>>"$WORK/proxy.log" &
  proxy_pid=$!
  wait_http "http://127.0.0.1:$PORT/ping/"
}
stop_proxy() { kill $proxy_pid; wait $proxy_pid 2>/dev/null || true; proxy_pid=; }
upload() { curl -sf -o /dev/null --data-binary @"$2" "http://127.0.0.1:$PORT/upload/b/$1"; }
start_proxy
upload short.mp4 "$WORK/media/short.mp4"
upload long.mp4 "$WORK/media/long.mp4"

# --- nginx-vod-module -------------------------------------------------------
NPORT=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
worker_processes auto; daemon off; error_log $WORK/nginx-error.log; pid $WORK/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 120;
  vod_mode local; vod_metadata_cache metadata_cache 256m; vod_response_cache response_cache 64m;
  vod_segment_duration 6000; vod_align_segments_to_key_frames on;
  vod_hls_container_format fmp4; vod_hls_absolute_master_urls off; vod_hls_absolute_index_urls off;
  server { listen 127.0.0.1:$NPORT;
    location /hls/ { alias $WORK/media/; vod hls; }
  }
}
EOF
start_nginx() {
  "$NGINX_VOD" -c "$WORK/nginx.conf" -p "$WORK" 2>>"$WORK/nginx-error.log" &
  nginx_pid=$!
  for _ in $(seq 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$NPORT/hls/short.mp4/master.m3u8" && return 0
    sleep 0.1
  done
  echo "nginx-vod-module does not serve the title: $(tail -3 "$WORK/nginx-error.log")" >&2
  exit 1
}
stop_nginx() { kill $nginx_pid; wait $nginx_pid 2>/dev/null || true; nginx_pid=; }
have_nginx && start_nginx

# CPU seconds (user+system) of a process and its children (nginx workers).
cpu_of() {
  python3 - "$1" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
root = int(sys.argv[1])
pids = [root] + [int(p) for p in open(f"/proc/{root}/task/{root}/children").read().split()]
total = 0
for p in pids:
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    total += int(f[11]) + int(f[12])
print(total / tick)
PY
}

# Segment URL lists: ours v0/a0 seg-N.m4s, nginx-vod seg-N-v1.m4s / -a1.
segments() { # base-url media-playlist-url -> the absolute segment URLs in it
  curl -sf "$2" | grep -v -e '^#' -e '^\s*$' | sed -E "/^https?:/! s|^|$1|"
}
segments "http://127.0.0.1:$VPORT/hls/b/short.mp4/v0/" "http://127.0.0.1:$VPORT/hls/b/short.mp4/v0/index.m3u8" >"$WORK/ours.paths"
segments "http://127.0.0.1:$VPORT/hls/b/short.mp4/a0/" "http://127.0.0.1:$VPORT/hls/b/short.mp4/a0/index.m3u8" >>"$WORK/ours.paths"
if have_nginx; then
  nbase="http://127.0.0.1:$NPORT/hls/short.mp4/"
  segments "$nbase" "${nbase}index-v1.m3u8" >"$WORK/nginx.paths"
  segments "$nbase" "${nbase}index-a1.m3u8" >>"$WORK/nginx.paths"
fi
for list in "$WORK"/*.paths; do
  while read -r url; do
    curl -sf -o /dev/null "$url" || { echo "$url: $(curl -s -o /dev/null -w '%{http_code}' "$url")" >&2; exit 1; }
  done <"$list"
done
echo "segments of the 10-minute title (video and audio): ours $(grep -c . "$WORK/ours.paths")$(have_nginx && echo ", nginx-vod-module $(grep -c . "$WORK/nginx.paths")")"

# wrk run over a path list: prints "segments/s MB/s cpu_ms_per_segment verdict".
run_walk() { # paths-file server-pid
  local out before after v c0 c1
  settle
  before=$(load1)
  c0=$(cpu_of "$2")
  out=$(VOD_PATHS=$1 wrk -t2 -c16 -d"${DURATION}s" --timeout 30s -s bench/vod-walk.lua "$(head -1 "$1")")
  c1=$(cpu_of "$2")
  after=$(load1)
  v=$(verdict "$before" "$after")
  echo "  $(basename "$1" .paths): load $before -> $after ($v)" >&2
  python3 - "$out" "$c0" "$c1" "$v" <<'PY'
import re, sys
t, c0, c1, v = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
n = int(re.search(r"(\d+) requests in", t).group(1))
secs = float(re.search(r"requests in ([\d.]+)s", t).group(1))
size = re.search(r"([\d.]+)(B|KB|MB|GB) read", t)
mb = float(size.group(1)) * {"B": 1e-6, "KB": 1024/1e6, "MB": 1024**2/1e6, "GB": 1024**3/1e6}[size.group(2)]
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if errs:
    sys.exit("non-2xx answers: " + errs.group(1))
print(f"{n/secs:.0f} {mb/secs:.0f} {(c1-c0)*1000/n:.3f} {v}")
PY
}

echo
echo "## 1. Segments, 16 keep-alive clients, the 10-minute title"
echo
echo "| side | segments/s | MB/s | CPU ms per segment | load |"
echo "|---|---|---|---|---|"
best_o="0 0 0 INVALID" best_n="0 0 0 INVALID"
for r in $(seq "$ROUNDS"); do
  o=$(run_walk "$WORK/ours.paths" "$proxy_pid")
  echo "| ours (round $r) | ${o// / | } |"
  [[ $o != *INVALID ]] && [ "${o%% *}" -gt "${best_o%% *}" ] && best_o=$o
  if have_nginx; then
    n=$(run_walk "$WORK/nginx.paths" "$nginx_pid")
    echo "| nginx-vod-module (round $r) | ${n// / | } |"
    [[ $n != *INVALID ]] && [ "${n%% *}" -gt "${best_n%% *}" ] && best_n=$n
  fi
done
if have_nginx; then
  python3 - "$best_o" "$best_n" <<'PY'
import sys
o, n = sys.argv[1].split(), sys.argv[2].split()
if o[3] != "valid" or n[3] != "valid":
    print("\nratios: INVALID (no run of each side at load <= 1.5)")
else:
    print(f"\nratios (best valid runs, ours / nginx-vod-module): segments/s {float(o[0])/float(n[0]):.2f}, "
          f"MB/s {float(o[1])/float(n[1]):.2f}, CPU per segment {float(o[2])/float(n[2]):.2f}")
PY
fi

# Time to first byte of one GET on a new connection, in ms.
ttfb() { curl -s -o /dev/null -w '%{time_starttransfer}\n' "$1" | awk '{printf "%.1f", $1 * 1000}'; }

echo
echo "## 2. First byte, two-hour title (ms)"
echo
echo "| round | ours cold seg 1 | ours cold seg 901 (1:30:00) | nginx-vod cold seg 1 | nginx-vod cold seg 901 | ours warm seg 901 | /get/ of its bytes |"
echo "|---|---|---|---|---|---|---|"
# Segment 901 starts at 1:30:00 (6 s segments, a keyframe every 2 s).
curl -sf -o "$WORK/seg901.m4s" "http://127.0.0.1:$VPORT/hls/b/long.mp4/v0/seg-901.m4s"
upload seg901.m4s "$WORK/seg901.m4s"
for r in $(seq "$ROUNDS"); do
  settle
  before=$(load1)
  # Cold: keys never asked for (the same bytes under new names).
  upload "cold-$r-a.mp4" "$WORK/media/long.mp4"
  upload "cold-$r-b.mp4" "$WORK/media/long.mp4"
  stop_proxy; start_proxy
  oc1=$(ttfb "http://127.0.0.1:$VPORT/hls/b/cold-$r-a.mp4/v0/seg-1.m4s")
  oc901=$(ttfb "http://127.0.0.1:$VPORT/hls/b/cold-$r-b.mp4/v0/seg-901.m4s")
  nc1=- nc901=-
  if have_nginx; then
    stop_nginx; start_nginx
    nc1=$(ttfb "http://127.0.0.1:$NPORT/hls/long.mp4/seg-1-v1.m4s")
    stop_nginx; start_nginx
    nc901=$(ttfb "http://127.0.0.1:$NPORT/hls/long.mp4/seg-901-v1.m4s")
  fi
  # Warm: cold-$r-b's index is stored in the cluster in the background
  # after its parse (give it 2 s); a new proxy process. A warm request
  # that parsed after all (the index not stored yet) is marked.
  sleep 2
  stop_proxy; start_proxy
  ow901=$(ttfb "http://127.0.0.1:$VPORT/hls/b/cold-$r-b.mp4/v0/seg-901.m4s")
  parses=$(curl -s "http://127.0.0.1:$PORT/proxy_stat/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["VOD"]["Parses"])')
  [ "$parses" = 0 ] || ow901="$ow901 (parsed: no stored index)"
  get=$(ttfb "http://127.0.0.1:$PORT/get/b/seg901.m4s")
  after=$(load1)
  echo "| $r ($(verdict "$before" "$after"), load $before -> $after) | $oc1 | $oc901 | $nc1 | $nc901 | $ow901 | $get |"
done

echo
echo "## 3. Memory: 200 viewers of 50 two-hour titles for $VIEW_SECONDS s"
echo
for i in $(seq 1 50); do upload "title-$i.mp4" "$WORK/media/long.mp4"; done
stop_proxy; start_proxy
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %d MiB  ", $1, $2 / 1024}' "/proc/$1/status"; }
echo "proxy at rest: $(rss "$proxy_pid")"
settle
before=$(load1)
c0=$(cpu_of "$proxy_pid")
python3 - "$VPORT" "$VIEW_SECONDS" "$WORK/served" <<'PY'
import http.client, random, sys, threading, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
stop = time.time() + secs
count, errors = [0], []
def viewer(n):
    title = f"title-{n % 50 + 1}.mp4"
    rng = random.Random(n)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    seg = rng.randint(1, 1190)
    while time.time() < stop:
        for track in ("v0", "a0"):
            c.request("GET", f"/hls/b/{title}/{track}/seg-{seg}.m4s")
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
            count[0] += 1
        seg = seg % 1200 + 1
threads = [threading.Thread(target=viewer, args=(n,)) for n in range(200)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{count[0]} segments served to 200 viewers, {len(errors)} errors")
open(sys.argv[3], "w").write(str(count[0]))
PY
c1=$(cpu_of "$proxy_pid")
after=$(load1)
echo "proxy after: $(rss "$proxy_pid") (load $before -> $after, $(verdict "$before" "$after"))"
echo "proxy CPU a segment: $(python3 -c "print(f'{($c1 - $c0) * 1000 / max(1, $(cat "$WORK/served")):.3f} ms')")"
echo
echo "Then the same 50 titles, their indexes in the cluster, each request another"
echo "title (wrk -t1 -c200, bench/vod-titles.lua, $DURATION s): the index cache's worst case"
settle
before=$(load1)
c0=$(cpu_of "$proxy_pid")
out=$(wrk -t1 -c200 -d"${DURATION}s" -s bench/vod-titles.lua "http://127.0.0.1:$VPORT/")
c1=$(cpu_of "$proxy_pid")
after=$(load1)
n=$(awk '/requests in/ {print $1}' <<<"$out")
errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") segments/s, ${errors:-0} errors, proxy CPU a segment" \
  "$(python3 -c "print(f'{($c1 - $c0) * 1000 / max(1, $n):.3f} ms')"), $(rss "$proxy_pid")" \
  "(load $before -> $after, $(verdict "$before" "$after"))"
