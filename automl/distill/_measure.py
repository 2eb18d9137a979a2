"""The comparison a user looks at: teacher, student (and the int8 student), each as it is served
(the ServedModel on raw rows, after a pickle round trip: on the CPU, as loaded from the registry):

- test_score: the task metric on the test split (which neither learned from)
- rows_per_s: one predict call on 10,000 raw rows (the test rows, drawn with replacement when fewer)
- latency_ms: the median of 200 predict calls of one raw row each; pipeline_latency_ms: the same for
  the pipeline alone on cleaned rows (what is left once the served model's checks of a raw row and
  its column cleaner, the same for every model, are taken out)
- size_mb: the model's folder as MLflow logs it (the pickled model, automl's code, the environment
  files); model_mb: the pickled model alone
- score_ratio, speed_ratio, latency_ratio: against the teacher's (latency: the teacher's ÷ this one's)

Timings are time.perf_counter() around the calls, after one warm-up call.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

from automl import evaluation
from automl.scoped import environment
from automl.served import PredictMethods
from automl.service import ModelVersion
from automl.tracking import PACKAGE_ROOT, fluent_tracking_uri, model_requirements

THROUGHPUT_ROWS = 10_000
LATENCY_CALLS = 200
COMPARISON_COLUMNS = ["model", "description", "test_score", "rows_per_s", "latency_ms", "pipeline_latency_ms",
                      "size_mb", "model_mb", "score_ratio", "speed_ratio", "latency_ratio", "registered"]
MODEL_FILE = "python_model.pkl"


@dataclass
class Candidate:
    """One model of the comparison, as served (automl.served.ServedModel)."""

    name: str  # teacher, student, student_int8
    description: str
    served: object
    folder: Path | None = None  # its MLflow model folder (made by measure_size when None)


def as_served(served):
    """The model as `mlflow.pyfunc.load_model` gives it back: pickled and loaded (a model trained on
    CUDA predicts on the CPU afterwards)."""
    return cloudpickle.loads(cloudpickle.dumps(served))


def rows_per_second(served, raw: pd.DataFrame, seed: int = 0) -> float:
    rows = raw.sample(THROUGHPUT_ROWS, replace=len(raw) < THROUGHPUT_ROWS, random_state=seed).reset_index(drop=True)
    served.predict(rows.head(10))  # warm-up
    started = time.perf_counter()
    served.predict(rows)
    return THROUGHPUT_ROWS / max(time.perf_counter() - started, 1e-9)


def latency_ms(served, raw: pd.DataFrame, calls: int = LATENCY_CALLS) -> float:
    """The median milliseconds of one predict call on one row of `raw` (the rows taken in turn)."""
    rows = [raw.iloc[[i % len(raw)]] for i in range(calls)]
    served.predict(rows[0])  # warm-up
    times = []
    for row in rows:
        started = time.perf_counter()
        served.predict(row)
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def save_folder(served, root: Path, name: str) -> Path:
    """The model saved as automl logs it (PredictMethods pyfunc, automl's code, pinned requirements)."""
    wrapped = PredictMethods(served)
    path = root / name
    with quiet("mlflow.pyfunc"):  # (its notes on pickling and on a signature it cannot infer: no signature here)
        mlflow.pyfunc.save_model(str(path), python_model=wrapped, code_paths=[str(PACKAGE_ROOT)],
                                 pip_requirements=model_requirements(wrapped), metadata=wrapped.metadata())
    return path


def download_folder(version: ModelVersion, root: Path) -> Path:
    """A registered version's logged model folder, downloaded (without MLflow's progress bar)."""
    with fluent_tracking_uri(version.tracking_uri), environment({MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name: "false"}):
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{version.name}/{version.version}",
                                                        dst_path=str(root / "teacher")))


@contextmanager
def quiet(logger: str) -> Iterator[None]:
    """The logger says errors only inside the block; its level is back after it."""
    log = logging.getLogger(logger)
    previous = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(previous)


def measure(candidate: Candidate, X_test: pd.DataFrame, y_test: pd.Series, raw_test: pd.DataFrame, metric: str,
            seed: int = 0) -> dict:
    """The candidate's row of the comparison (no ratios yet)."""
    with tempfile.TemporaryDirectory(prefix="automl-distill-") as root:
        folder = candidate.folder or save_folder(candidate.served, Path(root), candidate.name)
        size, model = folder_mb(folder), (folder / MODEL_FILE).stat().st_size / 2**20
    return {"model": candidate.name, "description": candidate.description,
            "test_score": evaluation.score(metric, candidate.served.model, X_test, y_test),
            "rows_per_s": rows_per_second(candidate.served, raw_test, seed),
            "latency_ms": latency_ms(candidate.served, raw_test),
            "pipeline_latency_ms": latency_ms(candidate.served.model, X_test), "size_mb": size, "model_mb": model}


def comparison_table(rows: list[dict], metric: str, registered: str) -> pd.DataFrame:
    """The rows (teacher first) with their ratios against the teacher and the registered one marked."""
    table = pd.DataFrame(rows)
    teacher = table.iloc[0]
    sign = evaluation.METRICS[metric].sign
    # score_ratio: the share of the teacher's score kept (for an error metric, the teacher's ÷ this one's)
    table["score_ratio"] = (table["test_score"] / teacher["test_score"] if sign > 0
                            else teacher["test_score"] / table["test_score"].replace(0, np.nan))
    table["speed_ratio"] = table["rows_per_s"] / teacher["rows_per_s"]
    table["latency_ratio"] = teacher["latency_ms"] / table["latency_ms"]
    table["registered"] = table["model"] == registered
    return table[COMPARISON_COLUMNS]


def within(score: float, reference: float, tolerance: float, metric: str) -> bool:
    """Whether `score` loses no more than `tolerance` (a share of the reference) against `reference`."""
    return evaluation.METRICS[metric].sign * (reference - score) <= tolerance * abs(reference)
