"""The reference profile stored with each registered version at training time, what `automl
monitor` compares a batch with: per numeric column its quantile bins (shares of the training rows)
and missing rate, per categorical column its level frequencies and missing rate, the distribution
of the model's predictions on the test split, and the test score.

It is an artifact of the training run that logged the version (REFERENCE_PATH), computed on the
cleaned columns (what the pipeline sees: numbers written as text parsed, dates as parts), so a
batch is cleaned by the served model's own cleaner before it is compared.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException

from automl.service._drift import bin_counts, quantile_edges, shares
from automl.service._errors import ServiceError
from automl.service._model import ModelVersion

REFERENCE_PATH = "reference/reference.json"
BINS = 10
FORMAT = 1


def numeric_profile(values: pd.Series, bins: int = BINS) -> dict:
    numbers = values.to_numpy(dtype=float)
    edges = quantile_edges(numbers, bins)
    return {"edges": edges, "shares": shares(bin_counts(numbers, edges)).tolist(),
            "missing_rate": float(np.isnan(numbers).mean()) if len(numbers) else 0.0}


def categorical_profile(values: pd.Series) -> dict:
    missing = values.isna()
    levels = values[~missing].astype(str).value_counts(normalize=True)
    return {"levels": {str(level): float(share) for level, share in levels.items()},
            "missing_rate": float(missing.mean()) if len(values) else 0.0}


def prediction_profile(predicted: np.ndarray, classes) -> dict:
    """Class shares of the predicted labels, or quantile bins of the predicted values."""
    if classes is not None:
        labels = np.asarray(predicted).astype(str)
        return {"levels": {str(c): float(np.mean(labels == str(c))) for c in classes}, "missing_rate": 0.0}
    return numeric_profile(pd.Series(np.asarray(predicted, dtype=float)))


def build_reference(dataset, split, pipeline, test_score: float) -> dict:
    """The profile of the training rows, and of the model's predictions on the test rows."""
    classes = getattr(pipeline, "classes_", None)
    target = split.y_train
    return {
        "format": FORMAT, "task": dataset.task, "metric": dataset.metric, "test_score": float(test_score),
        "target": {"name": str(target.name) if target.name is not None else None,
                   "classes": [c.item() if hasattr(c, "item") else c
                               for c in classes] if classes is not None else None},
        "rows": len(split.X_train),
        "numeric": {c: numeric_profile(split.X_train[c]) for c in dataset.numeric_columns if c in split.X_train},
        "categorical": {c: categorical_profile(split.X_train[c]) for c in dataset.categorical_columns
                        if c in split.X_train},
        "prediction": prediction_profile(pipeline.predict(split.X_test), classes),
    }


def store_reference(prepared, model, run) -> None:
    """Log the reference profile on the training run (`register_step` calls this before it
    registers the version, so every version made from here on has one)."""
    from automl.tracking import RunLog

    reference = build_reference(prepared.dataset, prepared.split, model.pipeline, model.test_score)
    RunLog(run).log_text(json.dumps(reference, indent=1), REFERENCE_PATH)


def _run_json(version: ModelVersion, path: str) -> dict | None:
    """A JSON artifact of the version's training run, or None (without MLflow's progress bar: the
    command's output is its one line)."""
    client = MlflowClient(version.tracking_uri)
    bar = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    previous = os.environ.get(bar)
    os.environ[bar] = "false"
    try:
        with tempfile.TemporaryDirectory() as folder:
            return json.loads(Path(client.download_artifacts(version.run_id, path, folder)).read_text())
    except (MlflowException, OSError, ValueError):
        return None
    finally:
        if previous is None:
            os.environ.pop(bar, None)
        else:
            os.environ[bar] = previous


def load_reference(version: ModelVersion) -> dict:
    """The version's reference profile; a ServiceError saying how to get one when it has none."""
    reference = _run_json(version, REFERENCE_PATH)
    if reference is None:
        raise ServiceError(f"model {version.name} v{version.version} has no reference profile (it was "
                           "trained before automl stored one); train a new version with automl run CONFIG, "
                           "then monitor that one")
    return reference


def training_config(version: ModelVersion) -> dict:
    """The config the version was trained with (its run's config/resolved_config.json), or {}."""
    return _run_json(version, "config/resolved_config.json") or {}
