#!/usr/bin/env bash
# ThreadSanitizer run of the concurrency tests (issues #14, #16, #18, #19): overlapping engine runs, cancellation from another
# thread, the per-context scratch arena and tensor pool. A debug build with -sanitize=thread in its own build
# folder (.build-tsan); the numeric targets keep their -Ounchecked optimisation (Package.swift), so it takes
# minutes, not hours. Exit status: swift test's (TSan reports make the test process fail).
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-EngineTests|ScratchTests|TensorPoolTests|FastPathTests|JobQueueTests|DeterminismTests|MetricsTests|QueueConfigurationTests}"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
swift test --sanitize=thread --scratch-path .build-tsan --filter "$filter"
