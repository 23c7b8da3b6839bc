#!/usr/bin/env bash
# unclip's kernel benchmark beside PyTorch's on the same shapes and thread count, back to back in one run.
#   scripts/bench-ops.sh [THREADS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"; secs="${2:-1.5}"
swift build -c release --product unclip-run >/dev/null
bash scripts/setup-reference.sh >/dev/null
ours=$(.build/release/unclip-run bench ops --json --threads "$threads" --seconds "$secs")
theirs=$(.venv-ref/bin/python scripts/bench_ops_reference.py --threads "$threads" --seconds "$secs")
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
peak = next(r["rate"] for r in ours["rows"] if r["peak"])
print(f"threads: {ours['threads']}   PyTorch {theirs['torch']}   sgemm peak (unclip, same run): {peak:.1f} GFLOP/s")
print(f"{'kernel':<46} {'unclip ms':>10} {'rate':>9} {'% peak':>7}   {'torch ms':>9} {'rate':>9}  unit")
for o, t in zip(ours["rows"], theirs["rows"]):
    pct = f"{100 * o['rate'] / peak:6.1f}%" if o["unit"].strip() == "GFLOP/s" else "      -"
    print(f"{o['name'][:46]:<46} {o['ms']:10.2f} {o['rate']:9.1f} {pct:>7}   {t['ms']:9.2f} {t['rate']:9.1f}  {o['unit'].strip()}")
PY
