"""One contender on one table at one budget, in its own process:

    python contenders.py CONTENDER TABLE_DIR BUDGET_S OUT_DIR

Times the fit: for the peers, their fit call (imports and reading the Parquet files outside the
clock); for `automl`, the whole `automl run` process, start-up included, as a user waits for it.
Predicting the test rows is outside the clock for all. Writes predictions.parquet and timing.json
to OUT_DIR. `automl` runs in the project's venv; flaml, autogluon and hgb in the bench venv.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

SEED = int(os.environ.get("AUTOML_BENCH_SEED", "0"))  # the split stays fixed; this seeds the searches
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
ROOT = Path(__file__).resolve().parents[2]


def automl(train: Path, test: Path, target: str, task: str, budget: float, work: Path, families=None,
           extra: dict | None = None):
    """This project as a user runs it: `automl run` as a process on a generated config, its start-up
    (imports, checks, Prefect's temporary server on a fresh PREFECT_HOME, as on a fresh machine)
    inside the clock (`families`: one family alone, for the automl-FAMILY contenders; "all": every
    family; None: the defaults; `extra`: config sections merged in, e.g. benchmarks/text.py's text:).
    Prints the share of the budget the search and the refit had
    (the issue asks ≥ 85 % at 60 s)."""
    import mlflow
    import yaml

    from automl.config import ALL_FAMILIES

    families = ALL_FAMILIES if families == "all" else families
    store = Path(os.environ.get("AUTOML_BENCH_STORE", work))  # one MLflow store for the suite, as a user has
    config = {
        "name": f"bench-{train.parent.name}-{int(budget)}", "seed": SEED, "task": task, "metric": METRIC[task],
        "data": {"source": str(train), "target": target, "test_source": str(test)},
        "search": {"n_trials": None, "timeout_s": budget} | ({"families": list(families)} if families else {}),
        "tracking": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}", "artifact_location": str(store / "artifacts"),
                     "optuna_storage": str(work / "optuna.journal")},
    }
    for key, value in (extra or {}).items():
        config[key] = {**config.get(key, {}), **value}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect-home"), "PYTHONPATH": str(ROOT)}
    env.pop("PREFECT_API_URL", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    fit_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"automl run failed ({done.returncode}): {done.stderr[-2000:]}")
    run_id = re.search(r"MLflow parent run (\w+) \(", done.stdout).group(1)
    mlflow.set_tracking_uri(config["tracking"]["tracking_uri"])
    run = mlflow.get_run(run_id).data
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").unwrap_python_model().model
    share = (run.metrics.get("search_seconds", 0.0) + run.metrics.get("final_fit_seconds", 0.0)) / budget
    print(f"automl on {train.parent.name}: search + refit {share:.0%} of the {budget:g}-s budget "
          f"(wall {fit_s:.1f} s, {int(run.metrics.get('n_trials', 0))} trials)", file=sys.stderr)
    info = {"n_trials": int(run.metrics.get("n_trials", 0)), "best_family": run.tags.get("winner_family"),
            "winner": run.tags.get("winner"), "final_model": run.params.get("final_model"),
            "cv_score": run.metrics.get("winner_cv_score"), "search_share": round(share, 3),
            "text_encoder": run.params.get("best_trial.text_encoder")}
    return model, fit_s, info


def flaml(train: Path, test: Path, target: str, task: str, budget: float, work: Path):
    from flaml import AutoML

    frame = pd.read_parquet(train)
    model = AutoML()
    started = time.perf_counter()
    model.fit(X_train=frame.drop(columns=[target]), y_train=frame[target], seed=SEED, verbose=0,
              task="regression" if task == "regression" else "classification", metric=METRIC[task],
              time_budget=budget, log_file_name=str(work / "flaml.log"))
    fit_s = time.perf_counter() - started
    return model, fit_s, {"best_family": model.best_estimator}


def autogluon(train: Path, test: Path, target: str, task: str, budget: float, work: Path):
    from autogluon.tabular import TabularPredictor

    frame = pd.read_parquet(train)
    predictor = TabularPredictor(label=target, eval_metric=METRIC[task], problem_type=task, path=str(work / "ag"),
                                 verbosity=0)
    started = time.perf_counter()
    predictor.fit(frame, time_limit=budget, presets="medium_quality")
    fit_s = time.perf_counter() - started
    return predictor, fit_s, {"best_family": predictor.model_best}


def hgb(train: Path, test: Path, target: str, task: str, budget: float, work: Path):
    """scikit-learn's HistGradientBoosting with its defaults (native categorical support): the floor."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = pd.read_parquet(train)
    as_categories = FunctionTransformer(lambda X: X.astype({c: "category" for c in X.columns
                                                            if X[c].dtype == object}))
    estimator = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    model = make_pipeline(as_categories, estimator(categorical_features="from_dtype", random_state=SEED))
    started = time.perf_counter()
    model.fit(frame.drop(columns=[target]), frame[target])
    return model, time.perf_counter() - started, {"best_family": "hist_gradient_boosting"}


CONTENDERS = {"automl": automl, "flaml": flaml, "autogluon": autogluon, "hgb": hgb}
# One family alone through the same search (issue 16's figure 1): the PyTorch families beside boosting.
for _family, _name in [("tabm", "tabm"), ("mlp", "mlp"), ("hist_gradient_boosting", "hgb")]:
    CONTENDERS[f"automl-{_name}"] = functools.partial(automl, families=[_family])
# Every family, tabm included (issue 16's figure 2: the full search with the new families).
CONTENDERS["automl-all"] = functools.partial(automl, families="all")


def predictions(model, X: pd.DataFrame, task: str) -> pd.DataFrame:
    if task == "regression":
        return pd.DataFrame({"prediction": pd.Series(model.predict(X)).to_numpy(float)})
    proba = model.predict_proba(X)
    if isinstance(proba, pd.DataFrame):
        return proba.set_axis([str(c) for c in proba.columns], axis=1).reset_index(drop=True)
    classes = getattr(model, "classes_", None)
    return pd.DataFrame(proba, columns=[str(c) for c in classes])


def main() -> None:
    name, table, budget, out = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
    out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((table / "meta.json").read_text())
    model, fit_s, info = CONTENDERS[name](table / "train.parquet", table / "test.parquet", meta["target"],
                                          meta["task"], budget, out)
    test = pd.read_parquet(table / "test.parquet").drop(columns=[meta["target"]])
    predictions(model, test, meta["task"]).to_parquet(out / "predictions.parquet")
    (out / "timing.json").write_text(json.dumps({"fit_s": fit_s, "budget_s": budget, "cpu_count": os.cpu_count(),
                                                 **info}, default=str))


if __name__ == "__main__":
    main()
