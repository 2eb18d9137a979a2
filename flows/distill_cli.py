"""`automl distill CONFIG [--teacher URI]`: a small, fast student of the champion, from the command
line. It calls automl.distill directly (no Prefect server: a one-off command need not start one);
flows/distill.py runs the same calls as the automl-distill flow for deployments and schedules."""

from __future__ import annotations

import sys

COMMANDS = ("distill",)


def add_commands(commands) -> None:
    """The subcommand, added to `automl`'s parser."""
    text = ("distill the champion (or --teacher) into a small, fast student, registered as a new version of the "
            "same model with the alias `student`")
    sub = commands.add_parser("distill", help=text, description=text)
    sub.add_argument("config", help="the YAML run config that trained the teacher (its table, split and stores; "
                                    "its distill: section)")
    sub.add_argument("--teacher", metavar="URI", help="models:/NAME@ALIAS or models:/NAME/VERSION (default: "
                                                      "distill.teacher, else models:/<registered model>@champion)")
    sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set distill.n_trials=5 (repeatable)")
    sub.add_argument("--debug", action="store_true", help="show the traceback of a config or data error")


def run_command(args) -> int:
    from automl.config import load_config
    from automl.distill import distill, summary

    config = load_config(args.config, args.overrides)
    result = distill(config, args.teacher, _trial_line(config.distill.n_trials, sys.stderr.isatty()))
    print(summary(result))
    return 0


def _trial_line(n_trials: int, live: bool):
    """A line per student trained (on stderr: stdout is the report)."""

    def on_trial(trial) -> None:
        score = f"validation {trial.score:.4f}" if trial.score is not None else f"failed: {trial.reason}"
        print(f"student {trial.number + 1}/{n_trials}: {trial.describe()}: {score}"
              + (f", {trial.size_bytes / 1024:.0f} KiB" if trial.size_bytes else ""), file=sys.stderr, flush=live)

    return on_trial
