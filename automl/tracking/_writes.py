"""The writes the writer process (automl.tracking._writer) makes: MLflow child runs and Optuna
journal appends. Module-level functions, so they are sent to that process by reference."""

from __future__ import annotations

from functools import cache
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from automl.tracking._runs import end_run

MAX_BATCH = 1000  # MLflow takes at most 1000 metrics a batch


@cache
def _client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


def write_run(tracking_uri: str, experiment_id: str, run_name: str, tags: dict[str, str],
              params: dict[str, str], metrics: list[tuple[str, float, int, int]], status: str,
              start_ms: int | None = None, end_ms: int | None = None) -> None:
    """Create the run with its tags, log params and metrics (key, value, timestamp ms, step), end
    it; start and end are the trial's own when given (else: now)."""
    client = _client(tracking_uri)
    run_id = client.create_run(experiment_id, run_name=run_name, tags=tags, start_time=start_ms).info.run_id
    batch = [Metric(*m) for m in metrics]
    for start in range(0, max(len(batch), 1), MAX_BATCH):
        client.log_batch(run_id, metrics=batch[start:start + MAX_BATCH],
                         params=[Param(k, v) for k, v in params.items()] if start == 0 else [])
    end_run(client, run_id, status, end_ms)


@cache
def _journal(path: str) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def set_study_user_attr(path: str, study_id: int, key: str, value: Any) -> None:
    _journal(path).set_study_user_attr(study_id, key, value)


def copy_trial(path: str, study_id: int, trial: optuna.trial.FrozenTrial) -> None:
    _journal(path).create_new_trial(study_id, template_trial=trial)
