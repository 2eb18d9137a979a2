"""The writer process (private to automl.tracking): calls run in order in another process; errors
and crashes reach flush(); the journal copy of a study is written there too."""

import os
import signal

import optuna
import pytest

from automl.search import TrialRecord, make_storage
from automl.tracking import JournalMirror, TrialRuns, start_run
from automl.tracking import _writer as writer


def trial(number):
    return TrialRecord(number, "linear", {"family": "linear", "k": None, "score_func": None, "model": {"C": 1.0}},
                       "COMPLETE", 0.9, [0.9], 0.1)


def test_calls_run_in_another_process_in_order(tmp_path):
    process = writer.writer_process()
    out = tmp_path / "log.txt"
    for i in range(50):
        process.submit("a", _append, str(out), f"{i}")
    process.flush("a")
    assert out.read_text().split() == [str(i) for i in range(50)]
    assert process._process.pid != os.getpid() and _pid_file(tmp_path, process) != os.getpid()


def test_an_error_is_raised_by_its_owners_flush_only(tmp_path):
    process = writer.writer_process()
    process.submit("broken", _fail, "boom")
    process.submit("fine", _append, str(tmp_path / "ok.txt"), "x")
    assert process.flush("fine") >= 0  # another owner's error is not this one's
    with pytest.raises(ValueError, match="boom"):
        process.flush("broken")
    process.flush("broken")  # raised once, then cleared


def test_a_relative_store_is_written_where_the_run_was_started(tmp_path, monkeypatch):
    writer.writer_process()  # started in another working directory
    monkeypatch.chdir(tmp_path)
    parent = start_run("sqlite:///mlruns/mlflow.db", "relative", "mlruns/artifacts", "p", {})
    runs = TrialRuns(parent)
    runs.log_trial(trial(0))
    assert [r.data.tags["trial_number"] for r in runs.runs()] == ["0"]
    assert (tmp_path / "mlruns" / "mlflow.db").exists()


def test_a_dead_writer_is_reported_then_replaced(store):
    uri = f"sqlite:///{store / 'mlflow.db'}"
    runs = TrialRuns(start_run(uri, "crash", str(store / "artifacts"), "p", {}))
    os.kill(runs._writer._process.pid, signal.SIGKILL)
    runs._writer._process.wait()
    runs.log_trial(trial(0))
    with pytest.raises(RuntimeError, match="writer process .* exited with code -9"):
        runs.flush()
    again = TrialRuns(start_run(uri, "crash", str(store / "artifacts"), "p2", {}))
    assert again._writer is not runs._writer and again._writer.alive()
    again.log_trial(trial(1))
    assert len(again.runs()) == 1


def test_the_journal_is_written_by_the_writer_process_and_its_errors_reach_flush(tmp_path):
    path = tmp_path / "mirrored.journal"
    mirror = JournalMirror(str(path), "mirrored", "maximize")
    mirror.set_user_attr("metric", "accuracy")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, callbacks=[mirror])
    mirror.flush()
    reloaded = optuna.load_study(study_name="mirrored", storage=make_storage(str(path)))
    assert [t.params["x"] for t in reloaded.trials] == [t.params["x"] for t in study.trials]
    assert reloaded.user_attrs == {"metric": "accuracy"}

    broken = tmp_path / "broken.journal"
    mirror = JournalMirror(str(broken), "broken", "maximize")
    broken.unlink()
    broken.mkdir()  # the writer process cannot open it: the error comes back at flush, not lost
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1, callbacks=[mirror])
    with pytest.raises(IsADirectoryError):
        mirror.flush()


def _append(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(text + "\n")


def _fail(message: str) -> None:
    raise ValueError(message)


def _pid_file(tmp_path, process) -> int:
    path = tmp_path / "pid.txt"
    process.submit("pid", _write_pid, str(path))
    process.flush("pid")
    return int(path.read_text())


def _write_pid(path: str) -> None:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
