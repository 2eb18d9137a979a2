"""Shared fixtures: real stores in temp dirs (MLflow on SQLite, Optuna journal), small real data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Prefect reads its settings at import: isolate its home and keep it off the network first.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="automl-prefect-home-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from automl.config import RunConfig, parse_config  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def store_settings(root: Path) -> dict:
    """Tracking section pointing every store into `root`."""
    return {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_location": str(root / "artifacts"),
        "optuna_storage": str(root / "optuna.journal"),
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "mlruns"


@pytest.fixture
def make_config(store: Path):
    """RunConfig factory with stores in a temp dir and a small budget; keyword sections override."""

    def make(**sections) -> RunConfig:
        values = {
            "name": "test",
            "search": {"n_trials": 4, "cv_folds": 2, "families": ["linear", "hist_gradient_boosting"]},
            "tracking": store_settings(store),
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        return parse_config(values)

    return make


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """200 rows: numeric with gaps, a categorical with gaps, an int column, a binary target."""
    rng = np.random.default_rng(0)
    n = 200
    signal = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.1] = None
    noisy = rng.normal(size=n)
    noisy[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "signal": signal,
        "noise": noisy,
        "count": rng.integers(0, 5, size=n),
        "colour": colour,
        "label": np.where(signal + 0.3 * rng.normal(size=n) > 0, "yes", "no"),
    })
