#!/usr/bin/env bash
# The test suite: Swift tests in release mode (numeric loops are 10–50× slower in debug), the concurrency tests
# again under ThreadSanitizer (scripts/tsan.sh), then the Python tests of scripts/ (converter error cases) when
# pytest, numpy and safetensors are importable (scripts/tests/test_serve.py also needs openai and the release binary that
# `swift test -c release` builds; it starts its own servers on 127.0.0.1; test_scaleout.py also needs Debian's
# postgresql package and starts its own throwaway cluster), then a short fuzzing run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test -c release -Xswiftc -enable-testing
# ThreadSanitizer on the concurrency tests (overlapping engine runs, cancellation, per-run arenas and pools).
if [ -n "${UNCLIP_SKIP_TSAN:-}" ] && [ -z "${CI:-}" ]; then
  echo "ThreadSanitizer run: skipped (UNCLIP_SKIP_TSAN is set)" >&2
else
  bash scripts/tsan.sh
fi
if python3 -c "import pytest, numpy, safetensors" 2>/dev/null && [ -d scripts/tests ]; then
  python3 -m pytest -q scripts/tests
else
  echo "scripts/tests: skipped (needs: pip install pytest numpy safetensors)" >&2
  [ -z "${CI:-}" ] || { echo "error: CI must run the scripts/ tests" >&2; exit 1; }
fi
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the parsers that read strangers' input, a short run of
# each target (scripts/fuzz.sh; longer runs: scripts/fuzz.sh -t 600). In CI always; locally with UNCLIP_FUZZ_SECONDS=N.
if [ -n "${CI:-}" ] || [ -n "${UNCLIP_FUZZ_SECONDS:-}" ]; then
  # CI: 6 s each on the quick (unoptimised) build, to keep the whole run under 30 minutes.
  UNCLIP_FUZZ_QUICK_BUILD="${UNCLIP_FUZZ_QUICK_BUILD-1}" bash scripts/fuzz.sh -t "${UNCLIP_FUZZ_SECONDS:-6}"
fi
