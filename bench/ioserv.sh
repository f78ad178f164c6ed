# Sourced by the benchmarks that run on Elliptics: a loopback dnet_ioserv.
# Needs ELL (the Elliptics prefix) and free_port.

# ioserv_start DIR GROUPS: starts $ELL/bin/dnet_ioserv with GROUPS eblob
# backends (backend g in group g) under DIR, its config in DIR/ioserv.json;
# sets IOSERV_PORT and IOSERV_PID and returns once it listens.
ioserv_start() {
  local dir=$1 groups=$2 mport backends
  IOSERV_PORT=$(free_port)
  mport=$(free_port)
  backends=$(for g in $(seq "$groups"); do
    mkdir -p "$dir/data-$g" "$dir/history-$g"
    printf '{"backend_id": %d, "type": "blob", "group": %d, "history": "%s", "data": "%s", "sync": "-1", "blob_flags": "0", "blob_size": "10G", "records_in_blob": "1000000", "periodic_timeout": 15},' \
      "$g" "$g" "$dir/history-$g" "$dir/data-$g/data"
  done | sed 's/,$//')
  cat >"$dir/ioserv.json" <<JSON
{"logger": {"level": "error", "root": [{"type": "blocking",
   "formatter": {"type": "string", "pattern": "{timestamp} {severity}: {message}"},
   "sinks": [{"type": "file", "path": "$dir/ioserv.log", "flush": 1}]}]},
 "options": {"join": true, "flags": 4, "remote": [], "address": ["127.0.0.1:$IOSERV_PORT:2"],
   "wait_timeout": 30, "check_timeout": 60, "io_thread_num": 8, "nonblocking_io_thread_num": 4,
   "net_thread_num": 2, "daemon": false, "auth_cookie": "bench",
   "monitor": {"port": $mport, "address": "127.0.0.1"}},
 "backends": [$backends]}
JSON
  "$ELL/bin/dnet_ioserv" -c "$dir/ioserv.json" >"$dir/stdout.log" 2>&1 &
  IOSERV_PID=$!
  for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$IOSERV_PORT") 2>/dev/null && break; sleep 0.1; done
}
