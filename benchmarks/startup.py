"""Where the first seconds of `automl run` go, timed from outside, as a user sees them:

    .venv/bin/python benchmarks/startup.py [--config config/breast_cancer.yaml] [--trials 5] [--repeats 3]

Each repeat runs `automl run` three times as a process: as the first run on a machine (a fresh
PREFECT_HOME and MLflow store, and an empty automl cache: Prefect's and MLflow's migrations run),
on another fresh home and store with the cache the first run left (their empty databases copied),
then again on that home and store (warm). The phases come from the markers the CLI prints with
AUTOML_TRACE_PHASES=1 (started, server launched, checks, imports, server ready), Prefect's task lines
(flow start, search, refit, registration: each line timed as it arrives), the first trial's child
run in MLflow (its start time) and the process's end. Every figure is seconds after the launch.
Run it with the machine to itself: on a busy machine the figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# phase → what marks its end: a CLI marker ("phase NAME") or parts of a Prefect log line
MARKS = {
    "interpreter": ("phase", "started"),  # python and `automl` begin: the budget's clock starts
    "checks": ("phase", "checks"),  # automl's imports, the config and data checks
    "imports": ("phase", "imports"),  # Prefect and the flow imported
    "server": ("phase", "server"),  # the temporary server answers (launched at the start, in the background)
    "flow start": ("line", "Beginning flow run"),
    "first trial start": ("mlflow", ""),
    "search": ("line", "Task run 'model-search[", "Finished"),
    "refit": ("line", "Task run 'refit-and-evaluate'", "Finished"),
    "registration": ("line", "Task run 'register-model'", "Finished"),
    "exit": ("exit", ""),
}


def run_once(config: str, home: Path, store: Path, cache: Path, trials: int) -> dict[str, float]:
    """One `automl run`; → phase → seconds after the launch when it ended."""
    env = {**os.environ, "PREFECT_HOME": str(home), "AUTOML_CACHE_DIR": str(cache), "AUTOML_TRACE_PHASES": "1",
           "PYTHONUNBUFFERED": "1", "PREFECT_LOGGING_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "flows.cli", "run", config, "--set", f"search.n_trials={trials}",
               "--set", f"tracking.tracking_uri=sqlite:///{store / 'mlflow.db'}",
               "--set", f"tracking.artifact_location={store / 'artifacts'}",
               "--set", f"tracking.optuna_storage={store / 'optuna.journal'}"]
    launched = time.time()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: dict[str, float] = {}
    for line in process.stdout:
        now = time.time()
        for name, (kind, *parts) in MARKS.items():
            if name in seen:
                continue
            if kind == "phase" and line.startswith(f"automl: phase {parts[0]} "):
                seen[name] = float(line.split()[3]) - launched
            elif kind == "line" and all(part in line for part in parts):
                seen[name] = now - launched
    process.wait()
    seen["exit"] = time.time() - launched
    if process.returncode != 0:
        raise SystemExit(f"automl run failed ({process.returncode}) on {home}")
    first = first_trial_start(store)
    if first is not None:
        seen["first trial start"] = first - launched
    return seen


def first_trial_start(store: Path) -> float | None:
    """When the newest parent run's first child run (its first trial) started, in MLflow's clock."""
    import sqlite3

    with sqlite3.connect(store / "mlflow.db") as db:
        row = db.execute("select min(r.start_time) from runs r join tags t on t.run_uuid = r.run_uuid "
                         "where t.key = 'mlflow.parentRunId' and t.value = (select p.run_uuid from runs p "
                         "join tags o on o.run_uuid = p.run_uuid and o.key = 'optuna_study' "
                         "order by p.start_time desc limit 1)").fetchone()
    return row[0] / 1000 if row and row[0] else None


def table(results: dict[str, list[dict[str, float]]]) -> str:
    lines = ["| phase ends (s after launch) | " + " | ".join(results) + " |",
             "| --- | " + " | ".join("---:" for _ in results) + " |"]
    for name in MARKS:
        cells = []
        for runs in results.values():
            values = [r[name] for r in runs if name in r]
            cells.append(f"{statistics.median(values):.2f}" if values else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/breast_cancer.yaml")
    parser.add_argument("--trials", type=int, default=5, help="search.n_trials for each run (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh + warm pairs; the table shows medians")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"first run on the machine": [], "fresh home": [], "warm home": []}
    with tempfile.TemporaryDirectory(prefix="automl-startup-") as scratch:
        for repeat in range(args.repeats):
            folder = Path(scratch) / str(repeat)
            cache = folder / "cache"
            results["first run on the machine"].append(run_once(args.config, folder / "home-0", folder / "store-0",
                                                                cache, args.trials))
            home, store = folder / "home", folder / "store"
            results["fresh home"].append(run_once(args.config, home, store, cache, args.trials))
            results["warm home"].append(run_once(args.config, home, store, cache, args.trials))
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    print(f"`automl run {args.config} --set search.n_trials={args.trials}`; {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; median of {args.repeats}\n")
    print(table(results))


if __name__ == "__main__":
    main()
