#!/usr/bin/env bash
# The project's test command (README.md): unit tests and the HTTP
# integration tests against the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets
