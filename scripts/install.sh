#!/usr/bin/env bash
# Installs unclip-run and its built-in model under PREFIX (default /usr/local):
#   PREFIX/bin/unclip-run
#   PREFIX/share/unclip/unclip-builtin.safetensors   (found by the binary as ../share/unclip beside it)
# The binary is built in release mode with the Swift runtime linked in (--static-swift-stdlib), so it runs without the
# toolchain; it needs the system's libopenblas and libpng (apt-get install libopenblas0 libpng16-16).
# --binary FILE installs an already built unclip-run instead of building one (tests use this).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
binary=""
if [ "${1:-}" = "--binary" ]; then binary="${2:?--binary needs a file}"; shift 2; fi
prefix="${1:-/usr/local}"
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
weights="$here/weights/unclip-builtin.safetensors"
[ -f "$weights" ] || { echo "error: $weights is missing" >&2; exit 1; }
if [ -z "$binary" ]; then
  (cd "$here" && swift build -c release --static-swift-stdlib --scratch-path .build-install --product unclip-run)
  binary="$here/.build-install/release/unclip-run"
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable" >&2; exit 1; }
install -d "$prefix/bin" "$prefix/share/unclip"
install -m 755 "$binary" "$prefix/bin/unclip-run"
install -m 644 "$weights" "$prefix/share/unclip/unclip-builtin.safetensors"
echo "installed $prefix/bin/unclip-run and $prefix/share/unclip/unclip-builtin.safetensors"
