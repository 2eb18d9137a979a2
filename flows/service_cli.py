"""`automl score` and `automl monitor`: the registered model in service, from the command line.
They call automl.service directly (no Prefect server: a one-off command need not start one);
flows/service.py runs the same calls as Prefect flows for deployments and schedules."""

from __future__ import annotations

import argparse
import os
import sys

from automl.config import TrackingConfig, load_config, resolve_stores

COMMANDS = ("score", "monitor")


def add_commands(commands) -> None:
    """The two subcommands, added to `automl`'s parser."""
    text = "score a CSV/Parquet batch (file, folder or glob) with a registered model, in chunks"
    sub = commands.add_parser("score", help=text, description=text)
    _common(sub)
    sub.add_argument("--output", required=True, help="where the predictions go: a .csv or .parquet file")
    sub.add_argument("--id-column", help="an input column copied beside each prediction (e.g. a customer id)")
    sub.add_argument("--proba", action="store_true", help="also write one probability column per class")
    text = ("measure a batch's drift from the model's training rows; when drifted, start the training "
            "deployment (or say what to run)")
    sub = commands.add_parser("monitor", help=text, description=text)
    _common(sub)
    sub.add_argument("--target", help="the batch's label column, for the live metric (default: the training "
                                      "target, when the batch has it)")
    sub.add_argument("--psi-threshold", type=float, help="drifted when a column's PSI passes this (default: "
                                                         "monitor.psi_threshold of --config or of the training config)")
    sub.add_argument("--max-score-drop", type=float, help="drifted when the live metric is worse than the test "
                                                          "score by more than this (default: monitor.max_score_drop)")
    sub.add_argument("--no-retrain", action="store_true", help="report only: start no training run")


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--model", required=True, help="models:/NAME@champion, or models:/NAME/VERSION")
    sub.add_argument("--input", required=True, help="a CSV or Parquet file, a folder of them, or a glob")
    sub.add_argument("--config", help="a run config: its tracking section says where the model is registered")
    sub.add_argument("--tracking-uri", help="the MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                                            f"{TrackingConfig().tracking_uri})")
    sub.add_argument("--chunk-rows", type=int, default=None, help="rows read and predicted at a time")
    sub.add_argument("--debug", action="store_true", help="show the traceback of an input error")


def tracking_uri(args) -> str:
    if args.tracking_uri:
        return args.tracking_uri
    if args.config:
        return resolve_stores(load_config(args.config).tracking).tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI") or TrackingConfig().tracking_uri


def run_command(args) -> int:
    if args.command == "score":
        return score(args)
    return monitor(args)


def score(args) -> int:
    from automl.service import CHUNK_ROWS, score_batch

    progress = _progress_line if sys.stderr.isatty() else None
    result = score_batch(args.model, args.input, args.output, tracking_uri(args), args.id_column, args.proba,
                         args.chunk_rows or CHUNK_ROWS, progress)
    if progress is not None:
        print(file=sys.stderr)
    for warning in result.warnings:
        print(f"automl: warning: {warning}", file=sys.stderr)
    shares = ", ".join(f"{key.removeprefix('share/')} {value:.3g}" for key, value in result.distribution.items())
    print(f"scored {result.rows} rows with {result.version.name} v{result.version.version} in {result.seconds:.1f} s "
          f"({result.rows_per_s:,.0f} rows/s) → {result.output}\npredictions: {shares}\n"
          f"MLflow run {result.run_id} in experiment {result.version.name}-scoring")
    return 0


def _progress_line(rows: int, seconds: float) -> None:
    print(f"\r{rows:,} rows, {rows / seconds if seconds else 0:,.0f} rows/s", end="", file=sys.stderr, flush=True)


def thresholds(args):
    """--config's monitor section with the flags over it; None (the training config's) when neither is given."""
    from automl.config import DriftThresholds

    base = load_config(args.config).monitor.thresholds() if args.config else None
    flags = {key: value for key, value in [("psi_threshold", args.psi_threshold),
                                           ("max_score_drop", args.max_score_drop)] if value is not None}
    if not flags:
        return base
    return DriftThresholds(**{**(base.model_dump() if base else {}), **flags})


def monitor(args) -> int:
    """Exit 0 when the batch has not drifted, 1 when it has (after the retrain is started or named)."""
    from automl.service import CHUNK_ROWS, log_monitoring, monitor_batch, verdict

    result = monitor_batch(args.model, args.input, tracking_uri(args), args.target, thresholds(args),
                           args.chunk_rows or CHUNK_ROWS)
    log_monitoring(result, args.input)
    print(result.table.head(10).to_string(index=False, float_format=lambda x: f"{x:.4f}", na_rep=""))
    live = "" if result.live_score is None else f", live {result.live_score:.4f}"
    print(f"{result.rows} rows against {result.version.name} v{result.version.version}: test {result.metric} "
          f"{result.test_score:.4f}{live}; prediction PSI {result.prediction_psi:.3f}\n{verdict(result)}\n"
          f"MLflow run {result.run_id} in experiment {result.version.name}-monitoring (drift/report.html)")
    if result.drifted and args.no_retrain:
        print("--no-retrain: no training run started")
    elif result.drifted:
        from flows.service import start_retrain  # (Prefect is imported only when there is a retrain to start)

        print(start_retrain(result))
    return 1 if result.drifted else 0
