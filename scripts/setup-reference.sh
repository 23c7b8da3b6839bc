#!/usr/bin/env bash
# Creates the git-ignored Python reference venv (.venv-ref) used by scripts/ to make fixtures and
# benchmarks. Idempotent: returns in well under a second when the pinned set is already installed.
# PyTorch/diffusers are for scripts and fixtures only; the Swift build and tests never need them.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${UNCLIP_VENV:-$here/.venv-ref}"
stamp="$venv/.unclip-ref-v1"
pins=(
  "torch==2.13.0+cpu"
  "diffusers==0.42.1"
  "transformers==5.23.0"
  "safetensors"
  "numpy"
  "Pillow"
  "open_clip_torch"   # only for its data file bpe_simple_vocab_16e6.txt.gz; never imported
)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${pins[*]}" ]; then
  echo "reference venv ready: $venv"; exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
# torchvision is deliberately absent: it breaks imports with this torch build.
"$venv/bin/pip" install -q "${pins[@]:0:6}"
# open_clip_torch is wanted only for its BPE merges data file: install it without its dependencies.
"$venv/bin/pip" install -q --no-deps "${pins[6]}"
if "$venv/bin/python" -c "import torchvision" 2>/dev/null; then
  echo "error: torchvision is installed in $venv; remove it (it breaks torch imports)" >&2; exit 1
fi
"$venv/bin/python" -c "import torch, diffusers, transformers, safetensors; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
echo "${pins[*]}" > "$stamp"
echo "reference venv ready: $venv"
