#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine.
set -euo pipefail
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v openssl >/dev/null || need+=(openssl)
# tests/it/tls.rs: an HTTPS and HTTP/2 client
command -v curl >/dev/null || need+=(curl)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
# ci/package.sh: shlib dependencies of the .deb, rpm -qlp, systemd-analyze
# verify, the install test (adduser) and npm for the Dockerfile linter.
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v rpm >/dev/null || need+=(rpm)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v adduser >/dev/null || need+=(adduser)
command -v npm >/dev/null || need+=(npm)
# tests/it/browser.rs: a test MP4 made by ffmpeg, played by headless Chromium;
# tests/it/status_page.rs: the status page in headless Chromium
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
# tests/it/alerts.rs: promtool checks and tests packaging/prometheus/alerts.yml
command -v promtool >/dev/null || need+=(prometheus)
# tests/it/s3_cli.rs, s3_multipart.rs: rclone as users run it (Debian's package)
command -v rclone >/dev/null || need+=(rclone)
# tests/it/s3_tagging.rs: aws-cli v2 (Debian's awscli; the PyPI one below is v1)
[ -x /usr/bin/aws ] || need+=(awscli)
# Building the Elliptics backend (only where Elliptics is installed):
# bindgen needs libclang; the client headers need boost.
if [ -d "${ELLIPTICS_PREFIX:-/opt/elliptics}" ]; then
  dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
  command -v clang >/dev/null || need+=(clang)
  dpkg -s libboost-dev >/dev/null 2>&1 || need+=(libboost-dev)
  command -v g++ >/dev/null || need+=(g++)
  # ci/btest.sh: tells a core of the storage node from one of the proxy
  command -v gdb >/dev/null || need+=(gdb)
fi
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
# tests/it/s3.rs: the S3 API driven by boto3 and aws-cli (PyPI)
command -v python3 >/dev/null || { apt-get update -qq; apt-get install -y -qq python3 python3-pip; }
# (Debian's own python refuses pip without --break-system-packages, PEP 668.)
pip_install() { python3 -m pip install --quiet "$@" || python3 -m pip install --quiet --break-system-packages "$@"; }
python3 -c 'import boto3' 2>/dev/null || pip_install boto3
# tests/it/s3_checksums.rs: botocore computes CRC32C and CRC64NVME only with awscrt
python3 -c 'import awscrt' 2>/dev/null || pip_install awscrt
# aws-cli v1 from PyPI first in PATH (/usr/local/bin before Debian's v2 in /usr/bin):
# tests/it/s3_wire.rs and s3_sigv2.rs presign with it (Signature V2)
aws --version 2>&1 | grep -q '^aws-cli/1' || pip_install awscli
# tests/it/s3_cli.rs: s3cmd (PyPI)
command -v s3cmd >/dev/null || pip_install s3cmd
# Dockerfile linter (hadolint is not packaged in Debian; this is pure JS).
command -v dockerfilelint >/dev/null || npm install -g --no-fund --no-audit dockerfilelint@1.8.0
# tests/it/vod_players.rs: hls.js and dash.js (npm's `dashjs`; `dash.js` is
# an unrelated package) played in headless Chromium, pinned.
players=${BACKRUNNER_PLAYERS_DIR:-/usr/local/share/backrunner-tests}
[ -f "$players/node_modules/hls.js/dist/hls.min.js" ] \
  && [ -f "$players/node_modules/dashjs/dist/modern/umd/dash.all.min.js" ] \
  || { mkdir -p "$players" && npm install --prefix "$players" --no-fund --no-audit --silent hls.js@1.7.4 dashjs@5.2.1; }
