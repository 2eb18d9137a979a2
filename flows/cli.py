"""`automl run config.yaml` runs the Prefect flow; `automl validate` checks config and data only; the
service commands (`automl score`, `automl monitor`: flows/service_cli.py) and `automl distill`
(flows/distill_cli.py) call the library directly."""

from __future__ import annotations

import time

# The budget's clock starts here, when this interpreter begins to run `automl` (never at the
# process's start: a wrapper that does slow work and then `exec`s keeps the process).
STARTED = time.time()

import argparse  # noqa: E402
import atexit  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from contextlib import nullcontext  # noqa: E402

# No network here: Prefect's local server must not try to send analytics.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect's temporary server gets 20 s to start by default; a loaded 2-core machine needs more.
STARTUP_TIMEOUT_S = 120
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_S))

from flows.distill_cli import COMMANDS as DISTILL_COMMANDS  # noqa: E402
from flows.distill_cli import add_commands as add_distill_commands  # noqa: E402
from flows.distill_cli import run_command as run_distill_command  # noqa: E402
from flows.lifecycle import (  # noqa: E402
    EXIT_WAIT_S,
    ServerDidNotStart,
    TemporaryServer,
    drain_prefect,
    exit_now,
    phase,
    unwind_on_sigterm,
)
from flows.service_cli import COMMANDS as SERVICE_COMMANDS  # noqa: E402
from flows.service_cli import add_commands as add_service_commands  # noqa: E402
from flows.service_cli import run_command as run_service_command  # noqa: E402

# (automl's modules are imported inside the commands: `automl run` starts Prefect's server first.)


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
        if name == "run":
            sub.add_argument("--resume", nargs="?", const="last", metavar="RUN_NAME",
                             help="continue this config's last run (or the run named) where it stopped: "
                                  "its finished trials are kept and count toward search.n_trials")
    text = ("start a run of a served deployment (`automl deploy`) with this config, after the same checks as "
            "validate: a bad config or table is refused before a flow run exists")
    sub = commands.add_parser("trigger", help=text, description=text)
    sub.add_argument("config", help="the YAML run config the deployment serves (its name picks the deployment)")
    sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value for this run, e.g. --set data.target=label (repeatable)")
    sub.add_argument("--name", help="the flow run's name in the Prefect UI (default: <config name>-<UTC time>)")
    sub.add_argument("--debug", action="store_true", help="show the traceback of a config or data error")
    text = "serve one Prefect deployment per config, on the schedule in each config, until stopped"
    sub = commands.add_parser("deploy", help=text, description=text)
    sub.add_argument("configs", nargs="+", help="YAML run configs, e.g. config/*.yaml")
    sub.add_argument("--gpu-slots", type=int, default=1, help="runs that may train on the GPU at once (default 1)")
    add_service_commands(commands)
    add_distill_commands(commands)
    return parser


def main(argv: list[str] | None = None, started: float | None = None, server: TemporaryServer | None = None) -> int:
    """The command line. `started`: when the budget's clock started (the `automl` command gives
    STARTED); None: at the data's load. `server`: Prefect's temporary server, launched already."""
    from automl.config import ConfigError, load_config
    from automl.data import DataError

    args = _parser().parse_args(argv)
    try:
        if args.command == "deploy":
            from flows.deploy import deploy

            deploy(args.configs, args.gpu_slots)
            return 0
        if args.command in SERVICE_COMMANDS:
            return run_service_command(args)
        if args.command in DISTILL_COMMANDS:
            return run_distill_command(args)
        config = load_config(args.config, args.overrides)
        if args.command == "validate":
            return validate(config)
        if args.command == "trigger":
            from flows.deploy import trigger

            return trigger(config, args.name)
        return run(config, args.resume, started, server)
    except (ConfigError, DataError) as error:
        if getattr(args, "debug", False):
            raise
        print(f"automl: error: {error}", file=sys.stderr)
        return 2


def validate(config) -> int:
    """Every check a run makes before writing, and what was decided about each column."""
    from automl.pipeline import load_and_validate

    d = load_and_validate(config).dataset
    print(f"ok: '{config.name}' — {d.name}: {len(d.y)} rows, {d.X.shape[1]} columns "
          f"({len(d.numeric_columns)} numeric, {len(d.categorical_columns)} categorical"
          + (f", {len(d.text_columns)} text: {' or '.join(d.text_encoders)}" if d.text_columns else "") + "); "
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


def run(config, resume: str | None = None, started: float | None = None, server: TemporaryServer | None = None) -> int:
    """Prefect's temporary server starts first (`entry` launched it), the checks meanwhile (the
    same as validate: a bad input is one line, with nothing written), then the flow. Ctrl-C or
    SIGTERM ends the runs it made as killed/crashed; a SIGKILL cannot be caught, so the server
    has a lifeline. A literal password in a store's URL waits in this process's environment for
    the length of the call (the flow run's parameters say ${AUTOML_SECRET_…})."""
    from automl.config import hide_passwords
    from automl.scoped import environment

    flow_config, secrets = hide_passwords(config)
    with environment(secrets):
        return _run(config, flow_config, resume, started, server)


def _run(config, flow_config, resume: str | None, started: float | None, server: TemporaryServer | None) -> int:
    try:
        prepared = checks(flow_config, resume, started)
    except BaseException:
        if server is not None:
            server.stop()
        raise
    from prefect.exceptions import TerminationSignal

    from flows.pipeline import automl_pipeline, checked_before

    phase("imports")
    if server is None and (server := TemporaryServer.launch()) is not None:  # (main() called without one)
        atexit.register(server.stop)  # held, and stopped, until this process exits: after Prefect's drains
    try:
        settings = server.settings() if server is not None else None  # (waits until it answers)
        with settings or nullcontext(), checked_before(prepared, started):
            phase("server")
            try:
                summary = automl_pipeline(flow_config, resume, started)
            finally:  # (a stopped run waits less)
                drain_prefect(EXIT_WAIT_S["stopped" if sys.exc_info()[0] else "finished"])
    except (KeyboardInterrupt, TerminationSignal, SystemExit) as stop:
        print(f"automl: interrupted ({type(stop).__name__}): the run ended KILLED and its flow run CRASHED; "
              f"continue it with: automl run CONFIG --resume", file=sys.stderr)
        return 130 if isinstance(stop, KeyboardInterrupt) else 143
    except ServerDidNotStart:
        return server_did_not_start()
    except Exception as error:
        stop = stopped_by_signal(error, (TerminationSignal, KeyboardInterrupt))
        if stop is None:
            raise
        # Prefect 3.8: a SIGTERM or Ctrl-C while it creates a task run fails its own crash handling
        # ("Task run is not set"): the flow run ends FAILED, not CRASHED, but the stop is still a stop.
        print(f"automl: interrupted ({type(stop).__name__}, as Prefect started a step: {error}): the run and its "
              "flow run ended FAILED; continue it with: automl run CONFIG --resume", file=sys.stderr)
        return 130 if isinstance(stop, KeyboardInterrupt) else 143
    print_summary(config, summary)
    return 0


def stopped_by_signal(error: BaseException, signal_types: tuple[type, ...]) -> BaseException | None:
    """The signal's exception `error` was raised while handling (one in its chain of causes), if any."""
    while error is not None:
        if isinstance(error, signal_types):
            return error
        error = error.__context__
    return None


def checks(flow_config, resume: str | None, started: float | None):
    """What `automl run` checks before Prefect starts: the config and data (load_and_validate), a
    run to resume. → what load_and_validate prepared (the flow takes it: the table is read once)."""
    from automl import pipeline as steps

    prepared = steps.load_and_validate(flow_config, started=started)
    for note in prepared.dataset.notes:
        print(f"automl: note: {note}", file=sys.stderr)
    for warning in prepared.dataset.warnings:
        print(f"automl: warning: {warning}", file=sys.stderr)
    resumed = steps.resumable_run(prepared, resume).ref.run_id if resume else None  # one line if nothing to resume
    for dead in [run for run in steps.dead_runs(prepared) if run.ref.run_id != resumed]:
        print(f"automl: note: run {dead.ref.run_name} of this config was left running by a process that is gone; "
              f"continue it with: automl run CONFIG --resume {dead.ref.run_name}", file=sys.stderr)
    phase("checks")
    return prepared


def print_summary(config, summary: dict) -> None:
    from automl.search import shortfall
    from automl.secrets import redact

    asked = config.search.n_trials
    trials = shortfall(summary["n_trials"], asked) or f"{summary['n_trials']} trials"
    print("\n".join([
        "",
        f"MLflow parent run {summary['parent_run_id']} ({trials}); winner "
        f"{summary['winner']}, CV {summary['cv_score']:.4f} (out of fold)",
        f"registered {summary['registered_model']} v{summary['version']}; "
        f"champion {'moved' if summary['champion_moved'] else 'kept'}",
        f"see it: mlflow ui --backend-store-uri {redact(config.tracking.tracking_uri)}",
        f"  then open {summary['mlflow_url']}",
    ]))


def server_did_not_start() -> int:
    waited = os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]
    print(f"automl: error: Prefect's temporary server did not start within {waited} s (a busy machine?); "
          "nothing was written. Start a server yourself (`prefect server start`, in another shell) and "
          "`export PREFECT_API_URL=http://127.0.0.1:4200/api`, or allow longer with "
          "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", file=sys.stderr)
    return 3


def entry() -> None:
    """The `automl` command: main() with the budget counted from STARTED, SIGTERM unwinding, and a
    quick exit (flows/lifecycle.py)."""
    unwind_on_sigterm()
    phase("started", STARTED)
    server = TemporaryServer.launch() if sys.argv[1:2] == ["run"] else None  # first: it starts while we check
    phase("server-launched")
    exit_now(main(started=STARTED, server=server))


if __name__ == "__main__":
    entry()
