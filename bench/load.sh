# Load-average rules shared by the benchmarks (sourced, not run).
#
# A ratio only means something on a quiet machine: a run counts as valid
# when the 1-minute load average was at most MAX_LOAD (1.5) both before and
# after it. Before each run the scripts wait (up to SETTLE_MAX seconds) for
# the load to fall to SETTLE, so that the previous run's own load does not
# spill into the next one.
MAX_LOAD=${MAX_LOAD:-1.5}
SETTLE=${SETTLE:-0.7}
SETTLE_MAX=${SETTLE_MAX:-90}

load1() { cut -d' ' -f1 /proc/loadavg; }

# Waits until the load is at most SETTLE (or SETTLE_MAX seconds passed).
settle() {
  local i
  for ((i = 0; i < SETTLE_MAX; i++)); do
    awk -v l="$(load1)" -v s="$SETTLE" 'BEGIN { exit !(l <= s) }' && return 0
    sleep 1
  done
}

# "valid" when both loads are at most MAX_LOAD, else "INVALID".
verdict() {
  awk -v a="$1" -v b="$2" -v m="$MAX_LOAD" 'BEGIN { print (a <= m && b <= m) ? "valid" : "INVALID" }'
}
