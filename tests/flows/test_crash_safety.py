"""Runs that die: `automl run` SIGKILLed at points observed in the stores (in start-up, during and
after the search, and while registering), each time continued with `--resume`; one SIGKILLed and one ended by SIGTERM
while Prefect's temporary server runs. Real subprocesses, MLflow on SQLite, the Optuna journal,
Prefect's test server (or each run's temporary one); what they leave is read from the stores."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# The kill during the (resumed) search comes after this many trials of the killed process's own; the
# budget leaves room for it to land a trial or two late and still before the search ends.
TRIALS_BEFORE_KILL = (2,)
N_TRIALS = 10


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def progress(db: Path) -> dict[str, int]:
    """What the run has written so far, read from the MLflow store's tables."""
    queries = {"parents": "select count(*) from tags where key = 'optuna_study'",
               "trials": "select count(*) from tags where key = 'mlflow.parentRunId'",
               "searched": "select count(*) from metrics where key = 'best_trial_cv_score'",
               "versions": "select count(*) from model_versions"}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as connection:
            return {name: connection.execute(query).fetchone()[0] for name, query in queries.items()}
    except sqlite3.Error:
        return dict.fromkeys(queries, 0)


def flow_runs() -> int:
    """How many flow runs the session's Prefect server holds (its tests run one at a time)."""
    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def reached(db: Path, what: str) -> int:
    return flow_runs() if what == "flow runs" else progress(db)[what]


def completed_trials(journal: Path) -> dict[int, float]:
    """Trial number → CV score of every COMPLETE trial stored in the journal."""
    if not journal.exists():
        return {}
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return {t.user_attrs["record"]["number"]: t.value for study in storage.get_all_studies()
            for t in storage.get_all_trials(study._study_id) if t.state == optuna.trial.TrialState.COMPLETE}


@pytest.fixture
def crash_config(tmp_path, store, store_settings, prefect_home):
    path = tmp_path / "crashy.yaml"
    path.write_text(yaml.safe_dump({
        "name": "crashy", "data": {"source": "sklearn:breast_cancer", "target": "target"},
        "search": {"n_trials": N_TRIALS, "cv_folds": 3, "families": ["linear", "hist_gradient_boosting"]},
        "tracking": store_settings(store)}))
    shared = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's test server
    temporary = {**os.environ, "PREFECT_HOME": str(prefect_home)}  # each run starts its own server
    temporary.pop("PREFECT_API_URL", None)
    return path, shared, temporary


def flow_run_states(ids: list[str]) -> list[str]:
    with get_client(sync_client=True) as client:
        return [client.read_flow_run(flow_run_id).state.type.value for flow_run_id in ids]


def flow_run_id(db: Path) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("select value from tags where key = 'prefect.flow_run_id'").fetchone()[0]


def parent_status(db: Path) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute("select status from runs where run_uuid = (select run_uuid from tags "
                                  "where key = 'optuna_study')").fetchone()[0]


def start(config: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(config), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_when(process: subprocess.Popen, db: Path, point: tuple[str, int]) -> bool:
    """SIGKILL the run once `point` (a count of flow runs, or of what `progress` reads, reaches a
    value) is passed; False if it finished first. Its processes (the writer, Prefect's server) must
    be gone 10 s later."""
    what, value = point
    while process.poll() is None and reached(db, what) < value:
        time.sleep(0.1)
    below = descendants(process.pid)
    if process.poll() is not None:
        return False
    process.kill()
    process.communicate(timeout=60)
    for _ in range(100):
        if not any(running(pid) for pid in below):
            break
        time.sleep(0.1)
    left = [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in below if running(pid)]
    assert not left, f"left running after the SIGKILL at {point}: {left}"
    return True


def test_sigkilled_at_observed_points_and_resumed_loses_nothing(crash_config, store):
    config, env, _ = crash_config
    db, journal = store / "mlflow.db", store / "optuna.journal"
    # 5 points: in start-up (its flow run exists, its MLflow run not yet), at the parent run, a trial
    # or two into the resumed search, after the search, at the model version.
    points = [("flow runs", flow_runs() + 1), ("parents", 1), *[("new trials", n) for n in TRIALS_BEFORE_KILL],
              ("searched", 1), ("versions", 1)]
    seen: dict[int, float] = {}  # every trial ever stored COMPLETE, with its score
    crashed, process = [], start(config, env)
    for point in points:
        if point[0] == "new trials":  # trials of this process's own, not those a resumed run restored
            point = ("trials", progress(db)["trials"] + point[1])
        if not kill_when(process, db, point):
            break  # it finished before this point (a fast machine): the checks below still hold
        for number, value in completed_trials(journal).items():
            assert seen.setdefault(number, value) == value
        if progress(db)["parents"] == 0:  # killed before its run existed: nothing to resume, start again
            process = start(config, env)
            continue
        if parent_status(db) == "FINISHED":  # killed after its run was done: nothing to resume
            process = None
            break
        if flow_run_id(db) not in crashed:  # (else killed before it reopened the run: the same one)
            crashed.append(flow_run_id(db))
        process = start(config, env, "--resume")
    if process is not None:
        output = process.communicate(timeout=600)[0]
        assert process.returncode == 0, output[-3000:]
    # Most points killed a run it then resumed: not every one, since a kill in start-up has no run yet,
    # and a resumed process killed before it reopens its run leaves the same flow run to resume again.
    assert len(crashed) >= 3, crashed

    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("crashy").experiment_id
    [parent] = client.search_runs([experiment], "tags.`optuna_study` LIKE 'crashy-%'")
    assert parent.info.status == "FINISHED" and int(parent.data.tags["automl.resumed"]) == len(crashed)
    study = optuna.load_study(study_name=parent.data.tags["optuna_study"], storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    records = {t.user_attrs["record"]["number"]: t for t in study.trials}
    assert sorted(records) == list(range(len(study.trials)))  # each number once
    interrupted = [n for n, t in records.items() if t.user_attrs.get("interrupted")]
    assert len(records) - len(interrupted) == N_TRIALS  # the budget, exactly; interrupted ones run again
    final = {n: t.value for n, t in records.items() if t.state == optuna.trial.TrialState.COMPLETE}
    assert all(final.get(n) == value for n, value in seen.items())  # no completed trial lost or changed
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert Counter(int(r.data.tags["trial_number"]) for r in children) == Counter(range(len(records)))
    assert not [r for r in children if r.info.status == "RUNNING"]
    assert {int(r.data.tags["trial_number"]) for r in children if r.data.tags.get("interrupted")} == set(interrupted)
    [version] = client.search_model_versions("name = 'crashy'")
    assert version.run_id == parent.info.run_id and {"metric", "test_score"} <= set(version.tags)
    assert client.get_model_version_by_alias("crashy", "champion").version == version.version
    assert not (store / "checkpoints" / parent.data.tags["optuna_study"]).exists()  # removed once finished
    assert flow_run_states(crashed) == ["CRASHED"] * len(crashed)  # each killed run's flow run, once resumed


def test_the_temporary_server_ends_with_its_run_sigkill_or_sigterm(crash_config, store):
    """SIGKILL, then SIGTERM, mid-search, with Prefect's temporary server: nothing the run started
    is left running (the writer, the server, the server's lifeline). SIGTERM also ends the parent
    run KILLED and the flow run CRASHED, exit code 143; the next start ends the SIGKILLed run."""
    config, _, env = crash_config
    db = store / "mlflow.db"
    assert kill_when(start(config, env), db, ("trials", 1))
    process = start(config, env)
    while process.poll() is None and progress(db)["parents"] < 2:
        time.sleep(0.1)
    before = progress(db)["trials"]
    while process.poll() is None and progress(db)["trials"] <= before:  # a trial of its own is done
        time.sleep(0.1)
    below = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 143, output[-3000:]
    assert "was left running by a process that is gone; continue it with" in output
    assert "automl: interrupted" in output and "--resume" in output
    for _ in range(100):
        if not any(running(pid) for pid in below):
            break
        time.sleep(0.1)
    assert not [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in below if running(pid)]
    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("crashy").experiment_id
    parents = client.search_runs([experiment], "tags.`optuna_study` LIKE 'crashy-%'", order_by=["start_time"])
    assert [p.info.status for p in parents] == ["KILLED", "KILLED"]
    assert parents[0].data.tags["automl.ended_reason"].startswith("its process (")
    for parent in parents:  # on the temporary server: where `prefect server start` shows the same database
        assert parent.data.tags["prefect.flow_run_url"] == ("http://127.0.0.1:4200/runs/flow-run/"
                                                            + parent.data.tags["prefect.flow_run_id"])
    children = [r for r in client.search_runs([experiment]) if "mlflow.parentRunId" in r.data.tags]
    assert children and not [r for r in children if r.info.status == "RUNNING"]
    with sqlite3.connect(Path(env["PREFECT_HOME"]) / "prefect.db") as prefect_db:
        assert sorted(row[0] for row in prefect_db.execute("select state_type from flow_run")) == ["CRASHED"] * 2
