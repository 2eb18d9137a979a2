"""Shared by benchmarks/score.py and benchmarks/drift.py: a champion trained on a suite table (or
a bundled one for a smoke run) in a throwaway store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from automl.config import parse_config
from automl.pipeline import run_pipeline


def suite_table(name: str, data_root: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, test, target) of a suite table (benchmarks/suite/tables.py writes it, in the bench
    venv); `sklearn:NAME` loads a bundled set instead, split 75/25 here (smoke runs)."""
    if name.startswith("sklearn:"):
        from automl.data import read_table

        frame = read_table(name)[0]
        frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        cut = int(0.75 * len(frame))
        return frame.iloc[:cut], frame.iloc[cut:].reset_index(drop=True), "target"
    folder = data_root / name
    meta = json.loads((folder / "meta.json").read_text())
    return pd.read_parquet(folder / "train.parquet"), pd.read_parquet(folder / "test.parquet"), meta["target"]


def train_champion(train: pd.DataFrame, target: str, root: Path, name: str, seconds: float, trials: int | None) -> str:
    """Train and register `name` in a store under root; its tracking URI."""
    path = root / f"{name}-train.parquet"
    train.to_parquet(path, index=False)
    search = {"timeout_s": seconds, "families": ["linear", "hist_gradient_boosting"]}
    if trials:
        search["n_trials"] = trials
    config = parse_config({"name": name, "data": {"source": str(path), "target": target}, "search": search,
                           "tracking": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
                                        "artifact_location": str(root / "artifacts"),
                                        "optuna_storage": str(root / "optuna.journal")}})
    run_pipeline(config)
    return config.tracking.tracking_uri
