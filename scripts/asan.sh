#!/usr/bin/env bash
# AddressSanitizer run of the whole Swift test suite (issue #18): every target — C shims (PNGShim, the BLAS and malloc
# shims), the tensor kernels, weights I/O, the server, the queue — built in release mode with -sanitize=address in its
# own build folder (.build-asan), then `swift test` over all tests (or those matching $1). Heap/stack overflows, use
# after free and double frees abort the process; LeakSanitizer checks every process at exit. Reports go to files
# (.build-asan/reports/, so a CLI test's child process cannot fill its pipe with one) and any report fails the run.
# It takes about twice the plain release run; CI runs the plain suite, TSan and the fuzzers (which are ASan builds).
set -euo pipefail
cd "$(dirname "$0")/.."
reports="$PWD/.build-asan/reports"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:log_path=$reports/asan:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"   # toolchain leaks, each explained
export SWIFT_BACKTRACE=enable=no   # ASan's own report, not Swift's backtracer
args=(-c release -Xswiftc -enable-testing --sanitize=address --scratch-path .build-asan)
status=0
if [ -n "${1:-}" ]; then
  swift test "${args[@]}" --filter "$1" || status=$?
else
  swift test "${args[@]}" || status=$?
fi
if compgen -G "$reports/asan.*" > /dev/null; then
  echo "AddressSanitizer/LeakSanitizer reports:" >&2
  for f in "$reports"/asan.*; do echo "== $f" >&2; grep -E "ERROR|SUMMARY|^    #[0-9] " "$f" | head -30 >&2 || true; done
  status=1
fi
echo "asan: swift test exit $status, $(ls "$reports" | wc -l) report(s)"
exit $status
