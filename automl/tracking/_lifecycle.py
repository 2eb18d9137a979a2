"""A parent run's life: which process owns it (the `automl.process` tag), the runs of a config,
ending dead ones and their children, choosing and reopening one to continue it (`--resume`), the
checkpoint folder a resumed search reads, and the run's end (FINISHED, FAILED or KILLED)."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from automl.processes import alive, this_process
from automl.tracking._runs import RunLog, RunRef, absolute_uri, end_run, store_lock
from automl.urls import sqlite_file

PROCESS_TAG = "automl.process"  # host:pid:start of the process running it (automl.processes)


@dataclass(frozen=True)
class ParentRun:
    """A top-level run of a config, as found in the store."""

    ref: RunRef
    status: str  # RUNNING, FINISHED, FAILED, KILLED
    process: str  # PROCESS_TAG's value ('' if the run has none)
    tags: dict[str, str]

    @property
    def owner_alive(self) -> bool | None:
        """Whether its process still runs (None: another host's, or not known)."""
        return alive(self.process) if self.process else None

    @property
    def dead(self) -> bool:
        """RUNNING in the store, but its process is gone."""
        return self.status == "RUNNING" and self.owner_alive is False


def parent_runs(tracking_uri: str, experiment: str, config_name: str) -> list[ParentRun]:
    """The config's top-level runs in its experiment, newest first (none if it has no experiment)."""
    store = sqlite_file(tracking_uri)
    if store is not None and not store.exists():
        return []  # no store yet: looking must not create one (nor its folder)
    uri = absolute_uri(tracking_uri)
    with store_lock(uri):  # a process's first client creates or upgrades a new store's tables
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], f"tags.`optuna_study` LIKE '{config_name}-%'",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=["attributes.start_time DESC"],
                              max_results=1000)
    named = re.compile(re.escape(config_name) + r"-\d{8}-\d{6}-[0-9a-f]{4}")  # (LIKE: '_' is a wildcard)
    # A run is known by its study's name (the name it started with): once registered, its display
    # name says what won (tracking.describe).
    return [ParentRun(RunRef(uri, found.experiment_id, r.info.run_id, r.data.tags["optuna_study"]), r.info.status,
                      r.data.tags.get(PROCESS_TAG, ""), dict(r.data.tags))
            for r in runs if MLFLOW_PARENT_RUN_ID not in r.data.tags and named.fullmatch(r.data.tags["optuna_study"])]


def end_with_children(run: RunRef, status: str, reason: str) -> None:
    """End a run and its children still RUNNING as `status`, saying why in a tag."""
    client = MlflowClient(run.tracking_uri)
    children = client.search_runs([run.experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{run.run_id}' "
                                  "and attributes.status = 'RUNNING'", max_results=50000)
    for found in [*children, client.get_run(run.run_id)]:
        if found.info.status == "RUNNING":
            client.set_tag(found.info.run_id, "automl.ended_reason", reason)
            end_run(client, found.info.run_id, status)


def reopen_run(run: RunRef, tags: dict[str, str]) -> None:
    """Make an ended (or dead) run RUNNING again for the process continuing it; refused if another
    live process has reopened it meanwhile (checked and done under the store's lock)."""
    client = MlflowClient(run.tracking_uri)
    with store_lock(run.tracking_uri):
        found = client.get_run(run.run_id)
        owner = found.data.tags.get(PROCESS_TAG, "")
        if found.info.status == "RUNNING" and owner and alive(owner) is not False:
            raise RuntimeError(f"run '{run.run_name}' is running again ({owner}): another process resumed it")
        resumed = int(found.data.tags.get("automl.resumed", "0")) + 1
        client.update_run(run.run_id, status="RUNNING")
        for key, value in {**tags, "automl.resumed": str(resumed)}.items():
            client.set_tag(run.run_id, key, value)


class ResumeRefused(ValueError):
    """The run asked to be resumed cannot be: the message says why and what to do instead."""


def dead_runs(tracking_uri: str, experiment: str, config_name: str) -> list[ParentRun]:
    """The config's runs left RUNNING by a process that is gone (killed, or its machine rebooted)."""
    return [r for r in parent_runs(tracking_uri, experiment, config_name) if r.dead]


def end_dead_runs(tracking_uri: str, experiment: str, config_name: str) -> list[ParentRun]:
    """End the config's dead runs KILLED (their children too); they can still be continued."""
    found = dead_runs(tracking_uri, experiment, config_name)
    for run in found:
        end_with_children(run.ref, "KILLED", f"its process ({run.process}) was gone")
    return found


def end_own_runs(tracking_uri: str, experiment: str, config_name: str, status: str) -> list[ParentRun]:
    """End the config's runs still RUNNING under this very process as `status`: a stop that landed
    while the parent run was being opened, before the step that ends it (run_ends_failed) took over."""
    found = [r for r in parent_runs(tracking_uri, experiment, config_name)
             if r.status == "RUNNING" and r.process == this_process()]
    for run in found:
        end_with_children(run.ref, status, "stopped as the run was being opened")
    return found


def resumable_run(tracking_uri: str, experiment: str, config_name: str, config_hash: str,
                  which: str = "last") -> ParentRun:
    """The run `automl run --resume [which]` continues: the config's newest run, or the one named;
    ResumeRefused if it finished, still runs, ran elsewhere, or was made from another config."""
    runs = parent_runs(tracking_uri, experiment, config_name)
    chosen = runs[:1] if which == "last" else [r for r in runs if which in (r.ref.run_name, r.ref.run_id)]
    if not chosen:
        known = ", ".join(r.ref.run_name for r in runs[:5]) or "none"
        raise ResumeRefused(f"no run '{which}' of config '{config_name}' in experiment '{experiment}' "
                            f"to resume (its newest: {known}); run without --resume to start one")
    run = chosen[0]
    name = run.ref.run_name
    if run.status == "FINISHED":
        raise ResumeRefused(f"run '{name}' finished (registered v{run.tags.get('registered_version', '?')}); "
                            "nothing to resume: run without --resume for a new run")
    if run.status == "RUNNING" and run.owner_alive is not False:
        where = run.process.rsplit(":", 1)[0] or "an unknown process"
        raise ResumeRefused(f"run '{name}' is still running ({where}); wait for it or stop it, then resume")
    if PROCESS_TAG not in run.tags:
        raise ResumeRefused(f"run '{name}' was made by a version of automl that could not resume; "
                            "run without --resume for a new run")
    if run.tags.get("config_hash") != config_hash:
        raise ResumeRefused(f"run '{name}' was made from another config (hash {run.tags.get('config_hash')}, "
                            f"this one {config_hash}); resume it with the config it ran, unchanged")
    return run


def resume_run(run: ParentRun, extra_tags: dict[str, str] | None = None) -> RunRef:
    """Reopen `run` (from resumable_run) for this process: its child runs and study continue."""
    reopen_run(run.ref, {PROCESS_TAG: this_process(), **(extra_tags or {})})
    return run.ref


def checkpoint_dir(optuna_storage: str | None, run_name: str) -> Path:
    """Where a run keeps what a resumed search needs beside its study (out-of-fold predictions):
    beside the journal file (a path), or the SQLite store, or else in mlruns/."""
    if optuna_storage is not None and "://" not in optuna_storage:  # a journal file
        root = Path(optuna_storage).parent
    elif sqlite_file(optuna_storage) is not None:
        root = sqlite_file(optuna_storage).parent
    else:
        root = Path("mlruns")
    return root.resolve() / "checkpoints" / run_name


def finish_run(run: RunRef, status: str = "FINISHED", checkpoint: str | Path | None = None) -> None:
    """End the parent run; a finished run's checkpoint folder (what a resume would need) is removed
    first, so a run killed between the two is left resumable, not finished with a stale folder."""
    if status == "FINISHED" and checkpoint is not None:
        shutil.rmtree(checkpoint, ignore_errors=True)
    RunLog(run).end(status)


@contextmanager
def run_ends_failed(run: RunRef):
    """Marks the parent run FAILED when a step raises, KILLED when it is interrupted (Ctrl-C,
    SIGTERM): never left RUNNING; finish_run ends it otherwise."""
    try:
        yield
    except Exception:
        finish_run(run, "FAILED")
        raise
    except BaseException:
        finish_run(run, "KILLED")
        raise
