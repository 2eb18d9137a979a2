"""What `automl validate` accepts, `automl run` finishes: over generated tables (every dtype a
Parquet file or a DataFrame brings, targets with gaps, inf, one class or rare classes), either
validate_data refuses the table with a one-line DataError/ConfigError, or a one-trial run of the
pipeline (linear family) finishes and registers a model. A fixed number of examples, derandomized,
so CI runs the same tables each time."""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl.checks import validate_data
from automl.config import ConfigError, parse_config
from automl.data import DataError
from automl.pipeline import run_pipeline

# Examples per CI run; each accepted one is a whole run (a search of one trial, a refit, a registration).
# AUTOML_PROPERTY_EXAMPLES=200 explores further, off CI.
N_RUNS = int(os.environ.get("AUTOML_PROPERTY_EXAMPLES", "6"))


def feature(kind: str, n: int, rng: np.random.Generator):
    gaps = rng.random(n) < 0.15
    if kind == "float":
        return np.where(gaps, np.nan, rng.normal(size=n))
    if kind == "int":
        return rng.integers(-5, 50, n)
    if kind == "category":
        return pd.Categorical(np.where(gaps, None, rng.choice(["red", "green", "blue"], n)))
    if kind == "bool":
        return rng.random(n) > 0.5
    if kind == "nullable_int":
        return pd.array([None if gap else int(v) for gap, v in zip(gaps, rng.integers(0, 9, n))], dtype="Int64")
    if kind == "zoned_dates":
        return pd.date_range("2024-03-30", periods=n, freq="7h", tz="Europe/Amsterdam")
    if kind == "words_with_na_tokens":
        return np.where(gaps, rng.choice(["?", "NA", "", "n/a"], n), rng.choice(["low", "mid", "high"], n))
    if kind == "numbers_as_text":
        return np.where(gaps, rng.choice(["?", "NA", "-"], n), np.char.mod("%.2f", rng.gamma(2.0, 3.0, n)))
    if kind == "numbers_and_words":
        return np.where(gaps, "unknown value", np.char.mod("%.1f", rng.normal(size=n)))
    if kind == "lists":
        return [list(range(int(k))) for k in rng.integers(0, 3, n)]
    if kind == "durations":
        return pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    if kind == "huge":
        return np.where(gaps, 1e300, rng.normal(size=n))
    if kind == "free_text":  # a text column for the text encoders (TF-IDF in a one-trial run), with gaps
        words = ["great", "late", "box", "never", "again", "service", "broken", "fine", "would", "buy"]
        return [None if gap else " ".join(rng.choice(words, rng.integers(4, 9))) for gap in gaps]
    return np.full(n, 7)  # constant


def target(kind: str, n: int, rng: np.random.Generator):
    if kind == "binary":
        return rng.choice(["yes", "no"], n)
    if kind == "binary_with_gaps":
        return np.where(rng.random(n) < 0.1, None, rng.choice(["yes", "no"], n))
    if kind == "rare_class":
        return np.r_[rng.choice([0, 1], n - 4), [2, 2, 2, 2]]  # a class of 4 rows: the fewest 2 folds take
    if kind == "one_class":
        return np.full(n, "only")
    if kind == "regression_with_inf_and_gaps":
        values = rng.normal(10.0, 3.0, n)
        values[rng.random(n) < 0.1] = np.inf
        values[rng.random(n) < 0.1] = np.nan
        return values
    return rng.choice([1, 2, 3], n)  # multiclass codes


FEATURES = ["float", "int", "category", "bool", "nullable_int", "zoned_dates", "words_with_na_tokens",
            "numbers_as_text", "numbers_and_words", "lists", "durations", "huge", "constant", "free_text"]
TARGETS = ["binary", "binary_with_gaps", "rare_class", "one_class", "regression_with_inf_and_gaps", "multiclass"]


@st.composite
def tables(draw) -> pd.DataFrame:
    n = draw(st.integers(24, 80))
    kinds = draw(st.lists(st.sampled_from(FEATURES), min_size=3, max_size=6))  # many dtypes per (costly) run
    target_kind = draw(st.sampled_from(TARGETS))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    frame = pd.DataFrame({f"{kind}_{i}": feature(kind, n, rng) for i, kind in enumerate(kinds)})
    frame["y"] = target(target_kind, n, rng)
    return frame


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for every example: a new MLflow database per run would cost more than the run."""
    return tmp_path_factory.mktemp("accepted") / "mlruns"


@settings(max_examples=N_RUNS, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_what_validate_accepts_a_run_finishes_and_registers(store, table):
    config = parse_config({"name": "accepted", "data": {"target": "y"}, "task": "auto",
                           "search": {"n_trials": 1, "cv_folds": 2, "families": ["linear"], "ensemble": False},
                           "tracking": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}",
                                        "artifact_location": str(store / "artifacts"),
                                        "optuna_storage": str(store / "optuna.journal")}})
    try:
        validate_data(config, table)
    except (DataError, ConfigError) as refused:  # refused: one line, naming what to fix
        assert "\n" not in str(refused) and len(str(refused)) < 600
        return
    result = run_pipeline(config, table)
    assert result.n_trials == 1 and int(result.registration.version) >= 1
    assert all(np.isfinite(value) for value in result.test_metrics.values())
    parent = mlflow.MlflowClient(config.tracking.tracking_uri).get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["registered_version"] == result.registration.version
