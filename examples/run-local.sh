#!/usr/bin/env bash
# Runs the proxy on the embedded store with the example config:
# builds, writes the example buckets' metadata, then serves on 127.0.0.1:9090.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
./target/release/bmeta -config examples/backrunner.json -upload examples/buckets.json
exec ./target/release/backrunner -config examples/backrunner.json -buckets examples/buckets.txt
