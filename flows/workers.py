"""Search workers on other hosts: Prefect's Dask task runner (prefect-dask) against a Dask
scheduler's address (`search.dask_address`). Each worker is a Prefect task, `search-worker[i]`,
that runs automl.workers.work on a Dask worker: the same search on the shared study (PostgreSQL)
as a local worker process runs, its trials child runs of the one parent (an `mlflow server`). What
it kept out of fold comes back as the task's result, so no folder need be shared.

Every host runs this checkout with the project installed, and sees the Prefect API
(PREFECT_API_URL) and the stores; a store URL with a password is written as ${VAR} in the config
and set on each host (automl.workers.portable). Start the cluster as Dask's users do:

    dask scheduler --port 8786                      # on one host
    dask worker tcp://scheduler-host:8786 --nthreads 1 --nworkers 2   # on each host that trains

The other route, a Prefect work pool whose `prefect worker`s each run a search-worker flow, is
described in prefect.yaml.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from automl.config import ConfigError
from automl.workers import ENV_NAMES, Launch, WorkerJob, work


@task(name="search-worker", task_run_name="search-worker[{index}]", cache_policy=NO_CACHE, persist_result=False)
def search_worker(job: WorkerJob, index: int) -> tuple[dict, object]:
    """One worker of the study, wherever Dask runs it: (its kept out-of-fold predictions, class order)."""
    result = work(job, index)
    return result.oof, result.classes


@flow(name="search-workers", flow_run_name="search-workers[{job.study_name}]", validate_parameters=False)
def search_workers(job: WorkerJob, workers: int) -> list[tuple[dict, object]]:
    """`workers` search-worker tasks at once on the flow's task runner."""
    futures = [search_worker.submit(job, index) for index in range(workers)]
    return [future.result() for future in futures]


def dask_launcher(address: str) -> Launch:
    """Runs a job's workers as tasks on the Dask cluster whose scheduler is at `address`."""

    def launch(job: WorkerJob, workers: int, env: dict) -> list[tuple[dict, object]]:
        if env:  # a password this process moved into its own environment: other hosts lack it
            names = " and ".join(sorted(k for k, v in ENV_NAMES.items() if v in env))
            raise ConfigError(f"the {names} URL holds a password in the config; with search.dask_address the "
                              "workers read it on their own hosts: write it as ${VAR} and set VAR on every host")
        from prefect_dask import DaskTaskRunner

        return search_workers.with_options(task_runner=DaskTaskRunner(address=address))(job, workers)

    return launch
