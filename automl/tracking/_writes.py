"""The writes the writer process (automl.tracking._writer) makes: MLflow child runs and Optuna
journal appends. Module-level functions, so they are sent to that process by reference."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ChildRun:
    """One child run as written: its name, tags, params, metrics (key, value, timestamp ms, step) and
    end status; its start and end (ms since the epoch) are the trial's own when given (else: now)."""

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[tuple[str, float, int, int]]
    status: str
    start_ms: int | None = None
    end_ms: int | None = None


def write_run(tracking_uri: str, experiment_id: str, run: ChildRun) -> None:
    """Create the run with its tags, log its params and metrics, end it."""
    client = _client(tracking_uri)
    run_id = client.create_run(experiment_id, run_name=run.name, tags=run.tags, start_time=run.start_ms).info.run_id
    batch = [Metric(*m) for m in run.metrics]
    for start in range(0, max(len(batch), 1), MAX_BATCH):
        client.log_batch(run_id, metrics=batch[start:start + MAX_BATCH],
                         params=[Param(k, v) for k, v in run.params.items()] if start == 0 else [])
    end_run(client, run_id, run.status, run.end_ms)


@cache
def _journal(path: str) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def set_study_user_attr(path: str, study_id: int, key: str, value: Any) -> None:
    _journal(path).set_study_user_attr(study_id, key, value)


def copy_trial(path: str, study_id: int, trial: optuna.trial.FrozenTrial) -> None:
    _journal(path).create_new_trial(study_id, template_trial=trial)
