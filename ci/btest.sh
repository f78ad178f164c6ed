#!/usr/bin/env bash
# Backrunner's own integration suite (test/btest in bioothod/backrunner)
# against a proxy binary, one scenario per fresh cluster (its scenarios
# share small blob limits that fill up over one long run).
#
#   ci/btest.sh PROXY_BINARY [SCENARIO...]
#
# btest is not in any registry: it is built by hand with the local changes
# docs/compatibility.md lists (BTEST_ONLY, Elliptics 3.0 on loopback) and
# found at $BTEST, else /opt/backrunner-go/bin/btest; it starts the
# dnet_ioserv found at $DNET_IOSERV, in PATH, or /opt/elliptics/bin.
# Without SCENARIO arguments the short set runs: every scenario but
# test_backend_slowdown (about 16 min) and test_uniform_free_space.
# Prints each scenario's own result line, then "btest: N passed, M failed";
# exits 1 when any failed.
set -euo pipefail
btest="${BTEST:-/opt/backrunner-go/bin/btest}"
proxy="$(realpath "$1")"
shift
if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=(TestBackendStatusUpdate test_backends_status test_bucket_update
    test_bucket_file_update test_nobucket_upload test_small_bucket_upload
    test_big_bucket_upload test_acl test_stats_update test_bucket_delete
    test_bucket_bulk_delete test_write_failed)
fi
ell="${ELLIPTICS_PREFIX:-/opt/elliptics}"
export PATH="$PATH:$ell/bin"
passed=0
failed=()
for s in "${scenarios[@]}"; do
  # test_write_failed writes into the buckets test_bucket_file_update makes.
  only="$s"
  [ "$s" = test_write_failed ] && only="test_bucket_file_update,$s"
  base="$(mktemp -d /tmp/btest-"$s".XXXXXX)"
  started=$(date +%s)
  BTEST_ONLY="$only" timeout 1800 "$btest" -base "$base/run" -proxy "$proxy" >"$base/btest.out" 2>&1 || true
  line="$(grep -E "btest\.$s: " "$base/btest.out" | tail -1 || true)"
  took=$(($(date +%s) - started))
  if [[ "$line" == *": success" ]]; then
    echo "$line (${took}s)"
    passed=$((passed + 1))
    rm -rf "$base"
  else
    echo "${line:-$s: no result line} (${took}s); output and logs kept in $base"
    tail -n 20 "$base/btest.out" | sed 's/^/    /'
    failed+=("$s")
  fi
done
echo "btest: $passed passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
