"""The writer process: calls run in order in another process; errors and crashes reach flush()."""

import os
import signal

import pytest

from automl import writer
from automl.tracking import Tracker

from .test_tracking import record


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


def test_a_relative_store_is_written_where_the_tracker_was_opened(tmp_path, monkeypatch):
    writer.writer_process()  # started in another working directory
    monkeypatch.chdir(tmp_path)
    tracker = Tracker("sqlite:///mlruns/mlflow.db", "relative", "mlruns/artifacts")
    parent = tracker.start_parent("p", {})
    tracker.log_trial(record(0, "COMPLETE", 0.9, [0.9]))
    assert [r.data.tags["trial_number"] for r in tracker.child_runs(parent)] == ["0"]
    assert (tmp_path / "mlruns" / "mlflow.db").exists()


def test_a_dead_writer_is_reported_then_replaced(store):
    tracker = Tracker(f"sqlite:///{store / 'mlflow.db'}", "crash", str(store / "artifacts"))
    tracker.start_parent("p", {})
    os.kill(tracker._writer._process.pid, signal.SIGKILL)
    tracker._writer._process.wait()
    tracker.log_trial(record(0, "COMPLETE", 0.9, [0.9]))
    with pytest.raises(RuntimeError, match="writer process .* exited with code -9"):
        tracker.flush()
    again = Tracker(f"sqlite:///{store / 'mlflow.db'}", "crash", str(store / "artifacts"))
    assert again._writer is not tracker._writer and again._writer.alive()
    again.start_parent("p2", {})
    again.log_trial(record(1, "COMPLETE", 0.8, [0.8]))
    assert len(again.child_runs()) == 1


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
