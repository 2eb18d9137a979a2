"""Many workers on one study (`search.workers`): throughput through the real pipeline, and what
coordinating through each storage costs per trial.

    .venv/bin/python benchmarks/workers.py [--table adult] [--trials 24] [--coordination-trials 200]

1. The pipeline (`run_pipeline`, stores in a temporary folder), a CPU-bound single-thread objective
   (the `linear` family: one BLAS thread per trial) on a suite table, `n_trials` fixed, no time
   budget: trials/min of the search step (`search_seconds` on the parent run, worker start-up
   included): the default in-process search, then 1 and 2 worker processes on the journal file,
   and 1 and 4 on PostgreSQL (a throwaway cluster on 127.0.0.1, as the tests start one).
2. Coordination alone: what a shared worker does per trial besides training (take the study's
   lock, count the stored trials, ask with three suggestions, tell), in ms/trial, in memory (no
   lock), on the journal file and on PostgreSQL; then 4 processes at once on one PostgreSQL study
   against 1, as trials/s.
Never run it beside tests or another benchmark: it times this machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "suite"))
from tables import prepare  # noqa: E402

from automl.config import parse_config  # noqa: E402
from automl.search import make_storage  # noqa: E402
from automl.search._shared import StudyLock, counted_trials  # noqa: E402
from tests.postgres_cluster import postgres_cluster  # noqa: E402


def pipeline_rate(table: str, trials: int, workers: int, storage: str, folder: Path, processes: bool = True) -> dict:
    """processes=False: the default path for one worker (the search in the run's own process)."""
    import mlflow

    import automl.pipeline
    from automl.pipeline import run_pipeline

    automl.pipeline.uses_workers = (lambda config: True) if processes else (lambda config: False)

    data = prepare(table, ROOT / "benchmarks" / ".data")
    meta = json.loads((data / "meta.json").read_text())
    name = f"workers-{workers}-{'pg' if storage.startswith('postgresql') else 'journal'}"
    config = parse_config({
        "name": name, "task": meta["task"], "data": {"source": str(data / "train.parquet"), "target": meta["target"]},
        "search": {"n_trials": trials, "cv_folds": 3, "families": ["linear"], "workers": workers, "ensemble": False},
        "tracking": {"tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
                     "artifact_location": str(folder / "artifacts"),
                     "optuna_storage": storage}})
    result = run_pipeline(config)
    seconds = (mlflow.MlflowClient(config.tracking.tracking_uri).get_run(result.parent_run_id)
               .data.metrics["search_seconds"])
    return {"workers": workers if processes else "in-process", "storage": name.split("-")[-1],
            "trials": result.n_trials,
            "search_s": round(seconds, 1), "trials_per_min": round(60 * result.n_trials / seconds, 1)}


def coordinate(storage: str | None, study_name: str, trials: int) -> float:
    """Seconds for `trials` shared-worker coordination rounds (no training)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=make_storage(storage), load_if_exists=True)
    lock = StudyLock(storage, study_name) if storage is not None else None
    started = time.perf_counter()
    for _ in range(trials):
        if lock is not None:
            with lock:
                counted_trials(study)
                trial = study.ask()
        else:
            trial = study.ask()
        value = (trial.suggest_float("x", -1, 1) + trial.suggest_int("k", 1, 30)
                 + len(trial.suggest_categorical("f", ["a", "bc"])))
        study.tell(trial, value)
    if lock is not None:
        lock.close()
    return time.perf_counter() - started


def _coordinate_worker(args: tuple) -> float:
    return coordinate(*args)


def parallel_rate(storage: str, study_name: str, trials: int, processes: int) -> float:
    """Trials/s of `processes` processes coordinating on one study at once, `trials` in all."""
    optuna.create_study(study_name=study_name, storage=make_storage(storage))
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_coordinate_worker, [(storage, study_name, trials // processes)] * processes)
    return trials / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="adult")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--coordination-trials", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "workers.json")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    out: dict = {"machine": f"{os.cpu_count()} cores", "table": args.table, "pipeline": [], "coordination": {}}
    with postgres_cluster() as pg, tempfile.TemporaryDirectory(prefix="automl-workers-") as tmp:
        folder = Path(tmp)
        journal = str(folder / "optuna.journal")
        for workers, storage, processes in [(1, journal, False), (1, journal, True), (2, journal, True),
                                            (1, pg.new_database(), True), (4, pg.new_database(), True)]:
            out["pipeline"].append(pipeline_rate(args.table, args.trials, workers, storage, folder, processes))
            print(json.dumps(out["pipeline"][-1]), flush=True)
        n = args.coordination_trials
        for kind, storage in [("memory", None), ("journal", str(folder / "coordination.journal")),
                              ("postgresql", pg.new_database())]:
            out["coordination"][f"{kind}_ms_per_trial"] = round(1000 * coordinate(storage, f"c-{kind}", n) / n, 2)
        url = pg.new_database()
        one, four = parallel_rate(url, "p1", n, 1), parallel_rate(url, "p4", n, 4)
        out["coordination"].update(postgresql_1_process_trials_per_s=round(one, 1),
                                   postgresql_4_processes_trials_per_s=round(four, 1))
    rows = pd.DataFrame(out["pipeline"])
    base = {s: rows[(rows.workers == 1) & (rows.storage == s)].trials_per_min.iloc[0] for s in ("journal", "pg")}
    rows["× 1 worker process"] = [round(r.trials_per_min / base[r.storage], 2) for r in rows.itertuples()]
    print(rows.to_string(index=False))
    print(json.dumps(out["coordination"], indent=1))
    print(f"4 vs 1 process on one PostgreSQL study (coordination only): {four / one:.2f} ×")
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
