#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, AddressSanitizer) of the parsers that read strangers' input (issue #18):
#   FuzzWeights    weights header parser, metadata, scoped loading, configs and consistency checks
#   FuzzPNG        the PNG reader (libpng through PNGShim)
#   FuzzTokenizer  the CLIP BPE tokenizer
#   FuzzRequests   the server's JSON and multipart request decoding, then the images API's checks
#   FuzzEdits      the image and mask checks of edits
# Usage: scripts/fuzz.sh [TARGET ...|all] [-t SECONDS]   (default: all, 60 s each)
# Builds into .build-fuzz (UNCLIP_FUZZ=1 adds the targets to Package.swift), runs each on a working copy of its seed
# corpus (Tests/Fuzz/corpus/<target>, which stays as committed), and prints executions and coverage. A crash, leak or
# timeout leaves its input in .build-fuzz/artifacts/<target>/ and makes the script exit 1: add it as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) seconds="$2"; shift 2 ;;
    all) shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(FuzzWeights FuzzPNG FuzzTokenizer FuzzRequests FuzzEdits)
export UNCLIP_FUZZ=1
scratch=.build-fuzz
flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
       -Xswiftc -use-ld=lld)   # gold fails on libFuzzer's main beside the target's entry point
# UNCLIP_FUZZ_QUICK_BUILD=1 (CI's short smoke run): Swift without optimisation, in its own folder — the build takes
# about half the time (152 s instead of ~270 s here), the targets run 2–17× fewer inputs per second; the seed corpora
# are replayed whole either way. Real fuzzing runs keep the optimised build.
if [ -n "${UNCLIP_FUZZ_QUICK_BUILD:-}" ]; then scratch=.build-fuzz-quick; flags+=(-Xswiftc -Onone); fi
flags+=(--scratch-path "$scratch")
for t in "${targets[@]}"; do
  swift build "${flags[@]}" --product "$t" 2>&1 | grep -E "error|warning: unable|Compiling Fuzz|Build complete" || true
  [ -x "$scratch/release/$t" ] || { echo "fuzz: $t did not build" >&2; exit 1; }
done
status=0
for t in "${targets[@]}"; do
  work=".build-fuzz/corpus/$t" artifacts=".build-fuzz/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  cp -n Tests/Fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log=".build-fuzz/$t.log"
  echo "== $t: ${seconds} s"
  if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" "$scratch/release/$t" "$work" \
       -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$artifacts/" > "$log" 2>&1; then
    grep -aE "DONE +cov" "$log" | tail -1 || tail -3 "$log"
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
  else
    status=1
    echo "fuzz: $t FAILED — input in $artifacts/:" >&2
    ls "$artifacts" >&2
    grep -E "ERROR|SUMMARY|Fatal error|panic" "$log" | head -5 >&2 || tail -20 "$log" >&2
  fi
done
exit $status
