"""`automl run config.yaml` runs the Prefect flow; `automl validate` checks config and data only."""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
import threading

# No network here: Prefect's local server must not try to send analytics.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect's temporary server gets 20 s to start by default; a loaded 2-core machine needs more.
STARTUP_TIMEOUT_S = 120
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_S))

from automl.config import ConfigError, load_config, passwords_to_env  # noqa: E402
from automl.data import DataError  # noqa: E402
from automl.secrets import redact  # noqa: E402
from flows.service_cli import COMMANDS as SERVICE_COMMANDS  # noqa: E402
from flows.service_cli import add_commands as add_service_commands  # noqa: E402
from flows.service_cli import run_command as run_service_command  # noqa: E402

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "deploy":
            from flows.deploy import deploy

            deploy(args.configs, args.gpu_slots)
            return 0
        if args.command in SERVICE_COMMANDS:
            return run_service_command(args)
        config = load_config(args.config, args.overrides)
        if args.command == "validate":
            return validate(config)
        if args.command == "trigger":
            from flows.deploy import trigger

            return trigger(config, args.name)
        return run(config, args.resume)
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


def run(config, resume: str | None = None) -> int:
    """Checks first (the same as validate: a bad input is one line, with nothing written and no
    Prefect started), then the flow. Ctrl-C or SIGTERM ends the runs it made as killed/crashed and
    stops Prefect's temporary server; a SIGKILL cannot be caught, so the server is given a lifeline."""
    from automl import pipeline as steps
    from automl.processes import started_at
    from automl.search import start_clock

    flow_config = passwords_to_env(config)  # the flow run's parameters hold no password
    prepared = steps.load_and_validate(flow_config)
    for note in prepared.dataset.notes:
        print(f"automl: note: {note}", file=sys.stderr)
    for warning in prepared.dataset.warnings:
        print(f"automl: warning: {warning}", file=sys.stderr)
    resumed = steps.resumable_run(prepared, resume).ref.run_id if resume else None  # one line if nothing to resume
    for dead in [run for run in steps.dead_runs(prepared) if run.ref.run_id != resumed]:
        print(f"automl: note: run {dead.ref.run_name} of this config was left running by a process that is gone; "
              f"continue it with: automl run CONFIG --resume {dead.ref.run_name}", file=sys.stderr)
    start_clock(at=started_at())  # search.timeout_s counts from this process's start, not from here
    from prefect.exceptions import TerminationSignal

    from flows.pipeline import automl_pipeline

    # Prefect turns SIGTERM into TerminationSignal inside the flow (the run ends KILLED, the flow run
    # CRASHED), then hands the signal on to the handler it found: this one, so the process exits
    # through Python (atexit stops the temporary server) rather than dying on the spot.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        temporary_server()
        summary = automl_pipeline(flow_config, resume)
    except (KeyboardInterrupt, TerminationSignal, SystemExit) as stop:
        print(f"automl: interrupted ({type(stop).__name__}): the run ended KILLED and its flow run CRASHED; "
              f"continue it with: automl run CONFIG --resume", file=sys.stderr)
        return 130 if isinstance(stop, KeyboardInterrupt) else 143
    except RuntimeError as error:
        if "ephemeral Prefect API server" not in str(error):
            raise
        return server_did_not_start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("\n".join([
        "",
        f"MLflow parent run {summary['parent_run_id']} ({summary['n_trials']} trials); winner "
        f"{summary['winner']}, CV {summary['cv_score']:.4f} (out of fold)",
        f"registered {summary['registered_model']} v{summary['version']}; "
        f"champion {'moved' if summary['champion_moved'] else 'kept'}",
        f"see it: mlflow ui --backend-store-uri {redact(config.tracking.tracking_uri)}",
        f"  then open {summary['mlflow_url']}",
    ]))
    return 0


_LIFELINES: list = []  # the lifelines' handles, held for the process's life: each pipe is a line


def _exit_on_sigterm(signum, frame):
    raise SystemExit(143)


def temporary_server() -> None:
    """Start Prefect's temporary server here (when no PREFECT_API_URL is set), as its client would,
    each server process with a lifeline from the moment it is launched: a SIGKILL of this process
    then ends the server too, instead of orphaning it (the lifelines live in _LIFELINES)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    from automl.processes import lifeline

    if PREFECT_API_URL.value():
        return
    server = SubprocessASGIServer()  # the instance Prefect's client uses
    launch = server._run_uvicorn_command  # (Prefect 3.8's; it may launch again on a port clash)

    def launch_with_lifeline():
        process = launch()
        _LIFELINES.append(lifeline([process.pid]))
        return process

    server._run_uvicorn_command = launch_with_lifeline
    server.start()
    # Prefect stops the server at exit and waits for it (2–4 s here, after the run is done); the
    # lifeline stops it instead, once this process has exited, so the user's prompt returns at once.
    atexit.unregister(server.stop)


def server_did_not_start() -> int:
    waited = os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]
    print(f"automl: error: Prefect's temporary server did not start within {waited} s (a busy machine?); "
          "nothing was written. Start a server yourself (`prefect server start`, in another shell) and "
          "`export PREFECT_API_URL=http://127.0.0.1:4200/api`, or allow longer with "
          "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", file=sys.stderr)
    return 3


def entry() -> None:
    """The `automl` command: main(), then a quick exit. What must run at exit runs (Prefect's log
    and event drains, atexit hooks), then the process ends without Python's teardown of torch,
    Prefect and MLflow's modules: 2–4 s on a 2-core machine after the run is done, which the user
    waits for and the time budget counts."""
    code = main()
    threading._shutdown()  # joins non-daemon threads and runs threading's exit hooks (Prefect's drains)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
