"""The student study: a short Optuna study of its own (in memory) over the student's family and
size, T, alpha and the multiple of augmented rows; each trial trains on the fit rows (and their
augmented rows, labelled by the teacher) and is scored by the task metric on the validation rows
(true labels), each an MLflow child run of the distillation run.

The rule that picks the student: among the trials that completed, those whose validation score is
within `tolerance` (a share of the best score: 0.01 is 1 %) of the best trial's, the smallest
(pickled size of its fitted pipeline, in bytes); a tie goes to the better score.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import cloudpickle
import optuna
import pandas as pd

from automl import evaluation
from automl.distill._measure import within
from automl.distill._students import Rows, StudentContext, default_students, fit_student, suggest_student
from automl.scoped import optuna_warnings_only
from automl.search import make_sampler
from automl.tracking import RunLog, RunRef, child_run, flatten


@dataclass
class StudentTrial:
    """One trial's student: what it was, how it scored on the validation rows, how big it is."""

    number: int
    params: dict
    state: str  # COMPLETE or FAIL
    score: float | None = None
    size_bytes: int | None = None
    fit_s: float = 0.0
    predict_ms_per_1k: float | None = None
    reason: str = ""
    run_id: str = ""

    @property
    def family(self) -> str:
        return self.params["family"]

    def describe(self) -> str:
        """One name: 'mlp 2×32, T 2, alpha 0.7, ×2 rows' or 'hist_gradient_boosting 15 leaves × 100, …'."""
        model = self.params["model"]
        if self.family == "mlp":
            size = f"{model['hidden_layers']}×{model['hidden_width']}"
            size += f", T {model['temperature']:.2g}" if "temperature" in model else ""
        else:
            size = f"{model['max_leaf_nodes']} leaves × {model['max_iter']}"
        return f"{self.family} {size}, alpha {model['alpha']:.2g}, ×{self.params['augment']} rows"


@dataclass(frozen=True)
class StudyPlan:
    """How the study runs: the students it may train, its budget and the rule's tolerance."""

    students: list[str]
    n_trials: int
    augment_max: int
    metric: str
    tolerance: float
    seed: int = 0


def run_study(plan: StudyPlan, fit_rows: Rows, X_val: pd.DataFrame, y_val: pd.Series, context: StudentContext,
              run: RunRef, on_trial: Callable[[StudentTrial], None] | None = None) -> list[StudentTrial]:
    """Every trial of the study, in order; each logged as a child run of `run`."""
    spec = evaluation.METRICS[plan.metric]
    trials: list[StudentTrial] = []
    with optuna_warnings_only():
        study = optuna.create_study(direction=spec.direction, sampler=make_sampler(plan.seed))
        for params in default_students(plan.students, plan.augment_max, context)[:plan.n_trials]:
            study.enqueue_trial(params)
        for _ in range(plan.n_trials):
            trial = study.ask()
            params = suggest_student(trial, plan.students, plan.augment_max, context)
            record = train_trial(trial.number, params, fit_rows, X_val, y_val, context, plan.metric)
            record.run_id = log_trial(run, record, plan.metric)
            study.tell(trial, record.score if record.state == "COMPLETE" else None,
                       state=optuna.trial.TrialState.COMPLETE if record.state == "COMPLETE"
                       else optuna.trial.TrialState.FAIL)
            trials.append(record)
            if on_trial is not None:
                on_trial(record)
    return trials


def train_trial(number: int, params: dict, rows: Rows, X_val: pd.DataFrame, y_val: pd.Series,
                context: StudentContext, metric: str) -> StudentTrial:
    """Fit one student and score it on the validation rows; a student that fails to fit is a FAIL
    trial with its reason (the study goes on)."""
    started = time.perf_counter()
    try:
        pipeline = fit_student(params, rows.take(params["augment"]), context)
    except Exception as error:  # (an interrupt is not caught: it ends the study)
        reason = f"{type(error).__name__}: {error}"[:500]
        return StudentTrial(number, params, "FAIL", fit_s=time.perf_counter() - started, reason=reason)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    score = evaluation.score(metric, pipeline, X_val, y_val)
    predict_ms = 1e6 * (time.perf_counter() - started) / max(len(y_val), 1)
    return StudentTrial(number, params, "COMPLETE", score, len(cloudpickle.dumps(pipeline)), fit_s, predict_ms)


def log_trial(run: RunRef, record: StudentTrial, metric: str) -> str:
    """The trial's child run: its params, validation score, size and timings."""
    child = child_run(run, f"student-{record.number}-{record.family}",
                      {"trial_number": str(record.number), "trial_state": record.state, "family": record.family,
                       **({"fail_reason": record.reason} if record.reason else {})})
    log = RunLog(child)
    log.log(params=flatten("", {"family": record.family, "augment": record.params["augment"],
                                **{f"{record.family}.{k}": v for k, v in record.params["model"].items()}}),
            metrics={f"val_{metric}": record.score, "size_bytes": record.size_bytes, "fit_seconds": record.fit_s,
                     "predict_ms_per_1k_rows": record.predict_ms_per_1k})
    log.end("FINISHED" if record.state == "COMPLETE" else "FAILED")
    return child.run_id


def choose(trials: list[StudentTrial], metric: str, tolerance: float) -> StudentTrial:
    """The module's rule: the smallest student within `tolerance` of the best validation score."""
    done = [t for t in trials if t.state == "COMPLETE"]
    if not done:
        first = next((t.reason for t in trials if t.reason), "no trial ran")
        raise RuntimeError(f"no student could be trained: every trial failed ({first})")
    sign = evaluation.METRICS[metric].sign
    best = max(done, key=lambda t: sign * t.score)
    close = [t for t in done if within(t.score, best.score, tolerance, metric)]
    return min(close, key=lambda t: (t.size_bytes, -sign * t.score, t.number))


def trials_table(trials: list[StudentTrial], chosen: StudentTrial, metric: str) -> pd.DataFrame:
    """The study as a table (students/trials.csv): one row per trial, the chosen one marked."""
    return pd.DataFrame([{"trial": t.number, "student": t.describe(), "state": t.state, f"val_{metric}": t.score,
                          "size_bytes": t.size_bytes, "fit_seconds": round(t.fit_s, 3),
                          "predict_ms_per_1k_rows": t.predict_ms_per_1k, "chosen": t.number == chosen.number,
                          "reason": t.reason} for t in trials])
