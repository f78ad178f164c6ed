#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine.
set -euo pipefail
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v openssl >/dev/null || need+=(openssl)
# tests/tls.rs: an HTTPS and HTTP/2 client
command -v curl >/dev/null || need+=(curl)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
# tests/browser.rs: a test MP4 made by ffmpeg, played by headless Chromium
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
