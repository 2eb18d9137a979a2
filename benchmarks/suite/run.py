"""The benchmark suite: every contender on every table at every budget, one after another.

    .venv/bin/python benchmarks/suite/run.py [--budgets 60 300] [--tables ...] [--contenders ...] [--seed N]

Builds the peers' venv (benchmarks/.venv-bench) once, writes each table's fixed split once, runs each
(budget, table, contender) in its own process, scores every contender's test predictions with the
same code here, and writes benchmarks/results/{raw.csv,results.csv,results.md,results.png}.
Rows already in raw.csv are kept and skipped (--fresh starts over), so a long run can be resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BENCH_VENV = ROOT / "benchmarks" / ".venv-bench"
DATA = ROOT / "benchmarks" / ".data"
WORK = ROOT / "benchmarks" / ".work"
RESULTS = ROOT / "benchmarks" / "results"
TABLES = ["breast_cancer", "digits", "wine", "diabetes", "mlc_churn", "ames", "diamonds", "adult"]
CONTENDERS = ["automl", "flaml", "autogluon", "hgb"]
OURS = ["automl", "automl-tabm", "automl-mlp", "automl-hgb", "automl-all"]  # the project's venv; automl-FAMILY: that
# family alone; automl-all: every family, tabm included


def bench_python() -> str:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["torch==2.13.0"], check=True)
        subprocess.run(pip + ["-r", str(HERE / "requirements.txt")], check=True)
    return str(python)


def score(meta: dict, predictions: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    if meta["task"] == "regression":
        pred = predictions["prediction"].to_numpy(float)
        return {"r2": skm.r2_score(y, pred), "rmse": skm.root_mean_squared_error(y, pred)}
    labels = sorted(y.astype(str).unique())
    proba = predictions.reindex(columns=labels, fill_value=0.0).to_numpy(float)
    proba = proba / proba.sum(axis=1, keepdims=True)
    y = y.astype(str).to_numpy()
    if meta["task"] == "binary":
        return {"roc_auc": skm.roc_auc_score(y == labels[1], proba[:, 1]),
                "accuracy": skm.accuracy_score(y, np.asarray(labels)[proba.argmax(1)])}
    return {"accuracy": skm.accuracy_score(y, np.asarray(labels)[proba.argmax(1)]),
            "log_loss": skm.log_loss(y, np.clip(proba, 1e-15, 1), labels=labels)}


def run_one(contender: str, table: str, budget: float, python: str, env: dict) -> dict:
    folder = DATA / table
    out = WORK / f"{table}-{contender}-{int(budget)}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    try:
        done = subprocess.run([python, str(HERE / "contenders.py"), contender, str(folder), str(budget), str(out)],
                              env=env, capture_output=True, text=True, timeout=3 * budget + 300)
        error = None if done.returncode == 0 else done.stderr[-2000:]
    except subprocess.TimeoutExpired:
        error = "killed after 3 × budget + 300 s"
    process_s = time.perf_counter() - started
    meta = json.loads((folder / "meta.json").read_text())
    row = {"budget_s": budget, "table": table, "task": meta["task"], "contender": contender,
           "process_s": round(process_s, 1), "error": error}
    if error is None:
        timing = json.loads((out / "timing.json").read_text())
        y = pd.read_parquet(folder / "test.parquet")[meta["target"]]
        row |= score(meta, pd.read_parquet(out / "predictions.parquet"), y)
        row |= {"fit_s": round(timing["fit_s"], 1), "wall_over_budget": round(timing["fit_s"] / budget, 3),
                "n_trials": timing.get("n_trials"), "final": timing.get("final_model") or timing.get("best_family"),
                "search_share": timing.get("search_share")}  # automl only: (search + refit) ÷ budget
    shutil.rmtree(out / "ag", ignore_errors=True)  # AutoGluon's saved models: hundreds of MB
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", type=float, nargs="+", default=[60, 300])
    parser.add_argument("--tables", nargs="+", default=TABLES, choices=TABLES)
    parser.add_argument("--contenders", nargs="+", default=CONTENDERS, choices=CONTENDERS + OURS[1:])
    parser.add_argument("--fresh", action="store_true", help="forget earlier rows in raw.csv")
    parser.add_argument("--seed", type=int, default=0,
                        help="the contenders' search seed (the split stays fixed); results of seed N > 0 go to "
                             "results/seed-N/, to see how much a score moves with the seed alone")
    parser.add_argument("--out", default=None,
                        help="write to results/OUT/ instead (e.g. to rerun a few tables after a change and "
                             "compare with the committed rows)")
    args = parser.parse_args()
    python = bench_python()
    subprocess.run([python, str(HERE / "tables.py"), str(DATA)], check=True, capture_output=True)
    results = RESULTS / args.out if args.out else RESULTS if args.seed == 0 else RESULTS / f"seed-{args.seed}"
    results.mkdir(parents=True, exist_ok=True)
    raw_path = results / "raw.csv"
    raw = pd.read_csv(raw_path) if raw_path.exists() and not args.fresh else pd.DataFrame()
    home = WORK / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "AUTOML_BENCH_STORE": str(WORK / "mlruns"), "PYTHONPATH": str(ROOT), "AUTOML_BENCH_SEED": str(args.seed)}
    pythons = {c: (sys.executable if c in OURS else python) for c in CONTENDERS + OURS[1:]}
    if set(OURS) & set(args.contenders):  # a user's Prefect home and MLflow store exist already: warm both
        run_one("automl", "wine", 15, pythons["automl"], env)
    for budget in args.budgets:
        for table in args.tables:
            for contender in args.contenders:
                if len(raw) and ((raw.budget_s == budget) & (raw.table == table) & (raw.contender == contender)
                                 & raw.error.isna()).any():
                    continue
                row = run_one(contender, table, budget, pythons[contender], env)
                print(json.dumps(row, default=str)[:400], flush=True)
                raw = pd.concat([raw[~((raw.budget_s == budget) & (raw.table == table) & (raw.contender == contender))]
                                 if len(raw) else raw, pd.DataFrame([row])], ignore_index=True)
                raw.to_csv(raw_path, index=False)
    from report import write_report

    committed = pd.read_csv(RESULTS / "raw.csv") if results != RESULTS and (RESULTS / "raw.csv").exists() else None
    write_report(raw, results, committed=committed,
                 machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
