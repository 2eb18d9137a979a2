"""`automl run` stopped by SIGTERM or Ctrl-C (SIGINT) at each step, the signal sent once the step is
seen to start in the run's own output (Prefect's task lines), never after a sleep: the process
exits (143 or 130), nothing it started is left running, the MLflow runs are ended and the flow run
is CRASHED. And a wrapper that works a while and then `exec`s `automl run` does not spend the
run's budget: the clock starts when `automl` does. Each run starts its own temporary server in its
own Prefect home, as a user's does, its database migrated once for the session (so this file needs
no test server: it lives beside, not in, tests/flows/)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from tests.flows.test_crash_safety import descendants, running

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
STOP_WAIT_S = 60  # a bound on a loaded CI machine; the 10 s is measured by benchmarks/startup.py
# The line after which each step runs (the flow calls the steps one after another in its thread); the
# refit's own first line: a signal sent after it lands inside the refit, not as Prefect creates its task run.
STEPS = {"load": ("Beginning flow run",), "profile": ("Task run 'start-mlflow-run'", "Finished"),
         "search": ("Task run 'feature-profile'", "Finished"),
         "refit": ("Task run 'refit-and-evaluate'", "refitting the final model"),
         "register": ("Task run 'refit-and-evaluate'", "Finished")}


@pytest.fixture
def small_run(tmp_path, store, store_settings, prefect_home):
    path = tmp_path / "stopped.yaml"
    path.write_text(yaml.safe_dump({
        "name": "stopped", "data": {"source": "sklearn:breast_cancer", "target": "target"},
        "search": {"n_trials": 3, "cv_folds": 2, "families": ["linear", "random_forest"]},
        "tracking": store_settings(store)}))
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", "AUTOML_TRACE_PHASES": "1",
           "PREFECT_HOME": str(prefect_home)}
    env.pop("PREFECT_API_URL", None)  # its own temporary server
    return path, env


def stop_at(config: Path, env: dict, line: tuple[str, ...], signum: int) -> tuple[int, str, list[int]]:
    """Start `automl run`, send `signum` once a line holding every part of `line` is printed;
    → (exit code, output, the processes it had started when signalled)."""
    # (as from a terminal: SIGINT at its default, even where this process inherited it ignored, as a
    # job started in the background by a non-interactive shell does; Python would then ignore Ctrl-C)
    process = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(config)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    output, below = [], []
    for text in process.stdout:
        output.append(text)
        if all(part in text for part in line):
            below = descendants(process.pid)
            process.send_signal(signum)
            break
    rest = process.communicate(timeout=STOP_WAIT_S)[0]  # (raises if it does not stop)
    return process.returncode, "".join(output) + rest, below


def assert_nothing_left(below: list[int]) -> None:
    for _ in range(100):  # the lifeline ends the temporary server once `automl` has exited
        if not any(running(pid) for pid in below):
            return
        time.sleep(0.1)
    assert not [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in below if running(pid)]


def assert_runs_ended(store: Path, flow_runs: list[str], output: str) -> None:
    """The parent run (if the step had made it) and every child run ended, the parent KILLED and
    the flow run CRASHED; FAILED both when the signal landed as Prefect created the step's task run
    (Prefect 3.8's crash handling fails there: the CLI says so)."""
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("stopped")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    ended = "FAILED" if "as Prefect started a step" in output else "KILLED"
    assert all(r.info.status == ended for r in runs if "optuna_study" in r.data.tags)
    assert flow_runs == ["FAILED" if ended == "FAILED" else "CRASHED"]


def prefect_flow_run_states(home: Path) -> list[str]:
    with sqlite3.connect(home / "prefect.db") as db:
        return [row[0] for row in db.execute("select state_type from flow_run")]


@pytest.mark.parametrize("step", ["load", "profile", "search", "register"])
def test_sigterm_at_a_step_ends_the_run(small_run, store, prefect_home, step):
    config, env = small_run
    code, output, below = stop_at(config, env, STEPS[step], signal.SIGTERM)
    assert code == 143, output[-3000:]
    assert "automl: interrupted" in output
    assert_nothing_left(below)
    assert_runs_ended(store, prefect_flow_run_states(prefect_home), output)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_stop_during_refit_ends_with_the_temporary_server(small_run, store, prefect_home, signum):
    """The known hang: stopped in refit-and-evaluate, the process waited minutes on Prefect's log
    worker retrying a server that was gone. Now the server outlives the flow run's last report,
    and the exit does not wait for the interrupted fit's thread pool."""
    config, env = small_run
    code, output, below = stop_at(config, env, STEPS["refit"], signum)
    assert code == (143 if signum == signal.SIGTERM else 130), output[-3000:]
    assert "Error logging to API" not in output and "without waiting longer" not in output
    assert_nothing_left(below)
    assert_runs_ended(store, prefect_flow_run_states(prefect_home), output)


def test_a_wrapper_that_works_then_execs_does_not_spend_the_budget(small_run, tmp_path):
    """The budget's clock starts when `automl` starts, not when the process did: a wrapper that
    works (here: sleeps) and then `exec`s keeps its process, but not its time. Stopped once its
    checks are done (a SIGTERM before the flow: exit 143, nothing left)."""
    config, env = small_run
    marker = tmp_path / "exec-at"
    wrapper = (f"sleep 2; python3 -c 'import time; print(time.time())' > {marker}; "
               f"exec {sys.executable} -m flows.cli run {config}")
    process = subprocess.Popen(["bash", "-c", wrapper], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    from automl.processes import started_at

    born, phases = started_at(process.pid), {}
    for text in process.stdout:
        if text.startswith("automl: phase "):
            name, at = text.split()[2:4]
            phases[name] = float(at)
        if "checks" in phases:
            process.send_signal(signal.SIGTERM)
            break
    output = process.communicate(timeout=STOP_WAIT_S)[0]
    assert process.returncode == 143, output[-3000:]
    # The process began before the wrapper's work; `automl` (and its budget) after it.
    assert born < float(marker.read_text()) <= phases["started"] < phases["checks"]
