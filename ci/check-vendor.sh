#!/usr/bin/env bash
# Checks that vendor/actix-http is exactly the registry's actix-http of the
# version vendor/README.md names, without the files left out there, plus
# vendor/actix-http.patch: nobody edits the vendored crate silently.
# The .crate comes through cargo itself (a throwaway package depending on
# that exact version; cargo checks the download against the index's
# checksum), so it works wherever `cargo build` can reach the registry, or
# offline once the crate is in cargo's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
name=actix-http
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "vendor/$name/Cargo.toml" | head -1)
[ -n "$version" ] || { echo "check-vendor: no version in vendor/$name/Cargo.toml" >&2; exit 1; }
grep -q "$name $version" vendor/README.md \
  || { echo "check-vendor: vendor/README.md does not name $name $version" >&2; exit 1; }
# Left out of the vendored copy (not built by a dependent): keep in step
# with vendor/README.md.
left_out=(benches examples tests Cargo.toml.orig Cargo.lock .cargo_vcs_info.json)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/probe"
cat >"$work/probe/Cargo.toml" <<TOML
[package]
name = "vendor-check-probe"
version = "0.0.0"
edition = "2021"
publish = false
[lib]
path = "lib.rs"
[dependencies]
$name = { version = "=$version", default-features = false }
[workspace]
TOML
touch "$work/probe/lib.rs"
export CARGO_TARGET_DIR="$work/target"
(cd "$work/probe" && { cargo fetch --quiet 2>/dev/null || cargo fetch --quiet --offline; })
cargo_home=${CARGO_HOME:-$HOME/.cargo}
crate=$(ls "$cargo_home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -1)
[ -n "$crate" ] || { echo "check-vendor: cargo fetched no $name-$version.crate" >&2; exit 1; }

mkdir "$work/expected"
tar -xzf "$crate" -C "$work/expected"
expected="$work/expected/$name-$version"
for f in "${left_out[@]}"; do rm -rf "${expected:?}/$f"; done
patch --quiet -p1 -d "$expected" <"vendor/$name.patch"
if ! diff -r "$expected" "vendor/$name" >"$work/diff"; then
  echo "check-vendor: vendor/$name differs from the registry's $name $version + vendor/$name.patch:" >&2
  cat "$work/diff" >&2
  echo "(change the patch file and vendor/README.md together with the copy)" >&2
  exit 1
fi
echo "check-vendor: vendor/$name is $name $version + vendor/$name.patch, nothing else"
