"""One nested MLflow child run per trial, written by the writer process, off the search's GIL.

Each trial costs three tracking calls (create the run with its tags, one batch of params and
metrics, end it), about 16 ms of SQLAlchemy work that would otherwise compete with the trials.
`log_trial` returns at once; `flush` waits for the writer and raises what went wrong there. The
seconds the writer spent and the seconds the search waited are counted, for the overhead figures.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.entities import RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from automl.tracking._runs import RunRef, end_run, flatten
from automl.tracking._writer import writer_process
from automl.tracking._writes import ChildRun, write_run

if TYPE_CHECKING:
    from automl.search import TrialRecord

RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED"}  # anything else: FAILED (pruning is no crash)
# Model parameters that mean the same in every family that has them: logged under their plain name
# as well as under the family's prefix, so the MLflow UI lines up trials of different families.
SHARED_PARAMS = ("learning_rate", "max_features", "min_samples_leaf", "max_depth", "n_estimators")


def trial_params(record: TrialRecord) -> dict[str, str]:
    """The trial's params: what every family shares under plain names (`family`, `k`, `score_func`,
    and SHARED_PARAMS), each family's own under its prefix. None is left out (a family without
    feature selection has no `k`), so each name has one type."""
    model = record.params["model"]
    shared = {"family": record.family, "k": record.params.get("k"), "score_func": record.params.get("score_func"),
              **{name: model[name] for name in SHARED_PARAMS if name in model}}
    for key in ("log_target", "rows_fraction", "text_encoder", "text_width"):  # (where searched; where the first
        # fit had fewer rows; where the table has free text)
        shared[key] = record.params.get(key)
    own = {f"{record.family}.{k}": v for k, v in model.items()}
    return flatten("", {k: v for k, v in {**shared, **own}.items() if v is not None})


def trial_run(record: TrialRecord, parent_run_id: str, now_ms: int) -> tuple[dict, dict, list]:
    """(tags, params, metrics) of a trial's child run: params, CV score (`cv_score` for a complete
    trial; a pruned one's finished folds are `partial_cv_score`), per-fold scores, timings, and
    the epochs of a model trained by epochs, one series per fold (`train_loss/fold_0`, step = epoch)."""
    at = int(1000 * (record.started_at + record.duration_s)) if record.started_at else now_ms
    metrics = [(f"fold_{i}_score", float(s), at, 0) for i, s in enumerate(record.fold_scores)]
    metrics.append(("duration_s", float(record.duration_s), at, 0))
    if record.value is not None:
        metrics.append(("cv_score" if record.state == "COMPLETE" else "partial_cv_score", float(record.value), at, 0))
    if record.fit_seconds is not None:
        metrics.append(("fit_seconds", record.fit_seconds, at, 0))
    if record.predict_ms_per_1k is not None:
        metrics.append(("predict_ms_per_1k_rows", record.predict_ms_per_1k, at, 0))
    for row in record.epoch_history:
        fold, epoch = int(row["fold"]), int(row["epoch"])
        metrics += [(f"train_loss/fold_{fold}", float(row["train_loss"]), at, epoch),
                    (f"val_loss/fold_{fold}", float(row["val_loss"]), at, epoch)]
    tags = {MLFLOW_PARENT_RUN_ID: parent_run_id, "trial_number": str(record.number),
            "trial_state": record.state, "family": record.family}
    if record.state == "PRUNED":
        tags["pruned"] = "true"
    if record.pack_size > 1:
        tags["pack_size"] = str(record.pack_size)
    if record.reason:
        tags["fail_reason" if record.state == "FAIL" else "prune_reason"] = record.reason
    if record.interrupted:
        tags["interrupted"] = "true"
    if record.worker is not None:
        tags["worker"] = str(record.worker)
    return tags, trial_params(record), metrics


def trial_run_name(record: TrialRecord) -> str:
    """`trial-011-mlp`, marked where the trial did not complete (`trial-011-mlp · pruned`): in MLflow's
    run list every child run carries the same tick, so the name says it."""
    mark = "interrupted" if record.interrupted else {"PRUNED": "pruned", "FAIL": "failed"}.get(record.state)
    return f"trial-{record.number:03d}-{record.family}" + (f" · {mark}" if mark else "")


def run_times(record: TrialRecord) -> tuple[int | None, int | None]:
    """The child run's start and end (ms since the epoch): the trial's own, so MLflow's Duration is its wall time."""
    if record.started_at is None:
        return None, None
    return int(1000 * record.started_at), int(1000 * (record.started_at + record.duration_s))


def run_status(record: TrialRecord) -> str:
    """The child run's status: FINISHED (complete, or pruned: tagged `pruned`), KILLED (interrupted) or FAILED."""
    return "KILLED" if record.interrupted else RUN_STATUS.get(record.state, "FAILED")


class TrialRuns:
    """The child runs of one parent run (automl.search's TrialLogger)."""

    def __init__(self, parent: RunRef):
        self.parent = parent
        self._writer = writer_process()
        self._owner = uuid.uuid4().hex  # this parent's writes, among all the writer serves
        self.seconds_writing = 0.0  # spent in the writer process on these runs
        self.seconds_waited = 0.0  # the caller waited for the writer (flush): the real overhead
        self.count = 0

    def log_trial(self, record: TrialRecord) -> None:
        tags, params, metrics = trial_run(record, self.parent.run_id, int(time.time() * 1000))
        run = ChildRun(trial_run_name(record), tags, params, metrics, run_status(record), *run_times(record))
        self._writer.submit(self._owner, write_run, self.parent.tracking_uri, self.parent.experiment_id, run)
        self.count += 1

    def flush(self) -> None:
        """Wait until every trial handed to log_trial is in MLflow."""
        started = time.perf_counter()
        try:
            self.seconds_writing += self._writer.flush(self._owner)
        finally:
            self.seconds_waited += time.perf_counter() - started

    def existing(self) -> dict[int, tuple[str, str]]:
        """Trial number → (run id, status) of the child runs already in MLflow (a continued run's)."""
        return {int(run.data.tags["trial_number"]): (run.info.run_id, run.info.status) for run in self.runs()
                if "trial_number" in run.data.tags}

    def mend(self, records: list[TrialRecord], existing: dict[int, tuple[str, str]]) -> None:
        """After a continued search: one finished child run per restored trial. An interrupted
        trial's run ends KILLED (made if its process never wrote it); a run a dead writer left
        half-made (its status not the trial's) is written again; a missing one is written."""
        client = MlflowClient(self.parent.tracking_uri)
        for record in records:
            run_id, status = existing.get(record.number, (None, None))
            if record.interrupted and run_id is not None:
                if status != "KILLED":
                    client.set_tag(run_id, "interrupted", "true")
                    end_run(client, run_id, "KILLED")
                continue
            if run_id is not None and status != run_status(record):
                client.delete_run(run_id)
            if run_id is None or status != run_status(record):
                self.log_trial(record)
        self.flush()

    def runs(self) -> list:
        """The child runs written so far (after a flush)."""
        self.flush()
        return child_runs(self.parent)


def child_runs(parent: RunRef) -> list:
    """The parent run's child runs, as MLflow has them."""
    return MlflowClient(parent.tracking_uri).search_runs(
        [parent.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent.run_id}'", max_results=50000)


def mark_final_members(parent: RunRef, weights: dict[int, float]) -> None:
    """Tag the child runs of the trials in the final model (`in_final_model`, `final_model_weight`:
    its share of the blend, 1.0 for a single pipeline); a resumed run's earlier choice is undone."""
    client = MlflowClient(parent.tracking_uri)
    for run in child_runs(parent):
        number = int(run.data.tags.get("trial_number", -1))
        if number in weights:
            client.log_batch(run.info.run_id, tags=[RunTag("in_final_model", "true"),
                                                    RunTag("final_model_weight", f"{weights[number]:.4f}")])
        elif "in_final_model" in run.data.tags:
            client.delete_tag(run.info.run_id, "in_final_model")
            client.delete_tag(run.info.run_id, "final_model_weight")


class TrialReporter:
    """The search's TrialLogger: each trial to its MLflow child run, then to `on_trial` (e.g. a
    Prefect progress artifact)."""

    def __init__(self, runs: TrialRuns, on_trial: Callable[[TrialRecord], None] | None):
        self.runs, self.on_trial = runs, on_trial

    def log_trial(self, record: TrialRecord) -> None:
        self.runs.log_trial(record)
        if self.on_trial is not None:
            self.on_trial(record)

    def restored(self, records: list[TrialRecord]) -> None:
        """A continued search's finished trials (their child runs exist, or are mended after): they
        count toward the progress shown."""
        for record in records:
            if self.on_trial is not None and not record.interrupted:
                self.on_trial(record)
