#!/usr/bin/env bash
# Sets up (if needed) and runs the tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python writes the .pyc of what the tests import (set-up then compiles nothing up front; the hundred
# processes the tests start read them instead of compiling automl and its imports again).
unset PYTHONDONTWRITEBYTECODE
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
