"""A parent run's life beyond one process: which process owns it (the `automl.process` tag), the
runs of a config, ending a dead run and its children, and reopening one to continue it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from automl.processes import alive
from automl.tracking._runs import RunRef, absolute_uri, end_run, store_lock
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
    return [ParentRun(RunRef(uri, found.experiment_id, r.info.run_id, r.info.run_name), r.info.status,
                      r.data.tags.get(PROCESS_TAG, ""), dict(r.data.tags))
            for r in runs if MLFLOW_PARENT_RUN_ID not in r.data.tags and named.fullmatch(r.info.run_name or "")]


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
