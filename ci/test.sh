#!/usr/bin/env bash
# The project's test command (README.md): unit tests and the HTTP
# integration tests against the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests drive (S3 clients, boto3 and awscrt, ffmpeg, Chromium,
# build tools): installed when this user may install packages; otherwise a
# test whose tool is missing says SKIPPED (under CI it fails instead).
if [ "$(id -u)" = 0 ]; then
  ci/install-deps.sh
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo -E ci/install-deps.sh
else
  echo "ci/test.sh: not root and no password-less sudo: not installing test tools (run ci/install-deps.sh as root); tests that need a missing one are SKIPPED"
fi

cargo test --all-targets

# The Elliptics backend: the same HTTP suite against a real dnet_ioserv,
# the Elliptics-only tests and the raw FFI smoke test, when an Elliptics
# install is found (ELLIPTICS_PREFIX, else /opt/elliptics).
ell="${ELLIPTICS_PREFIX:-/opt/elliptics}"
if [ -x "$ell/bin/dnet_ioserv" ]; then
  export ELLIPTICS_PREFIX="$ell"
  export PKG_CONFIG_PATH="$ell/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  echo "Elliptics tests: against $ell"
  cargo test -p elliptics-sys
  BACKRUNNER_TEST_BACKEND=elliptics cargo test --features elliptics --all-targets -- --skip cluster_faults::
  # The three-node fault scenarios (docs/reliability.md) on their own, not
  # beside the rest of the suite: their latency figures are the point.
  BACKRUNNER_TEST_BACKEND=elliptics cargo test --features elliptics --test it cluster_faults::
else
  echo "Elliptics tests skipped: $ell/bin/dnet_ioserv not found (see README, section Elliptics)"
fi

# Backrunner's own integration suite (btest, built by hand: README,
# "Backrunner's btest") against our Elliptics build, the scenarios that take
# under 2 minutes each, one per fresh cluster.
btest="${BTEST:-/opt/backrunner-go/bin/btest}"
if [ -x "$btest" ] && [ -x "$ell/bin/dnet_ioserv" ]; then
  echo "btest: $btest against target/debug/backrunner (--features elliptics)"
  cargo build --features elliptics --bin backrunner
  BTEST="$btest" ci/btest.sh target/debug/backrunner
else
  echo "btest skipped: $btest or $ell/bin/dnet_ioserv not found (see README, section Backrunner's btest)"
fi
