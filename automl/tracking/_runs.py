"""MLflow runs as plain values: a RunRef names a run (URI, experiment, id, name), so Prefect tasks
pass it between them and each opens its own client, in whatever process or host it runs."""

from __future__ import annotations

import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from automl.scoped import environment
from automl.secrets import has_password
from automl.tracking._fresh import seed_store
from automl.tracking._writer import writer_process
from automl.urls import sqlite_file, with_sqlite_file

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_PARAM_LENGTH = 6000
# MLflow 3's UI opens an experiment by its kind; without one it may open on GenAI traces.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


@dataclass(frozen=True)
class RunRef:
    """One MLflow run, by value."""

    tracking_uri: str  # absolute for a local SQLite store, so every process finds the same file
    experiment_id: str
    run_id: str
    run_name: str


def absolute_uri(tracking_uri: str) -> str:
    """A relative SQLite store made absolute (other processes may start in other folders)."""
    path = sqlite_file(tracking_uri)
    if path is None:
        return tracking_uri
    path.parent.mkdir(parents=True, exist_ok=True)
    return with_sqlite_file(tracking_uri, path.resolve())


def quiet_links(tracking_uri: str):
    """Ending a run on a server, MLflow prints "View run … at: <tracking URI>/#/…" with the URI as
    given; not when the URI holds a password. MLflow's one switch for it is an environment variable:
    set inside the with block only, so the user's environment is as it was after it."""
    if not has_password(tracking_uri):
        return nullcontext()
    return environment({"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"})


def end_run(client: MlflowClient, run_id: str, status: str, end_ms: int | None = None) -> None:
    """client.set_terminated, with no link printed that would show a password (quiet_links)."""
    with quiet_links(client.tracking_uri):
        client.set_terminated(run_id, status=status, end_time=end_ms)


def store_lock(tracking_uri: str):
    """A lock over a local SQLite store, for what two runs must not do at once (create its tables,
    an experiment, move the champion alias); a server orders its own writes (no lock)."""
    path = sqlite_file(tracking_uri)
    return nullcontext() if path is None else FileLock(f"{path}.lock")


def open_experiment(client: MlflowClient, name: str, artifact_location: str) -> str:
    """The experiment's id, created (artifacts under `artifact_location`/name) when new, marked as
    model training (it opens on its runs in MLflow 3's UI). Run under store_lock: the first call
    also creates a new SQLite store's tables."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if EXPERIMENT_KIND[0] not in experiment.tags:  # (made by an earlier automl, or by hand)
            client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
        return experiment.experiment_id
    location = artifact_location
    if "://" not in location:
        location = (Path(location).resolve() / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))
    except MlflowException:  # made by another run since (a server store, not locked)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def start_run(tracking_uri: str, experiment: str, artifact_location: str, run_name: str,
              tags: dict[str, str]) -> RunRef:
    """A new top-level run (RUNNING) in the experiment."""
    uri = absolute_uri(tracking_uri)
    writer_process()  # started now, so it has imported MLflow by the time the first trial ends
    with store_lock(uri):  # a process's first client creates or upgrades a new store's tables
        seed_store(uri)  # (a new SQLite store: a copy of an empty one, not MLflow's migrations again)
        client = MlflowClient(uri)
        experiment_id = open_experiment(client, experiment, artifact_location)
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    return RunRef(uri, experiment_id, run.info.run_id, run.info.run_name)


def child_run(parent: RunRef, run_name: str, tags: dict[str, str] | None = None) -> RunRef:
    """A new run nested under `parent` (in its experiment), RUNNING until RunLog(child).end()."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = MlflowClient(parent.tracking_uri)
    run = client.create_run(parent.experiment_id, run_name=run_name,
                            tags={MLFLOW_PARENT_RUN_ID: parent.run_id, **(tags or {})})
    return RunRef(parent.tracking_uri, parent.experiment_id, run.info.run_id, run.info.run_name)


def flatten(prefix: str, value: Any, out: dict[str, str] | None = None) -> dict[str, str]:
    """Nested dicts as dotted keys with string values (MLflow params)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = str(value)[:MAX_PARAM_LENGTH]
    return out


class RunLog:
    """Params, metrics, tags and artifacts of one run; cheap to open anywhere from its RunRef."""

    def __init__(self, ref: RunRef):
        self.ref = ref
        self.client = MlflowClient(ref.tracking_uri)

    def log(self, params: dict[str, Any] | None = None, metrics: dict[str, float] | None = None,
            tags: dict[str, Any] | None = None, step: int = 0) -> None:
        """One batch of params (nested dicts flattened), metrics (None skipped) and tags."""
        now = int(time.time() * 1000)
        flat = flatten("", params or {})
        tags = {k: str(v) for k, v in (tags or {}).items()}
        try:
            self._batch(now, step, metrics, flat, tags)
        except MlflowException as error:
            if "Changing param values is not allowed" not in str(error):
                raise
            # A resumed run whose search or refit chose differently from before: params are
            # write-once in MLflow, so the new values are kept as tags ("resumed.<param>").
            logged = self.client.get_run(self.ref.run_id).data.params
            changed = {k: v for k, v in flat.items() if k in logged and logged[k] != v}
            tags.update({f"resumed.{k}": v for k, v in changed.items()})
            self._batch(now, step, metrics, {k: v for k, v in flat.items() if k not in changed}, tags)

    def _batch(self, now: int, step: int, metrics: dict | None, params: dict[str, str], tags: dict[str, str]) -> None:
        self.client.log_batch(
            self.ref.run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items() if v is not None],
            params=[Param(k, v) for k, v in params.items()], tags=[RunTag(k, v) for k, v in tags.items()])

    def log_figure(self, figure: Figure, path: str) -> None:
        """A matplotlib Figure (automl.plots makes them without pyplot: nothing to close)."""
        self.client.log_figure(self.ref.run_id, figure, path)

    def log_table(self, table: pd.DataFrame, path: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / Path(path).name
            table.to_csv(local, index=False)
            folder = str(Path(path).parent)
            self.client.log_artifact(self.ref.run_id, str(local), None if folder == "." else folder)

    def log_text(self, text: str, path: str) -> None:
        self.client.log_text(self.ref.run_id, text, path)

    def end(self, status: str = "FINISHED") -> None:
        end_run(self.client, self.ref.run_id, status)

    def status(self) -> str:
        return self.client.get_run(self.ref.run_id).info.status
