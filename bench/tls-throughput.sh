#!/usr/bin/env bash
# Download throughput of one object over plain HTTP, HTTPS/1.1 and HTTPS/2
# from the same running proxy and, side by side as the reference, from nginx
# serving the same bytes as a static file with the same certificate (when
# nginx is installed); runs interleaved; prints MB/s and ratios. Needs a
# release build (cargo build --release --bins), openssl and curl.
# Usage: bench/tls-throughput.sh [SIZE_MB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-256}
runs=${2:-5}
bin=target/release
dir=$(mktemp -d)
npid=
trap 'kill $pid $npid 2>/dev/null || true; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port); https=$(port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
cat > "$dir/config.json" <<JSON
{"elliptics": {"metadata-groups": [1]},
 "proxy": {"address": "127.0.0.1:$http", "https_address": "127.0.0.1:$https",
           "cert_file": "$dir/cert.pem", "key_file": "$dir/key.pem"},
 "local": {"path": "$dir/store", "groups": [{"group": 1}]}}
JSON
echo '{"buckets": {"b1": {"groups": [1]}}}' > "$dir/buckets.json"
echo b1 > "$dir/buckets.txt"
"$bin/bmeta" -config "$dir/config.json" -upload "$dir/buckets.json" >/dev/null
RUST_LOG=warn "$bin/backrunner" -config "$dir/config.json" -buckets "$dir/buckets.txt" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http/ping/" >/dev/null && break; sleep 0.1; done
head -c $((size_mb << 20)) /dev/urandom > "$dir/obj"
curl -sf --data-binary @"$dir/obj" "http://127.0.0.1:$http/upload/b1/obj" >/dev/null
kinds=(http https1 https2)
if command -v nginx >/dev/null; then
  nhttp=$(port); nhttps=$(port)
  mkdir -p "$dir/www" "$dir/ntmp"
  mv "$dir/obj" "$dir/www/obj"
  cat > "$dir/nginx.conf" <<NGINX
user root root;
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events {}
http {
  access_log off;
  client_body_temp_path $dir/ntmp; proxy_temp_path $dir/ntmp; fastcgi_temp_path $dir/ntmp;
  uwsgi_temp_path $dir/ntmp; scgi_temp_path $dir/ntmp;
  server {
    listen 127.0.0.1:$nhttp;
    listen 127.0.0.1:$nhttps ssl http2;
    ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
    root $dir/www;
  }
}
NGINX
  nginx -c "$dir/nginx.conf" 2>>"$dir/nginx-error.log" &
  npid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$nhttp/obj" && break; sleep 0.1; done
  kinds+=(nginx-http nginx-https1 nginx-https2)
else
  rm "$dir/obj"
  echo "nginx not installed: no reference run"
fi
declare -A total
for kind in "${kinds[@]}"; do total[$kind]=0; done
for _ in $(seq "$runs"); do
  for kind in "${kinds[@]}"; do
    case $kind in
      http) args=("http://127.0.0.1:$http/get/b1/obj") ;;
      https1) args=(--http1.1 --cacert "$dir/cert.pem" "https://127.0.0.1:$https/get/b1/obj") ;;
      https2) args=(--http2 --cacert "$dir/cert.pem" "https://127.0.0.1:$https/get/b1/obj") ;;
      nginx-http) args=("http://127.0.0.1:$nhttp/obj") ;;
      nginx-https1) args=(--http1.1 --cacert "$dir/cert.pem" "https://127.0.0.1:$nhttps/obj") ;;
      nginx-https2) args=(--http2 --cacert "$dir/cert.pem" "https://127.0.0.1:$nhttps/obj") ;;
    esac
    speed=$(curl -sf -o /dev/null -w '%{speed_download}' "${args[@]}")
    total[$kind]=$(python3 -c "print(${total[$kind]} + $speed)")
  done
done
for kind in "${kinds[@]}"; do
  python3 -c "
t = ${total[$kind]} / $runs
h = ${total[http]} / $runs
ref = float('${total[nginx-$kind]:-0}') / $runs
line = '%-13s %8.1f MB/s  ratio to proxy http %.2f' % ('$kind:', t / 1e6, t / h)
if ref > 0:
    line += '  ratio to nginx %.2f' % (t / ref)
print(line)"
done
