"""Everything MLflow: the parent run, one nested child run per trial, artifacts, the model, the registry.

Each trial costs three tracking calls (create the child run, one batch of params/metrics/tags, end
it), made by the writer process (automl.writer) so trials neither wait on them nor share the GIL
with them. The time spent inside MLflow is counted, and so is the time the search waited for the
writer, so the overhead per trial can be reported.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from automl.search import TrialRecord
from automl.trial_runs import write_run
from automl.writer import writer_process

CHAMPION = "champion"
MAX_PARAM_LENGTH = 6000


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> dict[str, str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = str(value)[:MAX_PARAM_LENGTH]
    return out


def model_requirements() -> list[str]:
    """What a served model needs, pinned to what trained it (declared, not inferred: inference
    loads the model in a subprocess and costs seconds per run)."""
    from importlib.metadata import version

    packages = ["mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle", "torch"]
    return [f"{name}=={version(name).split('+')[0]}" for name in packages]


def _local_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    return None


@dataclass
class Registration:
    name: str
    version: str
    moved_alias: bool
    reason: str
    previous_score: float | None


class Tracker:
    """The MLflow side of a pipeline run. Thread-safe; never sees the orchestrator."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_location: str):
        db_path = _local_path(tracking_uri)
        if db_path is not None:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri
        # The writer process keeps the working directory it started in: give it an absolute path.
        self._writer_uri = f"sqlite:///{db_path.resolve()}" if db_path is not None else tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.seconds_in_tracking = 0.0  # every MLflow call
        self.seconds_in_trial_logging = 0.0  # the calls made per trial (child runs), in the writer process
        self.seconds_waiting = 0.0  # time the caller waited for the writer (flush): the real overhead
        self._writer = writer_process()  # started now, so it is ready when the first trial ends
        self._owner = uuid.uuid4().hex  # this tracker's calls, among those of every tracker in the process
        self._lock = threading.Lock()
        self.parent_run_id: str | None = None
        self.parent_run_name: str | None = None
        self.experiment_id = self._experiment_id(experiment, artifact_location)

    @contextmanager
    def _timed(self, per_trial: bool = False):
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                spent = time.perf_counter() - started
                self.seconds_in_tracking += spent
                if per_trial:
                    self.seconds_in_trial_logging += spent

    def _experiment_id(self, name: str, artifact_location: str) -> str:
        with self._timed():
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                return experiment.experiment_id
            location = artifact_location
            if "://" not in location:
                location = (Path(location).resolve() / name).as_uri()
            return self.client.create_experiment(name, artifact_location=location)

    # -- runs -------------------------------------------------------------------------------------
    def start_parent(self, run_name: str, tags: dict[str, str]) -> str:
        with self._timed():
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.parent_run_id, self.parent_run_name = run.info.run_id, run.info.run_name
        return self.parent_run_id

    def flush(self) -> None:
        """Wait until every trial handed to log_trial is in MLflow."""
        started = time.perf_counter()
        try:
            spent = self._writer.flush(self._owner)
        finally:
            self.seconds_waiting += time.perf_counter() - started
        with self._lock:
            self.seconds_in_tracking += spent
            self.seconds_in_trial_logging += spent

    def finish(self, status: str = "FINISHED", run_id: str | None = None) -> None:
        if run_id is None:
            try:
                self.flush()
            except Exception:  # a failed child run must not keep the parent RUNNING
                status = "FAILED"
        with self._timed():
            self.client.set_terminated(run_id or self.parent_run_id, status=status)

    def log(self, params: dict[str, Any] | None = None, metrics: dict[str, float] | None = None,
            tags: dict[str, Any] | None = None, run_id: str | None = None, step: int = 0) -> None:
        """One batch of params, metrics and tags on a run (the parent by default)."""
        now = int(time.time() * 1000)
        flat = _flatten("", params or {}, {})
        batch_params = [Param(k, v) for k, v in flat.items()]
        batch_metrics = [Metric(k, float(v), now, step) for k, v in (metrics or {}).items() if v is not None]
        batch_tags = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        with self._timed():
            self.client.log_batch(run_id or self.parent_run_id, metrics=batch_metrics, params=batch_params,
                                  tags=batch_tags)

    def log_trial(self, record: TrialRecord) -> None:
        """Hand the trial's child run to the writer process; returns at once (flush() waits for it).

        One nested child run per trial: params, CV score, per-fold scores, state, duration."""
        now = int(time.time() * 1000)
        metrics = [(f"fold_{i}_score", float(s), now, 0) for i, s in enumerate(record.fold_scores)]
        metrics.append(("duration_s", float(record.duration_s), now, 0))
        if record.value is not None:
            metrics.append(("cv_score", float(record.value), now, 0))
        # The MLP's epochs as stepped metrics, in the same batch (step = fold * 1000 + epoch).
        for row in record.epoch_history:
            step = int(row["fold"]) * 1000 + int(row["epoch"])
            metrics += [("epoch_train_loss", float(row["train_loss"]), now, step),
                        ("epoch_val_loss", float(row["val_loss"]), now, step)]
        params = _flatten("", {"family": record.family, "k": record.params.get("k"),
                               "score_func": record.params.get("score_func"),
                               **({"log_target": record.params["log_target"]} if "log_target" in record.params else {}),
                               **{f"{record.family}.{k}": v for k, v in record.params["model"].items()}}, {})
        tags = {MLFLOW_PARENT_RUN_ID: self.parent_run_id, "trial_number": str(record.number),
                "trial_state": record.state, "family": record.family}
        if record.fail_reason:
            tags["fail_reason"] = record.fail_reason
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(record.state, "FAILED")
        self._writer.submit(self._owner, write_run, self._writer_uri, self.experiment_id,
                            f"trial-{record.number:03d}-{record.family}", tags, params, metrics, status)

    def child_runs(self, parent_run_id: str | None = None) -> list:
        self.flush()
        parent = parent_run_id or self.parent_run_id
        return self.client.search_runs([self.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}'",
                                       max_results=50000)

    # -- artifacts --------------------------------------------------------------------------------
    def log_figure(self, figure: plt.Figure, path: str) -> None:
        with self._timed():
            self.client.log_figure(self.parent_run_id, figure, path)
        plt.close(figure)

    def log_table(self, table: pd.DataFrame, path: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            local = Path(folder) / Path(path).name
            table.to_csv(local, index=False)
            with self._timed():
                self.client.log_artifact(self.parent_run_id, str(local), str(Path(path).parent or ""))

    def log_text(self, text: str, path: str) -> None:
        with self._timed():
            self.client.log_text(self.parent_run_id, text, path)

    # -- the model --------------------------------------------------------------------------------
    def log_and_register(self, pipeline, X_example: pd.DataFrame, model_name: str, metric: str,
                         score: float, greater_is_better: bool) -> Registration:
        """Log the whole pipeline as one model, register it, move `champion` only if it wins."""
        example = X_example.head(5)
        signature = infer_signature(example, pipeline.predict(example))
        with self._timed():
            mlflow.set_tracking_uri(self.tracking_uri)
            with mlflow.start_run(run_id=self.parent_run_id, nested=False):
                info = mlflow.sklearn.log_model(
                    pipeline, name="model", signature=signature, input_example=example,
                    registered_model_name=model_name, serialization_format="cloudpickle",
                    await_registration_for=60, pip_requirements=model_requirements(),
                    code_paths=[str(Path(__file__).parent)],
                )
            # start_run(run_id=...) ends the run on exit; the pipeline run finishes it later.
            self.client.update_run(self.parent_run_id, status="RUNNING")
            version = str(info.registered_model_version)
            self.client.set_model_version_tag(model_name, version, "metric", metric)
            self.client.set_model_version_tag(model_name, version, "test_score", repr(score))
            registration = self._maybe_move_champion(model_name, version, metric, score, greater_is_better)
        self.log(tags={"registered_model": model_name, "registered_version": version,
                       "champion_moved": registration.moved_alias, "champion_reason": registration.reason},
                 metrics={"champion_previous_score": registration.previous_score})
        return registration

    def _maybe_move_champion(self, name: str, version: str, metric: str, score: float,
                             greater_is_better: bool) -> Registration:
        try:
            current = self.client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            current = None
        if current is None:
            self.client.set_registered_model_alias(name, CHAMPION, version)
            return Registration(name, version, True, "first registered model", None)
        old_metric = current.tags.get("metric")
        old_score = float(current.tags["test_score"]) if "test_score" in current.tags else None
        if old_metric != metric or old_score is None:
            return Registration(name, version, False, f"champion v{current.version} was scored with "
                                f"'{old_metric}', not '{metric}'; set the alias by hand to compare", old_score)
        wins = score > old_score if greater_is_better else score < old_score
        if wins:
            self.client.set_registered_model_alias(name, CHAMPION, version)
        verdict = "beats" if wins else "does not beat"
        return Registration(name, version, wins, f"test {metric} {score:.6g} {verdict} champion "
                            f"v{current.version}'s {old_score:.6g}", old_score)
