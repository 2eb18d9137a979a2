"""`search.workers: N`: N worker processes fill one stored study, every trial's child run under the
one parent run; ensemble selection, the refit and the registration stay with the caller, once.

The caller (automl.pipeline.search_step, through search_in_workers) writes what the workers need
(the search space, the training split, the search's settings, the deadline, the parent run) to
the run's checkpoint folder and starts `python -m automl.workers FILE INDEX` N times. A store URL
that holds a password travels as a ${VAR} reference, never in the file: the one the config wrote,
or one this module sets in the workers' environment (`portable`); each worker resolves it.
A worker's stdin is its line to
the caller: when the caller dies, SIGKILL included, the pipe closes and the worker ends (its
running trial is failed as interrupted by the next start, as after any crash). While it waits,
the caller reads the study for progress (`progress`); then automl.search.collect_search reads
every worker's trials and kept out-of-fold predictions back. `work` is one worker wherever it
runs: flows/workers.py runs it as Prefect tasks on a Dask cluster (workers on other hosts).
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import pandas as pd

from automl.config import TrackingConfig
from automl.evaluation import METRICS
from automl.search import (
    Checkpoint,
    Deadline,
    SearchResult,
    SearchSettings,
    SearchSpace,
    TrialRecord,
    collect_search,
    make_storage,
    open_shared_study,
    record_of,
    run_search,
    uses_journal,
)
from automl.secrets import env_references, has_password, resolve_env
from automl.tracking import RunRef, TrialReporter, TrialRuns

ENV_NAMES = {"storage": "AUTOML_WORKER_STORAGE", "tracking": "AUTOML_WORKER_TRACKING"}
POLL_S = 2.0  # how often the waiting caller reads the study for progress
JOB_FILE = "workers-job.pkl"


@dataclass
class WorkerJob:
    """What every worker of one search gets (plain values; no URL that may hold a password)."""

    space: SearchSpace
    X: pd.DataFrame
    y: pd.Series
    settings: SearchSettings  # its storage as the workers read it (see `portable`); its checkpoint folder:
    #   where each worker keeps its out-of-fold predictions
    deadline_at: float | None  # wall-clock seconds (time.time): the same instant in every process
    tail_s: float  # what the run needs after the refit (Deadline.tail_s)
    run: RunRef  # the parent run the workers' child runs go under (its tracking URI: see `portable`)

    @property
    def study_name(self) -> str:
        return self.settings.study_name


# Runs N workers on a job (its env: what `portable` set) and returns when all have ended, with
# each worker's (kept out-of-fold predictions, class order) where they do not share the caller's
# checkpoint folder (None where they do).
Launch = Callable[["WorkerJob", int, dict], "list[tuple[dict, object]] | None"]


def portable(resolved: str, written: str, kind: str, env: dict[str, str]) -> str:
    """A store URL as a worker gets it: as it is when it holds no password (a journal path made
    absolute); else the config's own ${VAR} reference (each host resolves it), else a reference to
    a variable this function sets in `env`, the environment of the workers it starts."""
    if not has_password(resolved):
        return str(Path(resolved).resolve()) if kind == "storage" and uses_journal(resolved) else resolved
    if env_references(written):
        return written
    env[ENV_NAMES[kind]] = resolved
    return f"${{{ENV_NAMES[kind]}}}"


def search_in_workers(job: WorkerJob, workers: int, written: TrackingConfig,
                      on_trial: Callable[[TrialRecord], None] | None,
                      launch: Launch | None = None) -> tuple[SearchResult, TrialRuns]:
    """`workers` workers fill the job's study; their trials read back as one result, with the child
    runs that log them. `job` holds the URLs as this process uses them, `written` (the config's
    tracking section) as the config wrote them. `launch` runs the workers (default: local
    processes, run_workers; flows/workers.py: a Dask cluster) and returns what they kept where the
    checkpoint folder is not shared."""
    settings, env = job.settings, {}
    open_shared_study(settings.study_name, settings.storage, METRICS[job.space.metric].direction)
    storage = portable(settings.storage, written.optuna_storage, "storage", env)
    tracking_uri = portable(job.run.tracking_uri, written.tracking_uri, "tracking", env)
    sent = replace(job, settings=replace(settings, storage=storage), run=replace(job.run, tracking_uri=tracking_uri))
    with progress(settings.study_name, settings.storage, on_trial):
        kept = (launch or run_workers)(sent, workers, env)
    saved = Checkpoint(settings.checkpoint)
    for oof, classes in kept or []:  # (workers elsewhere: what they kept comes back with them)
        if classes is not None:
            saved.save_classes(classes)
        for number, predictions in oof.items():
            saved.save(number, predictions)
    runs = TrialRuns(job.run)
    result = collect_search(job.space, settings, TrialReporter(runs, None))
    runs.mend(result.records, runs.existing())  # a worker that died: its trials' child runs made whole
    runs.flush()
    return result, runs


def run_workers(job: WorkerJob, workers: int, env: dict[str, str]) -> None:
    """Start `workers` processes on `job` (`env`: what `portable` set) and return when all have
    ended; a RuntimeError if any failed (its output says why). Their out-of-fold predictions are
    in the checkpoint folder, which they share with the caller."""
    folder = Path(job.settings.checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    job_file = folder / JOB_FILE
    job_file.write_bytes(pickle.dumps(job))
    # The cores shared out: N processes of OpenMP models (boosting) each using every core would
    # fight for them (a user's own OMP_NUM_THREADS wins).
    threads = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers))}
    processes = [subprocess.Popen([sys.executable, "-m", "automl.workers", str(job_file), str(index)],
                                  env={**threads, **os.environ, **env}, stdin=subprocess.PIPE)
                 for index in range(workers)]
    try:
        for process in processes:
            process.wait()
    except BaseException:  # Ctrl-C, SIGTERM: the workers end with the caller
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        raise
    finally:
        for process in processes:
            process.stdin.close()
        job_file.unlink(missing_ok=True)
    failed = [(i, p.returncode) for i, p in enumerate(processes) if p.returncode != 0]
    if failed:
        codes = ", ".join(f"worker {i}: exit {code}" for i, code in failed)
        raise RuntimeError(f"{len(failed)} of {workers} search workers failed ({codes}); their output above says why")


@contextmanager
def progress(study_name: str, storage: str, on_trial: Callable[[TrialRecord], None] | None):
    """While the workers run, hand each trial that lands in the study to `on_trial`, once."""
    if on_trial is None:
        yield
        return
    study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
    seen: set[int] = set()
    done = threading.Event()

    def report() -> None:
        for trial in study.get_trials(deepcopy=False):
            if trial.state.is_finished() and trial.number not in seen:
                seen.add(trial.number)
                on_trial(record_of(trial))

    def watch() -> None:
        while not done.wait(POLL_S):
            report()

    watcher = threading.Thread(target=watch, name="automl-worker-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
    report()


def _resolve(text: str, key: str, env: dict[str, str] | None = None) -> str:
    return resolve_env(text, key, None if env is None else {**os.environ, **env})


def work(job: WorkerJob, index: int):
    """One worker, in any process on any host: the ordinary search on the shared study
    (run_search(worker=index)), its trials logged as child runs of the parent run. Returns its
    SearchResult (its own trials, the out-of-fold predictions it kept)."""
    settings = replace(job.settings, storage=_resolve(job.settings.storage, "tracking.optuna_storage"))
    runs = TrialRuns(replace(job.run, tracking_uri=_resolve(job.run.tracking_uri, "tracking.tracking_uri")))
    try:
        deadline = Deadline(job.deadline_at, tail_s=job.tail_s)
        return run_search(job.space, job.X, job.y, settings, runs, deadline=deadline, worker=index)
    finally:
        runs.flush()  # every child run is written before the worker ends


def _end_with_caller() -> None:
    """Read stdin until the caller's end of the pipe closes (it exited), then end this process."""
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> None:
    job_file, index = argv
    job = pickle.loads(Path(job_file).read_bytes())
    threading.Thread(target=_end_with_caller, name="automl-worker-line", daemon=True).start()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work(job, int(index))


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # its writes are flushed; Python's teardown of torch and MLflow would cost seconds
