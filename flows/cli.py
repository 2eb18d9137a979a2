"""`automl run config.yaml` runs the Prefect flow; `automl validate` checks config and data only."""

from __future__ import annotations

import argparse
import os
import sys

# No network here: Prefect's local server must not try to send analytics.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect's temporary server gets 20 s to start by default; a loaded 2-core machine needs more.
STARTUP_TIMEOUT_S = 120
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_S))

from automl.config import ConfigError, load_config, passwords_to_env  # noqa: E402
from automl.data import DataError  # noqa: E402
from automl.secrets import redact  # noqa: E402

USER_ERRORS = (ConfigError, DataError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automl", description="AutoML pipelines on Prefect, Optuna and MLflow.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in [("run", "run the pipeline flow on a config"),
                       ("validate", "check a config and its data; writes nothing")]:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("config", help="a YAML run config, e.g. config/breast_cancer.yaml")
        sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a config value, e.g. --set search.n_trials=10 (repeatable)")
        sub.add_argument("--debug", action="store_true", help="show the traceback of a config or data error")
    text = "serve one Prefect deployment per config, on the schedule in each config, until stopped"
    sub = commands.add_parser("deploy", help=text, description=text)
    sub.add_argument("configs", nargs="+", help="YAML run configs, e.g. config/*.yaml")
    sub.add_argument("--gpu-slots", type=int, default=1, help="runs that may train on the GPU at once (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "deploy":
            from flows.deploy import deploy

            deploy(args.configs, args.gpu_slots)
            return 0
        config = load_config(args.config, args.overrides)
        if args.command == "validate":
            return validate(config)
        return run(config)
    except USER_ERRORS as error:
        if getattr(args, "debug", False):
            raise
        print(f"automl: error: {error}", file=sys.stderr)
        return 2


def validate(config) -> int:
    """Every check a run makes before writing, and what was decided about each column."""
    from automl.pipeline import load_and_validate

    d = load_and_validate(config).dataset
    print(f"ok: '{config.name}' — {d.name}: {len(d.y)} rows, {d.X.shape[1]} columns "
          f"({len(d.numeric_columns)} numeric, {len(d.categorical_columns)} categorical); "
          f"task {d.task}, metric {d.metric}; families {', '.join(config.search.families)}")
    changed = [decision for decision in d.column_report if decision.changed]
    if changed:
        print(f"columns ({len(changed)} of {len(d.column_report)} read with a decision):")
        print("\n".join(f"  {decision.line()}" for decision in changed))
    for note in d.notes:
        print(f"note: {note}")
    for warning in d.warnings:
        print(f"automl: warning: {warning}", file=sys.stderr)
    return 0


def run(config) -> int:
    """Checks first (the same as validate: a bad input is one line, with nothing written and no
    Prefect started), then the flow."""
    from automl.pipeline import load_and_validate
    from automl.search import start_clock

    start_clock()  # search.timeout_s counts from here, Prefect's start-up included
    dataset = load_and_validate(config).dataset
    for note in dataset.notes:
        print(f"automl: note: {note}", file=sys.stderr)
    for warning in dataset.warnings:
        print(f"automl: warning: {warning}", file=sys.stderr)
    from flows.pipeline import automl_pipeline

    try:
        summary = automl_pipeline(passwords_to_env(config))  # the flow run's parameters hold no password
    except RuntimeError as error:
        if "ephemeral Prefect API server" not in str(error):
            raise
        waited = os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]
        print(f"automl: error: Prefect's temporary server did not start within {waited} s (a busy machine?); "
              "nothing was written. Start a server yourself (`prefect server start`, in another shell) and "
              "`export PREFECT_API_URL=http://127.0.0.1:4200/api`, or allow longer with "
              "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", file=sys.stderr)
        return 3
    print("\n".join([
        "",
        f"MLflow parent run {summary['parent_run_id']} ({summary['n_trials']} trials, best "
        f"{summary['best_family']}, CV {summary['cv_score']:.4f}; final model: {summary['final_model']})",
        f"registered {summary['registered_model']} v{summary['version']}; "
        f"champion {'moved' if summary['champion_moved'] else 'kept'}",
        f"see it: mlflow ui --backend-store-uri {redact(config.tracking.tracking_uri)}   (then http://127.0.0.1:5000)",
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
