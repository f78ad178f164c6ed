#!/usr/bin/env bash
# Builds the Debian and RPM packages offline from vendored sources, inspects
# them, installs the .deb, runs the installed proxy with the packaged config,
# checks /ping/, purges it, and lints the Dockerfile. See docs/packaging.md.
#
#   ci/package.sh              default flavour (embedded store)
#   ELLIPTICS=1 ci/package.sh  also the backrunner-elliptics flavour
#                              (automatic when elliptics-dev is installed, or an
#                              Elliptics build is in $ELLIPTICS_PREFIX or /opt/elliptics)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }
fail() { echo "package.sh: $*" >&2; exit 1; }

step "packaging tools"
for tool in cargo-deb cargo-generate-rpm; do
  command -v "$tool" >/dev/null || cargo install --locked "$tool"
done
command -v dockerfilelint >/dev/null || fail "dockerfilelint missing: run ci/install-deps.sh"

elliptics=${ELLIPTICS:-}
ell_prefix="${ELLIPTICS_PREFIX:-/opt/elliptics}"
if [ -z "$elliptics" ]; then
  if dpkg -s elliptics-dev >/dev/null 2>&1; then
    elliptics=1
  elif [ -e "$ell_prefix/lib/libelliptics_cpp.so" ]; then
    # An Elliptics built from source (as the tests use): build the flavour against it.
    elliptics=1
    export ELLIPTICS_PREFIX="$ell_prefix"
  else
    elliptics=0
  fi
fi

step "vendor crates (cargo vendor) and build offline"
mkdir -p target
# Into target/vendor, not vendor/: vendor/ holds the hand-patched actix-http
# (vendor/README.md), and `cargo vendor` empties its destination first.
cargo vendor --locked --quiet target/vendor >target/vendor-config.toml
export CARGO_NET_OFFLINE=true
# Packages ship binaries without debug info (the dev profile keeps it).
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo
build() { cargo build --release --locked --offline --config target/vendor-config.toml "$@"; }
build

step "Debian package"
rm -rf target/debian
cargo deb --no-build --locked --offline
deb=$(ls target/debian/backrunner_*.deb)
dpkg-deb -I "$deb"
dpkg-deb -c "$deb" | tee target/deb-contents.txt
for f in /usr/bin/backrunner /usr/bin/bmeta /usr/bin/bindex /usr/bin/redirect-verify /etc/backrunner/backrunner.json \
  /etc/backrunner/buckets.txt /etc/logrotate.d/backrunner /usr/share/doc/backrunner/README.md \
  /usr/share/backrunner/grafana/backrunner.json /usr/share/backrunner/prometheus/alerts.yml; do
  grep -q " \.$f\$" target/deb-contents.txt || fail "$deb lacks $f"
done
# The shipped dashboard and alert rules are the checked ones (tests/it/dashboard.rs, alerts.rs).
rm -rf target/deb-share && mkdir -p target/deb-share
dpkg-deb -x "$deb" target/deb-share
python3 -m json.tool target/deb-share/usr/share/backrunner/grafana/backrunner.json >/dev/null \
  || fail "the packaged dashboard is not JSON"
promtool check rules target/deb-share/usr/share/backrunner/prometheus/alerts.yml \
  || fail "promtool rejects the packaged alert rules"
grep -Eq ' \./(usr/)?lib/systemd/system/backrunner\.service$' target/deb-contents.txt \
  || fail "$deb lacks the systemd unit"
grep -q adduser <<<"$(dpkg-deb -f "$deb" Depends)" || fail "Depends lacks adduser"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
for f in /etc/backrunner/backrunner.json /etc/backrunner/buckets.txt /etc/logrotate.d/backrunner; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile"
done

step "install the .deb"
if dpkg -s backrunner >/dev/null 2>&1; then apt-get purge -y -qq backrunner; fi
had_state=0
[ -e /var/lib/backrunner ] && had_state=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb"
getent passwd backrunner >/dev/null || fail "no backrunner user after install"
unit=$(dpkg -L backrunner | grep -E '/systemd/system/backrunner\.service$')
/usr/bin/backrunner --version
/usr/bin/backrunner --check-config /etc/backrunner/backrunner.json >/dev/null

step "systemd-analyze verify $unit"
# Warnings (unknown keys, bad values) fail too, not only missing binaries.
verify=$(systemd-analyze verify "$unit" 2>&1) || { echo "$verify" >&2; fail "systemd-analyze verify failed"; }
[ -z "$verify" ] || { echo "$verify" >&2; fail "systemd-analyze verify warned"; }
echo "ok"

step "run the installed proxy with the packaged config"
config=/etc/backrunner/backrunner.json
port=9090
if (exec 3<>/dev/tcp/127.0.0.1/9090) 2>/dev/null; then
  # Something else holds 9090 here: same config, another loopback port.
  while port=$((20000 + RANDOM % 30000)); (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do :; done
  config=$(mktemp --suffix=.json)
  sed "s/127.0.0.1:9090/127.0.0.1:$port/" /etc/backrunner/backrunner.json >"$config"
  chmod 644 "$config"
  echo "port 9090 is busy: using $port"
fi
runuser -u backrunner -- /usr/bin/backrunner -config "$config" -buckets /etc/backrunner/buckets.txt \
  2>target/installed-proxy.stderr &
pid=$!
status=000
for _ in $(seq 100); do
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ping/" || true)
  [ "$status" = 200 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ "$config" = /etc/backrunner/backrunner.json ] || rm -f "$config"
[ "$status" = 200 ] || { cat target/installed-proxy.stderr >&2; fail "/ping/ answered $status"; }
grep -q 'path: /ping/, status: 200' /var/log/backrunner/backrunner.log \
  || fail "no access line in /var/log/backrunner/backrunner.log"
echo "/ping/ 200, access line in /var/log/backrunner/backrunner.log"

step "purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq backrunner
[ ! -e /usr/bin/backrunner ] && [ ! -e /etc/backrunner ] && [ ! -e /var/log/backrunner ] \
  || fail "purge left files behind"
[ "$had_state" = 1 ] || rm -rf /var/lib/backrunner

step "RPM package"
rm -rf target/generate-rpm
cargo generate-rpm
rpm=$(ls target/generate-rpm/backrunner-*.rpm)
rpm -qip "$rpm"
rpm -qlp "$rpm" | tee target/rpm-contents.txt
# The same files as the .deb (cargo-deb adds the Debian copyright file; the
# unit may sit in /lib or /usr/lib).
norm() { sed -E 's#^/lib/systemd/#/usr/lib/systemd/#' | grep -v '^/usr/share/doc/backrunner/copyright$' | sort; }
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}' | norm >target/deb-files.txt
norm <target/rpm-contents.txt >target/rpm-files.txt
diff -u target/deb-files.txt target/rpm-files.txt || fail "the .deb and the .rpm hold different files"

if [ "$elliptics" = 1 ]; then
  step "Elliptics flavour"
  build --features elliptics
  cargo deb --no-build --locked --offline --variant elliptics
  cargo generate-rpm --variant elliptics
  edeb=$(ls target/debian/backrunner-elliptics_*.deb)
  ls target/generate-rpm/backrunner-elliptics-*.rpm
  grep -Eq '^ Depends:.*elliptics-client' <<<"$(dpkg-deb -I "$edeb")" || fail "$edeb does not depend on elliptics-client"
  grep -q ' \./usr/bin/backrunner$' <<<"$(dpkg-deb -c "$edeb")" || fail "$edeb lacks /usr/bin/backrunner"
  # Not `ldd ... | grep -q`: grep quits at the first match, ldd then dies of
  # SIGPIPE, and pipefail failed the check now and then on a good binary.
  grep -q libelliptics_cpp <<<"$(ldd target/release/backrunner)" || fail "the Elliptics flavour is not linked to libelliptics_cpp"
else
  echo "Elliptics flavour skipped (no elliptics-dev, nothing in $ell_prefix; ELLIPTICS=1 forces it)"
fi

step "lint the Dockerfile"
dockerfilelint Dockerfile
echo "package.sh: all packaging checks passed"
