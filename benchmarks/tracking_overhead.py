"""Tracking overhead per trial: the same seeded search, side by side in one process.

  a) bare: in-memory Optuna study, no tracking
  b) journal: the study in a journal file (the embedded default), no tracking
  c) tracked: journal file + one MLflow child run per trial in a SQLite store (what the pipeline does)

Prints seconds per trial, the ratios to (a), and the time inside MLflow calls ÷ trial time.
Usage: .venv/bin/python benchmarks/tracking_overhead.py [--trials 40] [--family linear] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import optuna

from automl.config import parse_config
from automl.pipeline import load_and_validate, search_space
from automl.features import profile_features
from automl.search import run_search
from automl.tracking import Tracker


class NoTracking:
    def log_trial(self, record) -> None:
        pass


def one_search(prepared, space, storage: str, logger, trials: int, name: str) -> tuple[float, float]:
    split = prepared.split
    started = time.perf_counter()
    result = run_search(space, split.X_train, split.y_train, folds=prepared.config.search.cv_folds,
                        study_name=name, storage=storage, n_trials=trials, timeout_s=None, pruner="none",
                        logger=logger)
    wall = time.perf_counter() - started
    return wall, sum(r.duration_s for r in result.records)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--family", default="linear", help="a fast family shows the overhead most")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    config = parse_config({"name": "bench", "search": {"families": [args.family], "cv_folds": 3}})
    prepared = load_and_validate(config)
    s = prepared.split
    profile = profile_features(s.X_train, s.y_train, prepared.dataset.numeric_columns,
                               prepared.dataset.categorical_columns, prepared.dataset.task,
                               prepared.score_funcs, seed=0)
    space = search_space(prepared, profile)

    totals = {"bare": 0.0, "journal": 0.0, "tracked": 0.0}
    in_mlflow = trial_time = 0.0
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tracker = Tracker(f"sqlite:///{root / 'mlflow.db'}", "bench", str(root / "artifacts"))
        one_search(prepared, space, None, NoTracking(), 2, "warm-up")  # imports and caches, not measured
        for repeat in range(args.repeats):  # interleaved, so drift hits every contender alike
            totals["bare"] += one_search(prepared, space, None, NoTracking(), args.trials, f"b{repeat}")[0]
            journal = str(root / f"j{repeat}.journal")
            totals["journal"] += one_search(prepared, space, journal, NoTracking(), args.trials, f"j{repeat}")[0]
            tracker.start_parent(f"bench-{repeat}", {})
            before = tracker.seconds_in_trial_logging
            wall, trials_s = one_search(prepared, space, str(root / f"t{repeat}.journal"), tracker,
                                        args.trials, f"t{repeat}")
            tracker.finish()
            totals["tracked"] += wall
            in_mlflow += tracker.seconds_in_trial_logging - before
            trial_time += trials_s

    n = args.trials * args.repeats
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"optuna {optuna.__version__}; family {args.family}, {args.trials} trials × {args.repeats}")
    print(f"{'contender':<10} {'s/trial':>9} {'trials/min':>11} {'÷ bare':>8}")
    for name, total in totals.items():
        print(f"{name:<10} {total / n:>9.4f} {60 * n / total:>11.1f} {total / totals['bare']:>8.3f}")
    print(f"time inside MLflow per trial: {in_mlflow / n * 1000:.1f} ms; "
          f"÷ trial time = {in_mlflow / trial_time:.3f}")


if __name__ == "__main__":
    main()
