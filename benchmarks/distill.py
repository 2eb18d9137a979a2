"""Knowledge distillation's figures (issue 28): a champion trained by `automl run` for a budget, then
`automl distill`, each timed as a process from outside; teacher against student (and the int8 student).

    .venv/bin/python benchmarks/suite/tables.py          # in the bench venv, once: benchmarks/.data/<table>
    .venv/bin/python benchmarks/distill.py --tables adult diamonds [--budget 300] [--trials 20]
    .venv/bin/python benchmarks/distill.py --smoke        # sklearn:breast_cancer, a 30-s run, 3 students

Each table's fixed suite split (benchmarks/suite/tables.py) is the run's data.source (training rows)
and data.test_source (test rows), so the teacher and the student are scored on the suite's test rows,
which neither learned from. The config: search.timeout_s = the budget and no trial limit (as
benchmarks/wall_clock.py), metric roc_auc / accuracy / r2 (a score where larger is better, so the
ratio reads as "share of the teacher's score kept"), distill.n_trials = --trials. The comparison is
read back from the distillation run (comparison/comparison.csv): test score, rows/s predicting 10,000
raw rows, the median latency of one raw row (200 calls), the pipeline alone on a cleaned row, the
model folder's size; the target is ≥ 0.98 of the score at ≥ 10× rows/s and ≥ 10× lower latency.
Never run it beside tests or another benchmark: it measures this machine's clock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "suite"))

METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
TARGETS = {"score_ratio": 0.98, "speed_ratio": 10.0, "latency_ratio": 10.0}


def table_files(table: str, data: Path, work: Path) -> tuple[Path, Path, str, str]:
    """(train.parquet, test.parquet, target, task) of a suite table, or of a bundled set split 75/25."""
    if table.startswith("sklearn:"):
        from automl.data import infer_task
        from benchmarks._service_common import suite_table

        train, test, target = suite_table(table, data)
        train.to_parquet(work / "train.parquet", index=False)
        test.to_parquet(work / "test.parquet", index=False)
        return work / "train.parquet", work / "test.parquet", target, infer_task(train[target])
    from tables import prepare

    folder = prepare(table, data)
    meta = json.loads((folder / "meta.json").read_text())
    return folder / "train.parquet", folder / "test.parquet", meta["target"], meta["task"]


def timed(args: list[str], env: dict, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    """`automl ARGS` in a fresh process; its wall clock seen from outside (imports and exit included)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"automl {' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-3000:]}")
    return seconds, done


def write_config(table: str, files: tuple, work: Path, budget: float, distill: dict) -> Path:
    train, test, target, task = files
    name = f"distill-{table.replace(':', '-').replace('_', '-')}"
    config = work / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "name": name, "task": task, "metric": METRIC[task],
        "data": {"source": str(train), "target": target, "test_source": str(test)},
        "search": {"n_trials": None, "timeout_s": budget}, "distill": distill,
        "tracking": {"tracking_uri": f"sqlite:///{work / 'mlflow.db'}", "artifact_location": str(work / "artifacts"),
                     "optuna_storage": str(work / "optuna.journal")}}))
    return config


def comparison(work: Path, name: str) -> tuple[pd.DataFrame, dict]:
    """The distillation run's comparison table and the student version's tags."""
    from mlflow import MlflowClient

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # (this script's own process)
    client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    student = client.get_model_version_by_alias(name, "student")
    path = client.download_artifacts(student.run_id, "comparison/comparison.csv", tempfile.mkdtemp())
    return pd.read_csv(path), dict(student.tags)


def bench(table: str, args, work: Path) -> dict:
    files = table_files(table, args.data, work)
    distill = {"n_trials": args.trials, "augment_max": args.augment_max, "max_epochs": args.max_epochs}
    config = write_config(table, files, work, args.budget, distill)
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    run_s, _ = timed(["run", str(config)], env, 5 * args.budget + 600)
    distill_s, done = timed(["distill", str(config)], env, 24 * 3600)
    table_, tags = comparison(work, yaml.safe_load(config.read_text())["name"])
    rows = {row["model"]: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            for row in table_.to_dict("records")}
    registered = table_.loc[table_["registered"], "model"].iloc[0]
    got = rows[registered]
    return {"table": table, "budget_s": args.budget, "run_wall_s": round(run_s, 1),
            "distill_wall_s": round(distill_s, 1), "student": tags.get("student"), "registered": registered,
            "meets": {key: bool(got[key] >= bound) for key, bound in TARGETS.items()}, "models": rows,
            "cli_tail": done.stdout.strip().splitlines()[-6:]}


def show(result: dict) -> None:
    print(f"\n{result['table']}: automl run {result['run_wall_s']} s (budget {result['budget_s']:g} s), "
          f"automl distill {result['distill_wall_s']} s; registered {result['registered']}: {result['student']}")
    print(f"{'model':>13} {'test score':>10} {'score ×':>8} {'rows/s':>9} {'rows/s ×':>8} {'latency ms':>10} "
          f"{'latency ×':>9} {'pipeline ms':>11} {'size MB':>8} {'model MB':>8}")
    for name, row in result["models"].items():
        print(f"{name:>13} {row['test_score']:>10.4f} {row['score_ratio']:>8.4f} {row['rows_per_s']:>9,.0f} "
              f"{row['speed_ratio']:>8.1f} {row['latency_ms']:>10.3f} {row['latency_ratio']:>9.1f} "
              f"{row['pipeline_latency_ms']:>11.3f} {row['size_mb']:>8.2f} {row['model_mb']:>8.3f}")
    print("targets (registered student): " + ", ".join(
        f"{key} ≥ {bound:g}: {'yes' if result['meets'][key] else 'NO'}" for key, bound in TARGETS.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=["adult", "diamonds"])
    parser.add_argument("--budget", type=float, default=300, help="automl run's search.timeout_s (seconds)")
    parser.add_argument("--trials", type=int, default=20, help="distill.n_trials")
    parser.add_argument("--augment-max", type=int, default=4, help="distill.augment_max")
    parser.add_argument("--max-epochs", type=int, default=100, help="distill.max_epochs")
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / ".data")
    parser.add_argument("--out", type=Path, help="append each table's result as a JSON line")
    parser.add_argument("--smoke", action="store_true", help="sklearn:breast_cancer, 30 s, 3 students: wiring only")
    args = parser.parse_args()
    if args.smoke:
        args.tables, args.budget, args.trials, args.augment_max, args.max_epochs = (
            ["sklearn:breast_cancer"], 30, 3, 1, 20)
    for table in args.tables:
        with tempfile.TemporaryDirectory(prefix="bench-distill-") as folder:
            result = bench(table, args, Path(folder))
        show(result)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as out:
                out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
