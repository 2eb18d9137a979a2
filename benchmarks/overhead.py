"""Orchestration overhead: the full pipeline's search against a bare Optuna loop, same objective.

  bare: automl.search.run_search on an in-memory study, trials handed to a logger that drops them
        (no MLflow, no journal, no Prefect)
  full: the Prefect flow (`automl_pipeline`): MLflow parent + one child run per trial (written by
        the writer process), the Optuna study in the journal file, Prefect progress (artifact and
        log line) every 5 s

Both run the same seeded search (same sampler, same warm start, same trials) on a fast objective
(linear models on breast cancer, 3 folds), in adjacent bare/full pairs (ABBA order) in one process.
Prints trials per minute of the search step, the median of the pairs' ratios full ÷ bare (target
≥ 0.95) and the ratio of the medians, plus the flow's end-to-end time.
Usage: .venv/bin/python benchmarks/overhead.py [--trials 30] [--repeats 12] [--family linear]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import optuna  # noqa: E402
from mlflow import MlflowClient  # noqa: E402

from automl.config import parse_config  # noqa: E402
from automl.features import profile_features  # noqa: E402
from automl.pipeline import load_and_validate, search_space  # noqa: E402
from automl.search import SearchSettings, run_search  # noqa: E402


class NoTracking:
    def log_trial(self, record) -> None:
        pass


def bare(config, trials: int) -> float:
    """Seconds for `trials` trials of the same search in memory, with nothing tracked."""
    prepared = load_and_validate(config)
    s, d = prepared.split, prepared.dataset
    profile = profile_features(s.X_train, s.y_train, d.numeric_columns, d.categorical_columns, d.task,
                               prepared.score_funcs, seed=config.seed)
    space = search_space(prepared, profile)
    started = time.perf_counter()  # the search step of the flow counts study creation too
    settings = SearchSettings("bare", folds=config.search.cv_folds, n_trials=trials, pruner=config.search.pruner)
    run_search(space, s.X_train, s.y_train, settings, NoTracking())
    return time.perf_counter() - started


def full(config) -> tuple[float, float, int]:
    """(search-step seconds, flow seconds, trials) of one flow run."""
    from flows.pipeline import automl_pipeline

    started = time.perf_counter()
    summary = automl_pipeline(config)
    flow_s = time.perf_counter() - started
    run = MlflowClient(config.tracking.tracking_uri).get_run(summary["parent_run_id"])
    return run.data.metrics["search_seconds"], flow_s, summary["n_trials"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--family", default="linear", help="a fast family shows the overhead most")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
        config = parse_config({
            "name": "overhead", "search": {"families": [args.family], "cv_folds": 3, "n_trials": args.trials,
                                           "pruner": "none", "ensemble": False},
            "tracking": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_location": str(root / "art"),
                         "optuna_storage": str(root / "optuna.journal")},
        })
        full(config.model_copy(update={"search": config.search.model_copy(update={"n_trials": 3})}))  # warm-up
        bare_s, search_s, flow_s, ratios = [], [], [], []
        # This machine's speed drifts by up to a third within a minute (a shared VM), so the two
        # run in adjacent pairs, in turns (bare-full, full-bare, ...), and each pair gives a ratio.
        for repeat in range(args.repeats):
            for contender in ("bare", "full") if repeat % 2 == 0 else ("full", "bare"):
                if contender == "bare":
                    bare_s.append(bare(config, args.trials))
                    continue
                s, f, n = full(config)
                assert n == args.trials, n
                search_s.append(s)
                flow_s.append(f)
            ratios.append(bare_s[-1] / search_s[-1])
    b, s, f, r = (statistics.median(x) for x in (bare_s, search_s, flow_s, ratios))
    n = args.trials
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"optuna {optuna.__version__}; family {args.family}, {n} trials, {args.repeats} pairs")
    print(f"bare Optuna loop      : {60 * n / b:7.1f} trials/min ({b / n * 1000:.1f} ms/trial), median")
    print(f"full pipeline, search : {60 * n / s:7.1f} trials/min ({s / n * 1000:.1f} ms/trial), median")
    print(f"ratio full ÷ bare     : {r:.3f}   median of the pairs' ratios (target ≥ 0.95); "
          f"pairs: {' '.join(f'{x:.2f}' for x in ratios)}")
    print(f"whole flow end to end : {f:.1f} s (Prefect start, load, profile, search, refit, register); "
          f"{60 * n / f:.1f} trials/min")


if __name__ == "__main__":
    main()
