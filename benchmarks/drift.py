"""`automl monitor`'s false alarms and misses (issue 27): on real tables of the public suite, 20
fresh samples of held-out rows (no shift) and 20 samples with a real shift (rows selected by one
column's value, or one column rescaled), each against the champion's reference at the default
thresholds. Goal: 0 false alarms, ≥ 19/20 shifts caught.

    .venv/bin/python benchmarks/drift.py --tables adult mlc_churn --samples 20 --rows 2000
    .venv/bin/python benchmarks/drift.py --smoke   # tiny: wiring only, no figure

A fresh sample draws `rows` of the test split with replacement. A shift takes, in turn over the
numeric columns (most varied first), the rows above the column's median (a selection by value), or
the whole sample with the column multiplied by 1.5 (a rescale).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automl.service import monitor_batch  # noqa: E402
from benchmarks._service_common import suite_table, train_champion  # noqa: E402


def shifted(test: pd.DataFrame, columns: list[str], i: int, rows: int,
            rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    column = columns[(i // 2) % len(columns)]
    if i % 2 == 0:
        above = test[test[column] > test[column].median()]
        return above.sample(rows, replace=True, random_state=rng.integers(1 << 31)), f"{column} > median"
    sample = test.sample(rows, replace=True, random_state=rng.integers(1 << 31))
    return sample.assign(**{column: sample[column] * 1.5}), f"{column} × 1.5"


def table_figures(table: str, data: Path, samples: int, rows: int, trials: int | None, seconds: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-drift-"))
    train, test, target = suite_table(table, data)
    name = "bench_drift"
    uri = train_champion(train, target, root, name, seconds, trials)
    numeric = [c for c in test.columns if c != target and pd.api.types.is_numeric_dtype(test[c])
               and test[c].nunique() > 10]
    numeric.sort(key=lambda c: -test[c].nunique())
    rng = np.random.default_rng(0)
    false_alarms, misses, missed = 0, 0, []
    for i in range(samples):
        path = root / "batch.parquet"
        test.sample(rows, replace=True, random_state=rng.integers(1 << 31)).to_parquet(path, index=False)
        false_alarms += monitor_batch(f"models:/{name}@champion", str(path), uri).drifted
        batch, what = shifted(test, numeric, i, rows, rng)
        batch.to_parquet(path, index=False)
        if not monitor_batch(f"models:/{name}@champion", str(path), uri).drifted:
            misses += 1
            missed.append(what)
    return {"table": table, "samples": samples, "rows": rows, "false_alarms": false_alarms, "misses": misses,
            "missed": missed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs="+", default=["adult", "mlc_churn"])
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / ".data")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="breast cancer, 2 samples of 100 rows, 2 trials")
    args = parser.parse_args()
    if args.smoke:
        print(json.dumps(table_figures("sklearn:breast_cancer", args.data, 2, 100, 2, 30)))
        return
    for table in args.tables:
        print(json.dumps(table_figures(table, args.data, args.samples, args.rows, None, 60)))


if __name__ == "__main__":
    main()
