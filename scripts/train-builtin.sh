#!/usr/bin/env bash
# Reproduces the built-in model end to end: reference venv, then every stage of scripts/train_builtin.py
# (recipe: scripts/builtin_config.json), then the export to weights/unclip-builtin.safetensors.
# Resumable: rerun after an interruption and it continues from the newest checkpoints in work-tmp/builtin.
# Runs in the foreground; for a long run use:  nohup bash scripts/train-builtin.sh > train.log 2>&1 &
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bash "$here/scripts/setup-reference.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$here/.venv-ref/bin/python" -u "$here/scripts/train_builtin.py" all "$@"
