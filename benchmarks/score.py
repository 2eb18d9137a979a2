"""`automl score` against the same model's predict in-process, on the same rows: rows/s and peak
RSS of each, at several table sizes (issue 27: ≥ 0.8 of in-process throughput; peak memory that
does not grow with the table).

    .venv/bin/python benchmarks/suite/tables.py   # in the bench venv, once: benchmarks/.data/adult
    .venv/bin/python benchmarks/score.py --table adult --rows 100000 1000000
    .venv/bin/python benchmarks/score.py --smoke  # tiny: wiring only, no figure

Each side runs in its own process (peak RSS is the child's ru_maxrss; its wall clock, imports and
model loading included, is read from outside by /usr/bin/time); the input is the table's test
rows repeated to the size asked, as one Parquet file. The in-process side reads the whole file and
calls the ServedModel's predict once, as a user's script would.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._service_common import suite_table, train_champion  # noqa: E402

# Each side prints its seconds (reading and predicting, not the imports) and its own peak RSS.
IN_PROCESS = """
import resource, sys, time, mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
served = mlflow.pyfunc.load_model(sys.argv[2]).unwrap_python_model().model
started = time.perf_counter()
served.predict(pd.read_parquet(sys.argv[3]))
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
SCORE = """
import contextlib, io, re, resource, sys
from flows.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    assert main(sys.argv[1:]) == 0
print(re.search(r"in ([0-9.]+) s", out.getvalue())[1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def child(code: str, *args: str) -> tuple[float, float, float]:
    """(seconds, peak RSS in MiB) that a child process reports, and its wall-clock seconds seen from
    outside (/usr/bin/time: the imports and the model's loading included, as a user waits)."""
    done = subprocess.run(["/usr/bin/time", "-f", "wall %e", sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed: {done.stderr[-2000:]}")
    seconds, rss = done.stdout.split()[-2:]
    wall = float(done.stderr.strip().splitlines()[-1].split()[1])
    return float(seconds), float(rss), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", default="adult")
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / ".data")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--smoke", action="store_true", help="breast cancer, 2,000 rows, 2 trials")
    args = parser.parse_args()
    table, rows, trials = ("sklearn:breast_cancer", [2_000], 2) if args.smoke else (args.table, args.rows, None)
    root = Path(tempfile.mkdtemp(prefix="bench-score-"))
    train, test, target = suite_table(table, args.data)
    uri = train_champion(train, target, root, "bench_score", 60, trials)
    model = "models:/bench_score@champion"
    for n in rows:
        batch = test.drop(columns=[target]).sample(n, replace=True, random_state=0).reset_index(drop=True)
        path = root / f"batch-{n}.parquet"
        batch.to_parquet(path, index=False)
        seconds, rss, wall = child(SCORE, "score", "--model", model, "--input", str(path), "--output",
                             str(root / f"out-{n}.parquet"), "--tracking-uri", uri)
        seconds_in, rss_in, wall_in = child(IN_PROCESS, uri, model, str(path))
        print(json.dumps({"rows": n, "score_rows_per_s": round(n / seconds),
                          "in_process_rows_per_s": round(n / seconds_in),
                          "ratio": round(seconds_in / seconds, 3), "score_peak_rss_mib": round(rss),
                          "in_process_peak_rss_mib": round(rss_in), "score_process_wall_s": wall,
                          "in_process_wall_s": wall_in, "wall_ratio": round(wall_in / wall, 3)}))


if __name__ == "__main__":
    main()
