"""Two commits of this project side by side on suite tables, to show a change kept its figures.

Each commit runs its own `automl` contender (its benchmarks/suite/contenders.py, through its own
Prefect flow) from its own git worktree, on the suite's fixed splits, in alternating order
(base, head, head, base, ...) so the VM's drifting speed falls on both alike. Prints, per table and
commit, the median test score, trials and wall ÷ budget, and head ÷ base for trials.

Usage: .venv/bin/python benchmarks/compare_commits.py BASE [--head REV] [--tables adult ...]
                                                             [--budget 60] [--repeats 2]
The head defaults to the working tree. Tables must exist in benchmarks/.data (run the suite once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "suite"))
from run import DATA, WORK, score  # noqa: E402


def worktree(rev: str | None) -> Path:
    """The checkout of `rev` (None: this working tree), made once under benchmarks/.work."""
    if rev is None:
        return ROOT
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    path = WORK / f"commit-{sha}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True,
                       capture_output=True)
    return path


def run(root: Path, label: str, table: str, budget: float) -> dict:
    """One fit of that commit's `automl` contender; its scores, trials and wall ÷ budget."""
    out = WORK / f"compare-{label}-{table}"
    env = {**os.environ, "PYTHONPATH": str(root), "PREFECT_HOME": str(WORK / f"prefect-home-{label}"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "AUTOML_BENCH_STORE": str(WORK / f"mlruns-{label}")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "suite" / "contenders.py"), "automl",
                           str(DATA / table), str(budget), str(out)], env=env, capture_output=True, text=True,
                          cwd=root)  # `python -m` child processes import from the working directory
    if done.returncode != 0:
        raise RuntimeError(f"{label} on {table} failed: {done.stderr[-2000:]}")
    meta = json.loads((DATA / table / "meta.json").read_text())
    timing = json.loads((out / "timing.json").read_text())
    y = pd.read_parquet(DATA / table / "test.parquet")[meta["target"]]
    first = next(iter(score(meta, pd.read_parquet(out / "predictions.parquet"), y).values()))
    return {"commit": label, "table": table, "score": first, "trials": timing["n_trials"],
            "wall_over_budget": timing["fit_s"] / budget, "process_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--head", default=None, help="a revision; default: the working tree")
    parser.add_argument("--tables", nargs="+", default=["adult"])
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    roots = {"base": worktree(args.base), "head": worktree(args.head)}
    for label in roots:  # a user's Prefect home and MLflow store exist already: warm both
        run(roots[label], label, "wine", 15)
    rows = []
    for repeat in range(args.repeats):
        for table in args.tables:
            for label in ("base", "head") if repeat % 2 == 0 else ("head", "base"):
                rows.append(run(roots[label], label, table, args.budget))
                print(json.dumps(rows[-1]), flush=True)
    frame = pd.DataFrame(rows)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"base {args.base}, head {args.head or 'working tree'}; "
          f"{args.budget:g} s, {args.repeats} runs each (medians)")
    for table, runs in frame.groupby("table", sort=False):
        medians = {label: runs[runs.commit == label].median(numeric_only=True) for label in ("base", "head")}
        for label, m in medians.items():
            print(f"{table:14s} {label}: score {m['score']:.4f}  trials {m['trials']:5.1f}  "
                  f"wall/budget {m['wall_over_budget']:.3f}")
        print(f"{table:14s} head ÷ base trials: {medians['head']['trials'] / medians['base']['trials']:.2f}; "
              f"score difference {medians['head']['score'] - medians['base']['score']:+.4f}")


if __name__ == "__main__":
    main()
