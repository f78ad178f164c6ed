#!/usr/bin/env bash
# Runs families of the public ceph/s3-tests suite against a proxy on the
# embedded store, and prints pass/fail/error counts per family.
#
#   tests/s3/ceph-s3-tests.sh S3TESTS_DIR [FAMILY...]
#
# S3TESTS_DIR is a checkout of ceph/s3-tests (not part of this repository).
# FAMILY is one of: object listing bucket conditional range (default: all).
# Needs python3 with venv; the suite's requirements are installed into
# $S3TESTS_VENV (default: S3TESTS_DIR/.venv) from PyPI on first use.
# Extra pytest arguments: S3TESTS_PYTEST_ARGS (e.g. "-x -q").
# S3TESTS_NO_CLEANUP=1 skips the suite's bucket cleanup (see below).
# Per-family JUnit reports and the proxy log are left in $OUT (default a temp dir).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
suite=${1:?usage: $0 S3TESTS_DIR [FAMILY...]}
suite=$(cd "$suite" && pwd)
shift
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(object listing bucket conditional range)

venv=${S3TESTS_VENV:-$suite/.venv}
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$suite/requirements.txt"
fi

(cd "$here" && cargo build --quiet --bin backrunner --bin bmeta)
bin="$here/target/debug"

out=${OUT:-$(mktemp -d /tmp/ceph-s3-tests.XXXXXX)}
mkdir -p "$out"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(port)
s3_port=$(port)

# The users of s3tests.conf (the suite's sample keys), declared in the
# admin bucket with flag 4, so each may create and delete its buckets.
main_key=0555b35654ad1656d804
main_secret='h7GhxuBLTrlhVUyxSPUKUV8r/2EI4ngqJxD7iBdBYLhwluN30JaT3Q=='
alt_key=NOPQRSTUVWXYZABCDEFG
alt_secret=nopqrstuvwxyzabcdefghijklmnabcdefghijklm
tenant_key=HIJKLMNOPQRSTUVWXYZA
tenant_secret=opqrstuvwxyzabcdefghijklmnopqrstuvwxyzab

cat > "$out/config.json" <<EOF
{
  "elliptics": {"log-file": "/dev/stderr", "log-level": "error", "metadata-groups": [1],
                "bucket-list-key": "bucket-list"},
  "proxy": {"address": "127.0.0.1:$http_port", "s3-address": "127.0.0.1:$s3_port",
            "s3-admin-bucket": "s3-users", "s3-default-groups": [1, 2],
            "idle-timeout": 30, "bucket-update-interval": 30},
  "local": {"path": "$out/store", "groups": [
    {"group": 1, "size-limit": 17179869184}, {"group": 2, "size-limit": 17179869184}]}
}
EOF
cat > "$out/buckets.json" <<EOF
{"buckets": {"s3-users": {"groups": [1], "acl": [
  {"user": "$main_key", "token": "$main_secret", "flags": 6},
  {"user": "$alt_key", "token": "$alt_secret", "flags": 6},
  {"user": "$tenant_key", "token": "$tenant_secret", "flags": 6}]}}}
EOF
: > "$out/buckets.txt"
"$bin/bmeta" -config "$out/config.json" -upload "$out/buckets.json" >/dev/null

"$bin/backrunner" -config "$out/config.json" -buckets "$out/buckets.txt" 2> "$out/proxy.log" &
proxy=$!
trap 'kill $proxy 2>/dev/null || true; wait $proxy 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http_port/ping/" >/dev/null 2>&1 && break
  sleep 0.1
done

cat > "$out/s3tests.conf" <<EOF
[DEFAULT]
host = 127.0.0.1
port = $s3_port
is_secure = False
ssl_verify = False
[fixtures]
bucket prefix = s3t-{random}-
[s3 main]
display_name = M. Tester
user_id = $main_key
email = tester@example.com
api_name = default
access_key = $main_key
secret_key = $main_secret
[s3 alt]
display_name = john.doe
email = john.doe@example.com
user_id = $alt_key
access_key = $alt_key
secret_key = $alt_secret
[s3 tenant]
display_name = testx\$tenanteduser
user_id = $tenant_key
access_key = $tenant_key
secret_key = $tenant_secret
email = tenanteduser@example.com
tenant = testx
[iam]
email = s3@example.com
user_id = iam
access_key = ABCDEFGHIJKLMNOPQRST
secret_key = abcdefghijklmnopqrstuvwxyzabcdefghijklmn
display_name = youruseridhere
[iam root]
access_key = AAAAAAAAAAAAAAAAAAaa
secret_key = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
user_id = RGW11111111111111111
email = account1@ceph.com
[iam alt root]
access_key = BBBBBBBBBBBBBBBBBBbb
secret_key = bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
user_id = RGW22222222222222222
email = account2@ceph.com
EOF

# The families, as pytest -k expressions over test_s3.py's test names.
family_expr() {
  case $1 in
    object) echo "test_object_ or test_put_object or test_get_object or test_head_object or test_delete_object or test_multi_object_delete" ;;
    listing) echo "test_bucket_list or test_bucket_listv2" ;;
    bucket) echo "(test_bucket_ or test_buckets_) and not test_bucket_list and not test_bucket_listv2" ;;
    conditional) echo "ifmatch or ifnonematch or ifmodified or ifunmodified or if_match or if_none_match" ;;
    range) echo "ranged" ;;
    *) echo "unknown family $1" >&2; exit 2 ;;
  esac
}

# S3TESTS_NO_CLEANUP=1: the suite's per-test bucket cleanup is skipped
# (tests/s3/ceph_no_cleanup.py), for a server without DeleteBucket.
plugin=
[ "${S3TESTS_NO_CLEANUP:-}" = 1 ] && plugin="-p ceph_no_cleanup" && echo "bucket cleanup skipped (S3TESTS_NO_CLEANUP=1)"
# A test whose body passed but whose teardown failed (the suite's bucket
# cleanup) counts as passed, and is also shown under "teardown".
printf '%-12s %7s %7s %7s %7s %9s\n' family passed failed errors skipped teardown
for f in "${families[@]}"; do
  # shellcheck disable=SC2086
  (cd "$suite" && S3TEST_CONF="$out/s3tests.conf" PYTHONPATH="$here/tests/s3" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider $plugin \
    s3tests/functional/test_s3.py -k "$(family_expr "$f")" -m "not fails_on_aws" \
    --junitxml="$out/$f.xml" ${S3TESTS_PYTEST_ARGS:-} > "$out/$f.log" 2>&1) || true
  python3 - "$out/$f.xml" "$f" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
n = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "teardown": 0}
for case in root.iter("testcase"):
    kinds = {c.tag: c.get("message", "") for c in case}
    if "skipped" in kinds:
        n["skipped"] += 1
    elif "failure" in kinds:
        n["failed"] += 1
    elif "error" in kinds and "teardown" not in kinds["error"]:
        n["errors"] += 1
    else:
        n["passed"] += 1
        n["teardown"] += "error" in kinds
print(f"{sys.argv[2]:<12} {n['passed']:7} {n['failed']:7} {n['errors']:7} {n['skipped']:7} {n['teardown']:9}")
PY
done
echo "reports and logs: $out"
