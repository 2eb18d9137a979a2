#!/usr/bin/env bash
# Sets up (if needed) and runs the demo pipeline on the embedded defaults:
# Prefect's local server, MLflow on SQLite in mlruns/, the Optuna study in mlruns/optuna.journal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/automl run config/breast_cancer.yaml "$@"
