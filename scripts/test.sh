#!/usr/bin/env bash
# The test suite: Swift tests in release mode (numeric loops are 10–50× slower in debug), then the
# Python tests of scripts/ (converter error cases) when pytest, numpy and safetensors are importable.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test -c release -Xswiftc -enable-testing
if python3 -c "import pytest, numpy, safetensors" 2>/dev/null && [ -d scripts/tests ]; then
  python3 -m pytest -q scripts/tests
else
  echo "scripts/tests: skipped (needs: pip install pytest numpy safetensors)" >&2
  [ -z "${CI:-}" ] || { echo "error: CI must run the scripts/ tests" >&2; exit 1; }
fi
