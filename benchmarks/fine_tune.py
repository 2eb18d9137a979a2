"""What fine-tuning the pretrained encoder (text.fine_tune, issue 29) costs and gains, on the two real
text tables of benchmarks/text.py, isolated from the search: the same linear model (logistic
regression for reviews' ROC AUC, ridge for tate's R², its strength chosen by 5-fold CV on the
training rows) on the text columns' embeddings from the frozen encoder and from the fine-tuned one
(its last layer trained on the training rows' labels only); scored on the held-out test rows.

    .venv/bin/python benchmarks/fine_tune.py                       # both tables, 3 epochs
    .venv/bin/python benchmarks/fine_tune.py --tables tate --rows 1000 --epochs 1   # a smoke run

Prints one JSON line per table: the two scores, their difference, and the seconds (the frozen
encoding; the fine-tuning's frozen-layer states and its epochs; per 1,000 rows), and writes
results/text/fine_tune.json. The device is this machine's (CUDA where there is one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from text import RESULTS, TABLES, prepare  # noqa: E402


def _head(task: str):
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV

    return RidgeCV(alphas=np.logspace(-2, 3, 12)) if task == "regression" else \
        LogisticRegressionCV(Cs=8, cv=5, max_iter=2000, scoring="roc_auc")


def _score(task: str, model, X, y) -> float:
    from sklearn.metrics import r2_score, roc_auc_score

    if task == "regression":
        return float(r2_score(y, model.predict(X)))
    return float(roc_auc_score(y == model.classes_[1], model.predict_proba(X)[:, 1]))


def run(name: str, rows: int | None, epochs: int) -> dict:
    import torch

    from automl.features import SentenceEncoder, TunedSentenceEncoder
    from automl.features import _tuned as tuned

    target, task, text = TABLES[name][:3]
    folder = prepare(name, rows)
    train, test = pd.read_parquet(folder / "train.parquet"), pd.read_parquet(folder / "test.parquet")
    y_train, y_test = train[target].to_numpy(), test[target].to_numpy()
    if task != "regression":
        y_train, y_test = y_train.astype(str), y_test.astype(str)
    started = time.perf_counter()
    frozen = [np.hstack([SentenceEncoder().transform(frame[[c]]) for c in text]) for frame in (train, test)]
    frozen_s = time.perf_counter() - started
    started = time.perf_counter()
    for column in text:  # the frozen layers' states of every text, train and test (once, as in a run)
        tuned.lower_states(pd.concat([train[column], test[column]]).fillna("").astype(str).unique().tolist())
    states_s = time.perf_counter() - started
    started = time.perf_counter()
    kind = "regression" if task == "regression" else "binary"
    encoders = [TunedSentenceEncoder(task=kind, epochs=epochs).fit(train[[c]], y_train) for c in text]
    tune_s = time.perf_counter() - started
    fine = [np.hstack([e.transform(frame[[c]]) for e, c in zip(encoders, text)]) for frame in (train, test)]
    scores = {}
    for label, (X_train, X_test) in {"frozen": frozen, "fine_tuned": fine}.items():
        model = _head(task).fit(X_train, y_train)
        scores[label] = round(_score(task, model, X_test, y_test), 4)
    per_1k = 1000 / (len(train) * len(text))
    return {"table": name, "metric": TABLES[name][4], "train_rows": len(train), "test_rows": len(test),
            "epochs": epochs, "device": "cuda" if torch.cuda.is_available() else "cpu", **scores,
            "gain": round(scores["fine_tuned"] - scores["frozen"], 4), "frozen_encoding_s": round(frozen_s, 1),
            "states_s": round(states_s, 1), "tuning_s": round(tune_s, 1),
            "tuning_s_per_epoch_per_1k_texts": round(tune_s / epochs * per_1k, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    out = [run(name, args.rows, args.epochs) for name in args.tables]
    for row in out:
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("fine_tune.json" if args.rows is None else f"fine_tune-{args.rows}.json")).write_text(
        json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
